"""Insert-or-update by natural key, the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from collector.db.models import Base

# Rows per executemany call: bounds memory, and each call is one round of SQLAlchemy's batched
# "insertmanyvalues" on both backends.
_BATCH = 5_000


def upsert(
    session: Session,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    keep: Sequence[str] = (),
) -> int:
    """Write rows; on a key conflict update every column except the key and `keep` (e.g. first_seen).

    One statement, compiled once and run as executemany over the rows: building a multi-row VALUES
    statement per batch instead spent most of a collection's CPU compiling SQL (bench/README.md).
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = list(rows[0])
    statement = insert(model)
    updates = {c: statement.excluded[c] for c in columns if c not in key and c not in keep}
    statement = statement.on_conflict_do_update(index_elements=list(key), set_=updates)
    for start in range(0, len(rows), _BATCH):
        session.execute(statement, list(rows[start : start + _BATCH]))
    return len(rows)
