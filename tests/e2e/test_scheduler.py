"""`costwatch schedule` replicas, `costwatch status` and the Prometheus endpoint."""

from __future__ import annotations

import itertools
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from collector.db.models import CollectionRun, SchedulerLease
from collector.lease import Lease
from collector.metrics_export import start_exporter
from collector.read.freshness import freshness
from collector.runs import utcnow
from tests.emulated import collect_all, emulator, emulator_env, settings_for, stored, truth

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_status_shows_stale_data_as_stale(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        with Session(engine) as session:
            assert all(f.stale and f.last_success is None for f in freshness(session, settings))
        collect_all(server, settings, engine)
    with Session(engine) as session:
        now = freshness(session, settings)
        later = freshness(session, settings, now=utcnow() + timedelta(hours=9))
    costs_now = next(f for f in now if f.job == "costs" and not f.scope)
    assert not costs_now.stale and costs_now.last_status == "succeeded"
    assert next(f for f in now if f.job == "quota" and not f.scope).stale  # never collected
    assert next(f for f in later if f.job == "costs" and not f.scope).stale  # 9 h > twice the 4 h interval
    assert any(f.scope.startswith("costs /subscriptions/") for f in now)  # and per scope


def test_metrics_endpoint_speaks_prometheus_text(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url, schedule={"metrics_port": free_port()})
        collect_all(server, settings, engine)
    lease = Lease(engine, 30, holder="scrape-test")
    lease.acquire_or_renew()
    exporter = start_exporter(settings, engine, lease, _meter())
    try:
        text = requests.get(f"http://127.0.0.1:{settings.schedule.metrics_port}/metrics", timeout=10).text
    finally:
        exporter.shutdown()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["costwatch_store_up"].samples[0].value == 1
    success = {tuple(s.labels.values()): s.value for s in families["costwatch_last_success_timestamp_seconds"].samples}
    assert abs(success[("costs", "")] - time.time()) < 600
    stale = {tuple(s.labels.values()): s.value for s in families["costwatch_stale"].samples}
    assert stale[("costs", "")] == 0 and stale[("quota", "")] == 1
    assert families["costwatch_leader"].samples[0].value == 1


def _meter():
    from collector.azure.throttling import QpuMeter

    meter = QpuMeter()
    meter.remaining = {10: 11}
    return meter


def _start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "collector.cli", "schedule"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.fault("SIGKILL of the leading replica")
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_replicas_one_leader_and_a_takeover_after_sigkill(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        env = {
            **emulator_env(server, db_url),
            "COSTWATCH_SCHEDULE__LEASE_SECONDS": "10",
            "COSTWATCH_SCHEDULE__METRICS_PORT": "0",
        }
        replicas = [_start(env), _start(env)]
        try:
            leader_holder = _wait_for(lambda: _holder(engine), 60, "a leader")
            _wait_for(lambda: _kinds_done(engine) >= {"costs"}, 90, "the leader's first cost run")
            leader = next(p for p in replicas if _pid_of(leader_holder) == p.pid)
            leader.send_signal(signal.SIGKILL)
            leader.wait(10)
            killed_at = time.monotonic()
            new_holder = _wait_for(lambda: (h := _holder(engine)) != leader_holder and h, 60, "a takeover")
            assert time.monotonic() - killed_at < 60
            assert _pid_of(new_holder) != leader.pid
            survivor = next(p for p in replicas if p is not leader)
            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(60) == 0
            assert _holder(engine) is None  # a clean stop releases the lease
        finally:
            for process in replicas:
                if process.poll() is None:
                    process.kill()
        with Session(engine) as session:
            runs = session.scalars(select(CollectionRun).order_by(CollectionRun.started_at)).all()
        for kind in {r.kind for r in runs}:
            spans = [(r.started_at, r.finished_at or utcnow()) for r in runs if r.kind == kind]
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), f"{kind} runs overlapped"
        assert stored(engine, server, ["subscription"]) == _window_truth(server, engine)


def _window_truth(server, engine):
    """The scheduler collects the default restatement window: compare that stretch."""
    from collector.periods import default_window_start

    start = default_window_start(server.tenant.today)
    full = truth(server, ["subscription", "day"])
    out: dict = {}
    for (subscription, day, currency), cost in full.items():
        if day >= start.isoformat():
            out[(subscription, currency)] = out.get((subscription, currency), 0) + cost
    return out


def _holder(engine: Engine) -> str | None:
    with Session(engine) as session:
        lease = session.get(SchedulerLease, "scheduler")
        return lease.holder if lease else None


def _pid_of(holder: str) -> int:
    return int(holder.split(":")[1])


def _kinds_done(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.scalars(select(CollectionRun.kind).where(CollectionRun.status == "succeeded")))


def _wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {seconds} s")
