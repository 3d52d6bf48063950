"""Insert-or-update by natural key, the same way on SQLite and PostgreSQL.

SQLite's writes, and small ones on PostgreSQL, run one `INSERT .. ON CONFLICT DO UPDATE` through the
driver's executemany. Large ones on
PostgreSQL go through COPY into a temporary staging table, then one `INSERT .. SELECT .. ON CONFLICT`:
the server parses the rows in bulk instead of one statement per row (bench/README.md, ingest.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from collector.db.models import Base

# Rows per executemany call: bounds memory, and each call is one round of SQLAlchemy's batched
# "insertmanyvalues" on both backends.
_BATCH = 5_000
# From this many rows on, PostgreSQL writes through COPY: below it the staging table costs more
# than it saves.
_COPY_FROM = 1_000


def upsert(
    session: Session,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    keep: Sequence[str] = (),
) -> int:
    """Write rows; on a key conflict update every column except the key and `keep` (e.g. first_seen).

    One statement, compiled once per call and run as executemany over the rows: building a multi-row
    VALUES statement per batch instead spent most of a collection's CPU compiling SQL (bench/README.md).
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    columns = list(rows[0])
    if dialect == "postgresql" and len(rows) >= _COPY_FROM:
        return _copy_upsert(session, model.__table__, rows, columns, key, keep)  # type: ignore[arg-type]
    table: Table = model.__table__  # type: ignore[assignment]
    connection = session.connection()
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    updates = {c: statement.excluded[c] for c in columns if c not in key and c not in keep}
    statement = statement.on_conflict_do_update(index_elements=list(key), set_=updates)
    compiled = statement.compile(dialect=connection.dialect, column_keys=columns)
    names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
    if set(names) != set(columns):  # columns left to their defaults: SQLAlchemy fills those in
        for start in range(0, len(rows), _BATCH):
            connection.execute(statement, list(rows[start : start + _BATCH]))
        return len(rows)
    # The driver's executemany over values converted as SQLAlchemy binds them: the ORM's bulk path
    # spent more time per row than SQLite took to store it (bench/README.md, collect.py).
    sql = compiled.string
    convert = _converters(table, names, connection.dialect)
    for start in range(0, len(rows), _BATCH):
        values = [tuple([f(row[c]) if f else row[c] for c, f in convert]) for row in rows[start : start + _BATCH]]
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
    dialect = connection.dialect
    staging = f"costwatch_staging_{table.name}"
    names = ", ".join(f'"{c}"' for c in columns)
    # ON COMMIT DELETE ROWS: the table lives as long as the pooled connection, its rows one transaction.
    connection.exec_driver_sql(
        f'CREATE TEMP TABLE IF NOT EXISTS "{staging}" ON COMMIT DELETE ROWS AS '
        f'SELECT {names}, 0::bigint AS costwatch_order FROM "{table.name}" WITH NO DATA'
    )
    connection.exec_driver_sql(f'TRUNCATE "{staging}"')
    convert = _converters(table, columns, dialect)
    cursor: Any = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f'COPY "{staging}" ({names}, costwatch_order) FROM STDIN') as copy:
            for order, row in enumerate(rows):
                copy.write_row([*(f(row[c]) if f else row[c] for c, f in convert), order])
    finally:
        cursor.close()
    keys = ", ".join(f'"{c}"' for c in key)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in key and c not in keep)
    # DISTINCT ON: a key given twice keeps its last row, as the executemany path does.
    connection.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({names}) '
        f'SELECT DISTINCT ON ({keys}) {names} FROM "{staging}" ORDER BY {keys}, costwatch_order DESC '
        f"ON CONFLICT ({keys}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING")
    )
    return len(rows)


def _converters(table: Table, columns: list[str], dialect: Dialect) -> list[tuple[str, Any]]:
    """Per column, the function SQLAlchemy binds its values with on this dialect (None: as they are):
    TypeDecorators such as Money check and convert, SQLite's dates become its text format."""
    return [(c, table.c[c].type.dialect_impl(dialect).bind_processor(dialect)) for c in columns]
