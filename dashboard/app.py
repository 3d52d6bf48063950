"""costwatch dashboard entry point: `costwatch dashboard` runs it with Streamlit."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script: make the project's packages importable from a checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard.pages import alerts, deployments, quota, spend, status, subscriptions

st.set_page_config(page_title="costwatch", page_icon=":material/savings:", layout="wide")
page = st.navigation(
    [
        st.Page(spend.render, title="Spend", icon=":material/payments:", url_path="spend", default=True),
        st.Page(quota.render, title="Quota", icon=":material/memory:", url_path="quota"),
        st.Page(deployments.render, title="Deployments", icon=":material/speed:", url_path="deployments"),
        st.Page(subscriptions.render, title="Subscriptions", icon=":material/storefront:", url_path="subscriptions"),
        st.Page(alerts.render, title="Alerts", icon=":material/notifications:", url_path="alerts"),
        st.Page(status.render, title="Status", icon=":material/monitor_heart:", url_path="status"),
    ]
)
page.run()
