"""The ``balans`` backend: operators, settings, determinism, bad input, conformance extras."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import workbench
from workbench.backends.base import Capability
from workbench.compile.linear_form import LinearForm
from workbench.errors import ModelError, OptionsError
from workbench.result import Termination

pytest.importorskip("alns")
pytest.importorskip("mabwiser")
highspy = pytest.importorskip("highspy")

from solvers.balans import BalansBackend  # noqa: E402
from solvers.balans.engine import usable_operators  # noqa: E402
from solvers.balans.generators import (  # noqa: E402
    combinatorial_auction,
    independent_set,
    knapsack,
    set_cover,
)
from solvers.balans.highs_adapter import HIGHS_SUB_STATUS  # noqa: E402
from solvers.balans.operators import (  # noqa: E402
    Crossover,
    Dins,
    LocalBranching,
    Mutation,
    Proximity,
    RandomObjective,
    Rens,
    Rins,
    SearchContext,
    make_operator,
)
from solvers.balans.settings import PRESETS, Bandit, settings_from_options  # noqa: E402

FAST = {"first_solution_limit": 1, "time_iteration": 1.0, "time_local_branching": 1.0}


def _form(c, A, row_lb, row_ub, lb, ub, integ, sense="min") -> LinearForm:
    n = len(c)
    return LinearForm(
        c=np.asarray(c, float),
        A=sp.csr_matrix(np.asarray(A, float).reshape(-1, n)),
        row_lb=np.asarray(row_lb, float),
        row_ub=np.asarray(row_ub, float),
        col_lb=np.asarray(lb, float),
        col_ub=np.asarray(ub, float),
        integrality=np.asarray(integ, bool),
        sense=sense,
    )


def _highs(lf: LinearForm, **opts) -> tuple[float | None, float | None]:
    """(optimum, first incumbent) from plain HiGHS."""
    full = workbench.solve(lf, backend="highs", threads=1, seed=0)
    first = workbench.solve(lf, backend="highs", threads=1, seed=0, mip_max_improving_sols=1)
    return full.objective, first.objective


# ---------------------------------------------------------------------------
# The backend on generated instances


@pytest.mark.parametrize(
    "make",
    [
        lambda: set_cover(120, 240, 0.04, seed=5),
        lambda: independent_set(80, 0.1, seed=5),
        lambda: combinatorial_auction(25, 80, seed=5),
        lambda: knapsack(40, 3, seed=5),
    ],
    ids=["set_cover", "independent_set", "auction", "knapsack"],
)
def test_generated_reaches_optimum(make) -> None:
    lf = make()
    opt, first = _highs(lf)
    # A fixed number of ALNS iterations, then an exact solve from the incumbent: the outcome
    # does not depend on how loaded the machine is (a pure time budget made this flaky).
    r = workbench.solve(lf, backend="balans", time_limit=120, seed=1, threads=1,
                        max_iterations=6, final_solve=True, **FAST)  # fmt: skip
    assert r.termination in {Termination.FEASIBLE, Termination.OPTIMAL}
    better = (lambda a, b: a <= b + 1e-6) if lf.sense == "min" else (lambda a, b: a >= b - 1e-6)
    assert better(r.objective, first)
    assert r.objective == pytest.approx(opt, abs=1e-6)
    # history: (time, incumbent, bound), times non-decreasing, final point = result
    assert r.history and r.history[-1][1] == pytest.approx(r.objective)
    assert all(a[0] <= b[0] for a, b in zip(r.history, r.history[1:]))
    if r.iterations:  # the first solve may already prove optimality
        assert sum(BalansBackend.describe(r).values()) == r.iterations


def test_same_seed_same_run() -> None:
    lf = independent_set(80, 0.1, seed=5)
    # sub-MIP limits that never bind: a run is then a function of its seed alone
    kw = dict(time_limit=120, threads=1, max_iterations=12,
              **{**FAST, "time_iteration": 60.0, "time_local_branching": 60.0})  # fmt: skip
    a = workbench.solve(lf, backend="balans", seed=7, **kw)
    b = workbench.solve(lf, backend="balans", seed=7, **kw)
    assert a.diagnostics.message == b.diagnostics.message
    assert a.objective == b.objective
    assert [h[1:] for h in a.history] == [h[1:] for h in b.history]
    # 12 iterations, unless a neighbourhood grown to the whole MIP proved optimality first
    assert a.iterations == b.iterations
    assert a.iterations == 12 or (a.iterations < 12 and a.termination is Termination.OPTIMAL)


def test_ijcai_preset_runs() -> None:
    lf = knapsack(20, 2, seed=2)
    r = workbench.solve(
        lf, backend="balans", preset="ijcai25", time_limit=3, seed=0, max_iterations=10, **FAST
    )
    assert r.termination in {Termination.FEASIBLE, Termination.OPTIMAL}
    arms = BalansBackend.describe(r)
    assert set(arms) == set(PRESETS["ijcai25"].arms) and len(arms) == 16


def test_scip_variant() -> None:
    pytest.importorskip("pyscipopt")
    lf = knapsack(15, 2, seed=4)
    opt, _ = _highs(lf)
    r = workbench.solve(
        lf, backend="balans", mip_solver="scip", time_limit=5, seed=0, max_iterations=8, **FAST
    )
    assert r.ok and r.objective <= opt + 1e-6
    assert "Balans on scip" in r.diagnostics.message


# ---------------------------------------------------------------------------
# Operators: each destroy step changes only what it should


@pytest.fixture
def ctx() -> SearchContext:
    # columns: 0-3 binary, 4-5 general integer in [0, 10], 6 continuous
    lf = _form(
        c=[1, 2, 3, 4, 1, 1, 0.5],
        A=[[1, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1]],
        row_lb=[1, 2],
        row_ub=[np.inf, np.inf],
        lb=[0] * 7,
        ub=[1, 1, 1, 1, 10, 10, np.inf],
        integ=[1, 1, 1, 1, 1, 1, 0],
    )
    x_lp = np.array([0.5, 0.5, 0, 0, 1.4, 0.6, 0])
    return SearchContext(lf=lf, x_lp=x_lp)


X = np.array([1.0, 0.0, 0.0, 1.0, 3.0, 0.0, 0.0])


def test_context_sets(ctx: SearchContext) -> None:
    assert ctx.binary.tolist() == [0, 1, 2, 3]
    assert ctx.general.tolist() == [4, 5]
    assert ctx.discrete.tolist() == [0, 1, 2, 3, 4, 5]


def test_mutation(ctx: SearchContext) -> None:
    nb = Mutation(0.5).destroy(X, 5.0, np.random.default_rng(0), ctx)
    free = np.setdiff1d(ctx.discrete, nb.fix_cols)
    assert free.size == 3 and 6 not in nb.fix_cols  # continuous never fixed
    assert np.array_equal(nb.fix_values, X[nb.fix_cols])
    assert not nb.rows and nb.objective is None and nb.start_ok


def test_rins_samples_without_replacement(ctx: SearchContext) -> None:
    # incumbent differs from the LP on 0, 1, 3, 4, 5; agrees on 2
    for seed in range(20):
        nb = Rins(1.0).destroy(X, 5.0, np.random.default_rng(seed), ctx)
        assert nb.fix_cols.tolist() == [2]  # all five differing columns freed: distinct draws


def test_rens(ctx: SearchContext) -> None:
    nb = Rens(1.0).destroy(X, 5.0, np.random.default_rng(0), ctx)
    assert nb.bound_cols.tolist() == [0, 1, 4, 5]  # LP-fractional
    assert nb.bound_lb.tolist() == [0, 0, 1, 0] and nb.bound_ub.tolist() == [1, 1, 2, 1]
    assert nb.fix_cols.tolist() == [2, 3] and not nb.start_ok


def test_dins(ctx: SearchContext) -> None:
    nb = Dins().destroy(X, 5.0, np.random.default_rng(0), ctx)
    assert nb.bound_cols.tolist() == [4, 5]  # |3 - 1.4| >= 0.5 and |0 - 0.6| >= 0.5
    assert nb.bound_lb.tolist() == [0, 0] and nb.bound_ub.tolist() == [3, 1]
    assert nb.fix_cols.tolist() == [0, 1, 2, 3]
    assert Dins.requires == "general"


def test_dins_window() -> None:
    lf = _form([1, 1], [[1, 1]], [0], [20], [0, 0], [10, 10], [1, 1])
    c = SearchContext(lf=lf, x_lp=np.array([2.0, 5.2]))
    nb = Dins().destroy(np.array([6.0, 5.0]), 0.0, np.random.default_rng(0), c)
    assert nb.bound_cols.tolist() == [0]
    assert (nb.bound_lb[0], nb.bound_ub[0]) == (0.0, 6.0)  # |x - 2| <= 4
    assert nb.fix_cols.tolist() == [1]


def test_local_branching(ctx: SearchContext) -> None:
    nb = LocalBranching(1.0).destroy(X, 5.0, np.random.default_rng(0), ctx)
    (row,) = nb.rows
    assert row.cols.tolist() == [0, 1, 2, 3]
    assert row.coefs.tolist() == [-1, 1, 1, -1]  # flips: 1 - x for ones, x for zeros
    assert 0 <= row.ub + 2 <= 4 and nb.long and not nb.fix_cols.size


def test_proximity(ctx: SearchContext) -> None:
    nb = Proximity(0.1).destroy(X, 10.0, np.random.default_rng(0), ctx)
    assert nb.objective.tolist() == [-1, 1, 1, -1, 0, 0, 0]
    (row,) = nb.rows
    assert row.ub == pytest.approx(9.0) and not nb.start_ok


def test_random_objective_uses_given_rng(ctx: SearchContext) -> None:
    a = RandomObjective().destroy(X, 1.0, np.random.default_rng(3), ctx).objective
    b = RandomObjective().destroy(X, 1.0, np.random.default_rng(3), ctx).objective
    assert np.array_equal(a, b) and np.linalg.norm(a) == pytest.approx(1.0)


def test_crossover_with_adapter() -> None:
    from solvers.balans.highs_adapter import HighsAdapter

    lf = knapsack(10, 1, seed=0)
    from solvers.balans.adapter import to_minimisation

    lfm = to_minimisation(lf)
    ad = HighsAdapter(lfm, seed=0)
    lp = ad.lp_relaxation()
    c = SearchContext(lf=lfm, x_lp=lp.x, adapter=ad, crossover_time=2.0)
    nb = Crossover().destroy(np.zeros(10), 0.0, np.random.default_rng(0), c)
    assert nb.skip or np.all(np.round(ad.solve(1.0).x) >= 0)  # adapter undone, still solvable
    assert ad.solve(5.0).objective == pytest.approx(lp.objective, abs=1e9)


def test_operator_dropping() -> None:
    no_bin = _form([1, 1], [[1, 1]], [3], [np.inf], [0, 0], [5, 5], [1, 1])
    arms = PRESETS["ijcai25"].arms + ("dins",)
    keep, dropped = usable_operators(arms, SearchContext(lf=no_bin, x_lp=np.array([3.0, 0])))
    assert {o.name for o in keep} >= {"mutation_25", "rins_25", "rens_25", "crossover", "dins"}
    assert all(n.startswith(("local_branching", "proximity")) for n in dropped)
    assert len(dropped) == 6
    pure_bin = knapsack(5, 1, seed=0)
    _, dropped = usable_operators(("dins", "mutation_50"), SearchContext(pure_bin, np.zeros(5)))
    assert dropped == ["dins"]
    r = workbench.solve(no_bin, backend="balans", time_limit=2, seed=0, preset="ijcai25")
    assert r.termination is Termination.OPTIMAL and r.objective == pytest.approx(3.0)


@pytest.mark.parametrize(
    "name", ["mutation_25", "rins_75", "local_branching_10", "proximity_0.015"]
)
def test_arm_names_round_trip(name: str) -> None:
    assert make_operator(name).name == name


# ---------------------------------------------------------------------------
# Settings and options


def test_bad_options() -> None:
    lf = knapsack(5, 1, seed=0)
    with pytest.raises(OptionsError, match="unknown balans option 'presett'"):
        workbench.solve(lf, backend="balans", presett="ijcai25")
    with pytest.raises(OptionsError, match="unknown Balans arm 'mutation'"):
        settings_from_options({"arms": ["mutation"]})
    with pytest.raises(OptionsError, match="delta must be in"):
        make_operator("rins_150")
    with pytest.raises(OptionsError, match="0/1 scores"):
        Bandit("thompson", (8, 4, 2, 1))
    with pytest.raises(OptionsError, match="sa_end"):
        settings_from_options({"accept": "simulated_annealing", "sa_start": 1, "sa_end": 5})


def test_presets_match_the_published_settings() -> None:
    ij, d22 = PRESETS["ijcai25"], PRESETS["balans22"]
    assert len(ij.arms) == 16 and ij.bandit.policy == "thompson"
    assert ij.bandit.scores == (1, 1, 0, 0) and ij.acceptance.kind == "simulated_annealing"
    assert (ij.acceptance.start, ij.acceptance.end, ij.acceptance.step) == (20, 1, 0.1)
    assert len(d22.arms) == 10 and d22.bandit.policy == "softmax"
    assert d22.bandit.tau == pytest.approx(1.36, abs=0.01) and d22.bandit.scores == (8, 4, 2, 1)
    assert d22.acceptance.kind == "hill_climbing" and d22.times.iteration == 12


def test_highs_status_table_is_complete() -> None:
    assert set(highspy.HighsModelStatus.__members__) == set(HIGHS_SUB_STATUS)


def test_scip_status_table() -> None:
    from solvers.balans.scip_adapter import SCIP_SUB_STATUS

    assert {"optimal", "infeasible", "timelimit", "bestsollimit", "inforunbd"} <= set(
        SCIP_SUB_STATUS
    )


def test_registered() -> None:
    from workbench.backends.registry import get_backend

    be = get_backend("balans")
    assert be.rank > 10 and be.capabilities == {Capability.MILP, Capability.PURE_INTEGER}
    assert be.available()
    from workbench.classification import classify_linear_form
    from workbench.solving import choose_backend

    assert choose_backend(classify_linear_form(knapsack(3, 1)), matrix=True) == "highs"


# ---------------------------------------------------------------------------
# Bad input


def test_infeasible_mip() -> None:
    lf = _form([1, 1], [[2, 2]], [3], [3], [0, 0], [5, 5], [1, 1])  # 2x + 2y = 3
    r = workbench.solve(lf, backend="balans", time_limit=5, seed=0)
    assert r.termination is Termination.INFEASIBLE and r.objective is None


def test_lp_is_delegated() -> None:
    lf = _form([-1, -1], [[1, 2]], [-np.inf], [4], [0, 0], [3, 3], [0, 0])
    r = workbench.solve(lf, backend="balans", time_limit=5)
    assert r.termination is Termination.OPTIMAL and r.objective == pytest.approx(-3.5)
    assert "delegated to plain HiGHS" in r.diagnostics.message and r.backend == "balans"


def test_tiny_time_limit() -> None:
    lf = set_cover(150, 300, seed=1)
    r = workbench.solve(lf, backend="balans", time_limit=1e-3, seed=0)
    # OPTIMAL is possible too: a first point that meets the LP bound is proven
    assert r.termination in {Termination.TIME_LIMIT, Termination.FEASIBLE, Termination.OPTIMAL}
    assert (r.objective is None) == (r.termination is Termination.TIME_LIMIT)
    if r.objective is not None:
        assert math.isfinite(r.objective)


def test_malformed_mps(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mps"
    bad.write_text("this is\nnot an MPS file\n")
    with pytest.raises(ModelError):
        workbench.solve(bad, backend="balans")


def test_mps_file_path() -> None:
    from problems.conformance import CONFORMANCE_DIR

    r = workbench.solve(CONFORMANCE_DIR / "small.mps", backend="balans", time_limit=5, seed=0)
    assert r.termination is Termination.OPTIMAL
