"""Daily cost series of the synthetic tenant, restatement, and the ground truth.

Records are generated lazily per (subscription, month) from a random stream seeded by
(seed, resource, month), so a day's figure never depends on which other months were
asked for or on cache state. A bounded cache keeps the recent chunks; restatement is
applied on read, so restating is O(1).

Day-to-day noise is small (a few percent) next to the weekly cycle, so only the spikes
stand out. Random spike days (about one resource-month in three) never fall on the last
day of the history; the one scripted anomaly (`Anomaly`) does, until `calm()` takes it
back. A quiet ledger has no spike at all. So costwatch's anomaly rule (the last day
against the median and MAD of the same weekday in the four weeks before) fires for the
anomaly and for nothing else, whatever `today` is.
"""

from __future__ import annotations

import calendar
import dataclasses
import random
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal
from typing import Any, Literal

SpendKind = Literal["marketplace", "foundry", "managed_compute", "other"]

UNATTRIBUTED = "(unattributed)"
# Managed compute is billed per VM hour of an online endpoint; the cost rows do not say
# which model the VMs serve, so the truth labels them all with this one model name.
MANAGED_COMPUTE_MODEL = "(managed compute)"

TRUTH_DIMENSIONS: tuple[str, ...] = (
    "project",
    "model",
    "meter",
    "subscription",
    "resource",
    "day",
    "currency",
    "spend_kind",
)

# Costs must survive a JSON float round trip: at most 10 places and 15 significant digits.
_TEN_PLACES = Decimal("1E-10")
_FIFTEEN_DIGITS = Context(prec=15)
_WEEKDAY_FACTOR = (1.0, 1.06, 1.1, 1.04, 0.93, 0.38, 0.29)
# Day-to-day noise: a day's traffic, then each meter's own jitter. Same weekdays differ by
# at most 1.05 * 1.01 / (0.95 * 0.99) = 1.13x, well inside the anomaly rule's 1.3x.
_DAY_NOISE = (0.95, 1.05)
_METER_JITTER = (0.99, 1.01)
ANOMALY_FACTOR = 4  # the scripted anomaly: that day's usage-driven meters run 4x


@dataclass(frozen=True)
class Anomaly:
    """The scripted spike: one resource's usage-driven meters run ANOMALY_FACTOR x on `day`."""

    resource_id: str  # lower-cased
    day: date


@dataclass(frozen=True, slots=True)
class CostRecord:
    """One Cost Management row: a (day, resource, meter, charge type) with its cost."""

    subscription_id: str
    usage_date: date
    resource_id: str  # lower-cased, as Azure emits it in cost data
    resource_group: str
    resource_type: str
    resource_location: str
    meter: str
    meter_id: str
    meter_category: str
    meter_subcategory: str
    charge_type: str  # "Usage" | "Refund"
    publisher_type: str  # "Marketplace" | "Azure"
    service_name: str
    cost: Decimal
    quantity: Decimal
    currency: str


@dataclass(frozen=True)
class MeterSpec:
    """A meter of a billable resource and how its daily quantity behaves."""

    name: str
    meter_id: str
    category: str
    subcategory: str
    unit: str
    unit_price: Decimal  # in the resource's billing currency, at most 5 places
    daily_milli_units: int  # typical weekday quantity, in thousandths of a unit
    steady: bool = False  # VM hours and hosting: the same every day, no weekly cycle


@dataclass(frozen=True)
class RefundSpec:
    day: date
    meter: str
    milli_units: int


@dataclass(frozen=True)
class CostSource:
    """A billable resource, with the attribution the ground truth reports for it."""

    subscription_id: str
    resource_id: str  # lower-cased
    resource_group: str  # lower-cased
    resource_type: str  # lower-cased
    location: str
    publisher_type: str
    service_name: str
    currency: str
    meters: tuple[MeterSpec, ...]
    active_from: date
    active_to: date | None
    spend_kind: SpendKind
    project: str | None
    model: str | None
    refund: RefundSpec | None = None
    # A Foundry resource bills many models: the model of each of its meters (the truth's model).
    meter_models: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The first of the month `months` after (or before, if negative) `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_between(date_from: date, date_to: date) -> list[tuple[int, int]]:
    """Calendar months (year, month) touched by the inclusive range."""
    if date_to < date_from:
        return []
    out = []
    cursor = month_start(date_from)
    while cursor <= date_to:
        out.append((cursor.year, cursor.month))
        cursor = add_months(cursor, 1)
    return out


def is_final(day: date, today: date) -> bool:
    """Azure may re-rate a month until the 5th of the next; from the 6th it is final."""
    return today >= add_months(day, 1).replace(day=6)


def restated_cost(cost: Decimal, version: int) -> Decimal:
    """An estimated cost after `version` restatements: deterministic, exact, JSON-safe."""
    if version == 0:
        return cost
    value = (cost * (100 + version) / 100).quantize(_TEN_PLACES)
    if len(value.as_tuple().digits) > 15:
        value = _FIFTEEN_DIGITS.plus(value)
    return value


class CostLedger:
    """All cost records of a tenant: generated on demand, cached, restated on read."""

    def __init__(
        self,
        seed: int,
        sources: Sequence[CostSource],
        history_start: date,
        history_end: date,
        today: date,
        cache_records: int = 1_000_000,
        *,
        spikes: bool = True,
        anomaly: Anomaly | None = None,
    ) -> None:
        self._seed = seed
        self.history_start = history_start
        self.history_end = history_end
        self.today = today
        self._by_subscription: dict[str, list[CostSource]] = {}
        self._by_resource: dict[str, CostSource] = {}
        self.all_sources = tuple(sources)
        for source in sources:
            self._by_subscription.setdefault(source.subscription_id.lower(), []).append(source)
            self._by_resource[source.resource_id] = source
        self._version = 0
        # Random spike days (never on the last day); the anomaly's resource has none.
        self.spikes = spikes
        self.anomaly = anomaly
        self._calmed = False
        self._anomaly_chunk = (
            None
            if anomaly is None or anomaly.resource_id not in self._by_resource
            else (
                self._by_resource[anomaly.resource_id].subscription_id.lower(),
                anomaly.day.year,
                anomaly.day.month,
            )
        )
        self._lock = threading.Lock()
        # Keyed by (subscription, year, month, calmed): the anomaly's month has two variants.
        self._cache: OrderedDict[tuple[str, int, int, bool], tuple[CostRecord, ...]] = OrderedDict()
        # Bounded by records, not chunks: a record takes ~400 bytes, and a scaled-out tenant
        # has millions of them.
        self._cache_records = cache_records
        self._cached = 0

    @property
    def version(self) -> int:
        return self._version

    @property
    def calmed(self) -> bool:
        """Whether `calm()` has taken the anomaly back."""
        return self._calmed

    @property
    def revision(self) -> tuple[int, bool]:
        """What the figures depend on besides the seed: (restatements, calmed)."""
        with self._lock:
            return self._version, self._calmed

    def restate(self) -> int:
        with self._lock:
            self._version += 1
            return self._version

    def calm(self) -> bool:
        """Take the anomaly back: its day's figures become what they would have been without
        it, as a restatement would. True if that changed anything."""
        with self._lock:
            if self.anomaly is None or self._calmed:
                return False
            self._calmed = True
            return True

    def source(self, resource_id: str) -> CostSource | None:
        return self._by_resource.get(resource_id.lower())

    def sources(self, subscription_id: str) -> Sequence[CostSource]:
        return self._by_subscription.get(subscription_id.lower(), [])

    def records(
        self,
        subscription_id: str,
        date_from: date,
        date_to: date,
        *,
        version: int | None = None,
        calmed: bool | None = None,
    ) -> Iterator[CostRecord]:
        """Records of one subscription in the inclusive range, ordered by day then resource."""
        version = self._version if version is None else version
        calmed = self._calmed if calmed is None else calmed
        lo = max(date_from, self.history_start)
        hi = min(date_to, self.history_end)
        for year, month in months_between(lo, hi):
            chunk = self._chunk(subscription_id.lower(), year, month, calmed)
            restate = version > 0 and not is_final(date(year, month, 1), self.today)
            for record in chunk:
                if record.usage_date < lo or record.usage_date > hi:
                    continue
                if restate:
                    record = dataclasses.replace(record, cost=restated_cost(record.cost, version))
                yield record

    def _chunk(self, subscription_id: str, year: int, month: int, calmed: bool) -> tuple[CostRecord, ...]:
        # Only the anomaly's month differs once calmed; every other month has one variant.
        calmed = calmed and (subscription_id, year, month) == self._anomaly_chunk
        key = (subscription_id, year, month, calmed)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        # Generated outside the lock: two threads may both build a chunk, with equal results.
        chunk = self._generate(subscription_id, year, month, calmed)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = chunk
                self._cached += len(chunk)
            while self._cached > self._cache_records and len(self._cache) > 1:
                _, evicted = self._cache.popitem(last=False)
                self._cached -= len(evicted)
        return chunk

    def _generate(self, subscription_id: str, year: int, month: int, calmed: bool) -> tuple[CostRecord, ...]:
        lo = max(date(year, month, 1), self.history_start)
        hi = min(date(year, month, calendar.monthrange(year, month)[1]), self.history_end)
        if lo > hi:
            return ()
        records: list[CostRecord] = []
        anomaly = self.anomaly
        for source in self._by_subscription.get(subscription_id, []):
            scripted = anomaly is not None and source.resource_id == anomaly.resource_id
            shape = _Shape(
                spikes=self.spikes and not scripted,
                no_spike_on=self.history_end,
                anomaly_day=anomaly.day if scripted and anomaly is not None and not calmed else None,
            )
            records.extend(_source_month(self._seed, source, year, month, lo, hi, shape))
        records.sort(key=lambda r: (r.usage_date, r.resource_id, r.meter, r.charge_type))
        return tuple(records)


@dataclass(frozen=True)
class _Shape:
    """What a source's month looks like beyond its random draws."""

    spikes: bool  # random spike days
    no_spike_on: date  # the last day of the history: never a random spike
    anomaly_day: date | None  # the scripted spike, if this is its source and it is not calmed


def _source_month(
    seed: int, source: CostSource, year: int, month: int, lo: date, hi: date, shape: _Shape
) -> Iterator[CostRecord]:
    rng = random.Random(f"{seed}|{source.resource_id}|{year:04d}-{month:02d}")
    days = calendar.monthrange(year, month)[1]
    # Draw the month's shape first and a fixed number of draws per day, so a day's value
    # is the same whatever part of the month is emitted.
    spike_day = rng.randint(1, days) if rng.random() < 0.3 else 0
    spike = rng.uniform(2.5, 5.0)
    for day_number in range(1, days + 1):
        day = date(year, month, day_number)
        traffic = rng.uniform(*_DAY_NOISE) * _WEEKDAY_FACTOR[day.weekday()]
        if day_number == spike_day and shape.spikes and day != shape.no_spike_on:
            traffic *= spike
        if day == shape.anomaly_day:
            traffic *= ANOMALY_FACTOR
        jitters = [rng.uniform(*_METER_JITTER) for _ in source.meters]
        if day < lo or day > hi or day < source.active_from:
            continue
        if source.active_to is not None and day > source.active_to:
            continue
        for meter, jitter in zip(source.meters, jitters, strict=True):
            milli = meter.daily_milli_units if meter.steady else int(meter.daily_milli_units * traffic * jitter)
            if milli > 0:
                yield _record(source, meter, day, milli, "Usage")
        refund = source.refund
        if refund is not None and refund.day == day:
            meter = next(m for m in source.meters if m.name == refund.meter)
            yield _record(source, meter, day, -refund.milli_units, "Refund")


def _record(source: CostSource, meter: MeterSpec, day: date, milli_units: int, charge_type: str) -> CostRecord:
    quantity = Decimal(milli_units).scaleb(-3)
    return CostRecord(
        subscription_id=source.subscription_id,
        usage_date=day,
        resource_id=source.resource_id,
        resource_group=source.resource_group,
        resource_type=source.resource_type,
        resource_location=source.location,
        meter=meter.name,
        meter_id=meter.meter_id,
        meter_category=meter.category,
        meter_subcategory=meter.subcategory,
        charge_type=charge_type,
        publisher_type=source.publisher_type,
        service_name=source.service_name,
        cost=quantity * meter.unit_price,  # exact: at most 3 + 5 places
        quantity=quantity,
        currency=source.currency,
    )


def truth(
    ledger: CostLedger,
    subscription_ids: Sequence[str],
    by: Sequence[str],
    date_from: date,
    date_to: date,
    *,
    include_other: bool = False,
) -> list[dict[str, Any]]:
    """Exact sums of the current costs, grouped by `by` plus currency (never mixed)."""
    unknown = [d for d in by if d not in TRUTH_DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown truth dimension(s) {unknown}; valid: {', '.join(TRUTH_DIMENSIONS)}")
    dims = [d for d in dict.fromkeys(by) if d != "currency"]
    version, calmed = ledger.revision  # one version for the whole answer, even if restated meanwhile
    sums: dict[tuple[str | None, ...], Decimal] = {}
    for subscription_id in subscription_ids:
        for record in ledger.records(subscription_id, date_from, date_to, version=version, calmed=calmed):
            source = ledger.source(record.resource_id)
            if source is None:  # pragma: no cover - every record comes from a source
                continue
            if source.spend_kind == "other" and not include_other:
                continue
            key = (*(_dimension(dim, record, source) for dim in dims), record.currency)
            sums[key] = sums.get(key, Decimal(0)) + record.cost
    rows: list[dict[str, Any]] = []
    for group in sorted(sums, key=_sort_key):
        row: dict[str, Any] = dict(zip(dims, group[:-1], strict=True))
        row["currency"] = group[-1]
        row["cost"] = sums[group]
        rows.append(row)
    return rows


def _dimension(dim: str, record: CostRecord, source: CostSource) -> str | None:
    if dim == "project":
        return source.project
    if dim == "model":
        return source.meter_models.get(record.meter, source.model) if source.meter_models else source.model
    if dim == "meter":
        return record.meter
    if dim == "subscription":
        return record.subscription_id
    if dim == "resource":
        return record.resource_id
    if dim == "day":
        return record.usage_date.isoformat()
    return source.spend_kind


def _sort_key(key: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is None, "" if value is None else str(value)) for value in key)
