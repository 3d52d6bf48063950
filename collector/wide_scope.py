"""The wide query plan: one cost query per month at a billing account, billing profile or management
group (`[costs] scope`), its answer split by subscription.

Per subscription, a 13-month backfill of 200 subscriptions costs 200 x 13 QPU, hours of the tenant's
budget (600 QPU an hour, shared with every other tool); at a wide scope it costs 13 plus one per extra
page. Each subscription-month is still written on its own (cost_chunks.write_chunk), so the store is
the same as per-subscription collection. What the wide answer cannot give is collected per
subscription, and the reason logged and recorded: a wide scope the identity may not read (403), that
does not exist (404) or whose agreement type has no cost data there (400); a month with rows whose
subscription cannot be told; a subscription absent from every month answered (outside that scope).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collector.attribution_store import Attributions
from collector.azure.arm import AzureCallError
from collector.cost_chunks import AHEAD_ROWS, FetchAhead, ScopeRecord, write_chunk
from collector.db.models import CostRow
from collector.periods import month_start
from collector.runs import FellBack, Run
from collector.settings import Settings
from collector.sources import costs

log = logging.getLogger(__name__)

# Answers that say the wide scope will not work for this identity or agreement, whatever the month.
FALL_BACK_STATUSES = {
    400: "the scope does not answer this query (e.g. an agreement type without cost data at this scope)",
    403: "no permission at that scope (grant Billing Reader or Cost Management Reader there)",
    404: "the scope was not found (check [costs] scope)",
}


# The most rows one wide answer may hold. A month of a large tenant at a wide scope is more (about
# 2 KB of the collector's memory a row, parsed and being written), so it is queried in stretches of
# days sized to this from the rows per day of the stretch before (every page is a charged request, so
# smaller stretches of the same rows cost next to no more QPU).
# As large as a chunk fetched while the one before is written (cost_chunks.AHEAD_ROWS): with 100,000,
# each stretch's fetch waited for the previous write, and memory held twice as much (docs/performance.md#fetch-ahead).
WIDE_ROWS = AHEAD_ROWS
# Room for a stretch's days to hold more rows than the one before did.
_GROWTH = 1.5


def collect_wide(
    run: Run,
    settings: Settings,
    attributions: Attributions,
    subscription_ids: list[str],
    since: date,
    until: date,
    today: date,
) -> list[costs.Chunk]:
    """Collect every month of [since, until] at the wide scope; return the per-subscription chunks
    still to collect (the fallback), in month order per subscription."""
    scope = settings.costs.scope
    assert scope is not None
    wanted = set(subscription_ids)
    months = costs.month_chunks(scope, "", since, until)
    per_subscription: set[tuple[str, date]] = set()  # (subscription, month's first day) to do per subscription
    answered: list[costs.Chunk] = []  # months the wide scope answered whole
    seen: set[str] = set()
    stretches = _Stretches(_stored_rows_per_day(run.engine, since))
    with FetchAhead(run, settings, today, attributions) as ahead:
        stretch: costs.Chunk | None = stretches.first(months[0]) if months else None
        for number, month in enumerate(months, 1):
            prefix = f"[month {number}/{len(months)}] "
            whole = True
            while stretch is not None and stretch.first <= month.last:
                outcome = _WideMonth(partial(ahead.fetch, stretch), stretch, wanted)
                label = f"{prefix}{stretch.first}..{stretch.last} "
                run.scope(f"costs {scope}", outcome.fetch, label, month=month_start(month.first), query_scope=scope)
                if outcome.unusable:
                    log.warning(
                        "costs at %s: %s; collecting %s..%s per subscription instead (%d subscriptions)",
                        scope,
                        outcome.unusable,
                        month.first,
                        until,
                        len(subscription_ids),
                    )
                    per_subscription |= {(sid, m.first) for m in months[number - 1 :] for sid in subscription_ids}
                    return _fallback(subscription_ids, months, per_subscription)
                parsed = outcome.parsed
                # What is next: the rest of this month, else the next month, sized from this answer.
                stretch = stretches.after(stretch, month, parsed, months[number] if number < len(months) else None)
                if parsed is None:  # failed (recorded; the next run tries again), or the month goes per subscription
                    per_subscription |= {(sid, month.first) for sid in subscription_ids} if outcome.unplaced else set()
                    whole = False
                    break
                if stretch is not None:
                    ahead.prefetch(stretch, parsed)
                by_subscription = parsed.by_subscription()
                seen |= by_subscription.keys() & wanted
                for sid in subscription_ids:
                    if sid in by_subscription:
                        _write(ahead, outcome.month.of(sid), by_subscription[sid], parsed, scope, label)
                # Let go of this answer before the next one is read: only one stretch is held at a time.
                del parsed, by_subscription, outcome
            if whole:
                answered.append(month)
    missing = [sid for sid in subscription_ids if sid not in seen]
    if answered and missing:
        log.warning(
            "costs at %s: %d subscription(s) have no row in any month it answered (outside that scope, or no "
            "spend): collecting them per subscription: %s",
            scope,
            len(missing),
            ", ".join(missing),
        )
        per_subscription |= {(sid, m.first) for m in answered for sid in missing}
    return _fallback(subscription_ids, months, per_subscription)


def _fallback(
    subscription_ids: list[str], months: list[costs.Chunk], per_subscription: set[tuple[str, date]]
) -> list[costs.Chunk]:
    return [
        chunk
        for sid in subscription_ids
        for month in months
        if (sid, month.first) in per_subscription
        for chunk in [month.of(sid)]
    ]


class _Stretches:
    """The stretches of days a wide scope is queried in, each sized to hold at most WIDE_ROWS rows
    from the rows per day seen last: the stretch before, or the store's latest days. With neither (a
    first backfill), one day is asked first."""

    def __init__(self, rows_per_day: float | None) -> None:
        self.rows_per_day = rows_per_day

    def first(self, month: costs.Chunk) -> costs.Chunk:
        return self._from(month, month.first)

    def after(
        self, stretch: costs.Chunk, month: costs.Chunk, parsed: costs.ParsedRows | None, then: costs.Chunk | None
    ) -> costs.Chunk | None:
        """The stretch after `stretch` of `month` (`parsed`: its answer, None when it failed): the rest of
        the month, else the first of the month `then`. A failed month is not asked further."""
        if parsed is not None:
            self.rows_per_day = len(parsed.rows) / ((stretch.last - stretch.first).days + 1)
            if stretch.last < month.last:
                return self._from(month, stretch.last + timedelta(days=1))
        return self.first(then) if then is not None else None

    def _from(self, month: costs.Chunk, first: date) -> costs.Chunk:
        days_left = (month.last - first).days + 1
        if self.rows_per_day is None:
            days = 1
        elif self.rows_per_day == 0:
            days = days_left
        else:
            days = max(1, min(days_left, int(WIDE_ROWS / (self.rows_per_day * _GROWTH))))
        return costs.Chunk(month.scope, "", first, first + timedelta(days=days - 1))


def _stored_rows_per_day(engine: Engine, before: date) -> float | None:
    """Cost rows a day over the store's last 7 days of data before `before` (else its latest 7: a
    rerun of the window), or None when it holds none."""
    with Session(engine) as session:
        last = session.scalar(select(func.max(CostRow.usage_date)).where(CostRow.usage_date < before))
        if last is None:
            last = session.scalar(select(func.max(CostRow.usage_date)))
        if last is None:
            return None
        rows, first = session.execute(
            select(func.count(), func.min(CostRow.usage_date)).where(
                CostRow.usage_date.between(last - timedelta(days=6), last)
            )
        ).one()
    return rows / ((last - first).days + 1)


def _write(
    ahead: FetchAhead,
    chunk: costs.Chunk,
    rows: list[dict[str, Any]],
    parsed: costs.ParsedRows,
    scope: str,
    prefix: str,
) -> None:
    # A subscription's share of an answer already read: nothing of Azure can fail here, so its record
    # is written with its rows, in one transaction (2,600 of them for 200 subscriptions over 13 months).
    run, name = ahead.run, f"costs {chunk.scope}"
    started = run.begin(name)
    rejected = parsed.rejected_in.get(chunk.subscription_id, 0)

    record = ScopeRecord(name, started, month_start(chunk.first), scope)
    count = write_chunk(run, ahead.settings, ahead.attributions, chunk, rows, rejected, record)
    run.progress(f"{prefix}{name}: {count} rows")


class _WideMonth:
    """One month's wide query, as the work of a recorded scope; what came of it stays on the object."""

    def __init__(self, fetch: Callable[[], costs.ParsedRows], month: costs.Chunk, wanted: set[str]) -> None:
        self._fetch, self.month, self.wanted = fetch, month, wanted
        self.parsed: costs.ParsedRows | None = None
        self.unusable = ""  # why the wide scope will not answer at all
        self.unplaced = 0  # rows whose subscription cannot be told

    def fetch(self) -> int:
        try:
            parsed = self._fetch()
        except AzureCallError as exc:
            why = FALL_BACK_STATUSES.get(exc.status or 0)
            if why is None:
                raise
            self.unusable = f"{why}: {exc}"
            raise FellBack(f"{self.unusable}; collected per subscription") from None
        self.unplaced = parsed.rejected_in.get("", 0)
        if self.unplaced:
            # Such a row may belong to any subscription: only their own scopes can say, so the month
            # is collected there rather than stored with a hole in it.
            raise FellBack(
                f"{self.unplaced} row(s) name no subscription (expected a ResourceId under /subscriptions/ or a "
                "SubscriptionId column); this month is collected per subscription"
            )
        others = {row["subscription_id"] for row in parsed.rows.values()} - self.wanted
        if others:
            log.info(
                "costs at %s for %s..%s: rows of %d subscription(s) not collected were left out",
                self.month.scope,
                self.month.first,
                self.month.last,
                len(others),
            )
        self.parsed = parsed
        return sum(1 for row in parsed.rows.values() if row["subscription_id"] in self.wanted)
