"""Firing and recent alerts; acknowledge one to stop its reminders."""

from __future__ import annotations

import streamlit as st

from dashboard import queries


def render() -> None:
    st.title("Alerts")
    state = st.segmented_control("State", ["firing", "resolved", "all"], default="firing") or "firing"
    frame = queries.alerts_frame(state)
    if frame.empty:
        st.success(f"No {state} alerts.")
        return
    st.dataframe(frame, hide_index=True, use_container_width=True)
    firing = frame[(frame["state"] == "firing") & (frame["acknowledged"] == "")]
    if not firing.empty:
        with st.form("ack"):
            key = st.selectbox("Acknowledge (no more reminders until it resolves)", firing["key"].tolist())
            if st.form_submit_button("Acknowledge") and key:
                from collector.alerts.engine import acknowledge

                acknowledge(queries.engine(), key, "dashboard")
                queries.alerts_frame.clear()
                st.rerun()
