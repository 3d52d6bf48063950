"""The dashboard's arithmetic, as pure functions over rows the query layer read: exact (Decimal) sums,
never across currencies; month-to-date, forecast and budgets; cost per million tokens; and the
serverless-vs-managed comparison with its break-even traffic.
"""

from __future__ import annotations

import calendar
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from collector.periods import add_months
from collector.read.budgets import ProjectKey, project_key
from collector.read.money import money
from collector.read.spend import FILTERS
from collector.settings import Budget

CENT = Decimal("0.01")
HOURS_PER_MONTH = Decimal(730)  # 8,760 hours a year / 12: how Azure prices a VM month
MINUTES_PER_DAY = 1440


def unit_price(amount: Decimal, currency: str = "") -> str:
    """A price per unit (an hour, a million tokens): up to four decimals, at least two."""
    text = f"{amount.quantize(Decimal('0.0001'), ROUND_HALF_UP):,}".rstrip("0")
    if len(text.partition(".")[2]) < 2:
        text = f"{amount.quantize(CENT, ROUND_HALF_UP):,}"
    return f"{text} {currency}".rstrip()


def percent(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


# --- spend views ------------------------------------------------------------------------------


def base_dimensions(by: Sequence[str], filter_names: Iterable[str], restricted: bool) -> list[str]:
    """The `collector.read.spend.spend` dimensions a view needs: its grouping, its filters, and `project`
    whenever the viewer is restricted to some projects (so the restriction can be applied)."""
    derived = {"resource_group": ("resource",), "cost_center": ("subscription", "project")}
    wanted = [*by, *(f for f in filter_names if f != "currency")]
    if restricted:
        wanted.append("project")
    return list(dict.fromkeys(source for d in wanted for source in derived.get(d, (d,))))


# Filters the database applies itself (the kind is the page's own choice of spend, not a filter); the
# derived ones (cost center, resource group) stay in regroup().
PUSHED_FILTERS = tuple(f for f in FILTERS if f != "spend_kind")


def pushed_filters(
    filters: Iterable[tuple[str, tuple[str, ...]]],
    scope: tuple[str, ...] | None,
    cost_centers: Mapping[ProjectKey, str],
) -> dict[str, set[str]]:
    """The `where` of `collector.read.spend.spend` for a view: its filters the database can apply, with a
    cost-center filter and the viewer's scope turned into the projects they allow, so that the store
    returns only rows the view can show. regroup() still applies every filter (and the scope)."""
    given = dict(filters)
    out = {name: {v.lower() for v in given[name]} for name in PUSHED_FILTERS if name in given}
    allowed_projects: list[set[str]] = []
    if "cost_center" in given:
        wanted = {v.lower() for v in given["cost_center"]}
        # By name: a superset where one name is in two subscriptions; regroup() keeps the right ones.
        allowed_projects.append({project for (_, project), center in cost_centers.items() if center.lower() in wanted})
    if scope is not None:
        allowed_projects.append(set(scope))
    for projects in allowed_projects:
        out["project"] = out["project"] & projects if "project" in out else projects
    return out


def resource_group(resource_id: str) -> str:
    parts = resource_id.lower().split("/")
    return parts[parts.index("resourcegroups") + 1] if "resourcegroups" in parts[:-1] else ""


def derive(keys: Mapping[str, Any], cost_centers: Mapping[ProjectKey, str]) -> dict[str, Any]:
    """Add resource_group and cost_center to a spend row's keys, when their source is there."""
    out = dict(keys)
    if "resource" in keys:
        out["resource_group"] = resource_group(keys["resource"])
    if "project" in keys and "subscription" in keys:
        out["cost_center"] = cost_centers.get(project_key(str(keys["subscription"]), str(keys["project"])), "")
    return out


def _matches(value: Any, wanted: tuple[str, ...]) -> bool:
    return str(value).lower() in {w.lower() for w in wanted}


def regroup(
    rows: Iterable[Any],
    by: Sequence[str],
    filters: Iterable[tuple[str, tuple[str, ...]]],
    scope: tuple[str, ...] | None,
    cost_centers: Mapping[ProjectKey, str],
) -> list[dict[str, Any]]:
    """Filter `collector.read.spend.SpendRow`s (projects outside `scope` first) and sum them exactly by
    `by` and currency. Rows come sorted by `by`, then currency."""
    filters = list(filters)
    totals: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        keys = derive(row.keys, cost_centers)
        if scope is not None and str(keys.get("project", "")).lower() not in scope:
            continue
        if not all(_matches(row.currency if name == "currency" else keys[name], vs) for name, vs in filters):
            continue
        key = (*(keys[d] for d in by), row.currency)
        slot = totals.setdefault(key, [Decimal(0), False])
        slot[0] += row.cost
        slot[1] = slot[1] or row.estimated
    out = [
        {**dict(zip(by, key[:-1], strict=True)), "currency": key[-1], "cost": cost, "estimated": estimated}
        for key, (cost, estimated) in totals.items()
    ]
    return sorted(out, key=lambda r: (*(_sortable(r[d]) for d in by), r["currency"]))


def _sortable(value: Any) -> Any:
    return (0, value) if isinstance(value, date) else (1, str(value))


# --- month to date, forecast, budgets ---------------------------------------------------------


@dataclass(frozen=True)
class MonthFigures:
    currency: str
    month: date  # its first day
    as_of: date  # last day with cost data
    month_to_date: Decimal
    last_month_same_period: Decimal
    forecast: Decimal  # month-to-date / days with data x days in the month (as the budget alert)
    days_seen: int
    days_in_month: int
    estimated: bool

    @property
    def change(self) -> Decimal | None:
        if not self.last_month_same_period:
            return None
        return (self.month_to_date - self.last_month_same_period) / abs(self.last_month_same_period) * 100


def month_window(as_of: date) -> tuple[date, date, date, date]:
    """(this month's 1st, as_of, last month's 1st, the same day of last month or its last day)."""
    month = as_of.replace(day=1)
    previous = add_months(month, -1)
    last_day = calendar.monthrange(previous.year, previous.month)[1]
    return month, as_of, previous, previous.replace(day=min(as_of.day, last_day))


def month_figures(daily: Iterable[tuple[date, str, Decimal, bool]], as_of: date) -> list[MonthFigures]:
    """Per currency, from (day, currency, cost, estimated) rows covering last month's 1st to as_of."""
    month, _, previous, previous_end = month_window(as_of)
    days_in_month = calendar.monthrange(as_of.year, as_of.month)[1]
    days_seen = (as_of - month).days + 1
    mtd: dict[str, Decimal] = defaultdict(Decimal)
    before: dict[str, Decimal] = defaultdict(Decimal)
    estimated: dict[str, bool] = defaultdict(bool)
    for day, currency, cost, is_estimated in daily:
        if month <= day <= as_of:
            mtd[currency] += cost
            estimated[currency] |= is_estimated
        elif previous <= day <= previous_end:
            before[currency] += cost
    return [
        MonthFigures(
            currency=currency,
            month=month,
            as_of=as_of,
            month_to_date=mtd[currency],
            last_month_same_period=before[currency],
            forecast=mtd[currency] / days_seen * days_in_month,
            days_seen=days_seen,
            days_in_month=days_in_month,
            estimated=estimated[currency],
        )
        for currency in sorted(set(mtd) | set(before))
    ]


@dataclass(frozen=True)
class BudgetLine:
    scope: str
    name: str
    currency: str
    amount: Decimal
    spent: Decimal
    forecast: Decimal
    estimated: bool

    @property
    def share(self) -> Decimal:
        return self.spent / self.amount * 100

    @property
    def forecast_share(self) -> Decimal:
        return self.forecast / self.amount * 100

    @property
    def state(self) -> str:
        if self.spent >= self.amount:
            return "over budget"
        if self.forecast > self.amount:
            return "forecast over budget"
        return "on track"


def budget_lines(
    budgets: Iterable[Budget],
    totals: Mapping[tuple[str, str, str], tuple[Decimal, bool]],
    days_seen: int,
    days_in_month: int,
) -> list[BudgetLine]:
    out = []
    for budget in budgets:
        spent, estimated = totals.get((budget.scope, budget.name.lower(), budget.currency), (Decimal(0), False))
        out.append(
            BudgetLine(
                scope=budget.scope,
                name=budget.name,
                currency=budget.currency,
                amount=budget.amount,
                spent=spent,
                forecast=spent / days_seen * days_in_month,
                estimated=estimated,
            )
        )
    return out


def estimated_span(days: Iterable[tuple[date, bool]]) -> tuple[date, date] | None:
    """First and last estimated day (Azure restates them until the month closes), if any."""
    estimated = sorted(d for d, e in days if e)
    return (estimated[0], estimated[-1]) if estimated else None


# --- serverless usage: cost per million tokens ------------------------------------------------


@dataclass(frozen=True)
class TrafficDay:
    """One serverless deployment's traffic on one UTC day, from the hourly rollups."""

    deployment: str
    project: str
    model: str
    day: date
    input_tokens: int
    output_tokens: int
    total_tokens: int
    requests: int
    minutes: int  # minutes with data: 1,440 is a whole day
    peak_tpm: int


@dataclass(frozen=True)
class ServerlessUsage:
    """A project's serverless use of one model over whole days with both traffic and cost data."""

    project: str
    model: str
    deployments: tuple[str, ...]
    currency: str | None  # None: no spend attributed to this project and model
    days: tuple[date, ...]
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: Decimal | None
    peak_tpm: int
    note: str = ""

    @property
    def cost_per_million(self) -> Decimal | None:
        if self.cost is None or not self.total_tokens:
            return None
        return self.cost / self.total_tokens * 1_000_000


def serverless_usage(
    traffic: Iterable[TrafficDay],
    spend: Mapping[tuple[str, str, date], Mapping[str, Decimal]],
    last_cost_day: date | None,
) -> list[ServerlessUsage]:
    """Per (project, model): traffic and spend over the UTC days on which every deployment with traffic
    that day has all 1,440 minutes, up to the last day with cost data. `spend` maps (lower-case project,
    lower-case model, day) to {currency: cost} of the marketplace (SaaS) resources."""
    by_pair: dict[tuple[str, str], list[TrafficDay]] = defaultdict(list)
    for t in traffic:
        by_pair[(t.project, t.model)].append(t)
    out = []
    for (project, model), days in sorted(by_pair.items()):
        per_day: dict[date, list[TrafficDay]] = defaultdict(list)
        for t in days:
            per_day[t.day].append(t)
        whole = sorted(
            d
            for d, ts in per_day.items()
            if last_cost_day is not None and d <= last_cost_day and all(t.minutes >= MINUTES_PER_DAY for t in ts)
        )
        used = [t for d in whole for t in per_day[d]]
        costs: dict[str, Decimal] = defaultdict(Decimal)
        for d in whole:
            for currency, cost in spend.get((project.lower(), model.lower(), d), {}).items():
                costs[currency] += cost
        deployments = tuple(sorted({t.deployment for t in days}))
        peak_by_deployment: dict[str, int] = defaultdict(int)
        for t in used:
            peak_by_deployment[t.deployment] = max(peak_by_deployment[t.deployment], t.peak_tpm)
        note = ""
        if not whole:
            note = "no whole UTC day of traffic with cost data yet"
        elif not costs:
            note = "no spend attributed to this project and model on those days (see unattributed spend)"
        elif len(costs) > 1:
            note = f"spend in several currencies ({', '.join(sorted(costs))}): not divided"
        single = next(iter(costs)) if len(costs) == 1 else None
        out.append(
            ServerlessUsage(
                project=project,
                model=model,
                deployments=deployments,
                currency=single,
                days=tuple(whole),
                input_tokens=sum(t.input_tokens for t in used),
                output_tokens=sum(t.output_tokens for t in used),
                total_tokens=sum(t.total_tokens for t in used),
                cost=costs[single] if single else None,
                peak_tpm=sum(peak_by_deployment.values()),
                note=note,
            )
        )
    return out


# --- serverless vs managed --------------------------------------------------------------------


@dataclass(frozen=True)
class VmOffer:
    """The managed-compute VMs that would carry a model, and where that choice comes from."""

    vm_size: str
    instances: int
    tpm_per_instance: int | None
    source: str


@dataclass(frozen=True)
class VmPrice:
    hourly: Decimal  # one instance-hour
    currency: str
    source: str


@dataclass(frozen=True)
class Comparison:
    model: str
    currency: str
    projects: tuple[str, ...]
    days: int  # whole days measured (the most of any project)
    tokens_per_day: Decimal
    serverless_per_day: Decimal
    cost_per_million: Decimal | None
    peak_tpm: int
    vm_size: str | None = None
    instances: int | None = None
    vm_per_day: Decimal | None = None
    breakeven_tokens_per_day: Decimal | None = None
    verdict: str = ""
    assumptions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def serverless_per_month(self) -> Decimal:
        return self.serverless_per_day * HOURS_PER_MONTH / 24

    @property
    def vm_per_month(self) -> Decimal | None:
        return None if self.vm_per_day is None else self.vm_per_day * HOURS_PER_MONTH / 24

    @property
    def breakeven_multiple(self) -> Decimal | None:
        if self.breakeven_tokens_per_day is None or not self.tokens_per_day:
            return None
        return self.breakeven_tokens_per_day / self.tokens_per_day


def compare(
    model: str,
    currency: str,
    usages: Sequence[ServerlessUsage],
    offer: VmOffer | None,
    price: VmPrice | None,
) -> Comparison:
    """What the measured serverless traffic of a model costs against the VMs that could carry it, and
    the traffic at which both cost the same. Says what is missing instead of guessing it."""
    measured = [u for u in usages if u.cost is not None and u.currency == currency and u.days and u.total_tokens]
    tokens_per_day = sum((Decimal(u.total_tokens) / len(u.days) for u in measured), Decimal(0))
    cost_per_day = sum(((u.cost or Decimal(0)) / len(u.days) for u in measured), Decimal(0))
    peak = sum(u.peak_tpm for u in measured)
    per_token = cost_per_day / tokens_per_day if tokens_per_day else None
    base = Comparison(
        model=model,
        currency=currency,
        projects=tuple(sorted({u.project for u in measured})),
        days=max((len(u.days) for u in measured), default=0),
        tokens_per_day=tokens_per_day,
        serverless_per_day=cost_per_day,
        cost_per_million=None if per_token is None else per_token * 1_000_000,
        peak_tpm=peak,
    )
    assumptions = [
        "serverless: the measured cost per token (your input/output mix) over whole UTC days, "
        "estimated days included; it scales linearly with traffic",
        "traffic: Azure Monitor token counts of the serverless deployments of this model, summed; "
        "peak = sum of each deployment's busiest minute (an upper bound for one shared deployment)",
    ]
    if per_token is None:
        notes = sorted({u.note for u in usages if u.note})
        why = notes[0] if len(notes) == 1 else "no whole day of serverless traffic with attributed spend yet"
        return _with(base, f"not compared: {why}", assumptions)
    if offer is None:
        return _with(
            base,
            f'not compared: no VM is known to carry {model}; add [dashboard.managed_options."{model}"] '
            "vm_size and instances",
            assumptions,
        )
    instances = offer.instances
    if offer.tpm_per_instance:
        instances = max(instances, math.ceil(peak / offer.tpm_per_instance))
        assumptions.append(
            f"capacity: {offer.tpm_per_instance:,} tokens/min per instance ({offer.source}), "
            f"so {instances} instance(s) for a peak of {peak:,} tokens/min"
        )
    else:
        assumptions.append(
            f"capacity NOT checked: {instances} instance(s) of {offer.vm_size} ({offer.source}) assumed to carry "
            f"a peak of {peak:,} tokens/min; set tpm_per_instance from a load test to check it"
        )
    base = Comparison(**{**base.__dict__, "vm_size": offer.vm_size, "instances": instances})
    if price is None:
        return _with(
            base,
            f"not compared: no price for {offer.vm_size}; add it to [dashboard] vm_hourly_prices",
            assumptions,
        )
    if price.currency != currency:
        return _with(
            base,
            f"not compared: the {offer.vm_size} price is in {price.currency}, this spend in {currency}",
            assumptions,
        )
    vm_per_day = price.hourly * 24 * instances
    assumptions.append(
        f"managed: {instances} x {offer.vm_size} at {unit_price(price.hourly, currency)}/hour ({price.source}), "
        "running 24x7 (730 h a month), no reservation or savings plan; storage, egress and your "
        "team's operating time not counted"
    )
    breakeven = vm_per_day / per_token
    if vm_per_day < cost_per_day:
        verdict = (
            f"managed would cost less at today's traffic: {money(vm_per_day * HOURS_PER_MONTH / 24, currency)} "
            f"a month against {money(base.serverless_per_month, currency)} serverless"
        )
    else:
        verdict = (
            f"serverless costs less: managed breaks even at {breakeven / tokens_per_day:.1f}x today's traffic "
            f"({breakeven:,.0f} tokens a day, about {breakeven / MINUTES_PER_DAY:,.0f} tokens/min on average)"
        )
    return _with(
        Comparison(**{**base.__dict__, "vm_per_day": vm_per_day, "breakeven_tokens_per_day": breakeven}),
        verdict,
        assumptions,
    )


def _with(base: Comparison, verdict: str, assumptions: list[str]) -> Comparison:
    return Comparison(**{**base.__dict__, "verdict": verdict, "assumptions": tuple(assumptions)})


def measured_vm_prices(
    rows: Iterable[tuple[str, str, Decimal, Decimal]], sizes: Mapping[str, str]
) -> dict[tuple[str, str], VmPrice]:
    """(VM size lower-case, currency) -> price of one instance-hour, from your own managed-compute bill:
    `rows` are (endpoint resource, currency, cost, hours) of Virtual Machines meters; `sizes` maps an
    endpoint to the VM size of all its deployments."""
    sums: dict[tuple[str, str], list[Decimal]] = {}
    for resource, currency, cost, hours in rows:
        size = sizes.get(resource)
        if not size or not hours:
            continue
        slot = sums.setdefault((size.lower(), currency), [Decimal(0), Decimal(0)])
        slot[0] += cost
        slot[1] += hours
    return {
        key: VmPrice(cost / hours, key[1], f"measured on your bill: {money(cost, key[1])} for {hours:,} instance-hours")
        for key, (cost, hours) in sums.items()
        if hours > 0 and cost > 0
    }


def vm_cores(vm_size: str) -> int | None:
    """vCPUs from an Azure VM size name (`Standard_NC24ads_A100_v4` -> 24), the naming convention."""
    found = re.match(r"^(?:Standard_|Basic_)?[A-Za-z]+?(\d+)", vm_size)
    return int(found.group(1)) if found else None


def day_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
