"""Faults of the store itself, told apart and said plainly.

A full disk, a folder costwatch may not write to, a PostgreSQL that refuses the connection: none of
these is a bug of costwatch, so none should reach the user as a traceback. `store_error` turns the
driver's error into a `StoreError` whose message names the store (its URL without the password),
what happened and what to do. `Fault.transient` says which faults are worth waiting out (a lost
connection comes back after a failover; a full disk or a file that is not a database does not).
"""

from __future__ import annotations

import os
import re
import sqlite3
from enum import StrEnum
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from collector.db.engine import redact


class Fault(StrEnum):
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "authentication failed"
    DATABASE_MISSING = "database missing"
    CANNOT_OPEN = "cannot open"
    DISK_FULL = "disk full"
    LOCKED = "locked"
    NOT_A_DATABASE = "not a database"
    CONNECTION_LOST = "connection lost"

    @property
    def transient(self) -> bool:
        """Worth retrying until `database_retry_seconds`: the database may answer again by itself."""
        return self in (Fault.UNREACHABLE, Fault.CONNECTION_LOST)


class StoreError(Exception):
    """The store cannot be used; the message says which store, what happened and what to do."""

    def __init__(self, fault: Fault, message: str) -> None:
        super().__init__(message)
        self.fault = fault


# SQLite's primary result codes (sqlite3.Error.sqlite_errorname, extended codes such as
# SQLITE_IOERR_WRITE or SQLITE_READONLY_DBMOVED start with them).
_SQLITE_CODES = {
    "SQLITE_FULL": Fault.DISK_FULL,
    "SQLITE_CANTOPEN": Fault.CANNOT_OPEN,
    "SQLITE_READONLY": Fault.CANNOT_OPEN,
    "SQLITE_PERM": Fault.CANNOT_OPEN,
    "SQLITE_NOTADB": Fault.NOT_A_DATABASE,
    "SQLITE_CORRUPT": Fault.NOT_A_DATABASE,
    "SQLITE_BUSY": Fault.LOCKED,
    "SQLITE_LOCKED": Fault.LOCKED,
}
# The same by message, for errors that carry no code (raised by a wrapper or a test).
_SQLITE_TEXTS = {
    "database or disk is full": Fault.DISK_FULL,
    "unable to open database file": Fault.CANNOT_OPEN,
    "attempt to write a readonly database": Fault.CANNOT_OPEN,
    "file is not a database": Fault.NOT_A_DATABASE,
    "database disk image is malformed": Fault.NOT_A_DATABASE,
    "database is locked": Fault.LOCKED,
    "database table is locked": Fault.LOCKED,
}
# PostgreSQL's SQLSTATE classes and codes, for errors raised once connected.
_PG_STATES = {
    "53100": Fault.DISK_FULL,  # disk_full
    "3D000": Fault.DATABASE_MISSING,  # invalid_catalog_name
    "28000": Fault.AUTH_FAILED,  # invalid_authorization_specification
    "28P01": Fault.AUTH_FAILED,  # invalid_password
    "57P01": Fault.CONNECTION_LOST,  # admin_shutdown: a restart or failover
    "57P02": Fault.CONNECTION_LOST,  # crash_shutdown
    "57P03": Fault.UNREACHABLE,  # cannot_connect_now: starting up
}
# libpq reports a failed connection in text only (no SQLSTATE): matched in this order.
_PG_TEXTS = [
    (re.compile(r'database "[^"]*" does not exist'), Fault.DATABASE_MISSING),
    (
        re.compile(r'password authentication failed|role "[^"]*" does not exist|no pg_hba\.conf entry|authentication'),
        Fault.AUTH_FAILED,
    ),
    (
        re.compile(
            r"server closed the connection|terminating connection|connection is (lost|closed)|consuming input failed"
            r"|SSL SYSCALL error|sending query failed|could not receive data|could not send data",
            re.IGNORECASE,
        ),
        Fault.CONNECTION_LOST,
    ),
    (
        re.compile(
            r"connection refused|could not translate host name|failed to resolve host|name or service not known"
            r"|timeout expired|no route to host|network is unreachable|connection failed|could not connect",
            re.IGNORECASE,
        ),
        Fault.UNREACHABLE,
    ),
]


def classify(exc: BaseException) -> Fault | None:
    """The store fault behind a driver error (wrapped by SQLAlchemy or not); None when it is not one
    (a constraint, a syntax error: costwatch's own mistakes, which keep their traceback)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, sqlite3.Error):
        name = getattr(orig, "sqlite_errorname", None) or ""
        for code, fault in _SQLITE_CODES.items():
            if name == code or name.startswith(code + "_"):
                return fault
        text = str(orig).lower()
        return next((fault for said, fault in _SQLITE_TEXTS.items() if said in text), None)
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return Fault.CONNECTION_LOST
    state = getattr(orig, "sqlstate", None)
    if state in _PG_STATES:
        return _PG_STATES[state]
    if state is None and type(orig).__module__.startswith("psycopg") and type(orig).__name__ == "OperationalError":
        text = str(orig)
        return next((fault for pattern, fault in _PG_TEXTS if pattern.search(text)), None)
    return None


def store_error(exc: BaseException, url: str, *, waited: float | None = None) -> StoreError | None:
    """`exc` as a StoreError naming the store at `url`, or None when `exc` is not a store fault.
    `waited`: how long costwatch was willing to wait for the store to answer again (its retry window)
    before giving up; None when it did not wait."""
    if isinstance(exc, StoreError):
        return exc
    fault = classify(exc)
    if fault is None and waited is not None and isinstance(exc, OperationalError):
        fault = Fault.CONNECTION_LOST  # waited out as an outage (collector.db.session) and still there
    if fault is None:
        return None
    if waited is not None and fault.transient:
        fault = Fault.CONNECTION_LOST
    return StoreError(fault, _message(fault, url, _detail(exc, url), waited))


def describe(exc: BaseException, url: str) -> str:
    """What to log about an error that may be a store fault: its clear message, else the error."""
    error = store_error(exc, url)
    return str(error) if error is not None else f"{type(exc).__name__}: {exc}"


def _detail(exc: BaseException, url: str) -> str:
    """The driver's own words (first line), without the password even if a driver echoed it."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    line = (str(orig).strip().splitlines() or [""])[0]
    line = re.sub(r"^connection failed: ", "", line)
    line = re.sub(r"^connection to server at .*? failed: (FATAL: +)?", "", line)
    password = _password(url)
    return line.replace(password, "***") if password else line


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except Exception:
        return None


def _sqlite_path(url: str) -> Path | None:
    try:
        parsed = make_url(url)
    except Exception:
        return None
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def _cannot_open(path: Path | None) -> str:
    """Why SQLite could not open or write the file, from what the filesystem says."""
    if path is None:
        return "could not be opened: check database_url"
    folder = path.parent
    if not folder.is_dir():
        return f"cannot be created: the folder {folder} does not exist. Create it, or fix database_url"
    if not os.access(folder, os.W_OK | os.X_OK):
        # SQLite writes its -wal and -shm files next to the database: the folder must be writable too.
        return (
            f"cannot be opened for writing: the folder {folder} is not writable by this user (or is on a "
            "read-only filesystem). SQLite also writes its -wal and -shm files there: make the folder "
            "writable for costwatch's user, or fix database_url"
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return (
            f"cannot be opened for writing: {path} is not readable and writable by this user. Fix its "
            "permissions, or fix database_url"
        )
    return f"could not be opened: check that {path} and its folder are writable by costwatch's user"


def _message(fault: Fault, url: str, detail: str, waited: float | None) -> str:
    store = f"the store {redact(url)}"
    path = _sqlite_path(url)
    file = str(path) if path is not None else "the database"
    match fault:
        case Fault.UNREACHABLE:
            return (
                f"cannot reach {store} ({detail}): check the host and port in database_url and that "
                "PostgreSQL is running there and accepts connections from this machine"
            )
        case Fault.AUTH_FAILED:
            return (
                f"{store} refused the login ({detail}): check the user and password in database_url "
                "(COSTWATCH_DATABASE_URL) and that the role exists"
            )
        case Fault.DATABASE_MISSING:
            return (
                f"{store} does not exist on that server ({detail}): create the database (then run "
                "`costwatch db upgrade`), or fix the database name in database_url"
            )
        case Fault.CANNOT_OPEN:
            return f"{store}: the SQLite file {file} {_cannot_open(path)}"
        case Fault.DISK_FULL:
            place = f"the disk holding {file}" if path is not None else "the database server's disk"
            return (
                f"{store}: the disk is full ({detail}); the write in progress was rolled back whole, what "
                f"was stored before stays as it was. Free space on {place} and run the command again"
            )
        case Fault.LOCKED:
            return (
                f"{store}: {file} is locked by another program ({detail}) and stayed locked beyond the busy "
                "timeout; nothing was changed. Close the program holding it (an sqlite3 shell, a backup, a "
                "sync tool), or raise the timeout with ?timeout=SECONDS in database_url, and run again"
            )
        case Fault.NOT_A_DATABASE:
            return (
                f"{store}: {file} is not a SQLite database, or is damaged ({detail}); it was left as it is. "
                "Point database_url at costwatch's store, or move this file away and run "
                "`costwatch db upgrade` to create a new store"
            )
        case Fault.CONNECTION_LOST:
            how_long = f" within {waited:.0f} s (database_retry_seconds)" if waited is not None else ""
            return (
                f"lost the connection to {store} ({detail}) and it did not answer again{how_long}; the write "
                "in progress was rolled back, what was written before stays. Check that PostgreSQL is up "
                "and reachable, then run the command again (a rerun completes what is missing)"
            )
