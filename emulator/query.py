"""The Cost Management Query API over the tenant's cost records: validation and aggregation.

Validation follows what Azure answers (400 "Invalid query definition: ..."); aggregation is
exact Decimal; rows come sorted so that pages cut from them are stable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

from .costs import CostRecord, add_months, months_between

# Canonical spelling of each dimension, looked up case-insensitively.
DIMENSIONS: dict[str, str] = {
    name.lower(): name
    for name in (
        "ResourceId",
        "ResourceGroup",
        "ResourceGroupName",
        "ResourceType",
        "ResourceLocation",
        "Meter",
        "MeterId",
        "MeterCategory",
        "MeterSubcategory",
        "ChargeType",
        "PublisherType",
        "ServiceName",
        "SubscriptionId",
    )
}
# The CostRecord attribute behind each grouping dimension.
_ATTRIBUTE = {
    "ResourceId": "resource_id",
    "ResourceGroup": "resource_group",
    "ResourceGroupName": "resource_group",
    "ResourceType": "resource_type",
    "ResourceLocation": "resource_location",
    "Meter": "meter",
    "MeterId": "meter_id",
    "MeterCategory": "meter_category",
    "MeterSubcategory": "meter_subcategory",
    "ChargeType": "charge_type",
    "PublisherType": "publisher_type",
    "ServiceName": "service_name",
    "SubscriptionId": "subscription_id",
}
_FIELD: dict[str, Callable[[CostRecord], str]] = {name: attrgetter(a) for name, a in _ATTRIBUTE.items()}
QUERY_TYPES = {t.lower(): t for t in ("ActualCost", "AmortizedCost", "Usage")}
# Cost columns in the billing currency, cost converted to USD, and quantity.
AGGREGATIONS = {a.lower(): a for a in ("Cost", "PreTaxCost", "CostUSD", "PreTaxCostUSD", "UsageQuantity")}
USD_PER_EUR = Decimal("1.08")  # fixed rate behind the *USD aggregations of the EUR subscription
_TEN_PLACES = Decimal("1E-10")
MAX_DAYS = 366  # Azure: "The time period for pulling the data cannot exceed 1 year(s)"


class QueryError(ValueError):
    """An invalid query definition (HTTP 400 BadRequest)."""


@dataclass(frozen=True)
class QueryPlan:
    query_type: str
    date_from: date
    date_to: date
    daily: bool
    aggregations: tuple[str, ...]  # canonical aggregation names, in request order
    groupings: tuple[str, ...]  # canonical dimension names, in request order
    filter: Mapping[str, Any] | None

    @property
    def months(self) -> int:
        """Calendar months touched: what the query costs in QPU (at least 1)."""
        return max(1, len(months_between(self.date_from, self.date_to)))

    @property
    def columns(self) -> list[tuple[str, str]]:
        """In Azure's order: the figures, UsageDate, the groups, Currency (the recorded grouped query of
        Azure/azure-cli-extensions test_data_grouping_in_subscription_scopde.yaml reads PreTaxCost,
        UsageDate, ResourceGroup, Currency)."""
        cols = [(a, "Number") for a in self.aggregations]
        if self.daily:
            cols.append(("UsageDate", "Number"))
        cols += [(g, "String") for g in self.groupings]
        cols.append(("Currency", "String"))
        return cols


def _bad(message: str) -> QueryError:
    return QueryError(f"Invalid query definition: {message}")


def _parse_day(value: Any, what: str) -> date:
    if not isinstance(value, str):
        raise _bad(f"timePeriod.{what} must be an ISO 8601 date-time")
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        raise _bad(f"timePeriod.{what} '{value}' is not a valid date-time") from None


def _period(body: Mapping[str, Any], today: date) -> tuple[date, date]:
    timeframe = body.get("timeframe")
    if not isinstance(timeframe, str):
        raise _bad("timeframe is required")
    kind = timeframe.lower()
    if kind == "custom":
        period = body.get("timePeriod")
        if not isinstance(period, Mapping):
            raise _bad("timePeriod is required when timeframe is Custom")
        date_from, date_to = _parse_day(period.get("from"), "from"), _parse_day(period.get("to"), "to")
        if date_to < date_from:
            raise _bad("timePeriod.to must not be before timePeriod.from")
        if (date_to - date_from).days >= MAX_DAYS:
            raise _bad("The time period for pulling the data cannot exceed 1 year(s)")
        return date_from, date_to
    if kind in ("monthtodate", "billingmonthtodate"):
        return today.replace(day=1), today
    if kind in ("thelastmonth", "thelastbillingmonth"):
        first = add_months(today, -1)
        return first, today.replace(day=1) - timedelta(days=1)
    if kind == "weektodate":
        return today - timedelta(days=today.weekday()), today
    raise _bad(f"timeframe '{timeframe}' is not supported")


def _aggregations(dataset: Mapping[str, Any]) -> tuple[str, ...]:
    raw = dataset.get("aggregation")
    if raw is None:
        return ("PreTaxCost",)  # what Azure answers when no aggregation is asked for
    if not isinstance(raw, Mapping) or not raw:
        raise _bad("dataset.aggregation must map aliases to {name, function}")
    names = []
    for alias, spec in raw.items():
        if not isinstance(spec, Mapping):
            raise _bad(f"aggregation '{alias}' must be an object")
        name = AGGREGATIONS.get(str(spec.get("name", "")).lower())
        if name is None:
            raise _bad(f"aggregation '{alias}' has an unknown column '{spec.get('name')}'")
        if str(spec.get("function", "")).lower() != "sum":
            raise _bad(f"aggregation '{alias}' function must be 'Sum'")
        names.append(name)
    return tuple(names)


def _groupings(dataset: Mapping[str, Any], max_groupings: int) -> tuple[str, ...]:
    raw = dataset.get("grouping") or []
    if not isinstance(raw, list):
        raise _bad("dataset.grouping must be a list")
    if len(raw) > max_groupings:
        raise _bad(f"Grouping count {len(raw)} is more than the maximum {max_groupings}")
    out: list[str] = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise _bad("each grouping must be an object {type, name}")
        kind = str(item.get("type", ""))
        if kind.lower() == "tagkey":
            raise _bad("grouping by TagKey is not supported by this emulator")
        if kind.lower() != "dimension":
            raise _bad(f"grouping type '{kind}' is invalid")
        name = DIMENSIONS.get(str(item.get("name", "")).lower())
        if name is None:
            raise _bad(f"Dimension '{item.get('name')}' is invalid")
        if name in out:
            raise _bad(f"Dimension '{name}' is grouped more than once")
        out.append(name)
    return tuple(out)


def _check_filter(node: Any) -> None:
    if not isinstance(node, Mapping) or len(node) != 1:
        raise _bad("a filter node must have exactly one of and, or, not, dimensions, tags")
    ((key, value),) = node.items()
    key = key.lower()
    if key in ("and", "or"):
        if not isinstance(value, list) or len(value) < 2:
            raise _bad(f"filter '{key}' needs at least two expressions")
        for child in value:
            _check_filter(child)
    elif key == "not":
        _check_filter(value)
    elif key in ("dimensions", "tags"):
        if not isinstance(value, Mapping) or not isinstance(value.get("values"), list):
            raise _bad(f"filter '{key}' needs name, operator and values")
        if key == "dimensions" and str(value.get("name", "")).lower() not in DIMENSIONS:
            raise _bad(f"Dimension '{value.get('name')}' is invalid")
        if str(value.get("operator", "")).lower() not in ("in", "contains"):
            raise _bad(f"filter operator '{value.get('operator')}' is not supported")
    else:
        raise _bad(f"unknown filter expression '{key}'")


def parse_query(body: Any, today: date, max_groupings: int) -> QueryPlan:
    """Validate a query definition like Azure does; raises QueryError."""
    if not isinstance(body, Mapping):
        raise _bad("the body must be a JSON object")
    query_type = QUERY_TYPES.get(str(body.get("type", "")).lower())
    if query_type is None:
        raise _bad(f"type '{body.get('type')}' must be one of ActualCost, AmortizedCost, Usage")
    date_from, date_to = _period(body, today)
    dataset = body.get("dataset")
    if not isinstance(dataset, Mapping):
        raise _bad("dataset is required")
    granularity = dataset.get("granularity", "None")
    if not isinstance(granularity, str) or granularity.lower() not in ("daily", "none"):
        raise _bad(f"granularity '{granularity}' must be Daily or None")
    filter_node = dataset.get("filter")
    if filter_node is not None:
        _check_filter(filter_node)
    return QueryPlan(
        query_type=query_type,
        date_from=date_from,
        date_to=date_to,
        daily=granularity.lower() == "daily",
        aggregations=_aggregations(dataset),
        groupings=_groupings(dataset, max_groupings),
        filter=filter_node,
    )


def fingerprint(scope: str, body: Any) -> str:
    """Identifies a query across its pages (a skiptoken is only valid for the same query)."""
    canonical = json.dumps([scope.lower(), body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _matches(node: Mapping[str, Any], record: CostRecord, tags: Callable[[str], Mapping[str, str]]) -> bool:
    ((key, value),) = node.items()
    key = key.lower()
    if key == "and":
        return all(_matches(child, record, tags) for child in value)
    if key == "or":
        return any(_matches(child, record, tags) for child in value)
    if key == "not":
        return not _matches(value, record, tags)
    wanted = [str(v).lower() for v in value["values"]]
    if key == "dimensions":
        actual: str | None = _FIELD[DIMENSIONS[str(value["name"]).lower()]](record)
    else:
        lowered = {k.lower(): v for k, v in tags(record.resource_id).items()}
        actual = lowered.get(str(value["name"]).lower())
    if actual is None:
        return False
    if str(value["operator"]).lower() == "contains":
        return any(w in actual.lower() for w in wanted)
    return actual.lower() in wanted


def execute(
    plan: QueryPlan,
    records: Iterable[CostRecord],
    tags: Callable[[str], Mapping[str, str]],
) -> list[list[Any]]:
    """Aggregated rows in column order (see QueryPlan.columns), sorted deterministically."""
    # One C call per record for its key (the groups, the day when daily, the currency) and one for
    # the figures it adds: this loop is the emulator's time on a large answer.
    day = ("usage_date",) if plan.daily else ()
    names = [*(_ATTRIBUTE[g] for g in plan.groupings), *day, "currency"]
    key_of = attrgetter(*names) if len(names) > 1 else lambda record: (record.currency,)  # always a tuple
    in_usd = [name.endswith("USD") for name in plan.aggregations]
    figures_of = attrgetter(*("quantity" if n == "UsageQuantity" else "cost" for n in plan.aggregations), "currency")
    sums: dict[tuple[Any, ...], list[Decimal]] = {}
    for record in records:
        if plan.filter is not None and not _matches(plan.filter, record, tags):
            continue
        key = key_of(record)
        *figures, currency = figures_of(record)
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [Decimal(0)] * len(figures)
        for i, value in enumerate(figures):
            acc[i] += value * USD_PER_EUR if in_usd[i] and currency != "USD" else value
    rows: list[list[Any]] = []
    groups = len(plan.groupings)
    for key in sorted(sums, key=_row_order(plan)):
        values = [v.quantize(_TEN_PLACES) if usd else v for usd, v in zip(in_usd, sums[key], strict=True)]
        if plan.daily:
            when: date = key[groups]
            key = (when.year * 10000 + when.month * 100 + when.day, *key[:groups], key[groups + 1])
        rows.append([*values, *key])
    return rows


def _row_order(plan: QueryPlan) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    # Day first (Azure returns daily rows in date order), then the groups, then currency.
    if plan.daily:
        n = len(plan.groupings)
        return lambda key: (key[n], *key[:n], key[n + 1])
    return lambda key: key


def shuffled(
    columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
) -> tuple[list[tuple[str, str]], list[list[Any]]]:
    """The same answer with the columns reversed: clients must map rows by column name."""
    order = list(range(len(columns)))[::-1]
    return [columns[i] for i in order], [[row[i] for i in order] for row in rows]
