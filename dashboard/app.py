"""costwatch dashboard entry point: `costwatch dashboard` runs it with Streamlit."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script: make the project's packages importable from a checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard.nav import main

st.set_page_config(page_title="costwatch", page_icon=":material/savings:", layout="wide")
main()
