"""costwatch as Python users install it: a wheel in a fresh environment, run from a folder that is not
the checkout. The migrations and the dashboard's files must travel inside the wheel."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import EmulatorServer
from tests.emulated import emulator, emulator_env, history_start

ROOT = Path(__file__).resolve().parents[2]
LISTED = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])


def test_every_package_of_the_source_tree_is_listed_for_the_wheel() -> None:
    found = {"collector.migrations", "collector.migrations.versions"}
    for top in ("collector", "dashboard", "emulator"):
        for folder in [ROOT / top, *(ROOT / top).rglob("*")]:
            if folder.is_dir() and folder.name != "__pycache__" and any(folder.iterdir()):
                found.add(".".join(folder.relative_to(ROOT).parts))
    assert found == LISTED, "pyproject.toml [tool.setuptools] packages must list exactly these"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv holding only the costwatch wheel. Its dependencies come from this test's own
    environment through a .pth line (no download), which processes no .pth of that environment, so the
    checkout's editable install stays out of it."""
    work = tmp_path_factory.mktemp("wheel")
    build = work / "src"
    # A copy, so that the build's build/ and egg-info folders stay out of the checkout.
    shutil.copytree(ROOT, build, ignore=shutil.ignore_patterns(".venv", ".git", "*.db", "__pycache__", "build"))
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"), str(build)],
        check=True,
    )
    (wheel,) = (work / "dist").glob("costwatch_azure-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    target = Path(
        subprocess.check_output(
            [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    (target / "costwatch-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # An install without some extras: the modules COSTWATCH_TEST_ABSENT names cannot be found.
    (target / "costwatch-test-absent.pth").write_text(
        "import os, sys; sys.modules.update(dict.fromkeys(filter(None, os.environ.get('COSTWATCH_TEST_ABSENT', '')"
        ".split(','))))\n"
    )
    subprocess.run(
        [*pip, "--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-deps", str(wheel)], check=True
    )
    shutil.rmtree(build)
    yield venv


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "somewhere-else"
    folder.mkdir()
    return folder


def costwatch(venv: Path, cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([venv / "bin" / "costwatch", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_the_installed_wheel_upgrades_a_store_and_collects_from_any_folder(installed: Path, elsewhere: Path) -> None:
    server: EmulatorServer
    with emulator() as server:
        env = emulator_env(server, f"sqlite:///{elsewhere / 'costwatch.db'}")
        env.pop("PYTHONPATH", None)
        where = subprocess.check_output(
            [installed / "bin" / "python", "-c", "import collector; print(collector.__file__)"],
            cwd=elsewhere,
            env=env,
            text=True,
        )
        assert where.startswith(str(installed)), where  # the wheel's code, not the checkout's

        version = costwatch(installed, elsewhere, env, "--version")
        assert version.returncode == 0 and version.stdout.strip() == "costwatch, version 0.1.0"

        upgraded = costwatch(installed, elsewhere, env, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        current = costwatch(installed, elsewhere, env, "db", "current")
        head = sorted(p.name for p in (ROOT / "alembic" / "versions").glob("0*.py"))[-1][:4]
        assert f"current: {head}" in current.stdout and f"needed: {head}" in current.stdout

        span = ("--from", history_start(server).isoformat(), "--to", server.tenant.today.isoformat())
        collected = costwatch(installed, elsewhere, env, "collect", "--only", "costs", "--since", span[1])
        assert collected.returncode == 0, collected.stderr
        assert "succeeded" in collected.stdout
        spend = costwatch(installed, elsewhere, env, "spend", "--by", "project", "--format", "json", *span)
        assert spend.returncode == 0 and "proj-chatbot" in spend.stdout


def test_an_install_without_its_migrations_says_so_without_a_traceback(installed: Path, elsewhere: Path) -> None:
    purelib = next((installed / "lib").glob("python*/site-packages"))
    migrations = purelib / "collector" / "migrations"
    hidden = purelib / "collector" / "migrations-hidden"
    migrations.rename(hidden)
    try:
        env = {**os.environ, "COSTWATCH_DATABASE_URL": f"sqlite:///{elsewhere / 'x.db'}"}
        result = costwatch(installed, elsewhere, env, "db", "upgrade")
    finally:
        hidden.rename(migrations)
    assert result.returncode == 1
    assert "migrations are missing" in result.stderr and "reinstall costwatch" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("absent", "command", "extra"),
    [
        ("streamlit", ["dashboard"], "dashboard"),
        ("fpdf", ["report", "--month", "2026-11", "--format", "pdf"], "reports"),
        ("psycopg", ["db", "upgrade"], "postgres"),
    ],
)
def test_a_command_without_its_extra_names_the_extra(
    installed: Path, elsewhere: Path, absent: str, command: list[str], extra: str
) -> None:
    store = "postgresql+psycopg://nobody@127.0.0.1:1/x" if absent == "psycopg" else f"sqlite:///{elsewhere / 'x.db'}"
    env = {**os.environ, "COSTWATCH_DATABASE_URL": store, "COSTWATCH_TEST_ABSENT": absent}
    env.pop("PYTHONPATH", None)
    if absent != "psycopg":
        assert costwatch(installed, elsewhere, env, "db", "upgrade").returncode == 0
    result = costwatch(installed, elsewhere, env, *command)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"pipx install 'costwatch-azure[{extra}]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_emulator_without_its_extra_says_so_in_one_line(installed: Path, elsewhere: Path) -> None:
    env = {**os.environ, "COSTWATCH_TEST_ABSENT": "trustme"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [installed / "bin" / "costwatch-emulator", "demo", "--no-dashboard"], cwd=elsewhere, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert "'costwatch-azure[emulator]'" in result.stderr and "Traceback" not in result.stderr


def test_the_product_never_imports_its_test_double() -> None:
    """costwatch runs without the emulator (and trustme): only tests, the emulator's own CLI and the demo
    import it."""
    for top in ("collector", "dashboard"):
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                else:
                    continue
                assert not [n for n in names if re.match(r"(emulator|trustme)(\.|$)", n)], f"{path} imports {names}"


def test_every_extra_the_code_names_is_declared() -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = {
        match
        for path in (ROOT / "collector").rglob("*.py")
        for match in re.findall(r"require\(\s*\"(\w+)\"", path.read_text())
    }
    assert named and named <= extras, f"extras named by require() but not in pyproject.toml: {named - extras}"
