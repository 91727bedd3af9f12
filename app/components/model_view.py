"""Show a model: LaTeX for the algebra, small tables for its sets and parameters."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from app.components.latex import model_latex

if TYPE_CHECKING:
    from workbench.ir.model import Model

__all__ = ["data_tables", "render_model"]


def _preview(value: Any, width: int = 70) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def data_tables(model: Model) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sets and the parameters of *model* as two summary tables.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Sets (``set``, ``definition``) and parameters (``param``, ``index``, ``data``).
    """
    sets = []
    for name, s in model.sets.items():
        if s.members is not None:
            what = f"{len(s.members)} members: {_preview(s.members)}"
        elif s.range is not None:
            what = f"range {s.range}"
        else:
            what = f"{{ {s.expr} }}"
        sets.append({"set": name, "definition": what})
    params = []
    for name, p in model.params.items():
        data = p.expr if p.expr is not None else (p.rows if p.rows is not None else p.values)
        params.append({"param": name, "index": " x ".join(p.index) or "-", "data": _preview(data)})
    return (pd.DataFrame(sets, columns=["set", "definition"]),
            pd.DataFrame(params, columns=["param", "index", "data"]))  # fmt: skip


def render_model(model: Model) -> None:
    """Show *model*: its name, the LaTeX block, then sets and parameters.

    Parameters
    ----------
    model
        The model to show.
    """
    st.markdown(f"**{model.name}**" + (f": {model.description}" if model.description else ""))
    st.latex(model_latex(model))
    sets, params = data_tables(model)
    if len(sets) or len(params):
        left, right = st.columns(2)
        if len(sets):
            left.caption("Sets")
            left.dataframe(sets, hide_index=True)
        if len(params):
            right.caption("Parameters")
            right.dataframe(params, hide_index=True)
    if model.lower_level is not None or model.robust is not None:
        st.caption("This model also has a bilevel or two-stage robust part; see the YAML.")
