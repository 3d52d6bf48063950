"""Daily per-resource, per-meter costs from the Cost Management Query API.

The dataset is declared here: its natural key (models.COST_ROW_KEY), its window (re-pulled each run
because Azure restates open months), its chunks (one per scope and month: 1 QPU each, and a unit that
is written, or not, in one transaction) and its row parser, which keeps every row it can and counts,
with a reason, every one it cannot.
"""

from __future__ import annotations

import functools
import logging
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from collector.azure.arm import AzureCallError
from collector.azure.cost_query import QueryPage
from collector.db.models import COST_ROW_KEY
from collector.settings import MAX_GROUPINGS, CostSettings, add_months, is_final, month_start

log = logging.getLogger(__name__)

COST_COLUMNS = ("cost", "pretaxcost")  # ActualCost/AmortizedCost answer "Cost"; Usage answers "PreTaxCost"
QUANTITY_COLUMN = "usagequantity"
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Query dimension -> cost_rows column it fills. Dimensions not listed are queried but not stored.
DIMENSION_COLUMNS = {
    "resourceid": "resource_id",
    "meter": "meter",
    "meterid": "meter_id",
    "metercategory": "meter_category",
    "metersubcategory": "meter_subcategory",
    "chargetype": "charge_type",
}
TEXT_COLUMNS = tuple(DIMENSION_COLUMNS.values())
# Cost data carries resource IDs lower-cased, each under its subscription (azure-facts.md section 1).
_SUBSCRIPTION_OF_RESOURCE = re.compile(r"^/subscriptions/([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})(/|$)")
UNPLACED = "no subscription: no SubscriptionId column and the ResourceId is not under /subscriptions/"


@dataclass(frozen=True)
class Chunk:
    """One scope and one stretch of days (at most a calendar month), fetched and stored as a unit.
    At a wide scope (billing account, billing profile, management group) `subscription_id` is "":
    the answer spans many subscriptions and each row says its own."""

    scope: str
    subscription_id: str
    first: date
    last: date

    @property
    def wide(self) -> bool:
        return not self.subscription_id

    def of(self, subscription_id: str) -> Chunk:
        """The same stretch of days, for one subscription at its own scope."""
        return Chunk(f"/subscriptions/{subscription_id}", subscription_id, self.first, self.last)


def month_chunks(scope: str, subscription_id: str, since: date, until: date) -> list[Chunk]:
    chunks, start = [], since
    while start <= until:
        end = min(add_months(month_start(start), 1) - timedelta(days=1), until)
        chunks.append(Chunk(scope, subscription_id, start, end))
        start = end + timedelta(days=1)
    return chunks


def grouping_for(chunk: Chunk, settings: CostSettings) -> list[str]:
    """The configured grouping; at a wide scope plus SubscriptionId while the API's 5 groupings leave
    room. With all 5 taken (the default), each row's subscription is read from its ResourceId instead,
    which always lies under it."""
    grouping = list(settings.grouping)
    if chunk.wide and "SubscriptionId" not in grouping and len(grouping) < MAX_GROUPINGS:
        grouping.append("SubscriptionId")
    return grouping


def query_body(chunk: Chunk, settings: CostSettings) -> dict[str, Any]:
    return {
        "type": settings.cost_type,
        "timeframe": "Custom",
        "timePeriod": {"from": f"{chunk.first}T00:00:00+00:00", "to": f"{chunk.last}T23:59:59+00:00"},
        "dataset": {
            "granularity": "Daily",
            "aggregation": {
                "totalCost": {"name": "Cost", "function": "Sum"},
                "totalQuantity": {"name": "UsageQuantity", "function": "Sum"},
            },
            "grouping": [{"type": "Dimension", "name": name} for name in grouping_for(chunk, settings)],
        },
    }


@dataclass
class ParsedRows:
    rows: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    rejected: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    # Per subscription ("" when the row's subscription is unknown): what a chunk of it lost.
    rejected_in: dict[str, int] = field(default_factory=dict)
    shared: dict[str, str] = field(default_factory=dict)  # one copy of each repeated text (see _parse_row)

    def by_subscription(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for row in self.rows.values():
            out.setdefault(row["subscription_id"], []).append(row)
        return out

    def reject(self, reason: str, raw: Any, what: str, subscription_id: str = "") -> None:
        self.rejected += 1
        self.rejected_in[subscription_id] = self.rejected_in.get(subscription_id, 0) + 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if self.reasons[reason] <= 5:  # the first few of each kind in full; the count says the rest
            log.warning("%s: rejected a row (%s): %r", what, reason, raw)


_natural_key = operator.itemgetter(*COST_ROW_KEY)  # a record's key tuple, in one C call per row


def parse_pages(pages: Iterable[QueryPage], chunk: Chunk, settings: CostSettings, today: date, what: str) -> ParsedRows:
    """Rows keyed by natural key. A row Azure sends twice (a page repeated) is kept once, and logged."""
    out = ParsedRows()
    for page in pages:
        index = _column_index(page.columns, what)
        for raw in page.rows:
            record = _parse_row(raw, index, chunk, settings, today, out, what)
            if record is None:
                continue
            key = _natural_key(record)
            if key in out.rows:
                out.duplicates += 1
                log.warning("%s: row for %s came twice (page overlap?); kept once: %r", what, key, raw)
                continue
            out.rows[key] = record
    return out


def _column_index(columns: list[str], what: str) -> dict[str, int]:
    index = {name.lower(): i for i, name in enumerate(columns)}
    cost = next((c for c in COST_COLUMNS if c in index), None)
    missing = [name for name in ("usagedate", "currency", "resourceid") if name not in index]
    if cost is None or missing:
        expected = "Cost (or PreTaxCost), UsageDate, Currency, ResourceId"
        raise AzureCallError(f"{what}: expected columns {expected}; the answer has {columns}")
    index["__cost__"] = index[cost]
    return index


def _parse_row(
    raw: Any,
    index: dict[str, int],
    chunk: Chunk,
    settings: CostSettings,
    today: date,
    out: ParsedRows,
    what: str,
) -> dict[str, Any] | None:
    if not isinstance(raw, list) or len(raw) < len(index) - 1:
        out.reject("row is not a list of one value per column", raw, what, chunk.subscription_id)
        return None
    subscription_id = chunk.subscription_id or _subscription_of(raw, index)
    if not subscription_id:
        out.reject(UNPLACED, raw, what)
        return None
    cost = to_decimal(raw[index["__cost__"]])
    if cost is None:
        out.reject("cost is not a number", raw, what, subscription_id)
        return None
    usage_date = to_date(raw[index["usagedate"]])
    if usage_date is None:
        out.reject("UsageDate is not a date", raw, what, subscription_id)
        return None
    if not chunk.first <= usage_date <= chunk.last:
        out.reject(f"UsageDate outside the requested {chunk.first}..{chunk.last}", raw, what, subscription_id)
        return None
    currency = raw[index["currency"]]
    if not isinstance(currency, str) or not _CURRENCY.match(currency := currency.strip().upper()):
        out.reject("Currency is not a 3-letter code", raw, what, subscription_id)
        return None
    quantity = to_decimal(raw[index[QUANTITY_COLUMN]]) if QUANTITY_COLUMN in index else None
    record: dict[str, Any] = {column: "" for column in TEXT_COLUMNS}
    # A month repeats each resource's ID and meter names on every day's rows: one copy of each per
    # chunk (`out.shared`) holds a chunk in a bit more than half the memory.
    shared = out.shared
    for dimension, column in DIMENSION_COLUMNS.items():
        if dimension in index:
            value = raw[index[dimension]]
            text = "" if value is None else str(value).strip()
            text = text.lower() if column == "resource_id" else text  # Azure lower-cases them; we match on that
            record[column] = shared.setdefault(text, text)
    record.update(
        subscription_id=subscription_id,
        usage_date=usage_date,
        currency=shared.setdefault(currency, currency),
        cost=cost,
        quantity=quantity,
        cost_type=settings.cost_type,
        is_estimated=not _is_final(usage_date, today, settings.final_after_day),
    )
    return record


def _subscription_of(raw: list[Any], index: dict[str, int]) -> str:
    """A wide answer's row's subscription: its SubscriptionId column, else the one its ResourceId lies under."""
    if "subscriptionid" in index:
        value = str(raw[index["subscriptionid"]] or "").strip().lower()
        if value:
            return value
    match = _SUBSCRIPTION_OF_RESOURCE.match(str(raw[index["resourceid"]] or "").strip().lower())
    return match.group(1) if match else ""


def to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal | int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return result if result.is_finite() else None


@functools.lru_cache(maxsize=4096)
def _is_final(day: date, today: date, final_after_day: int) -> bool:
    return is_final(day, today, final_after_day)


def to_date(value: Any) -> date | None:
    """UsageDate arrives as a number (20241015); accept its string and ISO forms too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str) or (isinstance(value, Decimal) and value.is_finite()):
        return _cached_date(value)  # a month's rows carry a few dozen distinct values
    return _to_date(value)


@functools.lru_cache(maxsize=4096)
def _cached_date(value: int | Decimal | str) -> date | None:
    return _to_date(value)


def _to_date(value: Any) -> date | None:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{8}", text):
            return datetime.strptime(text, "%Y%m%d").date()
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def summarize_rejections(parsed: ParsedRows) -> str:
    return ", ".join(f"{count} x {reason}" for reason, count in sorted(parsed.reasons.items()))
