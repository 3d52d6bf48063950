"""The month's figures for finance, read once from the store: the one model every report format writes.

Costs come from `collector.read.spend.spend` (the query behind `costwatch spend`), so a report's totals are
`costwatch spend`'s for the same month by construction. The store's quantities and the row-level detail
of the FOCUS file are read with the same join and the same AI-spend filter, and the tests hold them to
the spend figures. Every figure stays per currency: nothing here adds two currencies.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from collector.attribution import UNATTRIBUTED
from collector.db.models import (
    Alert,
    CostRow,
    FoundryAccount,
    ResourceAttribution,
    SaasResource,
    Subscription,
    Workspace,
    attributed_model,
    is_project,
    with_attribution,
)
from collector.db.types import money_sum
from collector.periods import add_months, is_final, month_end
from collector.read.budgets import budget_totals, project_key, tag_value
from collector.read.spend import AI_SPEND, spend
from collector.settings import Settings
from collector.units import meter_unit, per_million_tokens, token_type, tokens, unit_lookup

DataStatus = Literal["final", "estimated"]
FINAL: Literal["final"] = "final"
ESTIMATED: Literal["estimated"] = "estimated"
GROUPINGS = ("subscription", "project", "cost_center", "model", "meter")

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> date:
    """'2026-10' -> date(2026, 10, 1); ValueError with the accepted form otherwise."""
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{text!r} is not a month: use YYYY-MM, e.g. 2026-10")
    return date(int(match.group(1)), int(match.group(2)), 1)


def change_pct(current: Decimal, previous: Decimal | None) -> Decimal | None:
    """Change against the previous month in percent; None without a previous figure to compare with."""
    if previous is None or previous == 0:
        return None
    return (current - previous) * 100 / abs(previous)


# -- the report's model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportLine:
    """One (subscription, project, model, meter, currency) of the month: the CSV's row."""

    subscription_id: str
    subscription_name: str
    project: str
    cost_center: str
    model: str
    meter: str
    currency: str
    quantity: Decimal | None  # summed cost_rows.quantity, in `unit`; None when Azure stated none
    unit: str  # collector.units: as the meter's name or [costs] units state it, never assumed
    cost: Decimal
    estimated: bool  # some of its days are still estimates

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.subscription_id, self.project, self.model, self.meter, self.currency)

    @property
    def token_type(self) -> str:
        return token_type(self.meter)

    @property
    def tokens(self) -> Decimal | None:
        """The quantity in tokens; None unless a token meter of a known unit."""
        return tokens(self.quantity, self.unit)

    @property
    def cost_per_million_tokens(self) -> Decimal | None:
        return per_million_tokens(self.cost, self.tokens)

    def dimension(self, name: str) -> str:
        return {
            "subscription": self.subscription_id,
            "project": self.project,
            "cost_center": self.cost_center,
            "model": self.model,
            "meter": self.meter,
        }[name]


@dataclass(frozen=True)
class GroupTotal:
    """A month's total of one group (a project, a model, ...) in one currency, with last month's."""

    name: str
    currency: str
    cost: Decimal
    previous_cost: Decimal | None  # None: the group had no spend in the previous month
    kilo_tokens: Decimal | None  # tokens of its token meters of a known unit, in 1K; None without any
    token_cost: Decimal  # the cost of those token meters
    estimated: bool

    @property
    def change_pct(self) -> Decimal | None:
        return change_pct(self.cost, self.previous_cost)

    @property
    def cost_per_million_tokens(self) -> Decimal | None:
        """Blended over input and output tokens."""
        return per_million_tokens(self.token_cost, None if self.kilo_tokens is None else self.kilo_tokens * 1000)


@dataclass(frozen=True)
class DayTotal:
    day: date
    currency: str
    cost: Decimal
    estimated: bool


@dataclass(frozen=True)
class BudgetLine:
    """A monthly budget from [[alerts.budgets]] against the month's spend in its scope and currency."""

    scope: str
    name: str
    currency: str
    amount: Decimal
    actual: Decimal

    @property
    def used_pct(self) -> Decimal:
        return self.actual * 100 / self.amount

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.actual

    @property
    def over(self) -> bool:
        return self.actual > self.amount


@dataclass(frozen=True)
class AlertCount:
    """Alerts of one rule and severity whose current episode began (fired) or that resolved in the month."""

    rule: str
    severity: str
    fired: int
    resolved: int


@dataclass(frozen=True)
class MonthlyReport:
    month: date  # its first day
    today: date  # the day the status was judged on
    final_after_day: int
    data_status: DataStatus
    lines: tuple[ReportLine, ...]  # sorted by subscription, project, model, meter, currency
    previous_lines: tuple[ReportLine, ...]  # the previous month's, for the comparison
    days: tuple[DayTotal, ...]  # sorted by day, currency
    budgets: tuple[BudgetLine, ...]
    alerts: tuple[AlertCount, ...]

    @property
    def label(self) -> str:
        return f"{self.month:%Y-%m}"

    @property
    def title(self) -> str:
        return f"{self.month:%B %Y}"

    @property
    def previous_month(self) -> date:
        return add_months(self.month, -1)

    @property
    def final_from(self) -> date:
        """The first day on which the month's figures are final (Azure closed the month)."""
        return add_months(self.month, 1).replace(day=self.final_after_day) + timedelta(days=1)

    @property
    def last_day_with_data(self) -> date | None:
        return max((d.day for d in self.days), default=None)

    @property
    def currencies(self) -> list[str]:
        return sorted({line.currency for line in self.lines} | {line.currency for line in self.previous_lines})

    def status_sentence(self) -> str:
        closes = self.final_from - timedelta(days=1)
        day = f"{closes.day} {closes:%b %Y}"
        if self.data_status == FINAL:
            return f"FINAL: Azure closed {self.title} on {day}; these figures will not change."
        if self.today >= self.final_from:
            return (
                f"ESTIMATED: Azure closed {self.title} on {day}, but the store still holds estimates for some "
                "days: run `costwatch collect` to pull the final figures."
            )
        return f"ESTIMATED: Azure may restate {self.title} until {day}; these figures can still change."

    def totals(self) -> list[GroupTotal]:
        """One total per currency (never added across currencies)."""
        return [
            GroupTotal(t.currency, t.currency, t.cost, t.previous_cost, t.kilo_tokens, t.token_cost, t.estimated)
            for t in self._group(lambda line: "")
        ]

    def by(self, dimension: str) -> list[GroupTotal]:
        """Totals per value of one of GROUPINGS and currency, biggest first within each currency."""
        if dimension not in GROUPINGS:
            raise ValueError(f"unknown grouping {dimension!r}; choose from {', '.join(GROUPINGS)}")
        return self._group(lambda line: line.dimension(dimension))

    def previous_cost(self, line: ReportLine) -> Decimal | None:
        """The same (subscription, project, model, meter, currency)'s cost in the previous month."""
        return self._previous_by_key.get(line.key)

    @cached_property
    def _previous_by_key(self) -> dict[tuple[str, str, str, str, str], Decimal]:
        return {line.key: line.cost for line in self.previous_lines}

    def _group(self, name_of: Callable[[ReportLine], str]) -> list[GroupTotal]:
        cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        previous: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        kilo: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        token_cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        has_tokens: set[tuple[str, str]] = set()
        estimated: set[tuple[str, str]] = set()
        for line in self.lines:
            key = (name_of(line), line.currency)
            cost[key] += line.cost
            if line.estimated:
                estimated.add(key)
            if line.tokens is not None:
                kilo[key] += line.tokens / 1000
                token_cost[key] += line.cost
                has_tokens.add(key)
        for line in self.previous_lines:
            key = (name_of(line), line.currency)
            previous[key] += line.cost
            cost.setdefault(key, Decimal(0))
        groups = [
            GroupTotal(
                name=name,
                currency=currency,
                cost=cost[(name, currency)],
                previous_cost=previous.get((name, currency)),
                kilo_tokens=kilo[(name, currency)] if (name, currency) in has_tokens else None,
                token_cost=token_cost.get((name, currency), Decimal(0)),
                estimated=(name, currency) in estimated,
            )
            for name, currency in cost
        ]
        return sorted(groups, key=lambda g: (g.currency, -g.cost, g.name))


# -- building it from the store -------------------------------------------------------------------


def _ai_spend() -> ColumnElement[bool]:
    """The rows `costwatch spend` counts: AI spend, and resources not yet attributed (see spend())."""
    return or_(ResourceAttribution.spend_kind.in_(AI_SPEND), ResourceAttribution.spend_kind.is_(None))


def _project_tags(session: Session) -> dict[tuple[str, str], dict[str, Any]]:
    """(subscription ID, lower-case project name) -> the project workspace's tags."""
    return {
        project_key(w.subscription_id, w.name): dict(w.tags or {})
        for w in session.scalars(select(Workspace).where(is_project()))
    }


def _quantities(session: Session, date_from: date, date_to: date) -> dict[tuple[str, ...], tuple[Decimal | None, str]]:
    """(subscription, project, model, meter, currency) -> (summed quantity, a meter category)."""
    project = func.coalesce(ResourceAttribution.project, UNATTRIBUTED)
    model = attributed_model()
    columns = [CostRow.subscription_id, project, model, CostRow.meter, CostRow.currency]
    query = (
        with_attribution(
            select(*columns, money_sum(CostRow.quantity), func.max(CostRow.meter_category)).select_from(CostRow)
        )
        .where(CostRow.usage_date.between(date_from, date_to), _ai_spend())
        .group_by(*columns)
    )
    out: dict[tuple[str, ...], tuple[Decimal | None, str]] = {}
    for sub, proj, mod, meter, currency, quantity, category in session.execute(query):
        if quantity is not None and not isinstance(quantity, Decimal):
            quantity = Decimal(str(quantity))
        out[(sub, proj, mod, meter, currency)] = (quantity, category or "")
    return out


def _lines(session: Session, settings: Settings, date_from: date, date_to: date) -> tuple[ReportLine, ...]:
    rows = spend(session, date_from, date_to, ["subscription", "project", "model", "meter"])
    quantities = _quantities(session, date_from, date_to)
    tags = _project_tags(session)
    names = dict(session.execute(select(Subscription.subscription_id, Subscription.display_name)).tuples().all())
    tag_key = settings.alerts.cost_center_tag
    lines = []
    for row in rows:
        sub, project, model, meter = (row.keys[d] for d in ("subscription", "project", "model", "meter"))
        quantity, category = quantities.get((sub, project, model, meter, row.currency), (None, ""))
        cost_center = "" if project == UNATTRIBUTED else tag_value(tags.get(project_key(sub, project)), tag_key)
        lines.append(
            ReportLine(
                subscription_id=sub,
                subscription_name=names.get(sub, ""),
                project=project,
                cost_center=cost_center,
                model=model,
                meter=meter,
                currency=row.currency,
                quantity=quantity,
                unit=meter_unit(meter, category, settings.costs.units),
                cost=row.cost,
                estimated=row.estimated,
            )
        )
    # Sorted here, not by the database: PostgreSQL's collation and SQLite's byte order differ.
    return tuple(sorted(lines, key=lambda line: line.key))


def _days(session: Session, date_from: date, date_to: date) -> tuple[DayTotal, ...]:
    rows = spend(session, date_from, date_to, ["day"])
    return tuple(
        sorted(
            (DayTotal(r.keys["day"], r.currency, r.cost, r.estimated) for r in rows),
            key=lambda d: (d.day, d.currency),
        )
    )


def _budgets(settings: Settings, lines: Iterable[ReportLine]) -> tuple[BudgetLine, ...]:
    """Each configured budget against the month's spend of its scope, in its currency: the sums the
    budget alert makes (collector.read.budgets), from the lines' own cost centers."""
    lines = list(lines)
    centers = {project_key(line.subscription_id, line.project): line.cost_center for line in lines if line.cost_center}
    actual = budget_totals(
        (
            (
                {"project": line.project, "model": line.model, "subscription": line.subscription_id},
                line.currency,
                line.cost,
                False,
            )
            for line in lines
        ),
        centers,
    )
    return tuple(
        BudgetLine(
            b.scope,
            b.name,
            b.currency,
            b.amount,
            actual.get((b.scope, b.name.lower(), b.currency), (Decimal(0), False))[0],
        )
        for b in settings.alerts.budgets
    )


def _alerts(session: Session, date_from: date, date_to: date) -> tuple[AlertCount, ...]:
    start = datetime.combine(date_from, time.min, UTC)
    end = datetime.combine(date_to + timedelta(days=1), time.min, UTC)
    fired: dict[tuple[str, str], int] = defaultdict(int)
    resolved: dict[tuple[str, str], int] = defaultdict(int)
    query = select(Alert.rule, Alert.severity, Alert.first_seen, Alert.resolved_at).where(
        or_(Alert.first_seen.between(start, end), Alert.resolved_at.between(start, end))
    )
    for rule, severity, first_seen, resolved_at in session.execute(query):
        if start <= _utc(first_seen) < end:
            fired[(rule, severity)] += 1
        if resolved_at is not None and start <= _utc(resolved_at) < end:
            resolved[(rule, severity)] += 1
    keys = sorted(set(fired) | set(resolved), key=lambda k: (k[0], _SEVERITY.get(k[1], 9), k[1]))
    return tuple(
        AlertCount(rule, severity, fired[(rule, severity)], resolved[(rule, severity)]) for rule, severity in keys
    )


_SEVERITY = {"critical": 0, "warning": 1, "info": 2}


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite hands back naive UTC


def build_report(session: Session, settings: Settings, month: date, *, today: date | None = None) -> MonthlyReport:
    """The report of `month` (any day in it) as the store holds it now; `today` (default: today in UTC)
    only decides whether the month can be final yet."""
    month = month.replace(day=1)
    today = today or datetime.now(UTC).date()
    last = month_end(month)
    previous = add_months(month, -1)
    lines = _lines(session, settings, month, last)
    final_by_date = is_final(month, today, settings.costs.final_after_day)
    status: DataStatus = FINAL if final_by_date and not any(line.estimated for line in lines) else ESTIMATED
    return MonthlyReport(
        month=month,
        today=today,
        final_after_day=settings.costs.final_after_day,
        data_status=status,
        lines=lines,
        previous_lines=_lines(session, settings, previous, month_end(previous)),
        days=_days(session, month, last),
        budgets=_budgets(settings, lines),
        alerts=_alerts(session, month, last),
    )


# -- the row-level detail (FOCUS) -----------------------------------------------------------------


@dataclass(frozen=True)
class DetailRow:
    """One cost row (a day of one resource and meter) with what the inventory knows about it."""

    usage_date: date
    subscription_id: str
    subscription_name: str
    resource_id: str
    resource_name: str
    resource_type: str
    resource_group: str
    region: str
    meter: str
    meter_id: str
    meter_category: str
    meter_subcategory: str
    charge_type: str
    cost_type: str
    currency: str
    cost: Decimal
    quantity: Decimal | None
    estimated: bool
    spend_kind: str  # marketplace | foundry | managed_compute | '' (not attributed yet)
    project: str
    model: str
    cost_center: str
    publisher: str
    tags: dict[str, Any] | None  # the resource's tags; None when the inventory does not know it
    unit: str  # collector.units.meter_unit


# ARM's casing of the resource types costwatch meets (cost rows carry resource IDs lower-cased).
_TYPE_CASING = {
    t.lower(): t
    for t in (
        "Microsoft.SaaS/resources",
        "Microsoft.CognitiveServices/accounts",
        "Microsoft.MachineLearningServices/workspaces",
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
        "Microsoft.MachineLearningServices/workspaces/serverlessEndpoints",
    )
}


def _resource_parts(resource_id: str) -> tuple[str, str, str]:
    """(resource group, provider type such as 'microsoft.saas/resources', name) from an ARM ID."""
    parts = resource_id.strip("/").split("/")
    group = parts[3] if len(parts) > 3 and parts[2].lower() == "resourcegroups" else ""
    if "providers" not in [p.lower() for p in parts]:
        return group, "", parts[-1] if parts else ""
    at = max(i for i, p in enumerate(parts) if p.lower() == "providers")
    rest = parts[at + 1 :]
    namespace, pairs = rest[0], rest[1:]
    types = [pairs[i] for i in range(0, len(pairs), 2)]
    name = pairs[-1] if len(pairs) % 2 == 0 and pairs else ""
    rtype = "/".join([namespace, *types])
    return group, _TYPE_CASING.get(rtype.lower(), rtype), name


def detail_rows(session: Session, settings: Settings, month: date) -> Iterator[DetailRow]:
    """Every cost row of the month that `costwatch spend` counts, sorted by day, subscription,
    resource, meter ID, meter, charge type and currency (stable across databases).

    Read and sorted a day at a time, so a large tenant's month (hundreds of thousands of rows) is never
    held whole: docs/performance.md#report-by-day."""
    month = month.replace(day=1)
    saas = {s.resource_id.lower(): s for s in session.scalars(select(SaasResource))}
    workspaces = {w.resource_id.lower(): w for w in session.scalars(select(Workspace))}
    foundry = {a.resource_id.lower(): a for a in session.scalars(select(FoundryAccount))}
    names = dict(session.execute(select(Subscription.subscription_id, Subscription.display_name)).tuples().all())
    tags_of_project = _project_tags(session)
    tag_key = settings.alerts.cost_center_tag
    unit_of = unit_lookup(settings.costs.units)
    day = month
    while day <= month_end(month):
        yield from _detail_rows_of(session, day, saas, foundry, workspaces, names, tags_of_project, tag_key, unit_of)
        day += timedelta(days=1)


def _detail_rows_of(
    session: Session,
    day: date,
    saas: dict[str, SaasResource],
    foundry: dict[str, FoundryAccount],
    workspaces: dict[str, Workspace],
    names: dict[str, str],
    tags_of_project: dict[tuple[str, str], dict[str, Any]],
    tag_key: str,
    unit_of: Callable[[str, str], str],
) -> list[DetailRow]:
    query = with_attribution(select(CostRow, ResourceAttribution, attributed_model()).select_from(CostRow)).where(
        CostRow.usage_date == day, _ai_spend()
    )
    out = []
    for cost_row, attribution, model in session.execute(query).tuples():
        rid = cost_row.resource_id
        group, rtype, name = _resource_parts(rid)
        project = attribution.project if attribution and attribution.project else UNATTRIBUTED
        workspace = workspaces.get((attribution.project_id or "").lower()) if attribution else None
        saas_resource = saas.get(rid.lower())
        kind = attribution.spend_kind if attribution else ""
        # SaaS resources are global; managed compute runs in its project workspace's region.
        region = workspace.location if workspace is not None and kind == "managed_compute" else ""
        if saas_resource is not None:
            name, tags, publisher = saas_resource.name, dict(saas_resource.tags or {}), saas_resource.publisher
            rtype = "Microsoft.SaaS/resources"
        elif (account := foundry.get(rid.lower())) is not None:
            name, tags, publisher, region = account.name, dict(account.tags or {}), "Microsoft", account.location
        else:
            tags = None
            publisher = "Microsoft" if kind == "managed_compute" else ""
        cost_center = ""
        if project != UNATTRIBUTED:
            project_tags = tags_of_project.get(project_key(cost_row.subscription_id, project), {})
            cost_center = tag_value(project_tags, tag_key)
        out.append(
            DetailRow(
                usage_date=cost_row.usage_date,
                subscription_id=cost_row.subscription_id,
                subscription_name=names.get(cost_row.subscription_id, ""),
                resource_id=rid,
                resource_name=name,
                resource_type=rtype,
                resource_group=group,
                region=region,
                meter=cost_row.meter,
                meter_id=cost_row.meter_id,
                meter_category=cost_row.meter_category,
                meter_subcategory=cost_row.meter_subcategory,
                charge_type=cost_row.charge_type,
                cost_type=cost_row.cost_type,
                currency=cost_row.currency,
                cost=cost_row.cost,
                quantity=cost_row.quantity,
                estimated=cost_row.is_estimated,
                spend_kind=kind,
                project=project,
                model=model,
                cost_center=cost_center,
                publisher=publisher,
                tags=tags,
                unit=unit_of(cost_row.meter, cost_row.meter_category),
            )
        )
    out.sort(
        key=lambda r: (
            r.usage_date,
            r.subscription_id,
            r.resource_id,
            r.meter_id,
            r.meter,
            r.charge_type,
            r.cost_type,
            r.currency,
            r.meter_category,
            r.meter_subcategory,
        )
    )
    return out
