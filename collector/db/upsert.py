"""Insert-or-update by natural key, the same way on SQLite and PostgreSQL.

SQLite's writes, and small ones on PostgreSQL, run one `INSERT .. ON CONFLICT DO UPDATE` through the
driver's executemany. Large ones on PostgreSQL go through COPY into a temporary staging table, then
one `INSERT .. SELECT .. ON CONFLICT`: the server parses the rows in bulk instead of one statement per
row (docs/performance.md#postgres-copy).

`insert_new` writes rows whose keys are not stored yet (a stretch of days never collected: a
backfill) without looking for conflicts: on SQLite a plain INSERT through executemany (less than half
the upsert's time), on PostgreSQL COPY straight into the table (a third of the staged upsert's). A key
that is stored after all fails the write (a unique violation) instead of doubling a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Connection, Date, DateTime, Dialect, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from collector.db.models import Base

# Rows per executemany call: bounds memory, and each call is one round of SQLAlchemy's batched
# "insertmanyvalues" on both backends.
_BATCH = 5_000
# From this many rows on, PostgreSQL writes through COPY: below it the staging table costs more
# than it saves.
_COPY_FROM = 1_000


# PostgreSQL column types whose binary COPY format psycopg writes from the value SQLAlchemy binds
# (JSON binds as psycopg's Json wrapper: a plain str would be stored as a JSON string).
_BINARY_AS_IS = frozenset({"varchar", "text", "date", "numeric", "bool", "int8", "timestamptz", "json"})


def conflict_insert(dialect: str) -> Callable[..., Any]:
    """The INSERT construct that takes ON CONFLICT clauses on this backend (SQLite or PostgreSQL)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def upsert(
    session: Session,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    keep: Sequence[str] = (),
) -> int:
    """Write rows; on a key conflict update every column except the key and `keep` (e.g. first_seen).

    One statement, compiled once per call and run as executemany over the rows: building a multi-row
    VALUES statement per batch instead spent most of a collection's CPU compiling SQL
    (docs/performance.md#upsert-executemany).
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    columns = list(rows[0])
    if dialect == "postgresql" and len(rows) >= _COPY_FROM:
        return _copy_upsert(session, model.__table__, rows, columns, key, keep)  # type: ignore[arg-type]
    table: Table = model.__table__  # type: ignore[assignment]
    statement = conflict_insert(dialect)(table)
    updates = {c: statement.excluded[c] for c in columns if c not in key and c not in keep}
    return _execute_many(
        session.connection(),
        statement.on_conflict_do_update(index_elements=list(key), set_=updates),
        table,
        rows,
        columns,
    )


def insert_new(session: Session, model: type[Base], rows: Sequence[dict[str, Any]]) -> int:
    """Write rows none of whose keys is stored yet, and which repeat no key among themselves (a
    stretch never written, its keys made unique by the caller); a stored key raises IntegrityError."""
    if not rows:
        return 0
    table: Table = model.__table__  # type: ignore[assignment]
    connection = session.connection()
    columns = list(rows[0])
    if connection.dialect.name == "postgresql" and len(rows) >= _COPY_FROM:
        _copy(connection, table, table.name, columns, rows)
        return len(rows)
    return _execute_many(connection, table.insert(), table, rows, columns)


def _execute_many(
    connection: Connection, statement: Insert, table: Table, rows: Sequence[dict[str, Any]], columns: list[str]
) -> int:
    compiled = statement.compile(dialect=connection.dialect, column_keys=columns)
    names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
    if set(names) != set(columns):  # columns left to their defaults: SQLAlchemy fills those in
        for start in range(0, len(rows), _BATCH):
            connection.execute(statement, list(rows[start : start + _BATCH]))
        return len(rows)
    # The driver's executemany over values converted as SQLAlchemy binds them: the ORM's bulk path
    # spent more time per row than SQLite took to store it (docs/performance.md#upsert-executemany).
    sql = compiled.string
    for start in range(0, len(rows), _BATCH):
        values = list(_converted(table, names, connection.dialect, rows[start : start + _BATCH]))
        batch = values if compiled.positional else [dict(zip(names, v, strict=True)) for v in values]
        connection.exec_driver_sql(sql, batch)
    return len(rows)


def _copy_upsert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    columns: list[str],
    key: Sequence[str],
    keep: Sequence[str],
) -> int:
    """COPY the rows into a temporary table shaped like `table`, then upsert them from it in one
    statement, inside the session's transaction (so a failure leaves the table as it was)."""
    connection = session.connection()
    staging = f"costwatch_staging_{table.name}"
    names = ", ".join(f'"{c}"' for c in columns)
    # ON COMMIT DELETE ROWS: the table lives as long as the pooled connection, its rows one transaction.
    connection.exec_driver_sql(
        f'CREATE TEMP TABLE IF NOT EXISTS "{staging}" ON COMMIT DELETE ROWS AS '
        f'SELECT {names}, 0::bigint AS costwatch_order FROM "{table.name}" WITH NO DATA'
    )
    connection.exec_driver_sql(f'TRUNCATE "{staging}"')
    _copy(connection, table, staging, columns, rows, numbered=True)
    keys = ", ".join(f'"{c}"' for c in key)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in key and c not in keep)
    # DISTINCT ON: a key given twice keeps its last row, as the executemany path does.
    connection.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({names}) '
        f'SELECT DISTINCT ON ({keys}) {names} FROM "{staging}" ORDER BY {keys}, costwatch_order DESC '
        f"ON CONFLICT ({keys}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING")
    )
    return len(rows)


def _copy(
    connection: Connection,
    table: Table,
    target: str,
    columns: list[str],
    rows: Sequence[dict[str, Any]],
    numbered: bool = False,
) -> None:
    """COPY the rows into `target` (the table, or its staging table with each row's position in
    `costwatch_order` when `numbered`), converted as `table`'s columns bind them."""
    names = [*columns, *(["costwatch_order"] if numbered else [])]
    # Binary COPY: the server reads numerics, dates and timestamps without parsing their text, and
    # the client escapes no text (about 1 µs a row each, docs/performance.md#postgres-copy). Only when every column is
    # of a type whose binary round trip is tested (tests/e2e/test_store.py); else COPY's text format.
    types = connection.exec_driver_sql(
        "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = %(target)s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        {"target": f'"{target}"'},
    )
    typenames = dict(types.tuples().all())
    binary = all(typenames[c] in _BINARY_AS_IS for c in names)
    listed = ", ".join(f'"{c}"' for c in names)
    sql = f'COPY "{target}" ({listed}) FROM STDIN' + (" (FORMAT BINARY)" if binary else "")
    dialect = connection.dialect
    dbapi_connection: Any = connection.connection.dbapi_connection
    cursor = dbapi_connection.cursor()
    try:
        with cursor.copy(sql) as copy:
            if binary:
                copy.set_types([typenames[c] for c in names])
            for order, values in enumerate(_converted(table, columns, dialect, rows)):
                copy.write_row((*values, order) if numbered else values)
    except dialect.loaded_dbapi.Error as exc:
        # Raised as SQLAlchemy raises a statement's errors, so that callers tell a lost connection
        # (retried: collector.db.session) from a constraint (not) the same way on every path.
        lost = dialect.is_disconnect(exc, dbapi_connection, cursor)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost) from exc
    finally:
        cursor.close()


def _converted(
    table: Table, columns: list[str], dialect: Dialect, rows: Iterable[dict[str, Any]]
) -> Iterable[tuple[Any, ...]]:
    """Each row's values in `columns` order, as SQLAlchemy binds them on this dialect: TypeDecorators
    such as Money check and convert, SQLite's dates become its text format."""
    convert: list[tuple[str, Callable[[Any], Any] | None]] = []
    for c in columns:
        process = table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
        repeated = isinstance(table.c[c].type, Date | DateTime | Boolean)
        convert.append((c, _once_per_value(process) if process and repeated else process))
    for row in rows:
        yield tuple([f(row[c]) if f else row[c] for c, f in convert])


def _once_per_value(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`process` run once per distinct value: dates, timestamps and flags repeat from row to row (a
    chunk's few days, its one `updated_at`), and SQLite's text formatting of a date or timestamp took
    0.8-1.5 µs each, half of a cost row's conversion (docs/performance.md#convert-once-per-value). A
    timestamp is told apart by its time zone too: the same instant in two zones may be stored as two texts."""
    done: dict[Any, Any] = {}

    def converted(value: Any) -> Any:
        key = (value, value.tzinfo) if isinstance(value, datetime) else value
        try:
            return done[key]
        except KeyError:
            result = done[key] = process(value)
            return result

    return converted
