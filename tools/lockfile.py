"""requirements.lock: read its pins, and check that it is in step with pyproject.toml.

The lock is written by pip-compile; this reads only what pip-compile writes (`name==version`, its
`--hash` lines and its `# via` annotations), so a hand edit that breaks that shape fails loudly.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

REGENERATE = "./dev lock"
# pip-compile's annotation for a requirement that pyproject.toml names itself.
_FROM_PYPROJECT = "(pyproject.toml)"
# Extras that pull in a package named after them; --strip-extras pins that package on its own line.
_EXTRA_PACKAGES = {canonicalize_name("psycopg-binary")}

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+?)(?:\s*\\)?$")
_HASH = re.compile(r"^\s+--hash=(?P<hash>sha256:[0-9a-f]{64})(?:\s*\\)?$")
_VIA = re.compile(r"^\s+#\s+(?:via\s+)?(?P<what>.+?)\s*$")


@dataclass
class Pin:
    name: NormalizedName
    version: Version
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)

    @property
    def direct(self) -> bool:
        """Named by pyproject.toml's dependencies or extras (not only its build requirements)."""
        return any(what.endswith(_FROM_PYPROJECT) for what in self.via)


class LockError(ValueError):
    pass


def parse_lock(text: str) -> dict[NormalizedName, Pin]:
    pins: dict[NormalizedName, Pin] = {}
    current: Pin | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or (line.startswith("#") and current is None):
            continue
        if pinned := _PIN.match(line):
            current = Pin(canonicalize_name(pinned["name"]), Version(pinned["version"]))
            if current.name in pins:
                raise LockError(f"requirements.lock:{number}: {current.name} is pinned twice")
            pins[current.name] = current
        elif current is not None and (digest := _HASH.match(line)):
            current.hashes.append(digest["hash"])
        elif current is not None and (via := _VIA.match(line)):
            if via["what"] != "via":  # the first line of a multi-line "# via" block
                current.via.append(via["what"])
        elif line.startswith("#"):
            continue
        else:
            raise LockError(f"requirements.lock:{number}: not a pin, hash or annotation: {line.strip()!r}")
    for pin in pins.values():
        if not pin.hashes:
            raise LockError(f"requirements.lock: {pin.name}=={pin.version} has no --hash: {REGENERATE}")
    return pins


def declared_requirements(pyproject: dict[str, object]) -> list[Requirement]:
    """Every requirement the lock must satisfy: dependencies, every extra, and the build requirements."""
    project = pyproject["project"]
    build = pyproject.get("build-system", {})
    assert isinstance(project, dict) and isinstance(build, dict)
    specs: list[str] = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        specs.extend(extra)
    specs.extend(build.get("requires", []))
    return [Requirement(spec) for spec in specs]


def out_of_step(pyproject: dict[str, object], pins: dict[NormalizedName, Pin]) -> list[str]:
    """Why the lock no longer matches pyproject.toml; empty when it does."""
    problems: list[str] = []
    requirements = declared_requirements(pyproject)
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{requirement} is in pyproject.toml but not in requirements.lock")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{requirement} is in pyproject.toml but requirements.lock pins {name}=={pin.version}")
        for extra in sorted(requirement.extras):
            # What an extra pulls in is known only to the index; psycopg[binary] -> psycopg-binary is not.
            expected = canonicalize_name(f"{requirement.name}-{extra}")
            if expected in _EXTRA_PACKAGES and expected not in pins:
                problems.append(f"{requirement} needs {expected}, which requirements.lock does not pin")
    declared = {canonicalize_name(requirement.name) for requirement in requirements}
    for pin in pins.values():
        if pin.direct and pin.name not in declared:
            problems.append(f"requirements.lock pins {pin.name} for pyproject.toml, which no longer names it")
    return problems


def check(root: Path) -> list[str]:
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    lock = root / "requirements.lock"
    if not lock.exists():
        return [f"requirements.lock is missing: {REGENERATE}"]
    text = lock.read_text()
    problems = out_of_step(pyproject, parse_lock(text))
    header = "\n".join(line for line in text.splitlines()[:10] if line.startswith("#"))
    if REGENERATE not in header:
        problems.append(f"requirements.lock does not say at its top how to regenerate it ({REGENERATE})")
    return problems
