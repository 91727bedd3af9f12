"""workbench.robust: structure checks, recourse, exact evaluation of a first stage."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from problems.conformance import load_conformance
from problems.robust import (
    KnapsackInstance,
    generate_cb,
    generate_knapsack,
    knapsack_model,
    parse_knapsack,
)
from workbench.errors import ModelError
from workbench.ir.io import model_from_dict
from workbench.ir.model import Model
from workbench.robust import evaluate_first_stage, recourse_value, robust_structure


def _lp_model() -> Model:
    model = next(p for p in load_conformance() if p.id == "robust_lp_small").model
    assert model is not None
    return model


def _bad(**robust: Any) -> Model:
    base = {
        "name": "bad",
        "variables": {"x": {"lb": 0, "ub": 1}, "y": {"lb": 0}, "xi": {"lb": 0}},
        "objective": {"sense": "min", "expr": "x + y"},
        "constraints": [{"name": "c", "expr": "x + y >= xi"}],
        "robust": {
            "first_stage": ["x"],
            "second_stage": ["y"],
            "uncertain": ["xi"],
            "uncertainty_set": {"constraints": []},
            **robust,
        },
    }
    return model_from_dict(base)


def test_unbounded_uncertainty_set_is_a_model_error() -> None:
    with pytest.raises(ModelError, match=r"unbounded: 'xi' can go to \+infinity.*ub"):
        robust_structure(_bad())


def test_unknown_variable_in_robust_section() -> None:
    with pytest.raises(ModelError, match="robust.uncertain"):
        robust_structure(_bad(uncertain=["zeta"]))


def test_decision_variable_in_uncertainty_set_is_rejected() -> None:
    m = _bad(uncertainty_set={"constraints": [{"name": "u", "expr": "xi <= x + 1"}]})
    with pytest.raises(ModelError, match="uses a decision variable"):
        robust_structure(m)


def test_kkt_evaluation_matches_hand_values() -> None:
    m = _lp_model()
    for x, want in [(6, 12.0), (7, 10.0), (8, 11.0)]:
        ev = evaluate_first_stage(m, {"x": x})
        assert ev.method == "kkt" and ev.exact
        assert ev.objective == pytest.approx(want, abs=1e-6)
    assert recourse_value(m, {"x": 7}, {"xi": {1: 0.5, 2: 1.0}}) == pytest.approx(10.0)


def _brute_knapsack(inst: KnapsackInstance, x: np.ndarray) -> float:
    """max over the vertices-and-grid of U of min over (y, r): exact for n=4, Gamma=1."""
    n = inst.n
    best_worst = -math.inf
    # min over a finite recourse set of affine functions of xi: solve max_xi min_k as an LP
    from scipy.optimize import linprog

    sols = []
    for y in itertools.product([0, 1], repeat=n):
        for r in itertools.product([0, 1], repeat=n):
            y_, r_ = np.array(y), np.array(r)
            if (y_ <= x).all() and (r_ <= y_).all() and inst.c @ y_ + inst.t @ r_ <= inst.capacity:
                sols.append((y_, r_))
    # variables (xi, t): max t, t <= sum((phat xi - f) y - phat xi r)
    a_ub, b_ub = [], []
    for y_, r_ in sols:
        g = inst.phat * (y_ - r_)
        a_ub.append([*(-g), 1.0])
        b_ub.append(float(-(inst.f @ y_)))
    a_ub.append([1.0] * n + [0.0])
    b_ub.append(inst.gamma)
    res = linprog([0.0] * n + [-1.0], A_ub=a_ub, b_ub=b_ub, bounds=[(0, 1)] * n + [(None, None)])
    best_worst = -res.fun
    return float((inst.f - inst.pbar) @ x + best_worst)


def test_enumeration_is_exact_on_a_tiny_knapsack() -> None:
    text = "4 10 1\n10 5 2 4 12\n8 4 2 3 9\n6 3 1 3 7\n7 6 2 4 9\n"
    inst = parse_knapsack(text, "tiny")
    m = knapsack_model(inst)
    rs = robust_structure(m)
    for x in ([1, 1, 1, 1], [1, 0, 1, 1], [0, 1, 1, 0]):
        ev = evaluate_first_stage(rs, np.array(x, dtype=float))
        assert ev.method == "enumeration" and ev.exact
        assert ev.objective == pytest.approx(_brute_knapsack(inst, np.array(x)), abs=1e-6)


def test_sampling_is_labelled_a_lower_bound() -> None:
    inst = generate_knapsack(6, "UN", seed=1)
    rs = robust_structure(knapsack_model(inst))
    x = np.ones(6)
    exact = evaluate_first_stage(rs, x)
    low = evaluate_first_stage(rs, x, method="sampling", samples=8, seed=3)
    assert not low.exact and "lower bound" in low.message
    assert low.objective <= exact.objective + 1e-6


def test_generators_are_reproducible() -> None:
    a, b = generate_knapsack(10, "SC", seed=4), generate_knapsack(10, "SC", seed=4)
    assert np.array_equal(a.pbar, b.pbar) and a.gamma == pytest.approx(1.0)
    c, d = generate_cb(5, seed=2), generate_cb(5, seed=2)
    assert np.array_equal(c.phi, d.phi) and np.allclose(c.rbar, c.cbar / 5)
    assert not np.array_equal(generate_cb(5, seed=3).cbar, c.cbar)


def test_capital_budgeting_budget_uncertainty_makes_x_infeasible() -> None:
    from problems.robust import cb_model

    inst = generate_cb(4, seed=0)
    ev = evaluate_first_stage(cb_model(inst), np.ones(4))  # invests in everything: over budget
    assert not ev.feasible and ev.objective == math.inf
    ok = evaluate_first_stage(cb_model(inst), np.zeros(4))
    assert ok.feasible and ok.exact and ok.objective <= 0


def test_loose_recourse_solves_keep_the_enumeration_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """A very loose recourse gap changes the path, never the certified worst case."""
    import workbench.robust.enumeration as enumeration

    gaps: list[float | None] = []
    from workbench.robust.recourse import solve_recourse_bounded as solve

    def spy(*a: Any) -> Any:
        gaps.append(a[3])
        return solve(*a)

    monkeypatch.setattr(enumeration, "LOOSE_GAP", 0.3)
    monkeypatch.setattr(enumeration, "solve_recourse_bounded", spy)
    for corr, seed in (("UN", 1), ("SC", 2), ("WC", 3)):
        inst = generate_knapsack(6, corr, seed=seed)
        rs = robust_structure(knapsack_model(inst))
        x = (np.random.default_rng(seed).random(6) < 0.7).astype(float)
        ev = evaluate_first_stage(rs, x)
        assert ev.exact and ev.lower_bound <= ev.upper_bound + 1e-9
        assert ev.objective == pytest.approx(_brute_knapsack(inst, x), rel=1e-6, abs=1e-6)
    assert max(g for g in gaps if g is not None) == pytest.approx(0.3)


def test_solve_milp_reports_a_proven_bound() -> None:
    import scipy.sparse as sp

    from workbench.robust import solve_milp

    # min -x1 - 2 x2 + 5, 3 x1 + 4 x2 <= 6.5, 0 <= x <= 3: MILP optimum 3, LP optimum 1.75
    args = (np.array([-1.0, -2.0]), sp.csr_matrix([[3.0, 4.0]]), np.array([-np.inf]),
            np.array([6.5]), np.zeros(2), np.full(2, 3.0))  # fmt: skip
    mip = solve_milp(*args, np.array([True, True]), offset=5.0, mip_rel_gap=1e-9)
    assert mip.status == "optimal" and mip.objective == pytest.approx(3.0)
    assert mip.bound == pytest.approx(3.0)
    lp = solve_milp(*args, np.array([False, False]), offset=5.0)
    assert lp.objective == pytest.approx(1.75) and lp.bound == pytest.approx(1.75)


def test_enumeration_reports_the_conservative_side_within_tol() -> None:
    inst = generate_knapsack(8, "WC", seed=5)
    rs = robust_structure(knapsack_model(inst))
    x = np.ones(8)
    exact = evaluate_first_stage(rs, x)
    loose = evaluate_first_stage(rs, x, tol=1e-2)
    assert exact.exact and loose.exact and loose.iterations <= exact.iterations
    for ev, tol in ((exact, 1e-6), (loose, 1e-2)):
        assert ev.upper_bound - ev.lower_bound <= tol * max(1.0, abs(ev.upper_bound)) + 1e-9
        # the internal (minimised) upper bound, in the model's sense, is the reported value
        assert ev.objective == pytest.approx(rs.sign * ev.upper_bound)
        assert rs.sign * ev.objective >= rs.sign * exact.objective - 1e-6 * abs(exact.objective)


def test_loose_solves_stop_once_a_cut_needs_infeasibility_indicators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Capital budgeting (an uncertain budget row): after the first cut with indicator
    rows every recourse solve is at tol, and the worst case equals the tight one."""
    import workbench.robust.enumeration as enumeration
    from problems.robust import cb_model

    gaps: list[float] = []
    from workbench.robust.recourse import solve_recourse_bounded as solve

    def spy(*a: Any) -> Any:
        gaps.append(a[3])
        return solve(*a)

    monkeypatch.setattr(enumeration, "solve_recourse_bounded", spy)
    for seed, x in ((0, np.zeros(6)), (2, (np.arange(6) < 2).astype(float))):
        rs = robust_structure(cb_model(generate_cb(6, seed=seed)))
        monkeypatch.setattr(enumeration, "LOOSE_GAP", 0.0)
        tight = evaluate_first_stage(rs, x, tol=1e-6)
        gaps.clear()
        monkeypatch.setattr(enumeration, "LOOSE_GAP", 0.3)
        loose = evaluate_first_stage(rs, x, tol=1e-6)
        assert tight.exact and loose.exact and loose.feasible
        assert loose.objective == pytest.approx(tight.objective, rel=1e-5)
        assert gaps[0] == pytest.approx(0.3) and len(gaps) > 2
        assert all(g == pytest.approx(1e-6) for g in gaps[1:])


def test_cutoff_stops_once_the_first_stage_is_proven_no_better() -> None:
    """With a cut-off just better than the true worst case the evaluation stops early
    with a proof (its lower bound); with one that is worse, it runs to the exact value."""
    inst = generate_knapsack(10, "UN", seed=7)
    rs = robust_structure(knapsack_model(inst))
    x = (np.random.default_rng(7).random(10) < 0.6).astype(float)
    full = evaluate_first_stage(rs, x)
    assert full.exact and not full.cut_off
    v = full.objective  # negative profit, minimised: smaller is better
    cutoff = v - 0.5 * abs(v)
    cut = evaluate_first_stage(rs, x, cutoff=cutoff)
    assert cut.cut_off and not cut.exact and cut.iterations < full.iterations
    # the proof: the lower bound reaches the cut-off and never passes the true value
    assert cutoff <= cut.lower_bound <= full.upper_bound + 1e-9
    assert cut.xi.size == rs.n  # the worst scenario found so far (a valid master cut)
    # just below the true value: either proven no better early, or exact (bounds met first)
    near = evaluate_first_stage(rs, x, cutoff=v - 1e-3 * abs(v))
    assert near.cut_off != near.exact and near.lower_bound >= v - 1e-3 * abs(v)
    far = evaluate_first_stage(rs, x, cutoff=v + 0.5 * abs(v))
    assert far.exact and not far.cut_off and far.objective == pytest.approx(v)


def test_cutoff_is_in_the_model_sense_when_maximising() -> None:
    inst = generate_knapsack(8, "WC", seed=3)
    d = knapsack_model(inst).model_dump(by_alias=True, exclude_none=True)
    d["objective"] = {"sense": "max", "expr": f"-({d['objective']['expr']})"}
    rs = robust_structure(model_from_dict(d))
    x = np.ones(8)
    full = evaluate_first_stage(rs, x)  # the worst (smallest) profit
    assert full.exact and full.objective > 0
    assert evaluate_first_stage(rs, x, cutoff=full.objective * 1.01).cut_off
    assert not evaluate_first_stage(rs, x, cutoff=full.objective * 0.99).cut_off
    for bad in (math.nan, "10", True):
        with pytest.raises(ValueError, match="cutoff must be a number"):
            evaluate_first_stage(rs, x, cutoff=bad)  # type: ignore[arg-type]
