"""VM-core usage against its limit per region and VM family, with the alert bands."""

from __future__ import annotations

import streamlit as st

from collector.settings import load_settings
from dashboard import queries


def render() -> None:
    st.title("Quota")
    frame = queries.quota_frame()
    if frame.empty:
        st.info("No quota snapshot yet: run `costwatch collect --only quota` or `costwatch schedule`.")
        return
    alerts = load_settings().alerts
    warn, critical = alerts.quota_warn * 100, alerts.quota_critical * 100
    params = st.query_params
    if "subscription" in params:
        frame = frame[frame["subscription"] == params["subscription"]]
    if "region" in params:
        frame = frame[frame["region"] == params["region"]]
    st.caption(f"Warning at {warn:.0f}%, critical at {critical:.0f}% of the limit; unlimited families never alert.")
    band = frame["percent"].apply(
        lambda p: "" if p is None or p != p else "critical" if p >= critical else "warning" if p >= warn else "ok"
    )
    st.dataframe(
        frame.assign(band=band).sort_values("percent", ascending=False, na_position="last"),
        hide_index=True,
        use_container_width=True,
        column_config={
            "percent": st.column_config.ProgressColumn("percent", min_value=0, max_value=100, format="%.1f%%")
        },
    )
