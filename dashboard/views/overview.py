"""The morning view: month-to-date spend and forecast per currency against last month and the
budgets, the top projects and models, firing alerts, and how fresh (and how final) the figures are."""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal

import altair as alt
import pandas as pd
import streamlit as st

from collector.read.budgets import budget_totals
from dashboard import access, queries
from dashboard.auth import Viewer
from dashboard.figures import (
    MonthFigures,
    budget_lines,
    estimated_span,
    money,
    month_figures,
    month_window,
    percent,
)
from dashboard.ui import page_link, table

TOP = 5


def render() -> None:
    viewer = access.guard()
    st.title("Overview")
    if not viewer.authenticated:
        st.caption(
            ":material/lock_open: No sign-in is configured, so this dashboard is served on 127.0.0.1 only "
            "(see docs/dashboard.md to turn sign-in on)."
        )
    _, as_of = queries.data_span()
    if as_of is None:
        st.info("No cost data yet: run `costwatch collect` (or `costwatch schedule`) first.")
        _freshness(viewer, None)
        return
    month, _, previous, previous_end = month_window(as_of)
    # Two reads, each from the coarsest rollup that answers it: the daily totals of both months (the
    # headlines, the cumulative chart, which days are estimated), and this month per project, model and
    # subscription (budgets, top lists), whole from the monthly rollup.
    frame = queries.spend_frame(previous, as_of, ("day",), (), viewer.scope)
    this_month = queries.spend_frame(month, as_of, ("project", "model", "subscription"), (), viewer.scope)
    st.caption(
        f"Month to date: {month:%d %b} to {as_of:%d %b %Y}, the last day with cost data; compared with "
        f"{previous:%d %b} to {previous_end:%d %b}. Amounts per currency, never added across currencies."
    )
    if viewer.role == "project_owner":
        st.caption("Your projects only: " + ", ".join(sorted(viewer.projects or ())))
    if (date.today() - as_of).days > 3:
        st.warning(f"Cost data ends on {as_of}: collection may be stuck (see Status).")
    figures = month_figures(((r.day, r.currency, r.cost, r.estimated) for r in frame.itertuples(index=False)), as_of)
    if not figures:
        st.info("No spend in this period for the projects you can see.")
    for f in figures:
        _headline(f)
    if figures:
        _cumulative(frame, as_of)
    _budgets(viewer, this_month, as_of)
    if figures:
        _top(this_month, as_of, month)
    _alerts(viewer)
    _freshness(viewer, frame)


def _headline(f: MonthFigures) -> None:
    label = f" ({f.currency})"
    change = f.change
    cols = st.columns(4)
    cols[0].metric(
        f"Month to date{label}",
        money(f.month_to_date, f.currency),
        delta=None if change is None else f"{percent(change)} vs last month",
        delta_color="inverse",
        help="Includes estimated days: Azure restates them until the month closes." if f.estimated else None,
    )
    cols[1].metric(
        f"Forecast for {f.month:%B}{label}",
        money(f.forecast, f.currency),
        help=f"Run rate: month to date / {f.days_seen} days with data x {f.days_in_month} days (as the budget alert).",
    )
    cols[2].metric(f"Last month, same period{label}", money(f.last_month_same_period, f.currency))
    cols[3].metric(f"Per day this month{label}", money(f.month_to_date / f.days_seen, f.currency))


def _cumulative(frame: pd.DataFrame, as_of: date) -> None:
    """Cumulative spend by day of month: this month against last month, per currency."""
    month, _, previous, _ = month_window(as_of)
    daily = frame.groupby(["currency", "day"], as_index=False)["cost"].sum()
    daily["month"] = daily["day"].map(lambda d: f"{d:%B}")
    daily["day of month"] = daily["day"].map(lambda d: d.day)
    daily["cost"] = daily["cost"].map(float)
    daily = daily.sort_values("day")
    daily["cumulative"] = daily.groupby(["currency", "month"])["cost"].cumsum()
    order = [f"{previous:%B}", f"{month:%B}"]
    currencies = sorted(daily["currency"].unique())
    for column, currency in zip(st.columns(len(currencies)), currencies, strict=True):
        chart = (
            alt.Chart(daily[daily["currency"] == currency])
            .mark_line(point=True)
            .encode(
                x=alt.X("day of month:Q", scale=alt.Scale(domain=[1, 31]), axis=alt.Axis(tickMinStep=1)),
                y=alt.Y("cumulative:Q", title=f"cumulative spend ({currency})"),
                color=alt.Color("month:N", sort=order, title=None, legend=alt.Legend(orient="top-left")),
                strokeDash=alt.StrokeDash("month:N", sort=order, legend=None),
                tooltip=["month", "day", alt.Tooltip("cumulative:Q", format=",.2f")],
            )
            .properties(height=220)
        )
        column.altair_chart(chart, width="stretch")


def _budgets(viewer: Viewer, this_month: pd.DataFrame, as_of: date) -> None:
    budgets = queries.settings().alerts.budgets
    if not viewer.sees_all:  # other scopes add up projects the viewer may not see
        budgets = [b for b in budgets if b.scope == "project" and viewer.may_see(b.name)]
    if not budgets:
        return
    month, _, _, _ = month_window(as_of)
    totals = budget_totals(
        (
            ({"project": r.project, "model": r.model, "subscription": r.subscription}, r.currency, r.cost, r.estimated)
            for r in this_month.itertuples(index=False)
        ),
        queries.cost_centers(),
    )
    days_seen = (as_of - month).days + 1
    lines = budget_lines(budgets, totals, days_seen, calendar.monthrange(as_of.year, as_of.month)[1])
    st.subheader("Budgets")
    table(
        pd.DataFrame(
            [
                {
                    "budget": f"{b.scope.replace('_', ' ')} {b.name}",
                    "currency": b.currency,
                    "amount": b.amount,
                    "spent": b.spent,
                    "used": float(b.share),
                    "forecast": b.forecast,
                    "forecast used": float(b.forecast_share),
                    "state": b.state + (" (estimated days)" if b.estimated else ""),
                }
                for b in lines
            ]
        ),
        key="budgets",
        file_name=f"budgets-{as_of:%Y-%m}",
        money=("amount", "spent", "forecast"),
        column_config={
            "used": st.column_config.ProgressColumn("used", min_value=0, max_value=100, format="%.0f%%"),
            "forecast used": st.column_config.NumberColumn("forecast used", format="%.0f%%"),
        },
    )


def _top(this_month: pd.DataFrame, as_of: date, month: date) -> None:
    st.subheader("Where it goes this month")
    left, right = st.columns(2)
    for column, dim in ((left, "project"), (right, "model")):
        with column:
            for currency, part in this_month.groupby("currency"):
                sums = part.groupby(dim, as_index=False)["cost"].sum()
                total = sum(sums["cost"], Decimal(0))
                sums = sums.sort_values("cost", ascending=False).head(TOP)
                sums["share"] = sums["cost"].map(lambda c, t=total: float(c / t * 100) if t else 0.0)
                st.markdown(f"**Top {dim}s ({currency})**")
                table(
                    sums,
                    key=f"top_{dim}_{currency}",
                    file_name=f"top-{dim}s-{as_of:%Y-%m}-{currency}",
                    currency=str(currency),
                    column_config={
                        "share": st.column_config.ProgressColumn("share", min_value=0, max_value=100, format="%.0f%%")
                    },
                )
    page_link(
        "spend",
        "Open the month in Spend",
        icon=":material/payments:",
        query_params={"from": month.isoformat(), "to": as_of.isoformat(), "by": "project,model"},
    )


def _alerts(viewer: Viewer) -> None:
    firing = queries.alerts_frame("firing", viewer.scope)
    st.subheader("Alerts")
    counts = firing["severity"].value_counts().to_dict() if not firing.empty else {}
    cols = st.columns(4)
    cols[0].metric("Firing alerts", len(firing))
    for col, severity in zip(cols[1:], ("critical", "warning", "info"), strict=True):
        col.metric(severity.capitalize(), int(counts.get(severity, 0)))
    critical = firing[firing["severity"] == "critical"]
    for row in critical.head(5).itertuples(index=False):
        st.markdown(f"- :material/error: **{row.subject}**: {row.message}")
    page_link("alerts", f"Open {len(firing)} firing alert(s)", icon=":material/notifications:")


def _freshness(viewer: Viewer, frame: pd.DataFrame | None) -> None:
    st.subheader("Data freshness")
    jobs = queries.status_frame(with_scopes=False)
    stale = jobs[jobs["state"] == "STALE"]
    if not stale.empty:
        st.warning(
            "Stale: "
            + ", ".join(
                f"{r.job} (never succeeded)" if r.age == "never" else f"{r.job} (last success {r.age} ago)"
                for r in stale.itertuples()
            )
        )
    table(
        jobs[["job", "last success", "age", "state", "last status"]],
        key="freshness",
        file_name="freshness",
        money=(),
        column_config={"last success": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm z")},
    )
    if frame is not None and not frame.empty:
        final_after = queries.settings().costs.final_after_day
        span = estimated_span(frame.groupby("day")["estimated"].any().items())
        if span:
            st.caption(
                f":material/pending: Days from {span[0]} to {span[1]} are still estimates: Azure may restate them "
                f"until day {final_after} of the following month, and costwatch re-pulls them until then."
            )
        else:
            st.caption(":material/task_alt: Every day shown is final.")
    if viewer.may_see_status:
        page_link("status", "Collection status per subscription", icon=":material/monitor_heart:")
