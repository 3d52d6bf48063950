"""The business figures on /metrics (spend, budgets, forecast, quota, headroom, alerts), the Prometheus
rules under promtool, a real Prometheus scraping costwatch, and the Grafana dashboard's metric names."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from collector.alerts.engine import evaluate
from collector.alerts.rules import budget_figures, month_span, quota, rate_limits
from collector.azure.throttling import QpuMeter
from collector.db.engine import make_engine, upgrade
from collector.db.models import Alert
from collector.jobs.quota import run_quota
from collector.jobs.traffic import run_metrics
from collector.lease import Lease
from collector.metrics_export import start_exporter
from collector.metrics_store import OTHER, SpendSeries, capped
from collector.read.spend import spend
from collector.settings import Settings
from tests.emulated import MID_MONTH, collect_all, emulator_at, settings_for

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "deploy" / "prometheus" / "costwatch-rules.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "costwatch-rules.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "costwatch.json"
CENT = Decimal("0.01")
BUDGETS = [
    {"scope": "project", "name": "proj-rag", "amount": "1000", "currency": "USD"},
    {"scope": "model", "name": "Meta-Llama-3-70B-Instruct", "amount": "100000", "currency": "USD"},
]
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def promtool() -> str:
    """Debian's promtool, which `./dev test` installs; a skip with the reason only where it could not."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed and ./dev could not install Debian's prometheus package")
    return found


@dataclass
class Demo:
    settings: Settings
    engine: Engine


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The emulator's seeded demo tenant (seed 42) in the middle of a month, collected once into SQLite:
    costs, quota, traffic, and the alert rules evaluated."""
    url = f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'costwatch.db'}"
    upgrade(url)
    engine = make_engine(url)
    with emulator_at(MID_MONTH, seed=42) as server:
        settings = settings_for(
            server, url, metrics={"first_lookback_hours": 3}, alerts={"budgets": BUDGETS}, schedule={"metrics_port": 0}
        )
        collect_all(server, settings, engine)
        run_quota(settings, engine)
        run_metrics(settings, engine, now=MID_MONTH)
    assert not evaluate(settings, engine, now=MID_MONTH, channels=[]).errors
    yield Demo(settings, engine)
    engine.dispose()


def scrape(demo: Demo, clock: Callable[[], datetime] = lambda: MID_MONTH, **schedule: Any) -> tuple[str, Samples]:
    """One scrape of a real exporter over HTTP; the text and {metric: {labels: value}}."""
    port = free_port()
    settings = demo.settings.model_copy(
        update={"schedule": demo.settings.schedule.model_copy(update={"metrics_port": port, **schedule})}
    )
    lease = Lease(demo.engine, 30, holder="metrics-test")
    server = start_exporter(settings, demo.engine, lease, QpuMeter(), clock)
    try:
        body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    finally:
        server.shutdown()
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return body, samples


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def cents(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def test_spend_gauges_sum_to_the_store_spend_of_the_month(demo: Demo) -> None:
    _, samples = scrape(demo)
    month = MID_MONTH.date().replace(day=1)
    with Session(demo.engine) as session:
        rows = spend(session, month, MID_MONTH.date(), ["project", "model"])
    assert rows, "the demo has spend this month"
    exported = samples["costwatch_spend_month_to_date"]
    assert len(exported) == len(rows)  # under the cap: one series per project, model and currency
    for row in rows:
        key = (("currency", row.currency), ("model", row.keys["model"]), ("project", row.keys["project"]))
        assert cents(exported[key]) == cents(row.cost)
    currencies = {r.currency for r in rows}
    assert len(currencies) > 1  # the demo bills in USD and EUR: never added together
    for currency in currencies:
        total = sum((r.cost for r in rows if r.currency == currency), Decimal(0))
        gauge_total = sum(Decimal(str(v)) for k, v in exported.items() if ("currency", currency) in k)
        assert cents(gauge_total) == cents(total)
        with Session(demo.engine) as session:
            span = month_span(session, MID_MONTH)
        assert span is not None
        forecast = samples["costwatch_spend_forecast_month_end"][(("currency", currency),)]
        assert cents(forecast) == cents(total / span[2] * span[3])


def test_budget_gauges_agree_with_the_budget_rule(demo: Demo) -> None:
    _, samples = scrape(demo)
    with Session(demo.engine) as session:
        figures = budget_figures(session, demo.settings, MID_MONTH)
        fired = {a.key: a for a in session.scalars(select(Alert).where(Alert.rule.in_(["budget", "budget_forecast"])))}
    assert len(figures) == len(BUDGETS)
    for f in figures:
        key = (("budget", f.budget.name), ("currency", f.budget.currency), ("scope", f.budget.scope))
        assert cents(samples["costwatch_budget_spent"][key]) == cents(f.actual)
        assert cents(samples["costwatch_budget_left"][key]) == cents(f.budget.amount - f.actual)
        assert cents(samples["costwatch_budget_forecast"][key]) == cents(f.forecast)
        assert samples["costwatch_budget_amount"][key] == float(f.budget.amount)
    # proj-rag's 1,000 USD is spent by the 25th: the budget rule fired and the gauge shows it used up.
    rag = (("budget", "proj-rag"), ("currency", "USD"), ("scope", "project"))
    assert samples["costwatch_budget_used_ratio"][rag] >= 1
    rag_alert = next(a for k, a in fired.items() if k.startswith("budget:project:proj-rag:USD"))
    assert rag_alert.state == "firing" and f"{cents(samples['costwatch_budget_spent'][rag]):,}" in rag_alert.message


def test_quota_headroom_and_alert_gauges_agree_with_the_rules(demo: Demo) -> None:
    _, samples = scrape(demo)
    with Session(demo.engine) as session:
        quota_alerts = quota(session, demo.settings, MID_MONTH)
        rate_alerts = rate_limits(session, demo.settings, MID_MONTH)
        firing = list(session.execute(select(Alert.rule, Alert.severity).where(Alert.state == "firing")))
    percent = samples["costwatch_quota_used_percent"]
    near = {
        f"quota:{dict(k)['subscription']}:{dict(k)['region']}:{dict(k)['provider']}:{dict(k)['family']}"
        for k, v in percent.items()
        if v >= 80
    }
    assert quota_alerts and near == {c.key for c in quota_alerts}
    low = {
        f"rate_limit:{dict(k)['project']}:{dict(k)['deployment']}"
        for k, v in samples["costwatch_rate_headroom_ratio"].items()
        if v <= 1 - 0.9 + 1e-12
    }
    assert rate_alerts and low == {c.key for c in rate_alerts}
    counted = samples["costwatch_alerts_firing"]
    assert sum(counted.values()) == len(firing) > 0
    for rule, severity in set(firing):
        assert counted[(("rule", rule), ("severity", severity))] == sum(1 for f in firing if f == (rule, severity))


def test_the_cap_folds_spend_into_other_without_losing_a_cent(demo: Demo) -> None:
    _, full = scrape(demo)
    _, small = scrape(demo, metrics_max_series=10)
    spent = small["costwatch_spend_month_to_date"]
    assert len(spent) == 10
    others = {dict(k)["currency"]: v for k, v in spent.items() if dict(k)["project"] == OTHER}
    assert set(others) == {"USD", "EUR"}  # one "(other)" per currency
    for currency in others:
        before = sum(
            Decimal(str(v)) for k, v in full["costwatch_spend_month_to_date"].items() if dict(k)["currency"] == currency
        )
        after = sum(Decimal(str(v)) for k, v in spent.items() if dict(k)["currency"] == currency)
        assert cents(after) == cents(before)
    folded = small["costwatch_metrics_series_capped"][(("family", "costwatch_spend_month_to_date"),)]
    assert folded == len(full["costwatch_spend_month_to_date"]) - 8
    assert len(small["costwatch_quota_used_percent"]) == 10  # the ten nearest their limits
    assert (
        min(small["costwatch_quota_used_percent"].values())
        >= sorted(full["costwatch_quota_used_percent"].values(), reverse=True)[9]
    )


def test_capped_keeps_the_largest_and_sums_the_rest_exactly() -> None:
    rows = [SpendSeries(f"p{i}", "m", "USD", Decimal(i) + Decimal("0.001")) for i in range(12)]
    rows.append(SpendSeries("p-eur", "m", "EUR", Decimal("0.005")))
    kept, folded = capped(rows, 10)
    assert len(kept) == 10 and folded == 5
    assert [s.project for s in kept[:8]] == [f"p{i}" for i in range(11, 3, -1)]
    other = {s.currency: s.cost for s in kept if s.project == OTHER}
    assert other == {"USD": Decimal("6.004"), "EUR": Decimal("0.005")}  # 0+1+2+3 and their 0.001s; EUR apart
    assert capped(rows, 13) == (rows, 0)


def test_a_store_that_does_not_answer_still_answers_the_scrape(demo: Demo) -> None:
    broken = Demo(demo.settings, make_engine("sqlite:////nonexistent-dir/costwatch.db"))
    _, samples = scrape(broken)
    assert samples["costwatch_store_up"][()] == 0
    assert "costwatch_spend_month_to_date" not in samples


def test_a_store_missing_a_table_still_reports_the_collector_health(demo: Demo, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'half.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alerts"))  # e.g. restored from a backup of another version
    _, samples = scrape(Demo(demo.settings, engine))
    engine.dispose()
    assert samples["costwatch_store_up"][()] == 1
    assert samples["costwatch_stale"][(("job", "costs"), ("scope", ""))] == 1  # never ran: health still answers
    assert "costwatch_alerts_firing" not in samples


def test_a_cap_below_ten_is_refused_naming_the_setting(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collector.cli", "status"],
        env={
            **os.environ,
            "COSTWATCH_SCHEDULE__METRICS_MAX_SERIES": "5",
            "COSTWATCH_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "metrics_max_series" in result.stderr and "Traceback" not in result.stderr


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    tool = promtool()
    check = subprocess.run([tool, "check", "rules", str(RULES_FILE)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 8 rules found" in check.stdout
    test = subprocess.run(
        [tool, "test", "rules", str(RULES_TEST)], capture_output=True, text=True, timeout=60, cwd=RULES_TEST.parent
    )
    assert test.returncode == 0, test.stdout + test.stderr


def test_a_real_prometheus_scrapes_costwatch_and_fires_on_the_demo_quota(demo: Demo, tmp_path: Path) -> None:
    promtool()
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus package installs promtool and prometheus together"
    port, web = free_port(), free_port()
    settings = demo.settings.model_copy(
        update={"schedule": demo.settings.schedule.model_copy(update={"metrics_port": port})}
    )
    exporter = start_exporter(
        settings, demo.engine, Lease(demo.engine, 30, holder="e2e"), QpuMeter(), lambda: MID_MONTH
    )
    config, log = tmp_path / "prometheus.yml", tmp_path / "prometheus.log"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES_FILE)],
                "scrape_configs": [
                    {
                        "job_name": "costwatch",
                        "honor_labels": True,
                        "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                    }
                ],
            }
        )
    )
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{web}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),  # a file, not a pipe: nobody reads Prometheus' log while it runs
    )
    try:
        with Session(demo.engine) as session:
            critical = {
                c.details["family"] for c in quota(session, demo.settings, MID_MONTH) if c.severity == "critical"
            }
        assert critical, "the demo tenant has a VM family above 95% of its quota"
        deadline = time.monotonic() + 45
        firing: set[tuple[str, str]] = set()
        while time.monotonic() < deadline:
            try:
                alerts = requests.get(f"http://127.0.0.1:{web}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            except requests.ConnectionError:
                alerts = []
            firing = {
                (a["labels"]["alertname"], a["labels"].get("family", "")) for a in alerts if a["state"] == "firing"
            }
            if {name for name, _ in firing} >= EXPECTED:  # the rule groups evaluate apart: wait for all
                break
            assert process.poll() is None, log.read_text()[-2000:]
            time.sleep(0.5)
        assert {f for name, f in firing if name == "CostwatchQuotaCritical"} == critical
        assert any(name == "CostwatchQuotaNearLimit" for name, _ in firing)
        assert any(name == "CostwatchRateLimitHeadroomLow" for name, _ in firing)
        assert any(name == "CostwatchBudgetExceeded" for name, _ in firing)  # proj-rag's 1,000 USD
        query = requests.get(
            f"http://127.0.0.1:{web}/api/v1/query", params={"query": "costwatch_store_up"}, timeout=5
        ).json()
        assert query["data"]["result"][0]["value"][1] == "1"
        # The Grafana dashboard's expressions are PromQL this Prometheus accepts, and show data.
        for expr in dashboard_exprs():
            answer = requests.get(
                f"http://127.0.0.1:{web}/api/v1/query", params={"query": expr.replace("$currency", "USD")}, timeout=5
            ).json()
            assert answer["status"] == "success", (expr, answer)
    finally:
        process.terminate()
        process.wait(10)
        exporter.shutdown()


EXPECTED = {
    "CostwatchQuotaCritical",
    "CostwatchQuotaNearLimit",
    "CostwatchRateLimitHeadroomLow",
    "CostwatchBudgetExceeded",
}
METRIC = re.compile(r"\b(costwatch_[a-z0-9_]+)\b")


def test_every_grafana_expr_names_only_metrics_costwatch_exports(demo: Demo) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [*dashboard_exprs(), *(v["definition"] for v in dashboard["templating"]["list"] if "definition" in v)]
    named = {m for e in exprs for m in METRIC.findall(e)}
    _, samples = scrape(demo)
    assert named and named <= set(samples), f"not exported: {sorted(named - set(samples))}"
    # And every family of the dashboard's subject has a panel: spend, budgets, forecast, quota, headroom,
    # alerts and freshness.
    for wanted in (
        "costwatch_spend_month_to_date",
        "costwatch_budget_used_ratio",
        "costwatch_spend_forecast_month_end",
        "costwatch_quota_used_percent",
        "costwatch_rate_headroom_ratio",
        "costwatch_alerts_firing",
        "costwatch_last_success_timestamp_seconds",
    ):
        assert wanted in named
