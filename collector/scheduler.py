"""`costwatch schedule`: keeps costs, inventory, quota and traffic fresh, evaluates alerts after each
collection, writes the monthly reports when due, and has one leader among replicas.

APScheduler with the defaults that matter: UTC, stable job IDs, `coalesce` (a backlog of missed runs
runs once), `max_instances=1` (a slow run is never overlapped by the next), a misfire grace time.
Every replica runs the scheduler, but a job only collects while its replica holds the lease
(collector.lease); a replica that becomes leader first runs whatever is due according to the store,
so a takeover does not wait a whole interval. On SIGTERM or SIGINT the current run stops before its
next scope (each scope is one transaction) and the lease is released for the next leader.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collector.alerts.channels import configured_channels
from collector.alerts.engine import deliver, evaluate
from collector.azure.clients import AzureClients
from collector.db.faults import describe, store_error
from collector.db.models import CollectionRun
from collector.jobs import intervals, runner
from collector.lease import Lease
from collector.metrics_export import start_exporter
from collector.reports.schedule import generate_due
from collector.runs import STOP, as_utc, utcnow
from collector.settings import Settings

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, settings: Settings, engine: Engine, holder: str | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.lease = Lease(engine, settings.schedule.lease_seconds, holder=holder)
        self.clients = AzureClients(settings)  # one credential and QPU meter for the process
        self.channels = configured_channels(settings.alerts)
        # Jobs run in parallel threads and each evaluates the alerts when it ends: one evaluation (and
        # delivery) at a time, or two would insert the same new alert (a duplicate key on PostgreSQL).
        self._alerting = threading.Lock()
        self.intervals = intervals(settings)
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": settings.schedule.misfire_grace_seconds,
            },
        )

    def start(self) -> None:
        for kind, every in self.intervals.items():
            self.scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=every.total_seconds()),
                args=[kind],
                id=f"costwatch-{kind}",
                name=f"collect {kind}",
                replace_existing=True,
            )
        self.scheduler.add_job(
            self._deliver,
            IntervalTrigger(seconds=60),
            id="costwatch-deliver",
            name="deliver queued alerts",
            replace_existing=True,
        )
        self.scheduler.add_job(
            self._reports,
            CronTrigger(hour=6, minute=0, timezone="UTC"),
            id="costwatch-reports",
            name="monthly reports",
            replace_existing=True,
        )
        renew = max(1, self.settings.schedule.lease_seconds // 3)
        self.scheduler.add_job(
            self._renew_lease,
            IntervalTrigger(seconds=renew),
            id="costwatch-lease",
            name="renew the leader lease",
            replace_existing=True,
            next_run_time=utcnow(),
        )
        self.scheduler.start()

    def stop(self) -> None:
        STOP.set()  # a running job stops before its next scope
        self.scheduler.shutdown(wait=True)
        if self.lease.held:
            try:
                self.lease.release()
            except Exception as exc:  # the store went away: the lease simply expires for the next leader
                url = self.engine.url.render_as_string(hide_password=False)
                log.warning("could not release the leader lease (%s); it expires by itself", describe(exc, url))
        self.clients.close()

    def _failed(self, what: str, exc: Exception) -> None:
        """Log a job's failure: a store fault as its one clear message (the scheduler goes on, and
        /metrics says the store is down), anything else with its traceback."""
        error = store_error(exc, self.engine.url.render_as_string(hide_password=False))
        if error is not None:
            log.error("%s failed: %s", what, error)
        else:
            log.exception("%s failed", what)

    def _alerts(self) -> None:
        """Evaluate the rules and send what is due; a failure here never stops collection."""
        if STOP.is_set() or not self.lease.held:
            return
        try:
            with self._alerting:
                result = evaluate(self.settings, self.engine)
                delivery = deliver(self.settings, self.engine, self.channels)
        except Exception as exc:
            self._failed("alert evaluation", exc)
            return
        if result.firing or result.resolved or delivery.sent or delivery.failed:
            log.info(
                "alerts: %d new, %d resolved; %d sent, %d retrying, %d failed",
                len(result.firing),
                len(result.resolved),
                delivery.sent,
                delivery.retrying,
                delivery.failed,
            )

    def _deliver(self) -> None:
        """Retries of notifications whose channel was down wait for their backoff, not for a collection."""
        if STOP.is_set() or not self.lease.held:
            return
        try:
            with self._alerting:
                deliver(self.settings, self.engine, self.channels)
        except Exception as exc:
            self._failed("alert delivery", exc)

    def _reports(self) -> None:
        """The monthly reports: preliminary on the 1st, final once Azure closed the month (06:00 UTC)."""
        if STOP.is_set() or not self.lease.held:
            return
        try:
            made = generate_due(self.engine, self.settings, utcnow().date())
        except Exception as exc:
            self._failed("monthly report generation", exc)
            return
        for generated in made:
            log.info("report %s written to %s", generated.format, generated.path)

    def _renew_lease(self) -> None:
        was_leader = self.lease.held
        try:
            leader = self.lease.acquire_or_renew()
        except Exception as exc:  # the store is unreachable: stop leading rather than risk two leaders
            url = self.engine.url.render_as_string(hide_password=False)
            log.error("lease renewal failed (%s); pausing collection until the store answers", describe(exc, url))
            self.lease.held = False
            return
        if leader and not was_leader:
            self._run_what_is_due()

    def _run_what_is_due(self) -> None:
        """A new leader runs at once every job whose last start is older than its interval."""
        now = utcnow()
        with Session(self.engine) as session:
            rows = session.execute(
                select(CollectionRun.kind, func.max(CollectionRun.started_at)).group_by(CollectionRun.kind)
            ).all()
        last: dict[str, Any] = {kind: started for kind, started in rows}
        for kind, every in self.intervals.items():
            started = last.get(kind)
            if started is None or now - as_utc(started) >= every:
                self.scheduler.modify_job(f"costwatch-{kind}", next_run_time=now + timedelta(seconds=1))

    def _run(self, kind: str) -> None:
        if STOP.is_set() or not self.lease.held:
            return
        try:
            summary = runner(kind)(self.settings, self.engine, clients=self.clients)
        except Exception as exc:
            self._failed(f"{kind} run", exc)
            summary = None
        self._alerts()  # after every collection, failed ones included: collection health is a rule too
        if summary is None:
            return
        log.info(
            "%s run %d %s: %d scope(s), %d rows, %d failure(s), %d QPU, %.1f s",
            kind,
            summary.run_id,
            summary.status,
            summary.scopes,
            summary.rows_written,
            len(summary.failures),
            summary.qpu_used,
            summary.seconds,
        )


def serve(settings: Settings, engine: Engine, holder: str | None = None) -> None:
    """Run the scheduler (and the /metrics endpoint) until SIGTERM or SIGINT."""
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s: finishing the current scope, then stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler = Scheduler(settings, engine, holder)
    exporter = None
    if settings.schedule.metrics_port:
        exporter = start_exporter(settings, engine, scheduler.lease, scheduler.clients.qpu)
    scheduler.start()
    log.info(
        "scheduler %s started (jobs: %s)",
        scheduler.lease.holder,
        ", ".join(f"{k} every {v}" for k, v in scheduler.intervals.items()),
    )
    stopping.wait()
    scheduler.stop()
    if exporter is not None:
        exporter.shutdown()
    log.info("scheduler %s stopped", scheduler.lease.holder)
