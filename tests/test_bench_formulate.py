"""`workbench bench --pipeline formulate`: real workers, the real openai client, the loopback stub."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from workbench.datasets import get_dataset
from workbench.ir import model_to_dict
from workbench.runs import RunStore

IDS = ["knapsack_01", "diet", "transport_small"]


def test_formulate_batch_records_items_calls_and_transcripts(llm_stub, tmp_path):
    problems = {p.text.strip(): p for p in get_dataset("catalog", ids=IDS)}

    def answer(req):
        user = req.body["messages"][1]["content"]
        p = next(p for t, p in problems.items() if t in user)
        return json.dumps(
            {"understanding": p.title, "steps": "reference", "model": model_to_dict(p.model)}
        )

    llm_stub.respond_with(answer)
    store = tmp_path / "runs.db"
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-never-stored", "WORKBENCH_HOME": str(tmp_path)}
    cmd = [
        sys.executable,
        "-m",
        "workbench.cli",
        "bench",
        "--suite",
        "catalog",
        "--pipeline",
        "formulate",
        "--agent",
        "orthought",
        "--ids",
        ",".join(IDS),
        "--workers",
        "2",
        "--store",
        str(store),
        "--llm",
        "openai",
        "--llm-option",
        f"base_url={llm_stub.url}",
        "--llm-option",
        "model=stub",
        "--json",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    rid = summary["run_id"] if "run_id" in summary else summary["run"]["id"]
    rs = RunStore(store, readonly=True)
    items = rs.items(rid)
    assert len(items) == 3 and all(i["status"] == "done" and i["correct"] == 1 for i in items), [
        (i["status"], i["error"], i["termination"]) for i in items
    ]
    calls = rs.llm_calls(rid)
    assert len(calls) == 3 and all(c["prompt_tokens"] > 0 and c["model"] for c in calls)
    assert all(c["prompt"][0]["role"] == "system" for c in calls)
    for it in items:
        arts = {a["name"]: a for a in rs.artifacts(rid, it["key"])}
        assert "transcript" in arts and "model.yaml" in arts
        assert rs.attempts(rid, it["key"])[0]["model"]
    raw = (
        store.read_bytes() + (tmp_path / "runs.db-wal").read_bytes()
        if (tmp_path / "runs.db-wal").exists()
        else store.read_bytes()
    )
    assert b"sk-test-never-stored" not in raw


def test_api_keys_are_refused_on_the_command_line(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "workbench.cli",
        "bench",
        "--suite",
        "catalog",
        "--pipeline",
        "formulate",
        "--agent",
        "orthought",
        "--ids",
        "diet",
        "--store",
        str(tmp_path / "r.db"),
        "--llm-option",
        "api_key=sk-secret",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "OPENAI_API_KEY" in out.stderr and "Traceback" not in out.stderr
