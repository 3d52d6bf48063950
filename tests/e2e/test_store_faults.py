"""Faults of the store itself (issue 23): each ends in one clear message that names the store without
its password, says what happened and what to do, exits 1, and leaves the data as it was.

Where the machine allows it the fault is real (a size-limited or read-only tmpfs, a file locked by
another process, a PostgreSQL port that refuses); a full disk is also injected at the driver, which
runs everywhere and on PostgreSQL too. A full disk's rerun must equal the emulator's ground truth."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from collector.cli import cli
from collector.db.engine import make_engine, upgrade
from collector.db.models import CollectionRun, ScopeRun
from emulator import EmulatorServer
from tests.e2e.test_db_outage import CuttableProxy
from tests.e2e.test_faults import _exact, _no_duplicates
from tests.e2e.test_scheduler import free_port
from tests.emulated import emulator, emulator_env, history_start, stored, truth

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
PASSWORD = "planted-store-password-7c1d"


def costwatch(*args: str, env: dict[str, str], timeout: float = 180) -> tuple[int, str, str]:
    """`costwatch ARGS` as a user runs it: its exit code, stdout and stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout, done.stderr


def store_env(url: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("COSTWATCH_")}, "COSTWATCH_DATABASE_URL": url}


def clear_error(code: int, err: str, *said: str) -> str:
    """The one `Error:` line of a failed command, checked: exit 1, no traceback, no password."""
    assert code == 1, err
    assert "Traceback" not in err, err
    assert PASSWORD not in err, err
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, err
    for words in said:
        assert words in errors[0], errors[0]
    return errors[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def collect_args(server: EmulatorServer) -> list[str]:
    since, until = history_start(server).isoformat(), server.tenant.today.isoformat()
    return ["collect", "--only", "costs", "--since", since, "--until", until]


def runs(engine: Engine) -> list[CollectionRun]:
    with Session(engine) as session:
        return list(session.scalars(select(CollectionRun).order_by(CollectionRun.id)))


def whole_chunks(engine: Engine, server: EmulatorServer) -> int:
    """Every subscription-month (one chunk, one transaction) is stored whole or not at all; how many
    are stored."""

    def by_month(figures: dict[tuple[Any, ...], Decimal]) -> dict[tuple[Any, ...], Decimal]:
        out: dict[tuple[Any, ...], Decimal] = {}
        for (subscription, day, currency), cost in figures.items():
            key = (subscription, day[:7], currency)
            out[key] = out.get(key, Decimal(0)) + cost
        return out

    have = by_month(stored(engine, server, ["subscription", "day"], include_other=True))
    want = by_month(truth(server, ["subscription", "day"], include_other=True))
    assert all(want.get(key) == cost for key, cost in have.items()), "a chunk was stored in part"
    return len(have)


# --- filesystems of a given size or mode ----------------------------------------------------------


def _mount(folder: Path, options: str) -> None:
    folder.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root; the fault injected at the driver covers this case")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs on this machine: {done.stderr.strip()}")


def _remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    _mount(folder, f"size={size}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


# --- SQLite -----------------------------------------------------------------------------------------


@pytest.mark.fault("SQLite folder missing")
def test_a_missing_folder_is_named_and_not_created(tmp_path: Path) -> None:
    folder = tmp_path / "no-such-folder"
    env = store_env(f"sqlite:///{folder / 'costwatch.db'}")
    for command in (["db", "upgrade"], ["status"], ["spend", "--from", "2026-11-01", "--to", "2026-11-30"]):
        code, _, err = costwatch(*command, env=env)
        clear_error(code, err, f"the folder {folder} does not exist", "Create it, or fix database_url")
    assert not folder.exists()


@pytest.mark.fault("SQLite folder not writable")
def test_a_store_on_a_read_only_folder_says_so_and_is_left_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    if os.geteuid() == 0:  # root writes through permissions: only a read-only filesystem stops it
        _mount(folder, "size=8m")
    else:
        folder.mkdir()
    try:
        url = f"sqlite:///{folder / 'costwatch.db'}"
        upgrade(url)
        before = digest(folder / "costwatch.db")
        if os.geteuid() == 0:
            _remount(folder, "ro")
        else:
            folder.chmod(0o555)
        env = store_env(url)
        for command in (["status"], ["db", "upgrade"], ["alerts", "deliver"]):
            code, _, err = costwatch(*command, env=env)
            clear_error(code, err, f"the folder {folder} is not writable", "make the folder writable")
        assert digest(folder / "costwatch.db") == before
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        else:
            folder.chmod(0o755)


@pytest.mark.fault("SQLite file is not a database")
def test_a_file_that_is_not_a_database_is_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "costwatch.db"
    path.write_bytes(b"these are a user's notes, not a database\n" * 200)
    before = digest(path)
    env = store_env(f"sqlite:///{path}")
    for command in (["db", "upgrade"], ["status"], ["db", "current"]):
        code, _, err = costwatch(*command, env=env)
        clear_error(code, err, f"{path} is not a SQLite database", "move this file away")
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["costwatch.db"]


LOCKER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")  # the write lock, held as a backup or a shell would
connection.execute("UPDATE collection_runs SET status = status")
print("locked", flush=True)
time.sleep(600)
"""


@pytest.mark.fault("SQLite file locked by another program")
def test_a_file_locked_beyond_the_busy_timeout_says_who_to_ask(tmp_path: Path) -> None:
    path = tmp_path / "costwatch.db"
    upgrade(f"sqlite:///{path}")
    url = f"sqlite:///{path}?timeout=1"  # the busy timeout, short for the test (30 s by default)
    holder = subprocess.Popen([sys.executable, "-c", LOCKER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with emulator() as server:
            started = time.monotonic()
            code, _, err = costwatch(*collect_args(server), env=emulator_env(server, url))
            waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait(10)
    clear_error(code, err, f"{path} is locked by another program", "beyond the busy timeout", "?timeout=SECONDS")
    assert waited >= 1  # it did wait out the timeout before saying so, and not the 60 s of an outage
    assert waited < 30, err
    engine = make_engine(url)
    assert runs(engine) == []  # nothing was written
    engine.dispose()


@pytest.mark.fault("disk full during a collection (size-limited tmpfs)")
def test_a_full_disk_rolls_the_chunk_back_and_the_rerun_completes_exactly(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "3m") as disk, emulator() as server:
        path = disk / "costwatch.db"
        url = f"sqlite:///{path}"
        env = emulator_env(server, url)
        assert costwatch("db", "upgrade", env=env)[0] == 0
        code, _, err = costwatch(*collect_args(server), env=env)
        clear_error(code, err, "the disk is full", f"Free space on the disk holding {path}", "rolled back whole")
        engine = make_engine(url)
        try:
            written = whole_chunks(engine, server)
            assert written > 0  # the disk filled mid-run: some months made it, the one in progress did not
            _no_duplicates(engine)
            (failed,) = runs(engine)
            # Whether the run's record still fits depends on where the disk filled (the rollback frees
            # nothing when committed chunks took the last block): recorded as failed with the reason if
            # it fits (DiskFullOnce below asserts that path exactly), else left running and said so.
            if failed.status == "running":
                assert "could not be recorded as failed: " in err and "the disk is full" in err
            else:
                assert failed.status == "failed" and "the disk is full" in (failed.error or ""), failed.error

            _remount(disk, "size=64m")  # space freed
            code, out, err = costwatch(*collect_args(server), env=env)
            assert code == 0, err
            assert "succeeded" in out
            _exact(engine, server)
            # A run left "running" by a process that is gone is marked abandoned by the next one.
            assert [r.status for r in runs(engine)] == [
                "failed" if failed.status == "failed" else "abandoned",
                "succeeded",
            ]
        finally:
            engine.dispose()


class DiskFullOnce:
    """Fails the `nth` write of a day's rollup (inside a cost chunk's transaction, after its cost rows)
    as the driver does when the disk is full, once: the space is freed by the rollback."""

    def __init__(self, nth: int) -> None:
        self.nth = nth
        self.seen = 0
        self.raised = False

    def __call__(self, _cursor: Any, statement: str, _parameters: Any, context: Any) -> None:
        """A `do_execute` listener: it runs where the driver would, so SQLAlchemy wraps what it raises."""
        if self.raised or not statement.lstrip().upper().startswith("INSERT INTO DAILY_TOTALS"):
            return
        self.seen += 1
        if self.seen == self.nth:
            self.raised = True
            if context.dialect.name == "sqlite":
                raise sqlite3.OperationalError("database or disk is full")
            raise psycopg.errors.DiskFull('could not extend file "base/16384/16385": No space left on device')


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.fault("disk full during a write (injected at the driver)")
def test_a_full_disk_injected_at_the_driver_is_recorded_and_the_rerun_completes_exactly(
    db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with emulator() as server:
        for key, value in emulator_env(server, db_url).items():
            monkeypatch.setenv(key, value)
        full = DiskFullOnce(nth=3)
        event.listen(Engine, "do_execute", full)
        try:
            code, _, err = invoke(*collect_args(server))
        finally:
            event.remove(Engine, "do_execute", full)
        assert full.raised
        place = "the disk holding" if db_url.startswith("sqlite") else "the database server's disk"
        clear_error(code, err, "the disk is full", f"Free space on {place}", "run the command again")
        assert whole_chunks(engine, server) >= 1
        _no_duplicates(engine)
        (failed,) = runs(engine)  # the store could take the record: it says why the run failed
        assert failed.status == "failed" and "the disk is full" in (failed.error or "")

        code, _, err = invoke(*collect_args(server))
        assert code == 0, err
        _exact(engine, server)
        assert [r.status for r in runs(engine)] == ["failed", "succeeded"]


@pytest.mark.fault("store at another schema")
def test_a_store_at_an_older_or_a_newer_schema_says_which_way_to_go(tmp_path: Path) -> None:
    older, newer = f"sqlite:///{tmp_path / 'older.db'}", f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade(older, "0009")
    upgrade(newer)
    with make_engine(newer).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed0042'"))
    code, _, err = costwatch("status", env=store_env(older))
    clear_error(code, err, "is at revision 0009", "run `costwatch db upgrade` first")
    for command in (["status"], ["db", "upgrade"]):
        code, _, err = costwatch(*command, env=store_env(newer))
        clear_error(code, err, "revision f00dfeed0042, which this costwatch does not know", "upgrade this one")
    assert costwatch("db", "upgrade", env=store_env(older))[0] == 0


# --- PostgreSQL -------------------------------------------------------------------------------------


def _pg(db_url: str, **parts: Any) -> str:
    return make_url(db_url).set(**parts).render_as_string(hide_password=False)


@pytest.mark.fault("PostgreSQL refused or unreachable at start")
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("parts", "said"),
    [
        ({"port": 1, "password": PASSWORD}, ["cannot reach the store", "127.0.0.1:1", "Connection refused", "port"]),
        ({"host": "costwatch-db.invalid"}, ["cannot reach the store", "costwatch-db.invalid", "host and port"]),
        ({"database": "nope_missing"}, ['database "nope_missing" does not exist', "create the database"]),
        (
            {"username": "costwatch_no_such_role", "password": PASSWORD},
            ["refused the login", 'role "costwatch_no_such_role" does not exist', "user and password"],
        ),
    ],
    ids=["port refused", "host unknown", "database missing", "authentication failed"],
)
def test_a_postgresql_that_cannot_be_used_is_named_with_what_to_fix(
    db_url: str, parts: dict[str, Any], said: list[str]
) -> None:
    url = _pg(db_url, **parts)
    for command in (["status"], ["db", "upgrade"]):
        started = time.monotonic()
        code, _, err = costwatch(*command, env=store_env(url))
        line = clear_error(code, err, *said)
        assert time.monotonic() - started < 30  # said at once, not waited out like a mid-run outage
        assert make_url(url).render_as_string(hide_password=True) in line


@contextmanager
def through_proxy(db_url: str) -> Iterator[tuple[CuttableProxy, str]]:
    target = make_url(db_url)
    proxy = CuttableProxy((target.host or "127.0.0.1", target.port or 5432))
    try:
        yield proxy, _pg(db_url, host="127.0.0.1", port=proxy.port, password=PASSWORD)
    finally:
        proxy.close()


def _wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {seconds} s")


def _cost_scopes(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(ScopeRun).where(ScopeRun.scope.like("costs %"))) or 0


@pytest.mark.fault("PostgreSQL lost for longer than database_retry_seconds")
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_connection_lost_beyond_the_retry_window_ends_clearly_and_a_rerun_completes(
    db_url: str, engine: Engine
) -> None:
    with through_proxy(db_url) as (proxy, url), emulator() as server:
        env = {**emulator_env(server, url), "COSTWATCH_DATABASE_RETRY_SECONDS": "3"}
        process = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", *collect_args(server)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for(lambda: _cost_scopes(engine), 60, "cost month written")
        proxy.cut()
        _, err = process.communicate(timeout=60)
        redacted = make_url(url).render_as_string(hide_password=True)
        said = ["lost the connection to the store", "within 3 s (database_retry_seconds)", redacted]
        clear_error(process.returncode, err, *said)
        assert "database unavailable while writing" in err  # it did wait before giving up
        proxy.restore()
        _no_duplicates(engine)
        assert whole_chunks(engine, server) >= 1
        code, _, err = costwatch(*collect_args(server), env=env)
        assert code == 0, err
        _exact(engine, server)
        # the run that lost its store could not say so; the rerun found its process gone
        assert [r.status for r in runs(engine)] == ["abandoned", "succeeded"]


class Lines:
    """A process's stderr, read as it comes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stderr is not None
        stream = process.stderr
        threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True).start()

    @property
    def text(self) -> str:
        return "".join(self.lines)


def _store_up(port: int) -> float | None:
    try:
        scraped = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except requests.RequestException:
        return None
    families = {f.name: f for f in text_string_to_metric_families(scraped)}
    return families["costwatch_store_up"].samples[0].value


@pytest.mark.fault("store lost under the scheduler")
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_scheduler_outlives_its_store_and_metrics_say_it_is_down(db_url: str, engine: Engine) -> None:
    port = free_port()
    with through_proxy(db_url) as (proxy, url), emulator() as server:
        server.faults.slow(40, seconds=1.5)  # the cost job is still running when its store goes away
        env = {
            **emulator_env(server, url),
            "COSTWATCH_DATABASE_RETRY_SECONDS": "2",
            "COSTWATCH_SCHEDULE__LEASE_SECONDS": "10",
            "COSTWATCH_SCHEDULE__METRICS_PORT": str(port),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "schedule"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        log = Lines(process)
        try:
            _wait_for(lambda: _cost_scopes(engine), 60, "cost month written by the scheduler")
            assert _wait_for(lambda: _store_up(port) == 1, 30, "store up on /metrics")
            proxy.cut()
            _wait_for(lambda: "costs run failed: lost the connection to the store" in log.text, 60, "failed job")
            assert _wait_for(lambda: _store_up(port) == 0, 30, "store down on /metrics")
            assert process.poll() is None  # the scheduler keeps running
            proxy.restore()
            assert _wait_for(lambda: _store_up(port) == 1, 30, "store up again on /metrics")
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0
        finally:
            if process.poll() is None:
                process.kill()
    assert "Traceback" not in log.text, log.text
    assert PASSWORD not in log.text
    failed = [line for line in log.lines if "run failed:" in line]
    assert failed and all(re.search(r"within 2 s \(database_retry_seconds\)", line) for line in failed), failed


# --- the dashboard ----------------------------------------------------------------------------------


@pytest.fixture
def dashboard_on(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], AppTest]:
    import streamlit as st

    def run(url: str) -> AppTest:
        for key in list(os.environ):
            if key.startswith("COSTWATCH_"):
                monkeypatch.delenv(key)
        monkeypatch.setenv("COSTWATCH_DATABASE_URL", url)
        st.cache_data.clear()
        st.cache_resource.clear()
        return AppTest.from_file(str(APP), default_timeout=60).run()

    return run


@pytest.mark.fault("store unreachable under the dashboard")
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_dashboard_says_the_store_is_unreachable(
    db_url: str, tmp_path: Path, dashboard_on: Callable[[str], AppTest]
) -> None:
    unreachable, upgrade_needed = "The store is unreachable", "The store needs an upgrade"
    cases = {
        _pg(db_url, port=1, password=PASSWORD): ("cannot reach the store", unreachable),
        f"sqlite:///{tmp_path / 'gone' / 'costwatch.db'}": ("does not exist", unreachable),
        f"sqlite:///{tmp_path / 'empty.db'}": ("run `costwatch db upgrade` first", upgrade_needed),
    }
    for url, (said, title) in cases.items():
        at = dashboard_on(url)
        assert not at.exception, at.exception
        assert [t.value for t in at.title] == [title]  # in place of the page, not under half of it
        shown = [e.value for e in at.error]
        assert len(shown) == 1 and said in shown[0], shown
        assert PASSWORD not in shown[0]
