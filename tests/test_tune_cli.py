"""``workbench tune`` end to end with a scripted LLM on the catalogue, recorded in the run store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench.cli.main import app
from workbench.datasets import get_dataset
from workbench.runs.store import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from simulated_llm import build_script  # noqa: E402

IDS = [
    "knapsack_01",
    "transport_small",
    "bin_packing",
    "set_cover",
    "production_mix",
    "coin_change",
]


def _script(tmp_path: Path) -> Path:
    by_id = {p.id: p for p in get_dataset("catalog")}
    path = tmp_path / "script.json"
    path.write_text(json.dumps(build_script([by_id[i] for i in IDS])), encoding="utf-8")
    return path


@pytest.mark.parametrize("optimizer", ["polca", "optoprime"])
def test_tune_improves_instructions_and_records_the_run(tmp_path, optimizer):
    store = tmp_path / "runs.db"
    args = ["tune", "--dataset", "catalog", "--split", "train", "--agent", "orthought",
            "--optimizer", optimizer, "--budget", "6" if optimizer == "polca" else "3", "--ids", ",".join(IDS), "--seed", "0",
            "--llm", "scripted", "--llm-option", f"script={_script(tmp_path)}",
            "--store", str(store), "--json"]  # fmt: skip
    if optimizer == "polca":
        args += ["--option", "embedder=hashing", "--option", "batch_size=2",
                 "--option", "candidates=1", "--option", "epsilon=0.3"]  # fmt: skip
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["train"] == 3 and summary["heldout"] == 3
    assert "integer variables" in summary["best"]
    assert summary["heldout_best"] > summary["heldout_initial"]
    assert summary["train_best"] > summary["train_initial"]
    with RunStore(store) as rs:
        rid = summary["run_id"]
        run = rs.run(rid)
        assert run["pipeline"] == "tune" and run["config"]["optimizer"] == optimizer
        items = rs.items(rid)
        key = f"tuning|{optimizer}|orthought"
        assert {it["key"] for it in items} >= {key} and len(items) == 1 + 2 * 3
        attempts = rs.attempts(rid, key)
        assert attempts and all("score" in a["feedback"] for a in attempts)
        calls = rs.llm_calls(rid, key)
        assert calls and any("#Variables" in json.dumps(c["prompt"]) for c in calls)
        names = {a["name"] for a in rs.artifacts(rid, key)}
        assert names == {"best_instructions", "tuning_report", "transcript"}
        best_rows = [it for it in items if it["key"].endswith("|best")]
        assert all(it["correct"] for it in best_rows)


def test_tune_reports_a_missing_dataset_and_a_bad_option_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path))
    monkeypatch.delenv("WORKBENCH_NL_DATA", raising=False)
    script = _script(tmp_path)
    base = ["tune", "--llm", "scripted", "--llm-option", f"script={script}", "--store",
            str(tmp_path / "r.db")]  # fmt: skip
    out = CliRunner().invoke(app, [*base, "--dataset", "nl4opt"])
    assert out.exit_code == 2 and "nl4opt" in out.output and "not found" in out.output
    out = CliRunner().invoke(app, [*base, "--ids", "knapsack_01,transport_small",
                                   "--option", "epsilom=0.1", "--option", "embedder=hashing"])  # fmt: skip
    assert out.exit_code == 2 and "'epsilom'" in out.output and "'epsilon'" in out.output
    out = CliRunner().invoke(app, [*base, "--optimizer", "nope"])
    assert out.exit_code == 2 and "polca" in out.output


def test_the_simulated_agents_marker_is_in_no_agent_prompt():
    """The simulated agent answers correctly only when the tuned instructions carry the
    marker; if an agent's own prompt carried it, every candidate would look perfect."""
    from simulated_llm import INTEGRALITY_MARKER, PROPOSALS

    root = Path(__file__).resolve().parent.parent / "agents"
    prompts = [p for p in root.rglob("*") if p.suffix in (".md", ".py") and p.is_file()]
    assert prompts
    assert not [p for p in prompts if INTEGRALITY_MARKER in p.read_text(encoding="utf-8")]
    assert sum(INTEGRALITY_MARKER in p for p in PROPOSALS) == 2
