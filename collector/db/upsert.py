"""Insert-or-update by natural key, the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from collector.db.models import Base

# SQLite allows 32,766 bound variables per statement; stay well inside it on both backends.
_MAX_VARIABLES = 30_000


def upsert(
    session: Session,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    keep: Sequence[str] = (),
) -> int:
    """Write rows; on a key conflict update every column except the key and `keep` (e.g. first_seen)."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = list(rows[0])
    batch = max(1, _MAX_VARIABLES // len(columns))
    for start in range(0, len(rows), batch):
        statement = insert(model).values(list(rows[start : start + batch]))
        updates = {c: statement.excluded[c] for c in columns if c not in key and c not in keep}
        session.execute(statement.on_conflict_do_update(index_elements=list(key), set_=updates))
    return len(rows)
