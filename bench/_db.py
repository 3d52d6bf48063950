"""Throwaway, migrated stores for the benchmarks, and a Markdown table printer."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from collector.db.engine import make_engine, upgrade

POSTGRES_ADMIN_URL = os.environ.get(
    "COSTWATCH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")


@contextmanager
def sqlite_store() -> Iterator[str]:
    """A migrated SQLite file in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="costwatch-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        yield url


@contextmanager
def postgres_store(name: str) -> Iterator[str]:
    """A migrated PostgreSQL database `name` (re)created on the server, dropped afterwards."""
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def store(backend: str, postgres_name: str) -> Iterator[str]:
    if backend == "sqlite":
        with sqlite_store() as url:
            yield url
    elif backend == "postgresql":
        with postgres_store(postgres_name) as url:
            yield url
    else:
        raise ValueError(f"unknown backend {backend!r}: choose from {', '.join(BACKENDS)}")


def parse_backends(value: str) -> list[str]:
    chosen = [b.strip() for b in value.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in BACKENDS]
    if unknown or not chosen:
        raise ValueError(f"--backends takes a comma list of {', '.join(BACKENDS)}; got {value!r}")
    return chosen


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    right = ["---:" if all(_numeric(r[i]) for r in rows) else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(right) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _numeric(cell: object) -> bool:
    text_ = str(cell).replace(",", "").replace("×", "").replace("~", "").strip()
    try:
        float(text_)
    except ValueError:
        return text_ in ("", "-")
    return True
