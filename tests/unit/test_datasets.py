"""Every dataset declares what its job stores and by which natural key, and the store agrees: a
re-pulled window upserts onto that key, so a key the table does not enforce would double rows."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint

import collector.sources
from collector.db.models import Base
from collector.jobs import JOB_NAMES
from collector.sources import Dataset


def _datasets() -> dict[str, Dataset]:
    found = {}
    for module in pkgutil.iter_modules(collector.sources.__path__):
        declared = getattr(importlib.import_module(f"collector.sources.{module.name}"), "DATASET", None)
        if declared is not None:
            found[module.name] = declared
    return found


def test_each_job_stores_one_declared_dataset() -> None:
    jobs = sorted(d.job for d in _datasets().values())
    assert jobs == sorted(JOB_NAMES)


@pytest.mark.parametrize("name", sorted(_datasets()))
def test_the_declared_key_is_enforced_by_each_table(name: str) -> None:
    dataset = _datasets()[name]
    assert dataset.window, f"{name}: say what each run re-pulls"
    for table_name in dataset.tables:
        table = Base.metadata.tables[table_name]
        enforced = [
            {c.name for c in constraint.columns}
            for constraint in table.constraints
            if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint)
        ]
        assert set(dataset.key) in enforced, f"{table_name} enforces {enforced}, not the key {dataset.key}"
