"""Balans sub-MIPs: every operator fixes what it should, undo restores the model exactly,
Proximity's big-M slack, the presets against the ``balans`` package's own configs, and
bad input on both MIP adapters."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import workbench
from workbench.compile.linear_form import LinearForm
from workbench.errors import ModelError, OptionsError
from workbench.result import Termination

pytest.importorskip("alns")
pytest.importorskip("mabwiser")
pytest.importorskip("highspy")

from solvers.balans import BalansBackend  # noqa: E402
from solvers.balans.adapter import TempRow, clip_window, to_minimisation  # noqa: E402
from solvers.balans.engine import make_adapter  # noqa: E402
from solvers.balans.generators import knapsack  # noqa: E402
from solvers.balans.operators import (  # noqa: E402
    Crossover,
    DestroyOperator,
    Dins,
    LocalBranching,
    Mutation,
    Proximity,
    RandomObjective,
    Rens,
    Rins,
    SearchContext,
)
from solvers.balans.settings import PRESETS, settings_from_options  # noqa: E402

ADAPTERS = ["highs", pytest.param("scip", marks=pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("pyscipopt") is None, reason="no pyscipopt"))]  # fmt: skip
FAST = {"first_solution_limit": 1, "time_iteration": 1.0, "time_local_branching": 1.0}


def _mixed() -> LinearForm:
    """min c x over 3 binaries, 2 general integers in [-5, 7] and [2, 9], 2 continuous.

    The rows couple every kind of column, so fixing any of them matters.
    """
    c = np.array([3.0, -2.0, 4.0, 1.5, -1.0, 2.0, 0.5])
    A = np.array(
        [
            [1, 1, 1, 0, 0, 0, 0],  # at least one binary
            [0, 0, 0, 1, 1, 1, 0],  # x3 + x4 + y0 >= 4
            [2, 0, 0, 1, 0, 0, -1],  # 2 x0 + x3 - y1 <= 6
            [0, 3, 1, 0, 1, 0, 1],  # 3 x1 + x2 + x4 + y1 <= 14
        ],
        dtype=float,
    )
    return LinearForm(
        c=c,
        A=sp.csr_matrix(A),
        row_lb=np.array([1.0, 4.0, -np.inf, -np.inf]),
        row_ub=np.array([np.inf, np.inf, 6.0, 14.0]),
        col_lb=np.array([0, 0, 0, -5, 2, 0, 0], dtype=float),
        col_ub=np.array([1, 1, 1, 7, 9, np.inf, 10], dtype=float),
        integrality=np.array([1, 1, 1, 1, 1, 0, 0], dtype=bool),
        sense="min",
    )


def _snapshot(ad: Any) -> dict[str, Any]:
    """Everything undo must restore, read back from the solver itself."""
    if ad.name == "highs":
        lp = ad.h.getLp()
        return {
            "lb": np.array(lp.col_lower_),
            "ub": np.array(lp.col_upper_),
            "c": np.array(lp.col_cost_),
            "offset": float(lp.offset_),
            "rows": int(lp.num_row_),
            "cols": int(lp.num_col_),
            "row_lb": np.array(lp.row_lower_),
            "row_ub": np.array(lp.row_upper_),
        }
    m = ad.model
    vs = m.getVars()

    def inf(a: list[float]) -> np.ndarray:  # SCIP's infinity is 1e20
        v = np.array(a)
        return np.where(v >= 1e20, np.inf, np.where(v <= -1e20, -np.inf, v))

    return {
        "lb": inf([v.getLbOriginal() for v in vs]),
        "ub": inf([v.getUbOriginal() for v in vs]),
        "c": np.array([v.getObj() for v in vs]),
        "rows": m.getNConss(),
        "cols": m.getNVars(),
    }


def _bounds(ad: Any) -> tuple[np.ndarray, np.ndarray]:
    s = _snapshot(ad)
    return s["lb"][: ad.n], s["ub"][: ad.n]


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert np.array_equal(a[k], b[k]), k  # exact: no drift from repeated changes
        else:
            assert a[k] == b[k], k


# ---------------------------------------------------------------------------
# clip_window and TempRow


def test_clip_window_never_leaves_the_box() -> None:
    lb = np.array([0.0, -5.0, 2.0, -np.inf])
    ub = np.array([1.0, 7.0, 9.0, np.inf])
    lo, hi = clip_window(lb, ub, np.array([3.0, -9.0, 4.0, -2.5]), np.array([3.0, -9.0, 1.0, 4.0]))
    assert lo.tolist() == [1.0, -5.0, 4.0, -2.5]  # above ub -> ub; below lb -> lb
    assert hi.tolist() == [1.0, -5.0, 4.0, 4.0]  # crossed window collapses, never hi < lo
    assert np.all(lo >= lb) and np.all(hi <= ub) and np.all(lo <= hi)


def test_temp_row_validation() -> None:
    with pytest.raises(ValueError, match="cols .* and coefs"):
        TempRow(np.array([0, 1]), np.array([1.0]), -math.inf, 1.0)
    with pytest.raises(ValueError, match="soft row needs"):
        TempRow(np.array([0]), np.array([1.0]), 0.0, 1.0, slack_cost=10.0)
    with pytest.raises(ValueError, match="soft row needs"):
        TempRow(np.array([0]), np.array([1.0]), -math.inf, 1.0, slack_cost=-1.0)


# ---------------------------------------------------------------------------
# Every operator on both adapters: what is fixed while applied, exact undo after


def _operators() -> list[DestroyOperator]:
    return [
        Mutation(0.4),
        Rins(0.5),
        Rens(1.0),
        Dins(),
        LocalBranching(0.5),
        Proximity(0.05),
        RandomObjective(),
        Crossover(),
    ]


@pytest.mark.parametrize("kind", ADAPTERS)
@pytest.mark.parametrize("fix_continuous", [False, True], ids=["int_only", "fix_cont"])
def test_operators_fix_and_undo_exactly(kind: str, fix_continuous: bool) -> None:
    lf = _mixed()
    ad = make_adapter(kind, lf, seed=0, threads=1, verbose=False)
    opt = ad.solve(10.0)
    assert opt.status.value == "optimal" and opt.x is not None
    lp = ad.lp_relaxation()
    x = opt.x.copy()
    x[:5] = np.round(x[:5])
    before = _snapshot(ad)
    ctx = SearchContext(
        lf=lf, x_lp=lp.x, adapter=ad, crossover_time=2.0, fix_continuous=fix_continuous
    )
    for op in _operators():
        for seed in range(3):
            nb = op.destroy(x, float(opt.objective), np.random.default_rng(seed), ctx)
            _same(before, _snapshot(ad))  # destroying (Crossover's inner solve too) leaves no trace
            if nb.skip:
                continue
            nb.apply(ad)
            lb, ub = _bounds(ad)
            fixed = lb == ub
            freed = np.setdiff1d(ctx.discrete, nb.fix_cols)
            # every integer column the operator did not free is fixed at its incumbent value
            assert np.array_equal(lb[nb.fix_cols], np.round(x[nb.fix_cols]))
            assert np.all(fixed[nb.fix_cols])
            assert set(nb.fix_cols.tolist()) >= set(ctx.discrete.tolist()) - set(freed.tolist())
            # continuous columns: fixed exactly when asked (and only with integer fixing)
            if fix_continuous and nb.fix_cols.size:
                assert np.array_equal(lb[ctx.continuous], x[ctx.continuous])
                assert np.all(fixed[ctx.continuous])
            else:
                assert np.array_equal(lb[ctx.continuous], lf.col_lb[ctx.continuous])
                assert np.array_equal(ub[ctx.continuous], lf.col_ub[ctx.continuous])
            # nothing leaves the original box
            assert np.all(lb >= lf.col_lb) and np.all(ub <= lf.col_ub)
            res = ad.solve(5.0, start=x if nb.start_ok else None)
            if nb.start_ok and nb.objective is None:  # the incumbent is in the neighbourhood
                assert res.x is not None and res.objective <= opt.objective + 1e-6
            ad.undo()
            _same(before, _snapshot(ad))
    again = ad.solve(10.0)
    assert again.objective == pytest.approx(opt.objective, abs=1e-9)


def test_general_integers_are_fixed_not_just_binaries() -> None:
    lf = _mixed()
    ctx = SearchContext(lf=lf, x_lp=np.array([0.5, 0, 0.5, 2.5, 2, 0, 0]))
    x = np.array([1, 0, 0, 3, 2, 0.0, 1.25])
    for seed in range(10):
        nb = Mutation(0.2).destroy(x, 0.0, np.random.default_rng(seed), ctx)  # frees 1 of 5
        assert nb.fix_cols.size == 4 and {3, 4} & set(nb.fix_cols.tolist())
        assert np.array_equal(nb.fix_values, np.round(x[nb.fix_cols]))
    nb = Rins(1.0).destroy(x, 0.0, np.random.default_rng(0), ctx)
    assert nb.fix_cols.tolist() == [1, 4]  # incumbent == LP on x1 (binary) and x4 (general)
    ctx_c = SearchContext(lf=lf, x_lp=ctx.x_lp, fix_continuous=True)
    nb = Rins(1.0).destroy(x, 0.0, np.random.default_rng(0), ctx_c)
    assert nb.fix_cols.tolist() == [1, 4, 5, 6]
    assert nb.fix_values.tolist() == [0.0, 2.0, 0.0, 1.25]  # continuous values unrounded


# ---------------------------------------------------------------------------
# Proximity's big-M slack keeps the sub-MIP feasible


@pytest.mark.parametrize("kind", ADAPTERS)
def test_proximity_slack_keeps_submip_feasible(kind: str) -> None:
    lf = to_minimisation(knapsack(14, 2, seed=3))
    ad = make_adapter(kind, lf, seed=0, threads=1, verbose=False)
    opt = ad.solve(10.0)
    assert opt.status.value == "optimal"
    before = _snapshot(ad)
    x = np.round(opt.x)
    # at the optimum no point meets any tightened cutoff
    hard = Proximity(0.05).destroy(
        x, opt.objective, np.random.default_rng(0), SearchContext(lf, x, big_m=None)
    )
    assert hard.rows[0].slack_cost is None
    hard.apply(ad)
    assert ad.solve(5.0).status.value == "infeasible"
    ad.undo()
    _same(before, _snapshot(ad))
    soft = Proximity(0.05).destroy(x, opt.objective, np.random.default_rng(0), SearchContext(lf, x))
    assert soft.rows[0].slack_cost == 1000.0
    soft.apply(ad)
    res = ad.solve(5.0)
    ad.undo()
    _same(before, _snapshot(ad))
    assert res.x is not None and res.x.shape == (lf.num_cols,)  # the slack is not returned
    # the point is feasible for the original model and (M dominating) optimal again
    act = lf.A @ res.x
    assert np.all(act <= lf.row_ub + 1e-6) and np.all(act >= lf.row_lb - 1e-6)
    assert lf.objective_value(np.round(res.x)) == pytest.approx(opt.objective)


def test_big_m_and_fix_continuous_options() -> None:
    s = settings_from_options({"big_m": 50.0, "fix_continuous": True})
    assert s.big_m == 50.0 and s.fix_continuous
    assert settings_from_options({"big_m": None}).big_m is None
    with pytest.raises(OptionsError, match="big_m must be a positive number"):
        settings_from_options({"big_m": -1})
    with pytest.raises(OptionsError, match="fix_continuous must be True or False"):
        settings_from_options({"fix_continuous": "yes"})
    lf = _mixed()
    for kw in ({"fix_continuous": True}, {"big_m": None}):
        r = workbench.solve(lf, backend="balans", time_limit=20, seed=0, max_iterations=6,
                            final_solve=True, **FAST, **kw)  # fmt: skip
        assert r.termination is Termination.OPTIMAL
        assert r.objective == pytest.approx(workbench.solve(lf, backend="highs").objective)


# ---------------------------------------------------------------------------
# SCIP: every objective-swapping arm runs (pyscipopt 6 has no chgVarObj)


@pytest.mark.parametrize("kind", ADAPTERS)
def test_objective_arms_run_on_each_solver(kind: str) -> None:
    lf = knapsack(30, 3, seed=11)
    arms = ["crossover", "proximity_0.015", "random_objective", "mutation_50"]
    # fixed sizes: a Mutation grown to 100 % is the whole MIP and may prove optimality early
    r = workbench.solve(lf, backend="balans", mip_solver=kind, arms=arms, time_limit=30,
                        seed=3, max_iterations=8, adaptive_size=False, **FAST)  # fmt: skip
    assert r.termination in {Termination.FEASIBLE, Termination.OPTIMAL}, r.diagnostics.message
    counts = BalansBackend.describe(r)
    assert set(counts) == set(arms) and sum(counts.values()) == r.iterations == 8


# ---------------------------------------------------------------------------
# The presets against the ``balans`` package's own configuration files


def _pkg_config(*parts: str) -> dict[str, Any]:
    from importlib.util import find_spec

    spec = find_spec("balans")
    if spec is None or spec.origin is None or "site-packages" not in spec.origin:
        pytest.skip("the balans package (peers extra) is not installed")
    return json.loads(Path(spec.origin).parent.joinpath("configs", *parts).read_text())


def _our_arm(pkg_name: str) -> str:
    kind, _, num = pkg_name.lower().rpartition("_")
    if pkg_name == "Crossover":
        return "crossover"
    if kind == "proximity":  # Proximity_005 = 0.005, Proximity_05 = 0.05, Proximity_10 = 0.1
        return f"proximity_{int(num) / 10 ** len(num):g}"
    return f"{kind}_{num}"


@pytest.mark.parametrize(
    ("preset", "parts"),
    [("balans22", ("default.json",)), ("ijcai25", ("top_configs", "ijcai25", "miplib_sa_ts_same.json"))],
)  # fmt: skip
def test_presets_match_package_configs(preset: str, parts: tuple[str, ...]) -> None:
    cfg = _pkg_config(*parts)
    ours = PRESETS[preset]
    assert [_our_arm(a) for a in cfg["destroy_ops"]] == list(ours.arms)
    sel = cfg["selector"]
    assert tuple(sel["scores"]) == ours.bandit.scores
    pol = sel["learning_policy"]
    assert {"Softmax": "softmax", "ThompsonSampling": "thompson"}[pol["type"]] == ours.bandit.policy
    if pol["type"] == "Softmax":
        assert ours.bandit.tau == pytest.approx(pol["tau"])
    acc = cfg["accept"]
    if acc["type"] == "HillClimbing":
        assert ours.acceptance.kind == "hill_climbing"
    else:
        assert ours.acceptance.kind == "simulated_annealing"
        a = ours.acceptance
        assert (a.start, a.end, a.step, a.method) == (
            acc["start_temperature"], acc["end_temperature"], acc["step"], acc["method"])  # fmt: skip
    t = ours.times
    assert (t.first_solution, t.iteration, t.local_branching, t.crossover) == (
        cfg["timelimit_first_solution"],
        cfg["timelimit_alns_iteration"],
        cfg["timelimit_local_branching_iteration"],
        cfg["timelimit_crossover_random_feasible"],
    )
    assert ours.big_m == cfg["big_m"]
    assert ours.default_budget == cfg["stop"]["max_runtime"]


def test_preset_contents_without_package() -> None:
    """The published values, checked even where the package is absent."""
    ij, d22 = PRESETS["ijcai25"], PRESETS["balans22"]
    assert len(ij.arms) == 16 and len(set(ij.arms)) == 16
    assert (ij.times.first_solution, ij.times.iteration, ij.times.local_branching) == (20, 60, 150)
    assert ij.bandit.policy == "thompson" and ij.bandit.scores == (1, 1, 0, 0)
    assert d22.bandit.tau == pytest.approx(1.359686) and d22.default_budget == 60
    assert (d22.times.first_solution, d22.times.local_branching, d22.times.crossover) == (10, 15, 6)
    assert ij.big_m == d22.big_m == 1000 and not d22.fix_continuous


# ---------------------------------------------------------------------------
# Bad input on each MIP solver: a clear error or a valid status, never a crash


@pytest.mark.parametrize("kind", ADAPTERS)
def test_infeasible_mip_each_solver(kind: str) -> None:
    lf = _mixed()
    lf.row_lb[0], lf.row_ub[0] = 4.0, np.inf  # three binaries summing to >= 4
    r = workbench.solve(lf, backend="balans", mip_solver=kind, time_limit=5, seed=0)
    assert r.termination is Termination.INFEASIBLE and r.objective is None


def test_integer_infeasible_but_lp_feasible() -> None:
    # the LP relaxation is feasible (x = 1.5), the MIP is not: the first solve proves it
    lf = LinearForm(c=np.array([1.0]), A=sp.csr_matrix([[2.0]]), row_lb=np.array([3.0]),
                    row_ub=np.array([3.0]), col_lb=np.array([0.0]), col_ub=np.array([5.0]),
                    integrality=np.array([True]), sense="min")  # fmt: skip
    for kind in ("highs", "scip"):
        if kind == "scip" and __import__("importlib.util").util.find_spec("pyscipopt") is None:
            continue
        r = workbench.solve(lf, backend="balans", mip_solver=kind, time_limit=5, seed=0)
        assert r.termination is Termination.INFEASIBLE, kind


@pytest.mark.parametrize("kind", ADAPTERS)
def test_lp_delegated_for_each_solver_setting(kind: str) -> None:
    lf = _mixed()
    lf.integrality[:] = False
    r = workbench.solve(lf, backend="balans", mip_solver=kind, time_limit=5)
    assert r.termination is Termination.OPTIMAL
    assert "no integer variables: delegated to plain HiGHS" in r.diagnostics.message
    assert r.objective == pytest.approx(workbench.solve(lf, backend="highs").objective)


@pytest.mark.parametrize("kind", ADAPTERS)
def test_time_limit_too_small_for_an_incumbent(kind: str) -> None:
    lf = knapsack(400, 30, tightness=0.3, seed=2)
    r = workbench.solve(lf, backend="balans", mip_solver=kind, time_limit=1e-4, seed=0)
    assert r.termination in {Termination.TIME_LIMIT, Termination.FEASIBLE, Termination.OPTIMAL}
    assert (r.objective is None) == (r.termination is Termination.TIME_LIMIT)
    assert r.termination is not Termination.ERROR


@pytest.mark.parametrize(
    "text", ["this is\nnot an MPS file\n", "NAME x\nROWS\n N obj\nCOLUMNS\n    x obj 1 nope 3\n"]
)
def test_malformed_mps_names_the_file(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "broken.mps"
    bad.write_text(text)
    with pytest.raises(ModelError, match="broken.mps"):
        workbench.solve(bad, backend="balans", time_limit=2)
    with pytest.raises(ModelError, match="no such file"):
        workbench.solve(tmp_path / "absent.mps", backend="balans", time_limit=2)
