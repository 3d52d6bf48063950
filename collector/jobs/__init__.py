"""The collection jobs, one per dataset: what each is called, how often the scheduler runs it, and the
function that runs it. `costwatch collect`, the scheduler and the freshness read all take them from here.

The runners are imported when asked for, so that reading a job's name or interval (the freshness read,
the dashboard) loads no collection code."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.runs import RunSummary
    from collector.settings import Settings

JobFunction = Callable[..., "RunSummary"]

# name -> (module:function that runs it, the [schedule] key of its interval in minutes)
_JOBS = {
    "costs": ("collector.jobs.costs:collect", "costs_minutes"),
    "inventory": ("collector.jobs.inventory:run_inventory", "inventory_minutes"),
    "quota": ("collector.jobs.quota:run_quota", "quota_minutes"),
    "metrics": ("collector.jobs.traffic:run_metrics", "metrics_minutes"),
}
JOB_NAMES = tuple(_JOBS)


def intervals(settings: Settings) -> dict[str, timedelta]:
    """How often the scheduler runs each job; a job is stale after twice that without a success."""
    return {name: timedelta(minutes=getattr(settings.schedule, key)) for name, (_, key) in _JOBS.items()}


def runner(name: str) -> JobFunction:
    """The function that runs the job `name` (settings, engine, *, clients=..., progress=...)."""
    module, function = _JOBS[name][0].split(":")
    run: JobFunction = getattr(importlib.import_module(module), function)
    return run
