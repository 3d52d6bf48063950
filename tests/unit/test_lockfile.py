"""requirements.lock is in step with pyproject.toml, and reading it refuses what pip-compile never writes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tools import lockfile

ROOT = Path(__file__).resolve().parents[2]


# -- the lock


def test_lock_is_in_step_with_pyproject() -> None:
    problems = lockfile.check(ROOT)
    assert not problems, (
        "requirements.lock is out of step with pyproject.toml; regenerate it with `./dev lock` "
        "(and commit it):\n" + "\n".join(problems)
    )


def test_every_pin_is_exact_and_hashed() -> None:
    pins = lockfile.parse_lock((ROOT / "requirements.lock").read_text())
    assert len(pins) > 50
    assert all(pin.hashes for pin in pins.values())
    # The build of the project itself uses the locked setuptools (./dev installs with --no-build-isolation).
    assert "setuptools" in pins and "pip" in pins


LOCK = """\
#
#    ./dev lock  (= pip-compile ...)
#
click==8.1.7 \\
    --hash=sha256:{a} \\
    --hash=sha256:{b}
    # via costwatch (pyproject.toml)
colorama==0.4.6 \\
    --hash=sha256:{a}
    # via
    #   click
    #   costwatch (pyproject.toml)

# The following packages are considered to be unsafe in a requirements file:
setuptools==75.0.0 \\
    --hash=sha256:{b}
    # via costwatch (pyproject.toml::build-system.requires)
""".format(a="a" * 64, b="b" * 64)


def pyproject(dependencies: list[str], build: list[str] | None = None) -> dict[str, object]:
    return {"project": {"dependencies": dependencies}, "build-system": {"requires": build or ["setuptools>=69"]}}


def test_parse_lock_reads_pins_hashes_and_annotations() -> None:
    pins = lockfile.parse_lock(LOCK)
    assert [str(p.version) for p in pins.values()] == ["8.1.7", "0.4.6", "75.0.0"]
    assert len(pins["click"].hashes) == 2
    assert pins["colorama"].via == ["click", "costwatch (pyproject.toml)"]
    assert pins["click"].direct and pins["colorama"].direct and not pins["setuptools"].direct


def test_parse_lock_refuses_an_unhashed_or_unpinned_line() -> None:
    with pytest.raises(lockfile.LockError, match="no --hash"):
        lockfile.parse_lock("click==8.1.7\n")
    with pytest.raises(lockfile.LockError, match="not a pin"):
        lockfile.parse_lock("click>=8\n")


def test_in_step_lock() -> None:
    assert lockfile.out_of_step(pyproject(["click>=8.1,<9", "colorama"]), lockfile.parse_lock(LOCK)) == []


@pytest.mark.parametrize(
    ("dependencies", "build", "expected"),
    [
        (["click>=8.1,<9", "colorama", "jinja2>=3"], None, "jinja2>=3 is in pyproject.toml but not in requirements"),
        (["click>=8.2,<9", "colorama"], None, "click<9,>=8.2 is in pyproject.toml but requirements.lock pins click"),
        (["click>=8.1"], None, "pins colorama for pyproject.toml, which no longer names it"),
        (["click", "colorama"], ["setuptools>=80"], "setuptools>=80 is in pyproject.toml but requirements.lock pins"),
        (["click[binary]", "colorama", "psycopg[binary]>=3"], None, "needs psycopg-binary, which requirements.lock"),
    ],
)
def test_out_of_step_lock_says_why(dependencies: list[str], build: list[str] | None, expected: str) -> None:
    problems = lockfile.out_of_step(pyproject(dependencies, build), lockfile.parse_lock(LOCK))
    assert any(expected in problem for problem in problems), problems


def test_check_wants_the_regeneration_command_at_the_top(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    assert lockfile.check(tmp_path) == ["requirements.lock is missing: ./dev lock"]
    text = (ROOT / "requirements.lock").read_text()
    (tmp_path / "requirements.lock").write_text(text.replace("./dev lock", "pip-compile"))
    assert lockfile.check(tmp_path)[-1].startswith("requirements.lock does not say at its top how to regenerate")


def test_declared_requirements_cover_extras_and_build() -> None:
    declared = lockfile.declared_requirements(tomllib.loads((ROOT / "pyproject.toml").read_text()))
    names = {requirement.name for requirement in declared}
    assert {"sqlalchemy", "pytest", "pip-tools", "setuptools"} <= names
