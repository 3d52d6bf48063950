"""Audit requirements.lock for known vulnerabilities through the package index alone.

Why not pip-audit: its PyPI service asks `https://pypi.org/pypi/<name>/<version>/json`, which this
network answers with an empty 404 that pip-audit reports as "not found on PyPI" while still printing
"No known vulnerabilities found" and exiting 0; its OSV service needs api.osv.dev, which is not
reachable. So this reads the one answer that is reachable, the project JSON
`https://pypi.org/pypi/<name>/json`, whose `vulnerabilities` (taken from OSV by PyPI) describe the
project's latest release only. A pin of that release is checked; a pin of an older release is
reported as not checked, never as clean.

Exit status: 1 when a pin has a known vulnerability or is yanked; 2 with --require-complete when
PyPI could not be asked about some pin; else 0. Whatever could not be checked is listed with why.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tools.lockfile import REGENERATE, parse_lock

PROJECT_JSON = "https://pypi.org/pypi/{name}/json"


class Status(StrEnum):
    VULNERABLE = "vulnerable"
    YANKED = "yanked"
    CLEAN = "clean"
    # Not checked, for three reasons that call for different actions.
    OUTDATED = "not the latest release"
    UNREACHABLE = "PyPI did not answer"
    UNKNOWN = "PyPI's answer says nothing about it"


FAILING = {Status.VULNERABLE, Status.YANKED}
NOT_CHECKED = {Status.OUTDATED, Status.UNREACHABLE, Status.UNKNOWN}


@dataclass(frozen=True)
class Vulnerability:
    id: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]
    link: str | None

    def describe(self) -> str:
        aliases = f" ({', '.join(self.aliases)})" if self.aliases else ""
        fixed = f"fixed in {', '.join(self.fixed_in)}" if self.fixed_in else "no fixed release"
        link = f" {self.link}" if self.link else ""
        return f"{self.id}{aliases}: {fixed}{link}"


@dataclass(frozen=True)
class Finding:
    name: str
    version: str
    status: Status
    reason: str = ""
    vulnerabilities: tuple[Vulnerability, ...] = ()


def vulnerabilities(entries: Iterable[Mapping[str, Any]]) -> tuple[Vulnerability, ...]:
    """PyPI's entries as distinct vulnerabilities: withdrawn ones dropped, and entries that name each
    other (the same flaw as a PYSEC and a GHSA advisory) merged into one."""
    groups: list[tuple[set[str], list[Mapping[str, Any]]]] = []
    for entry in entries:
        if entry.get("withdrawn"):
            continue
        names = {str(entry["id"]), *map(str, entry.get("aliases") or ())}
        matching = [group for group in groups if group[0] & names]
        merged: tuple[set[str], list[Mapping[str, Any]]] = (names, [entry])
        for group in matching:
            groups.remove(group)
            merged[0].update(group[0])
            merged[1].extend(group[1])
        groups.append(merged)
    found = []
    for names, members in groups:
        # Name it by its PYSEC id when there is one (PyPI's own database), else the first listed.
        ids = [str(member["id"]) for member in members]
        primary = next((i for i in ids if i.startswith("PYSEC-")), ids[0])
        fixed = sorted({str(v) for member in members for v in member.get("fixed_in") or ()}, key=_version_key)
        link = next((str(m["link"]) for m in members if str(m["id"]) == primary and m.get("link")), None)
        found.append(Vulnerability(primary, tuple(sorted(names - {primary})), tuple(fixed), link))
    return tuple(sorted(found, key=lambda v: v.id))


def _version_key(text: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(text))
    except InvalidVersion:
        return (1, text)


def _release_files(project: Mapping[str, Any], version: Version) -> list[Mapping[str, Any]] | None:
    for raw, files in (project.get("releases") or {}).items():
        try:
            if Version(raw) == version:
                return list(files)
        except InvalidVersion:
            continue
    return None


def assess(name: str, version: str, project: Mapping[str, Any]) -> Finding:
    """What PyPI's project JSON says about one pin. Pure: `project` is the decoded answer."""
    pinned = Version(version)
    try:
        latest = Version(str(project["info"]["version"]))
    except (KeyError, TypeError, InvalidVersion):
        return Finding(name, version, Status.UNKNOWN, "the answer names no latest release")
    files = _release_files(project, pinned)
    if files is not None and files and all(f.get("yanked") for f in files):
        why = next((str(f["yanked_reason"]) for f in files if f.get("yanked_reason")), "no reason given")
        return Finding(name, version, Status.YANKED, f"yanked from PyPI: {why}")
    if pinned != latest:
        # The list describes `latest` only: a flaw listed there may or may not reach back to the pin,
        # and one fixed before `latest` is not listed at all. Say what is known and claim nothing.
        reason = f"PyPI lists vulnerabilities of its latest release {latest} only"
        listed = vulnerabilities(project.get("vulnerabilities") or ())
        if listed:
            reason += f" (which has {', '.join(v.id for v in listed)})"
        return Finding(name, version, Status.OUTDATED, f"{reason}: ./dev lock --upgrade-package {name}")
    if files is None:
        return Finding(name, version, Status.UNKNOWN, f"PyPI lists no release {version}")
    found = vulnerabilities(project.get("vulnerabilities") or ())
    if found:
        return Finding(name, version, Status.VULNERABLE, "known vulnerabilities", found)
    return Finding(name, version, Status.CLEAN)


class Unreachable(Exception):
    """PyPI did not give a usable answer after every attempt."""


class NotOnIndex(Exception):
    """PyPI answered that it has no such project."""


Fetch = Callable[[str], Mapping[str, Any]]


_TLS = ssl.create_default_context()  # one context: loading the CA bundle per request is slow


def fetch_project(name: str, *, deadline: float, timeout: float = 10.0, attempts: int = 3) -> Mapping[str, Any]:
    """PyPI's project JSON; retries what may be transient (timeouts, resets, 429, 5xx) until `deadline`
    (a time.monotonic() value), so an index that is down costs the audit its budget and no more."""
    url = PROJECT_JSON.format(name=name)
    last, tried = "the audit's time budget ran out", 0
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(0.5 * 2 ** (attempt - 1), max(deadline - time.monotonic(), 0)))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            last = f"{last}; the audit's time budget ran out" if tried else last
            break
        tried += 1
        try:
            request = urllib.request.Request(url, headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=min(timeout, remaining), context=_TLS) as answer:
                decoded = json.load(answer)
            if not isinstance(decoded, dict):
                raise ValueError("not a JSON object")
            return decoded
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise NotOnIndex(f"{url} answered 404") from exc
            last = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                break
        except (urllib.error.URLError, OSError, ValueError) as exc:  # timeouts, DNS, resets, bad JSON
            last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    raise Unreachable(f"{url}: {last} (after {tried} of {attempts} attempts)")


def audit(pins: Mapping[str, str], fetch: Fetch, workers: int = 16) -> list[Finding]:
    """One finding per pin, asking PyPI about several pins at once."""

    def one(item: tuple[str, str]) -> Finding:
        name, version = item
        try:
            return assess(name, version, fetch(name))
        except Unreachable as exc:
            return Finding(name, version, Status.UNREACHABLE, str(exc))
        except NotOnIndex as exc:
            return Finding(name, version, Status.UNKNOWN, str(exc))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sorted(pool.map(one, sorted(pins.items())), key=lambda f: canonicalize_name(f.name))


def report(findings: Sequence[Finding], *, require_complete: bool = False) -> tuple[list[str], int]:
    """The lines to print and the exit status."""
    lines = [f"audit of {len(findings)} pins through PyPI's project JSON ({PROJECT_JSON})"]
    for finding in findings:
        pin = f"{finding.name}=={finding.version}"
        if finding.status is Status.VULNERABLE:
            lines.extend(f"VULNERABLE  {pin}  {v.describe()}" for v in finding.vulnerabilities)
        elif finding.status is Status.YANKED:
            lines.append(f"YANKED      {pin}  {finding.reason}")
        elif finding.status in NOT_CHECKED:
            lines.append(f"not checked {pin}  {finding.status.value}: {finding.reason}")
    counts = {status: sum(f.status is status for f in findings) for status in Status}
    clean = [f"{f.name}=={f.version}" for f in findings if f.status is Status.CLEAN]
    if clean:
        lines.append(f"clean (no known vulnerability in PyPI's list for the latest release): {' '.join(clean)}")
    unchecked = sum(counts[s] for s in NOT_CHECKED)
    lines.append(
        f"summary: {counts[Status.CLEAN]} clean, {counts[Status.VULNERABLE]} vulnerable, "
        f"{counts[Status.YANKED]} yanked, "
        f"{unchecked} not checked ({counts[Status.OUTDATED]} not the latest release, "
        f"{counts[Status.UNREACHABLE]} unreachable, {counts[Status.UNKNOWN]} unknown to PyPI)"
    )
    if counts[Status.UNREACHABLE]:
        lines.append(
            f"WARNING: audit incomplete: PyPI did not answer for {counts[Status.UNREACHABLE]} pins; "
            "nothing is known about them from this run"
        )
    if any(f.status in FAILING for f in findings):
        lines.append(f"FAILED: move the pins above to a fixed release in pyproject.toml or with {REGENERATE}")
        return lines, 1
    if require_complete and counts[Status.UNREACHABLE]:
        return lines, 2
    return lines, 0


def main(argv: Sequence[str] | None = None, fetch: Fetch | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path, nargs="?", default=Path("requirements.lock"))
    parser.add_argument(
        "--require-complete", action="store_true", help="exit 2 when PyPI could not be asked about some pin"
    )
    parser.add_argument("--budget", type=float, default=25.0, help="seconds the whole audit may spend asking PyPI")
    args = parser.parse_args(argv)
    pins = {str(pin.name): str(pin.version) for pin in parse_lock(args.lock.read_text()).values()}
    started = time.monotonic()
    fetch = fetch or partial(fetch_project, deadline=started + args.budget)
    lines, status = report(audit(pins, fetch), require_complete=args.require_complete)
    lines.append(f"audit took {time.monotonic() - started:.1f} s")
    sys.stdout.write("\n".join(lines) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
