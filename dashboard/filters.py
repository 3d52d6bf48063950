"""The Spend page's view (dates, filters, grouping) and its URL form, so a link reproduces the view.

`/spend?from=2026-11-01&to=2026-11-24&project=proj-chatbot&model=Mistral-large&by=model,meter`.
Filters may repeat (`project=a&project=b`); `by` is a comma list like `costwatch spend --by`.
Pure: the page reads `st.query_params` into a `SpendView` and writes `SpendView.params()` back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

# What the Spend page can group by; resource_group and cost_center are derived from resource and project.
GROUPINGS = ("project", "model", "meter", "subscription", "resource_group", "resource", "cost_center", "day")
FILTERS = ("subscription", "project", "model", "currency", "cost_center")
DEFAULT_BY = ("project", "model")


@dataclass(frozen=True)
class SpendView:
    date_from: date
    date_to: date
    by: tuple[str, ...] = DEFAULT_BY
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def values(self, name: str) -> tuple[str, ...]:
        return tuple(self.filters.get(name, ()))

    def with_filter(self, name: str, values: Sequence[str]) -> SpendView:
        return replace(self, filters={**self.filters, name: tuple(values)})

    def key(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The filters as a hashable, ordered value (for cached queries)."""
        return tuple((name, tuple(sorted(self.values(name)))) for name in FILTERS if self.values(name))

    def params(self) -> dict[str, str | list[str]]:
        """The URL query parameters of this view."""
        out: dict[str, str | list[str]] = {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "by": ",".join(self.by),
        }
        for name in FILTERS:
            values = self.values(name)
            if values:
                out[name] = list(values) if len(values) > 1 else values[0]
        return out


def parse_view(
    get_all: Callable[[str], list[str]], default_from: date, default_to: date
) -> tuple[SpendView, list[str]]:
    """A view from URL parameters (`get_all` is `st.query_params.get_all`), and what was wrong in them."""
    problems: list[str] = []

    def one_date(name: str, default: date) -> date:
        values = get_all(name)
        if not values:
            return default
        try:
            return date.fromisoformat(values[-1])
        except ValueError:
            problems.append(f"`{name}={values[-1]}` is not a date (YYYY-MM-DD): using {default}")
            return default

    date_from, date_to = one_date("from", default_from), one_date("to", default_to)
    if date_from > date_to:
        problems.append(f"`from` {date_from} is after `to` {date_to}: swapped")
        date_from, date_to = date_to, date_from
    by: tuple[str, ...] = DEFAULT_BY
    raw_by = [d.strip() for v in get_all("by") for d in v.split(",") if d.strip()]
    if raw_by:
        unknown = [d for d in raw_by if d not in GROUPINGS]
        if unknown:
            problems.append(f"cannot group by {', '.join(unknown)}; choose from {', '.join(GROUPINGS)}")
        by = tuple(dict.fromkeys(d for d in raw_by if d in GROUPINGS)) or DEFAULT_BY
    filters = {name: tuple(dict.fromkeys(v for v in get_all(name) if v)) for name in FILTERS}
    return SpendView(date_from, date_to, by, {k: v for k, v in filters.items() if v}), problems
