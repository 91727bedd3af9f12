"""The Optimization Workbench app: ``streamlit run app/main.py`` (or ``workbench app``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent / "app_pages"

st.set_page_config(
    page_title="Optimization Workbench", page_icon=":material/functions:", layout="wide"
)

PAGES = [
    st.Page(HERE / "formulate.py", title="Formulate & Solve", icon=":material/chat:", default=True),
    st.Page(
        HERE / "editor.py", title="Model editor", icon=":material/edit_note:", url_path="editor"
    ),
    st.Page(
        HERE / "benchmarks.py",
        title="Benchmarks",
        icon=":material/bar_chart:",
        url_path="benchmarks",
    ),
    st.Page(HERE / "runs.py", title="Runs", icon=":material/history:", url_path="runs"),
    st.Page(
        HERE / "settings.py", title="Settings", icon=":material/settings:", url_path="settings"
    ),
]

st.navigation(PAGES).run()
