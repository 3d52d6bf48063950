"""Firing and recent alerts; acknowledge one to stop its reminders, optionally silencing it for a while."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboard import access, queries
from dashboard.ui import table

SEVERITY = {"critical": "CRITICAL", "warning": "warning", "info": "info"}


def render() -> None:
    viewer = access.guard()
    st.title("Alerts")
    state = st.segmented_control("State", ["firing", "resolved", "all"], default="firing") or "firing"
    frame = queries.alerts_frame(state, viewer.scope)
    if frame.empty:
        st.success(f"No {state} alerts.")
        return
    shown = frame.assign(severity=frame["severity"].map(lambda s: SEVERITY.get(s, s)))
    table(
        shown.drop(columns=["project"]),
        key=f"alerts_{state}",
        file_name=f"alerts-{state}",
        money=(),
        column_config={
            "link": st.column_config.LinkColumn("link", display_text="open"),
            "message": st.column_config.TextColumn("message", width="large"),
        },
    )
    pending = frame[(frame["state"] == "firing") & (frame["acknowledged"] == "")]
    if pending.empty:
        return
    with st.form("ack"):
        st.markdown("**Acknowledge** (no more reminders until it resolves)")
        subjects = dict(zip(pending["key"], pending["subject"], strict=True))
        key = st.selectbox("Alert", list(subjects), format_func=lambda k: f"{subjects[k]} ({k.split(':', 1)[0]})")
        hours = st.number_input(
            "Also silence it for (hours; 0 = no silence)", min_value=0, max_value=24 * 30, value=0, step=1
        )
        if st.form_submit_button("Acknowledge") and key:
            if key not in set(queries.alerts_frame("firing", viewer.scope)["key"]):
                st.error("That alert is not one you can see.")
                return
            from collector.alerts.engine import acknowledge

            who = viewer.name if viewer.authenticated else "dashboard"
            acknowledge(queries.engine(), key, who, timedelta(hours=int(hours)) if hours else None)
            queries.alerts_frame.clear()
            st.rerun()
