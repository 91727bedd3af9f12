"""NL datasets: located through a user path, checksummed, labels checked."""

from __future__ import annotations

import json

import pytest

from workbench.datasets import get_dataset, shared_data_dir
from workbench.errors import WorkbenchError
from workbench.eval.nl import NL_DATASETS, load_nl, suspect_reason

SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(
    SHARED is None or not (SHARED / "nl").is_dir(), reason="../shared/datasets/nl not present"
)


@needs_shared
@pytest.mark.parametrize("name", sorted(NL_DATASETS))
def test_registered_datasets_load_with_their_checksums(name):
    rows = get_dataset(name)
    ds = NL_DATASETS[name]
    assert len(rows) == ds.rows
    assert all(p.text and p.meta["rule"] == ds.rule for p in rows)
    assert len({p.id for p in rows}) == len(rows)
    no_opt = [p for p in rows if p.status == "no_optimum"]
    assert all(p.optimum is None for p in no_opt)


@needs_shared
def test_no_optimum_labels_and_sentinels():
    nlp = load_nl("nlp4lp")
    assert sum(p.status == "no_optimum" for p in nlp) == 22
    easy = load_nl("mamo_easylp")
    sentinel = [p for p in easy if p.status == "no_optimum"]
    assert len(sentinel) == 1 and str(sentinel[0].meta["ground_truth_raw"]) == "-9999"


def _row(**kw):
    base = {
        "id": "1",
        "dataset": "x",
        "description": "maximise x",
        "ground_truth": 10.0,
        "ground_truth_raw": 10,
        "ground_truth_status": "optimal",
    }
    base.update(kw)
    return base


def test_user_path_checksum_and_errors(tmp_path, monkeypatch):
    f = tmp_path / "nl4opt.jsonl"
    f.write_text(json.dumps(_row()) + "\n")
    with pytest.raises(WorkbenchError, match="SHA-256"):
        load_nl("nl4opt", path=tmp_path)
    rows = load_nl("nl4opt", path=f, verify=False)
    assert rows[0].optimum == 10.0 and rows[0].meta["rule"] == "strict"
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "nowhere"))
    monkeypatch.delenv("WORKBENCH_NL_DATA", raising=False)
    with pytest.raises(WorkbenchError, match="not found .*LLMOPT"):
        load_nl("nl4opt", path=tmp_path / "empty")
    with pytest.raises(WorkbenchError, match="unknown NL dataset"):
        load_nl("nl5opt")
    bad = tmp_path / "bad" / "nl4opt.jsonl"
    bad.parent.mkdir()
    bad.write_text("{not json\n")
    with pytest.raises(WorkbenchError, match=r"nl4opt.jsonl:1: not valid JSON"):
        load_nl("nl4opt", path=bad, verify=False)


def test_suspect_labels():
    assert suspect_reason(_row(answer_llmopt="10", answer_sirl="10.0")) is None
    assert "answer_sirl = 12" in suspect_reason(_row(answer_sirl="12"))
    assert suspect_reason(_row(results="{'The maximum profit': '10.0', 'x': '3'}")) is None
    assert "results['The maximum profit']" in suspect_reason(
        _row(results="{'x': '3', 'The maximum profit': '9'}")
    )
    assert "no optimum" in suspect_reason(_row(ground_truth=None, answer_json="{'obj': 5}"))
    assert suspect_reason(_row(results="{'x': 3}")) is None  # not an objective: not comparable
