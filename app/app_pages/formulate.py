"""Formulate & Solve: words in, a live transcript, the model, the solution."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from app.components import state
from app.components.formulate_job import FormulateJob
from app.components.model_io import check_yaml
from app.components.model_view import render_model
from app.components.results import render_result

NONE = "(write your own)"


@st.cache_resource(show_spinner=False)
def catalog() -> dict[str, Any]:
    """The built-in catalogue, by id."""
    from workbench.datasets import get_dataset

    return {p.id: p for p in get_dataset("catalog")}


@st.cache_data(show_spinner=False)
def agents() -> list[str]:
    """Registered agent names."""
    from workbench.formulation import agent_names

    return agent_names()


def _pick_example() -> None:
    pid = st.session_state.get("fs_example")
    if pid and pid != NONE:
        st.session_state["fs_text"] = catalog()[pid].text


def _set_model(model: Any, result: Any) -> None:
    from workbench import dump_model

    st.session_state["fs_model"] = model
    st.session_state["fs_result"] = result
    st.session_state["fs_yaml_edit"] = dump_model(model)
    st.session_state.pop("fs_edit_error", None)


def _solve(model: Any) -> Any:
    from workbench import solve

    return solve(model, st.session_state.get("fs_backend", "auto"),
                 time_limit=state.default_time_limit())  # fmt: skip


def _use_reference() -> None:
    p = catalog().get(st.session_state.get("fs_example", NONE))
    if p is not None and p.model is not None:
        st.session_state["fs_steps"] = []
        st.session_state["fs_formulation"] = None
        _set_model(p.model, _solve(p.model))


def _resolve_edits() -> None:
    checked = check_yaml(st.session_state.get("fs_yaml_edit", ""))
    if checked.model is None:
        st.session_state["fs_edit_error"] = checked
        return
    st.session_state.pop("fs_edit_error", None)
    st.session_state["fs_model"] = checked.model
    st.session_state["fs_result"] = _solve(checked.model)


def _sandbox_notice() -> bool:
    """Show the level generated code will run at; ``False`` where code mode is refused."""
    from agents.sandbox import plan_isolation

    plan = plan_isolation()
    if plan.level is None:
        st.error(f"Code mode is refused here: {plan.refusal}")
        return False
    if plan.level.contains_code:
        st.caption(plan.describe())
    else:
        st.warning(plan.describe())
    return True


def _run_formulate(text: str, agent: str, backend: str, budget: int, mode: str) -> None:
    try:
        llm = state.make_client()
    except Exception as e:
        st.error(f"Cannot build the LLM client: {e}")
        return
    job = FormulateJob(text, agent, backend, budget, state.default_time_limit(),
                       agent_options={"mode": mode}).start(llm)  # fmt: skip
    shown = 0
    with st.status(f"Formulating with {agent}...", expanded=True) as status:
        while True:
            finished = job.done
            steps = job.snapshot()
            for s in steps[shown:]:
                st.markdown(f"`{s.t:5.1f}s` {s.text}")
            shown = len(steps)
            if finished:
                break
            time.sleep(0.1)
        form = job.formulation
        ok = form is not None and (form.model is not None or form.result is not None)
        label = "Formulated" if ok else "The agent produced no model"
        if form is not None:
            label += f" ({len(form.attempts)} attempt(s), {form.calls} LLM call(s))"
        status.update(label=label, state="complete" if ok else "error", expanded=not ok)
    st.session_state["fs_steps"] = job.snapshot()
    st.session_state["fs_formulation"] = form
    st.session_state["fs_code"] = None
    if form is not None and form.model is not None:
        _set_model(form.model, form.result)
    elif form is not None and form.code is not None and form.result is not None:
        st.session_state["fs_model"] = None
        st.session_state["fs_code"] = form.code
        st.session_state["fs_result"] = form.result
    elif job.error:
        st.error(job.error)


def _transcript() -> None:
    steps = st.session_state.get("fs_steps") or []
    form = st.session_state.get("fs_formulation")
    if not steps and form is None:
        return
    with st.expander(f"Transcript ({len(steps)} steps)", expanded=False):
        for s in steps:
            st.markdown(f"`{s.t:5.1f}s` {s.text}")
        if form is not None:
            for a in form.attempts:
                res = a.result.termination.value if a.result is not None else "-"
                st.markdown(f"**Attempt {a.index + 1}**: {res}" + (f", error: {a.error}" if a.error
                                                                  else ""))  # fmt: skip
                if a.feedback:
                    st.code(a.feedback, language="text")
            st.caption("Prompts and replies")
            for entry in form.transcript:
                label = entry.get("prompt") or entry.get("role", "")
                st.markdown(f"*{entry.get('role', '')}* `{label}`")
                st.code(str(entry.get("content", ""))[:4000], language="text")


st.title("Formulate & Solve")
choice = state.llm_choice()
if choice.ok:
    st.caption(f"LLM: `{choice.model}` at `{choice.base_url}` (from {choice.source})")
else:
    st.info(choice.problem or "No LLM endpoint is configured.")

ids = [NONE, *catalog()]
st.selectbox("Example from the catalogue", ids, key="fs_example", on_change=_pick_example,
             format_func=lambda i: i if i == NONE else f"{catalog()[i].title} ({i})")  # fmt: skip
text = st.text_area("Describe the problem", key="fs_text", height=160,
                    placeholder="A bakery makes bread and cake...")  # fmt: skip
c1, c2, c3, c4 = st.columns(4)
agent_list = agents()
agent = c1.selectbox(
    "Agent",
    agent_list,
    index=agent_list.index("orthought") if "orthought" in agent_list else 0,
    key="fs_agent",
)
backends = state.backend_choices()
backend = c2.selectbox("Backend", backends, index=state.backend_index(backends), key="fs_backend")
budget = int(c3.number_input("Repair budget", 0, 10, 3, key="fs_budget"))
mode = c4.selectbox("Mode", ["ir", "code"], key="fs_mode",
                    format_func=lambda m: {"ir": "IR model", "code": "Pyomo code (sandboxed)"}[m])  # fmt: skip
sandbox_ok = mode != "code" or _sandbox_notice()
b1, b2 = st.columns(2)
go = b1.button("Formulate", type="primary",
               disabled=not choice.ok or not text.strip() or not sandbox_ok,
               help=None if choice.ok else "Configure an LLM endpoint in Settings first.")  # fmt: skip
example = catalog().get(st.session_state.get("fs_example", NONE))
b2.button("Use the catalogue's reference model", on_click=_use_reference,
          disabled=example is None or example.model is None)  # fmt: skip

if go and agent:
    _run_formulate(text, agent, backend, budget, mode)

_transcript()
model = st.session_state.get("fs_model")
if model is not None:
    st.header("Model")
    render_model(model)
    with st.expander("Edit as YAML", expanded=True):
        st.text_area("Model (YAML)", key="fs_yaml_edit", height=320)
        st.button("Re-solve with my edits", on_click=_resolve_edits)
        err = st.session_state.get("fs_edit_error")
        if err is not None:
            where = f"line {err.line}: " if err.line else ""
            st.error(f"{where}{err.location or 'model'}: {err.error}")
    result = st.session_state.get("fs_result")
    if result is not None:
        st.header("Solution")
        if example is not None and example.optimum is not None and example.model is not None:
            st.caption(f"The catalogue's verified optimum for this example: {example.optimum:g}")
        render_result(result, model, key="fs")
elif st.session_state.get("fs_code") and st.session_state.get("fs_result") is not None:
    result = st.session_state["fs_result"]
    st.header("Code")
    st.caption(f"Ran in the sandbox at level {result.diagnostics.sandbox or '?'}")
    st.code(st.session_state["fs_code"], language="python")
    st.header("Solution")
    render_result(result, None, key="fs")
