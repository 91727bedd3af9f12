"""Racing two MILP solvers on one reformulated model: the first proof wins.

A model that the reformulation pass made linear (big-M selectors, McCormick
rows, epigraphs, RLT rows) has a weak LP relaxation, and which MILP solver
proves it first depends on the instance, not on its class: measured on
``benchmarks/reformulate.py``, SCIP proves a 40-job makespan 4x faster than
HiGHS and an 8-facility QAP 2x faster, while HiGHS proves a 10-facility QAP 3x
faster than SCIP.  No routing rule picks the winner beforehand, so ``solve``
with ``backend="auto"`` runs both on the same model, in two threads (both
solvers run without holding the GIL), and returns the first conclusive answer
(``optimal``, ``infeasible``, ``unbounded``); the rival builds its model at once
but starts solving only after a head start (:data:`HEAD_START`), since most small
models are solved by the first solver alone within it.  The other is then stopped
(:attr:`SolveOptions.cancel`) and joined before ``solve`` returns: no solver
keeps running behind the caller's back.

When neither concludes (a time limit), the answer is the better incumbent,
with the tighter of the two proven bounds.

The race runs only when :func:`rivals` says so: ``backend="auto"``, a
reformulated MILP, both solvers installed, at least two CPUs, ``threads``
unset or at least 2, no backend-specific options and not ``verbose`` (two logs
would interleave).  Pass ``backend="highs"`` (or ``threads=1``) for one solver.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from workbench.backends.base import Cancel, Capability, SolveOptions
from workbench.backends.registry import BACKENDS, availability, get_backend
from workbench.classification import covers
from workbench.cpus import CPU_SHARE_ENV, cpu_count
from workbench.result import Result, Termination

__all__ = ["CPU_SHARE_ENV", "RACERS", "cpu_count", "describe_race", "race", "rivals"]

RACERS = ("highs", "scip")
"""The MILP solvers raced, in order of preference on a tie."""

HEAD_START = 0.01
"""Seconds the preferred solver runs alone before the others start solving.  Many models
solve in milliseconds, and there a second solver costs more than it can win: it must be
stopped, and it takes the GIL in its callbacks.  A rival builds its model during the head
start and then waits (:meth:`~workbench.backends.base.Cancel.hold`).  Measured side by
side on a 40-job makespan that SCIP wins (``benchmarks/reformulate.py``): 1.58x SCIP's
time when the rival built after the head start, 1.27x when it builds during it."""

CONCLUSIVE = (
    Termination.OPTIMAL,
    Termination.INFEASIBLE,
    Termination.UNBOUNDED,
    Termination.INFEASIBLE_OR_UNBOUNDED,
)
"""Terminations that end a race: nothing the other solver finds can change them."""


def _fits(name: str, prep: Any) -> bool:
    try:
        bcls = BACKENDS.load(name)
    except Exception:  # a backend that cannot be imported does not race
        return False
    if not getattr(bcls, "cancellable", False) or not availability(name).ok:
        return False
    if not covers(bcls.capabilities, prep.cls):
        return False
    indicators = any(r.indicator is not None for r in prep.structure.rows)
    return not indicators or bool(getattr(bcls, "indicators", False))


def rivals(requested: str, chosen: str, prep: Any, options: SolveOptions) -> tuple[str, ...]:
    """The backends to race for this solve, the chosen one first; ``()`` for a plain solve.

    Parameters
    ----------
    requested
        The ``backend=`` the caller passed (only ``"auto"`` races).
    chosen
        The backend ``auto`` picked.
    prep
        The :class:`~workbench.reformulating.Prepared` model.
    options
        The solve's options.
    """
    if requested != "auto" or chosen not in RACERS:
        return ()
    if prep.reform is None or not prep.reform.changed:
        return ()
    if prep.cls.problem_class is not Capability.MILP:
        return ()
    if options.verbose or options.extra or options.feas_tol is not None:
        return ()
    if (options.threads is not None and options.threads < 2) or cpu_count() < 2:
        return ()
    names = (chosen, *(n for n in RACERS if n != chosen))
    return names if all(_fits(n, prep) for n in names) else ()


@dataclass
class _Finish:
    name: str
    result: Result | None
    error: BaseException | None
    seconds: float


def _run(
    name: str, model: Any, options: SolveOptions, t0: float, out: queue.Queue[_Finish]
) -> None:
    try:
        if options.time_limit is not None and options.time_limit <= 0:
            res = Result(Termination.TIME_LIMIT, backend=name)
            res.diagnostics.message = "not started: no time left after the head start"
        else:
            res = get_backend(name).solve(model, options)
        out.put(_Finish(name, res, None, time.perf_counter() - t0))
    except BaseException as e:  # handed to the caller's thread
        out.put(_Finish(name, None, e, time.perf_counter() - t0))


def _entrant(options: SolveOptions, k: int, t0: float) -> SolveOptions:
    """Entrant *k*'s options: its own stop request, and for a rival the head start.

    A rival builds its model at once but starts solving ``HEAD_START`` seconds
    after the race began (it calls :func:`~workbench.backends.base.stopped_before_start`
    before its solver runs), with that much less of the caller's time limit.
    """
    if k == 0:
        return replace(options, cancel=Cancel())
    limit = None if options.time_limit is None else options.time_limit - HEAD_START
    return replace(options, cancel=Cancel(start_at=t0 + HEAD_START), time_limit=limit)


def race(names: tuple[str, ...], model: Any, options: SolveOptions, sense: str) -> Result:
    """Solve *model* with every backend in *names* at once; return the first conclusive result.

    Parameters
    ----------
    names
        Backends (each ``cancellable``), the preferred one first.
    model
        The (reformulated) IR model; ``options.structure`` is its compiled structure.
    options
        Common options, given to each backend with a shared ``cancel`` event.
    sense
        ``"min"`` or ``"max"``: which incumbent and bound are better.

    Returns
    -------
    Result
        The winner's result; ``result.backend`` names it and
        ``result.diagnostics.extra["race"]`` records every run.

    Raises
    ------
    BaseException
        What the preferred backend raised, when no backend returned a result.
    """
    finished: queue.Queue[_Finish] = queue.Queue()
    t0 = time.perf_counter()
    entrants = [_entrant(options, k, t0) for k in range(len(names))]
    threads = [
        threading.Thread(
            target=_run,
            args=(n, model, opts, t0, finished),
            name=f"wb-race-{n}",
            daemon=True,
        )
        for n, opts in zip(names, entrants, strict=True)
    ]
    for t in threads:
        t.start()
    done: dict[str, _Finish] = {}
    winner: str | None = None
    try:
        while len(done) < len(names):
            f = finished.get()
            done[f.name] = f
            if f.result is not None and f.result.termination in CONCLUSIVE:
                winner = f.name
                break
    finally:  # also on KeyboardInterrupt: no solver outlives the call
        won_at = time.perf_counter() - t0
        for opts in entrants:
            assert opts.cancel is not None
            opts.cancel.set()
        for t in threads:
            t.join()
    while not finished.empty():
        f = finished.get()
        done[f.name] = f
    record = {
        "entrants": list(names),
        "winner": winner,
        "runs": {
            n: {
                "termination": None if f.result is None else f.result.termination.value,
                "error": None if f.error is None else f"{type(f.error).__name__}: {f.error}",
                "seconds": round(f.seconds, 4),
                "stopped_by_race": winner is not None
                and n != winner
                and f.result is not None
                and f.result.termination not in CONCLUSIVE,
            }
            for n, f in done.items()
        },
        "stop_lag": round(time.perf_counter() - t0 - won_at, 4),
    }
    res = done[winner].result if winner is not None else _best(names, done, sense)
    if res is None:
        err = next(done[n].error for n in names if done[n].error is not None)
        assert err is not None
        raise err
    res.diagnostics.extra["race"] = record
    if res.termination is Termination.INFEASIBLE and not res.diagnostics.iis:
        _explain(names, model, options, res)
    return res


def _explain(names: tuple[str, ...], model: Any, options: SolveOptions, res: Result) -> None:
    """Add an IIS from an entrant that computes one (``infeasible_subset``) to *res*."""
    for name in names:
        backend = get_backend(name)
        find = getattr(backend, "infeasible_subset", None)
        if find is None:
            continue
        try:
            iis, message = find(model, replace(options, cancel=None))
        except Exception as e:  # the proof stands without an explanation
            res.diagnostics.warnings.append(f"no IIS: {name} failed computing one ({e})")
            return
        res.diagnostics.iis = iis
        res.diagnostics.message = (
            f"{res.diagnostics.message}; {message}" if res.diagnostics.message else message
        )
        return


def _better(a: float, b: float, sense: str) -> bool:
    return a > b if sense == "max" else a < b


def _best(names: tuple[str, ...], done: dict[str, _Finish], sense: str) -> Result | None:
    """No proof: the best incumbent (the preferred backend on a tie), with the tightest bound."""
    results = [r for r in (done[n].result for n in names) if r is not None]
    if not results:
        return None
    pick = results[0]
    for r in results[1:]:
        if (
            r.objective is not None
            and r.values
            and (
                pick.objective is None
                or not pick.values
                or _better(r.objective, pick.objective, sense)
            )
        ):
            pick = r
    for r in results:  # a proven bound from either run holds for the model both solved
        if r.bound is None:
            continue
        if pick.bound is None or _better(pick.bound, r.bound, sense):
            pick.bound = r.bound
    if pick.objective is not None and pick.bound is not None:
        pick.gap = abs(pick.objective - pick.bound) / max(1.0, abs(pick.objective))
    return pick


def describe_race(race: Any) -> str:
    """One line from ``result.diagnostics.extra["race"]`` (``""`` for anything else).

    For example ``highs vs scip: scip concluded first (0.05 s); highs stopped``.
    """
    if not isinstance(race, dict) or not isinstance(race.get("runs"), dict):
        return ""
    names = " vs ".join(str(n) for n in race.get("entrants", []))
    runs: dict[str, Any] = race["runs"]
    winner = race.get("winner")
    if winner is None:
        return f"{names}: neither concluded; the best incumbent and the tightest bound are shown"
    secs = runs.get(winner, {}).get("seconds")
    first = f"{winner} concluded first" + (f" ({secs:.3g} s)" if isinstance(secs, float) else "")
    stopped = [n for n, r in runs.items() if isinstance(r, dict) and r.get("stopped_by_race")]
    return f"{names}: {first}" + (f"; {', '.join(stopped)} stopped" if stopped else "")
