"""Runs: the history from the run store, with filters, item details and exports."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app.components import state
from app.components.runs_view import export_buttons, open_store, runs_frame, summary_metrics

st.title("Runs")
path = state.store_path()
st.caption(f"Run store: `{path}`")
store = open_store(path)
if store is not None:
    from workbench.runs.report import item_detail, item_rows, summarize

    frame = runs_frame(store.runs(limit=500))
    if frame.empty:
        st.info("The store has no runs yet.")
    else:
        c1, c2 = st.columns(2)
        suites = c1.multiselect("Suite", sorted(set(frame["suite"])), key="runs_suite")
        statuses = c2.multiselect("Status", sorted(set(frame["status"])), key="runs_status")
        mask = pd.Series(True, index=frame.index)
        if suites:
            mask &= frame["suite"].isin(suites)
        if statuses:
            mask &= frame["status"].isin(statuses)
        shown = frame[mask]
        st.dataframe(shown, hide_index=True)
        ids = list(shown["id"])
        if ids:
            names = dict(zip(frame["id"], frame["name"]))
            rid = st.selectbox("Run", ids, key="runs_pick",
                               format_func=lambda i: f"{i} {names.get(i) or ''}".strip())  # fmt: skip
            rows = item_rows(store, rid)
            summary = summarize(store, rid, rows=rows)
            summary_metrics(summary)
            cols = ["item_id", "backend", "agent", "status", "termination", "objective",
                    "reference", "correct", "elapsed", "tokens", "error"]  # fmt: skip
            st.dataframe(pd.DataFrame(rows)[cols] if rows else pd.DataFrame(columns=cols),
                         hide_index=True)  # fmt: skip
            export_buttons(store, rid, key="runs_export")
            keys = [r["key"] for r in rows]
            if keys:
                st.subheader("Item")
                key = st.selectbox("Item", keys, key="runs_item")
                detail = item_detail(store, rid, key)
                t1, t2, t3, t4 = st.tabs(["Result", "Transcript", "Model and artifacts", "Log"])
                res = detail.get("result") or {}
                with t1:
                    st.json({k: v for k, v in res.items() if k != "log"}, expanded=False)
                    st.json(detail.get("score") or {}, expanded=False)
                with t2:
                    calls = detail.get("llm_calls") or []
                    if not calls and not detail.get("attempts"):
                        st.caption("No LLM calls: this item ran a reference model.")
                    for a in detail.get("attempts") or []:
                        st.markdown(f"**Attempt** `{json.dumps(a, default=str)[:300]}`")
                    for k, c in enumerate(calls):
                        st.markdown(f"**Call {k + 1}**")
                        st.code(json.dumps(c.get("prompt"), indent=1, default=str)[:3000])
                        st.code(str(c.get("response", ""))[:3000])
                with t3:
                    arts = detail.get("artifacts") or []
                    if not arts:
                        st.caption("No artifacts stored for this item.")
                    for a in arts:
                        st.markdown(f"**{a.get('name', 'artifact')}**")
                        st.code(str(a.get("content", ""))[:6000])
                with t4:
                    st.code(res.get("log") or "(no log stored)", language="text")
    store.close()
