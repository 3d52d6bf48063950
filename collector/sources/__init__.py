"""Azure's datasets, one module each (costs, inventory, quota, traffic). Each fetches and parses its
Azure answers and touches no store, and declares its `DATASET`: the tables its job writes, the natural
key its rows are upserted by (so a re-pulled window never doubles a row) and the window each run
re-pulls. The jobs that store them are in collector/jobs, one per dataset."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    """What one collection job stores, and why a rerun neither loses nor doubles it."""

    job: str  # its job's name in collector/jobs
    tables: tuple[str, ...]
    key: tuple[str, ...]  # the natural key: a unique constraint (or the primary key) of each table
    window: str  # what each run re-pulls, in words
