"""``workbench bench`` as a user runs it: real subprocesses, real workers, a real SQLite store."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

PLUGINS_DIR = Path(__file__).resolve().parent / "plugins"
if str(PLUGINS_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGINS_DIR))

import wbtest_plugins  # noqa: E402

from workbench.cli import bench as bench_module  # noqa: E402
from workbench.cli.main import app  # noqa: E402
from workbench.runs.store import RunStore  # noqa: E402

WORKBENCH = [sys.executable, "-m", "workbench.cli"]


def _env(home: Path, **extra: str) -> dict[str, str]:
    return wbtest_plugins.plugin_env(WORKBENCH_HOME=str(home), COLUMNS="200", **extra)


def _bench(
    home: Path, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WORKBENCH, "bench", *args], env=_env(home, **env), capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def _json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _counts(db: Path, rid: str) -> dict[str, dict[str, int]]:
    """Rows per key in every per-item table."""
    conn = sqlite3.connect(db)
    out = {}
    for table in ("items", "results", "attempts", "llm_calls"):
        rows = conn.execute(
            f"SELECT key, COUNT(*) FROM {table} WHERE run_id=? GROUP BY key", (rid,)
        )
        out[table] = dict(rows.fetchall())
    conn.close()
    return out


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--suite", "nope"], "unknown suite 'nope'; use one of catalog, mip"),
        (["--suite", "ghost"], "dataset 'ghost', which is not registered"),
        (["--suite", "nl"], "needs --path FILE.jsonl (your own problems) or --dataset NAME"),
        ([], "give --suite"),
        (["--suite", "catalog", "--backend", "higs"], "did you mean 'highs'"),
        (["--suite", "catalog", "--ids", "diet,nope"], "no item 'nope'"),
        (["--suite", "catalog", "--pipeline", "formulate"], "needs --agent"),
        (["--resume", "no-such-run"], "no run 'no-such-run'"),
    ],
)
def test_bad_input_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.setitem(bench_module.SUITES, "ghost", "ghost")  # a suite whose dataset is absent
    result = CliRunner().invoke(app, ["bench", *args, "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_unregistered_suite_lists_registered_datasets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(bench_module.SUITES, "ghost", "ghost")
    result = CliRunner().invoke(
        app, ["bench", "--suite", "ghost", "--store", str(tmp_path / "r.db")]
    )
    assert result.exit_code == 2
    assert "registered datasets:" in result.output and "catalog" in result.output


# --------------------------------------------------------------- real batches
def test_progress_summary_and_json(tmp_path: Path) -> None:
    ids = "diet,knapsack_01,bakery_infeasible,nlp_rosenbrock_disk"
    proc = _bench(tmp_path, "--suite", "catalog", "--ids", ids, "--backend", "highs",
                  "--workers", "2", "--name", "smoke")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "4/4" in proc.stderr and "done 3" in proc.stderr and "failed 1" in proc.stderr
    assert "ETA" in proc.stderr
    out = proc.stdout
    for word in ("solved", "correct", "errors", "timeouts", "time (s)", "highs", "3 (75%)"):
        assert word in out, word
    assert "workbench runs show " in out

    data = _json(_bench(tmp_path, "--suite", "catalog", "--ids", ids, "--backend", "highs",
                        "--workers", "1", "--json"))  # fmt: skip
    assert data["status"] == "done" and data["ran"] == 4
    (row,) = data["summary"]
    assert (row["items"], row["solved"], row["correct"], row["errors"]) == (4, 3, 3, 1)
    assert data["progress"] == {"done": 3, "error": 1, "total": 4}
    with RunStore(
        tmp_path / "runs.db", readonly=True
    ) as store:  # the default store: WORKBENCH_HOME
        items = {it["item_id"]: it for it in store.items(data["run_id"])}
    assert items["nlp_rosenbrock_disk"]["status"] == "error"  # highs cannot take an NLP
    assert "UnsupportedProblemError" in items["nlp_rosenbrock_disk"]["error"]
    assert items["bakery_infeasible"]["termination"] == "infeasible"


def test_resume_runs_only_failed_items(tmp_path: Path) -> None:
    first = _json(_bench(tmp_path, "--suite", "nl", "--dataset", "tiny_traps", "--pipeline", "solve",
                         "--backend", "trap", "--ids", "tiny_00,trap_segv,tiny_01", "--json"))  # fmt: skip
    rid = first["run_id"]
    assert first["summary"][0]["crashed"] == 1
    again = _json(_bench(tmp_path, "--resume", rid, "--json"))
    assert again["run_id"] == rid and again["ran"] == 1  # only trap_segv ran again
    with RunStore(tmp_path / "runs.db", readonly=True) as store:
        tries = {it["item_id"]: it["tries"] for it in store.items(rid)}
    assert tries == {"tiny_00": 1, "trap_segv": 2, "tiny_01": 1}
    # nothing left to run is fine too (no worker starts)
    done = CliRunner().invoke(app, ["bench", "--resume", rid, "--store", str(tmp_path / "runs.db")])
    assert done.exit_code == 0, done.output
    assert f"workbench runs show {rid}" in done.output


def test_ctrl_c_marks_the_run_interrupted_and_resume_finishes(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*WORKBENCH, "bench", "--suite", "nl", "--dataset", "tiny", "--pipeline", "solve",
         "--backend", "trap", "--workers", "1"],
        env=_env(tmp_path, WBTEST_SLEEP="0.3", WBTEST_N="12"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    db = tmp_path / "runs.db"
    _wait_done(db, at_least=2, proc=proc)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "resume with: workbench bench --resume" in stderr
    with RunStore(db, readonly=True) as store:
        (run,) = store.runs()
        assert run["status"] == "interrupted"
        assert 0 < run["progress"].get("done", 0) < 12
    data = _json(_bench(tmp_path, "--resume", run["id"], "--json"))
    assert data["status"] == "done" and data["progress"] == {"done": 12, "total": 12}


# --------------------------------------------------------- SIGKILL and resume
def _wait_done(db: Path, *, at_least: int, proc: subprocess.Popen[str], limit: float = 60) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if db.exists():
            try:
                with RunStore(db, readonly=True) as store:
                    runs = store.runs()
                    if runs and runs[0]["progress"].get("done", 0) >= at_least:
                        return int(runs[0]["progress"]["done"])
            except sqlite3.Error:
                pass  # the schema is being created
        time.sleep(0.02)
    raise AssertionError("the batch made no progress")


def _outcomes(db: Path, rid: str) -> dict[str, tuple[Any, ...]]:
    with RunStore(db, readonly=True) as store:
        return {
            it["key"]: (it["status"], it["termination"], it["objective"], it["correct"],
                        it["result"]["values"] if it["result"] else None)
            for it in store.items(rid)
        }  # fmt: skip


def test_sigkill_mid_batch_then_resume_records_every_item_once(tmp_path: Path) -> None:
    n = 12
    # two LLM threads, so items finish a few at a time and the kill lands between them
    args = ["--suite", "nl", "--dataset", "tiny", "--agent", "echo", "--workers", "2",
            "--llm-concurrency", "2", "--json"]  # fmt: skip
    rng = random.Random(20240607)
    home = tmp_path / "killed"
    proc = subprocess.Popen(
        [*WORKBENCH, "bench", *args], env=_env(home, WBTEST_SLEEP="0.15", WBTEST_N=str(n)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    db = home / "runs.db"
    _wait_done(db, at_least=rng.randint(2, n // 2), proc=proc)
    time.sleep(rng.uniform(0.0, 0.15))  # land anywhere inside the next items
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers, no clean-up at all
    proc.communicate(timeout=30)
    with RunStore(db, readonly=True) as store:
        (run,) = store.runs()
        rid = run["id"]
        assert run["status"] == "running"  # nobody could mark it
        done_before = run["progress"].get("done", 0)
    assert 0 < done_before < n, "the kill must land mid-batch"

    resumed = _json(_bench(home, "--resume", rid, "--json", WBTEST_N=str(n)))
    assert resumed["ran"] == n - done_before
    assert resumed["status"] == "done"
    assert resumed["progress"] == {"done": n, "total": n}
    counts = _counts(db, rid)
    keys = set(counts["items"])
    assert len(keys) == n
    for table, per_key in (("items", 1), ("results", 1), ("attempts", 2), ("llm_calls", 2)):
        assert counts[table] == dict.fromkeys(keys, per_key), table  # nothing lost, nothing twice

    reference = _json(_bench(tmp_path / "clean", *args, WBTEST_N=str(n)))
    assert reference["progress"] == {"done": n, "total": n}
    assert _outcomes(db, rid) == _outcomes(tmp_path / "clean" / "runs.db", reference["run_id"])
