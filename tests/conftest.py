"""Shared fixtures: a migrated store on SQLite and on PostgreSQL, and the ARM emulator."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

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


def _postgres_database(tmp_name: str) -> str:
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


def _drop_postgres_database(name: str) -> None:
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
        "postgresql": _postgres_database(pg_name),
    }
    for url in urls.values():
        upgrade(url)
    yield urls
    _drop_postgres_database(pg_name)


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
