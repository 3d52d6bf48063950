"""Which project holds which model offer, its status, and the inventory's history."""

from __future__ import annotations

import streamlit as st

from dashboard import queries


def render() -> None:
    st.title("Marketplace subscriptions")
    frame = queries.marketplace_frame()
    if "project" in st.query_params:
        frame = frame[frame["project"] == st.query_params["project"]]
    st.dataframe(frame, hide_index=True, use_container_width=True)
    st.subheader("Changes in the last 30 days")
    st.dataframe(queries.events_frame(30), hide_index=True, use_container_width=True)
