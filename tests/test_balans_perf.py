"""Balans sub-MIP efficiency (issue 6): cutoffs, gap limits, emphasis, LP time limit, first solve."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from workbench.compile.linear_form import LinearForm
from workbench.errors import OptionsError
from workbench.result import Termination

pytest.importorskip("alns")
pytest.importorskip("mabwiser")
pytest.importorskip("highspy")

from balans_recorder import recording  # noqa: E402

from solvers.balans import engine  # noqa: E402
from solvers.balans.adapter import SubResult, SubStatus  # noqa: E402
from solvers.balans.engine import run_balans  # noqa: E402
from solvers.balans.generators import knapsack  # noqa: E402
from solvers.balans.settings import PRESETS, settings_from_options  # noqa: E402

HAS_SCIP = importlib.util.find_spec("pyscipopt") is not None
ADAPTERS = ["highs", pytest.param("scip", marks=pytest.mark.skipif(
    not HAS_SCIP, reason="pyscipopt not installed"))]  # fmt: skip
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "balans.py"


def _adapter(kind: str, lf: LinearForm) -> Any:
    return engine.make_adapter(kind, lf, seed=0, threads=1, verbose=False)


def _small() -> LinearForm:
    """min 1 - x0 - 2 x1 - 3 x2 + 0.5 y, x0 + x1 + x2 <= 2, y >= x2 - 0.5: optimum -3.75."""
    return LinearForm(
        c=np.array([-1.0, -2.0, -3.0, 0.5]),
        A=sp.csr_matrix(np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, -1.0, 1.0]])),
        row_lb=np.array([-np.inf, -0.5]),
        row_ub=np.array([2.0, np.inf]),
        col_lb=np.zeros(4),
        col_ub=np.array([1.0, 1.0, 1.0, 10.0]),
        integrality=np.array([True, True, True, False]),
        sense="min",
        offset=1.0,
    )


# ---------------------------------------------------------------------------
# Adapters: cutoff, gap, feasibility emphasis, LP time limit


@pytest.mark.parametrize("kind", ADAPTERS)
def test_cutoff_at_the_optimum_returns_nothing_better(kind: str) -> None:
    ad = _adapter(kind, _small())
    best = ad.solve(10.0)
    assert best.status is SubStatus.OPTIMAL and best.objective == pytest.approx(-3.75)
    # a cutoff above the optimum (offset included) still finds it
    above = ad.solve(10.0, cutoff=-3.0)
    assert above.objective == pytest.approx(-3.75)
    # a cutoff at the optimum: nothing strictly better exists, and the solve says so
    at = ad.solve(10.0, cutoff=-3.75)
    assert at.x is None or at.objective >= -3.75 - 1e-6
    assert at.status in (SubStatus.INFEASIBLE, SubStatus.OPTIMAL)
    # the cutoff applied to that solve only
    again = ad.solve(10.0)
    assert again.status is SubStatus.OPTIMAL and again.objective == pytest.approx(-3.75)


@pytest.mark.parametrize("kind", ADAPTERS)
def test_cutoff_counts_the_offset_when_the_objective_is_swapped(kind: str) -> None:
    ad = _adapter(kind, _small())
    ad.set_objective(np.array([1.0, 1.0, 1.0, 0.0]))  # no offset meanwhile: optimum 0
    try:
        assert ad.solve(10.0, cutoff=0.5).objective == pytest.approx(0.0)
        r = ad.solve(10.0, cutoff=0.0)
        assert r.x is None or r.objective >= -1e-9
    finally:
        ad.undo()


def test_highs_options_are_restored_after_each_solve() -> None:
    ad = _adapter("highs", _small())
    ad.solve(5.0, cutoff=-1.0, gap=0.2, solution_limit=1)

    def opt(name: str) -> Any:
        return ad.h.getOptionValue(name)[1]

    assert opt("objective_bound") == math.inf
    assert opt("mip_rel_gap") == pytest.approx(1e-4)
    ad.solve(5.0)
    assert opt("mip_max_improving_sols") == 2_147_483_647


@pytest.mark.skipif(not HAS_SCIP, reason="pyscipopt not installed")
def test_scip_feasibility_emphasis_is_undone_and_keeps_the_seed() -> None:
    ad = _adapter("scip", _small())
    m = ad.model
    seed = m.getParam("randomization/randomseedshift")
    freq = m.getParam("heuristics/feaspump/freq")
    r = ad.solve(5.0, solution_limit=1, feasibility=True)
    assert r.x is not None
    assert m.getParam("heuristics/feaspump/freq") == freq
    assert m.getParam("randomization/randomseedshift") == seed
    assert m.getParam("limits/maxorigsol") == 0
    r = ad.solve(5.0, gap=0.5)
    assert r.x is not None and m.getParam("limits/gap") == 0.5
    ad.solve(5.0)
    assert m.getParam("limits/gap") == 0.0


@pytest.mark.parametrize("kind", ADAPTERS)
def test_lp_relaxation_with_a_time_limit(kind: str) -> None:
    ad = _adapter(kind, _small())
    lp = ad.lp_relaxation(10.0)
    assert lp.status is SubStatus.OPTIMAL and lp.x is not None
    assert lp.objective == pytest.approx(-3.75)  # the offset included


# ---------------------------------------------------------------------------
# Engine: first solve, cutoff in the repair step, LP time limit


@pytest.mark.parametrize("kind", ADAPTERS)
def test_first_solve_stops_at_the_first_solution_and_repairs_use_cutoff(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = recording(monkeypatch)
    lf = knapsack(30, 2, seed=7)
    # the faithful balans22 first solve (first point, feasibility emphasis) on both solvers:
    # the default presets' stall-watched first solve may solve this small knapsack
    # outright, leaving no repairs to check
    s = settings_from_options({"mip_solver": kind, "time_iteration": 0.3, "max_iterations": 6,
                               "time_local_branching": 0.3, "time_crossover": 0.3,
                               "preset": "balans22", "first_solution_limit": 1})  # fmt: skip
    run = run_balans(lf, s, time_limit=4.0, seed=1, threads=1)
    assert run.termination in (Termination.FEASIBLE, Termination.OPTIMAL)
    calls = made[0].calls
    assert calls[0][0] == "lp" and 0 < calls[0][1]["time_limit"] <= s.times.lp
    first = calls[1][1]
    assert first["solution_limit"] == 1 and first["feasibility"] is True
    repairs = [kw for what, kw in calls[2:] if what == "solve" and "gap" in kw]
    assert run.iterations > 0 and repairs
    if repairs:  # every repair carries the gap; the cutoff unless the objective is swapped
        assert all(kw["gap"] == pytest.approx(1e-4) for kw in repairs)
        with_cut = [kw for kw in repairs if kw["cutoff"] is not None]
        assert with_cut and all(math.isfinite(kw["cutoff"]) for kw in with_cut)
        assert all(kw["cutoff"] is None for kw in repairs if kw["start"] is None
                   and s.acceptance.kind != "hill_climbing")  # fmt: skip


def test_no_cutoff_when_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    made = recording(monkeypatch)
    s = settings_from_options({"objective_cutoff": False, "sub_mip_gap": None,
                               "time_iteration": 0.3, "max_iterations": 5,
                               "first_solution_limit": 1})  # fmt: skip
    run_balans(knapsack(30, 2, seed=7), s, time_limit=4.0, seed=1, threads=1)
    repairs = [kw for what, kw in made[0].calls if what == "solve" and "gap" in kw]
    assert repairs and all(kw["cutoff"] is None and kw["gap"] is None for kw in repairs)


def test_sa_cuts_off_only_where_the_incumbent_is_a_start(monkeypatch: pytest.MonkeyPatch) -> None:
    made = recording(monkeypatch)
    s = settings_from_options({"preset": "ijcai25", "arms": ["rens_50", "mutation_50"],
                               "time_iteration": 0.3, "max_iterations": 12})  # fmt: skip
    run_balans(knapsack(60, 3, seed=4), s, time_limit=5.0, seed=2, threads=1)
    repairs = [kw for what, kw in made[0].calls if what == "solve" and "gap" in kw]
    assert repairs
    for kw in repairs:  # RENS gives no start: under annealing a worse point is useful
        assert (kw["cutoff"] is None) == (kw["start"] is None)


def test_lp_not_solved_in_time_drops_the_lp_arms(monkeypatch: pytest.MonkeyPatch) -> None:
    recording(monkeypatch, lp=SubResult(SubStatus.NO_SOLUTION, native="time limit"))
    # first_solution_limit=1: the default stall-watched first solve may solve it outright
    s = settings_from_options({"time_iteration": 0.3, "max_iterations": 4,
                               "first_solution_limit": 1})  # fmt: skip
    run = run_balans(knapsack(40, 2, seed=1), s, time_limit=5.0, seed=0, threads=1)
    assert run.termination in (Termination.FEASIBLE, Termination.OPTIMAL)
    assert {"rins_40", "rens_40", "rens_50"} <= set(run.dropped)
    assert "LP relaxation not solved in its time limit" in "\n".join(run.notes)
    assert all(not k.startswith(("rins", "rens")) for k in run.arm_counts)


def test_runs_stay_reproducible_with_cutoffs() -> None:
    lf = knapsack(30, 2, seed=7)
    arms = ["mutation_50", "rins_40", "rens_50", "local_branching_10"]
    s = settings_from_options({"max_iterations": 8, "time_iteration": 5.0, "arms": arms})
    a = run_balans(lf, s, time_limit=60.0, seed=5, threads=1)
    b = run_balans(lf, s, time_limit=60.0, seed=5, threads=1)
    assert a.objective == b.objective and a.arm_counts == b.arm_counts


def test_new_options_validate() -> None:
    assert PRESETS["balans22"].first_solution_limit == 1
    assert PRESETS["balans22"].times.lp == 10.0 and PRESETS["ijcai25"].times.lp == 20.0
    with pytest.raises(OptionsError, match="sub_mip_gap"):
        settings_from_options({"sub_mip_gap": -0.1})
    with pytest.raises(OptionsError, match="objective_cutoff"):
        settings_from_options({"objective_cutoff": "yes"})
    with pytest.raises(OptionsError, match="lp"):
        settings_from_options({"time_lp": 0})
    with pytest.raises(OptionsError, match="did you mean 'time_lp'"):
        settings_from_options({"time_lpp": 1.0})
    assert settings_from_options({"first_solution_limit": None}).first_solution_limit is None


# ---------------------------------------------------------------------------
# Benchmark: iterations column


def test_benchmark_reads_iterations() -> None:
    spec = importlib.util.spec_from_file_location("balans_bench_perf", SCRIPT)
    assert spec is not None and spec.loader is not None
    bb = importlib.util.module_from_spec(spec)
    sys.modules["balans_bench_perf"] = bb
    spec.loader.exec_module(bb)
    assert bb.iterations({"note": "Balans on scip: 22 ALNS iterations; arms: x=1"}) == 22
    assert bb.iterations({"note": "14 ALNS iterations in the budget (526 in all)"}) == 14
    assert bb.iterations({"note": ""}) is None
