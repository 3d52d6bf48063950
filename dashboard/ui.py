"""Shared page pieces: money tables with their CSV download, links between pages.

Money stays Decimal from the store to the table and the CSV; tables show it with two decimals
("accounting": thousands separators, refunds in parentheses). No hard-coded colours: charts use
Streamlit's theme, so light and dark both read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

PAGES_KEY = "costwatch_pages"


def money_column(label: str) -> Any:
    return st.column_config.NumberColumn(label, format="accounting")


def table(
    frame: pd.DataFrame,
    *,
    key: str,
    file_name: str,
    money: Sequence[str] = ("cost",),
    currency: str | None = None,
    column_config: Mapping[str, Any] | None = None,
    height: int | Literal["auto"] = "auto",
) -> None:
    """A table and, under it, its CSV (exact amounts, every column shown)."""
    config: dict[str, Any] = {
        m: money_column(f"{m} ({currency})" if currency else m) for m in money if m in frame.columns
    }
    config.update(column_config or {})
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config, height=height)
    st.download_button(
        "CSV",
        frame.to_csv(index=False).encode(),
        file_name=safe_file_name(file_name) + ".csv",
        mime="text/csv",
        key=f"csv_{key}",
        icon=":material/download:",
        on_click="ignore",
        help="Download this table (exact amounts)",
    )


def safe_file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "costwatch"


def page_link(
    url_path: str, label: str, icon: str | None = None, query_params: Mapping[str, Any] | None = None
) -> None:
    """A link to another page of the navigation (keeping the session), else a plain URL link."""
    pages = st.session_state.get(PAGES_KEY) or {}
    page = pages.get(url_path)
    if page is not None:
        st.page_link(page, label=label, icon=icon, query_params=dict(query_params or {}))
    else:
        query = f"?{urlencode(query_params or {}, doseq=True)}" if query_params else ""
        st.markdown(f"[{label}](/{url_path}{query})")
