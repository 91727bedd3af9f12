"""Read-only views of the run store shared by the Runs and Benchmarks pages."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

if TYPE_CHECKING:
    from workbench.runs.store import RunStore

__all__ = ["charts", "export_buttons", "open_store", "runs_frame", "summary_metrics"]


def open_store(path: Path) -> RunStore | None:
    """Open the store read-only; show why not (and return ``None``) when it cannot be."""
    from workbench.runs import RunStore
    from workbench.runs.store import store_is_empty

    if store_is_empty(path):
        where = "no run store" if not path.exists() else "the run store is empty"
        st.info(f"No runs yet ({where} at `{path}`): launch a batch on the Benchmarks page "
                "(or `workbench bench`), or set another store file in Settings.")  # fmt: skip
        return None
    try:
        return RunStore(path, readonly=True)
    except Exception as e:  # a corrupt or foreign file
        st.error(f"Cannot open the run store `{path}`: {e}")
        return None


def runs_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Runs as a table: id, name, suite, status, progress and creation time."""
    rows = []
    for r in runs:
        prog = r.get("progress") or {}
        rows.append({
            "id": r["id"], "name": r.get("name") or "", "suite": r.get("suite") or "",
            "pipeline": r.get("pipeline") or "", "status": r.get("status") or "",
            "done": prog.get("done", 0), "total": prog.get("total", r.get("total", 0)),
            "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.get("created") or 0)),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["id", "name", "suite", "pipeline", "status", "done",
                                       "total", "created"])  # fmt: skip


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def summary_metrics(summary: dict[str, Any]) -> None:
    """Headline numbers of :func:`workbench.runs.report.summarize`."""
    c = st.columns(5)
    c[0].metric("Items", summary.get("total", 0))
    c[1].metric("Solved", summary.get("solved", 0))
    c[2].metric("Accuracy", _pct(summary.get("accuracy")))
    c[3].metric("Failed", summary.get("failed", 0))
    c[4].metric("Time (s)", f"{(summary.get('time') or {}).get('total') or 0:.2f}")
    rows = []
    for label, g in (summary.get("by_backend") or {}).items():
        rows.append({"pipeline": label, "items": g["total"], "solved": g["solved"],
                     "correct": g["correct"], "accuracy": _pct(g["accuracy"]),
                     "mean time (s)": g["time"]["mean"]})  # fmt: skip
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True)


def charts(rows: list[dict[str, Any]], *, key: str) -> None:
    """Plotly charts of a run's items: time per item by backend, and pass rate by backend."""
    import plotly.express as px

    df = pd.DataFrame(rows)
    if df.empty:
        return
    df["pipeline"] = [f"{a}/{b}" if a else (b or "-") for a, b in zip(df["agent"], df["backend"])]
    left, right = st.columns(2)
    timed = df[df["elapsed"].notna()]
    if not timed.empty:
        fig = px.bar(timed, x="item_id", y="elapsed", color="pipeline", barmode="group",
                     title="Time per item (s)", height=360)  # fmt: skip
        left.plotly_chart(fig, key=f"{key}_chart_time")
    ok = df.assign(passed=df["correct"].fillna(df["solved"]).astype(bool))
    rate = ok.groupby("pipeline", as_index=False)["passed"].mean()
    fig2 = px.bar(rate, x="pipeline", y="passed", title="Pass rate", range_y=[0, 1], height=360)
    right.plotly_chart(fig2, key=f"{key}_chart_rate")


def export_buttons(store: RunStore, run_id: str, *, key: str) -> None:
    """Download buttons for the run as CSV and as SFT JSONL."""
    from workbench.runs.export import export_csv, export_sft

    c1, c2 = st.columns(2)
    buf = io.StringIO()
    export_csv(store, run_id, buf)
    c1.download_button("Export CSV", buf.getvalue(), file_name=f"{run_id}.csv", mime="text/csv",
                       key=f"{key}_csv", on_click="ignore")  # fmt: skip
    buf = io.StringIO()
    try:
        export_sft(store, run_id, buf)
    except Exception as e:  # a run without LLM calls may have nothing to export
        c2.caption(f"SFT export unavailable: {e}")
        return
    c2.download_button("Export SFT (JSONL)", buf.getvalue(), file_name=f"{run_id}.sft.jsonl",
                       mime="application/jsonl", key=f"{key}_sft", on_click="ignore")  # fmt: skip
