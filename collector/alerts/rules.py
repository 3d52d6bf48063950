"""Alert rules: pure functions from the store (and the settings) to the conditions that hold now.

A rule returns one `Condition` per subject that is in breach; a subject it does not return is fine.
The engine (collector.alerts.engine) turns these into firing and resolved alerts. Rules never send
anything and never write.
"""

from __future__ import annotations

import calendar
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from collector.read.budgets import BudgetKey, budget_totals, project_cost_centers
from collector.read.costs import last_cost_day
from collector.read.events import changed_since, events_of
from collector.read.freshness import freshness, last_scope_runs
from collector.read.headroom import deployment_headroom
from collector.read.inventory import deployments, marketplace_subscriptions, workspace_names
from collector.read.money import money
from collector.read.quota import QuotaRow, latest_quota, measure
from collector.read.spend import spend
from collector.runs import as_utc
from collector.settings import AlertSettings, Budget, Settings
from collector.sources.quota import FOUNDRY_PROVIDER

MARKETPLACE_EVENT_DAYS = 7  # how long a one-off marketplace event stays a firing (informational) alert


@dataclass(frozen=True)
class Condition:
    key: str
    rule: str
    severity: str  # info | warning | critical
    subject: str
    message: str
    value: str | None = None
    threshold: str | None = None
    link: str = ""
    details: dict[str, str] = field(default_factory=dict)


def _link(settings: AlertSettings, page: str, **params: str) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f"{settings.dashboard_url.rstrip('/')}/{page}{query}"


def _pct(value: Decimal | float) -> str:
    return f"{Decimal(str(value)).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def quota(session: Session, settings: Settings, now: datetime) -> list[Condition]:
    """VM-core usage or Foundry capacity at or above the warn / critical share of its limit; unlimited
    (-1) never fires."""
    rules = settings.alerts
    out = []
    for q in latest_quota(session):
        if q.limit <= 0:
            continue
        key = f"quota:{q.subscription_id}:{q.location}:{q.provider}:{q.name}"
        warn, critical = rules.thresholds(key, rules.quota_warn, rules.quota_critical)
        share = Decimal(q.current) / Decimal(q.limit)
        if share < Decimal(str(warn)):
            continue
        severity = "critical" if share >= Decimal(str(critical)) else "warning"
        threshold = critical if severity == "critical" else warn
        name = q.localized_name or q.name
        out.append(
            Condition(
                key=key,
                rule="quota",
                severity=severity,
                subject=f"{name} in {q.location} (subscription {q.subscription_id})",
                message=f"{q.current} of {q.limit} {_counted(q)} used ({_pct(share * 100)}) as of "
                f"{q.as_of:%Y-%m-%d %H:%M} UTC",
                value=_pct(share * 100),
                threshold=_pct(threshold * 100),
                link=_link(rules, "quota", subscription=q.subscription_id, region=q.location),
                details={"provider": q.provider, "family": q.name, "current": str(q.current), "limit": str(q.limit)},
            )
        )
    return out


def _counted(q: QuotaRow) -> str:
    """What a quota line counts, in a message: Foundry's unit is "Count" whatever it counts."""
    return measure(q.provider, q.name) if q.provider == FOUNDRY_PROVIDER else q.unit or "cores"


def _of(peak: int | None, limit: int | None) -> str:
    return f"{peak or 0:,} of {limit:,}" if limit else f"{peak or 0:,} (no limit stated)"


def rate_limits(session: Session, settings: Settings, now: datetime) -> list[Condition]:
    """A serverless or Foundry deployment whose peak TPM or RPM in the window came near its limit, or
    reached it (a limit the deployment does not state, as a provisioned one's tokens, is left out); a
    provisioned one's peak PTU utilization against 100%, where Azure throttles."""
    rules = settings.alerts
    window = timedelta(hours=rules.rate_window_hours)
    out = []
    for d in deployment_headroom(session, settings, window, now):
        busiest = d.busiest()
        if busiest is None:
            continue
        which, share = busiest
        used = d.peak_utilization_pct
        key = f"rate_limit:{d.project}:{d.deployment}"
        warn, critical = rules.thresholds(key, rules.rate_warn, 1.0)
        if share < Decimal(str(warn)):
            continue
        at_limit = share >= Decimal(str(critical))
        peaks = (
            f"peak {_of(d.peak_tpm, d.tpm_limit)} tokens/min and {_of(d.peak_rpm, d.rpm_limit)} requests/min"
            if used is None
            else f"peak PTU utilization {_pct(used)} of {d.capacity} PTUs, {_of(d.peak_rpm, d.rpm_limit)} requests/min"
        )
        message = f"{peaks} in the last {rules.rate_window_hours} h" + (
            "; at the limit: requests are likely being throttled (HTTP 429)" if at_limit else ""
        )
        out.append(
            Condition(
                key=key,
                rule="rate_limit",
                severity="critical" if at_limit else "warning",
                subject=f"{d.deployment} ({d.model}) in project {d.project}",
                message=message,
                value=_pct(share * 100),
                threshold=_pct(Decimal(str(critical if at_limit else warn)) * 100),
                link=_link(rules, "deployments", project=d.project),
                details={
                    "busiest": which,
                    "minutes near TPM": str(d.minutes_near_tpm),
                    "minutes near RPM": str(d.minutes_near_rpm),
                    **({} if used is None else {"minutes near full PTU utilization": str(d.minutes_near_utilization)}),
                },
            )
        )
    return out


@dataclass(frozen=True)
class BudgetFigure:
    """One budget's month so far: what the budget rules judge, and what /metrics exports."""

    budget: Budget
    month: date
    last_day: date  # the last day with cost data this month
    days_seen: int
    days_in_month: int
    actual: Decimal
    estimated: bool  # the actual includes estimated days
    forecast: Decimal  # month-to-date spend / days with data x days in the month


def month_span(session: Session, now: datetime) -> tuple[date, date, int, int] | None:
    """This month's first day, its last day with cost data, the days with data and the days in the
    month: the basis of every month-end forecast. None before the month has data."""
    today = now.date()
    month = today.replace(day=1)
    last_day = last_cost_day(session, since=month)
    if last_day is None:
        return None
    return month, last_day, (last_day - month).days + 1, calendar.monthrange(today.year, today.month)[1]


def budget_figures(session: Session, settings: Settings, now: datetime) -> list[BudgetFigure]:
    """Every configured budget's spend this month and month-end forecast; none before this month has data."""
    span = month_span(session, now)
    if not settings.alerts.budgets or span is None:
        return []
    month, last_day, days_seen, days_in_month = span
    totals = _month_to_date(session, settings, month, now.date())
    out = []
    for budget in settings.alerts.budgets:
        actual, estimated = totals.get((budget.scope, budget.name.lower(), budget.currency), (Decimal(0), False))
        forecast = actual / days_seen * days_in_month
        out.append(BudgetFigure(budget, month, last_day, days_seen, days_in_month, actual, estimated, forecast))
    return out


def budgets(session: Session, settings: Settings, now: datetime) -> list[Condition]:
    """Monthly budgets: the highest crossed threshold of the actual spend, and a month-end forecast above
    the budget (month-to-date spend / days with data x days in the month). Estimated days are used and
    labelled as such."""
    rules = settings.alerts
    out = []
    for figure in budget_figures(session, settings, now):
        budget, month, actual, days_seen = figure.budget, figure.month, figure.actual, figure.days_seen
        days_in_month, last_day, forecast = figure.days_in_month, figure.last_day, figure.forecast
        label = " (includes estimated days)" if figure.estimated else ""
        subject = f"{budget.scope.replace('_', ' ')} {budget.name} budget for {month:%B %Y}"
        key = f"{budget.scope}:{budget.name.lower()}:{budget.currency}:{month:%Y-%m}"
        share = actual / budget.amount * 100
        crossed = [t for t in sorted(rules.budget_thresholds) if share >= t]
        details = {
            "budget": money(budget.amount, budget.currency),
            "spent": money(actual, budget.currency),
            "days with data": f"{days_seen} of {days_in_month}",
        }
        link = _link(rules, "spend", **{budget.scope: budget.name})
        if crossed:
            out.append(
                Condition(
                    key=f"budget:{key}",
                    rule="budget",
                    severity="critical" if crossed[-1] >= 100 else "warning",
                    subject=subject,
                    message=f"{money(actual, budget.currency)} spent of {money(budget.amount, budget.currency)} "
                    f"({_pct(share)}) by {last_day}{label}",
                    value=_pct(share),
                    threshold=f"{crossed[-1]}%",
                    link=link,
                    details=details,
                )
            )
        if forecast > budget.amount and share < 100:
            out.append(
                Condition(
                    key=f"budget_forecast:{key}",
                    rule="budget_forecast",
                    severity="warning",
                    subject=subject,
                    message=f"on track for {money(forecast, budget.currency)} by month end, over the budget of "
                    f"{money(budget.amount, budget.currency)} ({money(actual, budget.currency)} in {days_seen} "
                    f"days){label}",
                    value=money(forecast, budget.currency),
                    threshold=money(budget.amount, budget.currency),
                    link=link,
                    details=details,
                )
            )
    return out


def _month_to_date(
    session: Session, settings: Settings, month: date, today: date
) -> dict[BudgetKey, tuple[Decimal, bool]]:
    """(scope, lower-case name, currency) -> (spend, includes estimated days) for every budget scope."""
    rows = spend(session, month, today, ["project", "model", "subscription"])
    return budget_totals(
        ((row.keys, row.currency, row.cost, row.estimated) for row in rows),
        project_cost_centers(session, settings.alerts.cost_center_tag),
    )


def anomalies(session: Session, settings: Settings, now: datetime) -> list[Condition]:
    """A day's spend per project and model far above the same weekday of the four weeks before.

    Comparing like weekdays keeps the normal weekly cycle (quiet weekends) from looking anomalous; the
    median and the median absolute deviation (MAD) keep one earlier spike from hiding the next. It fires
    when spend > median + factor x max(MAD, 10% of median) and the excess is at least
    `anomaly_min_amount`. Needs all four earlier weekdays."""
    rules = settings.alerts
    latest = last_cost_day(session)
    if latest is None:
        return []
    days = [latest - timedelta(days=7 * k) for k in range(5)]
    series: dict[tuple[str, str, str], dict[date, Decimal]] = defaultdict(dict)
    for row in spend(session, days[-1], latest, ["project", "model", "day"]):
        day = row.keys["day"]
        if day in days:
            series[(row.keys["project"], row.keys["model"], row.currency)][day] = row.cost
    out = []
    for (project, model, currency), by_day in sorted(series.items()):
        history = [by_day.get(d) for d in days[1:]]
        if any(v is None for v in history):
            continue
        past = [v for v in history if v is not None]
        median = Decimal(str(statistics.median(past)))
        mad = Decimal(str(statistics.median([abs(v - median) for v in past])))
        spread = max(mad, median / 10)
        today_cost = by_day.get(latest, Decimal(0))
        limit = median + Decimal(str(rules.anomaly_factor)) * spread
        if today_cost > limit and today_cost - median >= rules.anomaly_min_amount:
            out.append(
                Condition(
                    key=f"anomaly:{project}:{model}:{currency}",
                    rule="anomaly",
                    severity="warning",
                    subject=f"{model} in project {project}",
                    message=f"{money(today_cost, currency)} spent on {latest:%a %Y-%m-%d}, against a usual "
                    f"{money(median, currency)} on that weekday",
                    value=money(today_cost, currency),
                    threshold=money(limit, currency),
                    link=_link(rules, "spend", project=project, model=model),
                    details={
                        "baseline (median of 4 weeks)": money(median, currency),
                        "spread (MAD)": money(mad, currency),
                    },
                )
            )
    return out


def marketplace(session: Session, settings: Settings, now: datetime) -> list[Condition]:
    """New marketplace subscriptions (for a week), subscriptions that are Suspended or recently
    Unsubscribed, and deployments of offers outside the allow-list."""
    rules = settings.alerts
    out: list[Condition] = []
    since = now - timedelta(days=MARKETPLACE_EVENT_DAYS)
    subscriptions = {m.resource_id: m for m, _ in marketplace_subscriptions(session)}
    projects = workspace_names(session)
    new = events_of(session, "marketplace_subscriptions", "added", since)
    for event in new:
        sub = subscriptions.get(event.resource_id)
        project = projects.get(sub.workspace_id, "?") if sub else "?"
        offer = sub.offer_id if sub else event.resource_id.rsplit("/", 1)[-1]
        out.append(
            Condition(
                key=f"marketplace:new:{event.resource_id}",
                rule="marketplace",
                severity="info",
                subject=f"project {project} subscribed to {offer}",
                message=f"new marketplace subscription to {offer} ({sub.model_id if sub else ''}) seen "
                f"{as_utc(event.observed_at):%Y-%m-%d %H:%M} UTC",
                link=_link(rules, "subscriptions", project=project),
                details={"plan": sub.plan_id if sub else "", "publisher": sub.publisher_id if sub else ""},
            )
        )
    for sub in subscriptions.values():
        project = projects.get(sub.workspace_id, "?")
        if sub.status == "Suspended" or (
            sub.status == "Unsubscribed"
            and as_utc(sub.last_seen) >= since
            and changed_since(session, sub.resource_id, since)
        ):
            out.append(
                Condition(
                    key=f"marketplace:status:{sub.resource_id}",
                    rule="marketplace",
                    severity="warning" if sub.status == "Suspended" else "info",
                    subject=f"project {project}: {sub.offer_id}",
                    message=f"marketplace subscription to {sub.offer_id} is {sub.status}"
                    + ("; its deployments stop serving until it is reinstated" if sub.status == "Suspended" else ""),
                    value=sub.status,
                    link=_link(rules, "subscriptions", project=project),
                )
            )
    if rules.offer_allow_list:
        allowed = {o.lower() for o in rules.offer_allow_list}
        by_id = {m.resource_id: m for m in subscriptions.values()}
        current = [d for d, _ in deployments(session, kind="serverless") if d.removed_at is None]
        for d in sorted(current, key=lambda d: d.resource_id):
            sub = by_id.get(d.marketplace_subscription_id)
            if sub is not None and sub.offer_id.lower() not in allowed:
                project = projects.get(d.workspace_id, "?")
                out.append(
                    Condition(
                        key=f"marketplace:offer:{d.resource_id}",
                        rule="marketplace",
                        severity="warning",
                        subject=f"{d.name} in project {project}",
                        message=f"deployment of offer {sub.offer_id}, which is not in the allow-list",
                        value=sub.offer_id,
                        link=_link(rules, "deployments", project=project),
                    )
                )
    return out


def collection_health(session: Session, settings: Settings, now: datetime) -> list[Condition]:
    """A scope that failed its last N runs in a row, and a job whose data went stale after it had run."""
    rules = settings.alerts
    out = []
    for scope, last in last_scope_runs(session, rules.failed_runs).items():
        if len(last) == rules.failed_runs and all(r.status == "failed" for r in last):
            out.append(
                Condition(
                    key=f"collection_health:failing:{scope}",
                    rule="collection_health",
                    severity="critical",
                    subject=scope,
                    message=f"failed {rules.failed_runs} runs in a row; last error: {(last[0].error or '')[:300]}",
                    value=str(rules.failed_runs),
                    threshold=str(rules.failed_runs),
                    link=_link(rules, "status"),
                )
            )
    for line in freshness(session, settings, now):
        if line.scope == "" and line.stale and line.last_status is not None:
            age = "never succeeded" if line.age is None else f"last success {line.age.total_seconds() / 3600:.1f} h ago"
            out.append(
                Condition(
                    key=f"collection_health:stale:{line.job}",
                    rule="collection_health",
                    severity="warning",
                    subject=f"{line.job} data",
                    message=f"{line.job} data is stale: {age}",
                    link=_link(rules, "status"),
                )
            )
    return out


RULES: dict[str, Callable[[Session, Settings, datetime], list[Condition]]] = {
    "quota": quota,
    "rate_limit": rate_limits,
    "budget": budgets,
    "anomaly": anomalies,
    "marketplace": marketplace,
    "collection_health": collection_health,
}
