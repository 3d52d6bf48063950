"""Per-minute traffic of serverless endpoints: a pure function of (seed, endpoint, minute).

Nothing is stored: any window is recomputed on demand, so the metrics API can answer any
timespan and the ground truth is the same computation. A minute's value comes from a
64-bit hash of (endpoint, minute) (splitmix64; cheap enough for 20,000 minutes in well
under a second) shaped by a daily cycle peaking in the region's afternoon and a quieter
weekend. Minutes are counted from the Unix epoch, in UTC.

Shapes ("traffic" of an endpoint):
- normal: up to about half the tokens-per-minute limit at the daily peak.
- quiet: a request now and then; most minutes are 0.
- idle: always 0.
- tokens_hot: like normal, plus one burst minute in every UTC hour at 90-100% of the
  tokens-per-minute limit (never above: Azure refuses, and does not count, the excess).
- requests_hot: short requests, plus one burst minute in every UTC hour at 900-999
  requests (90-100% of a 1,000 requests-per-minute limit).
- throttled: like normal, plus one minute in every UTC hour at exactly the
  tokens-per-minute limit (the client is being refused the rest: HTTP 429).

A quiet tenant (`TenantSpec.quiet`) caps every endpoint's daily peak at a quarter of its
tokens-per-minute limit (instead of half), so no minute reaches 50% of either limit.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from .catalog import CATALOG, EASTUS2, SWEDENCENTRAL, WESTUS3, CatalogModel
from .inventory import ServerlessEndpoint

TRAFFIC_SHAPES: tuple[str, ...] = ("normal", "quiet", "idle", "tokens_hot", "requests_hot", "throttled")
_BURST_SHAPES = frozenset({"tokens_hot", "requests_hot", "throttled"})
# The daily peak's share of the tokens-per-minute limit; the minute-to-minute noise can add
# up to 1.06 (weekday) x 1.25 (requests) x 1.2 (tokens per request) on top of it.
PEAK_SHARE = 0.5
QUIET_PEAK_SHARE = 0.25
MINUTES_PER_DAY = 1440
_MASK = (1 << 64) - 1
_INV32 = 1.0 / (1 << 32)
# The minute of the UTC day with the most traffic: 14:00 local time in each region.
_PEAK_MINUTE_UTC = {EASTUS2: 19 * 60, SWEDENCENTRAL: 12 * 60, WESTUS3: 21 * 60}
_DEFAULT_PEAK_MINUTE = 14 * 60
# Monday first; the epoch (1970-01-01) was a Thursday.
_WEEKDAY = (1.0, 1.04, 1.06, 1.03, 0.92, 0.35, 0.3)
_EPOCH_WEEKDAY = 3
_MEAN_DAILY_FACTOR = 0.44  # mean of _daily_cycle over a day, to turn daily volumes into a peak


@dataclass(frozen=True)
class Profile:
    """Everything the traffic of one endpoint depends on."""

    key: int  # the endpoint's 64-bit hash seed
    shape: str
    start_minute: int  # the first minute with traffic (the endpoint's creation)
    peak_minute: int  # minute of the UTC day with the most traffic
    peak_rpm: float  # expected requests per minute at the daily peak of a weekday
    tokens_per_request: int
    output_share: float
    tpm_limit: int
    rpm_limit: int


@dataclass(frozen=True)
class Series:
    """Per-minute values of one endpoint from `first_minute` on."""

    first_minute: int
    input_tokens: list[int]
    output_tokens: list[int]
    requests: list[int]
    # A provisioned Foundry deployment's PTU utilization per minute, in percent; None for the others.
    utilization: list[float] | None = None

    def total_tokens(self) -> list[int]:
        return [i + o for i, o in zip(self.input_tokens, self.output_tokens, strict=True)]


def epoch_minute(moment: datetime) -> int:
    """The minute containing `moment` (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp() / 60)


def minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


def _mix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@cache
def _daily_cycle(peak_minute: int) -> tuple[float, ...]:
    """A factor per minute of the UTC day: 1 at the peak, 0.1 twelve hours away."""
    return tuple(
        0.1 + 0.9 * ((1 + math.cos(2 * math.pi * (m - peak_minute) / MINUTES_PER_DAY)) / 2) ** 2
        for m in range(MINUTES_PER_DAY)
    )


def peak_minute(region: str) -> int:
    """The minute of the UTC day with the most traffic in a region."""
    return _PEAK_MINUTE_UTC.get(region.lower(), _DEFAULT_PEAK_MINUTE)


def _model_of(endpoint: ServerlessEndpoint) -> CatalogModel | None:
    # Model IDs look like azureml://registries/<registry>/models/<name>[/versions/<n>].
    parts = endpoint.model_id.split("/models/", 1)
    name = parts[1].split("/", 1)[0] if len(parts) == 2 else ""
    return CATALOG.get(name)


def profile(seed: int, endpoint: ServerlessEndpoint, *, quiet: bool = False) -> Profile:
    """The traffic parameters of an endpoint, from the seed and what the endpoint is.

    `quiet` (a quiet tenant) lowers the cap on the daily peak to QUIET_PEAK_SHARE."""
    rng = random.Random(f"{seed}|traffic|{endpoint.id.lower()}")
    key = rng.getrandbits(64)
    model = _model_of(endpoint)
    tpm_limit = model.tpm_limit if model else 200_000
    rpm_limit = model.rpm_limit if model else 1_000
    daily_kilo = model.daily_kilo_tokens if model else 5_000
    output_share = rng.uniform(0.18, 0.3)
    tokens_per_request = rng.randint(600, 1400)
    # A typical weekday's input volume, turned into tokens per minute at the daily peak.
    peak_tpm = daily_kilo * 1000 * rng.uniform(0.5, 1.6) / MINUTES_PER_DAY / _MEAN_DAILY_FACTOR / (1 - output_share)
    peak_tpm = min(peak_tpm, (QUIET_PEAK_SHARE if quiet else PEAK_SHARE) * tpm_limit)
    if endpoint.traffic == "tokens_hot":
        peak_tpm = 0.55 * tpm_limit
    elif endpoint.traffic == "requests_hot":
        tokens_per_request = rng.randint(40, 80)
        peak_tpm = 0.35 * rpm_limit * tokens_per_request
    return Profile(
        key=key,
        shape=endpoint.traffic,
        start_minute=epoch_minute(endpoint.created_at),
        peak_minute=peak_minute(endpoint.location),
        peak_rpm=peak_tpm / tokens_per_request,
        tokens_per_request=tokens_per_request,
        output_share=output_share,
        tpm_limit=tpm_limit,
        rpm_limit=rpm_limit,
    )


def series(p: Profile, first_minute: int, end_minute: int) -> Series:
    """Values for the minutes first_minute <= m < end_minute."""
    count = max(end_minute - first_minute, 0)
    inputs = [0] * count
    outputs = [0] * count
    requests = [0] * count
    if p.shape == "idle":
        return Series(first_minute, inputs, outputs, requests)
    daily = _daily_cycle(p.peak_minute)
    hot = p.shape in _BURST_SHAPES
    quiet = p.shape == "quiet"
    bursts: dict[int, int] = {}  # hour -> its burst minute
    key, tpr, share = p.key, p.tokens_per_request, p.output_share
    for index in range(count):
        m = first_minute + index
        if m < p.start_minute:
            continue
        h = _mix(key ^ ((m * 0xD1B54A32D192ED03) & _MASK))
        u1 = (h & 0xFFFFFFFF) * _INV32
        u2 = (h >> 32) * _INV32
        factor = daily[m % MINUTES_PER_DAY] * _WEEKDAY[(m // MINUTES_PER_DAY + _EPOCH_WEEKDAY) % 7]
        if hot:
            hour = m // 60
            burst = bursts.get(hour)
            if burst is None:
                burst = bursts[hour] = _mix(key ^ 0x5BD1E995 ^ hour) % 60
            if m % 60 == burst:
                total, calls = _burst(p, u1, u2)
                inputs[index] = total - int(total * share)
                outputs[index] = int(total * share)
                requests[index] = calls
                continue
        if quiet:
            calls = 1 + (h >> 62) if u1 < 0.05 * factor else 0
        else:
            calls = int(p.peak_rpm * factor * (0.75 + 0.5 * u1) + 0.5)
        if calls == 0:
            continue
        calls = min(calls, p.rpm_limit)
        total = min(int(calls * tpr * (0.8 + 0.4 * u2)), p.tpm_limit)
        output = int(total * share)
        inputs[index] = total - output
        outputs[index] = output
        requests[index] = calls
    return Series(first_minute, inputs, outputs, requests)


def _burst(p: Profile, u1: float, u2: float) -> tuple[int, int]:
    """(total tokens, requests) of a burst minute: 90-100% of the shape's limit, never above;
    for "throttled", exactly the tokens-per-minute limit."""
    if p.shape == "throttled":
        return p.tpm_limit, max(p.tpm_limit // p.tokens_per_request, 1)
    if p.shape == "tokens_hot":
        total = min(int(p.tpm_limit * (0.9 + 0.1 * u1)), p.tpm_limit)
        return total, max(total // p.tokens_per_request, 1)
    calls = min(int(p.rpm_limit * (0.9 + 0.1 * u1)), p.rpm_limit)
    return min(int(calls * p.tokens_per_request * (0.8 + 0.4 * u2)), p.tpm_limit), calls
