"""Switchable faults, so the collector's retry, paging and error paths can be exercised.

Counted faults fire for the next `count` requests whose path matches their regex (by
default the Cost Management query path) and are then spent. All state sits behind one
lock: the server answers on many threads.

Some faults stand in for the answer (throttle, server_error, reset, no_content; `decide`).
The others spoil an answer that would have been a 200 (invalid_json, truncated_json,
repeat_next_link, duplicate_rows; `take_answer_fault`): they are only spent on an answer
they can spoil, so `count` is the number of answers spoiled.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

COST_QUERY_PATH = r"/providers/microsoft\.costmanagement/query/?$"
ANY_PATH = r".*"
THROTTLE_HEADERS = ("qpu", "entity", "tenant", "clienttype", "retry-after")
# Faults that spoil a 200 answer rather than replace it.
BODY_FAULTS = ("invalid_json", "truncated_json")  # the whole body is spoiled
PAGE_FAULTS = ("repeat_next_link", "duplicate_rows")  # one page of a list or query is spoiled
# What a proxy or gateway in the way answers: HTML, here with a 200 and a JSON content type.
PROXY_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response from an upstream server."
    b"</p><hr><address>nginx</address></body></html>\n"
)
_ERROR_STATUSES = frozenset(s.value for s in HTTPStatus if 400 <= s.value <= 599)


@dataclass
class _Counted:
    kind: str  # "throttle" | "server_error" | "reset" | "slow" | "no_content" | BODY_FAULTS | PAGE_FAULTS
    remaining: int
    pattern: re.Pattern[str]
    status: int = 0
    seconds: float = 0.0
    header: str = ""


@dataclass
class _Expiry:
    remaining: int
    pattern: re.Pattern[str]


@dataclass
class FaultDecision:
    """What the server must do to one request before (or instead of) answering it."""

    delay: float = 0.0
    expired: bool = False
    reset: bool = False
    status: int | None = None  # injected server error
    throttle: tuple[str, int] | None = None  # (header kind, seconds)
    no_content: bool = False


def _compile(path: str | None, default: str) -> re.Pattern[str]:
    return re.compile(default if path is None else path, re.IGNORECASE)


def _positive(name: str, value: int) -> int:
    if value < 0:
        raise ValueError(f"{name} must be >= 0")
    return value


class Faults:
    """Fault switches, settable from Python or over HTTP (POST /_emulator/faults)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counted: list[_Counted] = []
        self._expiry: _Expiry | None = None
        self._failed: dict[str, tuple[int, re.Pattern[str]]] = {}
        self._wide_failure: int | None = None
        self._shuffle = False
        self._no_serverless_metrics = False

    # --- switches -----------------------------------------------------------------

    def throttle(self, count: int, retry_after: int = 1, header: str = "qpu", path: str | None = None) -> None:
        """Answer the next `count` matching requests 429 with `<header>-retry-after`."""
        if header not in THROTTLE_HEADERS:
            raise ValueError(f"header must be one of {THROTTLE_HEADERS}")
        self._add(
            _Counted(
                "throttle",
                _positive("count", count),
                _compile(path, COST_QUERY_PATH),
                seconds=retry_after,
                header=header,
            )
        )

    def server_error(self, count: int, status: int = 503, path: str | None = None) -> None:
        if status not in _ERROR_STATUSES:
            raise ValueError("status must be an HTTP error code (400-599)")
        self._add(_Counted("server_error", _positive("count", count), _compile(path, COST_QUERY_PATH), status=status))

    def reset(self, count: int, path: str | None = None) -> None:
        """Close the connection of the next `count` matching requests without answering."""
        self._add(_Counted("reset", _positive("count", count), _compile(path, COST_QUERY_PATH)))

    def slow(self, count: int, seconds: float, path: str | None = None) -> None:
        """Delay the next `count` matching answers by `seconds`."""
        self._add(_Counted("slow", _positive("count", count), _compile(path, COST_QUERY_PATH), seconds=float(seconds)))

    def no_content(self, count: int, path: str | None = None) -> None:
        """Answer the next `count` matching requests 204 (how Azure says "no data")."""
        self._add(_Counted("no_content", _positive("count", count), _compile(path, COST_QUERY_PATH)))

    def invalid_json(self, count: int, path: str | None = None) -> None:
        """The next `count` matching 200 answers carry an HTML error page instead of their JSON
        (still as `application/json`), as a proxy in the way might send."""
        self._add(_Counted("invalid_json", _positive("count", count), _compile(path, COST_QUERY_PATH)))

    def truncated_json(self, count: int, path: str | None = None) -> None:
        """The next `count` matching 200 answers are cut off half-way: a prefix of their JSON, which
        does not parse, with a Content-Length that matches it (the connection itself is fine)."""
        self._add(_Counted("truncated_json", _positive("count", count), _compile(path, COST_QUERY_PATH)))

    def repeat_next_link(self, count: int, path: str | None = None) -> None:
        """The next `count` matching pages reached through a nextLink (those with a skiptoken) get a
        nextLink to themselves, the same skiptoken, even the last page: a client that follows it
        blindly reads that page again and again. First pages carry no skiptoken and are left alone."""
        self._add(_Counted("repeat_next_link", _positive("count", count), _compile(path, COST_QUERY_PATH)))

    def duplicate_rows(self, count: int, path: str | None = None) -> None:
        """The next `count` matching pages also carry, as their last row, the first row of the page
        before, so one row arrives on two pages. A first page (there is none before it) repeats its
        own last row instead. Pages without rows are left alone. With `path=`, ARM lists get the
        same treatment (`value` items)."""
        self._add(_Counted("duplicate_rows", _positive("count", count), _compile(path, COST_QUERY_PATH)))

    def expire_token(self, after_requests: int = 0, path: str | None = None) -> None:
        """After `after_requests` more matching requests, every one gets 401 (until clear)."""
        with self._lock:
            self._expiry = _Expiry(_positive("after_requests", after_requests), _compile(path, ANY_PATH))

    def fail_subscription(self, subscription_id: str, status: int = 403, path: str | None = None) -> None:
        """Cost queries of this subscription fail with AuthorizationFailed until cleared."""
        with self._lock:
            self._failed[subscription_id.lower()] = (status, _compile(path, COST_QUERY_PATH))

    def unfail_subscription(self, subscription_id: str) -> None:
        with self._lock:
            self._failed.pop(subscription_id.lower(), None)

    def fail_wide_scope(self, status: int = 403) -> None:
        """Cost queries at the billing account, billing profile and management group fail until cleared:
        403 no billing permission, 404 scope not found, 400 an agreement type without cost data there."""
        if status not in (400, 403, 404):
            raise ValueError("status must be 400, 403 or 404")
        with self._lock:
            self._wide_failure = status

    def wide_scope_failure(self) -> int | None:
        """The status wide-scope cost queries must fail with, if any."""
        with self._lock:
            return self._wide_failure

    @property
    def shuffle_columns(self) -> bool:
        """Query answers put their columns in another (consistent) order."""
        return self._shuffle

    @shuffle_columns.setter
    def shuffle_columns(self, value: bool) -> None:
        with self._lock:
            self._shuffle = bool(value)

    @property
    def no_serverless_metrics(self) -> bool:
        """Azure Monitor answers serverless endpoints' metrics with 400 "Failed to find metric
        configuration": no supported-metrics page lists workspaces/serverlessEndpoints (issue 19.3)."""
        return self._no_serverless_metrics

    @no_serverless_metrics.setter
    def no_serverless_metrics(self, value: bool) -> None:
        with self._lock:
            self._no_serverless_metrics = bool(value)

    def clear(self) -> None:
        with self._lock:
            self._counted.clear()
            self._expiry = None
            self._failed.clear()
            self._wide_failure = None
            self._shuffle = False
            self._no_serverless_metrics = False

    def apply(self, name: str, args: Mapping[str, Any] | None = None) -> None:
        """Set a fault by name, as `POST /_emulator/faults` does; ValueError if invalid."""
        args = dict(args or {})
        actions = {
            "throttle": self.throttle,
            "server_error": self.server_error,
            "reset": self.reset,
            "slow": self.slow,
            "no_content": self.no_content,
            "invalid_json": self.invalid_json,
            "truncated_json": self.truncated_json,
            "repeat_next_link": self.repeat_next_link,
            "duplicate_rows": self.duplicate_rows,
            "expire_token": self.expire_token,
            "fail_subscription": self.fail_subscription,
            "unfail_subscription": self.unfail_subscription,
            "fail_wide_scope": self.fail_wide_scope,
            "clear": self.clear,
        }
        switches = ("shuffle_columns", "no_serverless_metrics")
        if name in switches:
            setattr(self, name, bool(args.get("value", True)))
            return
        action = actions.get(name)
        if action is None:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join([*actions, *switches])}")
        try:
            action(**args)  # type: ignore[operator]
        except TypeError as exc:
            raise ValueError(f"bad arguments for {name}: {exc}") from exc
        except re.error as exc:
            raise ValueError(f"bad path regex for {name}: {exc}") from exc

    # --- evaluation ---------------------------------------------------------------

    def decide(self, path: str) -> FaultDecision:
        """Consume the faults that apply to one request to `path`."""
        decision = FaultDecision()
        with self._lock:
            if self._expiry is not None and self._expiry.pattern.search(path):
                if self._expiry.remaining == 0:
                    decision.expired = True
                    return decision
                self._expiry.remaining -= 1
            slow = self._take(path, ("slow",))
            if slow is not None:
                decision.delay = slow.seconds
            fault = self._take(path, ("reset", "server_error", "throttle", "no_content"))
        if fault is None:
            return decision
        if fault.kind == "reset":
            decision.reset = True
        elif fault.kind == "server_error":
            decision.status = fault.status
        elif fault.kind == "throttle":
            decision.throttle = (fault.header, int(fault.seconds))
        else:
            decision.no_content = True
        return decision

    def take_answer_fault(self, path: str, kinds: tuple[str, ...]) -> str | None:
        """Spend one pending fault of `kinds` (BODY_FAULTS or PAGE_FAULTS) that applies to `path`;
        its name, or None. The server asks only when it has an answer the fault can spoil."""
        with self._lock:
            fault = self._take(path, kinds)
        return None if fault is None else fault.kind

    def subscription_failure(self, subscription_id: str, path: str) -> int | None:
        """The status cost queries of this subscription must fail with, if any."""
        with self._lock:
            failed = self._failed.get(subscription_id.lower())
        if failed is None or not failed[1].search(path):
            return None
        return failed[0]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "counted": [
                    {
                        "name": c.kind,
                        "remaining": c.remaining,
                        "path": c.pattern.pattern,
                        "status": c.status,
                        "seconds": c.seconds,
                        "header": c.header,
                    }
                    for c in self._counted
                    if c.remaining > 0
                ],
                "expire_token": None
                if self._expiry is None
                else {"remaining": self._expiry.remaining, "path": self._expiry.pattern.pattern},
                "failed_subscriptions": {s: status for s, (status, _) in self._failed.items()},
                "failed_wide_scope": self._wide_failure,
                "shuffle_columns": self._shuffle,
                "no_serverless_metrics": self._no_serverless_metrics,
            }

    def _add(self, fault: _Counted) -> None:
        with self._lock:
            self._counted.append(fault)

    def _take(self, path: str, kinds: tuple[str, ...]) -> _Counted | None:
        for fault in self._counted:
            if fault.kind in kinds and fault.remaining > 0 and fault.pattern.search(path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._counted.remove(fault)
                return fault
        return None


def spoiled_body(kind: str, body: bytes) -> bytes:
    """A 200 answer's body as a BODY_FAULTS fault leaves it."""
    if kind == "invalid_json":
        return PROXY_ERROR_PAGE
    if kind == "truncated_json":
        text = body.decode("utf-8")
        # Half of it, cut between characters: never the whole (a JSON object's prefix never parses).
        return text[: max(1, min(len(text) // 2, len(text) - 1))].encode("utf-8")
    raise ValueError(f"{kind!r} does not spoil a body")
