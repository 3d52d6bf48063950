"""The business figures of /metrics: spend, budgets, forecast, quota, rate-limit headroom and alerts.

Every figure comes from the function that already computes it for the alert rules, `costwatch spend`
and the dashboard (collector.read.spend, collector.alerts.rules, collector.jobs.quota, collector.jobs.traffic), so a
Prometheus graph agrees with them to the cent. Gauges carry floats of the exact Decimals.

Cardinality is bounded by `[schedule] metrics_max_series` per family. Spend never loses a cent to the
cap: the smallest series are summed, per currency, into project="(other)", model="(other)". Quota and
headroom keep the series nearest their limits; `costwatch_metrics_series_capped` counts what was folded
or left out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.orm import Session

from collector.alerts.rules import RULES, budget_figures, month_span
from collector.read.alerts import alerts
from collector.read.headroom import deployment_headroom
from collector.read.quota import latest_quota
from collector.read.spend import spend
from collector.settings import Settings

OTHER = "(other)"
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class SpendSeries:
    project: str
    model: str
    currency: str
    cost: Decimal


def month_spend(session: Session, now: datetime) -> list[SpendSeries]:
    """Month-to-date spend per project, model and currency: the rows the budget rules sum."""
    today = now.date()
    rows = spend(session, today.replace(day=1), today, ["project", "model"])
    return [SpendSeries(r.keys["project"], r.keys["model"], r.currency, r.cost) for r in rows]


def capped(series: list[SpendSeries], cap: int) -> tuple[list[SpendSeries], int]:
    """At most `cap` series: the largest kept, the rest summed exactly into one "(other)" per currency.
    Returns the series and how many were folded into "(other)"."""
    if len(series) <= cap:
        return series, 0
    currencies = sorted({s.currency for s in series})
    ranked = sorted(series, key=lambda s: (-s.cost, s.project, s.model, s.currency))
    keep = ranked[: max(cap - len(currencies), 0)]
    rest = ranked[len(keep) :]
    other: dict[str, Decimal] = {}
    for s in rest:
        other[s.currency] = other.get(s.currency, Decimal(0)) + s.cost
    folded = [SpendSeries(OTHER, OTHER, currency, cost) for currency, cost in sorted(other.items())]
    return keep + folded, len(rest)


def business_families(session: Session, settings: Settings, now: datetime) -> list[GaugeMetricFamily]:
    cap = settings.schedule.metrics_max_series
    capped_count = GaugeMetricFamily(
        "costwatch_metrics_series_capped",
        "Series folded into (other) or left out of a family by [schedule] metrics_max_series",
        labels=["family"],
    )
    families = [
        *_spend(session, now, cap, capped_count),
        *_budgets(session, settings, now),
        *_quota(session, cap, capped_count),
        *_headroom(session, settings, now, cap, capped_count),
        _alerts(session),
    ]
    return [*families, capped_count]


def _spend(session: Session, now: datetime, cap: int, capped_count: GaugeMetricFamily) -> list[GaugeMetricFamily]:
    series, folded = capped(month_spend(session, now), cap)
    capped_count.add_metric(["costwatch_spend_month_to_date"], folded)
    mtd = GaugeMetricFamily(
        "costwatch_spend_month_to_date",
        "Spend this month (UTC) so far, in the billing currency, per project and model",
        labels=["project", "model", "currency"],
    )
    totals: dict[str, Decimal] = {}
    for s in series:
        mtd.add_metric([s.project, s.model, s.currency], float(s.cost))
        totals[s.currency] = totals.get(s.currency, Decimal(0)) + s.cost
    forecast = GaugeMetricFamily(
        "costwatch_spend_forecast_month_end",
        "Month-end forecast of all spend: month-to-date / days with data x days in the month",
        labels=["currency"],
    )
    span = month_span(session, now)
    if span is not None:
        _, _, days_seen, days_in_month = span
        for currency, total in sorted(totals.items()):
            forecast.add_metric([currency], float(total / days_seen * days_in_month))
    return [mtd, forecast]


def _budgets(session: Session, settings: Settings, now: datetime) -> list[GaugeMetricFamily]:
    labels = ["scope", "budget", "currency"]
    amount = GaugeMetricFamily("costwatch_budget_amount", "A monthly budget ([[alerts.budgets]])", labels=labels)
    spent = GaugeMetricFamily("costwatch_budget_spent", "Spend this month against the budget", labels=labels)
    left = GaugeMetricFamily("costwatch_budget_left", "Budget left this month (negative: over)", labels=labels)
    used = GaugeMetricFamily("costwatch_budget_used_ratio", "Spend this month / budget", labels=labels)
    forecast = GaugeMetricFamily(
        "costwatch_budget_forecast", "Month-end forecast against the budget, as the budget_forecast rule", labels=labels
    )
    for f in budget_figures(session, settings, now):
        key = [f.budget.scope, f.budget.name, f.budget.currency]
        amount.add_metric(key, float(f.budget.amount))
        spent.add_metric(key, float(f.actual))
        left.add_metric(key, float(f.budget.amount - f.actual))
        used.add_metric(key, float(f.actual / f.budget.amount))
        forecast.add_metric(key, float(f.forecast))
    return [amount, spent, left, used, forecast]


def _quota(session: Session, cap: int, capped_count: GaugeMetricFamily) -> list[GaugeMetricFamily]:
    labels = ["subscription", "region", "provider", "family"]
    percent = GaugeMetricFamily(
        "costwatch_quota_used_percent", "VM-core usage as a percentage of the subscription's quota", labels=labels
    )
    current = GaugeMetricFamily("costwatch_quota_current", "VM cores in use (subscription level)", labels=labels)
    limit = GaugeMetricFamily("costwatch_quota_limit", "VM-core quota (subscription level)", labels=labels)
    # Unlimited (-1) and zero limits have no percentage, as the quota rule skips them.
    lines = [q for q in latest_quota(session) if q.limit > 0]
    lines.sort(key=lambda q: (-Decimal(q.current) / Decimal(q.limit), q.subscription_id, q.location, q.name))
    capped_count.add_metric(["costwatch_quota_used_percent"], max(len(lines) - cap, 0))
    for q in lines[:cap]:
        key = [q.subscription_id, q.location, q.provider, q.name]
        percent.add_metric(key, float(Decimal(q.current) * 100 / Decimal(q.limit)))
        current.add_metric(key, q.current)
        limit.add_metric(key, q.limit)
    return [percent, current, limit]


def _headroom(
    session: Session, settings: Settings, now: datetime, cap: int, capped_count: GaugeMetricFamily
) -> list[GaugeMetricFamily]:
    """Peak TPM/RPM of each serverless and Foundry deployment over the rate_limit rule's window, against
    the limits it states, and a provisioned one's peak PTU utilization (its limit: 100%)."""
    labels = ["project", "deployment", "model"]
    window = timedelta(hours=settings.alerts.rate_window_hours)
    peak_tpm = GaugeMetricFamily("costwatch_rate_peak_tpm", "Peak tokens per minute in the rate window", labels=labels)
    peak_rpm = GaugeMetricFamily("costwatch_rate_peak_rpm", "Peak requests a minute in the rate window", labels=labels)
    tpm_limit = GaugeMetricFamily(
        "costwatch_rate_tpm_limit", "Tokens-per-minute limit ([limits], or a Foundry deployment's own)", labels=labels
    )
    rpm_limit = GaugeMetricFamily(
        "costwatch_rate_rpm_limit", "Requests-per-minute limit ([limits], or a Foundry deployment's own)", labels=labels
    )
    utilization = GaugeMetricFamily(
        "costwatch_rate_ptu_utilization_ratio",
        "A provisioned deployment's peak PTU utilization in the rate window (1: throttled)",
        labels=labels,
    )
    headroom = GaugeMetricFamily(
        "costwatch_rate_headroom_ratio",
        "1 - the largest of peak TPM / TPM limit, peak RPM / RPM limit and peak PTU utilization in the rate "
        "window, over the limits the deployment states (0: at the limit)",
        labels=labels,
    )
    rows = []
    for d in deployment_headroom(session, settings, window, now):
        busiest = d.busiest()
        if busiest is not None:  # managed compute, or no metrics from Azure Monitor: unknown, not idle
            rows.append((busiest[1], d))
    rows.sort(key=lambda r: (-r[0], r[1].project, r[1].deployment))
    capped_count.add_metric(["costwatch_rate_headroom_ratio"], max(len(rows) - cap, 0))
    for share, d in rows[:cap]:
        key = [d.project, d.deployment, d.model]
        for family, value in (
            (peak_tpm, d.peak_tpm if d.tpm_limit else None),
            (tpm_limit, d.tpm_limit),
            (peak_rpm, d.peak_rpm if d.rpm_limit else None),
            (rpm_limit, d.rpm_limit),
            (utilization, None if d.peak_utilization_pct is None else d.peak_utilization_pct / 100),
        ):
            if value is not None:
                family.add_metric(key, float(value))
        headroom.add_metric(key, float(1 - share))
    return [peak_tpm, peak_rpm, tpm_limit, rpm_limit, utilization, headroom]


def _alerts(session: Session) -> GaugeMetricFamily:
    """Firing alerts per rule and severity; every rule and severity is present, 0 when none fires."""
    firing = GaugeMetricFamily(
        "costwatch_alerts_firing", "Alerts firing now (costwatch's own rules)", labels=["rule", "severity"]
    )
    counts = Counter((alert.rule, alert.severity) for alert in alerts(session, "firing"))
    # The whole rule x severity grid, zeros included, keeps absent() out of dashboards and rules.
    for rule in sorted({*RULES, "budget_forecast", *(r for r, _ in counts)}):
        for severity in SEVERITIES:
            firing.add_metric([rule, severity], counts.get((rule, severity), 0))
    return firing
