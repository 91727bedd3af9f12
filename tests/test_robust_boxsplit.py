"""workbench.robust.boxsplit: spatial branch and bound over a box uncertainty set."""

from __future__ import annotations

import math

import numpy as np
import pytest

from problems.robust import (
    cb_model,
    cb_robust_budget,
    cb_sampled_worst,
    cb_ssa_scenarios,
    generate_cb,
    generate_knapsack,
    knapsack_model,
)
from workbench.errors import UnsupportedProblemError
from workbench.ir.io import model_from_dict
from workbench.robust import evaluate_first_stage, robust_structure
from workbench.robust.evaluate import METHODS


def _greedy_x(inst: object) -> np.ndarray:
    """Projects by rbar/cbar while the robust budget use stays within half the budget."""
    x = np.zeros(inst.n)  # type: ignore[attr-defined]
    for i in np.argsort(-inst.rbar / inst.cbar):  # type: ignore[attr-defined]
        x[i] = 1.0
        if cb_robust_budget(inst, x) > inst.budget / 2:  # type: ignore[arg-type, attr-defined]
            x[i] = 0.0
    return x


def test_boxsplit_is_a_method() -> None:
    assert "boxsplit" in METHODS


@pytest.mark.parametrize("seed", [0, 1])
def test_boxsplit_meets_enumeration_on_a_small_capital_budget(seed: int) -> None:
    inst = generate_cb(4, seed, xi_dim=2)
    rs = robust_structure(cb_model(inst))
    x = _greedy_x(inst)
    tol = 1e-2
    en = evaluate_first_stage(rs, x, method="enumeration")
    bs = evaluate_first_stage(rs, x, method="boxsplit", tol=tol, time_limit=10)
    assert en.exact and bs.method == "boxsplit" and bs.feasible
    assert bs.lower_bound <= en.upper_bound + 1e-6 and bs.upper_bound >= en.lower_bound - 1e-6
    assert bs.exact, bs.message
    assert bs.objective == pytest.approx(en.objective, abs=tol * max(1.0, abs(en.objective)))
    assert bs.upper_bound - bs.lower_bound <= tol * max(1.0, abs(bs.upper_bound)) + 1e-9


@pytest.mark.parametrize(("n", "seed"), [(5, 0), (6, 3), (8, 2)])
def test_boxsplit_bounds_bracket_the_sampled_worst_case(n: int, seed: int) -> None:
    inst = generate_cb(n, seed)
    rs = robust_structure(cb_model(inst))
    x = _greedy_x(inst)
    sampled = cb_sampled_worst(inst, x, cb_ssa_scenarios(inst, 2000, seed=0)).value
    for kw in ({"time_limit": 1.0}, {"max_iterations": 5}):
        ev = evaluate_first_stage(rs, x, method="boxsplit", tol=1e-6, **kw)  # type: ignore[arg-type]
        assert ev.feasible and not ev.exact
        assert ev.lower_bound <= ev.upper_bound
        assert ev.upper_bound >= sampled - 1e-6 * max(1.0, abs(sampled))
        assert ev.objective == pytest.approx(rs.sign * ev.upper_bound)
        assert ev.xi.size == rs.n and ev.recourse_values


def test_boxsplit_reports_an_infeasible_first_stage() -> None:
    inst = generate_cb(4, seed=0)
    ev = evaluate_first_stage(cb_model(inst), np.ones(4), method="boxsplit")
    assert not ev.feasible and ev.objective == math.inf and ev.method == "boxsplit"


def test_boxsplit_rejects_a_set_that_is_not_a_box() -> None:
    rs = robust_structure(knapsack_model(generate_knapsack(6, "UN", seed=1)))
    with pytest.raises(UnsupportedProblemError, match=r"method='boxsplit' needs a box"):
        evaluate_first_stage(rs, np.ones(6), method="boxsplit")


def test_boxsplit_cutoff_stops_with_a_proof() -> None:
    inst = generate_cb(5, seed=0)
    rs = robust_structure(cb_model(inst))
    x = _greedy_x(inst)
    en = evaluate_first_stage(rs, x, method="enumeration")
    cutoff = en.objective - 0.5 * abs(en.objective)  # better than the true worst case
    ev = evaluate_first_stage(rs, x, method="boxsplit", cutoff=cutoff, time_limit=10)
    assert ev.cut_off and not ev.exact
    assert cutoff <= ev.lower_bound <= en.upper_bound + 1e-6


def _continuous_model() -> object:
    return model_from_dict(
        {
            "name": "box_lp",
            "variables": {
                "x": {"lb": 0, "ub": 10},
                "y1": {"lb": 0, "ub": 10},
                "y2": {"lb": 0, "ub": 10},
                "xi": {"index": ["F"], "lb": 0, "ub": 1},
            },
            "sets": {"F": {"range": [1, 2]}},
            "objective": {"sense": "min", "expr": "x + 2 * y1 + 3 * y2"},
            "constraints": [
                {"name": "need", "expr": "x + y1 + y2 >= 2 + xi[1] + xi[2]"},
                {"name": "cap", "expr": "y1 <= 1 + xi[1]"},
            ],
            "robust": {
                "first_stage": ["x"],
                "second_stage": ["y1", "y2"],
                "uncertain": ["xi"],
                "uncertainty_set": {"constraints": []},
            },
        }
    )


@pytest.mark.parametrize("x", [0.0, 1.0, 2.5])
def test_boxsplit_equals_kkt_on_a_continuous_recourse(x: float) -> None:
    rs = robust_structure(_continuous_model())  # type: ignore[arg-type]
    kkt = evaluate_first_stage(rs, {"x": x}, method="kkt")
    bs = evaluate_first_stage(rs, {"x": x}, method="boxsplit", tol=1e-5, time_limit=10)
    assert kkt.exact and bs.exact
    assert bs.objective == pytest.approx(kkt.objective, rel=1e-4, abs=1e-4)
