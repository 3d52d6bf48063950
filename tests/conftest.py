"""Shared fixtures: a migrated store on SQLite and on PostgreSQL, and the ARM emulator. Also the
counts the test summary prints (issue 8): the fault matrix, the generated property cases and what the
secret scan planted and scanned, measured by the tests that ran (also under pytest-xdist)."""

from __future__ import annotations

import functools
import os
import uuid
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from collector.db.engine import make_engine, upgrade
from collector.db.models import Base

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
EXAMPLES = SHARED / "azure-examples"
POSTGRES_ADMIN_URL = os.environ.get(
    "COSTWATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def create_postgres_database(tmp_name: str) -> str:
    """Create an empty database of our own on the test server; the URL to it."""
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{tmp_name}"'))
            connection.execute(text(f'CREATE DATABASE "{tmp_name}"'))
    except Exception as exc:  # the suite must say plainly that PostgreSQL is missing, not skip it
        raise RuntimeError(
            f"PostgreSQL is required for the tests at {make_url(POSTGRES_ADMIN_URL).render_as_string()}: {exc}"
        ) from exc
    finally:
        admin.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=tmp_name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One migrated database per backend for the whole session (per xdist worker)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    pg_name = f"costwatch_test_{worker}_{uuid.uuid4().hex[:8]}"
    urls = {
        "sqlite": f"sqlite:///{tmp_path_factory.mktemp('store') / 'costwatch.db'}",
        "postgresql": create_postgres_database(pg_name),
    }
    for url in urls.values():
        upgrade(url)
    yield urls
    drop_postgres_database(pg_name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, database_urls: dict[str, str]) -> Iterator[str]:
    """A migrated, emptied store on each backend."""
    url = database_urls[request.param]
    engine = make_engine(url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def examples() -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip("../shared/azure-examples is not present")
    return EXAMPLES


# --- counts for the test summary ------------------------------------------------------------------
# Workers of pytest-xdist run the tests; only the controller prints the summary. What a test measured
# therefore travels on its reports (`user_properties` are serialised to the controller), and the
# controller adds them up in pytest_runtest_logreport.

FAULT = "costwatch-fault"
COUNT = "costwatch-count"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fault(name): a test of the fault matrix; name is the fault it injects")


class Counts:
    """What one test measured, e.g. counts.add("rows scanned", 1204): summed into the test summary."""

    def __init__(self) -> None:
        self.values: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        self.values[name] += amount


@pytest.fixture
def counts(request: pytest.FixtureRequest) -> Iterator[Counts]:
    measured = Counts()
    yield measured
    for name, amount in measured.values.items():
        request.node.user_properties.append((COUNT, (name, amount)))


@pytest.fixture(autouse=True)
def _fault_label(request: pytest.FixtureRequest) -> None:
    """Tests marked @pytest.mark.fault(name) carry their fault on their reports."""
    marker = request.node.get_closest_marker("fault")
    if marker is not None:
        request.node.user_properties.append((FAULT, str(marker.args[0])))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Count the examples Hypothesis runs through a @given test (its replaceable inner test)."""
    hypothesis = getattr(getattr(item, "obj", None), "hypothesis", None)
    inner = getattr(hypothesis, "inner_test", None)
    if hypothesis is None or inner is None:
        return (yield)
    ran = [0]

    @functools.wraps(inner)
    def counted(*args: Any, **kwargs: Any) -> Any:
        ran[0] += 1
        return inner(*args, **kwargs)

    hypothesis.inner_test = counted
    try:
        return (yield)
    finally:
        hypothesis.inner_test = inner
        item.user_properties.append((COUNT, ("generated cases", ran[0])))


@dataclass
class _Tally:
    faults: dict[str, str] = field(default_factory=dict)  # nodeid -> fault
    failed: set[str] = field(default_factory=set)  # nodeids with a failed phase
    skipped: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    tests: dict[str, set[str]] = field(default_factory=dict)  # count name -> nodeids that measured it


TALLY = _Tally()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for key, value in report.user_properties:
        if key == FAULT:
            TALLY.faults[report.nodeid] = value
    if report.failed:
        TALLY.failed.add(report.nodeid)
    if report.skipped:
        TALLY.skipped.add(report.nodeid)
    if report.when == "teardown":  # the last report of a test holds everything it measured
        for key, value in report.user_properties:
            if key == COUNT:
                name, amount = value
                TALLY.counts[name] += amount
                TALLY.tests.setdefault(name, set()).add(report.nodeid)


def _summary_lines(tally: _Tally) -> list[str]:
    lines = []
    if tally.faults:
        tests = set(tally.faults)
        failed, skipped = tests & tally.failed, tests & tally.skipped - tally.failed
        lines.append(
            f"fault matrix: {len(set(tally.faults.values()))} faults in {len(tests)} tests, "
            f"{len(tests - failed - skipped)} passed, {len(failed)} failed, {len(skipped)} skipped"
        )
    c = tally.counts
    if "generated cases" in c:
        lines.append(
            f"property tests: {c['generated cases']} generated cases in {len(tally.tests['generated cases'])} tests"
        )
    if "secrets planted" in c:
        lines.append(
            f"secret scan: {c['secrets planted']} secrets planted; {c['pages scanned']} pages / "
            f"{c['files scanned']} files / {c['rows scanned']} rows / {c['log lines scanned']} log lines / "
            f"{c['outputs scanned']} outputs and errors scanned"
        )
    return lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # a worker's summary is never shown; the controller has every report
    lines = _summary_lines(TALLY)
    if lines:
        terminalreporter.section("what the tests prove")
        for line in lines:
            terminalreporter.write_line(line)
