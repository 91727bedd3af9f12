"""Model editor: YAML (validated as you type) or an uploaded MPS/LP file, then solve."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from app.components import state
from app.components.model_io import check_yaml, read_upload
from app.components.model_view import render_model
from app.components.results import render_result, result_json

STARTER = """\
name: bakery
variables:
  bread: {domain: integer, lb: 0}
  cake: {domain: integer, lb: 0}
objective: {sense: max, expr: "3 * bread + 5 * cake"}
constraints:
  - name: oven
    expr: "bread + 2 * cake <= 8"
  - name: min_bread
    expr: "bread >= 2"
"""


def parse_options(text: str) -> dict[str, Any]:
    """``key=value`` lines as backend options (numbers and true/false converted).

    Raises
    ------
    ValueError
        If a non-empty line has no ``=``.
    """
    out: dict[str, Any] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, raw = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"write options as key=value, one a line: {line!r}")
        value: Any = raw.strip()
        if value.lower() in ("true", "false"):
            value = value.lower() == "true"
        else:
            for conv in (int, float):
                try:
                    value = conv(value)
                    break
                except ValueError:
                    pass
        out[key.strip()] = value
    return out


st.title("Model editor")
st.session_state.setdefault("ed_yaml", STARTER)
source = st.radio("Source", ["YAML", "Upload MPS/LP/YAML file"], horizontal=True, key="ed_source")
target: Any = None
if source == "YAML":
    text = st.text_area("Model (YAML)", key="ed_yaml", height=360)
    checked = check_yaml(text)
    if checked.model is None:
        where = f"line {checked.line}" if checked.line else "model"
        loc = f" ({checked.location})" if checked.location else ""
        st.error(f"{where}{loc}: {checked.error}")
        if checked.line:
            lines = text.splitlines()
            if 0 < checked.line <= len(lines):
                st.code(f"{checked.line:4d} | {lines[checked.line - 1]}", language="yaml")
    else:
        st.success("Valid model.")
        for w in checked.warnings or []:
            st.caption(f"warning: {w}")
        target = checked.model
        with st.expander("Rendered model"):
            render_model(checked.model)
else:
    up = st.file_uploader("Model file", type=["mps", "lp", "yaml", "yml", "json"], key="ed_upload")
    if up is not None:
        try:
            target = read_upload(up.name, up.getvalue())
        except Exception as e:  # a bad upload is a user error shown on the page
            st.error(f"Cannot read {up.name}: {e}")
        else:
            from workbench.ir.model import Model

            if isinstance(target, Model):
                st.success(f"Read {up.name}: IR model {target.name!r}.")
                render_model(target)
            else:
                kind = "MILP" if target.is_mip else "LP"
                st.success(f"Read {up.name}: {kind}, {target.num_cols} variables, "
                           f"{target.num_rows} rows, {target.nnz} nonzeros.")  # fmt: skip

c1, c2 = st.columns(2)
backends = state.backend_choices()
backend = c1.selectbox("Backend", backends, index=state.backend_index(backends), key="ed_backend")
limit = c2.number_input("Time limit (s)", 0.1, 3600.0, state.default_time_limit(), key="ed_limit")
opts_text = st.text_area("Backend options (key=value, one a line)", key="ed_options", height=80,
                         placeholder="presolve=off\nmip_rel_gap=0.01")  # fmt: skip

if st.button("Solve", type="primary", disabled=target is None, key="ed_solve"):
    try:
        options = parse_options(opts_text)
    except ValueError as e:
        st.error(str(e))
    else:
        from workbench import solve
        from workbench.errors import WorkbenchError

        with st.spinner(f"Solving with {backend}..."):
            try:
                res = solve(target, backend, time_limit=float(limit), **options)
            except WorkbenchError as e:
                st.session_state.pop("ed_result", None)
                st.error(f"{type(e).__name__}: {e}")
            else:
                st.session_state["ed_result"] = res
                st.session_state["ed_result_model"] = target

result = st.session_state.get("ed_result")
if result is not None:
    solved = st.session_state.get("ed_result_model")
    from workbench.ir.model import Model

    st.header("Solution")
    render_result(result, solved if isinstance(solved, Model) else None, key="ed")
    d1, d2 = st.columns(2)
    if isinstance(solved, Model):
        from workbench import dump_model

        d1.download_button("Download model (YAML)", dump_model(solved),
                           file_name=f"{solved.name}.yaml", mime="text/yaml")  # fmt: skip
    d2.download_button("Download solution (JSON)", result_json(result),
                       file_name="solution.json", mime="application/json")  # fmt: skip
    st.caption("Result summary: " + json.dumps({"termination": result.termination.value,
                                                 "objective": result.objective}))  # fmt: skip
