"""When each collection job and scope last succeeded."""

from __future__ import annotations

import streamlit as st

from dashboard import queries


def render() -> None:
    st.title("Collection status")
    frame = queries.status_frame()
    stale = frame[(frame["state"] == "STALE") & (frame["scope"] == "(all)")]
    if not stale.empty:
        st.warning("Stale: " + ", ".join(stale["job"]))
    st.dataframe(frame, hide_index=True, use_container_width=True)
