"""Helpers for end-to-end tests: an emulator per test, settings pointing at it, truth comparisons."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from collector.jobs.costs import RunSummary, collect
from collector.periods import add_months
from collector.read.spend import spend
from collector.settings import Settings, load_settings
from emulator import EmulatorServer, TenantSpec, generate_tenant

BY = ["project", "model", "meter"]
TOKEN = "test-token-0f8fad5b"
# Generous Cost Management limits where throttling is not the point of a test.
ROOMY = {"qpu_per_10s": 10_000, "qpu_per_minute": 10_000, "qpu_per_hour": 100_000}


@contextmanager
def emulator(**spec: Any) -> Iterator[EmulatorServer]:
    with EmulatorServer(generate_tenant(TenantSpec(**{**ROOMY, **spec}))) as server:
        yield server


# A moment in the middle of a month, for tests whose figures need this month's spend: on the 1st of a
# real month the emulator has no day of it yet (its history ends yesterday), so budgets cannot fire.
MID_MONTH = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@contextmanager
def emulator_at(moment: datetime, **spec: Any) -> Iterator[EmulatorServer]:
    """An emulator living at `moment`: its today, and its wall clock for metrics and changes, stand still
    there. Pass the same moment as `now` to the jobs and the rules."""
    with emulator(today=moment.date(), **spec) as server:
        server.tenant.clock = moment.timestamp
        yield server


def settings_for(server: EmulatorServer, db_url: str, **overrides: Any) -> Settings:
    """Settings pointed at the emulator; `[costs] units` states its plans' units, as an operator would."""
    costs = {"units": server.tenant.meter_units, **overrides.pop("costs", {})}
    return load_settings(
        None,
        database_url=db_url,
        arm_endpoint=server.url,
        arm_token=TOKEN,
        ca_bundle=server.ca_path,
        retry_backoff_seconds=0.05,
        costs=costs,
        **overrides,
    )


def emulator_env(server: EmulatorServer, db_url: str) -> dict[str, str]:
    """The environment of a costwatch process pointed at the emulator (no other COSTWATCH_ variable)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("COSTWATCH_")},
        "COSTWATCH_DATABASE_URL": db_url,
        "COSTWATCH_ARM_ENDPOINT": server.url,
        "COSTWATCH_ARM_TOKEN": TOKEN,
        "COSTWATCH_CA_BUNDLE": str(server.ca_path),
        "COSTWATCH_COSTS__UNITS": json.dumps(server.tenant.meter_units),
    }


def history_start(server: EmulatorServer) -> date:
    return add_months(server.tenant.today.replace(day=1), -server.tenant.spec.history_months)


def collect_all(server: EmulatorServer, settings: Settings, engine: Engine, **kwargs: Any) -> RunSummary:
    """Collect the emulator's whole history, with the emulator's idea of today."""
    return collect(settings, engine, since=history_start(server), today=server.tenant.today, **kwargs)


def stored(engine: Engine, server: EmulatorServer, by: list[str], include_other: bool = False) -> dict[tuple, Decimal]:
    with Session(engine) as session:
        rows = spend(session, history_start(server), server.tenant.today, by, include_other=include_other)
    return {(*(_plain(r.keys[d]) for d in by), r.currency): r.cost for r in rows}


def truth(server: EmulatorServer, by: list[str], include_other: bool = False) -> dict[tuple, Decimal]:
    rows = server.tenant.truth(by, history_start(server), server.tenant.today, include_other=include_other)
    out: dict[tuple, Decimal] = {}
    for row in rows:
        key = (*(_plain(row[d]) for d in by), row["currency"])
        out[key] = out.get(key, Decimal(0)) + row["cost"]
    return {k: v for k, v in out.items()}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
