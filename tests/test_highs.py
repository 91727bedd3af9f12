"""The ``highs`` backend, against the real HiGHS (no mocks of the solver)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import workbench
from workbench.backends.base import SolveOptions
from workbench.compile.linear_form import Block, LinearForm
from workbench.result import Termination

highspy = pytest.importorskip("highspy")

from solvers.highs import STATUS_MAP, HighsBackend  # noqa: E402

INF = np.inf


def form(
    c,
    A,
    row_lb,
    row_ub,
    col_lb,
    col_ub,
    *,
    integer=None,
    sense="min",
    Q=None,
    offset=0.0,
    columns=None,
    rows=None,
) -> LinearForm:
    """A small LinearForm with one block ``x`` (labels 0..n-1) and rows ``r``."""
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
        integrality=np.zeros(n, bool) if integer is None else np.asarray(integer, bool),
        sense=sense,
        offset=offset,
        Q=None if Q is None else sp.csr_matrix(np.asarray(Q, dtype=float)),
        columns=columns or [Block("x", 0, n, list(range(n)))],
        rows=rows if rows is not None else ([Block("r", 0, m, list(range(m)))] if m else []),
    )


def knapsack(sense="max") -> LinearForm:
    """max 5a + 4b + 3c, three <= rows, integers in [0, 10]: optimum 13 at (2, 0, 1)."""
    return form(
        [5, 4, 3],
        [[2, 3, 1], [4, 1, 2], [3, 4, 2]],
        [-INF] * 3,
        [5, 11, 8],
        [0] * 3,
        [10] * 3,
        integer=[1, 1, 1],
        sense=sense,
    )


def markshare(m: int = 4, seed: int = 0) -> LinearForm:
    """A seeded market-split instance (Cornuejols-Dawande): tiny and very hard for B&B."""
    rng = np.random.default_rng(seed)
    n = 10 * (m - 1)
    a = rng.integers(0, 100, size=(m, n)).astype(float)
    b = np.floor(a.sum(axis=1) / 2)
    # columns: n binaries, then m slacks s+ and m slacks s-;  a x + s+ - s- = b
    A = np.hstack([a, np.eye(m), -np.eye(m)])
    c = np.r_[np.zeros(n), np.ones(2 * m)]
    integer = np.r_[np.ones(n), np.zeros(2 * m)]
    ub = np.r_[np.ones(n), np.full(2 * m, INF)]
    return form(c, A, b, b, np.zeros(n + 2 * m), ub, integer=integer)


def solve(lf: LinearForm, **kw) -> workbench.Result:
    return HighsBackend().solve_linear(lf, SolveOptions(**kw))


# -- the status table ---------------------------------------------------------


def test_status_map_is_total_over_every_highs_status() -> None:
    members = list(highspy.HighsModelStatus.__members__.values())
    assert members, "highspy exposes no statuses?"
    for status in members:
        assert status in STATUS_MAP, f"{status} is not mapped"
        assert isinstance(STATUS_MAP[status], Termination)
    assert set(STATUS_MAP) == set(members)
    assert STATUS_MAP[highspy.HighsModelStatus.kOptimal] is Termination.OPTIMAL
    assert STATUS_MAP[highspy.HighsModelStatus.kInfeasible] is Termination.INFEASIBLE
    assert STATUS_MAP[highspy.HighsModelStatus.kUnbounded] is Termination.UNBOUNDED
    assert (
        STATUS_MAP[highspy.HighsModelStatus.kUnboundedOrInfeasible]
        is Termination.INFEASIBLE_OR_UNBOUNDED
    )
    assert STATUS_MAP[highspy.HighsModelStatus.kTimeLimit] is Termination.TIME_LIMIT


def test_available_reports_version() -> None:
    a = HighsBackend().available()
    assert a.ok and a.version == highspy.Highs().version()


# -- LP, duals --------------------------------------------------------------------


@pytest.mark.parametrize("sense", ["max", "min"])
def test_lp_optimum_and_dual_sign_convention(sense: str) -> None:
    # max x + y  s.t.  x + 2y <= 4, 3x + y <= 6  ->  (1.6, 1.2), objective 2.8,
    # shadow prices 0.4 and 0.2.  As "min -x - y" the optimum is -2.8 and the
    # duals (d objective / d rhs, in the model's sense) are -0.4 and -0.2.
    s = 1.0 if sense == "max" else -1.0
    lf = form([s, s], [[1, 2], [3, 1]], [-INF] * 2, [4, 6], [0, 0], [INF, INF], sense=sense)
    res = solve(lf)
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(2.8 * s)
    assert res.bound == pytest.approx(res.objective) and res.gap == 0.0
    assert res.value("x", 0) == pytest.approx(1.6)
    assert res.value("x", 1) == pytest.approx(1.2)
    assert res.duals is not None
    assert res.duals["r"][0] == pytest.approx(0.4 * s)
    assert res.duals["r"][1] == pytest.approx(0.2 * s)
    # the dual really is the objective's sensitivity to the rhs
    bumped = form([s, s], [[1, 2], [3, 1]], [-INF] * 2, [4.01, 6], [0, 0], [INF, INF], sense=sense)
    delta = solve(bumped).objective - res.objective
    assert delta / 0.01 == pytest.approx(res.duals["r"][0], rel=1e-6)
    assert res.history and res.history[-1][1] == pytest.approx(res.objective)
    assert res.diagnostics.native_status == "Optimal"
    assert res.backend == "highs" and res.timings.solve > 0 and res.iterations is not None


def test_objective_offset_and_log_captured(capsys: pytest.CaptureFixture[str]) -> None:
    lf = form([1.0], [[1.0]], [2.0], [INF], [0], [10], offset=7.5)
    res = solve(lf)
    assert res.objective == pytest.approx(9.5)
    assert "HiGHS" in res.log and "Optimal" in res.log
    assert capsys.readouterr().out == ""  # nothing printed unless verbose


def test_the_run_logs_to_a_file_that_is_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    # while HiGHS runs its log goes to a file, not through a Python callback; the
    # result still holds the whole log, and the file is gone afterwards
    import tempfile

    made: list[str] = []
    real = tempfile.mkstemp

    def spy(*args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, path = real(*args, **kwargs)
        made.append(path)
        return fd, path

    monkeypatch.setattr(tempfile, "mkstemp", spy)
    res = solve(knapsack())
    assert len(made) == 1 and not os.path.exists(made[0])
    assert "Running HiGHS" in res.log and "Solving report" in res.log  # written to the file


def test_without_a_temporary_file_the_log_still_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def refuse(*args: Any, **kwargs: Any) -> tuple[int, str]:
        raise OSError("read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    res = solve(knapsack())
    assert res.termination is Termination.OPTIMAL and "Solving report" in res.log


def test_verbose_echoes_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    solve(form([1.0], [[1.0]], [2.0], [INF], [0], [10]), verbose=True)
    assert "HiGHS" in capsys.readouterr().out


# -- MIP: bound, gap, history, time limit ------------------------------------------


def test_milp_optimum_bound_gap_history() -> None:
    res = solve(knapsack())
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(13.0)
    assert res.bound == pytest.approx(13.0) and res.gap == pytest.approx(0.0)
    assert res.values == {"x": {0: 2.0, 1: 0.0, 2: 1.0}}
    assert res.duals is None  # MIP: no duals
    assert res.history, "history must hold at least the final point"
    times = [t for t, _, _ in res.history]
    assert times == sorted(times)
    assert res.history[-1][1] == pytest.approx(13.0)
    assert res.history[-1][2] == pytest.approx(13.0)


def test_time_limit_returns_point_and_bound_quickly() -> None:
    t0 = time.perf_counter()
    res = solve(markshare(4, seed=1), time_limit=0.5, seed=0)
    assert time.perf_counter() - t0 < 5
    assert res.termination in (Termination.FEASIBLE, Termination.TIME_LIMIT)
    assert res.diagnostics.native_status == "Time limit reached"
    assert res.objective is not None and res.bound is not None
    assert res.bound <= res.objective + 1e-9
    assert res.gap is not None and res.gap >= 0
    assert len(res.values["x"]) == 38
    assert res.history[-1][1] == pytest.approx(res.objective)


def test_seed_reproducible_and_rel_gap_accepted() -> None:
    a = solve(knapsack(), seed=3, rel_gap=1e-6, threads=1)
    b = solve(knapsack(), seed=3, rel_gap=1e-6, threads=1)
    assert a.values == b.values and a.objective == b.objective


# -- QP ----------------------------------------------------------------------------


def test_convex_qp_uses_half_xqx_convention() -> None:
    # min x^2 + xy + y^2 - 2x - 4y  (Q = [[2, 1], [1, 2]]): optimum -4 at (0, 2)
    lf = form([-2.0, -4.0], np.zeros((0, 2)), [], [], [-10, -10], [10, 10], Q=[[2, 1], [1, 2]])
    res = solve(lf)
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(-4.0, abs=1e-6)
    assert res.value("x", 0) == pytest.approx(0.0, abs=1e-4)
    assert res.value("x", 1) == pytest.approx(2.0, abs=1e-4)


def test_nonconvex_qp_is_an_error_value() -> None:
    lf = form([0.0], np.zeros((0, 1)), [], [], [0], [1], Q=[[-2.0]])
    res = solve(lf)
    assert res.termination is Termination.ERROR
    assert "non-convex" in (res.diagnostics.message or "")


# -- infeasible, IIS, unbounded -------------------------------------------------------


def transport_infeasible() -> LinearForm:
    """Two plants with supply 10 and 20, one demand of 50: infeasible."""
    return form(
        [1.0, 2.0],
        [[1, 0], [0, 1], [1, 1]],
        [-INF, -INF, 50],
        [10, 20, INF],
        [0, 0],
        [INF, INF],
        columns=[Block("ship", 0, 2, ["plant_a", "plant_b"])],
        rows=[Block("supply_limit", 0, 2, ["plant_a", "plant_b"]), Block("demand", 2, 1)],
    )


def test_infeasible_lp_reports_iis_names() -> None:
    res = solve(transport_infeasible())
    assert res.termination is Termination.INFEASIBLE
    assert set(res.diagnostics.iis or []) == {
        "supply_limit[plant_a]",
        "supply_limit[plant_b]",
        "demand",
    }
    assert "irreducible" in (res.diagnostics.message or "")


def test_iis_names_column_bounds() -> None:
    lf = form(
        [1.0, 1.0],
        [[1, 1]],
        [10],
        [INF],
        [0, 0],
        [3, 3],
        columns=[Block("x", 0, 2, [("a", 1), ("a", 2)])],
        rows=[Block("need", 0, 1)],
    )
    res = solve(lf)
    assert res.termination is Termination.INFEASIBLE
    assert set(res.diagnostics.iis or []) == {
        "need",
        "x[a,1] (upper bound)",
        "x[a,2] (upper bound)",
    }


def test_infeasible_mip_with_feasible_relaxation_invents_no_iis() -> None:
    # 2x = 1 with x integer in [0, 1]
    res = solve(form([0.0], [[2.0]], [1.0], [1.0], [0], [1], integer=[1]))
    assert res.termination is Termination.INFEASIBLE
    assert res.diagnostics.iis is None
    assert "relaxation is feasible" in (res.diagnostics.message or "")


def test_infeasible_mip_with_infeasible_relaxation_gets_iis() -> None:
    lf = transport_infeasible()
    lf.integrality = np.array([True, True])
    res = solve(lf)
    assert res.termination is Termination.INFEASIBLE
    assert "demand" in (res.diagnostics.iis or [])
    assert "relaxation" in (res.diagnostics.message or "")


def test_unbounded_lp() -> None:
    res = solve(form([-1.0, 0.0], [[1, -1]], [-INF], [1], [0, 0], [INF, INF]))
    assert res.termination is Termination.UNBOUNDED
    assert res.diagnostics.iis is None


def test_unbounded_mip_is_unbounded_or_undecided() -> None:
    lf = form([-1.0, 0.0], [[1, -1]], [-INF], [1], [0, 0], [INF, INF], integer=[1, 1])
    res = solve(lf)
    assert res.termination in (Termination.UNBOUNDED, Termination.INFEASIBLE_OR_UNBOUNDED)


# -- options and crashes -----------------------------------------------------------


def test_unknown_extra_option_suggests_close_names() -> None:
    with pytest.raises(ValueError, match=r"'mip_rel_gapp'.*did you mean 'mip_rel_gap'"):
        solve(knapsack(), extra={"mip_rel_gapp": 0.1})


def test_bad_extra_value_quotes_highs_reason() -> None:
    with pytest.raises(ValueError, match=r"presolve.*'bogus'.*not one of"):
        solve(knapsack(), extra={"presolve": "bogus"})


def test_extra_options_pass_through() -> None:
    res = solve(knapsack(), extra={"presolve": "off", "mip_max_nodes": 1000})
    assert res.termination is Termination.OPTIMAL and res.objective == pytest.approx(13.0)


def test_nan_data_is_an_error_value() -> None:
    lf = knapsack()
    lf.c = np.array([np.nan, 1.0, 1.0])  # HiGHS itself would accept this silently
    res = solve(lf)
    assert res.termination is Termination.ERROR
    assert "NaN" in (res.diagnostics.message or "")


def test_crossed_column_bounds_are_infeasible_with_iis() -> None:
    lf = knapsack()
    lf.col_lb = np.array([0.0, 5.0, 0.0])
    lf.col_ub = np.array([10.0, 1.0, 10.0])  # lb > ub
    res = solve(lf)
    assert res.termination is Termination.INFEASIBLE
    assert res.diagnostics.iis == ["x[1] (bounds)"]


def test_crash_inside_highspy_becomes_error_value(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self):  # fault injection: the solver itself is real, its run crashes
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(highspy.Highs, "run", boom)
    res = solve(knapsack())
    assert res.termination is Termination.ERROR
    assert "simulated crash" in (res.diagnostics.message or "")


# -- through the IR (needs the lead's compile_linear) -----------------------------------


def test_solve_ir_model_transport(transport_yaml) -> None:
    pytest.importorskip("workbench.compile.linear")
    model = workbench.load_model(transport_yaml)
    res = HighsBackend().solve(model, SolveOptions())
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(1075.0)
    assert res.timings.build > 0
    assert set(res.duals or {}) == {"supply_limit", "meet_demand"}
    assert sum(v for (i, _), v in res.values["x"].items() if i == "plant_a") <= 20 + 1e-9


def test_solve_ir_model_infeasible_iis_uses_constraint_names() -> None:
    pytest.importorskip("workbench.compile.linear")
    model = workbench.load_model(
        """
name: short
sets:
  I: [plant_a, plant_b]
params:
  supply: {index: [I], values: {plant_a: 10, plant_b: 20}}
variables:
  x: {index: [I], lb: 0}
objective: {sense: min, expr: "sum(x[i] for i in I)"}
constraints:
  - name: supply_limit
    for: "i in I"
    expr: "x[i] <= supply[i]"
  - name: demand
    expr: "sum(x[i] for i in I) >= 50"
"""
    )
    res = HighsBackend().solve(model, SolveOptions())
    assert res.termination is Termination.INFEASIBLE
    assert set(res.diagnostics.iis or []) == {
        "supply_limit[plant_a]",
        "supply_limit[plant_b]",
        "demand",
    }


def test_time_limited_mip_incumbent_is_reported_even_when_highs_flags_it():
    """On MIPLIB's mas76 HiGHS marks its time-limited incumbent 'infeasible' (by ~1e-12)."""
    from workbench.datasets import shared_data_dir

    shared = shared_data_dir()
    path = shared / "mip" / "instances" / "mas76.mps.gz" if shared else None
    if path is None or not path.exists():
        pytest.skip("../shared/datasets/mip not present")
    r = workbench.solve(str(path), backend="highs", time_limit=2, threads=1, seed=0)
    assert r.termination in (Termination.FEASIBLE, Termination.OPTIMAL)
    assert r.objective is not None and r.values and r.bound <= r.objective + 1e-6
