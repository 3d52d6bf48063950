"""VM-core usage against its limit per region and VM family, with the alert bands and its history."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import access, queries
from dashboard.ui import table

HISTORY_DAYS = 30


def _band(percent: float | None, warn: float, critical: float) -> str:
    if percent is None or percent != percent:
        return "unlimited"
    if percent >= critical:
        return "CRITICAL"
    if percent >= warn:
        return "warning"
    return "ok"


def render() -> None:
    viewer = access.guard()
    st.title("Quota")
    frame = queries.quota_frame(viewer.scope)
    if frame.empty:
        st.info("No quota snapshot yet: run `costwatch collect --only quota` or `costwatch schedule`.")
        return
    alerts = queries.settings().alerts
    warn, critical = alerts.quota_warn * 100, alerts.quota_critical * 100
    params = st.query_params
    if "subscription" in params:
        frame = frame[frame["subscription"] == params["subscription"]]
    if "region" in params:
        frame = frame[frame["region"] == params["region"]]
    if viewer.role == "project_owner":
        st.caption("The subscriptions and regions of your projects (quota is shared by every project there).")
    names = queries.subscription_names()
    frame = frame.assign(
        band=frame["percent"].map(lambda p: _band(p, warn, critical)),
        subscription=frame["subscription"].map(lambda s: names.get(s, s)),
        subscription_id=frame["subscription"],
    ).sort_values("percent", ascending=False, na_position="last")
    near = frame[frame["band"].isin(["CRITICAL", "warning"])]
    cols = st.columns(3)
    cols[0].metric("Families at or over critical", int((frame["band"] == "CRITICAL").sum()))
    cols[1].metric("Families at or over warning", len(near))
    cols[2].metric("Families watched", len(frame))
    st.caption(f"Warning at {warn:.0f}%, critical at {critical:.0f}% of the limit; unlimited families never alert.")
    shown = ["band", "subscription", "region", "provider", "family", "current", "limit", "percent", "as of"]
    config = {
        "percent": st.column_config.ProgressColumn("percent", min_value=0, max_value=100, format="%.1f%%"),
        "as of": st.column_config.DatetimeColumn("as of", format="YYYY-MM-DD HH:mm z"),
    }
    st.subheader("Near the limit")
    if near.empty:
        st.success("No quota (VM cores or Foundry capacity) is at or over the warning level.")
    else:
        table(near[shown], key="quota_near", file_name="quota-near-limit", money=(), column_config=config)
    with st.expander(f"Every family ({len(frame)})"):
        table(frame[shown], key="quota", file_name="quota", money=(), column_config=config)
    _history(frame, viewer.scope)


def _history(frame: pd.DataFrame, scope: tuple[str, ...] | None) -> None:
    st.subheader("History")
    limited = frame[frame["percent"].notna()]
    if limited.empty:
        return
    labels = [f"{r.family} · {r.region} · {r.subscription} ({r.provider})" for r in limited.itertuples(index=False)]
    picked = st.selectbox("Family", labels, index=0, key="quota_family")
    if picked is None:
        return
    row = limited.iloc[labels.index(picked)]
    history = queries.quota_history(
        str(row["subscription_id"]), str(row["region"]), str(row["provider_id"]), str(row["name"]), HISTORY_DAYS, scope
    )
    if history.empty:
        return
    data = history.melt(id_vars="taken_at", value_vars=["current", "limit"], var_name="series", value_name="used")
    chart = (
        alt.Chart(data)
        .mark_line(interpolate="step-after", point=True)
        .encode(
            x=alt.X("taken_at:T", title=None),
            y=alt.Y("used:Q", title=str(row["unit_label"])),
            strokeDash=alt.StrokeDash("series:N", title=None),
            tooltip=["taken_at:T", "series:N", "used:Q"],
        )
        .properties(height=240)
    )
    st.altair_chart(chart, width="stretch")
    snapshots = len(history)
    st.caption(
        f"Used and the limit ({row['unit_label']}), every snapshot of the last {HISTORY_DAYS} days "
        f"({snapshots} so far; `costwatch schedule` takes one every 15 minutes)."
    )
