"""The store: migrations without drift, exact money, upserts by natural key, on both backends."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from alembic import command
from collector.cost_chunks import stored_rows_of
from collector.db.engine import SchemaOutOfDate, alembic_config, make_engine, require_current_schema, upgrade
from collector.db.models import COST_ROW_KEY, Base, CollectionRun, CostRow, ResourceAttribution, SaasResource
from collector.db.types import money_sum
from collector.db.upsert import insert_new, upsert
from collector.sources.costs import Chunk
from tests.conftest import create_postgres_database, drop_postgres_database


# Alembic cannot compare expression indexes (lower(project)); the next test checks that one.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_the_migrated_rollup_has_its_project_index(engine: Engine) -> None:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            found = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'ix_daily_spend_project_day'"
        else:
            found = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_daily_spend_project_day'"
        definition = connection.scalar(text(found)) or ""
    assert re.search(r"lower\(\(?project\b", definition, re.IGNORECASE) and "usage_date" in definition


def test_collect_refuses_an_empty_database(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(SchemaOutOfDate, match="costwatch db upgrade"):
        require_current_schema(make_engine(url), url)
    upgrade(url)
    require_current_schema(make_engine(url), url)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database of its own (no schema), on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"costwatch_test_fresh_{uuid.uuid4().hex[:8]}"
    url = create_postgres_database(name)
    yield url
    drop_postgres_database(name)


def _indexes(engine: Engine) -> dict[str, list[str]]:
    found = inspect(engine)
    indexes = {i["name"]: list(i["column_names"]) for i in found.get_indexes("cost_rows")}
    indexes.update({u["name"]: list(u["column_names"]) for u in found.get_unique_constraints("cost_rows")})
    return {name: columns for name, columns in indexes.items() if name}


def test_the_natural_key_migration_keeps_every_cost_row_and_still_refuses_a_key_twice(fresh_url: str) -> None:
    upgrade(fresh_url, "0009")  # the key led by subscription and day, two indexes by resource ID
    engine = make_engine(fresh_url)
    with Session(engine) as session, session.begin():
        run_id = _run(session)
        rows = _distinct_rows(run_id, 60, lambda i: f"{i}.{i:04d}")
        session.execute(insert(CostRow), rows)
    upgrade(fresh_url)
    assert _indexes(engine) == {
        "uq_cost_rows_natural_key": list(COST_ROW_KEY),
        "ix_cost_rows_subscription_id_usage_date": ["subscription_id", "usage_date"],
        "ix_cost_rows_usage_date": ["usage_date"],
        "ix_cost_rows_run_id": ["run_id"],
        "ix_cost_rows_updated_at": ["updated_at"],
    }
    with Session(engine) as session:
        stored = {(r.meter, r.usage_date): r.cost for r in session.scalars(select(CostRow))}
    assert stored == {(r["meter"], r["usage_date"]): r["cost"] for r in rows}
    with Session(engine) as session, pytest.raises(IntegrityError), session.begin():
        session.execute(insert(CostRow), [{**rows[7], "cost": Decimal(1)}])
    # and back: the old key and its indexes, the rows unchanged
    command.downgrade(alembic_config(fresh_url), "0009")
    assert _indexes(engine)["ix_cost_rows_resource_id_usage_date"] == ["resource_id", "usage_date"]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(CostRow)) == len(rows)
    engine.dispose()


def test_a_subscription_stretch_is_read_by_its_own_index_not_every_subscription_days(engine: Engine) -> None:
    # A chunk's look for stored rows and its stale-row delete read one subscription's days: through
    # the index led by the day they would scan every subscription's rows of those days, per chunk.
    with Session(engine) as session, session.begin():
        run_id = _run(session)
        rows = [
            {
                **_row(run_id, day, "1", meter=f"m{m}"),
                "subscription_id": f"s{s:02d}",
                "resource_id": f"/subscriptions/s{s:02d}/r",
            }
            for s in range(40)
            for day in range(1, 29)
            for m in range(5)
        ]
        insert_new(session, CostRow, rows)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")  # as the server's autovacuum (or SQLite's optimize) would
    october = Chunk("/subscriptions/s07", "s07", date(2026, 10, 1), date(2026, 10, 31))
    stretch = select(CostRow.id).where(*stored_rows_of(october, "ActualCost"))
    compiled = stretch.compile(engine, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        plan = " ".join(str(row) for row in connection.exec_driver_sql(explain + str(compiled)))
    assert "ix_cost_rows_subscription_id_usage_date" in plan, plan


def _run(session: Session) -> int:
    run = CollectionRun(kind="costs", status="running", started_at=datetime.now(UTC))
    session.add(run)
    session.flush()
    return run.id


def _row(run_id: int, day: int, cost: str, meter: str = "paygo-inference-input-tokens") -> dict[str, object]:
    return {
        "subscription_id": "s",
        "usage_date": date(2026, 10, day),
        "resource_id": "/subscriptions/s/r",
        "meter_id": "m",
        "meter": meter,
        "meter_category": "SaaS",
        "meter_subcategory": "",
        "charge_type": "Usage",
        "cost_type": "ActualCost",
        "currency": "USD",
        "cost": Decimal(cost),
        "quantity": None,
        "is_estimated": True,
        "run_id": run_id,
        "updated_at": datetime.now(UTC),
    }


def _distinct_rows(run_id: int, size: int, cost: Callable[[int], str]) -> list[dict[str, object]]:
    """`size` rows of distinct keys: 28 days of each meter m0, m1, ..."""
    return [_row(run_id, 1 + i % 28, cost(i), meter=f"m{i // 28}") for i in range(size)]


def test_money_sums_exactly(engine: Engine) -> None:
    # 0.1 + 0.2 in binary floating point is 0.30000000000000004; a million small rows drift further.
    amounts = ["0.1", "0.2", "0.009865586851323632", "-0.009865586851323632", "218.68795741935486"] * 40
    with Session(engine) as session, session.begin():
        run_id = _run(session)
        rows = [_row(run_id, 1 + i % 28, a, meter=f"m{i}") for i, a in enumerate(amounts)]
        upsert(
            session,
            CostRow,
            rows,
            COST_ROW_KEY,
        )
    with Session(engine) as session:
        total = session.scalar(select(money_sum(CostRow.cost)))
        stored = session.scalars(select(CostRow.cost).where(CostRow.meter == "m2")).one()
    assert total == sum(Decimal(a) for a in amounts) == Decimal("8759.5182967741944")
    assert isinstance(total, Decimal)
    assert stored == Decimal("0.009865586851323632")


def test_upsert_replaces_instead_of_appending(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        run_id = _run(session)
        upsert(session, CostRow, [_row(run_id, 1, "1.5"), _row(run_id, 2, "2")], COST_ROW_KEY)
    with Session(engine) as session, session.begin():
        upsert(session, CostRow, [_row(run_id, 1, "1.75")], COST_ROW_KEY)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(CostRow)) == 2
        assert session.scalar(select(money_sum(CostRow.cost))) == Decimal("3.75")


def test_money_refuses_floats(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(StatementError, match="Decimal"):
        run_id = _run(session)
        row = _row(run_id, 1, "1")
        row["cost"] = 1.5
        session.execute(insert(CostRow).values(row))


@pytest.mark.parametrize("size", [3, 2_500], ids=["statement", "bulk"])  # PostgreSQL COPYs the larger
def test_upsert_of_many_rows_keeps_one_per_key_the_last_given(engine: Engine, size: int) -> None:
    with Session(engine) as session, session.begin():
        run_id = _run(session)
        rows = _distinct_rows(run_id, size, lambda i: f"{i}.{i:04d}")
        upsert(session, CostRow, rows, COST_ROW_KEY)
    with Session(engine) as session, session.begin():
        # A key twice in one write, first and last (in bulk, SQLite's first and last statement): the
        # last one counts.
        again = [{**rows[0], "cost": Decimal("0.01")}, *rows[1:], {**rows[0], "cost": Decimal("-7.25")}]
        upsert(session, CostRow, again, COST_ROW_KEY)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(CostRow)) == size
        assert session.scalar(select(money_sum(CostRow.cost))) == sum(
            (Decimal(str(r["cost"])) for r in again[1:]), Decimal(0)
        )
        first = session.scalars(select(CostRow).where(CostRow.meter == "m0", CostRow.usage_date == date(2026, 10, 1)))
        assert first.one().cost == Decimal("-7.25")


@pytest.mark.parametrize("size", [3, 2_500], ids=["statement", "bulk"])  # PostgreSQL COPYs the larger
def test_rows_inserted_as_new_are_stored_exactly_and_a_stored_key_fails_instead_of_doubling(
    engine: Engine, size: int
) -> None:
    with Session(engine) as session, session.begin():
        run_id = _run(session)
        rows = _distinct_rows(run_id, size, lambda i: f"{i}.{i:04d}")
        assert insert_new(session, CostRow, rows) == size
    with Session(engine) as session:
        stored = {(r.meter, r.usage_date): r.cost for r in session.scalars(select(CostRow))}
    assert stored == {(r["meter"], r["usage_date"]): r["cost"] for r in rows}
    # A backfill's stretch that was stored after all (another writer got there first): the write
    # fails whole, and the stored rows stay as they were.
    again = [*(_row(run_id, 1 + i % 28, "9", meter=f"new{i}") for i in range(size)), {**rows[-1], "cost": Decimal(5)}]
    with Session(engine) as session, pytest.raises(IntegrityError), session.begin():
        insert_new(session, CostRow, again)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(CostRow)) == size
        assert session.scalar(select(money_sum(CostRow.cost))) == sum(stored.values(), Decimal(0))


def test_a_bulk_upsert_refuses_floats_and_leaves_the_table_as_it_was(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        run_id = _run(session)
    rows = _distinct_rows(run_id, 2_000, lambda i: "1")
    rows[-1]["cost"] = 1.5
    # SQLAlchemy wraps the TypeError in a StatementError; PostgreSQL's COPY path raises it as it is.
    with Session(engine) as session, pytest.raises((TypeError, StatementError), match="Decimal"), session.begin():
        upsert(session, CostRow, rows, COST_ROW_KEY)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(CostRow)) == 0


def _utc(moment: datetime) -> datetime:
    """SQLite hands back the UTC time it stored without its zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


AWKWARD = 'tab\tnew\nline\r back\\slash "quoted" \\N café 🦙'  # what COPY's text format must escape


@pytest.mark.parametrize("size", [3, 2_500], ids=["statement", "bulk"])  # PostgreSQL COPYs the larger
def test_written_values_read_back_exactly_whatever_they_hold(engine: Engine, size: int) -> None:
    # In bulk, PostgreSQL COPYs these rows in binary (strings, dates, numerics, booleans, timestamps,
    # JSON, text); small writes are statements, SQLite's executemany: each path stores values as given.
    seen = datetime(2026, 10, 1, 6, 30, 15, 123456, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        run_id = _run(session)
        costs = [
            {**row, "meter": f"{AWKWARD} {i}", "cost": Decimal(f"-1234567.0000000001{i}"), "is_estimated": i % 3 == 0}
            for i, row in enumerate(_distinct_rows(run_id, size, lambda i: "1"))
        ]
        saas = [
            {
                "resource_id": f"/subscriptions/s/resourcegroups/rg/providers/microsoft.saas/resources/r{i}",
                "subscription_id": "s",
                "resource_group": "rg",
                "name": f"{AWKWARD} {i}",
                "offer": "",
                "plan": AWKWARD,
                "publisher": "Meta",
                "status": "Subscribed",
                "tags": {"project": AWKWARD, "n": i, "nested": {"list": [1, "two", None]}},
                "first_seen": seen,
                # a few distinct timestamps, repeated (each converted once per write)
                "last_seen": seen + timedelta(microseconds=i % 7),
                "removed_at": None,
            }
            for i in range(size)
        ]
        attributions = [
            {
                "resource_id": r["resource_id"],
                "spend_kind": "ai",
                "project_id": "",
                "project": r["name"],
                "model": "",
                "rule": "tag",
                "detail": AWKWARD,
                "updated_at": seen,
            }
            for r in saas
        ]
        upsert(session, CostRow, costs, COST_ROW_KEY)
        upsert(session, SaasResource, saas, ("resource_id",), keep=("first_seen",))
        upsert(session, ResourceAttribution, attributions, ("resource_id",))
    with Session(engine) as session:
        stored_costs = {
            r.meter: (r.cost, r.usage_date, _utc(r.updated_at), r.is_estimated)
            for r in session.scalars(select(CostRow))
        }
        stored_saas = {r.resource_id: r for r in session.scalars(select(SaasResource))}
        details = {(r.project, r.detail) for r in session.scalars(select(ResourceAttribution))}
    assert details == {(r["name"], AWKWARD) for r in saas}
    assert stored_costs == {r["meter"]: (r["cost"], r["usage_date"], r["updated_at"], r["is_estimated"]) for r in costs}
    assert len(stored_saas) == size
    for row in saas:
        got = stored_saas[row["resource_id"]]
        assert (got.name, got.plan, got.tags, _utc(got.first_seen), _utc(got.last_seen), got.removed_at) == (
            row["name"],
            row["plan"],
            row["tags"],
            seen,
            row["last_seen"],
            None,
        )
