"""MPS/LP import and export, and LinearForm -> IR conversion."""

from __future__ import annotations

import bz2
import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import yaml

from workbench.backends.base import SolveOptions
from workbench.compile.linear_form import Block, LinearForm
from workbench.errors import ModelError
from workbench.result import Termination

pytest.importorskip("highspy")

from solvers.highs import HighsBackend  # noqa: E402
from workbench.compile.mps import (  # noqa: E402
    MAX_MODEL_NNZ,
    linear_form_to_model,
    read_mps,
    write_lp,
    write_mps,
)

INF = np.inf
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mip" / "instances"


def small_milp() -> LinearForm:
    """A MILP with every row and column kind: ranged, equality, >=, free and binary columns.

    max 3x + 2y + z - w + 1.5   (x integer in [0, 5], y continuous >= 0,
    z binary, w free)
    s.t.  cap:     x + y + z      <= 6
          mix:     1 <= x - y     <= 3
          link:    y + w           = 2
          need:    x + z          >= 1
    """
    A = sp.csr_matrix(
        np.array([[1, 1, 1, 0], [1, -1, 0, 0], [0, 1, 0, 1], [1, 0, 1, 0]], dtype=float)
    )
    return LinearForm(
        c=np.array([3.0, 2.0, 1.0, -1.0]),
        A=A,
        row_lb=np.array([-INF, 1.0, 2.0, 1.0]),
        row_ub=np.array([6.0, 3.0, 2.0, INF]),
        col_lb=np.array([0.0, 0.0, 0.0, -INF]),
        col_ub=np.array([5.0, INF, 1.0, INF]),
        integrality=np.array([True, False, True, False]),
        sense="max",
        offset=1.5,
        columns=[
            Block("x", 0, 1),
            Block("y", 1, 1),
            Block("z", 2, 1),
            Block("w", 3, 1),
        ],
        rows=[Block("cap", 0, 1), Block("mix", 1, 1), Block("link", 2, 1), Block("need", 3, 1)],
        name="small",
    )


def optimum(lf: LinearForm) -> float:
    res = HighsBackend().solve_linear(lf, SolveOptions())
    assert res.termination is Termination.OPTIMAL, res.diagnostics
    assert res.objective is not None
    return res.objective


def test_reference_optimum() -> None:
    # w = 2 - y, so the objective is 3(x + y) + z - 0.5: x = 4, y = 2, z = 0 -> 17.5.
    assert optimum(small_milp()) == pytest.approx(17.5)


@pytest.mark.parametrize("suffix", [".mps", ".lp"])
def test_write_read_round_trip_preserves_the_optimum(tmp_path: Path, suffix: str) -> None:
    lf = small_milp()
    path = tmp_path / f"model{suffix}"
    (write_mps if suffix == ".mps" else write_lp)(lf, path)
    back = read_mps(path)
    if suffix == ".mps":
        assert (back.num_cols, back.num_rows, back.nnz) == (4, 4, lf.nnz)
        assert set(back.row_names()) == {"cap", "mix", "link", "need"}
    else:  # the LP format has no ranged rows: HiGHS writes 'mix' as mixlo and mixup
        assert (back.num_cols, back.num_rows) == (4, 5)
        assert {"mixlo", "mixup"} <= set(back.row_names())
    assert back.sense == "max" and back.offset == pytest.approx(1.5)
    assert back.integrality.tolist() == [True, False, True, False]
    assert optimum(back) == pytest.approx(optimum(lf))
    res = HighsBackend().solve_linear(back, SolveOptions())
    assert set(res.values) == {"x", "y", "z", "w"}  # {column name: value}


def test_indexed_names_survive_mps_and_are_mangled_for_lp(tmp_path: Path) -> None:
    lf = small_milp()
    lf.columns = [Block("x", 0, 4, [("a", 1), ("a", 2), ("b c", 1), ("b-d", 2)])]
    write_mps(lf, tmp_path / "m.mps")
    assert read_mps(tmp_path / "m.mps").col_names() == ["x[a,1]", "x[a,2]", "x[b_c,1]", "x[b-d,2]"]
    write_lp(lf, tmp_path / "m.lp")
    assert read_mps(tmp_path / "m.lp").col_names() == ["x(a,1)", "x(a,2)", "x(b_c,1)", "x(b_d,2)"]


@pytest.mark.parametrize("name", ["m.mps.gz", "m.mps.bz2", "m.free-mps", "m.lp.gz"])
def test_reads_compressed_and_aliased_files(tmp_path: Path, name: str) -> None:
    plain = tmp_path / ("plain.lp" if ".lp" in name else "plain.mps")
    (write_lp if ".lp" in name else write_mps)(small_milp(), plain)
    raw = plain.read_bytes()
    packed = {".gz": gzip.compress, ".bz2": bz2.compress}.get(Path(name).suffix, bytes)
    (tmp_path / name).write_bytes(packed(raw))
    lf = read_mps(tmp_path / name)
    assert lf.name == "m" and optimum(lf) == pytest.approx(17.5)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared MIP instances not present")
def test_reads_a_miplib_instance() -> None:
    lf = read_mps(SHARED / "sp150x300d.mps.gz")
    assert (lf.num_cols, lf.num_rows, lf.nnz) == (600, 450, 1200)
    assert lf.is_mip and lf.sense == "min"
    assert len(lf.columns) == 600 and lf.columns[0].labels is None
    res = HighsBackend().solve_linear(lf, SolveOptions(time_limit=10))
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(69.0)  # MIPLIB 2017 reference value
    assert lf.col_names()[0] in res.values


def test_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file.*nope.mps"):
        read_mps(tmp_path / "nope.mps")


def test_garbled_file_is_a_model_error_with_highs_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mps"
    bad.write_text("this is\nnot an MPS file\n")
    with pytest.raises(ModelError, match=r"cannot read .*bad\.mps: .*[Pp]arser error"):
        read_mps(bad)


def test_garbled_gzip_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mps.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ModelError, match=r"bad\.mps\.gz"):
        read_mps(bad)


def test_wrong_suffix_is_a_model_error(tmp_path: Path) -> None:
    other = tmp_path / "model.txt"
    other.write_text("NAME x\n")
    with pytest.raises(ModelError, match=r"\.mps or \.lp"):
        read_mps(other)


def test_qp_round_trip_keeps_the_hessian(tmp_path: Path) -> None:
    lf = LinearForm(
        c=np.array([-2.0, -4.0]),
        A=sp.csr_matrix((0, 2)),
        row_lb=np.zeros(0),
        row_ub=np.zeros(0),
        col_lb=np.array([-10.0, -10.0]),
        col_ub=np.array([10.0, 10.0]),
        integrality=np.zeros(2, bool),
        Q=sp.csr_matrix(np.array([[2.0, 1.0], [1.0, 2.0]])),
        columns=[Block("x", 0, 2, [0, 1])],
    )
    write_mps(lf, tmp_path / "q.mps")
    back = read_mps(tmp_path / "q.mps")
    assert back.Q is not None
    np.testing.assert_allclose(back.Q.toarray(), [[2.0, 1.0], [1.0, 2.0]])
    assert optimum(back) == pytest.approx(-4.0, abs=1e-6)


# -- LinearForm -> IR ------------------------------------------------------------------


def test_linear_form_to_model_writes_only_finite_data() -> None:
    from workbench.ir import dump_model

    model = linear_form_to_model(small_milp())
    text = dump_model(model)
    data = yaml.safe_load(text)
    assert "inf" not in text.lower().replace("info", "")
    assert data["objective"]["sense"] == "max"
    assert {v["domain"] for v in data["variables"].values()} == {"integer", "continuous", "binary"}
    assert {c["name"] for c in data["constraints"]} == {"eq", "le", "ge"}
    # the ranged row 'mix' appears as both <= and >=
    assert "mix" in data["sets"]["R_le"] and "mix" in data["sets"]["R_ge"]

    def finite(x):
        if isinstance(x, dict):
            return all(finite(v) for v in x.values())
        if isinstance(x, list):
            return all(finite(v) for v in x)
        return not isinstance(x, float) or math.isfinite(x)

    assert finite(data)


def test_linear_form_to_model_solves_to_the_same_optimum() -> None:
    pytest.importorskip("workbench.compile.linear")
    model = linear_form_to_model(small_milp())
    res = HighsBackend().solve(model, SolveOptions())
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(17.5)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared MIP instances not present")
def test_imported_mps_converts_and_solves_to_the_same_optimum() -> None:
    pytest.importorskip("workbench.compile.linear")
    lf = read_mps(SHARED / "sp150x300d.mps.gz")
    model = linear_form_to_model(lf)
    res = HighsBackend().solve(model, SolveOptions(time_limit=10))
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(69.0)


def test_linear_form_to_model_refuses_large_models() -> None:
    n = MAX_MODEL_NNZ + 1
    lf = LinearForm(
        c=np.ones(n),
        A=sp.csr_matrix(np.ones((1, n))),
        row_lb=np.array([1.0]),
        row_ub=np.array([INF]),
        col_lb=np.zeros(n),
        col_ub=np.ones(n),
        integrality=np.zeros(n, bool),
    )
    with pytest.raises(ModelError, match=f"{n} nonzeros"):
        linear_form_to_model(lf)


@pytest.mark.parametrize("names", [True, False])
@pytest.mark.parametrize("quadratic", [False, True])
def test_load_into_highs_both_paths_agree(names: bool, quadratic: bool) -> None:
    import highspy

    from workbench.compile.mps import load_into_highs

    lf = small_milp()
    if quadratic:  # a concave maximisation: drop integrality, add -0.5 * (x^2 + y^2)
        lf.integrality = np.zeros(4, bool)
        lf.Q = sp.csr_matrix(np.diag([-1.0, -1.0, 0.0, 0.0]))
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert load_into_highs(h, lf, names=names) == highspy.HighsStatus.kOk
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    expected = 17.5 if not quadratic else None
    got = h.getInfo().objective_function_value
    if expected is not None:
        assert got == pytest.approx(expected)
    else:
        x = np.asarray(h.getSolution().col_value)
        assert got == pytest.approx(lf.objective_value(x), abs=1e-6)
    assert h.getNumCol() == 4 and (h.getLp().col_names_ == ["x", "y", "z", "w"]) is names
