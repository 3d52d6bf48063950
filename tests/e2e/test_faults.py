"""Faults that must not cost a cent: slow answers, two collectors at once, a collector killed mid-run."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collector.db.models import COST_ROW_KEY, CollectionRun, CostRow
from emulator import EmulatorServer
from tests.emulated import BY, collect_all, emulator, emulator_env, history_start, settings_for, stored, truth

ROOT = Path(__file__).resolve().parents[2]
KILLS = 8  # runs started and killed at a random moment, on each backend


def _no_duplicates(engine: Engine) -> None:
    key = [getattr(CostRow, c) for c in COST_ROW_KEY]
    with Session(engine) as session:
        doubled = session.execute(select(*key).group_by(*key).having(func.count() > 1)).all()
    assert doubled == []


def _exact(engine: Engine, server: EmulatorServer) -> None:
    """The store against the emulator's ground truth, to the cent, and no row twice."""
    assert stored(engine, server, BY) == truth(server, BY)
    assert stored(engine, server, ["subscription"], include_other=True) == truth(
        server, ["subscription"], include_other=True
    )
    assert stored(engine, server, ["day", "resource"]) == truth(server, ["day", "resource"])
    _no_duplicates(engine)


@pytest.mark.fault("read timeout")
def test_read_timeouts_are_retried(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        server.faults.slow(2, seconds=3)
        settings = settings_for(server, db_url, request_timeout_seconds=1)
        summary = collect_all(server, settings, engine)
        assert summary.status == "succeeded", summary.failures
        _exact(engine, server)
        with Session(engine) as session:
            run = session.get(CollectionRun, summary.run_id)
            assert run is not None and run.status == "succeeded" and run.scopes_failed == 0


@pytest.mark.fault("two collectors at once")
def test_two_collectors_at_once_store_each_row_once(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda _: collect_all(server, settings, engine), range(2)))
        assert [r.status for r in runs] == ["succeeded", "succeeded"], [r.failures for r in runs]
        _exact(engine, server)
        with Session(engine) as session:  # each run has its own record, and says it succeeded
            statuses = session.scalars(select(CollectionRun.status).where(CollectionRun.kind == "costs")).all()
        assert statuses == ["succeeded", "succeeded"]


@pytest.mark.fault("SIGKILL of the collector at random points")
def test_a_collector_killed_at_random_points_loses_and_doubles_nothing(db_url: str, engine: Engine) -> None:
    rng = random.Random(7)
    with emulator() as server:
        env = emulator_env(server, db_url)
        command = [
            sys.executable,
            "-m",
            "collector.cli",
            "collect",
            "--only",
            "costs",
            "--since",
            history_start(server).isoformat(),
        ]
        kills = 0
        for _ in range(KILLS):
            process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _wait_for_a_run_to_start(engine, process)
            time.sleep(rng.uniform(0.0, 1.5))  # somewhere inside the run: inventory, a cost month, the end
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(30)
            _no_duplicates(engine)
        assert kills >= KILLS // 2  # most runs died mid-way
        summary = collect_all(server, settings_for(server, db_url), engine)
        assert summary.status == "succeeded"
        _exact(engine, server)
        with Session(engine) as session:  # and every killed run's record says what happened to it
            statuses = session.scalars(select(CollectionRun.status).order_by(CollectionRun.id)).all()
        assert set(statuses) <= {"abandoned", "succeeded"}  # a kill may land just after a run finished
        assert statuses.count("abandoned") >= 1


def _wait_for_a_run_to_start(engine: Engine, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        with Session(engine) as session:
            mine = (
                select(func.count()).select_from(CollectionRun).where(CollectionRun.holder.endswith(f":{process.pid}"))
            )
            if session.scalar(mine):
                return
        time.sleep(0.05)
