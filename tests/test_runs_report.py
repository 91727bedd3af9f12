"""``workbench runs`` and :mod:`workbench.runs.report` / :mod:`workbench.runs.export`.

Two hand-built runs with known outcomes pin every number exactly; the CLI is
exercised end to end with typer's CliRunner on a real SQLite file.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from workbench.cli import app
from workbench.errors import WorkbenchError
from workbench.runs import ItemSpec, Outcome, RunStore
from workbench.runs.export import (
    export_csv,
    export_parquet,
    export_run,
    export_sft,
    html_report,
    sft_records,
)
from workbench.runs.report import (
    ROW_COLUMNS,
    compare,
    item_detail,
    item_rows,
    list_runs,
    resolve_item,
    resolve_run,
    summarize,
)
from workbench.scoring import score

runner = CliRunner()
EVIL = "<b>x&y</b>"
EVIL_ERROR = "ValueError: </script><script>alert(1)</script>"


def _result(term: str, obj: float | None, history: list[list[Any]] | None = None) -> dict[str, Any]:
    return {
        "termination": term, "objective": obj, "bound": obj, "gap": 0.0 if obj is not None else None,
        "values": {"x": 1.0}, "duals": None,
        "timings": {"build": 0.0, "load": 0.0, "solve": 0.1, "total": 0.1},
        "iterations": 3, "history": history or [], "diagnostics": {}, "backend": "highs",
    }  # fmt: skip


def _done(key: str, elapsed: float, term: str, obj: float | None, ref: float | None, *,
          status: str = "optimal", rule: str | None = None, **kw: Any) -> Outcome:  # fmt: skip
    res = _result(term, obj, kw.pop("history", None))
    return Outcome(key=key, status="done", elapsed=elapsed, result=res,
                   score=score(res, reference=ref, status=status, rule=rule), **kw)  # fmt: skip


def _call(prompt: Any, response: str, p: int, c: int) -> dict[str, Any]:
    return {"attempt": 0, "model": "m", "prompt": prompt, "response": response,
            "prompt_tokens": p, "completion_tokens": c, "latency": 0.5}  # fmt: skip


def _spec(item: str, backend: str = "highs") -> ItemSpec:
    return ItemSpec(f"{item}|{backend}|", item, "toy", backend, "")


def build(path: Path) -> tuple[str, str]:
    """Run A: p1 ok, p2 wrong strictly (ok by rule), p3 error, evil item w/o ref, p5 infeasible ok.

    Run B: p1, p2, p3 all right, p5 ok but slower, p6 (only in B).
    """
    store = RunStore(path)
    a = store.create_run(
        [_spec("p1"), _spec("p2"), _spec("p3"), _spec(EVIL), _spec("p5")],
        name="run-a", suite="toy", config={"time_limit": 10}, run_id="A-0001",
    )  # fmt: skip
    msgs = [{"role": "system", "content": "be exact"}, {"role": "user", "content": "solve p1"}]
    store.record(a, _done("p1|highs|", 1.0, "optimal", 10.0, 10.0,
                          history=[[0.0, 12.0, 8.0], [0.5, 10.0, 10.0]],
                          llm_calls=[_call(msgs, "x = 10", 100, 50)]))  # fmt: skip
    store.record(a, _done("p2|highs|", 2.0, "optimal", 10.5, 10.0, rule="abs<1",
                          llm_calls=[_call("plain prompt", "x = 10.5", 10, 5)]))  # fmt: skip
    store.record(a, Outcome("p3|highs|", "error", elapsed=2.0, error=EVIL_ERROR,
                            artifacts=[{"name": "traceback", "content": "Traceback: boom"}]))  # fmt: skip
    store.record(a, _done(f"{EVIL}|highs|", 3.0, "time_limit", 12.0, None, status="unknown"))
    store.record(a, _done("p5|highs|", 0.5, "infeasible", None, None, status="infeasible"))
    store.finish_run(a)
    b = store.create_run(
        [_spec("p1"), _spec("p2"), _spec("p3"), _spec("p5"), _spec("p6")],
        name="run-b",
        run_id="B-0002",
    )
    store.record(b, _done("p1|highs|", 0.5, "optimal", 10.0, 10.0))
    store.record(b, _done("p2|highs|", 3.0, "optimal", 10.0, 10.0, rule="abs<1"))
    store.record(b, _done("p3|highs|", 1.0, "optimal", 7.0, 7.0))
    store.record(b, _done("p5|highs|", 2.0, "infeasible", None, None, status="infeasible"))
    store.record(b, _done("p6|highs|", 1.0, "optimal", 1.0, 1.0))
    store.finish_run(b)
    store.close()
    return a, b


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "runs.db"
    build(path)
    return path


@pytest.fixture
def store(db: Path) -> Any:
    with RunStore(db, readonly=True) as st:
        yield st


# ------------------------------------------------------------------ numbers
def test_summary_numbers_are_exact(store: RunStore) -> None:
    s = summarize(store, "A-0001")
    assert s["total"] == 5 and s["failed"] == 1 and s["finished"] == 5
    assert s["counts"] == {"done": 4, "error": 1}
    assert s["executed"] == 4 and s["execution_rate"] == pytest.approx(0.8)
    assert s["solved"] == 3  # p1, p2 optimal; p5 infeasible
    # scored: p1, p2, p5 (verdicts) + the failed p3 (counted wrong); the evil item has no reference
    assert s["scored"] == 4
    assert s["correct"] == 2 and s["accuracy"] == pytest.approx(0.5)
    assert s["correct_rule"] == 3 and s["accuracy_rule"] == pytest.approx(0.75)
    assert s["gap_items"] == 3
    assert s["mean_primal_gap"] == pytest.approx((0.0 + 0.5 / 10.5 + 1.0) / 3)
    assert s["time"]["median"] == pytest.approx(2.0)
    assert s["time"]["total"] == pytest.approx(8.5)
    assert s["tokens"] == 165 and s["tokens_per_problem"] == pytest.approx(33.0)
    assert s["llm_calls"] == 2
    assert s["run"]["config"] == {"time_limit": 10}
    assert set(s["by_backend"]) == {"highs"} and s["by_backend"]["highs"]["accuracy"] == 0.5


def test_runs_without_references_have_no_accuracy(tmp_path: Path) -> None:
    with RunStore(tmp_path / "r.db") as st:
        rid = st.create_run([_spec("q"), _spec("r")])
        st.record(rid, _done("q|highs|", 1.0, "optimal", 3.0, None, status="unknown"))
        st.record(rid, Outcome("r|highs|", "timeout", elapsed=5.0, error="killed"))
        s = summarize(st, rid)
    assert s["scored"] == 0 and s["accuracy"] is None and s["mean_primal_gap"] is None
    assert s["execution_rate"] == pytest.approx(0.5)


def test_pending_items_are_not_finished(tmp_path: Path) -> None:
    with RunStore(tmp_path / "r.db") as st:
        rid = st.create_run([_spec("q"), _spec("r")])
        st.record(rid, _done("q|highs|", 1.0, "optimal", 3.0, 3.0))
        s = summarize(st, rid)
        listed = list_runs(st)
    assert s["finished"] == 1 and s["counts"] == {"done": 1, "pending": 1}
    assert s["accuracy"] == 1.0 and s["execution_rate"] == 0.5
    assert listed[0]["finished"] == 1 and listed[0]["total"] == 2


def test_list_runs_newest_first(store: RunStore) -> None:
    runs = list_runs(store)
    assert [r["id"] for r in runs] == ["B-0002", "A-0001"]
    assert runs[1]["failed"] == 1 and runs[1]["accuracy"] == 0.5 and runs[1]["tokens"] == 165
    assert list_runs(store, limit=1)[0]["id"] == "B-0002"


def test_resolve_run_and_item(store: RunStore) -> None:
    assert resolve_run(store, "A-0001") == "A-0001"
    assert resolve_run(store, "A-") == "A-0001"
    assert resolve_run(store, "last") == "B-0002"
    with pytest.raises(KeyError, match="recent runs"):
        resolve_run(store, "nope")
    assert resolve_item(store, "A-0001", "p1") == "p1|highs|"
    assert resolve_item(store, "A-0001", "p1|highs|") == "p1|highs|"
    with pytest.raises(KeyError, match="no item"):
        resolve_item(store, "A-0001", "zzz")


def test_item_detail(store: RunStore) -> None:
    d = item_detail(store, "A-0001", "p3")
    assert d["row"]["status"] == "error" and d["result"] is None
    assert d["artifacts"][0]["content"] == "Traceback: boom"
    d1 = item_detail(store, "A-0001", "p1")
    assert d1["llm_calls"][0]["prompt"][1]["content"] == "solve p1"
    assert d1["result"]["history"][1] == [0.5, 10.0, 10.0]


def test_compare_deltas_and_wins(store: RunStore) -> None:
    c = compare(store, "A-0001", "B-0002")
    assert c["match"] == "key"
    assert [p["a"]["item_id"] for p in c["pairs"]] == ["p1", "p2", "p3", "p5"]
    assert c["only_a"] == 1 and c["only_b"] == 1
    winners = {p["a"]["item_id"]: (p["winner"], p["why"]) for p in c["pairs"]}
    assert winners == {
        "p1": ("b", "time"), "p2": ("b", "primal gap"), "p3": ("b", "ran"), "p5": ("a", "time"),
    }  # fmt: skip
    assert c["wins"] == {"a": 1, "b": 3, "ties": 0}
    m = c["metrics"]
    assert m["accuracy"] == {"a": 0.5, "b": 1.0, "delta": 0.5}
    assert m["accuracy_rule"]["delta"] == pytest.approx(0.25)
    assert m["solved"] == {"a": 3, "b": 4, "delta": 1}
    assert m["total_time"]["a"] == pytest.approx(5.5)
    assert m["total_time"]["delta"] == pytest.approx(1.0)
    assert m["tokens"] == {"a": 165, "b": 0, "delta": -165}
    assert m["mean_primal_gap"]["delta"] == pytest.approx(-(0.5 / 10.5 + 1.0) / 3)


def test_compare_by_item_when_backends_differ(tmp_path: Path) -> None:
    with RunStore(tmp_path / "r.db") as st:
        a = st.create_run([_spec("q", "highs")])
        b = st.create_run([_spec("q", "cpsat"), _spec("r", "cpsat")])
        st.record(a, _done("q|highs|", 1.0, "optimal", 3.0, 3.0))
        st.record(b, _done("q|cpsat|", 1.0, "optimal", 3.0, 3.0))
        c = compare(st, a, b)
        assert c["match"] == "item" and len(c["pairs"]) == 1 and c["wins"]["ties"] == 1
        two = st.create_run([_spec("q", "highs"), _spec("q", "cpsat")])
        with pytest.raises(ValueError, match="--match key"):
            compare(st, a, two, match="item")
        with pytest.raises(ValueError, match="unknown match"):
            compare(st, a, b, match="nope")  # type: ignore[arg-type]


# ------------------------------------------------------------------ exports
def test_csv_round_trip(store: RunStore, tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    assert export_csv(store, "A-0001", out) == 5
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(ROW_COLUMNS)
    by_id = {r["item_id"]: r for r in rows}
    assert by_id[EVIL]["correct"] == "" and by_id[EVIL]["termination"] == "time_limit"
    assert by_id["p2"]["correct"] == "false" and by_id["p2"]["correct_rule"] == "true"
    assert float(by_id["p2"]["rel_error"]) == pytest.approx(0.05)
    assert by_id["p3"]["error"] == EVIL_ERROR and by_id["p3"]["status"] == "error"
    originals = {r["item_id"]: r for r in item_rows(store, "A-0001")}
    assert float(by_id["p1"]["elapsed"]) == originals["p1"]["elapsed"]  # exact floats
    buf = io.StringIO()
    export_csv(store, "A-0001", buf)
    assert buf.getvalue() == out.read_text(encoding="utf-8")


def test_parquet_is_readable_by_pandas(store: RunStore, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out = tmp_path / "a.parquet"
    assert export_parquet(store, "A-0001", out) == 5
    frame = pd.read_parquet(out)
    assert list(frame.columns) == list(ROW_COLUMNS) and len(frame) == 5
    p2 = frame[frame["item_id"] == "p2"].iloc[0]
    assert not bool(p2["correct"]) and bool(p2["correct_rule"])
    assert pd.isna(frame[frame["item_id"] == EVIL].iloc[0]["correct"])


def test_parquet_without_pyarrow_names_the_extra(
    store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real = builtins.__import__

    def fake(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pyarrow":
            raise ImportError("no pyarrow", name="pyarrow")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(WorkbenchError, match=r"optimization-workbench\[report\]"):
        export_parquet(store, "A-0001", tmp_path / "x.parquet")


def test_sft_lines(store: RunStore, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    # judged by the dataset rule: p1 (strict) and p2 (abs<1) are both correct
    assert export_sft(store, "A-0001", out) == 2
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    first, second = lines
    assert first["messages"] == [
        {"role": "system", "content": "be exact"},
        {"role": "user", "content": "solve p1"},
        {"role": "assistant", "content": "x = 10"},
    ]
    assert first["meta"]["item_id"] == "p1" and first["meta"]["prompt_tokens"] == 100
    assert second["messages"] == [
        {"role": "user", "content": "plain prompt"},
        {"role": "assistant", "content": "x = 10.5"},
    ]
    assert sft_records(store, "B-0002") == []


def test_export_run_rejects_unknown_format(store: RunStore) -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        export_run(store, "A-0001", "xml")


def test_unwritable_path_is_a_workbench_error(store: RunStore, tmp_path: Path) -> None:
    with pytest.raises(WorkbenchError, match="cannot write"):
        export_csv(store, "A-0001", tmp_path / "missing" / "dir" / "a.csv")


def test_html_report_is_standalone_and_escaped(store: RunStore) -> None:
    pytest.importorskip("plotly")
    text = html_report(store, "A-0001")
    assert text.startswith("<!DOCTYPE html>")
    assert "plotly.js v" in text or "Plotly" in text[:5_000_000]
    assert '<script src="http' not in text and "<script src=" not in text
    for item in ("p1", "p2", "p3", "p5"):
        assert f"<td>{item}</td>" in text
    assert EVIL not in text and "&lt;b&gt;x&amp;y&lt;/b&gt;" in text
    assert "<script>alert(1)" not in text and "&lt;/script&gt;&lt;script&gt;alert(1)" in text
    assert 'id="curve-0"' in text and "Anytime curves" in text  # p1 has a 2-point history
    assert 'id="time-dist"' in text and 'id="pass-rate"' in text
    assert "run-a" in text and "time_limit" in text


# ---------------------------------------------------------------------- CLI
def _ok(args: list[str], db: Path) -> str:
    result = runner.invoke(app, [*args, "--store", str(db)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def assert_one_line_error(result: Any, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in err, err


def test_cli_list(db: Path) -> None:
    out = _ok(["runs", "list"], db)
    assert "A-0001" in out and "B-0002" in out and "run-a" in out
    assert "50.0%" in out and "75.0%" in out


def test_cli_show(db: Path) -> None:
    out = _ok(["runs", "show", "A-0001"], db)
    assert "accuracy strict  50.0% (2/4)" in out and "accuracy rule    75.0% (3/4)" in out
    assert "execution rate   80.0% (4/5)" in out
    assert EVIL in out and "time_limit" in out and "p5" in out
    failed = _ok(["runs", "show", "A-", "--failed"], db)
    table = failed.split("failed items (1)")[1]  # p2 is right by the dataset's rule
    assert "p3" in table and "p1" not in table and "p2" not in table
    one = _ok(["runs", "show", "A-0001", "--item", "p3"], db)
    assert "Traceback: boom" in one and "artifact traceback" in one
    llm = _ok(["runs", "show", "A-0001", "--item", "p1"], db)
    assert "LLM call 1" in llm and "solve p1" in llm and "assistant: x = 10" in llm
    data = json.loads(_ok(["runs", "show", "A-0001", "--json"], db))
    assert data["summary"]["accuracy"] == 0.5 and len(data["items"]) == 5


def test_cli_compare(db: Path) -> None:
    out = _ok(["runs", "compare", "A-0001", "B-0002"], db)
    assert "4 items in common (matched by key); 1 only in A, 1 only in B" in out
    assert "wins: A 1, B 3, ties 0" in out
    assert "+50.0 pp" in out and "-165" in out


def test_cli_export(db: Path, tmp_path: Path) -> None:
    out = _ok(["runs", "export", "A-0001", "--format", "csv"], db)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 5
    target = tmp_path / "a.parquet"
    assert "wrote 5 rows" in _ok(
        ["runs", "export", "A-0001", "-f", "parquet", "-o", str(target)], db
    )
    assert target.stat().st_size > 0
    sft = _ok(["runs", "export", "A-0001", "-f", "sft"], db)
    assert len([json.loads(line) for line in sft.splitlines()]) == 2


def test_cli_report(db: Path, tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    target = tmp_path / "r.html"
    out = _ok(["runs", "report", "A-0001", "--html", str(target)], db)
    assert "wrote" in out and target.is_file()
    assert "&lt;b&gt;x&amp;y&lt;/b&gt;" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["runs", "show", "nope"], "no run 'nope'"),
        (["runs", "compare", "A-0001", "nope"], "no run 'nope'"),
        (["runs", "export", "nope", "-f", "csv"], "no run 'nope'"),
        (["runs", "report", "nope"], "no run 'nope'"),
        (["runs", "show", "A-0001", "--item", "zzz"], "no item 'zzz'"),
        (["runs", "export", "A-0001", "-f", "xml"], "unknown format 'xml'"),
        (["runs", "compare", "A-0001", "B-0002", "--match", "x"], "unknown --match"),
    ],
)
def test_cli_bad_input_exits_2(db: Path, args: list[str], needle: str) -> None:
    assert_one_line_error(runner.invoke(app, [*args, "--store", str(db)]), needle)


def test_cli_unwritable_and_missing_store(db: Path, tmp_path: Path) -> None:
    bad = str(tmp_path / "no" / "such" / "dir" / "r.html")
    assert_one_line_error(
        runner.invoke(app, ["runs", "report", "A-0001", "--html", bad, "--store", str(db)]),
        "cannot write",
    )
    assert_one_line_error(
        runner.invoke(app, ["runs", "show", "last", "--store", str(tmp_path / "none.db")]),
        "no run store",
    )
    assert not (tmp_path / "none.db").exists()


def test_cli_list_default_store_from_workbench_home(db: Path) -> None:
    result = runner.invoke(app, ["runs", "list"], env={"WORKBENCH_HOME": str(db.parent)})
    assert result.exit_code == 0, result.output
    assert "A-0001" in result.stdout


def test_real_batch_round_trip(tmp_path: Path) -> None:
    """A tiny real batch (catalog, HiGHS, in-process executor) reads back whole."""
    from workbench.datasets import get_dataset
    from workbench.runs import plan_jobs, run_batch, run_job

    class InProcess:
        name = "inprocess"

        def run(self, jobs: Any, *, on_start: Any = None, on_done: Any = None) -> list[Outcome]:
            outs = []
            for job in jobs:
                if on_start:
                    on_start(job)
                out = run_job(job)
                if on_done:
                    on_done(out)
                outs.append(out)
            return outs

    probs = [p for p in get_dataset("catalog") if p.status == "optimal"][:2]
    with RunStore(tmp_path / "runs.db") as st:
        rid = run_batch(
            st, plan_jobs(probs, dataset="catalog", backends=["highs"], time_limit=10),
            executor=InProcess(), name="real",
        )  # fmt: skip
        s = summarize(st, rid)
    assert s["total"] == 2 and s["accuracy"] == 1.0 and s["execution_rate"] == 1.0
    assert not math.isnan(s["time"]["total"])


def test_a_locally_optimal_item_is_executed_and_scored_but_not_solved(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    run = store.create_run([_spec("loc"), _spec("glob")], name="local", run_id="L-0001")
    store.record(run, _done("loc|highs|", 1.0, "locally_optimal", 100.0, 400.0))
    store.record(run, _done("glob|highs|", 1.0, "locally_optimal", 400.0, 400.0))
    store.finish_run(run)
    s = summarize(store, "L-0001")
    assert s["executed"] == 2 and s["solved"] == 0  # not proven, so not 'solved'
    assert s["scored"] == 2 and s["correct"] == 1  # scored by the objective
    rows = {r["item_id"]: r for r in item_rows(store, "L-0001")}
    assert rows["loc"]["termination"] == "locally_optimal" and rows["loc"]["correct"] is False
    assert rows["glob"]["correct"] is True
    store.close()
