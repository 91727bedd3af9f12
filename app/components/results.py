"""Show a :class:`workbench.result.Result`: headline, tables per variable, plots, log, IIS."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from workbench.racing import describe_race

if TYPE_CHECKING:
    from workbench.ir.model import Model
    from workbench.result import Result

__all__ = ["render_result", "result_json", "variable_frames"]


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def variable_frames(result: Result, model: Model | None = None) -> dict[str, pd.DataFrame]:
    """One DataFrame per variable: scalars together, indexed ones by label.

    Parameters
    ----------
    result
        A result with ``values``.
    model
        The model, to name the index columns after its sets.

    Returns
    -------
    dict[str, pandas.DataFrame]
        ``"scalars"`` (``variable``, ``value``) when there are scalar
        variables, then one frame per indexed variable.
    """
    frames: dict[str, pd.DataFrame] = {}
    scalars = [(k, float(v)) for k, v in result.values.items() if not isinstance(v, dict)]
    if scalars:
        frames["scalars"] = pd.DataFrame(scalars, columns=["variable", "value"])
    for name, vals in result.values.items():
        if not isinstance(vals, dict):
            continue
        var = model.variables.get(name) if model is not None else None
        rows = []
        for label, value in vals.items():
            parts = list(label) if isinstance(label, tuple) else [label]
            rows.append([*parts, float(value)])
        width = max((len(r) - 1 for r in rows), default=1)
        sets = list(var.index) if var is not None and len(var.index) == width else []
        cols = [sets[k] if sets else f"i{k}" for k in range(width)]
        cols = [c if cols.count(c) == 1 else f"{c}{k}" for k, c in enumerate(cols)]
        frames[name] = pd.DataFrame([r for r in rows if len(r) == width + 1],
                                    columns=[*cols, "value"])  # fmt: skip
    return frames


def result_json(result: Result) -> str:
    """The result as pretty JSON (the CLI's ``--json`` shape plus the log)."""
    data: dict[str, Any] = result.to_dict()
    data["log"] = result.log
    return json.dumps(data, indent=2)


def _anytime_chart(result: Result) -> None:
    import plotly.graph_objects as go

    ts = [h[0] for h in result.history]
    fig = go.Figure()
    primal = [h[1] for h in result.history]
    dual = [h[2] for h in result.history]
    if any(p is not None for p in primal):
        fig.add_trace(go.Scatter(x=ts, y=primal, mode="lines+markers", name="primal",
                                 line_shape="hv"))  # fmt: skip
    if any(d is not None for d in dual):
        fig.add_trace(go.Scatter(x=ts, y=dual, mode="lines", name="bound", line_shape="hv"))
    fig.update_layout(title="Anytime curve", xaxis_title="seconds", yaxis_title="objective",
                      height=320, margin={"t": 40, "b": 30})  # fmt: skip
    st.plotly_chart(fig)


def render_result(result: Result, model: Model | None = None, *, key: str = "res") -> None:
    """Show *result*: metrics, the solution per variable, plots, IIS, log and a download.

    Parameters
    ----------
    result
        What :func:`workbench.solve` returned.
    model
        The solved model (names the index columns), if any.
    key
        A prefix for widget keys, unique per page.
    """
    term = result.termination.value
    cols = st.columns(5)
    cols[0].metric("Termination", term)
    cols[1].metric("Objective", _fmt(result.objective))
    cols[2].metric("Bound", _fmt(result.bound))
    cols[3].metric("Time (s)", f"{result.timings.total:.3f}")
    cols[4].metric("Backend", result.backend or "-")
    diag = result.diagnostics
    if term == "error":
        st.error(f"The backend failed: {diag.message or diag.native_status or 'no message'}")
    elif term == "locally_optimal":
        st.warning(
            "Locally optimal, not proven globally optimal: a local method stopped here and the "
            "model is not proven convex, so a better solution may exist. "
            + (diag.message or "Backend 'scip' proves global optimality.")
        )
    elif not result.termination.has_solution:
        st.warning(f"No solution: the model is {term.replace('_', ' ')}.")
    for note in (diag.extra.get("reformulation"), describe_race(diag.extra.get("race"))):
        if isinstance(note, str) and note:
            st.caption(note)
    for w in diag.warnings:
        st.caption(f"warning: {w}")
    if diag.iis:
        st.subheader("Irreducible infeasible subsystem")
        st.write("These constraints and bounds cannot hold together:")
        st.dataframe(pd.DataFrame({"IIS member": diag.iis}), hide_index=True)
    if result.values:
        st.subheader("Values per variable")
        for name, frame in variable_frames(result, model).items():
            st.markdown(f"**{name}**")
            st.dataframe(frame, hide_index=True)
    if len(result.history) > 1:
        _anytime_chart(result)
    from app.components.plots import problem_figures

    for kind, fig in problem_figures(result, model):
        st.plotly_chart(fig, key=f"{key}_{kind}_plot")
    with st.expander("Solver log"):
        st.code(result.log or "(the backend wrote no log)", language="text")
