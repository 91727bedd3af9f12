"""Balans on SCIP: the stall watch (event handler), its patience, and the balans22_scip preset."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("alns")
pytest.importorskip("mabwiser")
pytest.importorskip("highspy")
pytest.importorskip("pyscipopt")

from balans_recorder import recording  # noqa: E402

from solvers.balans.adapter import SubResult, SubStatus, to_minimisation  # noqa: E402
from solvers.balans.engine import run_balans  # noqa: E402
from solvers.balans.generators import independent_set, knapsack  # noqa: E402
from solvers.balans.scip_adapter import ScipAdapter  # noqa: E402
from solvers.balans.settings import settings_from_options  # noqa: E402
from workbench.compile.linear_form import Block, LinearForm  # noqa: E402
from workbench.result import Termination  # noqa: E402

FAST = {"time_iteration": 0.5, "time_local_branching": 0.5, "time_crossover": 0.5}


def _market_split(seed: int = 0) -> LinearForm:
    """Four equality rows over 40 binaries (a market-split feasibility problem): SCIP finds
    no point and cannot prove infeasibility within seconds."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 100, (4, 40))
    b = (a.sum(axis=1) // 2).astype(np.float64)
    return LinearForm(
        c=rng.integers(0, 10, 40).astype(np.float64),
        A=sp.csr_matrix(a, dtype=np.float64),
        row_lb=b,
        row_ub=b,
        col_lb=np.zeros(40),
        col_ub=np.ones(40),
        integrality=np.ones(40, dtype=bool),
        sense="min",
        columns=[Block("x", 0, 40, list(range(40)))],
        rows=[Block("r", 0, 4, list(range(4)))],
        name="market_split",
    )


def test_scip_stall_watch_interrupts_after_a_quiet_spell() -> None:
    ad = ScipAdapter(to_minimisation(independent_set(300, 0.05, seed=1)), seed=0)
    t0 = time.perf_counter()
    r = ad.solve(20.0, stall=0.5)
    end = time.perf_counter()
    assert r.status is SubStatus.FEASIBLE and r.x is not None
    assert r.native == "userinterrupt"  # the watch, not the 20 s limit, ended it
    seen = ad.improvements
    assert len(seen) >= 2
    values = [v for _, v in seen]
    assert all(b < a for a, b in zip(values, values[1:], strict=False))  # strictly improving
    assert r.objective == pytest.approx(values[-1])
    assert end - seen[-1][0] >= 0.5 and end - t0 < 20.0
    # the next solve without the watch forgets the points and is not interrupted
    r2 = ad.solve(0.3)
    assert ad.improvements == [] and r2.native != "userinterrupt"


def test_scip_patience_stops_a_solve_that_finds_no_point() -> None:
    ad = ScipAdapter(_market_split(), seed=0)
    t0 = time.perf_counter()
    r = ad.solve(10.0, stall=5.0, patience=0.4)
    took = time.perf_counter() - t0
    assert r.status is SubStatus.NO_SOLUTION and r.x is None and r.native == "userinterrupt"
    assert 0.4 <= took < 5.0
    assert ad.improvements == []


def test_scip_watch_reports_the_offset_objective() -> None:
    lf = to_minimisation(knapsack(30, 2, seed=3))
    lf.offset = 7.0
    ad = ScipAdapter(lf, seed=0)
    r = ad.solve(10.0, stall=2.0)
    assert r.x is not None and ad.improvements
    assert ad.improvements[-1][1] == pytest.approx(r.objective)
    assert r.objective == pytest.approx(lf.objective_value(r.x))


def test_scip_default_first_solve_is_plain_and_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    made = recording(monkeypatch)
    s = settings_from_options(
        {"mip_solver": "scip", "preset": "balans22_scip", "max_iterations": 2, **FAST}
    )
    assert s.first_emphasis == "default" and s.adaptive_size
    run = run_balans(to_minimisation(independent_set(300, 0.05, seed=1)), s, time_limit=6.0,
                     seed=0, threads=1)  # fmt: skip
    assert run.termination in (Termination.FEASIBLE, Termination.OPTIMAL)
    first = made[0].solves[0]
    assert first["feasibility"] is False and first["solution_limit"] is None
    assert first["stall"] == pytest.approx(0.75) and first["patience"] == pytest.approx(0.75)
    note = next(n for n in run.notes if n.startswith("first solve"))
    assert "userinterrupt" in note  # the watch ended it, not the 6 s budget
    assert run.iterations >= 1  # ALNS got the rest
    primal = [p for _, p, _ in run.history if p is not None]
    assert len(primal) >= 3 and primal[0] > primal[-1]  # improving (minimisation form)


def test_scip_falls_back_to_feasibility_emphasis(monkeypatch: pytest.MonkeyPatch) -> None:
    # the plain first solve "found nothing within the window": the feasibility emphasis,
    # watched the same way, must take over and give ALNS its start
    made = recording(monkeypatch, first=SubResult(SubStatus.NO_SOLUTION, native="userinterrupt"))
    s = settings_from_options(
        {"mip_solver": "scip", "preset": "balans22_scip", "max_iterations": 1, **FAST}
    )
    run = run_balans(knapsack(30, 2, seed=7), s, time_limit=4.0, seed=1, threads=1)
    calls = made[0].solves
    assert calls[0]["feasibility"] is False
    assert calls[1]["feasibility"] is True and calls[1]["stall"] == pytest.approx(0.5)
    assert calls[1]["solution_limit"] is None and calls[1].get("patience") is None
    assert any(n.startswith("first solve (feasibility emphasis)") for n in run.notes)
    assert run.termination in (Termination.FEASIBLE, Termination.OPTIMAL)
    assert run.objective is not None


def test_faithful_preset_on_scip_keeps_the_reference_first_solve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = recording(monkeypatch)
    s = settings_from_options({"mip_solver": "scip", "preset": "balans22", "max_iterations": 1,
                               "time_iteration": 0.3})  # fmt: skip
    run_balans(knapsack(30, 2, seed=7), s, time_limit=3.0, seed=1, threads=1)
    first = made[0].solves[0]
    assert first["feasibility"] is True and first["solution_limit"] == 1
    assert first["stall"] is None and first["patience"] is None


def test_scip_runs_are_reproducible_without_binding_limits() -> None:
    # the stall watch reads the clock; without it (the faithful preset) and with no time
    # limit binding, a seed fixes the whole SCIP run: arms, neighbourhoods, sub-MIP results
    s = settings_from_options({"mip_solver": "scip", "preset": "balans22", "max_iterations": 6,
                               "time_iteration": 60, "time_local_branching": 60,
                               "time_crossover": 60})  # fmt: skip
    lf = independent_set(70, 0.1, seed=4)
    a = run_balans(lf, s, time_limit=300.0, seed=5, threads=1)
    b = run_balans(lf, s, time_limit=300.0, seed=5, threads=1)
    assert a.iterations >= 3 and len(a.trace) == a.iterations
    assert a.objective == b.objective and a.arm_counts == b.arm_counts
    assert [(r["arm"], r["status"], r["after"]) for r in a.trace] == [
        (r["arm"], r["status"], r["after"]) for r in b.trace
    ]


def test_stall_watch_interrupts_a_root_phase_without_events() -> None:
    """lotsize (MIPLIB): plain SCIP spends its first 30 s in a root phase where no node or
    LP event fires, so an event-driven watch never ran; the watch's clock thread stops it."""
    from workbench.compile.mps import read_mps
    from workbench.datasets import shared_data_dir

    root = shared_data_dir()
    path = None if root is None else root / "mip" / "instances" / "lotsize.mps.gz"
    if path is None or not path.is_file():
        pytest.skip("the MIPLIB instances are not available (set WORKBENCH_DATA)")
    ad = ScipAdapter(to_minimisation(read_mps(path)), seed=0, threads=1)
    t0 = time.perf_counter()
    r = ad.solve(30.0, stall=1.0, patience=1.0)
    took = time.perf_counter() - t0
    assert r.native == "userinterrupt" and took < 10.0  # was: the whole 30 s
    if not ad.improvements:
        # a loaded machine (a parallel suite next to other work) can spend the first quiet
        # second before SCIP's first solution: then it stops with none, still well before 30 s
        assert r.status is SubStatus.NO_SOLUTION and took < 5.0
        return
    assert r.status is SubStatus.FEASIBLE
    assert took - (ad.improvements[-1][0] - t0) >= 1.0  # only after a quiet second
