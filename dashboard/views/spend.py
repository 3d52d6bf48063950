"""Spend by project, model, meter, subscription, resource group, resource, cost center or day, per
currency: filters kept in the URL, daily trend, breakdowns, drill-down to the cost rows, and the
spend no project could be given (with why)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from collector.attribution import UNATTRIBUTED
from collector.read.money import money
from dashboard import access, queries
from dashboard.auth import Viewer, restrict
from dashboard.figures import percent
from dashboard.filters import FILTERS, GROUPINGS, SpendView, parse_view
from dashboard.ui import table

LABELS = {
    "subscription": "Subscription",
    "project": "Project",
    "model": "Model",
    "currency": "Currency",
    "cost_center": "Cost center",
    "meter": "Meter",
    "resource_group": "Resource group",
    "resource": "Resource",
    "day": "Day",
}
URL_SEEN = "spend_url_seen"  # the query parameters this page last wrote
LAST_VIEW = "spend_last_view"  # the view, kept for returning to the page in the same session
SERIES = 10  # categories in a chart before the rest are grouped


def _key(name: str) -> str:
    return f"spend_{name}"


def render() -> None:
    viewer = access.guard()
    st.title("Spend")
    first_day, last_day = queries.data_span()
    if last_day is None:
        st.info("No cost data yet: run `costwatch collect` first.")
        return
    view = _controls(viewer, last_day)
    fresh = queries.freshness()
    st.caption(
        f"{view.date_from} to {view.date_to} ({(view.date_to - view.date_from).days + 1} days); data from {first_day} "
        f"to {last_day}; last collection {fresh['last_run']:%Y-%m-%d %H:%M} UTC ({fresh['last_status']})."
        if fresh["last_run"]
        else f"{view.date_from} to {view.date_to}; data from {first_day} to {last_day}."
    )
    frame = queries.spend_frame(view.date_from, view.date_to, view.by, view.key(), viewer.scope)
    if frame.empty:
        st.info("No spend matches this view.")
    else:
        _per_currency(view, frame, viewer)
    _drill_down(view, viewer)
    unattributed_in_view = not view.values("project") or UNATTRIBUTED in view.values("project")
    if viewer.sees_all and unattributed_in_view and not view.values("cost_center"):
        _unattributed(view)


# --- the view and its URL ---------------------------------------------------------------------


def _controls(viewer: Viewer, last_day: date) -> SpendView:
    """Filters whose state lives in the URL: a link reproduces the view, and a link (an alert's, a
    colleague's) that arrives replaces the view."""
    default_from = last_day.replace(day=1)
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    widgets_missing = any(_key(n) not in st.session_state for n in ("dates", "by", *FILTERS))
    if params != st.session_state.get(URL_SEEN) or widgets_missing:
        if params or LAST_VIEW not in st.session_state:
            view, problems = parse_view(st.query_params.get_all, default_from, last_day)
            for problem in problems:
                st.warning(problem)
        else:
            view = st.session_state[LAST_VIEW]
        requested = view.values("project")
        permitted = restrict(requested, viewer.scope)
        if len(permitted) < len(requested):
            hidden = sorted(set(requested) - set(permitted))
            st.warning(f"You cannot see project(s) {', '.join(hidden)}: left out of the view.")
            view = view.with_filter("project", permitted)
        st.session_state[_key("dates")] = (view.date_from, view.date_to)
        st.session_state[_key("by")] = list(view.by)
        for name in FILTERS:
            st.session_state[_key(name)] = list(view.values(name))

    top = st.columns([2, 3, 1])
    dates = top[0].date_input("Dates", key=_key("dates"), format="YYYY-MM-DD")
    by = top[1].multiselect(
        "Group by", GROUPINGS, key=_key("by"), format_func=lambda d: LABELS[d], placeholder="project, model, ..."
    )
    previous = st.session_state.get(LAST_VIEW)
    if isinstance(dates, tuple) and len(dates) == 2:
        date_from, date_to = dates
    elif previous is not None:  # the second date is still being picked
        date_from, date_to = previous.date_from, previous.date_to
    else:
        date_from, date_to = default_from, last_day
    options = queries.filter_options(date_from, date_to, viewer.scope)
    names = queries.subscription_names()
    filters: dict[str, tuple[str, ...]] = {}
    shown = ["currency"] + [
        n
        for n in FILTERS
        if n != "currency" and (n != "cost_center" or options.get(n) or st.session_state.get(_key(n)))
    ]
    for name, column in zip(shown, [top[2], *st.columns(len(shown) - 1)], strict=True):
        chosen = [v for v in st.session_state.get(_key(name), []) if v]
        values = sorted({*options.get(name, []), *chosen})
        fmt = (lambda s: names.get(s, s)) if name == "subscription" else str
        filters[name] = tuple(
            column.multiselect(LABELS[name], values, key=_key(name), format_func=fmt, placeholder="all")
        )
    view = SpendView(date_from, date_to, tuple(by) or ("project",), {k: v for k, v in filters.items() if v})
    params_out = view.params()
    st.query_params.from_dict(params_out)
    st.session_state[URL_SEEN] = {k: v if isinstance(v, list) else [v] for k, v in params_out.items()}
    st.session_state[LAST_VIEW] = view
    return view


# --- totals, tables and charts per currency ---------------------------------------------------


def _per_currency(view: SpendView, frame: pd.DataFrame, viewer: Viewer) -> None:
    length = (view.date_to - view.date_from).days + 1
    _, last_day = queries.data_span()
    with_data = max(1, (min(view.date_to, last_day or view.date_to) - view.date_from).days + 1)
    before_to = view.date_from - timedelta(days=1)
    before_from = before_to - timedelta(days=length - 1)
    before = queries.spend_frame(before_from, before_to, (), view.key(), viewer.scope)
    earlier = {str(r.currency): r.cost for r in before.itertuples(index=False)}
    color = next((d for d in view.by if d != "day"), None)
    daily = _daily(view, frame, viewer, color)
    for currency, part in frame.groupby("currency", sort=True):
        currency = str(currency)
        total = sum(part["cost"], Decimal(0))
        estimated = " (includes estimated days)" if part["estimated"].any() else ""
        st.subheader(currency)
        cols = st.columns(3)
        past = earlier.get(currency)
        change = None if not past else (total - past) / abs(past) * 100
        cols[0].metric(
            f"Total {currency}{estimated}",
            money(total, currency),
            delta=None if change is None else f"{percent(change)} vs the {length} days before",
            delta_color="inverse",
        )
        cols[1].metric(
            f"Per day ({currency})",
            money(total / with_data, currency),
            help=f"Over the {with_data} day(s) of the period that have cost data.",
        )
        cols[2].metric(
            f"The {length} days before ({currency})",
            "-" if past is None else money(past, currency),
            help=f"{before_from} to {before_to}, same filters.",
        )
        shaped = part.drop(columns=["currency"]).sort_values("cost", ascending=False)
        shaped.insert(
            len(view.by) + 1, "share", shaped["cost"].map(lambda c, t=total: float(c / t * 100) if t else 0.0)
        )
        tab_table, tab_trend, tab_split = st.tabs(["Table", "Daily trend", "Breakdown"])
        with tab_table:
            table(
                shaped,
                key=f"spend_{currency}",
                file_name=f"spend-{view.date_from}-{view.date_to}-{'-'.join(view.by)}-{currency}",
                currency=currency,
                column_config={
                    "share": st.column_config.ProgressColumn("share", min_value=0, max_value=100, format="%.1f%%"),
                    **_wide_resource(view.by),
                },
            )
        with tab_trend:
            _trend(daily[daily["currency"] == currency], color, currency)
        with tab_split:
            _split(shaped, view.by, currency)


def _wide_resource(by: tuple[str, ...]) -> dict[str, Any]:
    return {"resource": st.column_config.TextColumn("resource", width="large")} if "resource" in by else {}


def _daily(view: SpendView, frame: pd.DataFrame, viewer: Viewer, color: str | None) -> pd.DataFrame:
    """Spend per day, split by `color` for its SERIES - 1 biggest values of each currency, the rest as
    one '(N others)' a day. Only the biggest values are read per day: on a large store, a day per
    project or model for every project is most of the rollup, and the chart shows ten series."""
    totals = queries.spend_frame(view.date_from, view.date_to, ("day",), view.key(), viewer.scope)
    if color is None or frame.empty:
        return totals
    sums = frame.groupby(["currency", color])["cost"].sum()
    top = {
        str(currency): [str(v) for v in part.droplevel(0).sort_values(ascending=False).index[: SERIES - 1]]
        for currency, part in sums.groupby(level=0)
    }
    counts = sums.groupby(level=0).size()
    wanted = tuple(sorted({v for values in top.values() for v in values}))
    filters = tuple(sorted({**dict(view.key()), color: wanted}.items()))
    split = queries.spend_frame(view.date_from, view.date_to, ("day", color), filters, viewer.scope)
    split = split[[str(v) in top[str(c)] for c, v in zip(split["currency"], split[color], strict=True)]]
    shown = split.groupby(["day", "currency"])["cost"].sum()
    rest = []
    for row in totals.itertuples(index=False):
        left = row.cost - shown.get((row.day, row.currency), Decimal(0))
        if left:
            label = f"({counts[row.currency] - len(top[str(row.currency)])} others)"
            rest.append(
                {"day": row.day, color: label, "currency": row.currency, "cost": left, "estimated": row.estimated}
            )
    return pd.concat([split, pd.DataFrame(rest, columns=split.columns)], ignore_index=True)


def _top_series(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Keep the SERIES biggest categories; the rest become one '(N others)'."""
    sums = frame.groupby(column)["cost"].sum().sort_values(ascending=False)
    if len(sums) <= SERIES:
        return frame
    keep = set(sums.index[: SERIES - 1])
    label = f"({len(sums) - SERIES + 1} others)"
    out = frame.copy()
    out[column] = out[column].map(lambda v: v if v in keep else label)
    return out


def _trend(daily: pd.DataFrame, color: str | None, currency: str) -> None:
    if daily.empty:
        return
    data = daily.assign(cost=daily["cost"].map(float))
    encode: dict[str, Any] = {
        "x": alt.X("day:T", title=None),
        "y": alt.Y("sum(cost):Q", title=f"spend ({currency})"),
        "tooltip": ["day:T", alt.Tooltip("sum(cost):Q", format=",.2f", title="cost")],
    }
    if color:
        data = _top_series(data, color)
        encode["color"] = alt.Color(f"{color}:N", title=LABELS[color])
        encode["tooltip"] = [*encode["tooltip"], f"{color}:N"]
    st.altair_chart(alt.Chart(data).mark_bar().encode(**encode).properties(height=300), width="stretch")


def _split(shaped: pd.DataFrame, by: tuple[str, ...], currency: str) -> None:
    dims = [d for d in by if d != "day"]
    if not dims:
        st.caption("Group by something other than day to see a breakdown.")
        return
    data = _top_series(shaped.assign(cost=shaped["cost"].map(float)), dims[0])
    encode: dict[str, Any] = {
        "y": alt.Y(f"{dims[0]}:N", sort="-x", title=LABELS[dims[0]]),
        "x": alt.X("sum(cost):Q", title=f"spend ({currency})"),
        "tooltip": [f"{d}:N" for d in dims[:2]] + [alt.Tooltip("sum(cost):Q", format=",.2f", title="cost")],
    }
    if len(dims) > 1:
        data = _top_series(data, dims[1])
        encode["color"] = alt.Color(f"{dims[1]}:N", title=LABELS[dims[1]])
    height = max(160, 28 * data[dims[0]].nunique())
    st.altair_chart(alt.Chart(data).mark_bar().encode(**encode).properties(height=height), width="stretch")


# --- drill-down -------------------------------------------------------------------------------


def _drill_down(view: SpendView, viewer: Viewer) -> None:
    """Project -> its models -> their meters -> the resources -> the resource's cost rows."""
    st.subheader("Drill down")
    filters = dict(view.key())
    levels = ("project", "model", "meter", "resource")
    cols = st.columns(4)
    chosen: dict[str, str] = {}
    frame = pd.DataFrame()
    for level, column in zip(levels, cols, strict=True):
        frame = queries.spend_frame(
            view.date_from,
            view.date_to,
            (level,),
            tuple(sorted({**filters, **{k: (v,) for k, v in chosen.items()}}.items())),
            viewer.scope,
        )
        options = sorted({str(v) for v in frame[level]})
        picked = column.selectbox(
            LABELS[level],
            options,
            index=None,
            key=f"drill_{level}",
            placeholder=f"choose a {level}" if options else "-",
            format_func=_resource_label if level == "resource" else str,
            disabled=not options,
        )
        if picked is None:
            break
        chosen[level] = picked
    if len(chosen) < len(levels):
        level = levels[len(chosen)]
        trail = " / ".join(chosen.values())
        st.caption(f"{LABELS[level]}s" + (f" of {trail}" if chosen else " (choose one above to go deeper)"))
        table(
            frame.sort_values("cost", ascending=False),
            key=f"drill_{level}_table",
            file_name=f"spend-{view.date_from}-{view.date_to}-{'-'.join(chosen.values()) or 'all'}-by-{level}",
            column_config=_wide_resource((level,)),
        )
        return
    rows = queries.cost_rows_frame(chosen["resource"], view.date_from, view.date_to, viewer.scope)
    rows = rows[rows["meter"] == chosen["meter"]]
    st.caption(f"Cost rows of {chosen['resource']}, meter {chosen['meter']}, as Azure last stated them")
    table(rows, key="drill_rows", file_name=f"cost-rows-{_resource_label(chosen['resource'])}-{view.date_from}")


def _resource_label(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[-1] if len(parts) > 1 else resource_id


# --- unattributed -----------------------------------------------------------------------------


def _unattributed(view: SpendView) -> None:
    frame = queries.unattributed_frame(view.date_from, view.date_to, None)
    for name, column in (("subscription", "subscription"), ("model", "model"), ("currency", "currency")):
        wanted = {v.lower() for v in view.values(name)}
        if wanted:
            frame = frame[frame[column].str.lower().isin(wanted)]
    if frame.empty:
        return
    st.subheader(f"Unattributed spend {UNATTRIBUTED}")
    st.caption(
        "AI spend costwatch could not give to one project. It is kept (and counted in every total above); "
        "tag the SaaS resource with `costwatch-project` or map it in `[attribution.resources]`, and the next "
        "collection re-attributes all its history."
    )
    for currency, part in frame.groupby("currency"):
        table(
            part.drop(columns=["currency"]),
            key=f"unattributed_{currency}",
            file_name=f"unattributed-{view.date_from}-{view.date_to}-{currency}",
            currency=str(currency),
            column_config={"why": st.column_config.TextColumn("why", width="large")},
        )
