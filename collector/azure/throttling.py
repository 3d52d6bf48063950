"""Cost Management throttling: retry on its own headers, count and pace by its QPU budget.

azure-core's RetryPolicy reads only Retry-After / retry-after-ms and never retries a POST on 429, but
the Cost Management query is a POST and its 429s carry
`x-ms-ratelimit-microsoft.costmanagement-*-retry-after` instead (docs/azure.md, the Query API). Public
tools crash on these (cloud-custodian#9346); here they are waited out, up to a configured limit.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy

log = logging.getLogger(__name__)

HEADER_PREFIX = "x-ms-ratelimit-microsoft.costmanagement-"
RETRY_AFTER_HEADERS = tuple(f"{HEADER_PREFIX}{kind}-retry-after" for kind in ("qpu", "entity", "tenant", "clienttype"))
QPU_CONSUMED = f"{HEADER_PREFIX}qpu-consumed"
QPU_REMAINING = f"{HEADER_PREFIX}qpu-remaining"
_QUERY_PATH = re.compile(r"/providers/microsoft\.costmanagement/query\b", re.IGNORECASE)
# The windows of the qpu-remaining header, by their length in seconds -> the tenant's QPU in each
# (Learn, "Cost Management API latency and rate limits"). Azure spells them more than one way: real
# answers read "QueriesPerHour:496,QueriesPerMin:37,QueriesPer10Sec:11", others "QueriesPer1Min:59".
_BUDGETS = {10: 12, 60: 60, 3600: 600}
_WINDOW_NAME = re.compile(r"^queriesper(\d*)(sec|second|min|minute|hour|hr|day)s?$")
_UNITS = {"sec": 1, "second": 1, "min": 60, "minute": 60, "hour": 3600, "hr": 3600, "day": 86400}


class ThrottledTooLong(HttpResponseError):
    """Azure asked for a longer wait than costwatch is configured to sit through."""


def is_cost_query(url: str) -> bool:
    return bool(_QUERY_PATH.search(url))


def window_seconds(name: str) -> int | None:
    """A qpu-remaining window's length: 'QueriesPer10Sec' -> 10, 'QueriesPerMin' and 'QueriesPer1Min' -> 60."""
    match = _WINDOW_NAME.match(name.strip().lower())
    return int(match.group(1) or 1) * _UNITS[match.group(2)] if match else None


def window_label(seconds: int) -> str:
    """10 -> '10s', 60 -> '1m', 3600 -> '1h': the window as /metrics names it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_remaining(header: str) -> dict[int, int]:
    """'QueriesPerHour:496,QueriesPerMin:37,QueriesPer10Sec:11' -> {3600: 496, 60: 37, 10: 11}.

    A window whose name is not understood is logged, not guessed at: pacing would otherwise ignore it.
    """
    out: dict[int, int] = {}
    for part in re.split(r"[,;]", header):
        name, _, value = part.partition(":")
        seconds = window_seconds(name)
        if seconds is None or not value.strip().lstrip("-").isdigit():
            if part.strip():
                log.warning("qpu-remaining: expected 'QueriesPer<window>:<number>', got %r; not paced on", part)
            continue
        out[seconds] = int(value.strip())
    return out


@dataclass
class QpuMeter:
    """What this process spent of the tenant's Cost Management budget, and what Azure says is left."""

    share: float = 1.0  # of each window's budget this process may use
    consumed: int = 0
    calls: int = 0
    throttled: int = 0
    remaining: dict[int, int] = field(default_factory=dict)  # window seconds -> QPU Azure says is left
    _seen_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, headers: Any, status: int) -> None:
        with self._lock:
            self.calls += 1
            if status == 429:
                self.throttled += 1
            consumed = headers.get(QPU_CONSUMED)
            if consumed and str(consumed).strip().isdigit():
                self.consumed += int(str(consumed).strip())
            remaining = headers.get(QPU_REMAINING)
            if remaining:
                self.remaining = parse_remaining(str(remaining))
                self._seen_at = time.monotonic()

    def reserve(self, seconds: int) -> int:
        """QPU of the window to leave to other tools: what lies beyond this process's share. A window
        of unknown budget keeps nothing back: it is paced on only once Azure says it is spent."""
        budget = _BUDGETS.get(seconds, 0)
        return budget - int(budget * self.share)

    def wait_for_budget(self) -> float:
        """Sleep until every window Azure reported as spent has rolled over; return seconds slept."""
        with self._lock:
            waits = [
                seconds - (time.monotonic() - self._seen_at)
                for seconds, left in self.remaining.items()
                if left <= self.reserve(seconds)
            ]
        wait = max([w for w in waits if w > 0], default=0.0)
        if wait:
            log.info("pacing: costwatch's share of the Cost Management budget is spent, waiting %.1f s", wait)
            time.sleep(wait)
            with self._lock:
                self.remaining = {}
        return wait


class QpuPolicy(SansIOHTTPPolicy[Any, Any]):
    """Runs on every attempt: paces cost queries before sending, meters the headers after."""

    def __init__(self, meter: QpuMeter) -> None:
        self.meter = meter

    def on_request(self, request: PipelineRequest[Any]) -> None:
        if is_cost_query(request.http_request.url):
            self.meter.wait_for_budget()

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        if is_cost_query(request.http_request.url):
            self.meter.record(response.http_response.headers, response.http_response.status_code)


class ArmRetryPolicy(RetryPolicy):
    """azure-core's retry policy, taught Cost Management's headers and that its query POST is a read."""

    def __init__(self, *, max_wait_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_wait_seconds = max_wait_seconds

    def _is_method_retryable(self, settings: dict[str, Any], request: Any, response: Any = None) -> bool:
        if is_cost_query(request.url):
            return True  # the query only reads: safe to resend on 429, 5xx or a dropped connection
        return bool(super()._is_method_retryable(settings, request, response=response))

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        headers = response.http_response.headers
        waits = [float(headers[h]) for h in RETRY_AFTER_HEADERS if _is_number(headers.get(h))]
        standard = super().get_retry_after(response)
        if standard is not None:
            waits.append(standard)
        if not waits:
            return None
        wait = max(waits)
        if wait > self.max_wait_seconds:
            raise ThrottledTooLong(
                message=(
                    f"Cost Management asked to wait {wait:.0f} s (over max_retry_wait_seconds="
                    f"{self.max_wait_seconds:.0f}); the tenant's query budget is spent, try again later"
                ),
                response=response.http_response,
            )
        log.warning(
            "throttled (HTTP %s) on %s: waiting %.1f s as Azure asked",
            response.http_response.status_code,
            _path(response.http_request.url),
            wait,
        )
        return wait


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url).split("?")[0]
