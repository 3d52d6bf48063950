"""Spend by project, model and meter, per currency, with the daily trend."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from dashboard import queries


def render() -> None:
    st.title("Spend")
    fresh = queries.freshness()
    if fresh["last_day"] is None:
        st.info("No cost data yet: run `costwatch collect` first.")
        return
    last_day = fresh["last_day"]
    assert isinstance(last_day, date)
    default_from = last_day.replace(day=1) if last_day.day > 1 else last_day - timedelta(days=30)
    col_from, col_to, col_by = st.columns([1, 1, 2])
    date_from = col_from.date_input("From", default_from)
    date_to = col_to.date_input("To", last_day)
    by = col_by.multiselect(
        "Group by", ["project", "model", "meter", "subscription", "resource"], default=["project", "model"]
    )
    st.caption(f"Last collection: {fresh['last_run']} ({fresh['last_status']}); data to {last_day}.")
    if not isinstance(date_from, date) or not isinstance(date_to, date) or not by:
        return
    frame = queries.spend_frame(date_from, date_to, tuple(by))
    for currency, part in frame.groupby("currency"):
        total = part["cost"].sum()
        estimated = " (includes estimated days)" if part["estimated"].any() else ""
        st.metric(f"Total {currency}{estimated}", f"{total:,.2f} {currency}")
        st.dataframe(part.drop(columns=["currency"]), hide_index=True, use_container_width=True)
    daily = queries.spend_frame(date_from, date_to, ("day", "project"))
    for currency, part in daily.groupby("currency"):
        st.subheader(f"Daily spend by project ({currency})")
        chart = part.assign(cost=part["cost"].astype(float)).pivot_table(
            index="day", columns="project", values="cost", aggfunc="sum"
        )
        st.bar_chart(chart)
