"""The ``ccg`` backend: column-and-constraint generation for two-stage robust models.

Zeng & Zhao (2013): alternate a master over the scenarios found so far (a
lower bound) and an adversary that finds the worst scenario of the master's
first stage (an upper bound), until the bounds meet.

- Continuous recourse: the adversary is the KKT/big-M MILP of the inner LP;
  CCG is exact and finite.
- Integer recourse: the adversary is the exact lazy enumeration of
  :func:`workbench.robust.evaluate_first_stage`; both bounds stay valid, so a
  closed gap is a proof of optimality, but convergence in finitely many
  rounds is not guaranteed with a continuous uncertainty set (the result is
  then FEASIBLE with its bound).
- ``method="sampling"``: a heuristic; the upper bound is not valid, so the
  result is at best FEASIBLE.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

import numpy as np

from workbench.backends.base import Availability, Capability, SolveOptions, module_availability
from workbench.errors import UnsupportedProblemError
from workbench.ir.model import Model
from workbench.result import Diagnostics, Result, Termination, Timings

__all__ = ["STATUS_MAP", "CcgBackend"]

STATUS_MAP: dict[str, Termination] = {
    "converged": Termination.OPTIMAL,
    "converged_heuristic": Termination.FEASIBLE,
    "iteration_limit": Termination.ITERATION_LIMIT,
    "time_limit": Termination.TIME_LIMIT,
    "stalled": Termination.FEASIBLE,
    "infeasible": Termination.INFEASIBLE,
    "unbounded": Termination.UNBOUNDED,
    "error": Termination.ERROR,
}
"""The CCG loop's own outcomes -> :class:`Termination` (limits with a point become FEASIBLE)."""


def _termination(status: str, has_point: bool) -> Termination:
    term = STATUS_MAP[status]
    if has_point and term in (Termination.ITERATION_LIMIT, Termination.TIME_LIMIT):
        return Termination.FEASIBLE
    return term


class CcgBackend:
    """Column-and-constraint generation (Zeng & Zhao 2013) on HiGHS.

    Options are the fields of :class:`~solvers.ccg.options.CcgOptions`.
    """

    name: ClassVar[str] = "ccg"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ROBUST})
    rank: ClassVar[int] = 50

    def available(self) -> Availability:
        """Whether highspy imports."""
        return module_availability("highspy")

    def solve(self, model: Model, options: SolveOptions) -> Result:
        """Run CCG; the result holds x, the worst scenario and its recourse."""
        from solvers.ccg.options import ccg_options
        from workbench.robust import robust_structure

        opts = ccg_options(options.extra, options.time_limit)
        t0 = time.perf_counter()
        structure = options.structure
        rs = robust_structure(structure if getattr(structure, "model", None) is model else model)
        build = time.perf_counter() - t0
        try:
            return self._loop(rs, opts, options.seed, build)
        except UnsupportedProblemError:
            raise
        except Exception as e:  # a crash is a value
            return Result(
                Termination.ERROR,
                diagnostics=Diagnostics(message=f"ccg crashed: {type(e).__name__}: {e}"),
                timings=Timings(build=build, solve=time.perf_counter() - t0 - build),
                backend=self.name,
            )

    def _loop(self, rs: Any, opts: Any, seed: int | None, build: float) -> Result:
        from solvers.ccg.adversarial import adversary
        from solvers.ccg.master import solve_master
        from workbench.robust import center_scenario

        t0 = time.perf_counter()
        deadline = t0 + (opts.time_limit if opts.time_limit is not None else math.inf)

        def left() -> float | None:
            return max(deadline - time.perf_counter(), 0.01) if math.isfinite(deadline) else None

        scenarios = [np.where(rs.uncertain, center_scenario(rs), 0.0)]
        lb, ub = -math.inf, math.inf
        best = None  # (x, evaluation)
        history: list[tuple[float, float | None, float | None]] = []
        status = "iteration_limit"
        heuristic = False
        it = 0
        message = ""
        while it < opts.max_iterations:
            it += 1
            ms = solve_master(rs, scenarios, time_limit=left())
            if ms.status == "infeasible":
                status = "infeasible"
                message = f"the master is infeasible after {len(scenarios)} scenario(s)"
                break
            if ms.status == "unbounded":
                status = "unbounded"
                message = "the master is unbounded (bound the first stage or theta)"
                break
            if ms.status != "optimal":
                status = "time_limit" if ms.status == "limit" else "error"
                message = f"master ended '{ms.status}'"
                break
            lb = max(lb, ms.bound)
            adv = adversary(rs, ms.x, method=opts.method, big_m=opts.big_m, time_limit=left(),
                            tol=opts.tolerance, samples=opts.samples, seed=seed)  # fmt: skip
            heuristic = heuristic or not adv.valid_upper
            if adv.evaluation.feasible and adv.upper < ub:
                ub, best = adv.upper, (ms.x, adv.evaluation)
            history.append((time.perf_counter() - t0, _fin(rs.sign * ub), _fin(rs.sign * lb)))
            if math.isfinite(ub) and ub - lb <= opts.tolerance * max(1.0, abs(ub)):
                status = "converged_heuristic" if heuristic else "converged"
                break
            if any(np.allclose(adv.scenario[rs.uncertain], s[rs.uncertain]) for s in scenarios):
                status = "stalled"
                message = "the adversary returned a scenario already in the master"
                break
            scenarios.append(np.where(rs.uncertain, adv.scenario, 0.0))
            if time.perf_counter() > deadline:
                status = "time_limit"
                break
        solve = time.perf_counter() - t0
        diag = Diagnostics(message=message or None)
        res = Result(
            _termination(status, best is not None),
            timings=Timings(build=build, solve=solve),
            iterations=it,
            history=history,
            diagnostics=diag,
            backend=self.name,
        )
        diag.native_status = status
        diag.extra = {
            "scenarios": len(scenarios),
            "lower_bound": _fin(rs.sign * lb),
            "upper_bound": _fin(rs.sign * ub),
            "heuristic": heuristic,
        }
        if res.termination in (Termination.INFEASIBLE, Termination.UNBOUNDED, Termination.ERROR):
            return res
        if best is None:
            return res
        x, ev = best
        res.objective = rs.sign * ub
        res.bound = None if heuristic else _fin(rs.sign * lb)
        if res.bound is not None:
            res.gap = abs(res.objective - res.bound) / max(1.0, abs(res.objective))
        res.values = {**rs.split(x, "first"), **ev.worst_scenario, **ev.recourse_values}
        diag.extra.update(
            {
                "method": ev.method,
                "exact_evaluation": ev.exact,
                "worst_scenario": _jsonable(ev.worst_scenario),
            }
        )
        return res


def _fin(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _jsonable(tree: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out[k] = {str(lab): float(x) for lab, x in v.items()} if isinstance(v, dict) else float(v)
    return out
