"""Benchmarks: launch a batch in a worker process, watch it live, chart and compare runs."""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from app.components import state
from app.components.bench_launch import find_run, launch, save_upload
from app.components.runs_view import charts, open_store, runs_frame, summary_metrics


@st.cache_data(show_spinner=False)
def agents() -> list[str]:
    """Registered agent names."""
    from workbench.formulation import agent_names

    return agent_names()


def _cancel_batch() -> None:
    job = st.session_state.get("bench_launch")
    if job is not None and job.running:
        job.cancel()


@st.cache_data(show_spinner=False)
def suites() -> list[str]:
    """Suites whose dataset is registered (the ``nl`` suite needs a dataset name: left out)."""
    from workbench.cli.bench import SUITES
    from workbench.datasets import dataset_names

    known = set(dataset_names())
    return [s for s, ds in SUITES.items() if ds is not None and ds in known] + [MY_FILE]


MY_FILE = "my JSONL file"
"""The suite choice that runs an uploaded file of problems (the formulate pipeline)."""


st.title("Benchmarks")
path = state.store_path()
st.caption(f"Run store: `{path}`")

with st.form("bench_form"):
    c1, c2 = st.columns(2)
    suite_list = suites()
    suite = c1.selectbox("Suite", suite_list, key="bench_suite")
    available = [b for b in state.backend_choices() if b != "auto"]
    preset = [b for b in ("highs",) if b in available] or available[:1]
    chosen = c2.multiselect("Backends", available, default=preset, key="bench_backends")
    c3, c4, c5 = st.columns(3)
    workers = int(c3.number_input("Workers", 1, max(1, os.cpu_count() or 1) * 2, 2,
                                  key="bench_workers"))  # fmt: skip
    limit_s = float(c4.number_input("Time limit (s)", 0.1, 3600.0, 10.0, key="bench_time"))
    n_items = int(c5.number_input("Items (0 = all)", 0, 10_000, 6, key="bench_items"))
    c6, c7 = st.columns(2)
    pipeline = c6.radio("Pipeline", ["solve", "formulate"], horizontal=True, key="bench_pipeline",
                        help="solve: the reference models; formulate: an agent writes each model "
                        "from the text, with the LLM endpoint from Settings.")  # fmt: skip
    agent_list = [a for a in ("orthought", "llmopt") if a in agents()] or agents()[:1]
    chosen_agents = c7.multiselect("Agents (formulate)", agents(), default=agent_list[:1],
                                   key="bench_agents")  # fmt: skip
    upload = st.file_uploader(
        "Your own problems (JSONL: one object per line with id, description, ground_truth "
        "(null for no optimum) and an optional rule)", type=["jsonl"], key="bench_upload",
    )  # fmt: skip
    submitted = st.form_submit_button("Launch", type="primary")

if submitted:
    choice = state.llm_choice()
    data_path = None
    if suite == MY_FILE:
        if upload is None:
            st.error("Upload a JSONL file of problems for this suite.")
            submitted = False
        else:
            try:
                data_path = save_upload(path, upload.name, upload.getvalue())
            except Exception as e:  # a malformed row: shown, and no batch starts
                st.error(f"{e}")
                submitted = False
            pipeline = "formulate"
if submitted:
    if not chosen:
        st.error("Pick at least one backend.")
    elif pipeline == "formulate" and not chosen_agents:
        st.error("Pick at least one agent for the formulate pipeline.")
    elif pipeline == "formulate" and not choice.ok:
        st.error(choice.problem or "No LLM endpoint is configured.")
    else:
        llm = {"base_url": choice.base_url or "", "model": choice.model or ""}
        st.session_state["bench_launch"] = launch(
            path, suite="nl" if suite == MY_FILE else suite, backends=chosen, workers=workers,
            time_limit=limit_s, limit=n_items or None, pipeline=pipeline, agents=chosen_agents,
            llm=llm, api_key=st.session_state.get(state.K_KEY) or None, path=data_path,
        )  # fmt: skip

job = st.session_state.get("bench_launch")
if job is not None:
    active = job.running

    @st.fragment(run_every=0.5 if active else None)
    def progress_panel() -> None:
        """Poll the store for the launched run's progress."""
        run = find_run(path, job.name)
        running = job.running
        if run is None:
            st.progress(0.0, text="Starting the batch...")
            if not running:
                st.error(f"The batch exited with status {job.proc.returncode} before it "
                         "created its run.")  # fmt: skip
                st.code(job.log_tail(), language="text")
            return
        prog = run["progress"]
        total = max(1, int(prog.get("total", 0)))
        done = sum(v for k, v in prog.items() if k not in ("total", "pending", "running"))
        pct = done / total
        st.progress(pct, text=f"{run['id']}: {done}/{total} items ({100 * pct:.0f}%)")
        st.session_state["bench_last_run"] = run["id"]
        if running:
            st.button("Cancel batch", key="bench_cancel", on_click=_cancel_batch,
                      icon=":material/cancel:")  # fmt: skip
        elif run.get("status") in ("interrupted", "running"):  # it ended without finishing
            st.warning(f"Run {run['id']} was interrupted; {done} of {total} items are done. "
                       "Resume it with:")  # fmt: skip
            st.code(f"workbench bench --resume {run['id']} --store {path}", language="bash")
        else:
            st.success(f"Run {run['id']} finished ({run.get('status')}): {done} of {total} "
                       "items ran.")  # fmt: skip
        if not running and active:
            st.rerun(scope="app")  # stop polling; the page below shows the results

    progress_panel()
    if not active and job.proc.returncode not in (0, None) and not job.cancelled:
        st.error(f"The batch exited with status {job.proc.returncode}.")
        st.code(job.log_tail(), language="text")

store = open_store(path)
if store is not None:
    from workbench.runs.report import compare, item_rows, summarize

    frame = runs_frame(store.runs(limit=200))
    if not frame.empty:
        st.header("Results")
        ids = list(frame["id"])
        last = st.session_state.get("bench_last_run")
        rid = st.selectbox("Run", ids, index=ids.index(last) if last in ids else 0,
                           key="bench_pick")  # fmt: skip
        rows = item_rows(store, rid)
        summary_metrics(summarize(store, rid, rows=rows))
        cols = ["item_id", "backend", "status", "termination", "objective", "reference",
                "correct", "elapsed"]  # fmt: skip
        st.dataframe(pd.DataFrame(rows)[cols] if rows else pd.DataFrame(columns=cols),
                     hide_index=True)  # fmt: skip
        charts(rows, key="bench")
        if len(ids) >= 2:
            st.header("Compare two runs")
            a1, a2 = st.columns(2)
            ra = a1.selectbox("Run A", ids, index=1, key="bench_cmp_a")
            rb = a2.selectbox("Run B", ids, index=0, key="bench_cmp_b")
            if ra != rb:
                cmp = compare(store, ra, rb)
                metrics = pd.DataFrame([{"metric": k, **v} for k, v in cmp["metrics"].items()])
                st.dataframe(metrics, hide_index=True)
                w = cmp["wins"]
                st.write(f"Wins: A {w['a']}, B {w['b']}, ties {w['ties']} "
                         f"(matched by {cmp['match']}; only in A {cmp['only_a']}, "
                         f"only in B {cmp['only_b']})")  # fmt: skip
    store.close()
