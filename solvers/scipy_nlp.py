"""The ``scipy`` backend: continuous LP, QP and NLP with ``scipy.optimize.minimize``.

Objective and constraints come from :class:`~workbench.compile.torch_form.TorchForm`
(CPU, float64): gradients, Jacobians and Hessians are exact, through
``torch.autograd`` / ``torch.func``.  Without torch (or with
``derivatives="finite"``) they are evaluated with numpy
(:class:`~workbench.compile.numeric.NumpyOps`) and differentiated by finite
differences.

Methods (option ``method``): ``trust-constr`` (the default when there are
constraints), ``SLSQP``, and ``L-BFGS-B`` (the default with bounds only).
``multistart=k`` runs from ``x0`` and ``k - 1`` seeded random points and
keeps the best feasible one.

Outcomes
--------
These are local solvers: ``OPTIMAL`` means *converged to a feasible local
optimum* (max violation <= 1e-6); the message says that global optimality
is not proven.  A local solver cannot prove infeasibility either, so
``INFEASIBLE`` is **never** returned: when no feasible point is found the
termination is the limit that stopped the solver (``ITERATION_LIMIT``,
``TIME_LIMIT``) or ``ERROR``, with the message "no feasible point found".
A feasible point without convergence is ``FEASIBLE``.  An objective below
``-1e20`` (in minimisation form) is ``UNBOUNDED``.  SciPy's status codes
are mapped per method in one table, :data:`STATUS_MAP`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from workbench.backends.base import Availability, Capability, SolveOptions
from workbench.errors import OptionsError, UnsupportedProblemError
from workbench.result import Diagnostics, Result, Termination, Timings

__all__ = ["FEAS_TOL", "METHODS", "STATUS_MAP", "UNBOUNDED_BELOW", "ScipyBackend", "termination"]

FEAS_TOL = 1e-6
"""Largest constraint or bound violation of a point called feasible."""

UNBOUNDED_BELOW = -1e20
"""A minimisation-form objective below this is reported as unbounded."""

METHODS = ("trust-constr", "SLSQP", "L-BFGS-B")

LOCAL_NOTE = "local optimum; NLP solvers do not prove global optimality"

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


def _torch_ok() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class _Problem:
    """Minimisation-form objective and constraints as numpy callables."""

    def __init__(self, cm: Any, use_torch: bool) -> None:
        from workbench.compile.torch_form import RowSet

        self.cm = cm
        self.use_torch = use_torch
        ctx = cm.ctx
        cat = (lambda xs: np.concatenate(xs)) if ctx.vars else (lambda xs: np.zeros(0))
        self.lb = cat([v.lb for v in ctx.vars.values()]).astype(float)
        self.ub = cat([v.ub for v in ctx.vars.values()]).astype(float)
        init = cat(
            [v.init if v.init is not None else np.full(v.size, np.nan) for v in ctx.vars.values()]
        )
        self.x0 = np.where(np.isnan(init), np.clip(0.0, self.lb, self.ub), init).astype(float)
        self.n = int(self.x0.shape[0])
        self.sense = cm.objective.sense
        self.rows = RowSet(cm.rows)
        self.num_eq, self.num_ineq = self.rows.num_eq, self.rows.num_ineq
        self._cache: dict[str, tuple[bytes, Any]] = {}
        self.tf: Any = None
        self.exact_hessians = False
        if use_torch:
            from workbench.compile.torch_form import TorchForm

            self.tf = TorchForm(cm, device="cpu")
            # Fill TorchOps' tensor cache outside any torch.func transform: tensors
            # first created inside jacrev/hessian would escape their transform.
            t = self._tensor(self.x0)
            self.tf.f(t)
            self.tf.c_eq(t)
            self.tf.c_ineq(t)

    # -------------------------------------------------------------- numpy
    def _np_rows(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from workbench.compile.numeric import evaluate

        vals: dict[int, np.ndarray] = {}

        def fam(k: int) -> np.ndarray:
            if k not in vals:
                v = evaluate(self.rows.families[k].plan, x)
                vals[k] = np.broadcast_to(np.asarray(v, dtype=float), (self.rows.families[k].n,))
            return vals[k]

        eq = [fam(k)[i] - b for k, i, b in self.rows.eq]
        ineq = [fam(k)[i] - b for k, i, b in self.rows.hi] + [
            b - fam(k)[i] for k, i, b in self.rows.lo
        ]
        return (
            np.concatenate(eq) if eq else np.zeros(0),
            np.concatenate(ineq) if ineq else np.zeros(0),
        )

    def _memo(self, key: str, x: np.ndarray, compute: Callable[[], Any]) -> Any:
        b = x.tobytes()
        hit = self._cache.get(key)
        if hit is not None and hit[0] == b:
            return hit[1]
        val = compute()
        self._cache[key] = (b, val)
        return val

    # -------------------------------------------------------------- public
    def fun(self, x: np.ndarray) -> float:
        """Objective in minimisation form."""
        return (
            float(self._fg(x)[0])
            if self.use_torch
            else float(self._memo("f", x, lambda: self._np_f(x)))
        )

    def grad(self, x: np.ndarray) -> np.ndarray:
        """Gradient of :meth:`fun` (torch only)."""
        return np.asarray(self._fg(x)[1])

    def _np_f(self, x: np.ndarray) -> float:
        from workbench.compile.numeric import evaluate

        v = float(np.asarray(evaluate(self.cm.objective.plan, x), dtype=float).reshape(-1)[0])
        return -v if self.sense == "max" else v

    def _tensor(self, x: np.ndarray, grad: bool = False) -> Any:
        import torch

        return torch.tensor(x, dtype=torch.float64, requires_grad=grad)

    def _fg(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        def compute() -> tuple[float, np.ndarray]:
            import torch

            t = self._tensor(x, grad=True)
            f = self.tf.f(t)
            (g,) = torch.autograd.grad(f, t, allow_unused=True) if f.requires_grad else (None,)
            gv = np.zeros(self.n) if g is None else g.detach().numpy().copy()
            return float(f.detach()), gv

        return self._memo("fg", x, compute)  # type: ignore[no-any-return]

    def constraints(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(c_eq(x), c_ineq(x))`` with ``c_eq == 0`` and ``c_ineq <= 0`` when feasible."""
        if not self.use_torch:
            return self._memo("c", x, lambda: self._np_rows(x))  # type: ignore[no-any-return]

        def compute() -> tuple[np.ndarray, np.ndarray]:
            t = self._tensor(x)
            return self.tf.c_eq(t).detach().numpy(), self.tf.c_ineq(t).detach().numpy()

        return self._memo("c", x, compute)  # type: ignore[no-any-return]

    def jacobian(self, which: str, x: np.ndarray) -> np.ndarray:
        """Dense Jacobian of ``c_eq`` or ``c_ineq`` (torch only)."""

        def compute() -> np.ndarray:
            import torch

            fn = self.tf.c_eq if which == "eq" else self.tf.c_ineq
            t = self._tensor(x)
            try:
                jac = torch.func.jacrev(fn)(t)
            except Exception:
                jac = torch.autograd.functional.jacobian(fn, t)
            return np.asarray(jac.detach().numpy(), dtype=float).reshape(-1, self.n)

        return self._memo(f"j{which}", x, compute)  # type: ignore[no-any-return]

    def setup_hessians(self) -> bool:
        """Whether exact Hessians through ``torch.func.hessian`` work on this model."""
        if not self.use_torch or self.n > 3000:
            return False
        try:
            self.hess(self.x0)
            if self.num_eq:
                self.con_hess("eq", self.x0, np.ones(self.num_eq))
            if self.num_ineq:
                self.con_hess("ineq", self.x0, np.ones(self.num_ineq))
        except Exception:
            return False
        self.exact_hessians = True
        return True

    def hess(self, x: np.ndarray) -> np.ndarray:
        """Hessian of :meth:`fun`."""
        import torch

        h = torch.func.hessian(self.tf.f)(self._tensor(x))
        return np.asarray(h.detach().numpy(), dtype=float).reshape(self.n, self.n)

    def con_hess(self, which: str, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Hessian of ``v @ c(x)`` for ``c_eq`` or ``c_ineq``."""
        import torch

        fn = self.tf.c_eq if which == "eq" else self.tf.c_ineq
        vt = torch.as_tensor(np.asarray(v, dtype=float))
        h = torch.func.hessian(lambda z: (vt * fn(z)).sum())(self._tensor(x))
        return np.asarray(h.detach().numpy(), dtype=float).reshape(self.n, self.n)

    def violation(self, x: np.ndarray) -> float:
        """Largest violation of a constraint or bound at *x* (``inf`` if not finite)."""
        ceq, cin = self.constraints(x)
        parts = [0.0]
        if ceq.size:
            parts.append(float(np.max(np.abs(ceq))))
        if cin.size:
            parts.append(float(np.max(cin)))
        if self.n:
            parts.append(float(np.max(np.maximum(self.lb - x, 0.0), initial=0.0)))
            parts.append(float(np.max(np.maximum(x - self.ub, 0.0), initial=0.0)))
        v = max(parts)
        return v if math.isfinite(v) else math.inf

    def objective(self, x: np.ndarray) -> float:
        """The objective in the model's own sense."""
        f = self.fun(x)
        return -f if self.sense == "max" else f

    def evaluates(self, x: np.ndarray) -> bool:
        """Whether objective and constraints are finite at *x*."""
        try:
            ceq, cin = self.constraints(x)
            return (
                math.isfinite(self.fun(x))
                and bool(np.all(np.isfinite(ceq)))
                and bool(np.all(np.isfinite(cin)))
            )
        except (ValueError, ZeroDivisionError, FloatingPointError):
            return False


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

    def __init__(self, prob: _Problem, t0: float, deadline: float | None) -> None:
        self.prob, self.t0, self.deadline = prob, t0, deadline
        self.reason: str | None = None
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


def _starts(prob: _Problem, k: int, seed: int | None) -> list[np.ndarray]:
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


def _minimize(prob: _Problem, method: str, x0: np.ndarray, s: _Settings, stop: _Stop) -> _Run:
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
    with np.errstate(all="ignore"):
        res = minimize(prob.fun, x0, options=opts, **kw)
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


def _outcome(run: _Run, method: str) -> tuple[Termination, str]:
    """Termination and message of one run (feasibility checked here)."""
    if run.stop == "unbounded" or run.fun < UNBOUNDED_BELOW:
        return Termination.UNBOUNDED, f"the objective went below {UNBOUNDED_BELOW:g}"
    base = termination(method, run.status)
    if run.stop == "time_limit":
        base = Termination.TIME_LIMIT
    if run.feasible:
        if base is Termination.OPTIMAL:
            return Termination.OPTIMAL, LOCAL_NOTE
        return (
            Termination.FEASIBLE,
            f"feasible point, but the solver did not converge ({run.message})",
        )
    why = f"no feasible point found (max violation {run.violation:.3g}); a local solver cannot prove infeasibility"
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
            "exact torch derivatives" if _torch_ok() else "finite differences (torch not installed)"
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
            ``INFEASIBLE`` is never returned (see the module docstring).

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
        use_torch = s.derivatives == "torch" or (s.derivatives == "auto" and _torch_ok())
        if s.derivatives == "torch" and not _torch_ok():
            raise OptionsError("derivatives='torch' needs torch installed (pip install torch)")
        prob = _Problem(cm, use_torch)
        constrained = bool(prob.num_eq or prob.num_ineq)
        method = s.method or ("trust-constr" if constrained else "L-BFGS-B")
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
        term, message = _outcome(best, method)
        diag.native_status = f"{method} status {best.status}: {best.message}"
        diag.message = message + (f" (best of {len(runs)} starts)" if len(runs) > 1 else "")
        res = Result(term, timings=timings, diagnostics=diag, backend=self.name, log="\n".join(log))
        res.iterations = sum(r.nit for r in runs)
        res.history = [h for h in history if h[1] is not None]
        if term is not Termination.UNBOUNDED:
            res.values = self._values(prob, best.x)
            obj = prob.objective(best.x)
            res.objective = obj if math.isfinite(obj) else None
        return res

    @staticmethod
    def _values(prob: _Problem, x: np.ndarray) -> dict[str, Any]:
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
