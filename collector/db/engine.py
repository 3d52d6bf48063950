"""Engines for the store, and the check that its schema is at the Alembic head."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from collector.db.types import DecimalSum, decimal_add
from collector.extras import require

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the installed `collector` package
PROJECT_ROOT = PACKAGE_ROOT.parent  # the checkout, when running from one


class MigrationsMissing(Exception):
    """The installation lacks the Alembic scripts (a broken or partial install)."""


class SchemaOutOfDate(Exception):
    """The database is not at the schema this costwatch expects."""


def redact(url: str) -> str:
    """The URL with its password masked, fit for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


# How long SQLite waits for another program's lock before "database is locked"; `?timeout=SECONDS`
# in the URL (pysqlite's own option) sets it.
BUSY_TIMEOUT_SECONDS = 30.0


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith(("postgresql:", "postgresql+psycopg:")):
        require("postgres", "a PostgreSQL store", "psycopg")
    engine = create_engine(url, future=True, pool_pre_ping=True, **kwargs)
    if engine.dialect.name == "sqlite":
        busy = float(engine.url.query.get("timeout", BUSY_TIMEOUT_SECONDS))  # type: ignore[arg-type]
        event.listen(engine, "connect", lambda connection, record: _configure_sqlite(connection, record, busy))
    return engine


def _configure_sqlite(dbapi_connection: sqlite3.Connection, _record: Any, busy_seconds: float) -> None:
    dbapi_connection.create_aggregate("decimal_sum", 1, DecimalSum)  # type: ignore[arg-type]
    dbapi_connection.create_function("decimal_add", 2, decimal_add, deterministic=True)
    cursor = dbapi_connection.cursor()
    # First: switching to WAL below needs a lock too, and must wait for it like any write.
    cursor.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the dashboard read while the collector writes; busy_timeout waits out short locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: the store stays consistent through a
    # crash, and a power cut can lose only the last commits, which the next run's re-pulled window
    # writes again. FULL made every chunk's commit wait for the disk.
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 64 MiB of page cache (the default is 2 MB), taken as pages are read: a month of cost rows
    # touches the index pages of every resource it holds, and with 2 MB those went back to the
    # OS's file cache between days (writes 10-20% faster, docs/performance.md#sqlite-page-cache).
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def migrations_folder() -> Path:
    """Alembic's scripts: inside the installed package (a wheel ships alembic/ as collector/migrations),
    else the checkout's alembic/ folder (an editable install or a source tree)."""
    installed, checkout = PACKAGE_ROOT / "migrations", PROJECT_ROOT / "alembic"
    if (installed / "env.py").is_file():
        return installed
    # Beside alembic.ini only: in site-packages, PROJECT_ROOT/alembic is the Alembic library itself.
    if (PROJECT_ROOT / "alembic.ini").is_file() and (checkout / "env.py").is_file():
        return checkout
    raise MigrationsMissing(
        f"costwatch's database migrations are missing (looked in {installed} and {checkout}): "
        "reinstall costwatch from its wheel, or run it from a checkout"
    )


def alembic_config(url: str) -> Config:
    # Built in code rather than read from alembic.ini, which only a checkout has (the file stays
    # there for the `alembic` command itself).
    config = Config()
    config.set_main_option("script_location", str(migrations_folder()))
    # ConfigParser would read '%' in a password as interpolation: escape it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_current_schema(engine: Engine, url: str) -> None:
    current, head = current_revision(engine), head_revision(url)
    if current != head:
        if current is not None and not known_revision(url, current):
            raise SchemaOutOfDate(newer_schema(url, current, head))
        state = "empty (no schema yet)" if current is None else f"at revision {current}"
        raise SchemaOutOfDate(
            f"the database {redact(url)} is {state}, but this costwatch needs revision {head}: "
            "run `costwatch db upgrade` first"
        )


def known_revision(url: str, revision: str) -> bool:
    """Whether this costwatch's migrations know `revision` (a newer costwatch's do not)."""
    try:
        return ScriptDirectory.from_config(alembic_config(url)).get_revision(revision) is not None
    except Exception:  # alembic's "Can't locate revision"
        return False


def newer_schema(url: str, current: str, head: str | None) -> str:
    return (
        f"the database {redact(url)} is at revision {current}, which this costwatch does not know (it needs "
        f"{head}): a newer costwatch migrated it. Run that newer costwatch, or upgrade this one; "
        "`costwatch db upgrade` cannot go back"
    )
