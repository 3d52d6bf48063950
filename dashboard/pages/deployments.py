"""Each deployment's peak tokens and requests per minute against its limits."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import queries


def render() -> None:
    st.title("Deployments")
    hours = st.select_slider("Window", options=[1, 6, 24, 72, 168, 336], value=24, format_func=lambda h: f"{h} h")
    frame = queries.deployments_frame(hours)
    if frame.empty:
        st.info("No deployments yet: run `costwatch collect`.")
        return
    if "project" in st.query_params:
        frame = frame[frame["project"] == st.query_params["project"]]
    serverless = frame[frame["kind"] == "serverless"].copy()
    serverless["TPM used %"] = serverless["peak_tpm"] / serverless["tpm_limit"] * 100
    serverless["RPM used %"] = serverless["peak_rpm"] / serverless["rpm_limit"] * 100
    st.subheader("Serverless (pay as you go)")
    st.dataframe(
        serverless[
            [
                "project",
                "deployment",
                "model",
                "status",
                "peak_tpm",
                "tpm_limit",
                "TPM used %",
                "peak_rpm",
                "rpm_limit",
                "RPM used %",
                "minutes_near_tpm",
                "minutes_near_rpm",
            ]
        ],
        hide_index=True,
        use_container_width=True,
        column_config={
            "TPM used %": _percent(),
            "RPM used %": _percent(),
        },
    )
    managed = frame[frame["kind"] == "managed"]
    if not managed.empty:
        st.subheader("Managed compute")
        st.dataframe(
            managed[["project", "deployment", "model", "status", "instance_type", "instance_count"]],
            hide_index=True,
            use_container_width=True,
        )


def _percent() -> Any:
    return st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.0f%%")
