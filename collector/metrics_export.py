"""The scheduler's Prometheus /metrics endpoint: freshness, rows, QPU and errors, and the business
figures of collector.metrics_store (spend, budgets, quota, headroom, alerts), read from the store at
each scrape (so every replica reports the same truth, whichever one leads)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from collector.azure.throttling import QpuMeter, window_label
from collector.db.faults import describe
from collector.lease import Lease
from collector.metrics_store import business_families
from collector.read.freshness import freshness
from collector.runs import utcnow
from collector.settings import Settings

log = logging.getLogger(__name__)


class StoreCollector(Collector):
    def __init__(
        self, settings: Settings, engine: Engine, lease: Lease, qpu: QpuMeter, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.settings, self.engine, self.lease, self.qpu, self.clock = settings, engine, lease, qpu, clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["job", "scope"]
        success = GaugeMetricFamily(
            "costwatch_last_success_timestamp_seconds",
            "When the job (or scope) last succeeded, Unix time",
            labels=labels,
        )
        stale = GaugeMetricFamily("costwatch_stale", "1 when no success within twice the job's interval", labels=labels)
        failed = GaugeMetricFamily(
            "costwatch_last_run_failed", "1 when the latest run of the job or scope failed", labels=labels
        )
        rows = GaugeMetricFamily("costwatch_last_run_rows", "Rows written by the latest run", labels=labels)
        qpu = GaugeMetricFamily("costwatch_last_run_qpu", "Cost Management QPU used by the latest run", labels=labels)
        duration = GaugeMetricFamily("costwatch_last_run_duration_seconds", "Duration of the latest run", labels=labels)
        answered = True
        business: list[GaugeMetricFamily] = []
        url = self.engine.url.render_as_string(hide_password=False)
        try:
            with Session(self.engine) as session:
                now = self.clock()
                lines = freshness(session, self.settings, now)
                try:
                    business = business_families(session, self.settings, now)
                except Exception as exc:  # the collector's health still answers: it says whether the data is fresh
                    log.warning("metrics: cannot read spend, budgets, quota or alerts: %s", describe(exc, url))
        except Exception as exc:  # a scrape must answer even when the store does not
            log.warning("metrics: cannot read the store: %s", describe(exc, url))
            lines, business, answered = [], [], False
        up = GaugeMetricFamily("costwatch_store_up", "1 when the store answered this scrape")
        up.add_metric([], int(answered))
        for line in lines:
            key = [line.job, line.scope]
            if line.last_success is not None:
                success.add_metric(key, line.last_success.timestamp())
            stale.add_metric(key, int(line.stale))
            failed.add_metric(key, int(line.last_status == "failed"))
            rows.add_metric(key, line.rows)
            qpu.add_metric(key, line.qpu)
            if line.seconds is not None:
                duration.add_metric(key, line.seconds)
        leader = GaugeMetricFamily(
            "costwatch_leader", "1 when this replica holds the scheduler lease", labels=["holder"]
        )
        leader.add_metric([self.lease.holder], int(self.lease.held))
        remaining = GaugeMetricFamily(
            "costwatch_qpu_remaining", "Cost Management QPU left per window, as Azure last reported", labels=["window"]
        )
        for seconds, left in sorted(self.qpu.remaining.items()):
            remaining.add_metric([window_label(seconds)], left)
        yield from (up, success, stale, failed, rows, qpu, duration, leader, remaining, *business)


def start_exporter(
    settings: Settings, engine: Engine, lease: Lease, qpu: QpuMeter, clock: Callable[[], datetime] = utcnow
) -> Any:
    """Serve /metrics on [schedule] metrics_host:metrics_port; returns the server (call shutdown()).
    `clock` is the moment the month-to-date figures and the rate window end at (tests pin it)."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(settings, engine, lease, qpu, clock))
    server, _thread = start_http_server(
        settings.schedule.metrics_port, settings.schedule.metrics_host, registry=registry
    )
    log.info("metrics on http://%s:%d/metrics", settings.schedule.metrics_host, settings.schedule.metrics_port)
    return server
