"""The ``alsketch`` backend and the callable API.

``workbench.solve(model, backend="alsketch", method=..., sketch=..., ...)``
takes an equality-constrained continuous model with free variables,
compiles it to a :class:`~workbench.compile.torch_form.TorchForm` and runs
the AL-sketching method (or a baseline, option ``method``).
:func:`solve_equality` is the same for Python callables.

Native statuses map to :class:`~workbench.result.Termination` in one table,
:data:`STATUS_MAP`.  ``OPTIMAL`` means a KKT point (residual <= ``tol``) that
is feasible to 1e-6: a local optimum, not a proven global one.  A run that
stops otherwise with a point feasible to 1e-6 is reported ``FEASIBLE``
(except ``UNBOUNDED``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from workbench.backends.base import Availability, Capability, SolveOptions, module_availability
from workbench.errors import UnsupportedProblemError
from workbench.result import Diagnostics, Result, Termination, Timings

if TYPE_CHECKING:
    from solvers.alsketch.engine import EqOutcome
    from workbench.classification import Classification
    from workbench.compile.structure import CompiledModel
    from workbench.ir.model import Model

__all__ = ["FEAS_TOL", "STATUS_MAP", "AlSketchBackend", "nonsmooth_parts", "solve_equality",
           "termination"]  # fmt: skip

FEAS_TOL = 1e-6
"""Largest ``|c_i(x)|`` of a point called feasible."""

STATUS_MAP: dict[str, Termination] = {
    "converged": Termination.OPTIMAL,  # KKT residual <= tol (a local optimum)
    "max_iter": Termination.ITERATION_LIMIT,
    "time_limit": Termination.TIME_LIMIT,
    "line_search_failed": Termination.ERROR,  # no sufficient decrease along the step
    "no_descent": Termination.ERROR,  # penalty updates could not make the step descend
    "diverged": Termination.ERROR,  # |x| blew up; last finite iterate returned
    "unbounded": Termination.UNBOUNDED,  # f below -1e20 at a feasible point
    "eval_error": Termination.ERROR,  # f, c or derivatives not finite
    "inconsistent_linear": Termination.INFEASIBLE,  # affine constraints with no common point
    "inconsistent_jacobian": Termination.ERROR,  # dependent, contradictory linearisation
    "solver_failed": Termination.ERROR,  # a SciPy baseline stopped without converging
}
"""Native status of :class:`~solvers.alsketch.engine.EqOutcome` -> :class:`Termination`."""

_SMOOTH_FUNCS = frozenset({"exp", "log", "sqrt", "sin", "cos"})


def termination(status: str) -> Termination:
    """Look up a native status in :data:`STATUS_MAP` (``ERROR`` if unknown)."""
    return STATUS_MAP.get(status, Termination.ERROR)


def nonsmooth_parts(cm: CompiledModel) -> list[str]:
    """Where the objective or a constraint uses ``abs``, ``min`` or ``max`` (non-smooth).

    Returns
    -------
    list of str
        Entries such as ``"objective: abs"`` or ``"constraints[1] (cap): max"``.
    """
    from workbench.compile.plan import PBin, PFunc, PNeg, PReduce, PVarMinMax

    def scan(plan: Any) -> set[str]:
        found: set[str] = set()
        stack = [plan]
        while stack:
            p = stack.pop()
            if isinstance(p, PFunc):
                if p.func not in _SMOOTH_FUNCS:
                    found.add(p.func)
                stack.append(p.arg)
            elif isinstance(p, PVarMinMax):
                found.add(p.func)
                stack.extend(p.args)
            elif isinstance(p, PReduce):
                if p.func != "sum":
                    found.add(p.func)
                stack.append(p.child)
            elif isinstance(p, PBin):
                stack.extend((p.left, p.right))
            elif isinstance(p, PNeg):
                stack.append(p.operand)
        return found

    out = [f"objective: {', '.join(sorted(s))}" for s in [scan(cm.objective.plan)] if s]
    for fam in cm.rows:
        s = scan(fam.plan)
        if s:
            out.append(f"{fam.where} ({fam.name}): {', '.join(sorted(s))}")
    return out


def _check_model(cm: CompiledModel) -> None:
    from workbench.compile.torch_form import RowSet

    model = cm.model
    if model.lower_level is not None or model.robust is not None:
        raise UnsupportedProblemError(
            "alsketch takes single-level models (no bilevel or robust structure)"
        )
    ints = [name for name, v in cm.ctx.vars.items() if v.is_integer]
    if ints:
        raise UnsupportedProblemError(
            "alsketch solves continuous problems; integer/binary variables: " + ", ".join(ints[:5])
            + ". Use backend='highs' or 'pyomo'"
        )  # fmt: skip
    rows = RowSet(cm.rows)
    if rows.num_ineq:
        names = sorted({cm.rows[k].name for k, _, _ in rows.hi + rows.lo})
        raise UnsupportedProblemError(
            "alsketch solves min f(x) s.t. c(x) = 0 only; these constraints are inequalities: "
            + ", ".join(names[:5]) + ". Use backend='scipy' (SLSQP/trust-constr) for inequalities"
        )  # fmt: skip
    bounded = [name for name, v in cm.ctx.vars.items()
               if np.isfinite(v.lb).any() or np.isfinite(v.ub).any()]  # fmt: skip
    if bounded:
        raise UnsupportedProblemError(
            "alsketch takes free variables only (the method has no bound handling); bounded: "
            + ", ".join(bounded[:5]) + ". Drop the bounds, write them as equalities with a slack "
            "(x - lb - s**2 == 0), or use backend='scipy'"
        )  # fmt: skip
    rough = nonsmooth_parts(cm)
    if rough:
        raise UnsupportedProblemError(
            "alsketch needs twice-differentiable functions (Newton steps on the KKT system); "
            "non-smooth expressions: " + "; ".join(rough) + ". Reformulate abs/min/max with "
            "auxiliary variables, or use backend='pyomo'/'scipy'"
        )  # fmt: skip


def _affine(cm: CompiledModel) -> bool:
    from workbench.compile.affine import degree

    return all(degree(f.plan) <= 1 for f in cm.rows)


def _duals(cm: CompiledModel, lam: np.ndarray, sense: str) -> dict[str, Any]:
    """``∂(objective as written)/∂(right-hand side)`` per equality row: ``−λ`` (min) or ``λ`` (max)."""
    from workbench.compile.torch_form import RowSet

    sign = -1.0 if sense == "min" else 1.0
    out: dict[str, Any] = {}
    pos = 0
    for k, idx, _ in RowSet(cm.rows).eq:
        fam = cm.rows[k]
        vals = sign * lam[pos : pos + idx.size]
        pos += idx.size
        if fam.labels is None:
            out[fam.name] = float(vals[0])
        else:
            d = out.setdefault(fam.name, {})
            for i, v in zip(idx.tolist(), vals.tolist()):
                d[fam.labels[i]] = float(v)
    return out


def _row_names(cm: CompiledModel) -> list[str]:
    from workbench.compile.torch_form import RowSet

    names: list[str] = []
    for k, idx, _ in RowSet(cm.rows).eq:
        fam = cm.rows[k]
        for i in idx.tolist():
            names.append(fam.name if fam.labels is None else f"{fam.name}[{fam.labels[i]}]")
    return names


def outcome_result(
    out: EqOutcome, method: str, feas_tol: float = FEAS_TOL
) -> tuple[Termination, str]:
    """Termination and message of an outcome (the table, then the feasibility upgrade)."""
    term = termination(out.status)
    feasible = out.c_norm <= max(FEAS_TOL, feas_tol) and np.isfinite(out.f)
    if term is Termination.OPTIMAL and not feasible:
        return (
            Termination.ITERATION_LIMIT,
            f"KKT small but |c| = {out.c_norm:.3g} > {max(FEAS_TOL, feas_tol):g}",
        )
    if term is Termination.OPTIMAL:
        return term, f"{method}: {out.message}; a local optimum (global optimality is not proven)"
    if feasible and term in (Termination.ITERATION_LIMIT, Termination.TIME_LIMIT, Termination.ERROR) \
            and out.status not in ("eval_error", "diverged"):  # fmt: skip
        return Termination.FEASIBLE, f"{method}: feasible point, not converged ({out.message})"
    return term, f"{method}: {out.message}"


def _extra(out: EqOutcome, method: str) -> dict[str, Any]:
    d: dict[str, Any] = {"method": method, "native_status": out.status, "kkt_residual": out.kkt,
                         "constraint_violation": out.c_norm, "seconds": out.seconds}  # fmt: skip
    d.update(out.counters)
    for k, v in out.extra.items():
        d[k] = float(v) if isinstance(v, np.floating) else v
    return d


class AlSketchBackend:
    """Equality-constrained NLP by exact augmented Lagrangian + randomized sketching (Hong et al. 2023).

    Options (``SolveOptions.extra``) are the fields of
    :class:`~solvers.alsketch.options.AlSketchOptions`.  The model must have
    only equality constraints, free continuous variables and smooth
    expressions; anything else is refused with the reason.
    """

    name: ClassVar[str] = "alsketch"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LP, Capability.QP, Capability.NLP}
    )
    rank: ClassVar[int] = 90  # research backend: auto prefers scipy (25)

    @staticmethod
    def supports(cls: Classification) -> Availability:
        """Refuse integers and bilevel/robust models (inequalities and bounds are checked at solve)."""
        if cls.num_int_vars:
            return Availability(
                False, "alsketch solves continuous problems (this model has integers)"
            )
        if cls.problem_class not in (Capability.LP, Capability.QP, Capability.NLP):
            return Availability(False, f"alsketch takes LP/QP/NLP, not {cls.problem_class.value}")
        if cls.features.get("num_ineq", 0):
            return Availability(
                False,
                f"alsketch takes equality constraints only ({cls.features['num_ineq']} inequality rows)",
            )
        if not cls.features.get("free", True):
            return Availability(
                False, "alsketch takes free variables only (this model has variable bounds)"
            )
        return Availability(True)

    def available(self) -> Availability:
        """Whether torch is installed (derivatives come from autograd)."""
        return module_availability("torch", reason="exact torch derivatives")

    def solve(self, model: Model, options: SolveOptions) -> Result:
        """Check the model, compile it to torch, run the method, map the outcome.

        Raises
        ------
        OptionsError
            For an unknown or bad option.
        UnsupportedProblemError
            For inequalities, bounds, integers, bilevel/robust structure or
            non-smooth expressions (the message says which and why).
        """
        from solvers.alsketch.baselines import run_method
        from solvers.alsketch.options import alsketch_options
        from solvers.alsketch.problem import EqualityProblem
        from workbench.compile.structure import CompiledModel, compile_structure
        from workbench.compile.torch_form import TorchForm

        opts = alsketch_options(options.extra, options.time_limit)
        t0 = time.perf_counter()
        s = options.structure
        cm = s if isinstance(s, CompiledModel) else compile_structure(model)
        _check_model(cm)
        tf = TorchForm(cm, device=options.device)
        prob = EqualityProblem.from_torch_form(tf, names=_row_names(cm),
                                               linear_constraints=_affine(cm))  # fmt: skip
        build = time.perf_counter() - t0
        out = run_method(prob, opts, np.random.default_rng(options.seed))
        term, msg = outcome_result(out, opts.method, opts.feas_tol)
        if term is Termination.OPTIMAL:  # a KKT point: global only on a proven convex model
            from workbench.classification import classify_structure, local_optimum

            term, why = local_optimum(classify_structure(cm))
            msg = f"{msg}; {why}"
        sense = cm.objective.sense
        objective = -out.f if sense == "max" else out.f
        return Result(
            termination=term,
            objective=float(objective),
            values=tf.values_by_variable(out.x),
            duals=_duals(cm, out.lam, sense) if out.lam.size == prob.m else None,
            timings=Timings(build=build, solve=out.seconds),
            iterations=out.iterations,
            history=[(t, (-v if sense == "max" else v), k) for t, v, k in out.history],
            diagnostics=Diagnostics(
                warnings=list(out.warnings),
                native_status=out.status,
                message=msg,
                extra=_extra(out, opts.method),
            ),  # fmt: skip
            backend=self.name,
        )


def solve_equality(f: Any, c: Any, x0: Any, *, seed: int | None = None, device: str = "cpu",
                   time_limit: float | None = None, names: list[str] | None = None,
                   **options: Any) -> Result:  # fmt: skip
    """Solve ``min f(x) s.t. c(x) = 0`` given as Python callables (torch operations).

    Parameters
    ----------
    f, c
        ``f(x) -> scalar`` and ``c(x) -> (m,)`` (or a list), for a float64
        torch tensor ``x``; ``c=None`` for an unconstrained problem.
    x0
        Start point (array-like).
    seed
        Seed of the sketches.
    device
        Torch device of the evaluations.
    time_limit
        Seconds.
    names
        Constraint names (for diagnoses and ``duals``).
    **options
        Fields of :class:`~solvers.alsketch.options.AlSketchOptions`.

    Returns
    -------
    Result
        ``values["x"]`` is ``{i: x_i}``; ``duals["c"]`` is ``{i: λ_i}``, the
        multipliers of ``L = f + λᵀc``.
    """
    from solvers.alsketch.baselines import run_method
    from solvers.alsketch.options import alsketch_options
    from solvers.alsketch.problem import EqualityProblem

    opts = alsketch_options(options, time_limit)
    t0 = time.perf_counter()
    prob = EqualityProblem.from_callables(f, c, x0, device=device, names=names)
    build = time.perf_counter() - t0
    out = run_method(prob, opts, np.random.default_rng(seed))
    term, msg = outcome_result(out, opts.method, opts.feas_tol)
    return Result(
        termination=term,
        objective=float(out.f),
        values={"x": dict(enumerate(out.x.tolist()))},
        duals={"c": dict(enumerate(out.lam.tolist()))},
        timings=Timings(build=build, solve=out.seconds),
        iterations=out.iterations,
        history=list(out.history),
        diagnostics=Diagnostics(
            warnings=list(out.warnings),
            native_status=out.status,
            message=msg,
            extra=_extra(out, opts.method),
        ),  # fmt: skip
        backend="alsketch",
    )
