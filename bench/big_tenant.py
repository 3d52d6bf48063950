"""A large, attributed store for the read benchmarks: years of a big tenant's cost rows with the
attribution a collection would have given them, streamed into the store by the raw driver path.

Shape (deterministic from the seed): Jan 1 2024 .. Nov 24 2026; about 25 projects a subscription, as
many projects as it takes to reach the row count; each project holds 1-4 Marketplace model offers (one
SaaS resource each, input and output token meters, a fifth of them fine-tuned with hosting meters), a
quarter of them also a managed-compute endpoint billed per VM hour; each subscription one storage
account (not AI spend); three SaaS resources no rule could attribute. The last subscription of every
five bills in EUR.

    from bench.big_tenant import fill
    fill(engine, rows=10_000_000)          # rows written, resources, projects

Unlike bench/ingest.py's rows, which carry no attribution, these roll up the way a real tenant's do:
one rollup row per day, project, model and meter, so the rollup is nearly as long as the cost rows
of the AI spend.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from bench._db import kept_postgres_store, store
from bench.ingest import (
    MARKETPLACE_METERS,
    METER_FT_HOSTING,
    METER_INPUT,
    METER_OUTPUT,
    OFFERS,
    RUN_STAMPS,
    STORAGE_METERS,
    TODAY,
    Row,
    _guid,
    _Meter,
    _meter_id,
    _row,
    local_price,
    write_raw,
)
from collector import rollup
from collector.db.engine import make_engine, upgrade
from collector.db.models import CollectionRun, DailySpend, ResourceAttribution

FIRST_DAY = date(2024, 1, 1)
LAST_DAY = TODAY - timedelta(days=1)
PROJECTS_PER_SUBSCRIPTION = 25
CHUNK = 200_000  # rows per write: bounded memory whatever the total
DATABASE = "costwatch_bench_dashboard"


@dataclass(frozen=True)
class Resource:
    resource_id: str
    subscription_id: str
    currency: str
    meters: tuple[_Meter, ...]
    spend_kind: str  # marketplace | managed_compute | other
    project: str | None
    model: str | None


@dataclass(frozen=True)
class Tenant:
    resources: list[Resource]
    projects: int
    subscriptions: int

    def rows_per_day(self) -> int:
        return sum(len(r.meters) for r in self.resources)


def _model(offer: str) -> str:
    return offer.removesuffix("-offer")


def _project_resources(rng: random.Random, project: str, subscription_id: str, currency: str) -> list[Resource]:
    group = f"rg-{project}"
    prefix = f"/subscriptions/{subscription_id}/resourcegroups/{group}/providers"
    out = []
    for offer, input_price, output_price, hosting_price, kilo_tokens in rng.sample(OFFERS, rng.randint(1, 4)):
        volume = int(kilo_tokens * 1000 * rng.uniform(0.2, 2.0))
        prices = {
            METER_INPUT: (input_price, volume),
            METER_OUTPUT: (output_price, volume * 3 // 10),
            METER_FT_HOSTING: (hosting_price, 24_000),
        }
        finetuned = rng.random() < 0.2 and Decimal(hosting_price) > 0
        names = MARKETPLACE_METERS if finetuned else MARKETPLACE_METERS[:2]
        meters = tuple(
            _Meter(
                name,
                _meter_id(offer, name),
                "SaaS",
                local_price(prices.get(name, (input_price, volume // 8))[0], currency),
                prices.get(name, (input_price, volume // 8))[1],
                name == METER_FT_HOSTING,
            )
            for name in names
        )
        resource_id = f"{prefix}/microsoft.saas/resources/{offer}-{_guid(rng)}"
        out.append(Resource(resource_id, subscription_id, currency, meters, "marketplace", project, _model(offer)))
    if rng.random() < 0.25:
        endpoint = f"{prefix}/microsoft.machinelearningservices/workspaces/{project}/onlineendpoints/{project}-ep"
        vm = _Meter(
            "D4s v3", _meter_id("vm", "D4s v3"), "Virtual Machines", local_price("0.192", currency), 48_000, True
        )
        out.append(Resource(endpoint, subscription_id, currency, (vm,), "managed_compute", project, "Llama-2-7b"))
    return out


def make_tenant(rows: int, seed: int) -> Tenant:
    """Enough projects that the days from FIRST_DAY to LAST_DAY hold about `rows` cost rows."""
    rng = random.Random(seed)
    per_day = rows / ((LAST_DAY - FIRST_DAY).days + 1)
    resources: list[Resource] = []
    subscription_id, currency, projects, subscriptions = "", "USD", 0, 0
    while sum(len(r.meters) for r in resources) < per_day:
        if projects % PROJECTS_PER_SUBSCRIPTION == 0:
            subscription_id = _guid(rng)
            currency = "EUR" if subscriptions % 5 == 4 else "USD"
            subscriptions += 1
            storage = (
                f"/subscriptions/{subscription_id}/resourcegroups/rg-shared"
                f"/providers/microsoft.storage/storageaccounts/st{subscriptions:04d}"
            )
            meters = tuple(
                _Meter(
                    name, _meter_id("storage", name), "Storage", local_price(price, currency), milli, "Stored" in name
                )
                for name, price, milli in STORAGE_METERS
            )
            resources.append(Resource(storage, subscription_id, currency, meters, "other", None, None))
        projects += 1
        found = _project_resources(rng, f"proj-{projects:04d}", subscription_id, currency)
        if projects in (7, 77, 177):  # a resource no rule could place
            found[0] = Resource(**{**found[0].__dict__, "project": None})
        resources.extend(found)
    return Tenant(resources, projects, subscriptions)


def _rows(tenant: Tenant, seed: int) -> Iterator[Row]:
    rng = random.Random(seed + 1)
    day = FIRST_DAY
    while day <= LAST_DAY:
        weekday = 0.55 if day.weekday() >= 5 else 1.0
        estimated = day.replace(day=1) >= TODAY.replace(day=1)
        for resource in tenant.resources:
            traffic = rng.uniform(0.7, 1.3) * weekday
            for meter in resource.meters:
                milli = meter.daily_milli_units if meter.steady else int(meter.daily_milli_units * traffic)
                quantity = Decimal(milli).scaleb(-3)
                yield _row(
                    resource.subscription_id,
                    day,
                    resource.resource_id,
                    meter,
                    "Usage",
                    quantity,
                    resource.currency,
                    estimated,
                )
        day += timedelta(days=1)


def fill(engine: Engine, rows: int, seed: int = 42) -> Tenant:
    """Write the tenant's attribution and its cost rows (CHUNK rows per transaction) into a migrated store."""
    tenant = make_tenant(rows, seed)
    stamp = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        session.add(CollectionRun(id=1, kind="costs", status="succeeded", started_at=RUN_STAMPS[1]))
        session.execute(
            insert(ResourceAttribution),
            [
                {
                    "resource_id": r.resource_id,
                    "spend_kind": r.spend_kind,
                    "project_id": None,
                    "project": r.project,
                    "model": r.model if r.project else None,
                    "rule": "tag" if r.project else "unattributed",
                    "detail": "" if r.project else "no tag, no mapping, several candidate projects",
                    "updated_at": stamp,
                }
                for r in tenant.resources
            ],
        )
    chunk: list[Row] = []
    for row in _rows(tenant, seed):
        chunk.append(row)
        if len(chunk) == CHUNK:
            write_raw(engine, chunk)
            chunk = []
    if chunk:
        write_raw(engine, chunk)
    return tenant


@contextmanager
def big_store(backend: str, rows: int, keep: str | None) -> Iterator[tuple[str, float, float]]:
    """A migrated store holding `fill(rows)` and its rollups: (url, seconds to fill, seconds to build
    the rollups), both 0 when a kept store was reused.

    With `keep` the store is kept and reused by the next call with the same `rows` (10 million take a
    quarter of an hour): SQLite's as <keep>/pages-<rows>.db, PostgreSQL's as the database
    costwatch_bench_dashboard_<rows> (drop it, or the file, after an interrupted fill). Without it the
    store is a throwaway one."""
    with _kept(backend, rows, keep) if keep else store(backend, DATABASE) as url:
        engine = make_engine(url)
        loaded = rebuilt = 0.0
        with Session(engine) as session:
            filled = session.scalar(select(func.count()).select_from(DailySpend))
        if not filled:
            begin = time.perf_counter()
            fill(engine, rows)
            loaded = time.perf_counter() - begin
            begin = time.perf_counter()
            rollup.rebuild(engine)
            rebuilt = time.perf_counter() - begin
            # What autovacuum does to a store in use: statistics, and on PostgreSQL the visibility map
            # that lets a query answer from an index alone.
            vacuum = "VACUUM ANALYZE" if backend == "postgresql" else "ANALYZE"
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text(vacuum))
        engine.dispose()
        yield url, loaded, rebuilt


@contextmanager
def _kept(backend: str, rows: int, folder: str) -> Iterator[str]:
    if backend == "postgresql":
        yield kept_postgres_store(f"{DATABASE}_{rows}")
        return
    path = Path(folder) / f"pages-{rows}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    yield url
