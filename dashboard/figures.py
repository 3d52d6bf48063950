"""The dashboard's arithmetic, as pure functions over rows the query layer read: exact (Decimal) sums,
never across currencies; month-to-date, forecast and budgets; cost per million tokens per offer
(serverless, or a Foundry deployment type); pay-per-token against managed compute, and provisioned
throughput against Foundry standard, each with its break-even traffic.
"""

from __future__ import annotations

import calendar
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from collector.foundry_models import is_provisioned
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


# --- token usage: cost per million tokens -----------------------------------------------------

SERVERLESS = "serverless"  # a Marketplace deployment's offer; a Foundry one's is its type (sku.name)


def offer_label(offer: str) -> str:
    """How an offer is named to users: serverless, Foundry GlobalStandard, Foundry GlobalProvisionedManaged."""
    return offer if offer == SERVERLESS else f"Foundry {offer}"


@dataclass(frozen=True)
class TrafficDay:
    """One serverless or Foundry deployment's traffic on one UTC day, from the hourly rollups."""

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
    offer: str = SERVERLESS


@dataclass(frozen=True)
class TokenUsage:
    """A project's use of one model through one offer (serverless, or a Foundry deployment type) over
    whole days with both traffic and cost data."""

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
    offer: str = SERVERLESS

    @property
    def provisioned(self) -> bool:
        return is_provisioned(self.offer)

    @property
    def cost_per_million(self) -> Decimal | None:
        if self.cost is None or not self.total_tokens:
            return None
        return self.cost / self.total_tokens * 1_000_000


def token_usage(
    traffic: Iterable[TrafficDay],
    spend: Mapping[tuple[str, str, str, date], Mapping[str, Decimal]],
    last_cost_day: date | None,
) -> list[TokenUsage]:
    """Per (project, model, offer): traffic and spend over the UTC days on which every deployment with
    traffic that day has all 1,440 minutes, up to the last day with cost data. `spend` maps (lower-case
    project, lower-case model, offer, day) to {currency: cost}: of the marketplace (SaaS) resources for
    serverless, of the Foundry meters of that deployment type for a Foundry offer."""
    by_pair: dict[tuple[str, str, str], list[TrafficDay]] = defaultdict(list)
    for t in traffic:
        by_pair[(t.project, t.model, t.offer)].append(t)
    out = []
    for (project, model, offer), days in sorted(by_pair.items()):
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
            for currency, cost in spend.get((project.lower(), model.lower(), offer, d), {}).items():
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
            TokenUsage(
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
                offer=offer,
            )
        )
    return out


# --- pay per token against managed compute, provisioned against standard ---------------------


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
    """A model's measured pay-per-token use of one offer (serverless or a Foundry standard type)
    against the managed-compute VMs that could carry it."""

    model: str
    currency: str
    projects: tuple[str, ...]
    days: int  # whole days measured (the most of any project)
    tokens_per_day: Decimal
    pay_per_day: Decimal  # what the tokens cost a day at the measured cost per token
    cost_per_million: Decimal | None
    peak_tpm: int
    offer: str = SERVERLESS
    vm_size: str | None = None
    instances: int | None = None
    vm_per_day: Decimal | None = None
    breakeven_tokens_per_day: Decimal | None = None
    verdict: str = ""
    assumptions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def pay_per_month(self) -> Decimal:
        return self.pay_per_day * HOURS_PER_MONTH / 24

    @property
    def vm_per_month(self) -> Decimal | None:
        return None if self.vm_per_day is None else self.vm_per_day * HOURS_PER_MONTH / 24

    @property
    def breakeven_multiple(self) -> Decimal | None:
        if self.breakeven_tokens_per_day is None or not self.tokens_per_day:
            return None
        return self.breakeven_tokens_per_day / self.tokens_per_day


@dataclass(frozen=True)
class _Measured:
    """Tokens and cost a day of some usages in one currency (each usage's own days averaged, summed)."""

    usages: tuple[TokenUsage, ...]
    tokens_per_day: Decimal
    cost_per_day: Decimal

    @property
    def per_token(self) -> Decimal | None:
        return self.cost_per_day / self.tokens_per_day if self.tokens_per_day else None


def _measured(usages: Iterable[TokenUsage], currency: str) -> _Measured:
    kept = tuple(u for u in usages if u.cost is not None and u.currency == currency and u.days and u.total_tokens)
    return _Measured(
        kept,
        sum((Decimal(u.total_tokens) / len(u.days) for u in kept), Decimal(0)),
        sum(((u.cost or Decimal(0)) / len(u.days) for u in kept), Decimal(0)),
    )


def _missing(usages: Sequence[TokenUsage], fallback: str) -> str:
    notes = sorted({u.note for u in usages if u.note})
    return notes[0] if len(notes) == 1 else fallback


def compare(
    model: str,
    currency: str,
    usages: Sequence[TokenUsage],
    offer: VmOffer | None,
    price: VmPrice | None,
) -> Comparison:
    """What the measured pay-per-token traffic of a model (one offer) costs against the VMs that could
    carry it, and the traffic at which both cost the same. Says what is missing instead of guessing it."""
    label = offer_label(usages[0].offer) if usages else SERVERLESS
    measured = _measured(usages, currency)
    tokens_per_day, cost_per_day, per_token = measured.tokens_per_day, measured.cost_per_day, measured.per_token
    peak = sum(u.peak_tpm for u in measured.usages)
    base = Comparison(
        model=model,
        currency=currency,
        projects=tuple(sorted({u.project for u in measured.usages})),
        days=max((len(u.days) for u in measured.usages), default=0),
        tokens_per_day=tokens_per_day,
        pay_per_day=cost_per_day,
        cost_per_million=None if per_token is None else per_token * 1_000_000,
        peak_tpm=peak,
        offer=usages[0].offer if usages else SERVERLESS,
    )
    assumptions = [
        f"{label}: the measured cost per token (your input/output mix) over whole UTC days, "
        "estimated days included; it scales linearly with traffic",
        f"traffic: Azure Monitor token counts of the {label} deployments of this model, summed; "
        "peak = sum of each deployment's busiest minute (an upper bound for one shared deployment)",
    ]
    if per_token is None:
        why = _missing(usages, f"no whole day of {label} traffic with attributed spend yet")
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
    base = replace(base, vm_size=offer.vm_size, instances=instances)
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
            f"a month against {money(base.pay_per_month, currency)} {label}"
        )
    else:
        verdict = (
            f"{label} costs less: managed breaks even at {breakeven / tokens_per_day:.1f}x today's traffic "
            f"({breakeven:,.0f} tokens a day, about {breakeven / MINUTES_PER_DAY:,.0f} tokens/min on average)"
        )
    return _with(
        replace(base, vm_per_day=vm_per_day, breakeven_tokens_per_day=breakeven),
        verdict,
        assumptions,
    )


@dataclass(frozen=True)
class ProvisionedComparison:
    """A project's provisioned deployments of a model (one type) against the same tokens at the
    model's measured Foundry standard cost per token."""

    project: str
    model: str
    offer: str  # GlobalProvisionedManaged | DataZoneProvisionedManaged | ProvisionedManaged
    currency: str
    days: int
    tokens_per_day: Decimal
    provisioned_per_day: Decimal  # the PTU hours' cost a day
    cost_per_million: Decimal | None  # provisioned, at today's traffic
    standard_offer: str = ""  # the standard type priced against, or ""
    standard_per_million: Decimal | None = None
    breakeven_tokens_per_day: Decimal | None = None
    verdict: str = ""
    assumptions: tuple[str, ...] = ()

    @property
    def provisioned_per_month(self) -> Decimal:
        return self.provisioned_per_day * HOURS_PER_MONTH / 24

    @property
    def standard_per_month(self) -> Decimal | None:
        if self.standard_per_million is None:
            return None
        return self.tokens_per_day * self.standard_per_million / 1_000_000 * HOURS_PER_MONTH / 24

    @property
    def breakeven_multiple(self) -> Decimal | None:
        if self.breakeven_tokens_per_day is None or not self.tokens_per_day:
            return None
        return self.breakeven_tokens_per_day / self.tokens_per_day


# A provisioned type's standard kin: same data boundary (Learn, "deployment types").
_STANDARD_OF = {
    "GlobalProvisionedManaged": "GlobalStandard",
    "DataZoneProvisionedManaged": "DataZoneStandard",
    "ProvisionedManaged": "Standard",
}


def compare_provisioned(provisioned: TokenUsage, standard: Sequence[TokenUsage]) -> ProvisionedComparison:
    """What a provisioned use's PTU hours cost against its tokens at the model's measured Foundry
    standard cost per token (every visible project's standard use of the model, in the same currency,
    of the same data boundary where there is one), and the traffic at which both cost the same."""
    label = offer_label(provisioned.offer)
    currency = provisioned.currency or ""
    mine = _measured([provisioned], currency)
    base = ProvisionedComparison(
        project=provisioned.project,
        model=provisioned.model,
        offer=provisioned.offer,
        currency=currency,
        days=len(mine.usages[0].days) if mine.usages else 0,
        tokens_per_day=mine.tokens_per_day,
        provisioned_per_day=mine.cost_per_day,
        cost_per_million=None if mine.per_token is None else mine.per_token * 1_000_000,
    )
    assumptions = [
        f"{label}: the PTU hours billed for this model's provisioned deployments over whole UTC days, "
        "at the hourly rate (no reservation), whatever the traffic",
        "traffic: Azure Monitor token counts of those deployments; the PTUs serve at most 100% utilization "
        "(the Headroom tab shows its peak), so more traffic may need more PTUs",
    ]
    if mine.per_token is None:
        why = _missing([provisioned], f"no whole day of {label} traffic with PTU spend yet")
        return _with(base, f"not compared: {why}", assumptions)
    model = provisioned.model.lower()
    peers = [u for u in standard if u.model.lower() == model and not u.provisioned]
    kin = [u for u in peers if u.offer == _STANDARD_OF.get(provisioned.offer)]
    priced = _measured(kin or peers, currency)
    if priced.per_token is None:
        return _with(
            base,
            f"not compared: no Foundry standard traffic of {provisioned.model} with spend in {currency} "
            "to price its tokens at",
            assumptions,
        )
    offers = sorted({u.offer for u in priced.usages})
    assumptions.append(
        f"standard: the measured cost per token of {provisioned.model} on {', '.join(offers)} "
        f"({', '.join(sorted({u.project for u in priced.usages}))}), your input/output mix there"
    )
    standard_per_day = mine.tokens_per_day * priced.per_token
    breakeven = mine.cost_per_day / priced.per_token
    if mine.cost_per_day <= standard_per_day:
        verdict = (
            f"provisioned costs less: {money(base.provisioned_per_month, currency)} a month against "
            f"{money(standard_per_day * HOURS_PER_MONTH / 24, currency)} for the same tokens on standard"
        )
    else:
        verdict = (
            f"standard would cost less at today's traffic: {money(standard_per_day * HOURS_PER_MONTH / 24, currency)} "
            f"a month against {money(base.provisioned_per_month, currency)} provisioned; the PTUs would break "
            f"even at {breakeven / mine.tokens_per_day:.1f}x today's traffic ({breakeven:,.0f} tokens a day), "
            "if they can carry it (their utilization: Headroom tab)"
        )
    return _with(
        replace(
            base,
            standard_offer=", ".join(offers),
            standard_per_million=priced.per_token * 1_000_000,
            breakeven_tokens_per_day=breakeven,
        ),
        verdict,
        assumptions,
    )


_Verdicted = TypeVar("_Verdicted", Comparison, ProvisionedComparison)


def _with(base: _Verdicted, verdict: str, assumptions: list[str]) -> _Verdicted:
    return replace(base, verdict=verdict, assumptions=tuple(assumptions))


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
