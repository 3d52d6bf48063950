"""Throwaway, migrated stores for the benchmarks, a Markdown table printer, and CPU and memory readers."""

from __future__ import annotations

import os
import resource
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


def kept_postgres_store(name: str) -> str:
    """The URL of a migrated PostgreSQL database `name`, created when missing and left in place."""
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            if not connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}):
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


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


def peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM on Linux, else getrusage's ru_maxrss.

    Not ru_maxrss on Linux: across fork+exec it keeps the parent's RSS at fork time (the kernel folds
    the forked image's high-water mark into it), so a spawned child would report the emulator's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def own_cpu_seconds() -> float:
    """This process's user + system CPU so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int | str) -> tuple[str, float] | None:
    """Another process's name and user + system CPU seconds so far, from /proc/<pid>/stat (Linux);
    None when it has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
    return name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)
