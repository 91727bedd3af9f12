"""The ``cpsat`` backend, against the real CP-SAT (no mocks of the solver)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import scipy.sparse as sp

import workbench
from workbench.backends.base import SolveOptions
from workbench.compile.linear_form import Block, LinearForm
from workbench.errors import UnsupportedProblemError
from workbench.result import Termination

cp_model = pytest.importorskip("ortools.sat.python.cp_model")

from solvers.cpsat import STATUS_MAP, CpSatBackend, integer_scale  # noqa: E402

INF = np.inf


def form(c, A, row_lb, row_ub, col_lb, col_ub, *, integer=None, sense="min", Q=None, offset=0.0):
    """A small LinearForm, all columns integer unless *integer* says otherwise."""
    n = len(c)
    A = sp.csr_matrix(np.asarray(A, dtype=float).reshape(-1, n))
    m = A.shape[0]
    return LinearForm(
        c=np.asarray(c, dtype=float),
        A=A,
        row_lb=np.asarray(row_lb, dtype=float),
        row_ub=np.asarray(row_ub, dtype=float),
        col_lb=np.asarray(col_lb, dtype=float),
        col_ub=np.asarray(col_ub, dtype=float),
        integrality=np.ones(n, bool) if integer is None else np.asarray(integer, bool),
        sense=sense,
        offset=offset,
        Q=None if Q is None else sp.csr_matrix(np.asarray(Q, dtype=float)),
        columns=[Block("x", 0, n, list(range(n)))],
        rows=[Block("cap", 0, m, ["a", "b", "c", "d"][:m])] if m else [],
    )


def knapsack(scale: float = 1.0, offset: float = 0.0) -> LinearForm:
    """max 5a + 4b + 3c (times *scale*): optimum 13 * scale at (2, 0, 1)."""
    return form(
        np.array([5, 4, 3]) * scale,
        [[2, 3, 1], [4, 1, 2], [3, 4, 2]],
        [-INF] * 3,
        [5, 11, 8],
        [0] * 3,
        [10] * 3,
        sense="max",
        offset=offset,
    )


def solve(lf: LinearForm, **kw) -> workbench.Result:
    return CpSatBackend().solve_linear(lf, SolveOptions(**kw))


def test_status_map_is_total_over_every_cpsat_status() -> None:
    members = list(cp_model.CpSolverStatus.__members__.values())
    assert len(members) == 5
    assert set(STATUS_MAP) == set(members)
    for status in members:
        assert isinstance(STATUS_MAP[status], Termination)
    assert STATUS_MAP[cp_model.OPTIMAL] is Termination.OPTIMAL
    assert STATUS_MAP[cp_model.FEASIBLE] is Termination.FEASIBLE
    assert STATUS_MAP[cp_model.INFEASIBLE] is Termination.INFEASIBLE
    assert STATUS_MAP[cp_model.MODEL_INVALID] is Termination.ERROR


def test_available_reports_version() -> None:
    import ortools

    a = CpSatBackend().available()
    assert a.ok and a.version == ortools.__version__


def test_knapsack_optimum_bound_history_and_offset() -> None:
    res = solve(knapsack(offset=0.5), seed=1, threads=1)
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(13.5)
    assert res.bound == pytest.approx(13.5) and res.gap == 0.0
    assert res.values == {"x": {0: 2.0, 1: 0.0, 2: 1.0}}
    assert res.history and res.history[-1][1] == pytest.approx(13.5)
    assert "CP-SAT" in res.log
    assert res.backend == "cpsat" and res.timings.solve > 0


def test_rational_coefficients_are_scaled() -> None:
    # rows and objective divided by 10 / 4: same optimum point, objective 1.3
    lf = form(
        [0.5, 0.4, 0.3],
        [[0.2, 0.3, 0.1], [1.0, 0.25, 0.5], [3, 4, 2]],
        [-INF] * 3,
        [0.5, 2.75, 8],
        [0] * 3,
        [10] * 3,
        sense="max",
    )
    res = solve(lf)
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(1.3)
    assert res.bound == pytest.approx(1.3)
    assert res.values["x"] == {0: 2.0, 1: 0.0, 2: 1.0}


def test_integer_scale_per_segment() -> None:
    data = np.array([1.0, 2.0, 0.5, 0.25, 1 / 3, 1e-6])
    k = integer_scale(data, np.array([0, 2, 4, 5, 5, 6]))
    assert k.tolist() == [0, 2, -1, 0, 6]


def test_matches_highs_on_random_pure_integer_models() -> None:
    from solvers.highs import HighsBackend

    rng = np.random.default_rng(7)
    for _ in range(5):
        n, m = 6, 4
        A = rng.integers(-3, 6, size=(m, n))
        lf = form(
            rng.integers(-5, 6, size=n),
            A,
            [-INF] * m,
            rng.integers(5, 20, size=m),
            [0] * n,
            [4] * n,
            sense="max",
        )
        a = solve(lf)
        b = HighsBackend().solve_linear(lf, SolveOptions())
        assert a.termination is b.termination is Termination.OPTIMAL
        assert a.objective == pytest.approx(b.objective)


def test_infeasible() -> None:
    res = solve(form([1, 1], [[2, 0]], [1], [1], [0, 0], [1, 1]))
    assert res.termination is Termination.INFEASIBLE
    assert res.objective is None and res.diagnostics.native_status == "INFEASIBLE"


def test_time_limit_gives_point_and_bound() -> None:
    # market split: tiny and very hard; every column bounded (slacks <= 1000)
    rng = np.random.default_rng(1)
    m, n = 4, 30
    a = rng.integers(0, 100, size=(m, n))
    b = np.floor(a.sum(axis=1) / 2)
    A = np.hstack([a, np.eye(m), -np.eye(m)])
    lf = form(
        np.r_[np.zeros(n), np.ones(2 * m)],
        A,
        b,
        b,
        np.zeros(n + 2 * m),
        np.r_[np.ones(n), np.full(2 * m, 1000)],
    )
    t0 = time.perf_counter()
    res = solve(lf, time_limit=0.5, seed=0, threads=2)
    assert time.perf_counter() - t0 < 5
    assert res.termination in (Termination.FEASIBLE, Termination.TIME_LIMIT, Termination.OPTIMAL)
    assert res.objective is not None and res.bound is not None
    assert res.bound <= res.objective + 1e-9
    assert res.history


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"integer": [True, False]}, r"x\[1\] is continuous"),
        ({"col_ub": [1, INF]}, r"x\[1\] has no upper bound.*finite ub"),
        ({"A": [[1 / 3, 1]]}, r"constraint cap\[a\].*power of ten"),
        ({"c": [np.pi, 1]}, r"objective"),
        ({"Q": [[1, 0], [0, 1]]}, r"quadratic"),
    ],
)
def test_unsupported_models_name_the_culprit(change, pattern) -> None:
    kw = {
        "c": [1, 1],
        "A": [[1, 1]],
        "row_lb": [1],
        "row_ub": [1],
        "col_lb": [0, 0],
        "col_ub": [1, 1],
    }
    kw.update(change)
    with pytest.raises(UnsupportedProblemError, match=pattern):
        solve(form(**kw))


def test_options_validated_and_enums_by_name() -> None:
    with pytest.raises(ValueError, match=r"'num_worker'.*did you mean 'num_workers'"):
        solve(knapsack(), extra={"num_worker": 2})
    with pytest.raises(ValueError, match=r"search_branching.*not one of"):
        solve(knapsack(), extra={"search_branching": "NOPE"})
    with pytest.raises(ValueError, match=r"max_time_in_seconds"):
        solve(knapsack(), extra={"max_time_in_seconds": "soon"})
    res = solve(knapsack(), extra={"search_branching": "FIXED_SEARCH", "cp_model_presolve": False})
    assert res.objective == pytest.approx(13.0)


def test_verbose_only_prints_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    solve(knapsack())
    assert capsys.readouterr().out == ""
    solve(knapsack(), verbose=True)
    assert "CP-SAT" in capsys.readouterr().out


def test_solve_ir_pure_integer_model() -> None:
    pytest.importorskip("workbench.compile.linear")
    model = workbench.load_model(
        """
name: knap
sets:
  I: [a, b, c]
params:
  value: {index: [I], values: {a: 5, b: 4, c: 3}}
  weight: {index: [I], values: {a: 2, b: 3, c: 1}}
variables:
  x: {index: [I], domain: integer, lb: 0, ub: 10}
objective: {sense: max, expr: "sum(value[i] * x[i] for i in I)"}
constraints:
  - name: capacity
    expr: "sum(weight[i] * x[i] for i in I) <= 5"
  - name: second
    expr: "4 * x['a'] + x['b'] + 2 * x['c'] <= 11"
"""
    )
    from solvers.highs import HighsBackend

    res = CpSatBackend().solve(model, SolveOptions())
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(15.0)  # x = (0, 0, 5)
    assert res.values["x"] == {"a": 0.0, "b": 0.0, "c": 5.0}
    assert res.timings.build > 0
    assert HighsBackend().solve(model, SolveOptions()).objective == pytest.approx(15.0)


def test_highspy_and_ortools_share_one_process() -> None:
    code = textwrap.dedent(
        """
        import highspy
        from ortools.sat.python import cp_model
        from ortools.linear_solver import pywraplp

        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        x = h.addVariable(0, 4, 1.0)
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        h.run()
        assert abs(h.getInfo().objective_function_value - 4) < 1e-9

        m = cp_model.CpModel()
        y = m.new_int_var(0, 7, "y")
        m.maximize(y)
        s = cp_model.CpSolver()
        assert s.solve(m) == cp_model.OPTIMAL and s.value(y) == 7

        lp = pywraplp.Solver.CreateSolver("GLOP")
        z = lp.NumVar(0, 3, "z")
        lp.Maximize(z)
        assert lp.Solve() == pywraplp.Solver.OPTIMAL and abs(z.solution_value() - 3) < 1e-9

        h.run()  # HiGHS again after OR-Tools
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
