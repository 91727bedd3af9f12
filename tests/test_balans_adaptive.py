"""Balans on HiGHS (issue 6): adaptive neighbourhood size, per-solver default preset, trace."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from workbench.errors import OptionsError

pytest.importorskip("alns")
pytest.importorskip("mabwiser")
pytest.importorskip("highspy")

from solvers.balans.engine import run_balans  # noqa: E402
from solvers.balans.generators import knapsack, set_cover  # noqa: E402
from solvers.balans.operators import (  # noqa: E402
    LocalBranching,
    Mutation,
    SearchContext,
    make_operator,
)
from solvers.balans.settings import DEFAULT_PRESET, PRESETS, settings_from_options  # noqa: E402

RESIZABLE = ("mutation_50", "rins_40", "rens_40", "local_branching_10", "dins")


def _ctx() -> SearchContext:
    lf = set_cover(n_rows=30, n_cols=40, density=0.2, seed=3)
    return SearchContext(lf=lf, x_lp=np.full(lf.num_cols, 0.5))


def test_size_factor_grows_shrinks_and_stays_in_range() -> None:
    ctx = _ctx()
    assert ctx.effective("mutation_25", 0.25) == 0.25  # no factor yet: the arm's own delta
    assert ctx.adapt("mutation_25", 1.5, base=0.25) == pytest.approx(0.375)
    for _ in range(10):
        ctx.adapt("mutation_25", 1.5, base=0.25)
    assert ctx.effective("mutation_25", 0.25) == 1.0 and ctx.size_factor["mutation_25"] == 4.0
    # one shrink step from the cap leaves the cap (the factor was clamped, not accumulated)
    assert ctx.adapt("mutation_25", 1 / 1.5, base=0.25) == pytest.approx(1 / 1.5)
    for _ in range(30):
        ctx.adapt("mutation_25", 1 / 1.5, base=0.25)
    assert ctx.effective("mutation_25", 0.25) == pytest.approx(0.01)
    assert ctx.effective("other_arm", 0.4) == 0.4  # factors are per arm


def test_operators_use_the_size_factor() -> None:
    ctx = _ctx()
    x = np.ones(ctx.lf.num_cols)
    op = Mutation(0.25)
    base = op.destroy(x, 0.0, np.random.default_rng(0), ctx)  # type: ignore[no-untyped-call]
    ctx.size_factor[op.name] = 2.0
    grown = op.destroy(x, 0.0, np.random.default_rng(0), ctx)  # type: ignore[no-untyped-call]
    n = ctx.discrete.size
    assert n - base.fix_cols.size == int(0.25 * n)
    assert n - grown.fix_cols.size == int(0.5 * n)


def test_local_branching_with_a_tiny_factor_stays_valid() -> None:
    ctx = _ctx()
    op = LocalBranching(0.1)
    ctx.size_factor[op.name] = 0.01 / 0.1  # effective 1 %: below the 5 % lower end of k
    x = np.ones(ctx.lf.num_cols)
    nb = op.destroy(x, 0.0, np.random.default_rng(1), ctx)  # type: ignore[no-untyped-call]
    (row,) = nb.rows
    k = row.ub + ctx.binary.size  # all ones: ub = k - |B|
    assert 0 <= k <= max(0, int(0.01 * ctx.binary.size))


@pytest.mark.parametrize("name", RESIZABLE)
def test_resizable_flags(name: str) -> None:
    assert make_operator(name).resizable
    assert (
        not make_operator("crossover").resizable and not make_operator("proximity_0.005").resizable
    )


def test_default_preset_depends_on_the_solver() -> None:
    assert DEFAULT_PRESET == {"highs": "balans22_highs", "scip": "balans22_scip"}
    on_highs, on_scip = settings_from_options({}), settings_from_options({"mip_solver": "scip"})
    assert on_highs == PRESETS["balans22_highs"]
    assert on_highs.first_solution_limit is None and on_highs.first_stall == 0.125
    assert on_highs.adaptive_size and on_highs.times.first_solution == 60.0
    assert on_highs.first_emphasis == "feasibility"
    assert on_scip == PRESETS["balans22_scip"]
    # the faithful package configuration stays one preset away
    faithful = settings_from_options({"mip_solver": "scip", "preset": "balans22"})
    assert faithful == dataclasses.replace(PRESETS["balans22"], mip_solver="scip")
    # our SCIP preset: the HiGHS one on SCIP with a plain (default-emphasis) first solve
    assert PRESETS["balans22_scip"] == dataclasses.replace(
        PRESETS["balans22_highs"], mip_solver="scip", first_emphasis="default"
    )
    # the HiGHS preset differs from the package's configuration in exactly these fields
    d22 = PRESETS["balans22"]
    assert on_highs.arms == d22.arms and on_highs.times == dataclasses.replace(
        d22.times, first_solution=60.0
    )
    assert on_highs.bandit == d22.bandit and on_highs.acceptance == d22.acceptance
    assert not on_highs.optimistic_bandit and not d22.optimistic_bandit
    explicit = settings_from_options({"preset": "balans22"})
    assert explicit.first_solution_limit == 1 and not explicit.adaptive_size
    assert explicit.first_stall is None and explicit.first_emphasis == "feasibility"
    # the faithful preset stays reachable on SCIP
    faithful = settings_from_options({"preset": "balans22", "mip_solver": "scip"})
    assert faithful == dataclasses.replace(d22, mip_solver="scip")


def test_adaptive_options_validate() -> None:
    with pytest.raises(OptionsError, match="size_step"):
        settings_from_options({"size_step": 1.0})
    with pytest.raises(OptionsError, match="size_step"):
        settings_from_options({"size_step": math.nan})
    with pytest.raises(OptionsError, match="adaptive_size"):
        settings_from_options({"adaptive_size": "yes"})
    with pytest.raises(OptionsError, match="did you mean 'size_step'"):
        settings_from_options({"size_stepp": 2.0})
    with pytest.raises(OptionsError, match="mip_solver"):
        settings_from_options({"mip_solver": ["highs"]})


def _replay(trace: list[dict[str, object]], step: float, deltas: dict[str, float]) -> None:
    """Check each trace record's size factor against the documented rule."""
    factor: dict[str, float] = {}
    for e in trace:
        arm = str(e["arm"])
        if arm not in deltas:
            continue
        f = factor.get(arm, 1.0)
        improved = float(e["after"]) < float(e["before"]) - 1e-9 * max(1.0, abs(float(e["before"])))  # type: ignore[arg-type]
        if not improved and e["status"] in ("optimal", "infeasible"):
            f = min(1.0 / deltas[arm], max(0.01 / deltas[arm], f * step))
        factor[arm] = f
        assert e["size"] == pytest.approx(f, abs=1e-4), e


def test_engine_grows_exhausted_neighbourhoods() -> None:
    lf = knapsack(40, 3, seed=11)
    arms = ["mutation_25", "rins_25"]
    s = settings_from_options(
        {"arms": arms, "max_iterations": 12, "time_iteration": 30.0, "first_solution_limit": 1}
    )
    assert s.adaptive_size and s.size_step == 1.5
    run = run_balans(lf, s, time_limit=60.0, seed=4, threads=1)
    assert len(run.trace) == run.iterations > 0
    assert all(e["secs"] < 29.0 for e in run.trace)  # no sub-MIP ran out of time: no shrinking
    _replay(run.trace, 1.5, {"mutation_25": 0.25, "rins_25": 0.25})
    grown = [e for e in run.trace if e["size"] > 1.0]
    stuck = [e for e in run.trace if e["status"] == "optimal" and e["after"] == e["before"]]
    assert bool(grown) == bool(stuck)


def test_adaptive_off_keeps_sizes() -> None:
    lf = knapsack(40, 3, seed=11)
    s = settings_from_options(
        {"arms": ["mutation_25"], "max_iterations": 6, "adaptive_size": False,
         "first_solution_limit": 1}
    )  # fmt: skip
    run = run_balans(lf, s, time_limit=60.0, seed=4, threads=1)
    assert run.trace and all(e["size"] == 1.0 for e in run.trace)


def test_adaptive_runs_are_reproducible() -> None:
    lf = knapsack(30, 2, seed=7)
    s = settings_from_options({"max_iterations": 8, "time_iteration": 30.0})
    a = run_balans(lf, s, time_limit=120.0, seed=5, threads=1)
    b = run_balans(lf, s, time_limit=120.0, seed=5, threads=1)
    assert a.objective == b.objective and a.arm_counts == b.arm_counts
    assert [(e["arm"], e["status"], e["size"]) for e in a.trace] == [
        (e["arm"], e["status"], e["size"]) for e in b.trace
    ]


def test_backend_reports_size_factors() -> None:
    import workbench

    r = workbench.solve(
        knapsack(40, 3, seed=11), backend="balans", arms=["mutation_25"], max_iterations=6,
        first_solution_limit=1, time_limit=60, seed=4,
    )  # fmt: skip
    factors = r.diagnostics.extra["size_factors"]
    assert set(factors) <= {"mutation_25"} and all(0.04 <= f <= 4.0 for f in factors.values())
    assert "ALNS" in r.log
