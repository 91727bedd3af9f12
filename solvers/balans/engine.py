"""One Balans run: LP relaxation, first incumbent, then ALNS (``alns``) with a bandit.

The ALNS loop itself is ``alns.ALNS.iterate``; this module supplies the
state, wraps our destroy operators and the sub-MIP repair as ``alns``
operators, and adds a budget/optimality stopping criterion.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solvers._linear import HistoryRecorder
from solvers.balans.adapter import MipAdapter, SubResult, SubStatus, to_minimisation
from solvers.balans.operators import DestroyOperator, Neighbourhood, SearchContext, make_operator
from solvers.balans.settings import BalansSettings
from workbench.compile.linear_form import LinearForm
from workbench.result import Termination

__all__ = [
    "BalansRun",
    "BalansState",
    "BudgetStop",
    "make_adapter",
    "run_balans",
    "usable_operators",
]


@dataclass
class BalansState:
    """An ALNS state: a point, its (minimisation) objective and a pending neighbourhood."""

    x: np.ndarray
    obj: float
    nbhd: Neighbourhood | None = None

    def objective(self) -> float:
        """The value ALNS minimises."""
        return self.obj


@dataclass
class BalansRun:
    """What a run found, in the model's own sense.

    Attributes
    ----------
    termination
        OPTIMAL only when proven (bound met, or an unrestricted solve proved it).
    x, objective, bound
        Best point, its objective and the best proven bound (``None`` if none).
    history
        ``(seconds, incumbent, bound)`` points.
    arm_counts
        How often the bandit chose each arm.
    outcomes
        Per arm: counts of ``[best, better, accepted, rejected]``.
    dropped
        Arms dropped because the instance lacks the columns they need.
    iterations
        ALNS iterations.
    notes
        Log lines.
    trace
        One record per repair: ``t`` (seconds at its end), ``arm``, ``status`` (the
        sub-MIP's :class:`SubStatus` value, or ``"skip"``), ``secs`` (destroy + repair),
        ``before``/``after`` (the current objective, minimisation form), ``best``
        (whether it gave a new incumbent) and ``size`` (the arm's size factor after
        this iteration, see ``BalansSettings.adaptive_size``).
    size_factors
        The final size factor of each arm the adaptive-size extension resized.
    """

    termination: Termination
    x: np.ndarray | None = None
    objective: float | None = None
    bound: float | None = None
    history: list[tuple[float, float | None, float | None]] = field(default_factory=list)
    arm_counts: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, list[int]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    iterations: int = 0
    notes: list[str] = field(default_factory=list)
    native_status: str = ""
    trace: list[dict[str, Any]] = field(default_factory=list)
    size_factors: dict[str, float] = field(default_factory=dict)


class BudgetStop:
    """Stop ALNS at the deadline, after ``max_iterations``, after ``stall`` iterations
    without a new best, or when ``proven()`` says the incumbent is optimal."""

    def __init__(
        self,
        deadline: float,
        *,
        max_iterations: int | None = None,
        stall: int | None = None,
        proven: Any = None,
    ) -> None:
        self.deadline = deadline
        self.max_iterations = max_iterations
        self.stall = stall
        self.proven = proven
        self.calls = 0
        self._best = math.inf
        self._since = 0

    def __call__(self, rng: np.random.Generator, best: BalansState, current: BalansState) -> bool:
        """True when ALNS must stop."""
        if best.obj < self._best - 1e-9:
            self._best, self._since = best.obj, 0
        elif self.calls:
            self._since += 1
        self.calls += 1
        if self.proven is not None and self.proven():
            return True
        if time.perf_counter() >= self.deadline:
            return True
        if self.max_iterations is not None and self.calls > self.max_iterations:
            return True
        return self.stall is not None and self._since >= self.stall


def make_adapter(
    kind: str, lf: LinearForm, *, seed: int, threads: int | None, verbose: bool
) -> MipAdapter:
    """A HiGHS or SCIP adapter for the minimisation model *lf*."""
    if kind == "scip":
        from solvers.balans.scip_adapter import ScipAdapter

        return ScipAdapter(lf, seed=seed, threads=threads, verbose=verbose)
    from solvers.balans.highs_adapter import HighsAdapter

    return HighsAdapter(lf, seed=seed, threads=threads, verbose=verbose)


def usable_operators(
    arms: tuple[str, ...], ctx: SearchContext
) -> tuple[list[DestroyOperator], list[str]]:
    """The operators for *arms*, and the names dropped for lack of binaries/general integers
    (or of an LP solution, for the arms that read it)."""
    keep: list[DestroyOperator] = []
    dropped: list[str] = []
    for a in arms:
        op = make_operator(a)
        if ctx.has(op.requires) and (ctx.x_lp is not None or not op.needs_lp):
            keep.append(op)
        else:
            dropped.append(op.name)
    return keep, dropped


_NO_POINT = {
    SubStatus.INFEASIBLE: Termination.INFEASIBLE,
    SubStatus.UNBOUNDED: Termination.UNBOUNDED,
    SubStatus.INFEASIBLE_OR_UNBOUNDED: Termination.INFEASIBLE_OR_UNBOUNDED,
    SubStatus.NO_SOLUTION: Termination.TIME_LIMIT,
    SubStatus.ERROR: Termination.ERROR,
}


class _Run:
    """The mutable bookkeeping of one run (incumbent, bound, clock, history)."""

    def __init__(self, lf: LinearForm, budget: float, rel_gap: float) -> None:
        self.lf = lf
        self.sign = -1.0 if lf.sense == "max" else 1.0
        self.lfm = to_minimisation(lf)
        self.integ = np.asarray(lf.integrality, dtype=bool)
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + budget
        self.rel_gap = rel_gap
        self.best_x: np.ndarray | None = None
        self.best_obj = math.inf
        self.bound = -math.inf
        self.proven = False
        self.hist = HistoryRecorder()
        self.notes: list[str] = []

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.perf_counter())

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def model_value(self, v: float) -> float | None:
        return None if not math.isfinite(v) else self.sign * v

    def record(self) -> None:
        self.hist.add(self.now(), self.model_value(self.best_obj), self.model_value(self.bound))

    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        x = np.asarray(x, dtype=np.float64).copy()
        x[self.integ] = np.round(x[self.integ])
        return x, self.lfm.objective_value(x)

    def offer(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """Take *x* as incumbent when it is better; return it rounded with its objective."""
        x, obj = self.evaluate(x)
        if obj < self.best_obj - 1e-9 * max(1.0, abs(obj)):
            self.best_x, self.best_obj = x, obj
            self.record()
        return x, obj

    def raise_bound(self, b: float | None) -> None:
        if b is not None and b > self.bound:
            self.bound = b
            self.record()

    def closed(self) -> bool:
        if self.proven:
            return True
        if not math.isfinite(self.best_obj) or not math.isfinite(self.bound):
            return False
        tol = max(1e-9, self.rel_gap * max(1.0, abs(self.best_obj)))
        self.proven = self.best_obj - self.bound <= tol
        return self.proven


def run_balans(
    lf: LinearForm,
    settings: BalansSettings,
    *,
    time_limit: float | None = None,
    seed: int | None = None,
    threads: int | None = None,
    rel_gap: float | None = None,
    verbose: bool = False,
) -> BalansRun:
    """Run Balans on a MIP given as a LinearForm (any sense; not modified).

    Returns
    -------
    BalansRun
        Termination, best point, bound, history and bandit statistics.
    """
    budget = settings.default_budget if time_limit is None else float(time_limit)
    run = _Run(lf, budget, 1e-6 if rel_gap is None else float(rel_gap))
    rng = np.random.default_rng(seed)
    sub_seed = int(rng.integers(0, 2**31 - 1))
    # HiGHS gets the run's own seed where there is one, as the plain highs backend does, so
    # the first solve (the whole MIP) searches as plain HiGHS with that seed would (on
    # ic97_potential the two trajectories matched point for point; the LP solve before it
    # can make them differ elsewhere); SCIP keeps the drawn seed
    solver_seed = int(seed) if seed is not None and settings.mip_solver == "highs" else sub_seed
    adapter = make_adapter(
        settings.mip_solver, run.lfm, seed=solver_seed, threads=threads, verbose=verbose
    )
    out = BalansRun(Termination.ERROR, notes=run.notes)

    lp = adapter.lp_relaxation(min(settings.times.lp, run.remaining()))
    run.notes.append(f"LP relaxation: {lp.status.value} {lp.objective} ({run.now():.2f} s)")
    if lp.status is SubStatus.INFEASIBLE:
        return _finish(run, out, Termination.INFEASIBLE, lp.native)
    x_lp: np.ndarray | None = None
    if lp.status is SubStatus.NO_SOLUTION:
        # the relaxation hit its time limit: go on without it (no LP-guided arms, no bound)
        run.notes.append("LP relaxation not solved in its time limit: RINS/RENS/DINS are dropped")
    elif lp.status is not SubStatus.OPTIMAL or lp.x is None:
        # unbounded or unclear relaxation: let one exact solve classify the MIP
        res = adapter.solve(run.remaining())
        return _from_exact(run, out, res)
    else:
        x_lp = lp.x
        run.raise_bound(lp.objective)

    stall = None if settings.first_stall is None else settings.first_stall * budget
    plain = settings.first_emphasis == "default"
    split = settings.times.first_solution
    first = adapter.solve(
        min(split, run.remaining()),
        solution_limit=settings.first_solution_limit,
        feasibility=not plain,
        stall=stall,
        patience=stall if plain else None,
    )
    _watched_points(run, adapter)
    run.notes.append(f"first solve: {first.native} {first.objective} ({run.now():.2f} s)")
    if plain and first.x is None and first.status is SubStatus.NO_SOLUTION:
        # plain SCIP found no point within the window: the feasibility emphasis takes over,
        # watched the same way, for the rest of the split
        first = adapter.solve(
            min(max(split - run.now(), 0.0), run.remaining()),
            solution_limit=settings.first_solution_limit,
            feasibility=True,
            stall=stall,
        )
        _watched_points(run, adapter)
        run.notes.append(f"first solve (feasibility emphasis): {first.native} ({run.now():.2f} s)")
    if first.status is SubStatus.NO_SOLUTION and run.remaining() > 0:
        first = adapter.solve(run.remaining(), solution_limit=1, feasibility=True)
        run.notes.append(f"first solve (rest of budget, first solution): {first.native}")
    if first.x is None:
        return _from_exact(run, out, first)
    run.offer(first.x)
    run.raise_bound(first.bound)
    if first.status is SubStatus.OPTIMAL and first.objective is not None:
        run.proven = True
    if run.closed():
        return _finish(run, out, Termination.OPTIMAL, first.native)

    ctx = SearchContext(
        lf=run.lfm,
        x_lp=x_lp,
        adapter=adapter,
        crossover_time=settings.times.crossover,
        remaining=run.remaining,
        fix_continuous=settings.fix_continuous,
        big_m=settings.big_m,
    )
    ops, out.dropped = usable_operators(settings.arms, ctx)
    if out.dropped:
        run.notes.append(f"dropped arms (instance lacks their columns): {', '.join(out.dropped)}")
    if ops and run.remaining() > 0:
        _alns(run, out, ops, ctx, adapter, settings, rng)

    if settings.final_solve and not run.closed() and run.remaining() > 0.05:
        res = adapter.solve(run.remaining(), start=run.best_x)
        run.notes.append(f"final exact solve: {res.native}")
        if res.x is not None:
            run.offer(res.x)
        if res.status is SubStatus.OPTIMAL and res.x is not None:
            run.proven = True
        run.raise_bound(res.bound)
    term = Termination.OPTIMAL if run.closed() else Termination.FEASIBLE
    return _finish(run, out, term, first.native)


def _watched_points(run: _Run, adapter: MipAdapter) -> None:
    """Put a stall-watched solve's improving points into the anytime history."""
    for t_found, v in adapter.improvements:
        run.hist.add(t_found - run.t0, run.model_value(v), run.model_value(run.bound))


def _alns(
    run: _Run,
    out: BalansRun,
    ops: list[DestroyOperator],
    ctx: SearchContext,
    adapter: MipAdapter,
    settings: BalansSettings,
    rng: np.random.Generator,
) -> None:
    from alns import ALNS

    counts: Counter[str] = Counter()
    alns_rng = np.random.default_rng(int(rng.integers(0, 2**63 - 1)))
    mab_seed = int(rng.integers(0, 2**31 - 1))
    engine = ALNS(alns_rng)

    def wrap(op: DestroyOperator) -> Any:
        def destroy(state: BalansState, op_rng: np.random.Generator, **_: Any) -> BalansState:
            counts[op.name] += 1
            pending.update(arm=op.name, start=time.perf_counter())
            return BalansState(state.x, state.obj, op.destroy(state.x, state.obj, op_rng, ctx))

        destroy.__name__ = op.name
        return destroy

    pending: dict[str, Any] = {}

    def log(status: str, before: float, after: float, best_before: float) -> None:
        start = pending.get("start", time.perf_counter())
        out.trace.append(
            {
                "t": round(run.now(), 3),
                "arm": pending.get("arm", "?"),
                "status": status,
                "secs": round(time.perf_counter() - start, 3),
                "before": before,
                "after": after,
                "best": run.best_obj < best_before,
                "size": round(ctx.size_factor.get(pending.get("arm", ""), 1.0), 4),
            }
        )

    def repair(state: BalansState, op_rng: np.random.Generator, **_: Any) -> BalansState:
        nb = state.nbhd
        left = run.remaining()
        best_before = run.best_obj
        if nb is None or nb.skip or left <= 0:
            log("skip", state.obj, state.obj, best_before)
            return BalansState(state.x, state.obj)
        limit = settings.times.local_branching if nb.long else settings.times.iteration
        cut = cutoff_ok(nb)
        nb.apply(adapter)
        given, t_sub = min(limit, left), time.perf_counter()
        try:
            res: SubResult = adapter.solve(
                given,
                start=state.x if nb.start_ok else None,
                solution_limit=nb.solution_limit,
                cutoff=state.obj if cut else None,
                gap=settings.sub_mip_gap,
            )
        finally:
            adapter.undo()
        timed_out = time.perf_counter() - t_sub >= 0.95 * given
        if res.x is None:
            resize(res.status, improved=False, timed_out=timed_out)
            log(res.status.value, state.obj, state.obj, best_before)
            if cut and res.status is SubStatus.INFEASIBLE and not nb.start_ok:
                # the cutoff proved the neighbourhood holds nothing better: for the bandit
                # this is the rejected worse point the uncut sub-MIP would have returned
                return BalansState(state.x, math.inf)
            return BalansState(state.x, state.obj)
        x, obj = run.offer(res.x)
        better = obj < state.obj - 1e-9 * max(1.0, abs(state.obj))
        resize(res.status, improved=better, timed_out=timed_out)
        log(res.status.value, state.obj, obj, best_before)
        if res.status is SubStatus.OPTIMAL and not nb.restricted:
            run.proven = True
            run.raise_bound(run.best_obj)
        return BalansState(x, obj)

    by_name = {op.name: op for op in ops}

    def resize(status: SubStatus, *, improved: bool, timed_out: bool) -> None:
        """The adaptive-size extension: grow an exhausted neighbourhood (solved or proven
        empty without improving), shrink one whose sub-MIP ran out of time without improving."""
        op = by_name.get(pending.get("arm", ""))
        if not settings.adaptive_size or op is None or not op.resizable or improved:
            return
        if status in (SubStatus.OPTIMAL, SubStatus.INFEASIBLE):
            ctx.adapt(op.name, settings.size_step, base=op.delta)
        elif timed_out:
            ctx.adapt(op.name, 1.0 / settings.size_step, base=op.delta)

    def cutoff_ok(nb: Neighbourhood) -> bool:
        """Cut off at the current objective when a worse point could not be used anyway:
        the sub-MIP keeps the true objective and either starts from the incumbent (so it
        can only return it or better) or hill climbing would reject anything worse."""
        if not settings.objective_cutoff or nb.objective is not None or not nb.restricted:
            return False
        return nb.start_ok or settings.acceptance.kind == "hill_climbing"

    for op in ops:
        engine.add_destroy_operator(wrap(op), name=op.name)
    engine.add_repair_operator(repair, name="sub_mip")
    select = settings.bandit.build(len(ops), mab_seed, optimistic=settings.optimistic_bandit)
    stop = BudgetStop(
        run.deadline,
        max_iterations=settings.max_iterations,
        stall=settings.stall_iterations,
        proven=run.closed,
    )
    assert run.best_x is not None
    result = engine.iterate(
        BalansState(run.best_x, run.best_obj), select, settings.acceptance.build(), stop
    )
    stats = result.statistics
    out.iterations = int(sum(counts.values()))
    out.arm_counts = {op.name: int(counts.get(op.name, 0)) for op in ops}
    out.size_factors = {k: round(v, 4) for k, v in ctx.size_factor.items()}
    out.outcomes = {k: [int(v) for v in c] for k, c in stats.destroy_operator_counts.items()}
    run.notes.append(
        f"ALNS: {out.iterations} iterations; arms chosen: "
        + ", ".join(f"{k}={v}" for k, v in out.arm_counts.items())
    )


def _from_exact(run: _Run, out: BalansRun, res: SubResult) -> BalansRun:
    """A run that ended in an unrestricted solve (no ALNS)."""
    if res.x is not None:
        run.offer(res.x)
        run.raise_bound(res.bound)
        term = Termination.OPTIMAL if res.status is SubStatus.OPTIMAL else Termination.FEASIBLE
        if term is Termination.OPTIMAL:
            run.proven = True
        return _finish(run, out, term, res.native)
    return _finish(run, out, _NO_POINT.get(res.status, Termination.ERROR), res.native)


def _finish(run: _Run, out: BalansRun, term: Termination, native: str) -> BalansRun:
    out.termination = term
    out.native_status = native
    if run.best_x is not None and term.has_solution:
        out.x = run.best_x
        out.objective = run.model_value(run.best_obj)
        if term is Termination.OPTIMAL:
            run.raise_bound(run.best_obj)
    out.bound = run.model_value(run.bound) if math.isfinite(run.bound) else None
    if out.objective is None:
        out.bound = out.bound if term is Termination.FEASIBLE else None
    out.history = run.hist.finish(run.now(), out.objective, out.bound)
    return out
