"""The ``scipy`` backend: continuous LP, QP and NLP with ``scipy.optimize.minimize``.

Objective and constraints come from :class:`~workbench.compile.torch_form.TorchForm`
(CPU, float64): gradients, Jacobians and Hessians are exact, through
``torch.autograd`` / ``torch.func``.  Without torch (or with
``derivatives="finite"``) they are evaluated with numpy
(:class:`~workbench.compile.numeric.NumpyOps`) and differentiated by finite
differences.

Methods (option ``method``): ``SLSQP`` (the default when there are
constraints and at most :data:`SLSQP_MAX_VARS` variables), ``trust-constr``
(the default for larger constrained models: SLSQP's subproblems are dense),
and ``L-BFGS-B`` (the default with bounds only).  SLSQP is the default for
small models because it is the accurate one: on the conformance NLPs
trust-constr's barrier stops with ``gtol`` satisfied about 1e-3 (relative)
away from the optimum, SLSQP within 1e-7.
``multistart=k`` runs from ``x0`` and ``k - 1`` seeded random points and
keeps the best feasible one.

Outcomes
--------
These are local solvers.  A converged, feasible run (max violation <= 1e-6)
is ``OPTIMAL`` only when classification proves the model convex and smooth
(:func:`workbench.classification.local_optimum`): then the local optimum is
global.  Otherwise it is ``LOCALLY_OPTIMAL``, and the message says why the
proof failed and that a global backend exists.  A local solver cannot
prove infeasibility either, so ``INFEASIBLE`` is never returned from the
local search: when no feasible point is found the termination is the limit
that stopped the solver (``ITERATION_LIMIT``, ``TIME_LIMIT``) or ``ERROR``,
with a message that gives the violation, says that this is not a proof of
infeasibility, and what to try; ``diagnostics.extra['max_violation']``
holds the violation.
The one exception is a proof: when every constraint is affine,
``scipy.optimize.linprog`` (HiGHS) decides whether the polyhedron is empty,
and a proven empty one is ``INFEASIBLE``.
A feasible point without convergence is ``FEASIBLE``.  An objective below
``-1e20`` (in minimisation form) is ``UNBOUNDED``.  SciPy's status codes
are mapped per method in one table, :data:`STATUS_MAP`.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from solvers._scipy_problem import Problem, linear_infeasible, torch_installed
from workbench.backends.base import Availability, Capability, SolveOptions
from workbench.classification import Classification, classify_structure, local_optimum
from workbench.errors import OptionsError, UnsupportedProblemError
from workbench.result import Diagnostics, Result, Termination, Timings

__all__ = [
    "FEAS_TOL",
    "LOCAL_TRIES",
    "METHODS",
    "linear_infeasible",
    "STATUS_MAP",
    "UNBOUNDED_BELOW",
    "ScipyBackend",
    "termination",
]

FEAS_TOL = 1e-6
"""Largest constraint or bound violation of a point called feasible."""

UNBOUNDED_BELOW = -1e20
"""A minimisation-form objective below this is reported as unbounded."""

METHODS = ("trust-constr", "SLSQP", "L-BFGS-B")

SLSQP_MAX_VARS = 1000
"""Constrained models up to this many variables default to SLSQP, larger ones to trust-constr."""

SLSQP_FTOL = 1e-10
"""SLSQP's default precision goal on the objective here (SciPy's own is 1e-6)."""

LOCAL_TRIES = (
    "multistart=10, method='trust-constr', better-scaled constraints, or backend 'scip' (global)"
)
"""What the message suggests when no feasible point was found."""

STATUS_MAP: dict[tuple[str, int], Termination] = {
    # trust-constr (scipy.optimize._trustregion_constr TERMINATION_MESSAGES)
    ("trust-constr", 0): Termination.ITERATION_LIMIT,  # max iterations / evaluations
    ("trust-constr", 1): Termination.OPTIMAL,  # gtol satisfied
    ("trust-constr", 2): Termination.OPTIMAL,  # xtol satisfied
    ("trust-constr", 3): Termination.INTERRUPTED,  # callback stopped it
    ("trust-constr", 4): Termination.ERROR,  # constraint violation exceeds gtol
    # SLSQP exit modes
    ("SLSQP", -1): Termination.INTERRUPTED,  # stopped by the callback mid-iteration
    ("SLSQP", 0): Termination.OPTIMAL,
    ("SLSQP", 1): Termination.INTERRUPTED,  # stopped by the callback mid-iteration
    ("SLSQP", 2): Termination.ERROR,  # more equality constraints than variables
    ("SLSQP", 3): Termination.ERROR,  # more than 3n iterations in LSQ subproblem
    ("SLSQP", 4): Termination.ERROR,  # inequality constraints incompatible
    ("SLSQP", 5): Termination.ERROR,  # singular matrix E
    ("SLSQP", 6): Termination.ERROR,  # singular matrix C
    ("SLSQP", 7): Termination.ERROR,  # rank-deficient equality subproblem
    ("SLSQP", 8): Termination.ERROR,  # positive directional derivative in line search
    ("SLSQP", 9): Termination.ITERATION_LIMIT,
    # L-BFGS-B warnflag
    ("L-BFGS-B", 0): Termination.OPTIMAL,
    ("L-BFGS-B", 1): Termination.ITERATION_LIMIT,  # iterations or evaluations exhausted
    ("L-BFGS-B", 2): Termination.ERROR,  # abnormal (line search) or stopped by the callback
    # any method: the callback raised StopIteration (time limit, divergence)
    ("trust-constr", 99): Termination.INTERRUPTED,
    ("SLSQP", 99): Termination.INTERRUPTED,
    ("L-BFGS-B", 99): Termination.INTERRUPTED,
}
"""``(method, scipy status code)`` -> :class:`Termination`, before feasibility is checked."""

_OPTIONS = {"method", "multistart", "maxiter", "tol", "derivatives"}


def termination(method: str, status: int) -> Termination:
    """Look up SciPy's *status* for *method* in :data:`STATUS_MAP` (``ERROR`` if absent)."""
    return STATUS_MAP.get((method, int(status)), Termination.ERROR)


@dataclass
class _Settings:
    method: str | None = None
    multistart: int = 1
    maxiter: int | None = None
    tol: float | None = None
    derivatives: str = "auto"


def _settings(extra: dict[str, Any]) -> _Settings:
    unknown = sorted(set(extra) - _OPTIONS)
    if unknown:
        raise OptionsError(
            f"unknown scipy option(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(_OPTIONS))}"
        )
    s = _Settings()
    if "method" in extra:
        m = extra["method"]
        match = [k for k in METHODS if isinstance(m, str) and k.lower() == m.lower()]
        if not match:
            raise OptionsError(
                f"scipy option 'method' must be one of {', '.join(METHODS)}, not {m!r}"
            )
        s.method = match[0]
    if "multistart" in extra:
        k = extra["multistart"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise OptionsError(f"scipy option 'multistart' must be an integer >= 1, not {k!r}")
        s.multistart = k
    if "maxiter" in extra:
        k = extra["maxiter"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise OptionsError(f"scipy option 'maxiter' must be an integer >= 1, not {k!r}")
        s.maxiter = k
    if "tol" in extra:
        t = extra["tol"]
        if isinstance(t, bool) or not isinstance(t, int | float) or not t > 0:
            raise OptionsError(f"scipy option 'tol' must be a positive number, not {t!r}")
        s.tol = float(t)
    if "derivatives" in extra:
        d = extra["derivatives"]
        if d not in ("auto", "torch", "finite"):
            raise OptionsError(
                f"scipy option 'derivatives' must be 'auto', 'torch' or 'finite', not {d!r}"
            )
        s.derivatives = d
    return s


@dataclass
class _Run:
    x: np.ndarray
    fun: float
    violation: float
    status: int
    message: str
    nit: int
    stop: str | None
    history: list[tuple[float, float | None, float | None]] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return self.violation <= FEAS_TOL and math.isfinite(self.fun)


class _Stop:
    """The per-iteration callback: history, time limit and divergence."""

    def __init__(self, prob: Problem, t0: float, deadline: float | None) -> None:
        self.prob, self.t0, self.deadline = prob, t0, deadline
        self.reason: str | None = None
        self.warnings: list[str] = []
        self.history: list[tuple[float, float | None, float | None]] = []

    def __call__(self, intermediate_result: Any) -> None:
        fun = getattr(intermediate_result, "fun", None)
        if fun is None:
            fun = self.prob.fun(np.asarray(intermediate_result.x, dtype=float))
        f = float(fun)
        now = time.perf_counter()
        obj = -f if self.prob.sense == "max" else f
        self.history.append((now - self.t0, obj if math.isfinite(obj) else None, None))
        if f < UNBOUNDED_BELOW:
            self.reason = "unbounded"
            raise StopIteration
        if self.deadline is not None and now >= self.deadline:
            self.reason = "time_limit"
            raise StopIteration


def _starts(prob: Problem, k: int, seed: int | None) -> list[np.ndarray]:
    """``x0`` and ``k - 1`` seeded random starts (uniform in finite bounds, else ``x0 + N(0, 1)``)."""
    x0 = prob.x0.copy()
    if not prob.evaluates(x0):  # e.g. log(0) at a bound: step into the interior
        finite = np.isfinite(prob.lb) & np.isfinite(prob.ub)
        nudged = np.where(finite, 0.5 * (prob.lb + prob.ub), x0)
        nudged = np.where(~finite & np.isfinite(prob.lb), np.maximum(x0, prob.lb + 1.0), nudged)
        nudged = np.where(~finite & np.isfinite(prob.ub), np.minimum(nudged, prob.ub - 1.0), nudged)
        if prob.evaluates(nudged):
            x0 = nudged
    starts = [x0]
    if k > 1:
        rng = np.random.default_rng(seed)
        u = rng.uniform(size=(k - 1, prob.n))
        z = rng.standard_normal(size=(k - 1, prob.n))
        both = np.isfinite(prob.lb) & np.isfinite(prob.ub)
        for r in range(k - 1):
            span = np.where(both, prob.ub - prob.lb, 0.0)
            x = np.where(both, np.where(both, prob.lb, 0.0) + u[r] * span, x0 + z[r])
            starts.append(np.clip(x, prob.lb, prob.ub))
    return starts


def _minimize(prob: Problem, method: str, x0: np.ndarray, s: _Settings, stop: _Stop) -> _Run:
    from scipy.optimize import BFGS, Bounds, NonlinearConstraint, minimize

    torch_d = prob.use_torch
    bounds = Bounds(prob.lb, prob.ub) if prob.n else None
    kw: dict[str, Any] = {"method": method, "bounds": bounds, "callback": stop}
    kw["jac"] = prob.grad if torch_d else "2-point" if method == "trust-constr" else None
    opts: dict[str, Any] = {}
    if s.maxiter is not None:
        opts["maxiter"] = s.maxiter
    if s.tol is not None:
        kw["tol"] = s.tol
    elif method == "SLSQP":
        opts["ftol"] = SLSQP_FTOL  # SciPy's 1e-6 leaves x off by about 1e-3 relative
    if method == "trust-constr":
        cons = []
        hess_ok = prob.exact_hessians
        kw["hess"] = prob.hess if hess_ok else BFGS()
        for which, size, lo in (("eq", prob.num_eq, 0.0), ("ineq", prob.num_ineq, -np.inf)):
            if not size:
                continue
            idx = 0 if which == "eq" else 1

            def cfun(x: np.ndarray, i: int = idx) -> np.ndarray:
                return prob.constraints(x)[i]

            jac: Any = (lambda x, w=which: prob.jacobian(w, x)) if torch_d else "2-point"
            hess: Any = (lambda x, v, w=which: prob.con_hess(w, x, v)) if hess_ok else BFGS()
            cons.append(
                NonlinearConstraint(cfun, np.full(size, lo), np.zeros(size), jac=jac, hess=hess)
            )
        kw["constraints"] = cons
    elif method == "SLSQP":
        cons_d: list[dict[str, Any]] = []
        if prob.num_eq:
            d: dict[str, Any] = {"type": "eq", "fun": lambda x: prob.constraints(x)[0]}
            if torch_d:
                d["jac"] = lambda x: prob.jacobian("eq", x)
            cons_d.append(d)
        if prob.num_ineq:
            d = {"type": "ineq", "fun": lambda x: -prob.constraints(x)[1]}
            if torch_d:
                d["jac"] = lambda x: -prob.jacobian("ineq", x)
            cons_d.append(d)
        kw["constraints"] = cons_d
    with np.errstate(all="ignore"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = minimize(prob.fun, x0, options=opts, **kw)
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in stop.warnings:
            stop.warnings.append(text)
    x = np.clip(np.asarray(res.x, dtype=float), prob.lb, prob.ub)
    fun = prob.fun(x)
    return _Run(
        x,
        fun,
        prob.violation(x),
        int(res.status),
        str(res.message),
        int(getattr(res, "nit", 0) or 0),
        stop.reason,
    )


def _outcome(run: _Run, method: str, cls: Classification) -> tuple[Termination, str]:
    """Termination and message of one run (feasibility and convexity checked here)."""
    if run.stop == "unbounded" or run.fun < UNBOUNDED_BELOW:
        return Termination.UNBOUNDED, f"the objective went below {UNBOUNDED_BELOW:g}"
    base = termination(method, run.status)
    if run.stop == "time_limit":
        base = Termination.TIME_LIMIT
    if run.feasible:
        if base is Termination.OPTIMAL:
            return local_optimum(cls)
        return (
            Termination.FEASIBLE,
            f"feasible point, but the solver did not converge ({run.message})",
        )
    why = (
        f"no feasible point found: the local solver stopped at a point that violates the "
        f"constraints or bounds by {run.violation:.3g} (tolerance {FEAS_TOL:g}). This is not a "
        f"proof that the model is infeasible (a local solver cannot prove that); try {LOCAL_TRIES}"
    )
    if base in (Termination.TIME_LIMIT, Termination.ITERATION_LIMIT):
        return base, why
    return Termination.ERROR, f"{why} ({run.message})"


class ScipyBackend:
    """Continuous LP, QP and NLP with SciPy's local solvers (exact derivatives via torch)."""

    name: ClassVar[str] = "scipy"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LP, Capability.QP, Capability.NLP}
    )
    rank: ClassVar[int] = 25

    def available(self) -> Availability:
        """Ok when SciPy imports; the reason says whether torch gradients are on."""
        try:
            import scipy
        except ImportError as e:
            return Availability(False, f"scipy is not installed ({e}); fix: pip install scipy")
        grads = (
            "exact torch derivatives"
            if torch_installed()
            else "finite differences (torch not installed)"
        )
        return Availability(True, reason=grads, version=scipy.__version__)

    def solve(self, model: Any, options: SolveOptions) -> Result:
        """Solve a continuous model locally with ``scipy.optimize.minimize``.

        Parameters
        ----------
        model
            The IR model (not modified).
        options
            ``time_limit`` (no new start after it; iterations stop at it),
            ``seed`` (multistart points); ``extra``: ``method``,
            ``multistart``, ``maxiter``, ``tol``, ``derivatives``
            (``"auto"``, ``"torch"`` or ``"finite"``).

        Returns
        -------
        Result
            ``INFEASIBLE`` only when the constraints are linear and
            ``linprog`` proves them infeasible (see the module docstring).

        Raises
        ------
        OptionsError
            For an unknown or bad option.
        UnsupportedProblemError
            For integer variables or bilevel/robust structure.
        """
        from workbench.compile.structure import compile_structure

        s = _settings(options.extra)
        t0 = time.perf_counter()
        cm = options.structure or compile_structure(model)
        ints = [name for name, v in cm.ctx.vars.items() if v.is_integer]
        if ints:
            raise UnsupportedProblemError(
                "the scipy backend solves continuous models only; integer/binary variables: "
                + ", ".join(ints[:5])
                + ". Use backend='highs' (MILP) or 'pyomo' with a MINLP solver"
            )
        if cm.model.lower_level is not None or cm.model.robust is not None:
            raise UnsupportedProblemError("the scipy backend takes no bilevel or robust structure")
        use_torch = s.derivatives == "torch" or (s.derivatives == "auto" and torch_installed())
        if s.derivatives == "torch" and not torch_installed():
            raise OptionsError("derivatives='torch' needs torch installed (pip install torch)")
        prob = Problem(cm, use_torch)
        constrained = bool(prob.num_eq or prob.num_ineq)
        method = s.method or (
            ("SLSQP" if prob.n <= SLSQP_MAX_VARS else "trust-constr") if constrained else "L-BFGS-B"
        )
        if method == "L-BFGS-B" and constrained:
            raise OptionsError("method 'L-BFGS-B' takes bounds only; this model has constraints")
        if method == "trust-constr":
            prob.setup_hessians()
        timings = Timings(build=time.perf_counter() - t0)
        diag = Diagnostics(warnings=list(cm.warnings))
        t1 = time.perf_counter()
        deadline = None if options.time_limit is None else t1 + float(options.time_limit)
        runs: list[_Run] = []
        history: list[tuple[float, float | None, float | None]] = []
        starts = _starts(prob, s.multistart, options.seed)
        log: list[str] = []
        for k, x0 in enumerate(starts):
            if k and deadline is not None and time.perf_counter() >= deadline:
                log.append(f"time limit reached: {len(starts) - k} start(s) not run")
                break
            stop = _Stop(prob, t1, deadline)
            try:
                run = _minimize(prob, method, x0, s, stop)
            except Exception as e:  # a crashed start is reported, the others still count
                log.append(f"start {k}: {type(e).__name__}: {e}")
                continue
            run.history = stop.history
            runs.append(run)
            history += stop.history
            log += [f"start {k}: {w}" for w in stop.warnings]
            log.append(
                f"start {k}: {method} status {run.status} ({run.message}); objective "
                f"{run.fun if prob.sense == 'min' else -run.fun:.10g}, max violation {run.violation:.3g}, "
                f"{run.nit} iterations"
            )
            if run.stop == "unbounded":
                break
        timings.solve = time.perf_counter() - t1
        if not runs:
            diag.message = "every start failed: " + "; ".join(log)
            return Result(
                Termination.ERROR,
                timings=timings,
                diagnostics=diag,
                log="\n".join(log),
                backend=self.name,
            )
        best = min(
            runs,
            key=lambda r: (
                not r.feasible and r.stop != "unbounded",
                r.fun if r.feasible else r.violation,
            ),
        )
        term, message = _outcome(best, method, classify_structure(cm))
        if not best.feasible and math.isfinite(best.violation):
            diag.extra["max_violation"] = best.violation
        if not best.feasible and term is not Termination.UNBOUNDED and linear_infeasible(cm):
            term = Termination.INFEASIBLE
            message = (
                "infeasible: the constraints are linear and scipy.optimize.linprog (HiGHS) "
                "proved that no point satisfies them and the bounds"
            )
        diag.native_status = f"{method} status {best.status}: {best.message}"
        diag.message = message + (f" (best of {len(runs)} starts)" if len(runs) > 1 else "")
        res = Result(term, timings=timings, diagnostics=diag, backend=self.name, log="\n".join(log))
        res.iterations = sum(r.nit for r in runs)
        res.history = [h for h in history if h[1] is not None]
        if term not in (Termination.UNBOUNDED, Termination.INFEASIBLE):
            res.values = self._values(prob, best.x)
            obj = prob.objective(best.x)
            res.objective = obj if math.isfinite(obj) else None
        return res

    @staticmethod
    def _values(prob: Problem, x: np.ndarray) -> dict[str, Any]:
        if prob.tf is not None:
            return prob.tf.values_by_variable(x + 0.0)  # type: ignore[no-any-return]
        out: dict[str, Any] = {}
        from workbench.compile.sets import LazyLabels

        for name, v in prob.cm.ctx.vars.items():
            part = x[v.offset : v.offset + v.size] + 0.0
            out[name] = (
                float(part[0]) if not v.index else dict(zip(LazyLabels(v.index), part.tolist()))
            )
        return out
