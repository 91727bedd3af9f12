"""The ``scip`` backend: LP, MILP, QP/MIQP/MIQCP and MINLP, solved globally by SCIP.

A model whose rows are linear and whose objective is at most quadratic goes
through the :class:`~workbench.compile.linear_form.LinearForm` (as MPS/LP
files do); any other goes through :func:`~solvers.scip.build.build_structure`,
which writes each nonlinear row as a SCIP expression.  SCIP branches
spatially on nonconvex terms, so its ``optimal`` is a proven global optimum.

Conventions
-----------
- ``OPTIMAL`` only when SCIP proves global optimality (status ``optimal``, or
  ``gaplimit`` with a zero gap); the status table is
  :data:`~solvers.scip.status.STATUS_MAP`.
- ``objective`` is the model's own objective evaluated at the returned point
  (offset included); ``bound`` is SCIP's global dual bound; ``gap`` is
  ``|objective - bound| / max(1, |objective|)``.
- A limit with an incumbent is ``FEASIBLE`` with objective, bound and gap;
  the native status names the limit.
- ``duals`` (pure LPs, solved with presolving off so that every row keeps
  its dual) follow the ``highs`` convention: the rate of change of the
  optimal objective per unit increase of the row's active bound.
- ``history`` holds SCIP's own ``(seconds, primal bound, dual bound)`` at each
  new incumbent and each improvement of the dual bound, and at the end.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from solvers._linear import HistoryRecorder, relative_gap, unknown_option
from solvers.scip.build import ScipForm, build_linear, build_structure
from solvers.scip.cancel import interrupt_on
from solvers.scip.capi import new_model
from solvers.scip.events import bound_value, history_handler
from solvers.scip.status import termination
from workbench.backends.base import (
    Availability,
    Capability,
    SolveOptions,
    stopped_before_start,
)
from workbench.compile.linear_form import LinearForm, split_blocks
from workbench.errors import (
    BackendUnavailableError,
    OptionsError,
    UnsupportedProblemError,
    WorkbenchError,
)
from workbench.result import Diagnostics, Result, Termination, Timings

__all__ = ["ScipBackend", "check_params"]

_NO_ANSWER = (Termination.INFEASIBLE, Termination.UNBOUNDED, Termination.INFEASIBLE_OR_UNBOUNDED)
_SEED_MAX = 2_147_483_647
_SAME_OBJECTIVE = 1e-5
"""Relative objective window within which a more accurate stored solution is preferred."""
_VIOL_FLOOR = 1e-9
"""A best point violating the model's rows by no more than this is kept as it is."""


def _extra_params(extra: dict[str, Any]) -> dict[str, Any]:
    """The ``params`` dict from the backend options; any other key is an error."""
    for key in extra:
        if key != "params":
            raise unknown_option("scip backend", key, ["params"])
    params = extra.get("params") or {}
    if not isinstance(params, dict):
        raise OptionsError(
            f"scip option 'params' must be a dict of SCIP parameters, not {type(params).__name__}"
        )
    return params


def check_params(m: Any, params: dict[str, Any]) -> None:
    """Set each SCIP parameter in *params* on *m*, or say which one is wrong.

    Raises
    ------
    OptionsError
        For an unknown parameter (with close names) or a value SCIP refuses.
    """
    known: list[str] | None = None
    for name, value in params.items():
        if not isinstance(name, str):
            raise OptionsError(
                f"SCIP parameter names are strings such as 'limits/nodes', not {name!r}"
            )
        try:
            m.getParam(name)
        except KeyError:
            known = known if known is not None else list(m.getParams())
            raise unknown_option("SCIP", name, known) from None
        if not isinstance(value, bool | int | float | str):
            raise OptionsError(
                f"SCIP parameter {name!r}: expected a number, string or bool, not {type(value).__name__}"
            )
        try:
            m.setParam(name, value)
        except (ValueError, TypeError, LookupError) as e:
            raise OptionsError(
                f"SCIP parameter {name!r}: bad value {value!r} (SCIP says: {str(e).splitlines()[0]})"
            ) from e


def _new_model(options: SolveOptions, params: dict[str, Any], log: Path, lp: bool) -> Any:
    """A SCIP model with the common options and *params* set; output goes to *log*."""
    import pyscipopt

    m = new_model() or pyscipopt.Model()  # new_model: without holding the GIL
    m.hideOutput(not options.verbose)
    m.setLogfile(str(log))
    if options.time_limit is not None:
        if not options.time_limit > 0:
            raise OptionsError(f"time_limit must be positive seconds, not {options.time_limit!r}")
        m.setParam("limits/time", float(options.time_limit))
    if options.rel_gap is not None:
        if not options.rel_gap >= 0:
            raise OptionsError(f"rel_gap must be >= 0, not {options.rel_gap!r}")
        m.setParam("limits/gap", float(options.rel_gap))
    if options.seed is not None:
        seed = int(options.seed) % _SEED_MAX
        m.setParam("randomization/randomseedshift", seed)
        m.setParam("randomization/lpseed", seed)
        m.setParam("randomization/permutationseed", seed)
    if lp:  # the root LP's duals stay those of the model's rows: nothing fixes or adds rows
        off = pyscipopt.SCIP_PARAMSETTING.OFF  # type: ignore[attr-defined]
        m.setPresolve(off)
        m.setHeuristics(off)
        m.setSeparating(off)
        m.disablePropagation()
    if options.feas_tol is not None and _FEASTOL not in params:
        m.setParam(_FEASTOL, float(options.feas_tol))  # the model asks for it (solve's hint)
    check_params(m, params)
    return m


_FEASTOL = "numerics/feastol"
_TIGHT_FEASTOL = 1e-9
_GAP_WORDS = "this far from"


def _loose_proof(res: Result) -> bool:
    """An ``optimal`` whose bound and the point's re-evaluated objective differ by more
    than 1e-6 relative (1e-9 absolute near zero): SCIP's proof leaned on its tolerances."""
    if res.termination is not Termination.OPTIMAL or res.objective is None or res.bound is None:
        return False
    return abs(res.objective - res.bound) > max(1e-6 * abs(res.objective), 1e-9)


_GAP_CONVENTION = 1e-4
"""The relative gap within which a proof that leaned on SCIP's tolerances still counts:
the default MIP gap of HiGHS, CPLEX and Gurobi (with 1e-9 absolute near zero).  Not an
absolute 1e-6: that called a 35-asset portfolio (variance 2.75e-4) optimal 0.1 % above
its optimum."""


def _within_convention(res: Result) -> bool:
    """The point's objective and SCIP's bound meet within :data:`_GAP_CONVENTION`."""
    assert res.objective is not None and res.bound is not None
    return abs(res.objective - res.bound) <= max(_GAP_CONVENTION * abs(res.objective), 1e-9)


def _read_log(m: Any, path: Path) -> str:
    with contextlib.suppress(Exception):
        m.setLogfile(None)  # flush and close
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


class ScipBackend:
    """LP, MILP, convex and nonconvex QP/MIQP/MIQCP, NLP and MINLP with SCIP (pyscipopt)."""

    name: ClassVar[str] = "scip"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.LP,
            Capability.MILP,
            Capability.QP,
            Capability.MIQP,
            Capability.NLP,
            Capability.MINLP,
            Capability.PURE_INTEGER,
        }
    )
    rank: ClassVar[int] = 22
    """After ``highs`` (10) and ``cpsat`` (20) for what they take; before ``scipy`` (25)
    and ``pyomo`` (30), so MIQP, nonconvex QP and MINLP come here."""
    cancellable: ClassVar[bool] = True
    """It honours ``SolveOptions.cancel`` (:func:`~solvers.scip.cancel.interrupt_on`)."""
    indicators: ClassVar[bool] = True
    """Indicator rows (``when``) become SCIP indicator constraints (:func:`add_indicator`)."""

    def available(self) -> Availability:
        """Whether pyscipopt (with its bundled SCIP) imports; both versions."""
        try:
            import pyscipopt
        except ImportError as e:
            return Availability(
                False, f"pyscipopt is not installed ({e}); fix: pip install 'pyscipopt>=5'"
            )
        try:
            scip = pyscipopt.Model().version()
        except Exception as e:  # a broken SCIP library
            return Availability(False, f"pyscipopt imports but SCIP does not start: {e}")
        version = getattr(pyscipopt, "__version__", "?")
        return Availability(True, version=f"pyscipopt {version}, SCIP {scip}")

    def solve(self, model: Any, options: SolveOptions) -> Result:
        """Solve an IR model with SCIP.

        Parameters
        ----------
        model
            The IR model (not modified); ``options.structure`` is reused
            when it belongs to *model*.
        options
            ``time_limit`` (``limits/time``), ``rel_gap`` (``limits/gap``),
            ``seed`` (``randomization/randomseedshift``, ``lpseed`` and
            ``permutationseed``), ``threads`` (accepted; SCIP solves on one
            thread, and the result says so when more are asked for),
            ``verbose``; ``extra['params']`` is a dict of SCIP parameters
            (``{"limits/nodes": 1000}``), each validated, applied last.

        Returns
        -------
        Result
            Never raises for a solver outcome or crash.

        Raises
        ------
        OptionsError
            For an unknown option or SCIP parameter, or a bad value.
        ModelError
            If the model does not compile.
        UnsupportedProblemError
            For a bilevel or two-stage robust model.
        """
        from workbench.compile.affine import degree
        from workbench.compile.linear import linear_form_from_structure
        from workbench.compile.structure import compile_structure

        params = _extra_params(options.extra)
        t0 = time.perf_counter()
        structure = options.structure
        cm = structure if getattr(structure, "model", None) is model else compile_structure(model)
        if cm.model.lower_level is not None or cm.model.robust is not None:
            kind = "bilevel" if cm.model.lower_level is not None else "two-stage robust"
            raise UnsupportedProblemError(
                f"the scip backend solves single-level models, not a {kind} one; "
                "use a bilevel or robust backend (see `workbench backends`)"
            )
        if degree(cm.objective.plan) <= 2 and all(degree(f.plan) <= 1 for f in cm.rows):
            lf = linear_form_from_structure(cm, indicators=True)  # SCIP takes them natively
            return self.solve_linear(lf, options, build_time=time.perf_counter() - t0)
        build = time.perf_counter() - t0
        return self._solve(
            lambda m: build_structure(m, cm), options, params, build, list(cm.warnings), lp=False
        )

    def solve_linear(
        self, lf: LinearForm, options: SolveOptions, *, build_time: float = 0.0
    ) -> Result:
        """Solve a matrix-form model (MPS/LP import, or a linear/quadratic IR model); see :meth:`solve`."""
        params = _extra_params(options.extra)
        lp = not lf.is_mip and (lf.Q is None or lf.Q.nnz == 0)
        return self._solve(
            lambda m: build_linear(m, lf), options, params, build_time, list(lf.warnings), lp=lp
        )

    def _solve(
        self,
        load: Callable[[Any], ScipForm],
        options: SolveOptions,
        params: dict[str, Any],
        build: float,
        warnings: list[str],
        *,
        lp: bool,
    ) -> Result:
        try:
            import pyscipopt  # noqa: F401
        except ImportError as e:
            raise BackendUnavailableError(f"pyscipopt is not installed: {e}") from e
        timings = Timings(build=build)
        diag = Diagnostics(warnings=warnings)
        if options.threads is not None and options.threads > 1:
            diag.warnings.append(
                f"threads={options.threads} ignored: this SCIP build solves on one thread"
            )
        t0 = time.perf_counter()
        res = self._attempt(load, options, params, timings, diag, lp)
        cancelled = options.cancel is not None and options.cancel.is_set()
        if (
            _loose_proof(res)
            and _FEASTOL not in params
            and options.feas_tol is None
            and not cancelled
        ):
            res = self._tighter(res, load, options, params, lp, time.perf_counter() - t0)
        if _loose_proof(res) and not _within_convention(res):
            res.termination = Termination.FEASIBLE
            res.diagnostics.message = (
                f"SCIP said optimal, but its bound {res.bound:.10g} is {_GAP_WORDS} the point's "
                f"true objective {res.objective:.10g}: not proven (tighten {_FEASTOL})"
            )
        res.backend = self.name
        return res

    def _tighter(
        self,
        res: Result,
        load: Callable[[Any], ScipForm],
        options: SolveOptions,
        params: dict[str, Any],
        lp: bool,
        spent: float,
    ) -> Result:
        """Solve again with a tighter feasibility tolerance after a loose proof.

        SCIP's absolute feasibility tolerance can let its bound cross the true value
        (a small nonlinear objective). The second solve gets the time left, at most
        ``max(5 s, the first solve's time)``; its answer is kept when it proves optimality,
        otherwise the first stands (``optimal`` only within :data:`_GAP_CONVENTION`).
        """
        left = None if options.time_limit is None else options.time_limit - spent
        cap = max(5.0, spent)
        budget = cap if left is None else min(left, cap)
        if budget <= 0.1:
            return res
        first = {"objective": res.objective, "bound": res.bound}
        again = self._attempt(
            load, replace(options, time_limit=budget), {**params, _FEASTOL: _TIGHT_FEASTOL},
            Timings(build=0.0), Diagnostics(warnings=list(res.diagnostics.warnings)), lp,
        )  # fmt: skip
        note = (
            f"SCIP proved optimality with its bound {first['bound']:.10g} {_GAP_WORDS} the "
            f"point's true objective {first['objective']:.10g}; solved again with "
            f"{_FEASTOL}={_TIGHT_FEASTOL:g}"
        )
        if again.termination is not Termination.OPTIMAL:
            res.diagnostics.warnings.append(
                f"{note}, which ended {again.termination.value} within {budget:.3g} s: "
                "the first answer stands"
            )
            res.timings.solve += again.timings.load + again.timings.solve
            return res
        again.timings.build = res.timings.build
        again.timings.load += res.timings.load
        again.timings.solve += res.timings.solve
        again.diagnostics.extra["loose_first_solve"] = first
        again.diagnostics.warnings.append(note)
        return again

    def _attempt(
        self,
        load: Callable[[Any], ScipForm],
        options: SolveOptions,
        params: dict[str, Any],
        timings: Timings,
        diag: Diagnostics,
        lp: bool,
    ) -> Result:
        with tempfile.TemporaryDirectory(prefix="workbench-scip-") as tmp:
            log_path = Path(tmp) / "scip.log"
            m = _new_model(options, params, log_path, lp)  # OptionsError before any work
            try:
                res = self._run(m, load, timings, diag, lp, options)
            except WorkbenchError:
                raise
            except Exception as e:  # a crash inside SCIP is a value, not a traceback
                diag.message = f"SCIP failed: {type(e).__name__}: {e}"
                res = Result(Termination.ERROR, timings=timings, diagnostics=diag)
            res.log = _read_log(m, log_path)
        return res

    def _run(
        self,
        m: Any,
        load: Callable[[Any], ScipForm],
        timings: Timings,
        diag: Diagnostics,
        lp: bool,
        options: SolveOptions,
    ) -> Result:
        t1 = time.perf_counter()
        form = load(m)
        timings.load = time.perf_counter() - t1
        if form.infeasible_rows:
            diag.message = "rows without variables violate their bounds: " + ", ".join(
                form.infeasible_rows[:10]
            )
            diag.iis = form.infeasible_rows[:10]
            diag.native_status = "infeasible (constant rows)"
            return Result(Termination.INFEASIBLE, timings=timings, diagnostics=diag)
        hist = HistoryRecorder()
        m.includeEventhdlr(
            history_handler(hist), "workbench_history", "records the anytime history"
        )
        cancel = options.cancel
        if stopped_before_start(cancel):
            diag.native_status = "not started"
            diag.message = "cancelled before the solve started"
            return Result(Termination.INTERRUPTED, timings=timings, diagnostics=diag)
        t2 = time.perf_counter()
        # without the GIL: other Python threads (a batch's watchdog, the app's server, a
        # solver beside it) keep running; the history handler takes the GIL when it fires.
        # With optimize() a thread ticking every 10 ms got 14 ticks in a 5 s solve.
        with interrupt_on(m, cancel):
            m.optimizeNogil()
        timings.solve = time.perf_counter() - t2

        native = str(m.getStatus())
        diag.native_status = native
        has_point = m.getNSols() > 0
        term = termination(
            native, has_point=has_point, gap=float(m.getGap()) if has_point else None
        )
        res = Result(term, timings=timings, diagnostics=diag)
        if term is Termination.ERROR and native == "optimal":
            diag.message = "SCIP reported 'optimal' without a solution"
        elif term is Termination.FEASIBLE:
            diag.message = f"stopped ({native}) with a feasible point"
        if has_point and term not in _NO_ANSWER:
            x = _best_point(m, form)
            res.values = form.values_by_variable(x)
            value = form.objective_value(x)
            res.objective = value if math.isfinite(value) else bound_value(m, m.getPrimalbound())
        if term not in _NO_ANSWER:
            res.bound = bound_value(m, m.getDualbound())
            res.gap = relative_gap(res.objective, res.bound)
        if lp and term is Termination.OPTIMAL and res.values:
            res.duals = _duals(m, form, x)
            if res.duals is None:
                diag.warnings.append("SCIP's row duals did not pass the optimality check; left out")
        res.iterations = int(m.getNLPIterations())
        diag.extra["nodes"] = int(m.getNNodes())
        primal = bound_value(m, m.getPrimalbound()) if has_point else None
        res.history = hist.finish(float(m.getSolvingTime()), primal, res.bound)
        return res


def _point(m: Any, form: ScipForm, sol: Any) -> np.ndarray:
    x = np.array([m.getSolVal(sol, v) for v in form.variables], dtype=np.float64) + 0.0
    x[form.integer] = np.round(x[form.integer])
    return x


def _best_point(m: Any, form: ScipForm) -> np.ndarray:
    """SCIP's best solution; for nonlinear rows, a more accurate one if it is as good.

    SCIP accepts a point that violates a nonlinear row by up to its
    feasibility tolerance (1e-6), and such a point can beat an accurate one
    (found by its NLP heuristic) by about that much.  When the best point
    violates the model's own rows by more than :data:`_VIOL_FLOOR`, the stored
    solutions whose objective is within :data:`_SAME_OBJECTIVE` (relative) of
    it and whose violation is at least ten times smaller are preferred; of
    those, the one with the best objective.
    """
    x = _point(m, form, m.getBestSol())
    sols = m.getSols()
    if form.violation is None or len(sols) < 2:
        return x
    viol = form.violation(x)
    if viol <= _VIOL_FLOOR:
        return x
    ref = float(m.getSolObjVal(sols[0]))
    tol = _SAME_OBJECTIVE * max(1.0, abs(ref))
    sign = -1.0 if m.getObjectiveSense() == "maximize" else 1.0
    best: tuple[float, np.ndarray] | None = None
    for sol in sols[1:]:
        if abs(float(m.getSolObjVal(sol)) - ref) > tol:
            break
        y = _point(m, form, sol)
        if form.violation(y) * 10.0 <= viol:
            key = sign * form.objective_value(y)
            if best is None or key < best[0]:
                best = (key, y)
    return x if best is None else best[1]


def _duals(m: Any, form: ScipForm, x: np.ndarray) -> dict[str, Any] | None:
    """Row duals by family and label (0 for rows left out), or ``None`` if SCIP has none.

    The duals are checked against the LP's optimality conditions at *x*
    (reduced-cost signs and complementary slackness); ``None`` when they fail.
    """
    lf = form.linear_form
    try:
        rows = form.row_constraints()
        y = np.zeros(sum(b.size for b, _ in rows))
        for block, conss in rows:
            for k, c in enumerate(conss):
                if c is not None:
                    y[block.start + k] = float(m.getDualSolVal(c))
    except Exception:  # SCIP keeps no dual for this run
        return None
    if lf is None or not _dual_optimal(lf, x, y):
        return None
    return split_blocks(y + 0.0, [block for block, _ in rows])


def _dual_optimal(lf: LinearForm, x: np.ndarray, y: np.ndarray, tol: float = 1e-6) -> bool:
    """Whether row duals *y* (sensitivity convention) certify *x* optimal for the LP *lf*."""
    s = -1.0 if lf.sense == "max" else 1.0
    rc = s * (np.asarray(lf.c, dtype=float) - lf.A.T @ y)  # reduced costs of the min form
    sy = s * y
    scale = tol * (1.0 + np.abs(lf.c).max(initial=0.0) + np.abs(y).max(initial=0.0))
    ax = lf.A @ x
    at_lb = np.isclose(x, lf.col_lb, rtol=0, atol=1e-7)
    at_ub = np.isclose(x, lf.col_ub, rtol=0, atol=1e-7)
    cols_ok = np.where(
        at_lb & at_ub,
        True,
        np.where(at_lb, rc >= -scale, np.where(at_ub, rc <= scale, np.abs(rc) <= scale)),
    )
    r_lb = np.isclose(ax, lf.row_lb, rtol=0, atol=1e-7 * (1 + np.abs(ax)))
    r_ub = np.isclose(ax, lf.row_ub, rtol=0, atol=1e-7 * (1 + np.abs(ax)))
    rows_ok = np.where(
        r_lb & r_ub,
        True,
        np.where(r_lb, sy >= -scale, np.where(r_ub, sy <= scale, np.abs(sy) <= scale)),
    )
    return bool(cols_ok.all() and rows_ok.all())
