"""Counts of the requests the emulator served, by route and status."""

from __future__ import annotations

import threading
from collections import Counter


class Stats:
    """Thread-safe counters; statuses are strings ("200", "429", "reset")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        # Who called each route: (route, User-Agent, ClientType header or "") -> requests.
        self.clients: Counter[tuple[str, str, str]] = Counter()

    def record(self, route: str, status: int | str, user_agent: str = "", client_type: str = "") -> None:
        with self._lock:
            self._counts[(route, str(status))] += 1
            self.clients[(route, user_agent, client_type)] += 1

    def count(self, route: str | None = None, status: int | str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (r, s), n in self._counts.items()
                if (route is None or r == route) and (status is None or s == str(status))
            )

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (route, status), n in sorted(self._counts.items()):
                out.setdefault(route, {})[status] = n
            return out

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self.clients.clear()
