"""The ``mip`` dataset: MPS/LP files read in place, with references from a CSV."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from problems.mip import instance_id, load_mip, read_reference
from workbench.datasets import get_dataset
from workbench.errors import WorkbenchError
from workbench.runs import plan_jobs, run_job

SHARED_MIP = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mip"

# min -x - y  s.t.  x + 2y <= 4,  3x + y <= 6,  x, y in {0, 1, 2, ...}: optimum -2 (LP bound -2.8)
TINY_MPS = """\
NAME          TINY
ROWS
 N  COST
 L  C1
 L  C2
COLUMNS
    MARKER                 'MARKER'                 'INTORG'
    X         COST         -1.0   C1           1.0
    X         C2           3.0
    Y         COST         -1.0   C1           2.0
    Y         C2           1.0
    MARKER                 'MARKER'                 'INTEND'
RHS
    RHS       C1           4.0    C2           6.0
BOUNDS
 UP BND       X            10
 UP BND       Y            10
ENDATA
"""

TINY_LP = """\
Minimize
 obj: x + y
Subject To
 c1: x + y >= 1.5
Bounds
 0 <= x <= 5
 0 <= y <= 5
General
 x y
End
"""

CSV = """\
instance,file,ncols,nrows,miplib2017_ref_value,miplib2017_ref_status,highs_agrees
tiny,instances/tiny.mps,2,2,-2,opt,yes
other,instances/other.lp.gz,2,1,2,best,
"""


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    inst = tmp_path / "instances"
    inst.mkdir()
    (inst / "tiny.mps").write_text(TINY_MPS, encoding="utf-8")
    with gzip.open(inst / "other.lp.gz", "wt", encoding="utf-8") as f:
        f.write(TINY_LP)
    (inst / "notes.txt").write_text("not an instance", encoding="utf-8")
    (tmp_path / "miplib_small_reference.csv").write_text(CSV, encoding="utf-8")
    return inst


def test_instance_id() -> None:
    assert instance_id(Path("a/10teams.mps.gz")) == "10teams"
    assert instance_id(Path("b/x.y.LP")) == "x.y"
    assert instance_id(Path("neos-911970.mps")) == "neos-911970"


def test_loads_files_with_references(suite: Path) -> None:
    probs = load_mip(str(suite))
    assert [p.id for p in probs] == ["other", "tiny"]
    other, tiny = probs
    assert tiny.status == "optimal" and tiny.optimum == -2.0
    assert tiny.path == suite / "tiny.mps" and tiny.model is None and tiny.category == "mip"
    assert tiny.meta["highs_agrees"] == "yes" and tiny.meta["reference"] == -2.0
    # a 'best' reference is not an optimum: kept in meta for primal gaps
    assert other.status == "unknown" and other.optimum is None
    assert other.meta["reference"] == 2.0 and other.meta["reference_status"] == "best"


def test_pattern_and_single_file(suite: Path) -> None:
    assert [p.id for p in load_mip(str(suite), pattern="*.lp*")] == ["other"]
    one = load_mip(str(suite / "tiny.mps"))
    assert len(one) == 1 and one[0].optimum == -2.0  # the CSV in the parent is still found


def test_without_reference(tmp_path: Path) -> None:
    (tmp_path / "tiny.mps").write_text(TINY_MPS, encoding="utf-8")
    (p,) = load_mip(str(tmp_path))
    assert p.status == "unknown" and p.optimum is None and p.meta == {}


def test_explicit_reference_and_errors(suite: Path, tmp_path: Path) -> None:
    ref = tmp_path / "mine.csv"
    ref.write_text("instance,miplib2017_ref_value,miplib2017_ref_status\ntiny,-1,opt\n")
    assert {p.id: p.optimum for p in load_mip(str(suite), reference=str(ref))}["tiny"] == -1.0
    with pytest.raises(FileNotFoundError):
        load_mip(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        load_mip(str(suite), reference=str(tmp_path / "none.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("name,value\nx,1\n")
    with pytest.raises(WorkbenchError, match="instance"):
        read_reference(bad)


def test_duplicate_names_get_their_folder(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "tiny.mps").write_text(TINY_MPS, encoding="utf-8")
    assert [p.id for p in load_mip(str(tmp_path))] == ["a/tiny", "b/tiny"]


def test_no_data_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path))
    with pytest.raises(WorkbenchError, match="WORKBENCH_DATA"):
        load_mip()


def test_registered_and_solvable(suite: Path) -> None:
    probs = get_dataset("mip", path=str(suite))
    assert [p.id for p in probs] == ["other", "tiny"]
    (job,) = plan_jobs(
        [probs[1]], dataset="mip", dataset_args={"path": str(suite)}, backends=["highs"],
        time_limit=10,
    )  # fmt: skip
    out = run_job(job)
    assert out.status == "done", out.error
    assert out.result is not None and out.result["objective"] == pytest.approx(-2.0)
    assert out.score["correct"] is True and out.score["primal_gap"] == 0.0


@pytest.mark.skipif(not SHARED_MIP.is_dir(), reason="no shared MIP data")
def test_shared_miplib_instances() -> None:
    probs = load_mip(str(SHARED_MIP / "instances"))
    assert len(probs) == 40
    by_id = {p.id: p for p in probs}
    assert by_id["10teams"].status == "optimal" and by_id["10teams"].optimum == 924.0
    assert by_id["assign1-5-8"].status == "unknown" and by_id["assign1-5-8"].optimum is None
    assert by_id["assign1-5-8"].meta["reference"] == 212.0
    assert all(p.path is not None and p.path.is_file() for p in probs)
    assert all(SHARED_MIP in p.path.parents for p in probs if p.path is not None)  # read in place
    both = load_mip(str(SHARED_MIP))  # the whole folder: instances and synthetic
    assert len(both) == 44 and by_id.keys() < {p.id for p in both}


@pytest.mark.skipif(not SHARED_MIP.is_dir(), reason="no shared MIP data")
def test_shared_quick_instance_solves_to_its_reference() -> None:
    (p,) = [q for q in load_mip(str(SHARED_MIP / "instances")) if q.id == "sp150x300d"]
    (job,) = plan_jobs(
        [p], dataset="mip", dataset_args={"path": str(SHARED_MIP / "instances")},
        backends=["highs"], time_limit=60,
    )  # fmt: skip
    out = run_job(job)
    assert out.status == "done", out.error
    assert out.score["correct"] is True, (out.result or {}).get("objective")
