"""When each collection job and scope last succeeded."""

from __future__ import annotations

import streamlit as st

from dashboard import access, queries
from dashboard.ui import table


def render() -> None:
    viewer = access.guard()
    st.title("Collection status")
    frame = queries.status_frame(with_scopes=viewer.may_see_status)
    stale = frame[(frame["state"] == "STALE") & (frame["scope"] == "(all)")]
    if not stale.empty:
        st.warning("Stale: " + ", ".join(stale["job"]))
    table(
        frame,
        key="status",
        file_name="collection-status",
        money=(),
        column_config={"last success": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm z")},
    )
