"""Batches at scale: time limits everywhere, LLM jobs on threads, users' files, nothing kills a batch.

Agents talk to the loopback stub (tests/llm_stub.py) through the real
``openai`` client; solves are real HiGHS solves in real worker processes.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import workbench
from workbench.cli import app
from workbench.errors import WorkbenchError
from workbench.eval.nl import load_jsonl
from workbench.formulation import BoundSolve, DeadlineExceeded
from workbench.ir.io import model_from_dict
from workbench.runs import ItemSpec, Job, Outcome, RunStore, run_batch
from workbench.runs.local import LocalExecutor

LP = {  # max 3x + 2y s.t. x + y <= 4, x + 3y <= 6, x <= 3: optimum 11 at (3, 1)
    "name": "lp",
    "variables": {"x": {"lb": 0}, "y": {"lb": 0}},
    "objective": {"sense": "max", "expr": "3*x + 2*y"},
    "constraints": [
        {"name": "a", "expr": "x + y <= 4"},
        {"name": "b", "expr": "x + 3*y <= 6"},
        {"name": "c", "expr": "x <= 3"},
    ],
}
ZERO = {  # minimise x >= 0: everything 0, which the agents' checks question
    "name": "zero",
    "variables": {"x": {"lb": 0}},
    "objective": {"sense": "min", "expr": "x"},
    "constraints": [{"name": "c", "expr": "x <= 5"}],
}


def reply(model: dict[str, Any]) -> str:
    return json.dumps({"understanding": "u", "steps": "s", "model": model})


def write_jsonl(path: Path, rows: Sequence[dict[str, Any] | str]) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n",
        encoding="utf-8",
    )
    return path


def formulate_jobs(
    file: Path, stub_url: str, *, timeout: float = 120.0, time_limit: float = 10.0
) -> list[Job]:
    llm = {"kind": "openai", "base_url": stub_url, "model": "stub", "max_retries": 0}
    return [
        Job(key=f"{p.id}||orthought", item_id=p.id, dataset="jsonl",
            dataset_args={"path": str(file)}, pipeline="formulate", agent="orthought",
            time_limit=time_limit, seed=0, timeout=timeout,
            options={"llm": llm, "budget": 3})
        for p in load_jsonl(file)
    ]  # fmt: skip


# ------------------------------------------------------------------ time limits and seeds
def test_formulate_gives_every_candidate_solve_the_time_limit_and_seed() -> None:
    from agents.llm import ScriptedLLM

    seen: list[dict[str, Any]] = []

    def solve(model: Any, **kw: Any) -> Any:
        seen.append(dict(kw))
        return workbench.solve(model, "highs", **kw)

    llm = ScriptedLLM([reply(ZERO), reply(LP)])
    form = workbench.formulate("Maximise profit.", "orthought", llm=llm, solve=solve,
                               budget=2, time_limit=5, seed=3)  # fmt: skip
    assert form.result is not None and form.result.objective == pytest.approx(11.0)
    assert seen == [{"time_limit": 5.0, "seed": 3}, {"time_limit": 5.0, "seed": 3}]


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "soon"])
def test_a_time_limit_that_is_not_positive_is_refused(bad: Any) -> None:
    from agents.llm import ScriptedLLM

    with pytest.raises(WorkbenchError, match="time_limit must be a number of seconds > 0"):
        workbench.formulate("x", "orthought", llm=ScriptedLLM([]), time_limit=bad)


def test_the_deadline_shrinks_each_solve_and_stops_the_next() -> None:
    calls: list[float] = []
    bound = BoundSolve(lambda m, **kw: calls.append(kw["time_limit"]), time_limit=60,
                       deadline=time.monotonic() + 10)  # fmt: skip
    bound("m")
    assert 8 < calls[0] <= 10  # the deadline, not the 60 s limit
    with pytest.raises(DeadlineExceeded):
        BoundSolve(lambda m, **kw: None, deadline=time.monotonic() + 0.5)("m")


def test_code_mode_runs_in_the_sandbox_with_the_time_limit() -> None:
    pytest.importorskip("pyomo")
    from agents.common.evaluate import Candidate, evaluate_candidate
    from workbench.result import Termination

    code = "\n".join(
        [
            "import random",
            "import pyomo.environ as pyo",
            "rng = random.Random(0)",
            "n, m = 60, 40",
            "model = pyo.ConcreteModel()",
            "model.x = pyo.Var(range(n), domain=pyo.Binary)",
            "w = [[rng.randint(5, 60) for _ in range(n)] for _ in range(m)]",
            "v = [rng.randint(5, 60) for _ in range(n)]",
            "model.o = pyo.Objective(expr=sum(v[j] * model.x[j] for j in range(n)), sense=pyo.maximize)",
            "model.c = pyo.ConstraintList()",
            "for i in range(m):",
            "    model.c.add(sum(w[i][j] * model.x[j] for j in range(n)) <= 500)",
        ]
    )  # fmt: skip  (HiGHS needs several seconds to prove this one optimal)
    bound = BoundSolve(lambda m, **kw: None, time_limit=0.05)
    ev = evaluate_candidate(Candidate(code=code), text="Maximise value.", solve=bound)
    if ev.result is None and "isolation" in str(ev.error):
        pytest.skip(f"no sandbox here: {ev.error}")
    assert ev.result is not None and ev.result.termination is Termination.TIME_LIMIT


# ------------------------------------------------------------------ LLM jobs on threads
def test_llm_calls_overlap_on_threads_while_solves_use_one_worker(llm_stub, tmp_path) -> None:
    file = write_jsonl(tmp_path / "p.jsonl", [
        {"id": f"p{k}", "description": f"Problem {k}: maximise profit.", "ground_truth": 11}
        for k in range(8)
    ])  # fmt: skip
    lock, live, peak = threading.Lock(), [0], [0]

    def answer(req: Any) -> str:
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.5)
        with lock:
            live[0] -= 1
        return reply(LP)

    llm_stub.respond_with(answer)
    with RunStore(tmp_path / "runs.db") as store:
        rid = run_batch(store, formulate_jobs(file, llm_stub.url),
                        executor=LocalExecutor(1, llm_concurrency=8))  # fmt: skip
        items = store.items(rid)
    assert peak[0] == 8  # every conversation was in flight at once, on one solver worker
    assert [(i["status"], i["correct"]) for i in items] == [("done", 1)] * 8


def _zero_then(delay: float) -> Callable[[Any], Any]:
    """First reply: an all-zero model (the agent asks again); the repair reply comes after *delay*."""
    from llm_stub import StubReply

    def answer(req: Any) -> StubReply:
        repair = len(req.body["messages"]) > 2
        return StubReply(text=reply(ZERO), delay=delay if repair else 0.0)

    return answer


def _kept_first_attempt(it: dict[str, Any], names: set[str]) -> None:
    assert it["termination"] == "optimal" and it["objective"] == 0.0 and it["correct"] == 1
    assert names == {"model.yaml"}


def test_a_formulate_job_at_its_deadline_stops_and_keeps_its_model(llm_stub, tmp_path) -> None:
    from workbench.runs import run_job

    file = write_jsonl(tmp_path / "p.jsonl", [
        {"id": "a", "description": "Problem a: minimise cost.", "ground_truth": 0},
    ])  # fmt: skip
    job = formulate_jobs(file, llm_stub.url, timeout=3.0)[0]  # solves must end by 2.7 s
    llm_stub.respond_with(lambda req: reply(ZERO))
    run_job(job)  # warm: imports and the dataset
    llm_stub.respond_with(_zero_then(2.9))  # the repair comes too late for another solve
    out = run_job(job)
    assert out.status == "timeout" and "deadline" in (out.error or "")
    assert (out.result or {}).get("termination") == "optimal" and out.score["correct"] is True
    assert {a["name"] for a in out.artifacts} == {"model.yaml"} and len(out.llm_calls) == 2
    with RunStore(tmp_path / "runs.db") as store:  # and the store keeps all of it
        rid = store.create_run([ItemSpec(job.key, job.item_id, job=job.to_dict())])
        store.record(rid, out)
        item = store.items(rid)[0]
        _kept_first_attempt(item, {a["name"] for a in store.artifacts(rid, job.key)})
        assert len(store.llm_calls(rid, job.key)) == 2


def test_llm_concurrency_0_runs_formulate_jobs_in_the_worker_processes(llm_stub, tmp_path) -> None:
    file = write_jsonl(tmp_path / "p.jsonl", [
        {"id": "p", "description": "Problem p: maximise profit.", "ground_truth": 11},
    ])  # fmt: skip
    llm_stub.respond_with(lambda req: reply(LP))
    outs = LocalExecutor(1, llm_concurrency=0).run(formulate_jobs(file, llm_stub.url))
    assert [(o.status, o.score.get("correct"), len(o.llm_calls)) for o in outs] == [
        ("done", True, 1)
    ]


@pytest.mark.slow
def test_a_formulate_job_killed_at_its_timeout_keeps_its_model(llm_stub, tmp_path) -> None:
    file = write_jsonl(tmp_path / "p.jsonl", [
        {"id": "b", "description": "Problem b: minimise cost.", "ground_truth": 0},
    ])  # fmt: skip
    llm_stub.respond_with(_zero_then(120))  # the repair call hangs
    jobs = formulate_jobs(file, llm_stub.url, timeout=15.0)
    t0 = time.perf_counter()
    with RunStore(tmp_path / "runs.db") as store:
        rid = run_batch(store, jobs, executor=LocalExecutor(1, llm_concurrency=4))
        item = store.items(rid)[0]
        names = {a["name"] for a in store.artifacts(rid, jobs[0].key)}
    assert time.perf_counter() - t0 < 60  # the hanging call did not hold the batch
    assert item["status"] == "timeout" and "wall-clock limit" in item["error"]
    _kept_first_attempt(item, names)


# ------------------------------------------------------------------ users' own files
def test_a_users_jsonl_file_loads_with_its_rules(tmp_path) -> None:
    file = write_jsonl(tmp_path / "mine.jsonl", [
        {"id": 1, "description": "Max profit.", "ground_truth": 11.5, "rule": "abs<0.01"},
        "",
        {"id": "two", "description": "Infeasible one.", "ground_truth": None, "source": "me"},
        {"id": "three", "description": "A string label.", "ground_truth": "42"},
    ])  # fmt: skip
    got = load_jsonl(file)
    assert [(p.id, p.optimum, p.status, p.meta["rule"]) for p in got] == [
        ("1", 11.5, "optimal", "abs<0.01"), ("two", None, "no_optimum", "strict"),
        ("three", 42.0, "optimal", "strict"),
    ]  # fmt: skip
    assert got[1].meta["source"] == "me"


@pytest.mark.parametrize(
    ("row", "line", "field", "what"),
    [
        ({"id": 1, "ground_truth": 3}, 2, "description", "missing"),
        ({"id": 1, "description": " ", "ground_truth": 3}, 2, "description", "non-empty"),
        ({"id": 1, "description": "d", "ground_truth": "many"}, 2, "ground_truth", "finite number"),
        ({"id": 1, "description": "d", "ground_truth": True}, 2, "ground_truth", "finite number"),
        ({"id": 1, "description": "d"}, 2, "ground_truth", "null"),
        ({"id": 0, "description": "d", "ground_truth": 1}, 2, "id", "already the id of line 1"),
        ({"id": 1, "description": "d", "ground_truth": 1, "rule": "close"}, 2, "rule", "unknown"),
    ],
)
def test_a_malformed_row_is_located(tmp_path, row: dict, line: int, field: str, what: str) -> None:
    file = write_jsonl(
        tmp_path / "bad.jsonl", [{"id": 0, "description": "ok", "ground_truth": 1}, row]
    )
    with pytest.raises(WorkbenchError) as info:
        load_jsonl(file)
    msg = str(info.value)
    assert msg.startswith(f"{file}:{line}: field {field!r}") and what in msg


def _stored(store_path: Path) -> list[tuple[str, str, int]]:
    with RunStore(store_path, readonly=True) as rs:
        return [(r["id"], r["status"], len(rs.items(r["id"]))) for r in rs.runs()]


def test_bad_input_starts_no_batch_and_keeps_the_store(tmp_path, llm_stub, monkeypatch) -> None:
    db = tmp_path / "runs.db"
    runner = CliRunner()
    first = runner.invoke(app, ["bench", "--suite", "catalog", "--ids", "diet", "--backend",
                                "highs", "--workers", "1", "--store", str(db), "--json"])  # fmt: skip
    assert first.exit_code == 0, first.output
    before = _stored(db)
    bad = write_jsonl(tmp_path / "bad.jsonl", [
        {"id": "a", "description": "fine", "ground_truth": 1},
        {"id": "b", "ground_truth": 2},
    ])  # fmt: skip
    nums = write_jsonl(
        tmp_path / "nums.jsonl", [{"id": "a", "description": "d", "ground_truth": "x"}]
    )
    for args, message in [
        (["--path", str(bad)], f"{bad}:2: field 'description': missing"),
        (["--path", str(nums)], f"{nums}:1: field 'ground_truth': must be a finite number"),
        (["--path", str(tmp_path)], "is a folder"),
        (["--path", str(bad), "--time-limit", "0"], "--time-limit must be a number of seconds > 0"),
        (
            ["--path", str(bad), "--time-limit", "-5"],
            "--time-limit must be a number of seconds > 0",
        ),
    ]:
        res = runner.invoke(app, ["bench", "--suite", "nl", "--agent", "orthought",
                                  "--store", str(db), *args])  # fmt: skip
        assert res.exit_code == 2, res.output
        assert message in " ".join(res.output.split())
    assert _stored(db) == before
    assert not llm_stub.requests  # no batch started


def test_bench_runs_a_users_jsonl_file_on_the_nl_suite(tmp_path, llm_stub, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-stored")
    file = write_jsonl(tmp_path / "mine.jsonl", [
        {"id": "right", "description": "Right: maximise profit.", "ground_truth": 11},
        {"id": "near", "description": "Near: maximise profit.", "ground_truth": 11.004,
         "rule": "abs<0.01"},
        {"id": "wrong", "description": "Wrong: maximise profit.", "ground_truth": 12},
    ])  # fmt: skip
    llm_stub.respond_with(lambda req: reply(LP))
    db = tmp_path / "runs.db"
    res = CliRunner().invoke(app, [
        "bench", "--suite", "nl", "--path", str(file), "--agent", "orthought", "--workers", "1",
        "--llm-concurrency", "3", "--store", str(db), "--llm-option", f"base_url={llm_stub.url}",
        "--llm-option", "model=stub", "--json",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    with RunStore(db, readonly=True) as rs:
        run = rs.run(summary["run_id"])
        got = {i["item_id"]: (i["status"], i["correct"]) for i in rs.items(summary["run_id"])}
    assert got == {"right": ("done", 1), "near": ("done", 0), "wrong": ("done", 0)}
    with RunStore(db, readonly=True) as rs:
        scores = {i["item_id"]: i["score"].get("correct_rule") for i in rs.items(run["id"])}
    assert scores["near"] is True  # its own rule, abs < 0.01
    cfg = run["config"]
    assert cfg["dataset"] == "jsonl" and cfg["time_limit"] == 60.0 and cfg["llm_concurrency"] == 3
    file.write_text(file.read_text().replace("11.004", "11.5"))  # the labels changed
    res = CliRunner().invoke(app, ["bench", "--resume", run["id"], "--store", str(db)])
    assert res.exit_code == 2 and "changed since the run began" in " ".join(res.output.split())


# ------------------------------------------------------------------ nothing kills a batch
def test_non_finite_numbers_round_trip_through_the_store(tmp_path) -> None:
    result = {"termination": "optimal", "objective": math.nan, "bound": -math.inf,
              "values": {"x": math.inf, "y": {"a": math.nan, "b": 1.5}}, "history": [[0.1, math.nan, 2.0]]}  # fmt: skip
    with RunStore(tmp_path / "runs.db") as store:
        rid = store.create_run([ItemSpec("k", "k")])
        store.record(rid, Outcome("k", "done", 1.0, result=result, score={"rel_error": math.inf}))
        raw = store.conn.execute("SELECT result FROM results").fetchone()[0]
        json.loads(raw, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
        got = store.items(rid)[0]
    r = got["result"]
    assert math.isnan(r["objective"]) and r["bound"] == -math.inf and r["values"]["x"] == math.inf
    assert math.isnan(r["values"]["y"]["a"]) and r["values"]["y"]["b"] == 1.5
    assert math.isnan(r["history"][0][1]) and got["score"]["rel_error"] == math.inf
    assert got["objective"] is None  # the numeric column holds finite numbers only


class _Replay:
    """An executor that reports given outcomes (the store side of a batch, without jobs)."""

    name = "replay"

    def __init__(self, outcomes: list[Outcome]) -> None:
        self.outcomes = outcomes

    def run(self, jobs: Sequence[Job], *, on_start: Callable[[Job], None] | None = None,
            on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:  # fmt: skip
        for job, out in zip(jobs, self.outcomes):
            if on_start is not None:
                on_start(job)
            if on_done is not None:
                on_done(out)
        return self.outcomes


def test_an_outcome_that_cannot_be_recorded_fails_its_item_only(tmp_path) -> None:
    jobs = [Job(key=k, item_id=k, dataset="catalog") for k in ("a", "b", "c")]
    outs = [
        Outcome("a", "done", 0.1, result={"termination": "optimal", "objective": 1.0}),
        Outcome("b", "done", 0.1, artifacts=[{"name": "x", "content": {"not": "storable"}}]),
        Outcome("c", "done", 0.1, result={"termination": "optimal", "objective": math.nan}),
    ]
    with RunStore(tmp_path / "runs.db") as store:
        earlier = run_batch(store, jobs[:1], executor=_Replay(outs[:1]))
        rid = run_batch(store, jobs, executor=_Replay(outs))
        items = {i["key"]: i for i in store.items(rid)}
        assert store.run(rid)["status"] == "done"
        assert [i["status"] for i in store.items(earlier)] == ["done"]
    assert items["a"]["status"] == "done" and items["c"]["status"] == "done"
    assert items["b"]["status"] == "error" and "could not be recorded" in items["b"]["error"]


def test_pyomo_gives_untouched_variables_values_within_their_bounds() -> None:
    pytest.importorskip("pyomo")
    model = model_from_dict({
        "name": "untouched",
        "variables": {"x": {"domain": "integer", "lb": 0, "ub": 10},
                      "z": {"domain": "integer", "lb": 2.5, "ub": 5},
                      "w": {"lb": -3, "ub": -1}, "f": {"lb": None}},
        "objective": {"sense": "max", "expr": "x"},
        "constraints": [{"name": "c", "expr": "x <= 4"}],
    })  # fmt: skip
    res = workbench.solve(model, "pyomo", time_limit=10)
    assert res.objective == 4.0
    assert res.values == {"x": 4.0, "z": 3.0, "w": -1.0, "f": 0.0}


def test_code_mode_values_left_unset_do_not_break_the_checks() -> None:
    from agents.common.evaluate import result_from_sandbox
    from agents.common.feedback import diagnose

    out = {"termination": "optimal", "objective": 0.0, "values": {"x": 0.0, "u": None,
           "y": {"a": None, "b": 0.0}}}  # fmt: skip
    assert "Every variable is zero" in (diagnose("Minimise cost.", result_from_sandbox(out)) or "")
    out["values"]["y"]["b"] = 2.0
    assert diagnose("Minimise cost.", result_from_sandbox(out)) is None


def test_formulate_cli_refuses_a_time_limit_that_is_not_positive() -> None:
    for bad in ("0", "-2"):
        res = CliRunner().invoke(app, ["formulate", "Maximise x.", "--time-limit", bad])
        assert res.exit_code == 2 and "--time-limit must be a number of seconds > 0" in res.output


def test_the_app_keeps_an_uploaded_file_only_when_it_is_well_formed(tmp_path) -> None:
    from app.components.bench_launch import bench_command, save_upload

    db = tmp_path / "home" / "runs.db"
    good = b'{"id": "a", "description": "Maximise x.", "ground_truth": 1}\n'
    with pytest.raises(WorkbenchError, match=r":1: field 'description': missing"):
        save_upload(db, "bad one.jsonl", b'{"id": "a", "ground_truth": 1}\n')
    assert not list((db.parent / "datasets").iterdir())  # nothing kept
    file = save_upload(db, "mine.jsonl", good)
    assert file.parent == db.parent / "datasets" and file.read_bytes() == good
    assert [p.id for p in load_jsonl(file)] == ["a"]
    cmd = bench_command(suite="nl", backends=["highs"], workers=2, time_limit=30, store=db,
                        name="n", pipeline="formulate", path=file, llm_concurrency=16)  # fmt: skip
    assert cmd[cmd.index("--path") + 1] == str(file) and "--llm-concurrency" in cmd


def test_a_finished_run_is_never_shown_as_interrupted(tmp_path) -> None:
    from streamlit.testing.v1 import AppTest

    from app.components.bench_launch import launch

    db = tmp_path / "runs.db"
    job = launch(db, suite="catalog", backends=["highs"], workers=1, time_limit=5, limit=1)
    job.proc.wait(timeout=120)
    job._out and job._out.close()  # noqa: B018
    job.cancelled = True  # a Cancel click that came as the run finished
    at = AppTest.from_file(str(Path(__file__).parents[1] / "app" / "app_pages" / "benchmarks.py"))
    at.session_state["bench_launch"] = job
    at.session_state["cfg_store_path"] = str(db)
    at.run(timeout=60)
    assert not at.exception
    assert not [w.value for w in at.warning if "interrupted" in w.value]
    assert any("finished (done)" in s.value for s in at.success)
