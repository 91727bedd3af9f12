"""Model editor: YAML (validated as you type) or an uploaded MPS/LP file, then solve."""

from __future__ import annotations

import json
import pickle
import time
from typing import Any

import streamlit as st

from app.components import state
from app.components.backend_options import option_widgets, parse_options
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
with st.expander(f"Options for {backend}", expanded=False):
    typed = option_widgets(backend)
    opts_text = st.text_area("Other options (key=value, one a line)", key="ed_options", height=80,
                             placeholder="mip_rel_gap=0.01\nmip_max_nodes=1000")  # fmt: skip


def _collect(job: Any) -> None:
    """Move a finished job's outcome into the session state."""
    res, err = job.outcome()
    st.session_state.pop("ed_job", None)
    if err is not None:
        st.session_state.pop("ed_result", None)
        st.session_state["ed_message"] = err
    else:
        st.session_state["ed_result"] = res
        st.session_state["ed_result_model"] = st.session_state.pop("ed_job_model", None)
        st.session_state.pop("ed_message", None)


def _cancel() -> None:
    job = st.session_state.pop("ed_job", None)
    if job is not None:
        job.cancel()
        st.session_state["ed_message"] = (f"Cancelled the {job.backend} solve after "
                                          f"{job.elapsed:.1f} s.")  # fmt: skip


job = st.session_state.get("ed_job")
if job is not None and job.done:
    _collect(job)
    job = None

if st.button("Solve", type="primary", disabled=target is None or job is not None, key="ed_solve"):
    try:
        options = {**typed, **parse_options(opts_text)}
    except ValueError as e:
        st.error(str(e))
    else:
        from app.components.solve_job import start_solve

        st.session_state.pop("ed_message", None)
        try:
            job = start_solve(target, backend, float(limit), options)
        except (pickle.PicklingError, TypeError, AttributeError):  # cannot send it: solve here
            from workbench import solve
            from workbench.errors import WorkbenchError

            with st.spinner(f"Solving with {backend}..."):
                try:
                    st.session_state["ed_result"] = solve(target, backend,
                                                          time_limit=float(limit), **options)  # fmt: skip
                    st.session_state["ed_result_model"] = target
                except WorkbenchError as e:
                    st.session_state.pop("ed_result", None)
                    st.error(f"{type(e).__name__}: {e}")
        else:
            st.session_state["ed_job"] = job
            st.session_state["ed_job_model"] = target
            time.sleep(0.3)  # most small models finish at once: show them without a poll
            if job.done:
                _collect(job)
                job = None

if job is not None:

    @st.fragment(run_every=0.4)
    def _progress() -> None:
        """Poll the solve: elapsed time against the limit, and a Cancel button."""
        current = st.session_state.get("ed_job")
        if current is None:
            return
        if current.done:
            st.rerun(scope="app")
        frac = min(1.0, current.elapsed / max(current.time_limit, 1e-9))
        st.progress(frac, text=f"Solving with {current.backend}... {current.elapsed:.1f} s "
                               f"of at most {current.time_limit:g} s")  # fmt: skip
        st.button("Cancel", key="ed_cancel", on_click=_cancel, icon=":material/cancel:")

    _progress()

message = st.session_state.get("ed_message")
if message:
    (st.warning if message.startswith("Cancelled") else st.error)(message)

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
