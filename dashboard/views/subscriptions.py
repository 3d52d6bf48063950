"""Which project holds which model offer, its status, and the inventory's history."""

from __future__ import annotations

import streamlit as st

from dashboard import access, queries
from dashboard.ui import table


def render() -> None:
    viewer = access.guard()
    st.title("Marketplace subscriptions")
    frame = queries.marketplace_frame(viewer.scope)
    project = st.query_params.get("project")
    if project:
        st.caption(f"Project {project} (from the link).")
        frame = frame[frame["project"] == project]
    if frame.empty:
        st.info("No marketplace subscriptions (for the projects you can see).")
    else:
        table(frame, key="marketplace", file_name="marketplace-subscriptions", money=())
    st.subheader("Changes in the last 30 days")
    events = queries.events_frame(30, viewer.scope)
    if events.empty:
        st.caption("None.")
    else:
        table(events, key="events", file_name="inventory-changes-30d", money=())
