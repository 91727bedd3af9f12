"""Balans on HiGHS: the stall-watched first solve, the optimistic bandit, the solver seed."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest

from workbench.errors import OptionsError

pytest.importorskip("alns")
pytest.importorskip("mabwiser")
pytest.importorskip("highspy")

from balans_recorder import recording  # noqa: E402

from solvers.balans.adapter import SubStatus, to_minimisation  # noqa: E402
from solvers.balans.engine import run_balans  # noqa: E402
from solvers.balans.generators import independent_set, knapsack  # noqa: E402
from solvers.balans.highs_adapter import HighsAdapter  # noqa: E402
from solvers.balans.settings import Bandit, settings_from_options  # noqa: E402
from workbench.result import Termination  # noqa: E402


def _slow_start() -> Any:
    """A MIP on which HiGHS (seed 0) finds small improvements in the first 0.4 s and its
    next one only after about 2 s (about 8 s to solve it in all)."""
    return to_minimisation(independent_set(300, 0.05, seed=1))


def test_stall_watch_interrupts_after_a_quiet_spell() -> None:
    ad = HighsAdapter(_slow_start(), seed=0, threads=1)
    t0 = time.perf_counter()
    r = ad.solve(20.0, stall=0.5)
    end = time.perf_counter()
    assert r.status is SubStatus.FEASIBLE and r.x is not None
    seen = ad.improvements
    assert len(seen) >= 2
    values = [v for _, v in seen]
    assert all(b < a for a, b in zip(values, values[1:], strict=False))  # improving points
    assert r.objective == pytest.approx(values[-1])
    assert end - seen[-1][0] >= 0.5  # stopped only after 0.5 s without improving
    assert end - t0 < 20.0  # ... and long before the time limit
    # the next solve without the watch forgets the points and runs to its own limit
    r2 = ad.solve(0.3)
    assert ad.improvements == [] and r2.x is not None


def test_stall_watch_rejects_a_bad_window() -> None:
    ad = HighsAdapter(to_minimisation(knapsack(10, 1, seed=0)), seed=0, threads=1)
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="stall"):
            ad.solve(1.0, stall=bad)


def test_first_solve_stops_on_stall_and_its_points_enter_the_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = recording(monkeypatch)
    s = settings_from_options({"first_stall": 0.1, "max_iterations": 2, "time_iteration": 0.5,
                               "time_local_branching": 0.5, "time_crossover": 0.5})  # fmt: skip
    assert s.first_solution_limit is None  # the default HiGHS preset
    run = run_balans(_slow_start(), s, time_limit=6.0, seed=0, threads=1)
    assert run.termination in (Termination.FEASIBLE, Termination.OPTIMAL)
    first = made[0].solves[0]
    assert first["stall"] == pytest.approx(0.6) and first["solution_limit"] is None
    assert first["time_limit"] <= 6.0
    note = next(n for n in run.notes if n.startswith("first solve"))
    assert "Interrupted" in note  # the watch, not the 6 s budget, ended it
    assert run.iterations >= 1  # ALNS got the rest
    # each improving point of the first solve is in the anytime history, not only its end
    primal = [p for _, p, _ in run.history if p is not None]
    assert len(primal) >= 3 and primal[0] > primal[-1]  # independent set: a maximisation
    # the run is on HiGHS with the run's own seed, as plain HiGHS would be
    assert made[0].inner.h.getOptionValue("random_seed")[1] == 0


def test_first_solve_without_stall_gets_no_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    made = recording(monkeypatch)
    s = settings_from_options({"preset": "balans22", "max_iterations": 1, "time_iteration": 0.3})
    run_balans(knapsack(30, 2, seed=7), s, time_limit=3.0, seed=1, threads=1)
    assert made[0].solves[0]["stall"] is None and made[0].solves[0]["solution_limit"] == 1


def test_stall_and_optimism_options_validate() -> None:
    for bad in (0, 1.5, -0.1, math.inf, True, "0.1"):
        with pytest.raises(OptionsError, match="first_stall"):
            settings_from_options({"first_stall": bad})
    # the watch exists on SCIP too now; the plain first solve is SCIP-only
    assert settings_from_options({"mip_solver": "scip", "first_stall": 0.1}).first_stall == 0.1
    with pytest.raises(OptionsError, match="first_emphasis.*mip_solver='scip'"):
        settings_from_options({"first_emphasis": "default"})
    with pytest.raises(OptionsError, match="first_emphasis"):
        settings_from_options({"mip_solver": "scip", "first_emphasis": "plain"})
    with pytest.raises(OptionsError, match="optimistic_bandit"):
        settings_from_options({"optimistic_bandit": 1})
    assert settings_from_options({"first_stall": None}).first_stall is None
    assert settings_from_options({"optimistic_bandit": True}).optimistic_bandit


class _State:
    def objective(self) -> float:
        return 0.0


def test_optimistic_bandit_tries_every_arm_before_exploiting() -> None:
    n, rejected, best = 6, 3, 0

    def picks(optimistic: bool, seed: int) -> list[int]:
        select = Bandit().build(n, seed, optimistic=optimistic)
        rng = np.random.default_rng(seed)
        chosen: list[int] = []
        for _ in range(3 * n):
            d, r = select(rng, _State(), _State())
            chosen.append(int(d))
            # the first arm tried finds a new best every time; the others never help
            select.update(_State(), d, r, best if d == chosen[0] else rejected)
        return chosen

    for seed in range(3):
        greedy, optimistic = picks(False, seed), picks(True, seed)
        # the package's start (every arm at 0): locked onto the first arm that paid off
        assert greedy.count(greedy[0]) >= len(greedy) - 1
        # optimistic start: every arm tried within 3n iterations, the winner still preferred
        assert optimistic.count(optimistic[0]) > 1
        assert len(set(optimistic)) == n


def test_scip_adapter_rejects_a_bad_window() -> None:
    pytest.importorskip("pyscipopt")
    from solvers.balans.scip_adapter import ScipAdapter

    ad = ScipAdapter(to_minimisation(knapsack(10, 1, seed=0)), seed=0, threads=1)
    assert ad.improvements == []
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="stall"):
            ad.solve(1.0, stall=bad)


def test_stall_clock_rule_shared_by_the_adapters() -> None:
    from solvers.balans.adapter import StallClock

    seen: list[tuple[float, float]] = []
    clock = StallClock(2.0, 5.0, seen)
    t0 = clock.t_start
    assert not clock.due(t0 + 4.9) and clock.due(t0 + 5.0)  # no point: the patience decides
    clock.record(10.0, now=t0 + 1.0)
    clock.record(10.0, now=t0 + 2.0)  # an equal "new best" is not an improvement
    clock.record(9.0, now=t0 + 3.0)
    assert seen == [(t0 + 1.0, 10.0), (t0 + 3.0, 9.0)]
    assert not clock.due(t0 + 4.9) and clock.due(t0 + 5.0)  # 2 s after the last improvement
    patient = StallClock(1.0, None, [])
    assert not patient.due(patient.t_start + 1e6)  # without patience it waits for a point
