"""AppTest unit tests of every app page: widgets, session state and the error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "app" / "app_pages"
BAKERY = {
    "name": "bakery",
    "variables": {"bread": {"domain": "integer", "lb": 0}, "cake": {"domain": "integer", "lb": 0}},
    "objective": {"sense": "max", "expr": "3 * bread + 5 * cake"},
    "constraints": [{"name": "oven", "expr": "bread + 2 * cake <= 8"},
                    {"name": "min_bread", "expr": "bread >= 2"}],
}  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No LLM endpoint and an empty WORKBENCH_HOME unless a test sets them."""
    for var in ("OPENAI_BASE_URL", "WORKBENCH_MODEL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_main_navigation_runs_the_default_page():
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60).run()
    no_exceptions(at)
    assert at.title[0].value == "Formulate & Solve"


def test_formulate_without_llm_shows_the_hint_and_the_reference_model_path():
    at = page("formulate").run()
    no_exceptions(at)
    assert "No LLM endpoint is configured" in at.info[0].value
    assert "OPENAI_BASE_URL" in at.info[0].value
    formulate = next(b for b in at.button if b.label == "Formulate")
    assert formulate.disabled
    at.selectbox(key="fs_example").select("knapsack_01").run()
    assert "45 kg" in at.text_area(key="fs_text").value
    ref = next(b for b in at.button if b.label.startswith("Use the catalogue"))
    ref.click().run()
    no_exceptions(at)
    assert at.session_state["fs_result"].objective == pytest.approx(89.0)
    assert any(m.label == "Objective" and m.value == "89" for m in at.metric)
    assert at.text_area(key="fs_yaml_edit").value.startswith("name: knapsack")


def test_formulate_bad_yaml_edit_shows_the_located_error():
    at = page("formulate").run()
    at.selectbox(key="fs_example").select("knapsack_01").run()
    next(b for b in at.button if b.label.startswith("Use the catalogue")).click().run()
    text = at.text_area(key="fs_yaml_edit").value
    at.text_area(key="fs_yaml_edit").set_value(text.replace("objective:", "objective:\n  bogus: 1",
                                                            1)).run()  # fmt: skip
    next(b for b in at.button if b.label == "Re-solve with my edits").click().run()
    no_exceptions(at)
    assert at.error and "objective" in at.error[0].value and "line" in at.error[0].value


def test_formulate_with_the_stub_runs_the_agent(llm_stub, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", llm_stub.url)
    monkeypatch.setenv("WORKBENCH_MODEL", "stub-model")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    llm_stub.reply(json.dumps({"understanding": "bakery", "steps": "two vars", "model": BAKERY}))
    at = page("formulate").run()
    at.text_area(key="fs_text").set_value("A bakery makes bread and cake...").run()
    assert at.selectbox(key="fs_agent").value == "orthought"
    next(b for b in at.button if b.label == "Formulate").click().run()
    no_exceptions(at)
    assert any("LLM reply 1" in m.value for m in at.markdown)
    assert at.session_state["fs_result"].objective == pytest.approx(24.0)


def test_editor_shows_the_error_line_and_solves_valid_yaml():
    at = page("editor").run()
    no_exceptions(at)
    assert at.success[0].value == "Valid model."
    text = at.text_area(key="ed_yaml").value
    at.text_area(key="ed_yaml").set_value(text.replace("bread >= 2", "bred >= 2")).run()
    assert "line 10 (constraints[1].expr)" in at.error[0].value
    assert "bred" in at.error[0].value
    at.text_area(key="ed_yaml").set_value(text).run()
    at.button(key="ed_solve").click().run()
    wait_for_solve(at)
    no_exceptions(at)
    assert at.session_state["ed_result"].objective == pytest.approx(24.0)


def wait_for_solve(at: AppTest, timeout: float = 60.0) -> None:
    """Rerun the editor until its background solve has finished."""
    import time

    end = time.monotonic() + timeout
    while "ed_job" in at.session_state and time.monotonic() < end:
        time.sleep(0.2)
        at.run()
    assert "ed_job" not in at.session_state


def test_editor_cancel_stops_the_solve_process():
    at = page("editor").run()
    at.button(key="ed_solve").click().run()
    if "ed_job" not in at.session_state:
        pytest.skip("the solve finished before it could be cancelled")
    proc = at.session_state["ed_job"].proc
    assert any(p.proto.text.startswith("Solving with") for p in at.get("progress"))
    at.button(key="ed_cancel").click().run()
    no_exceptions(at)
    assert proc.poll() is not None
    assert "ed_job" not in at.session_state and "ed_result" not in at.session_state
    assert at.warning[0].value.startswith("Cancelled")


def test_editor_typed_options_reach_the_backend():
    at = page("editor").run()
    at.selectbox(key="ed_backend").select("highs").run()
    at.selectbox(key="ed_opt_highs_presolve").set_value("off").run()
    at.number_input(key="ed_opt_threads").set_value(1).run()
    at.text_area(key="ed_options").set_value("mip_max_nodes=1000").run()
    at.button(key="ed_solve").click().run()
    wait_for_solve(at)
    no_exceptions(at)
    res = at.session_state["ed_result"]
    assert res.objective == pytest.approx(24.0)
    assert "presolve" in res.log.lower()
    at.selectbox(key="ed_backend").select("balans").run()
    assert at.selectbox(key="ed_opt_balans_preset").options == ["(default)", "balans22", "ijcai25"]


def test_editor_bad_typed_option_value_is_an_error_not_a_crash():
    at = page("editor").run()
    at.selectbox(key="ed_backend").select("highs").run()
    at.text_area(key="ed_options").set_value("no_such_option=1").run()
    at.button(key="ed_solve").click().run()
    wait_for_solve(at)
    no_exceptions(at)
    # the backend rejects an unknown option as misuse (OptionsError): a message, no result
    assert any("no_such_option" in e.value for e in at.error)
    assert "ed_result" not in at.session_state or at.session_state["ed_result"] is None


def test_formulate_reference_flow_model_shows_the_network():
    at = page("formulate").run()
    at.selectbox(key="fs_example").select("min_cost_flow").run()
    next(b for b in at.button if b.label.startswith("Use the catalogue")).click().run()
    no_exceptions(at)
    charts = [c for c in at.get("plotly_chart")]
    assert any("Network: flow" in c.proto.spec for c in charts)
    at.selectbox(key="fs_example").select("scheduling_job_shop").run()
    next(b for b in at.button if b.label.startswith("Use the catalogue")).click().run()
    no_exceptions(at)
    assert any("Schedule: start" in c.proto.spec for c in at.get("plotly_chart"))


def test_editor_rejects_bad_options():
    at = page("editor").run()
    at.text_area(key="ed_options").set_value("no equals sign").run()
    at.button(key="ed_solve").click().run()
    assert "key=value" in at.error[0].value


def test_runs_page_handles_a_missing_store():
    at = page("runs").run()
    no_exceptions(at)
    assert not at.error
    assert "No runs yet (no run store" in at.info[0].value


@pytest.mark.parametrize("content", [b"", "schema-less"])
def test_runs_page_says_no_runs_for_an_empty_store(tmp_path, content):
    import sqlite3

    store = tmp_path / "home" / "runs.db"
    store.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        store.write_bytes(content)  # a zero-byte file
    else:
        sqlite3.connect(store).execute("CREATE TABLE other (x)").connection.close()
    at = page("runs").run()
    no_exceptions(at)
    assert not at.error
    assert "No runs yet (the run store is empty" in at.info[0].value


def test_runs_and_benchmarks_pages_read_a_store(tmp_path):
    from workbench.runs import ItemSpec, Outcome, RunStore

    store = tmp_path / "home" / "runs.db"
    store.parent.mkdir(parents=True)
    with RunStore(store) as rs:
        rid = rs.create_run([ItemSpec("k1|highs|", "k1", "catalog", "highs", "", {})],
                            name="unit", suite="catalog")  # fmt: skip
        rs.record(rid, Outcome(key="k1|highs|", status="done", elapsed=0.1,
                               result={"termination": "optimal", "objective": 1.0}))  # fmt: skip
        rs.finish_run(rid)
    at = page("runs").run()
    no_exceptions(at)
    assert at.selectbox(key="runs_pick").value == rid
    at.multiselect(key="runs_status").select("done").run()
    no_exceptions(at)
    bench = page("benchmarks").run()
    no_exceptions(bench)
    assert bench.selectbox(key="bench_suite").value == "catalog"
    assert bench.multiselect(key="bench_agents").value == ["orthought"]
    bench.radio(key="bench_pipeline").set_value("formulate")  # in the form: sent on Launch
    next(
        b for b in bench.button if b.label == "Launch"
    ).click().run()  # the form's Launch: no LLM endpoint configured
    no_exceptions(bench)
    assert "No LLM endpoint" in bench.error[0].value
    assert "bench_launch" not in bench.session_state


def test_bench_command_formulate_keeps_the_key_off_the_command_line(tmp_path):
    from app.components.bench_launch import bench_command

    cmd = bench_command(suite="catalog", backends=["highs"], workers=1, time_limit=5,
                        store=tmp_path / "r.db", name="n", pipeline="formulate",
                        agents=["orthought", "llmopt"],
                        llm={"base_url": "http://x/v1", "model": "m", "api_key": "sk-1"})  # fmt: skip
    assert cmd[cmd.index("--pipeline") + 1] == "formulate"
    assert cmd[cmd.index("--agent") + 1] == "orthought,llmopt"
    assert "base_url=http://x/v1" in cmd and "model=m" in cmd
    assert not any("sk-1" in c for c in cmd)


def test_settings_connection_test_success_and_failure(llm_stub):
    at = page("settings").run()
    no_exceptions(at)
    at.text_input(key="set_url").set_value(llm_stub.url).run()
    at.text_input(key="set_model").set_value("stub-model").run()
    at.text_input(key="set_key").set_value("sk-secret-123456").run()
    at.button(key="set_test").click().run()
    assert "Connection OK" in at.success[0].value and "stub-model" in at.success[0].value
    assert llm_stub.requests[-1].headers["authorization"] == "Bearer sk-secret-123456"
    at.text_input(key="set_url").set_value("http://127.0.0.1:9/v1").run()
    at.button(key="set_test").click().run()
    assert "Connection failed" in at.error[0].value
    assert "sk-secret" not in at.error[0].value
    assert any("Torch device in use" in m.value for m in at.markdown)


def test_settings_saves_the_config_without_the_key(tmp_path):
    at = page("settings").run()
    at.text_input(key="set_url").set_value("http://localhost:8000/v1").run()
    at.text_input(key="set_model").set_value("m1").run()
    at.text_input(key="set_key").set_value("sk-never-saved").run()
    at.button(key="set_save").click().run()
    no_exceptions(at)
    text = (tmp_path / "home" / "config.toml").read_text()
    assert 'base_url = "http://localhost:8000/v1"' in text and "sk-never" not in text


def test_editor_warns_that_a_local_optimum_is_not_proven():
    at = page("editor").run()
    concave = (
        "name: concave\nvariables:\n  x: {lb: -1, ub: 2, init: 0.4}\n"
        "objective: {sense: min, expr: '-(x - 0.5)**2 + 0.1 * x'}\n"
    )
    at.text_area(key="ed_yaml").set_value(concave).run()
    at.selectbox(key="ed_backend").select("scipy").run()
    at.button(key="ed_solve").click().run()
    wait_for_solve(at)
    no_exceptions(at)
    assert at.session_state["ed_result"].termination.value == "locally_optimal"
    assert any(w.value.startswith("Locally optimal, not proven") for w in at.warning)
