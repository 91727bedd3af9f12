"""The ``cpsat`` backend: pure-integer linear models with OR-Tools CP-SAT.

Every column must be integer with finite bounds and there is no quadratic
term.  CP-SAT needs integer coefficients: a row (or the objective) with
rational coefficients is multiplied by the smallest power of ten up to
``10**6`` that makes them integral within ``1e-9``; the row's bounds are
scaled alike and rounded inwards (the activity is integral).  Results are
reported in the model's own units.

Statuses are mapped in one table, :data:`STATUS_MAP`.  ``UNKNOWN`` (a limit
stopped the search before any solution) maps to ``TIME_LIMIT``; when no time
limit was given, or the search stopped well before it, it is reported as
``INTERRUPTED``.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from solvers._linear import (
    HistoryRecorder,
    LinearFormBackend,
    finite,
    relative_gap,
    unknown_option,
)
from workbench.backends.base import Availability, Capability, SolveOptions
from workbench.compile.linear_form import LinearForm
from workbench.errors import BackendUnavailableError, OptionsError, UnsupportedProblemError
from workbench.result import Diagnostics, Result, Termination, Timings

__all__ = ["STATUS_MAP", "CpSatBackend", "integer_scale", "status_map"]  # noqa: F822 (lazy)

MAX_SCALE_EXP = 6
"""Largest power of ten used to make coefficients integral."""

NAME_LIMIT = 100_000
"""Column count below which variables are given readable names."""

_STATUS_NAMES: dict[str, Termination] = {
    "UNKNOWN": Termination.TIME_LIMIT,
    "MODEL_INVALID": Termination.ERROR,
    "FEASIBLE": Termination.FEASIBLE,
    "INFEASIBLE": Termination.INFEASIBLE,
    "OPTIMAL": Termination.OPTIMAL,
}


def status_map() -> dict[Any, Termination]:
    """``STATUS_MAP``: every ``CpSolverStatus`` member -> :class:`Termination`."""
    from ortools.sat.python import cp_model

    return {m: _STATUS_NAMES[n] for n, m in cp_model.CpSolverStatus.__members__.items()}


def __getattr__(name: str) -> Any:
    # Keyed by OR-Tools enum members: built on first use so importing this
    # module does not import OR-Tools.
    if name == "STATUS_MAP":
        table = status_map()
        globals()["STATUS_MAP"] = table
        return table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def integer_scale(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per segment, the smallest ``k <= 6`` with ``values * 10**k`` integral, or -1.

    Parameters
    ----------
    values
        Concatenated coefficients (for example CSR ``data``).
    starts
        Segment boundaries (CSR ``indptr``); empty segments get ``k = 0``.

    Returns
    -------
    numpy.ndarray
        One exponent per segment; ``-1`` where no power of ten up to
        ``10**6`` makes the segment integral within ``1e-9``.
    """
    nseg = len(starts) - 1
    k = np.full(nseg, -1, dtype=np.int64)
    lengths = np.diff(starts)
    k[lengths == 0] = 0
    seg = np.repeat(np.arange(nseg), lengths)
    for e in range(MAX_SCALE_EXP + 1):
        scaled = values * 10.0**e
        bad = np.abs(scaled - np.round(scaled)) > 1e-9 * np.maximum(1.0, np.abs(scaled))
        bad_count = np.bincount(seg[bad], minlength=nseg) if nseg else np.zeros(0, int)
        k[(k < 0) & (bad_count == 0)] = e
    return k


def _check_supported(lf: LinearForm) -> None:
    if lf.Q is not None and sp.csr_matrix(lf.Q).nnz:
        raise UnsupportedProblemError(
            "CP-SAT solves linear pure-integer models; this one has a quadratic objective"
            " (use backend='highs' for convex QP)"
        )
    integ = np.asarray(lf.integrality, dtype=bool)
    if not integ.all():
        j = int(np.flatnonzero(~integ)[0])
        raise UnsupportedProblemError(
            f"CP-SAT needs every variable integer; {_col(lf, j)} is continuous"
            " (make it integer, or use backend='highs')"
        )
    unbounded = ~(np.isfinite(lf.col_lb) & np.isfinite(lf.col_ub))
    if unbounded.any():
        j = int(np.flatnonzero(unbounded)[0])
        side = "upper" if not np.isfinite(lf.col_ub[j]) else "lower"
        raise UnsupportedProblemError(
            f"CP-SAT needs finite bounds; {_col(lf, j)} has no {side} bound"
            f" (give it a finite {'ub' if side == 'upper' else 'lb'}, or use backend='highs')"
        )


def _col(lf: LinearForm, j: int) -> str:
    try:
        return f"variable {lf.col_name(j)}"
    except IndexError:
        return f"column {j}"


def _row(lf: LinearForm, i: int) -> str:
    try:
        return f"constraint {lf.row_name(i)}"
    except IndexError:
        return f"row {i}"


def apply_options(solver: Any, options: SolveOptions) -> None:
    """Set common options and validated ``extra`` SatParameters fields on *solver*.

    Raises
    ------
    ValueError
        For an unknown SatParameters field (with close names) or a bad value.
    """
    from ortools.sat import sat_parameters_pb2

    fields = sat_parameters_pb2.SatParameters.DESCRIPTOR.fields_by_name
    p = solver.parameters
    common: dict[str, Any] = {}
    if options.time_limit is not None:
        common["max_time_in_seconds"] = float(options.time_limit)
    if options.seed is not None:
        common["random_seed"] = int(options.seed) % 2_147_483_647
    if options.threads is not None:
        common["num_workers"] = int(options.threads)
    if options.rel_gap is not None:
        common["relative_gap_limit"] = float(options.rel_gap)
    for name, value in {**common, **options.extra}.items():
        if name not in fields:
            raise unknown_option("CP-SAT", name, fields.keys())
        if name in ("log_search_progress", "log_to_stdout"):
            raise OptionsError(f"CP-SAT option {name!r} is managed by the backend (use verbose=)")
        v = value
        if fields[name].enum_type is not None:
            enum_cls = type(getattr(p, name))
            try:
                v = enum_cls.__members__[value] if isinstance(value, str) else enum_cls(value)
            except (KeyError, ValueError, TypeError) as e:
                allowed = ", ".join(enum_cls.__members__)
                raise OptionsError(
                    f"CP-SAT option {name!r}: {value!r} is not one of {allowed}"
                ) from e
        try:
            setattr(p, name, v)
        except (TypeError, ValueError, AttributeError) as e:
            raise OptionsError(f"CP-SAT option {name!r}: bad value {value!r}") from e


class CpSatBackend(LinearFormBackend):
    """Pure-integer linear models with OR-Tools CP-SAT."""

    name: ClassVar[str] = "cpsat"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PURE_INTEGER})
    rank: ClassVar[int] = 20
    indicators: ClassVar[bool] = True
    """Indicator rows (``when``) become ``OnlyEnforceIf`` on the binary."""

    def available(self) -> Availability:
        """Whether OR-Tools' CP-SAT imports; its version."""
        try:
            import ortools
            from ortools.sat.python import cp_model  # noqa: F401
        except ImportError as e:
            return Availability(False, f"OR-Tools is not installed ({e}); fix: pip install ortools")
        return Availability(True, version=str(getattr(ortools, "__version__", "unknown")))

    def solve_linear(
        self, lf: LinearForm, options: SolveOptions, *, build_time: float = 0.0
    ) -> Result:
        """Solve a pure-integer LinearForm with CP-SAT.

        Raises
        ------
        UnsupportedProblemError
            For a continuous or unbounded column (named), a quadratic
            objective, or coefficients no power of ten up to ``10**6``
            makes integral (the row is named).
        ValueError
            For an unknown or badly valued SatParameters option.
        BackendUnavailableError
            If OR-Tools is not installed.
        """
        try:
            from ortools.sat.python import cp_model
        except ImportError as e:
            raise BackendUnavailableError(f"OR-Tools is not installed: {e}") from e
        _check_supported(lf)
        solver = cp_model.CpSolver()
        apply_options(solver, options)
        timings = Timings(build=build_time)
        t0 = time.perf_counter()
        model, obj_scale = _build(cp_model, lf)
        timings.load = time.perf_counter() - t0
        lines: list[str] = []
        try:
            return self._run(cp_model, solver, model, obj_scale, lf, options, timings, lines)
        except Exception as e:  # a crash inside OR-Tools is a value, not a traceback
            return Result(
                Termination.ERROR,
                timings=timings,
                diagnostics=Diagnostics(message=f"CP-SAT failed: {type(e).__name__}: {e}"),
                log="\n".join(lines),
                backend=self.name,
            )

    def _run(
        self,
        cp_model: Any,
        solver: Any,
        model: Any,
        obj_scale: float,
        lf: LinearForm,
        options: SolveOptions,
        timings: Timings,
        lines: list[str],
    ) -> Result:
        diag = Diagnostics(warnings=list(lf.warnings))
        invalid = model.validate()
        if invalid:
            diag.message = f"CP-SAT rejected the model: {invalid}"
            return Result(Termination.ERROR, timings=timings, diagnostics=diag, backend=self.name)

        sign_offset = float(lf.offset)

        def user(v: float) -> float:
            return float(v) / obj_scale + sign_offset

        def on_line(msg: str) -> None:
            lines.append(msg)
            if options.verbose:
                sys.stdout.write(msg + "\n")

        solver.parameters.log_search_progress = True
        solver.parameters.log_to_stdout = False
        solver.log_callback = on_line
        hist = HistoryRecorder()

        class _OnSolution(cp_model.CpSolverSolutionCallback):  # type: ignore[misc]
            def on_solution_callback(self) -> None:
                hist.add(
                    self.wall_time, user(self.objective_value), user(self.best_objective_bound)
                )

        t1 = time.perf_counter()
        status = solver.solve(model, _OnSolution())
        timings.solve = time.perf_counter() - t1
        term = _termination(status)
        diag.native_status = solver.status_name(status)
        if term is Termination.TIME_LIMIT:
            limit = options.time_limit
            if limit is None or solver.wall_time < 0.9 * limit:
                term = Termination.INTERRUPTED
        if term is Termination.ERROR:
            diag.message = f"CP-SAT returned {diag.native_status}"
        res = Result(term, timings=timings, diagnostics=diag, backend=self.name)
        if term.has_solution:
            x = np.asarray(solver.response_proto.solution, dtype=np.float64)[: lf.num_cols]
            res.values = lf.values_by_variable(x)
            res.objective = lf.objective_value(x)
            res.bound = user(solver.best_objective_bound)
            res.gap = 0.0 if term is Termination.OPTIMAL else relative_gap(res.objective, res.bound)
        elif term in (Termination.TIME_LIMIT, Termination.INTERRUPTED):
            res.bound = finite(user(solver.best_objective_bound))
        res.iterations = int(solver.num_branches)
        res.history = hist.finish(solver.wall_time, res.objective, res.bound)
        if term is Termination.INFEASIBLE:
            diag.message = "CP-SAT proved the model infeasible (no IIS; try backend='highs')"
        res.log = "\n".join(lines)
        return res


def _termination(status: Any) -> Termination:
    table: dict[Any, Termination] = globals().get("STATUS_MAP") or __getattr__("STATUS_MAP")
    return table.get(status, Termination.ERROR)


def _build(cp_model: Any, lf: LinearForm) -> tuple[Any, float]:
    """The CP-SAT model of *lf* and the objective's scale factor."""
    A = sp.csr_matrix(lf.A)
    A.sort_indices()
    k_rows = integer_scale(A.data, A.indptr)
    if (k_rows < 0).any():
        i = int(np.flatnonzero(k_rows < 0)[0])
        raise UnsupportedProblemError(
            f"CP-SAT needs integer coefficients; {_row(lf, i)} has coefficients that no power"
            f" of ten up to 1e{MAX_SCALE_EXP} makes integral (use backend='highs')"
        )
    c = np.asarray(lf.c, dtype=np.float64)
    k_obj = int(integer_scale(c, np.array([0, c.size]))[0])
    if k_obj < 0:
        raise UnsupportedProblemError(
            "CP-SAT needs integer objective coefficients; the objective's cannot be made"
            f" integral by a power of ten up to 1e{MAX_SCALE_EXP} (use backend='highs')"
        )
    model = cp_model.CpModel()
    lb = np.ceil(lf.col_lb - 1e-9).astype(np.int64)
    ub = np.floor(lf.col_ub + 1e-9).astype(np.int64)
    n = lf.num_cols
    names = lf.col_names() if n < NAME_LIMIT else []
    if len(names) != n:
        names = [f"x{j}" for j in range(n)]
    xs = np.empty(n, dtype=object)
    xs[:] = [model.new_int_var(int(a), int(b), s) for a, b, s in zip(lb, ub, names)]
    row_scale = 10.0**k_rows
    coef = np.round(A.data * np.repeat(row_scale, np.diff(A.indptr))).astype(np.int64)
    rlo = np.ceil(lf.row_lb * row_scale - 1e-9)
    rhi = np.floor(lf.row_ub * row_scale + 1e-9)
    indptr, indices = A.indptr, A.indices
    ind = lf.row_indicator
    for i in range(lf.num_rows):
        s, e = indptr[i], indptr[i + 1]
        lo = int(rlo[i]) if math.isfinite(rlo[i]) else cp_model.INT_MIN
        hi = int(rhi[i]) if math.isfinite(rhi[i]) else cp_model.INT_MAX
        expr = cp_model.LinearExpr.weighted_sum(list(xs[indices[s:e]]), coef[s:e].tolist())
        ct = model.add_linear_constraint(expr, lo, hi)
        if ind is not None and ind[i] >= 0:
            ct.only_enforce_if(xs[ind[i]])  # the row holds where its binary is 1
    scale = 10.0**k_obj
    cint = np.round(c * scale).astype(np.int64)
    nz = np.flatnonzero(cint)
    objective = cp_model.LinearExpr.weighted_sum(list(xs[nz]), cint[nz].tolist())
    if lf.sense == "max":
        model.maximize(objective)
    else:
        model.minimize(objective)
    return model, scale
