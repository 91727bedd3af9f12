"""Capital budgeting scored as Neur2RO scores it: sample scenario approximation (SSA).

``cb_sampled_worst`` prunes scenarios with vectorised knapsack bounds and
solves few knapsacks exactly; these tests pin it to brute force (every
scenario, every packing), check the closed-form robust budget against the box
vertices, and the HiGHS fallback against the branch and bound.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import problems.robust.cb_ssa as cbm
from problems.robust import (
    CapitalBudgetingInstance,
    cb_robust_budget,
    cb_sampled_worst,
    cb_ssa_scenarios,
    generate_cb,
)


def _brute_worst(inst: CapitalBudgetingInstance, x: np.ndarray, xi: np.ndarray) -> float:
    """max over scenarios of Q(x, xi), every recourse packing enumerated (inf if x breaks B)."""
    vertices = np.array(list(itertools.product([-1.0, 1.0], repeat=inst.xi_dim)))
    cv = (1 + 0.5 * vertices @ inst.phi.T) * inst.cbar
    if (cv @ x > inst.budget + 1e-9).any():
        return float("inf")
    ys = np.array(list(itertools.product([0.0, 1.0], repeat=inst.n)))
    ys = ys[ys @ x == 0]  # y_i <= 1 - x_i
    c = (1 + 0.5 * xi @ inst.phi.T) * inst.cbar
    r = (1 + 0.5 * xi @ inst.psi.T) * inst.rbar
    fits = c @ ys.T <= (inst.budget - c @ x)[:, None] + 1e-12
    rec = np.where(fits, r @ ys.T, -np.inf).max(axis=1)
    return float((-(r @ x) - inst.k * rec).max())


def _cases() -> list[tuple[int, np.ndarray]]:
    """(seed, x): x = 0, random x (some break the budget), all projects (always breaks it)."""
    rng = np.random.default_rng(7)
    out = [(s, np.zeros(9)) for s in range(3)]
    out += [(s, (rng.random(9) < 0.35).astype(float)) for s in range(3, 12)]
    out.append((12, np.ones(9)))
    return out


@pytest.mark.parametrize(("seed", "x"), _cases())
def test_sampled_worst_equals_brute_force(seed: int, x: np.ndarray) -> None:
    inst = generate_cb(9, seed)
    xi = np.random.default_rng(100 + seed).uniform(-1, 1, (400, inst.xi_dim))
    got = cb_sampled_worst(inst, x, xi)
    want = _brute_worst(inst, x, xi)
    assert got.scenarios == 400
    if np.isinf(want):
        assert got.value == np.inf
        assert got.exact_solves == 0
        c_vertex = (1 + 0.5 * got.scenario @ inst.phi.T) * inst.cbar
        assert c_vertex @ x > inst.budget  # the returned vertex breaks the budget
    else:
        assert got.value == pytest.approx(want, rel=1e-9, abs=1e-9)
        assert got.exact_solves <= 400
        row = int(np.flatnonzero((xi == got.scenario).all(axis=1))[0])
        assert _brute_worst(inst, x, xi[row : row + 1]) == pytest.approx(want, abs=1e-9)


def test_cases_cover_feasible_and_infeasible() -> None:
    """The parametrised cases include both robustly feasible and infeasible x."""
    feas = [cb_robust_budget(generate_cb(9, s), x) <= generate_cb(9, s).budget for s, x in _cases()]
    assert any(feas)
    assert not all(feas)


def test_pruning_solves_few_knapsacks() -> None:
    inst = generate_cb(30, 3)
    xi = cb_ssa_scenarios(inst, 2000, seed=5)
    got = cb_sampled_worst(inst, np.zeros(30), xi)
    assert 0 < got.exact_solves < 200


def test_highs_fallback_agrees_with_branch_and_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    inst = generate_cb(14, 4)
    x = np.zeros(14)
    x[[0, 5]] = 1
    assert cb_robust_budget(inst, x) <= inst.budget
    xi = np.random.default_rng(3).uniform(-1, 1, (300, inst.xi_dim))
    bb = cb_sampled_worst(inst, x, xi)
    monkeypatch.setattr(cbm, "_BB_NODES", 0)  # every exact solve goes to HiGHS
    highs = cb_sampled_worst(inst, x, xi)
    assert highs.value == pytest.approx(bb.value, rel=1e-9, abs=1e-9)
    assert highs.exact_solves == bb.exact_solves > 0


@pytest.mark.parametrize("seed", range(5))
def test_robust_budget_is_the_vertex_maximum(seed: int) -> None:
    inst = generate_cb(12, seed)
    x = (np.random.default_rng(seed).random(12) < 0.5).astype(float)
    vertices = np.array(list(itertools.product([-1.0, 1.0], repeat=inst.xi_dim)))
    want = float((((1 + 0.5 * vertices @ inst.phi.T) * inst.cbar) @ x).max())
    assert cb_robust_budget(inst, x) == pytest.approx(want, rel=1e-12)
    assert cb_robust_budget(inst, np.zeros(12)) == 0.0


def test_ssa_sample_is_deterministic_and_the_papers() -> None:
    inst = generate_cb(5, 0)
    a = cb_ssa_scenarios(inst, 1000)
    assert a.shape == (1000, inst.xi_dim)
    assert np.array_equal(a, cb_ssa_scenarios(inst, 1000))
    assert np.abs(a).max() <= 1.0
    # the paper: np.random.seed(n) then np.random.uniform(-1, 1, (n, xi_dim))
    paper = np.random.RandomState(1000).uniform(-1, 1, (1000, inst.xi_dim))  # noqa: NPY002
    assert np.array_equal(a, paper)
    assert not np.array_equal(a, cb_ssa_scenarios(inst, 1000, seed=1))
    assert cb_ssa_scenarios(inst, 0).shape == (0, inst.xi_dim)


def test_bad_input_names_the_argument() -> None:
    inst = generate_cb(6, 0)
    xi = cb_ssa_scenarios(inst, 10)
    with pytest.raises(ValueError, match="x: expected 6"):
        cb_sampled_worst(inst, np.zeros(5), xi)
    with pytest.raises(ValueError, match="x: expected 0/1"):
        cb_robust_budget(inst, np.full(6, 0.5))
    with pytest.raises(ValueError, match=r"scenarios: expected shape \(m, 4\)"):
        cb_sampled_worst(inst, np.zeros(6), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="scenarios: expected shape"):
        cb_sampled_worst(inst, np.zeros(6), np.zeros((0, 4)))
    with pytest.raises(ValueError, match=r"scenarios: expected finite points of \[-1, 1\]"):
        cb_sampled_worst(inst, np.zeros(6), np.full((2, 4), 2.0))
    with pytest.raises(ValueError, match="n: expected a non-negative"):
        cb_ssa_scenarios(inst, -1)


def test_truncated_instance_text_names_the_missing_lines() -> None:
    from problems.robust.capital_budgeting import parse_cb
    from workbench.errors import ModelError

    with pytest.raises(ModelError, match=r"expected 13 non-empty lines .* got 2"):
        parse_cb("1 5 4 10 0\n1 2 3 4 5\n", "broken")
