"""Monthly finance reports: generate one (CSV, Excel, PDF or FOCUS) and download the ones generated."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from collector.periods import add_months
from collector.read.monthly_report import parse_month
from collector.reports.files import FORMATS, MIME_TYPES, file_state, generate, generated_reports
from collector.settings import load_settings
from dashboard import queries

FORMAT_LABELS = {
    "csv": "CSV (finance rows)",
    "xlsx": "Excel workbook",
    "pdf": "PDF report",
    "focus": "FOCUS 1.2 cost file",
}
SHOWN = 25  # download buttons for the newest reports; the table lists them all


def _reader(path: Path) -> Callable[[], bytes]:
    return lambda: path.read_bytes()  # read only when the button is clicked


def render() -> None:
    st.title("Reports")
    st.caption(
        "Monthly AI spend per project, cost center, model and meter, per currency, with the previous month, "
        "budgets and alerts. A month is final once Azure has closed it; until then the report says estimated."
    )
    last_month = add_months(datetime.now(UTC).date().replace(day=1), -1)
    with st.form("generate"):
        col_month, col_format = st.columns(2)
        month_text = col_month.text_input("Month (YYYY-MM)", f"{last_month:%Y-%m}")
        fmt = col_format.selectbox("Format", FORMATS, format_func=lambda f: FORMAT_LABELS[f])
        submitted = st.form_submit_button("Generate")
    if submitted and fmt:
        try:
            month = parse_month(month_text)
        except ValueError as exc:
            st.error(str(exc))
        else:
            with st.spinner(f"Writing the {fmt} report of {month:%B %Y}..."):
                made = generate(queries.engine(), load_settings(), month, fmt)
            st.success(f"{made.path.name} ({made.report.data_status}, {made.size:,} bytes) written to {made.path}")

    with Session(queries.engine()) as session:
        records = generated_reports(session)
    if not records:
        st.info("No report generated yet: use the form above or `costwatch report --month YYYY-MM`.")
        return
    states = {r.id: file_state(r, verify=False) for r in records}
    frame = pd.DataFrame(
        [
            {
                "month": r.month,
                "format": r.format,
                "status": r.data_status,
                "generated": r.created_at,
                "size": r.size,
                "file": "ok" if states[r.id] == "ok" else states[r.id],
                "sha256": r.sha256,
                "path": r.path,
            }
            for r in records
        ],
        columns=["month", "format", "status", "generated", "size", "file", "sha256", "path"],
    )
    st.subheader("Generated reports")
    st.dataframe(frame, hide_index=True, width="stretch")
    st.subheader("Download")
    for record in records[:SHOWN]:
        path = Path(record.path)
        label = f"{record.month} · {record.format} · {record.data_status} · {record.created_at:%Y-%m-%d %H:%M} UTC"
        state = states[record.id]
        col_label, col_button = st.columns([3, 1])
        col_label.write(label if state == "ok" else f"{label} (file {state})")
        col_button.download_button(
            "Download",
            data=_reader(path),
            file_name=path.name,
            mime=MIME_TYPES.get(record.format, "application/octet-stream"),
            key=f"report-{record.id}",
            disabled=state != "ok",
        )
