"""Writing cost rows: naive ORM upsert vs costwatch's upsert vs raw bulk insert, on SQLite and PostgreSQL.

The same N synthetic rows (shaped like the dicts `collector.cost_chunks.write_chunk` upserts into
`CostRow`) are written four ways into a freshly migrated store:

  naive      ORM: SELECT by natural key, then `session.add(CostRow(...))` (or update), commit per row.
             Runs on the first --naive-rows rows only; its rate is extrapolated to N.
  new        `collector.db.upsert.insert_new` in one transaction per subscription-month chunk: what
             `write_chunk` does with a stretch never stored (a backfill).
  upsert     `collector.db.upsert.upsert` in one transaction per subscription-month chunk: what it
             does with a stretch already stored (a rerun), timed here into an empty table.
  raw        SQLite: one DB-API `executemany` INSERT; PostgreSQL: psycopg `COPY ... FROM STDIN`.
  re-upsert  `upsert` again over the rows already stored (an idempotent re-run: every row conflicts).

With --with-executemany, also (e): the same INSERT .. ON CONFLICT DO UPDATE built once and executed
with each chunk as a list of parameter sets (into an empty table, then again over it) - not
costwatch's code, a measured alternative.

Each path starts from an empty cost_rows table except the re-upserts, which run on the previous
path's result. After each path the stored row count and exact cost total are checked against the
input (a correctness check, not a timing assertion).

    python bench/ingest.py [--rows N] [--naive-rows M] [--backends sqlite,postgresql] [--seed S]
                           [--with-executemany]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any

from _db import markdown_table, parse_backends, store
from sqlalchemy import Engine, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from collector.db.engine import make_engine
from collector.db.models import COST_ROW_KEY, CollectionRun, CostRow
from collector.db.types import money_sum
from collector.db.upsert import insert_new, upsert
from collector.periods import is_final

TODAY = date(2026, 11, 25)
FIRST_DAY = date(2026, 8, 1)  # three months of history plus this month, as a default collection window
LAST_DAY = TODAY - timedelta(days=1)
SUBSCRIPTIONS = 4  # the last one bills in EUR
COST_TYPE = "ActualCost"
RUN_STAMPS = {1: datetime(2026, 11, 25, 6, 0, tzinfo=UTC), 2: datetime(2026, 11, 25, 7, 0, tzinfo=UTC)}
POSTGRES_DATABASE = "costwatch_bench_ingest"
COLUMNS = (
    *COST_ROW_KEY,
    "cost",
    "quantity",
    "is_estimated",
    "run_id",
    "updated_at",
)

Row = dict[str, Any]

# Marketplace offers with their USD list prices (per 1K tokens; hosting per hour) and typical daily
# volume in 1K tokens, and two storage meters: the shapes of Azure AI Studio's cost rows. Kept here
# rather than imported from emulator/ so this benchmark depends on the store only.
METER_INPUT = "paygo-inference-input-tokens"
METER_OUTPUT = "paygo-inference-output-tokens"
METER_FT_HOSTING = "paygo-finetuned-model-inference-hosting"
METER_FT_INPUT = "paygo-finetuned-model-inference-input-tokens"
METER_FT_OUTPUT = "paygo-finetuned-model-inference-output-tokens"
MARKETPLACE_METERS = (METER_INPUT, METER_OUTPUT, METER_FT_HOSTING, METER_FT_INPUT, METER_FT_OUTPUT)
OFFERS: tuple[tuple[str, str, str, str, int], ...] = (
    ("meta-llama-3-8b-instruct-offer", "0.0003", "0.00061", "0.52", 42_000),
    ("meta-llama-3-70b-instruct-offer", "0.00268", "0.00354", "1.88", 18_000),
    ("llama-2-7b-offer", "0.00028", "0.00056", "0.74", 9_000),
    ("llama-2-13b-chat-offer", "0.00081", "0.00094", "0.89", 11_000),
    ("llama-2-70b-chat-offer", "0.00154", "0.00177", "1.62", 8_000),
    ("mistral-ai-large-offer", "0.004", "0.012", "0", 6_000),
    ("cohere-command-r-plus-offer", "0.003", "0.015", "0", 4_000),
    ("ai21-jamba-1-5-large-offer", "0.002", "0.008", "0", 3_000),
)
STORAGE_METERS = (("Hot LRS Data Stored", "0.00068", 812_500), ("Hot Read Operations", "0.00044", 2_350_000))
REGIONS = ("eastus2", "swedencentral", "westus3")
EUR_PER_USD = Decimal("0.92")


def local_price(usd: str, currency: str) -> Decimal:
    price = Decimal(usd)
    return price if currency == "USD" else (price * EUR_PER_USD).quantize(Decimal("0.00001"))


# --- the data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Meter:
    name: str
    meter_id: str
    category: str
    price: Decimal  # per unit, in the subscription's currency
    daily_milli_units: int  # typical daily quantity, thousandths of a unit
    steady: bool  # billed the same every day (hosting hours, GB stored)


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _meter_id(offer: str, meter: str) -> str:
    """Meter IDs are global in Azure (the same for every customer): derived from the names alone."""
    return str(uuid.UUID(int=random.Random(f"meter|{offer}|{meter}").getrandbits(128), version=4))


def _resources(rng: random.Random, subscription_id: str, currency: str, count: int) -> list[tuple[str, list[_Meter]]]:
    """`count` resources of one subscription: Marketplace SaaS resources and one storage account."""
    out: list[tuple[str, list[_Meter]]] = []
    prefix = f"/subscriptions/{subscription_id}/resourcegroups"
    storage = (
        f"{prefix}/rg-shared-eastus2/providers/microsoft.storage/storageaccounts/stcontoso{rng.getrandbits(32):08x}"
    )
    out.append(
        (
            storage,
            [
                _Meter(
                    name, _meter_id("storage", name), "Storage", local_price(price, currency), milli, "Stored" in name
                )
                for name, price, milli in STORAGE_METERS
            ],
        )
    )
    for _ in range(count - 1):
        offer, input_price, output_price, hosting_price, kilo_tokens = rng.choice(OFFERS)
        group = f"rg-ai-hub-{rng.choice(REGIONS)}-{rng.randint(1, 9)}"
        resource_id = f"{prefix}/{group}/providers/microsoft.saas/resources/{offer}-{_guid(rng)}"
        volume = int(kilo_tokens * 1000 * rng.uniform(0.5, 1.6))
        prices = {
            METER_INPUT: (input_price, volume),
            METER_OUTPUT: (output_price, volume * 3 // 10),
            METER_FT_HOSTING: (hosting_price, 24_000),
            METER_FT_INPUT: (input_price, volume // 4),
            METER_FT_OUTPUT: (output_price, volume // 12),
        }
        finetuned = rng.random() < 0.2 and Decimal(hosting_price) > 0
        names = MARKETPLACE_METERS if finetuned else MARKETPLACE_METERS[:2]
        meters = [
            _Meter(
                name,
                _meter_id(offer, name),
                "SaaS",
                local_price(prices[name][0], currency),
                prices[name][1],
                name == METER_FT_HOSTING,
            )
            for name in names
        ]
        out.append((resource_id, meters))
    return out


def make_rows(count: int, seed: int) -> list[Row]:
    """`count` distinct cost rows over 4 subscriptions and Aug 1..Nov 24 2026, deterministic from `seed`.

    Enough resources are generated to exceed `count`; an even, seeded sample of exactly `count` rows
    is kept, so every subscription-month chunk holds its share.
    """
    rng = random.Random(seed)
    days = [FIRST_DAY + timedelta(days=n) for n in range((LAST_DAY - FIRST_DAY).days + 1)]
    per_subscription = max(2, -(-count // (SUBSCRIPTIONS * len(days) * 2)) + 1)  # >= 2 meters a resource-day
    rows: list[Row] = []
    for index in range(SUBSCRIPTIONS):
        subscription_id = _guid(rng)
        currency = "EUR" if index == SUBSCRIPTIONS - 1 else "USD"
        resources = _resources(rng, subscription_id, currency, per_subscription)
        for day in days:
            weekday = 0.55 if day.weekday() >= 5 else 1.0
            estimated = not is_final(day, TODAY)
            for resource_id, meters in resources:
                traffic = rng.uniform(0.8, 1.2) * weekday
                for meter in meters:
                    milli = meter.daily_milli_units if meter.steady else int(meter.daily_milli_units * traffic)
                    quantity = Decimal(milli).scaleb(-3)
                    rows.append(_row(subscription_id, day, resource_id, meter, "Usage", quantity, currency, estimated))
                    if rng.random() < 0.0005:  # the odd refund: same meter and day, another charge type
                        rows.append(
                            _row(subscription_id, day, resource_id, meter, "Refund", -quantity, currency, estimated)
                        )
    if len(rows) > count:
        rows = [rows[i] for i in sorted(rng.sample(range(len(rows)), count))]
    return rows


def _row(
    subscription_id: str,
    day: date,
    resource_id: str,
    meter: _Meter,
    charge_type: str,
    quantity: Decimal,
    currency: str,
    estimated: bool,
) -> Row:
    return {
        "subscription_id": subscription_id,
        "usage_date": day,
        "resource_id": resource_id,
        "meter_id": meter.meter_id,
        "meter": meter.name,
        "meter_category": meter.category,
        "meter_subcategory": "",  # not in the default grouping
        "charge_type": charge_type,
        "cost_type": COST_TYPE,
        "currency": currency,
        "cost": quantity * meter.price,
        "quantity": quantity,
        "is_estimated": estimated,
        "run_id": 1,
        "updated_at": RUN_STAMPS[1],
    }


def month_chunks(rows: Sequence[Row]) -> list[list[Row]]:
    """The rows cut as the pipeline cuts them: one chunk per subscription and month."""

    def key(row: Row) -> tuple[str, int, int]:
        return row["subscription_id"], row["usage_date"].year, row["usage_date"].month

    return [list(group) for _, group in groupby(sorted(rows, key=key), key=key)]


# --- the four ways ---------------------------------------------------------------------------------


def write_naive(engine: Engine, rows: Sequence[Row]) -> None:
    """What a generic ORM-based tool does for an upsert: look up by natural key, add or update, commit."""
    with Session(engine) as session:
        for row in rows:
            existing = session.scalars(
                select(CostRow).where(*(getattr(CostRow, name) == row[name] for name in COST_ROW_KEY)).limit(1)
            ).first()
            if existing is None:
                session.add(CostRow(**row))
            else:
                for name, value in row.items():
                    setattr(existing, name, value)
            session.commit()


def write_upsert(engine: Engine, chunks: Iterable[Sequence[Row]]) -> None:
    """costwatch's path: one transaction per subscription-month, batched INSERT .. ON CONFLICT DO UPDATE."""
    for chunk in chunks:
        with Session(engine) as session, session.begin():
            upsert(session, CostRow, chunk, COST_ROW_KEY)


def write_new(engine: Engine, chunks: Iterable[Sequence[Row]]) -> None:
    """costwatch's path for a stretch never stored (a backfill, cost_chunks.write_chunk): one
    transaction per subscription-month, `insert_new` (SQLite: executemany INSERT; PostgreSQL: COPY)."""
    for chunk in chunks:
        with Session(engine) as session, session.begin():
            insert_new(session, CostRow, chunk)


def write_executemany_upsert(engine: Engine, chunks: Iterable[Sequence[Row]]) -> None:
    """Not costwatch's code (--with-executemany): the same INSERT .. ON CONFLICT DO UPDATE per chunk
    transaction, but built once and executed with the chunk as a list of parameter sets, so SQLAlchemy
    compiles it once (cached) and the driver's executemany runs it, instead of compiling 2,000-row
    VALUES lists."""
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    base = insert(CostRow.__table__)
    updates = {c: base.excluded[c] for c in COLUMNS if c not in COST_ROW_KEY}
    statement = base.on_conflict_do_update(index_elements=list(COST_ROW_KEY), set_=updates)
    for chunk in chunks:
        with Session(engine) as session, session.begin():
            session.execute(statement, list(chunk))


def _sqlite_value(value: Any) -> Any:
    """A value as SQLAlchemy stores it on SQLite (Money as decimal text, dates as ISO text)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def write_raw(engine: Engine, rows: Sequence[Row]) -> None:
    """The floor: the driver alone, one transaction. SQLite: executemany INSERT; PostgreSQL: COPY."""
    connection = engine.raw_connection()
    try:
        cursor: Any = connection.cursor()  # the driver's: sqlite3 or psycopg
        names = ", ".join(COLUMNS)
        if engine.dialect.name == "sqlite":
            placeholders = ", ".join("?" for _ in COLUMNS)
            cursor.executemany(
                f"INSERT INTO cost_rows ({names}) VALUES ({placeholders})",
                ([_sqlite_value(row[c]) for c in COLUMNS] for row in rows),
            )
        else:
            with cursor.copy(f"COPY cost_rows ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in COLUMNS])
        cursor.close()
        connection.commit()
    finally:
        connection.close()


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    path: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def _timed(work: Callable[[], None]) -> float:
    gc.collect()
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _clear(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("TRUNCATE cost_rows"))
        else:
            connection.execute(text("DELETE FROM cost_rows"))
    _vacuum(engine)


def _vacuum(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE cost_rows"))


def _check(engine: Engine, rows: Sequence[Row], path: str) -> None:
    """Not a timing assertion: every path must store exactly the rows and cents it was given."""
    with Session(engine) as session:
        count, total = session.execute(select(func.count(), money_sum(CostRow.cost))).one()
    expected = sum((row["cost"] for row in rows), Decimal(0))
    if count != len(rows) or Decimal(total or 0) != expected:
        raise SystemExit(f"{path}: stored {count} rows totalling {total}, expected {len(rows)} totalling {expected}")


def run_backend(backend: str, rows: list[Row], naive_rows: int, executemany: bool) -> list[Result]:
    chunks = month_chunks(rows)
    rerun = [[{**row, "run_id": 2, "updated_at": RUN_STAMPS[2]} for row in chunk] for chunk in chunks]
    sample = rows[:naive_rows]
    results: list[Result] = []
    with store(backend, POSTGRES_DATABASE) as url:
        engine = make_engine(url)
        with Session(engine) as session, session.begin():
            for run_id, stamp in RUN_STAMPS.items():
                session.add(CollectionRun(id=run_id, kind="costs", status="succeeded", started_at=stamp))
        try:
            _vacuum(engine)
            results.append(Result(backend, "naive", len(sample), _timed(lambda: write_naive(engine, sample))))
            _check(engine, sample, "naive")
            _clear(engine)
            results.append(Result(backend, "raw", len(rows), _timed(lambda: write_raw(engine, rows))))
            _check(engine, rows, "raw")
            _clear(engine)
            results.append(Result(backend, "new", len(rows), _timed(lambda: write_new(engine, chunks))))
            _check(engine, rows, "new")
            _clear(engine)
            results.append(Result(backend, "upsert", len(rows), _timed(lambda: write_upsert(engine, chunks))))
            _check(engine, rows, "upsert")
            _vacuum(engine)
            results.append(Result(backend, "re-upsert", len(rows), _timed(lambda: write_upsert(engine, rerun))))
            _check(engine, rows, "re-upsert")
            if executemany:
                _clear(engine)
                seconds = _timed(lambda: write_executemany_upsert(engine, chunks))
                results.append(Result(backend, "em-upsert", len(rows), seconds))
                _check(engine, rows, "em-upsert")
                _vacuum(engine)
                seconds = _timed(lambda: write_executemany_upsert(engine, rerun))
                results.append(Result(backend, "em-re-upsert", len(rows), seconds))
                _check(engine, rows, "em-re-upsert")
        finally:
            engine.dispose()
    return results


def report(results: list[Result], total_rows: int, chunks: int) -> str:
    order = ["naive", "new", "upsert", "raw", "re-upsert", "em-upsert", "em-re-upsert"]
    backends = list(dict.fromkeys(r.backend for r in results))
    labels = {
        "naive": "(a) naive ORM: SELECT + add, commit per row",
        "new": f"(b) costwatch insert of new stretches (a backfill), {chunks} chunk transactions",
        "upsert": f"(b') costwatch upsert, {chunks} chunk transactions",
        "re-upsert": "(d) (b') again over the stored rows",
        "em-upsert": "(e) (b')'s statement as executemany (not costwatch's code)",
        "em-re-upsert": "(e) again over the stored rows",
    }
    raw_label = {"sqlite": "(c) raw executemany INSERT", "postgresql": "(c) raw COPY"}
    table = []
    for result in sorted(results, key=lambda r: (backends.index(r.backend), order.index(r.path))):
        naive = next(r for r in results if r.backend == result.backend and r.path == "naive")
        raw = next(r for r in results if r.backend == result.backend and r.path == "raw")
        estimated = total_rows / result.rate
        table.append(
            [
                result.backend,
                raw_label[result.backend] if result.path == "raw" else labels[result.path],
                f"{result.rows:,}",
                f"{result.seconds:.2f}",
                f"{result.rate:,.0f}",
                f"{'~' if result.path == 'naive' else ''}{estimated:,.1f}",
                f"{result.rate / naive.rate:,.1f}×",
                f"{result.rate / raw.rate:.2f}×",
            ]
        )
    headers = ["backend", "path", "rows timed", "s", "rows/s", f"s for {total_rows:,} rows", "vs naive", "vs raw"]
    return markdown_table(headers, table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="rows for upsert, re-upsert and raw")
    parser.add_argument("--naive-rows", type=int, default=5_000, help="rows for the naive path (extrapolated)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma list: sqlite, postgresql")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--with-executemany",
        action="store_true",
        help="also time (e): the same upsert statement compiled once and run as executemany per chunk",
    )
    args = parser.parse_args(argv)
    backends = parse_backends(args.backends)
    started = time.perf_counter()
    rows = make_rows(args.rows, args.seed)
    chunks = len(month_chunks(rows))
    print(f"{len(rows):,} rows in {chunks} subscription-month chunks, built in {time.perf_counter() - started:.1f} s")
    results: list[Result] = []
    for backend in backends:
        print(f"{backend}: writing ...", file=sys.stderr, flush=True)
        results += run_backend(backend, rows, min(args.naive_rows, len(rows)), args.with_executemany)
    print()
    print(report(results, len(rows), chunks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
