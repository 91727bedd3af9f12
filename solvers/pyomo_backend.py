"""The ``pyomo`` backend: any model, through whichever Pyomo solver is installed.

The model is compiled with :func:`workbench.compile.pyomo_form.compile_pyomo`
and handed to a Pyomo solver chosen with the option ``solver``:

- ``appsi_highs`` (the default for LP and MILP) runs through Pyomo's APPSI
  interface (``pyomo.contrib.appsi.solvers.Highs``), which reports the MIP
  bound and row duals directly.  It takes no quadratic objective, so a QP
  with the default solver goes to ``highs`` instead.
- Every other name (``highs``, ``ipopt``, ``cbc``, ``glpk``, ``scip``,
  ``gurobi``, ``bonmin``, ``couenne``...) runs through the legacy
  ``pyomo.environ.SolverFactory`` interface.

An NLP (or MINLP, or MIQP) with the default solver goes to ipopt (or
bonmin/couenne/scip) when one is installed; otherwise the backend raises
:class:`~workbench.errors.UnsupportedProblemError` naming what to install.
HiGHS never receives a nonlinear model.

Both interfaces' termination conditions are mapped to
:class:`~workbench.result.Termination` in one table, :data:`STATUS_MAP`
(built on first use, so importing this module does not import Pyomo).

Conventions
-----------
- ``objective`` is in the model's own sense; ``bound`` is the solver's
  proven bound where the interface reports one.
- ``duals`` (pure LPs) follow the ``highs`` backend: the rate of change of
  the optimal objective per unit increase of the row's active bound.
- A limit reached with a feasible point gives ``FEASIBLE`` (the native
  status still names the limit).
- ``OPTIMAL`` means proven globally optimal.  On a nonlinear model
  (NLP, MINLP, MIQP) a *local* solver's ``optimal`` or ``locallyOptimal``
  (ipopt, bonmin, knitro... see :data:`LOCAL_SOLVERS`) is ``OPTIMAL`` only
  when classification proves the model convex and smooth (for bonmin: its
  continuous relaxation, since its branch and bound is exact for convex
  MINLP); otherwise it is ``LOCALLY_OPTIMAL`` with the reason
  (:func:`verdict`).  The global solvers (:data:`GLOBAL_SOLVERS`: couenne,
  baron, scip, gurobi...) keep ``OPTIMAL``.  A solver in neither list counts
  as local.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import sys
import time
from collections.abc import Iterator
from functools import cache
from typing import Any, ClassVar

from solvers._linear import finite, unknown_option
from workbench.backends.base import Availability, Capability, SolveOptions
from workbench.classification import local_optimum
from workbench.convexity import GLOBAL_SOLVERS, LOCAL_SOLVERS
from workbench.errors import BackendUnavailableError, OptionsError, UnsupportedProblemError
from workbench.result import Diagnostics, Result, Termination, Timings

__all__ = [  # noqa: F822
    "GLOBAL_SOLVERS",
    "LOCAL_SOLVERS",
    "STATUS_MAP",
    "PROBED_SOLVERS",
    "PyomoBackend",
    "installed_solvers",
    "status_map",
    "verdict",
]

PROBED_SOLVERS = ("appsi_highs", "highs", "ipopt", "cbc", "glpk", "scip", "bonmin", "couenne")
"""The Pyomo solver names :func:`installed_solvers` probes."""

DEFAULT_SOLVER = "appsi_highs"

_CONVEX_MINLP_EXACT = frozenset({"bonmin", "mindtpy"})
"""Local solvers that are exact on MINLP with a convex continuous relaxation."""

_INSTALL_HINTS = {
    "appsi_highs": "pip install highspy",
    "highs": "pip install highspy",
    "ipopt": "an ipopt executable on PATH (or use backend 'scipy' for a local, 'scip' for a global optimum)",
    "cbc": "apt-get install coinor-cbc",
    "glpk": "apt-get install glpk-utils",
    "scip": "a scip executable on PATH (backend 'scip', from pip install pyscipopt, needs none)",
    "bonmin": "a bonmin executable on PATH (backend 'scip' solves MINLP globally: pip install pyscipopt)",
    "couenne": "a couenne executable on PATH (backend 'scip' solves MINLP globally: pip install pyscipopt)",
    "gurobi": "install Gurobi with a licence (pip install gurobipy)",
}

# Legacy ``pyomo.opt.TerminationCondition`` member name -> Termination.
_LEGACY: dict[str, Termination] = {
    "unknown": Termination.ERROR,
    "maxTimeLimit": Termination.TIME_LIMIT,
    "maxIterations": Termination.ITERATION_LIMIT,
    "minFunctionValue": Termination.INTERRUPTED,
    "minStepLength": Termination.ERROR,
    "globallyOptimal": Termination.OPTIMAL,
    "locallyOptimal": Termination.LOCALLY_OPTIMAL,
    "feasible": Termination.FEASIBLE,
    "optimal": Termination.OPTIMAL,
    "maxEvaluations": Termination.ITERATION_LIMIT,
    "other": Termination.ERROR,
    "unbounded": Termination.UNBOUNDED,
    "infeasible": Termination.INFEASIBLE,
    "infeasibleOrUnbounded": Termination.INFEASIBLE_OR_UNBOUNDED,
    "invalidProblem": Termination.ERROR,
    "intermediateNonInteger": Termination.INTERRUPTED,
    "noSolution": Termination.ERROR,
    "solverFailure": Termination.ERROR,
    "internalSolverError": Termination.ERROR,
    "error": Termination.ERROR,
    "userInterrupt": Termination.INTERRUPTED,
    "resourceInterrupt": Termination.INTERRUPTED,
    "licensingProblems": Termination.ERROR,
}

# APPSI ``pyomo.contrib.appsi.base.TerminationCondition`` member name -> Termination.
_APPSI: dict[str, Termination] = {
    "unknown": Termination.ERROR,
    "maxTimeLimit": Termination.TIME_LIMIT,
    "maxIterations": Termination.ITERATION_LIMIT,
    "objectiveLimit": Termination.INTERRUPTED,
    "minStepLength": Termination.ERROR,
    "optimal": Termination.OPTIMAL,
    "unbounded": Termination.UNBOUNDED,
    "infeasible": Termination.INFEASIBLE,
    "infeasibleOrUnbounded": Termination.INFEASIBLE_OR_UNBOUNDED,
    "error": Termination.ERROR,
    "interrupted": Termination.INTERRUPTED,
    "licensingProblems": Termination.ERROR,
}

_LIMITS = (Termination.TIME_LIMIT, Termination.ITERATION_LIMIT, Termination.INTERRUPTED)

# Common options -> each solver's own option name (legacy interface).
# Common options -> each solver's own names (legacy interface): time, gap, threads, seed.
_COMMON: dict[str, tuple[str | None, str | None, str | None, str | None]] = {
    "highs": ("time_limit", "mip_rel_gap", "threads", "random_seed"),
    "ipopt": ("max_cpu_time", None, None, None),
    "cbc": ("sec", "ratio", "threads", "randomSeed"),
    "glpk": ("tmlim", "mipgap", None, None),
    "scip": ("limits/time", "limits/gap", "lp/threads", "randomization/randomseedshift"),
    "gurobi": ("TimeLimit", "MIPGap", "Threads", "Seed"),
    "bonmin": ("bonmin.time_limit", "bonmin.allowable_fraction_gap", None, None),
    "couenne": ("bonmin.time_limit", "bonmin.allowable_fraction_gap", None, None),
}
_NLP_SOLVERS = ("ipopt", "bonmin", "couenne", "scip")
_MINLP_SOLVERS = ("bonmin", "couenne", "scip")
_HIGHS = ("appsi_highs", "highs")


def status_map() -> dict[Any, Termination]:
    """``STATUS_MAP``: every legacy and APPSI ``TerminationCondition`` member -> Termination.

    Raises
    ------
    KeyError
        If Pyomo has a termination condition this table does not know
        (the test catches it).
    """
    from pyomo.contrib.appsi.base import TerminationCondition as AppsiTC
    from pyomo.opt import TerminationCondition as LegacyTC

    table: dict[Any, Termination] = {m: _LEGACY[m.name] for m in LegacyTC}
    table.update({m: _APPSI[m.name] for m in AppsiTC})
    return table


def __getattr__(name: str) -> Any:
    # Keyed by Pyomo enum members, so built on first use (importing must not import Pyomo).
    if name == "STATUS_MAP":
        table = status_map()
        globals()["STATUS_MAP"] = table
        return table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def verdict(solver: str, cls: Any, term: Termination) -> tuple[Termination, str | None]:
    """Whether a solver's (locally) optimal answer is proven global, and the note to add.

    Parameters
    ----------
    solver
        The Pyomo solver name.
    cls
        The model's :class:`~workbench.classification.Classification`.
    term
        The mapped termination.

    Returns
    -------
    (Termination, str or None)
        Unchanged for other terminations, for linear and convex-QP classes
        and for :data:`GLOBAL_SOLVERS`; otherwise ``OPTIMAL`` only on a
        proven convex model, else ``LOCALLY_OPTIMAL`` with the reason.
    """
    if term not in (Termination.OPTIMAL, Termination.LOCALLY_OPTIMAL):
        return term, None
    nonlinear = cls.problem_class in (Capability.NLP, Capability.MINLP, Capability.MIQP)
    base = solver.lower().split("_")[0] if solver.lower().startswith("gurobi") else solver.lower()
    if not nonlinear or base in GLOBAL_SOLVERS:
        return term, None
    if cls.num_int_vars and base in _CONVEX_MINLP_EXACT:
        if cls.relaxation_convex is True and cls.smooth:
            return Termination.OPTIMAL, f"{solver} is exact on a convex MINLP"
        relaxed = copy.copy(cls)
        relaxed.convex = cls.relaxation_convex
        return local_optimum(relaxed)
    return local_optimum(cls)


def termination(tc: Any) -> Termination:
    """Map a Pyomo termination condition (legacy or APPSI) to a Termination."""
    table: dict[Any, Termination] = globals().get("STATUS_MAP") or __getattr__("STATUS_MAP")
    return table.get(tc, Termination.ERROR)


@contextlib.contextmanager
def _quiet_pyomo() -> Iterator[None]:
    """Silence Pyomo's warnings while probing solvers (missing executables log tracebacks)."""
    loggers = [logging.getLogger(n) for n in ("pyomo", "pyomo.opt", "pyomo.solvers")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _probe(name: str) -> Availability:
    try:
        if name == "appsi_highs":
            from pyomo.contrib.appsi.solvers import Highs

            opt: Any = Highs()
            if not opt.available():
                return Availability(False, f"highspy not usable; fix: {_INSTALL_HINTS[name]}")
            return Availability(True, version=".".join(str(p) for p in opt.version()))
        import pyomo.environ as pyo

        with _quiet_pyomo():
            opt = pyo.SolverFactory(name)
            ok = bool(opt.available(exception_flag=False))
        if not ok:
            hint = _INSTALL_HINTS.get(name, "install it where Pyomo can find it")
            return Availability(False, f"Pyomo solver {name!r} not found; fix: {hint}")
        version = None
        with contextlib.suppress(Exception), _quiet_pyomo():
            v = opt.version()
            version = ".".join(str(p) for p in v) if isinstance(v, tuple) else str(v)
        return Availability(True, version=version)
    except Exception as e:  # a probe never raises
        return Availability(
            False, f"Pyomo solver {name!r} could not be probed: {type(e).__name__}: {e}"
        )


@cache
def solver_availability(name: str) -> Availability:
    """Whether the Pyomo solver *name* can run here (cached per process)."""
    return _probe(name)


def installed_solvers() -> dict[str, Availability]:
    """Availability of the common Pyomo solvers (:data:`PROBED_SOLVERS`), cached."""
    return {name: solver_availability(name) for name in PROBED_SOLVERS}


def _check_extra(extra: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    solver = extra.get("solver")
    if solver is not None and (not isinstance(solver, str) or not solver):
        raise OptionsError(f"option 'solver' must be a Pyomo solver name, not {solver!r}")
    passthrough = {k: v for k, v in extra.items() if k != "solver"}
    for k, v in passthrough.items():
        if not isinstance(v, bool | int | float | str):
            raise OptionsError(
                f"Pyomo solver option {k!r}: expected a number, string or bool, not {type(v).__name__}"
            )
    return solver, passthrough


def _check_highs_options(options: dict[str, Any]) -> None:
    """Validate HiGHS option names and values against a scratch highspy instance."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    known = [a for a in dir(h.getOptions()) if not a.startswith("_")]
    for name, value in options.items():
        status, _ = h.getOptionType(name)
        if status == highspy.HighsStatus.kError:
            raise OptionsError(str(unknown_option("HiGHS", name, known)))
        try:
            ok = h.setOptionValue(name, value)
        except (TypeError, RuntimeError) as e:
            raise OptionsError(f"HiGHS option {name!r}: bad value {value!r} ({e})") from e
        if ok == highspy.HighsStatus.kError:
            raise OptionsError(f"HiGHS option {name!r}: bad value {value!r}")


def _missing(names: tuple[str, ...]) -> str:
    return "; ".join(f"{n}: {_INSTALL_HINTS.get(n, 'not installed')}" for n in names)


def choose_solver(requested: str | None, cls: Any) -> str:
    """The Pyomo solver to use for a problem of classification *cls*.

    Raises
    ------
    UnsupportedProblemError
        When HiGHS is asked for (or defaulted to) a nonlinear model and no
        nonlinear solver is installed, naming what to install.
    BackendUnavailableError
        When the requested solver is not installed.
    """
    pc = cls.problem_class
    nonlinear = pc in (Capability.NLP, Capability.MINLP, Capability.MIQP)
    quadratic = pc == Capability.QP
    if requested is None:
        if nonlinear:
            candidates = _MINLP_SOLVERS if cls.num_int_vars else _NLP_SOLVERS
            for name in candidates:
                if solver_availability(name).ok:
                    return name
            raise UnsupportedProblemError(
                f"the pyomo backend's default solver is HiGHS, which cannot solve a "
                f"{cls.summary()}; none of the Pyomo solvers {', '.join(candidates)} is "
                f"installed ({_missing(candidates)}). Install one, or use backend='scip' "
                "(global, pip install pyscipopt) or 'scipy' (local, continuous NLP)"
            )
        requested = "highs" if quadratic else DEFAULT_SOLVER
    if requested in _HIGHS and nonlinear:
        raise UnsupportedProblemError(
            f"HiGHS solves LP, MILP and convex QP only, not a {cls.summary()}; use "
            f"solver='ipopt' (install: {_INSTALL_HINTS['ipopt']}) or backend='scipy'"
        )
    if requested == "appsi_highs" and quadratic:
        requested = "highs"  # APPSI's HiGHS interface takes no quadratic objective
    av = solver_availability(requested)
    if not av.ok:
        raise BackendUnavailableError(f"Pyomo solver {requested!r} is not available: {av.reason}")
    return requested


class _LogBuffer:
    """Collects solver output (a logger handler and a text stream)."""

    def __init__(self, verbose: bool) -> None:
        self.buffer = io.StringIO()
        self.verbose = verbose

    def write(self, s: str) -> int:
        self.buffer.write(s)
        if self.verbose and sys.__stdout__ is not None:
            sys.__stdout__.write(s)
        return len(s)

    def flush(self) -> None:
        """Nothing to flush."""

    def logger(self) -> logging.Logger:
        lg = logging.getLogger(f"workbench.pyomo.{id(self)}")
        lg.handlers.clear()
        h = logging.StreamHandler(self)  # type: ignore[arg-type]
        h.setFormatter(logging.Formatter("%(message)s"))
        lg.addHandler(h)
        lg.setLevel(logging.INFO)
        lg.propagate = False
        return lg

    @property
    def text(self) -> str:
        return self.buffer.getvalue()


class PyomoBackend:
    """Any model class, through an installed Pyomo solver (HiGHS by default)."""

    name: ClassVar[str] = "pyomo"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LP, Capability.MILP, Capability.QP, Capability.NLP, Capability.MINLP}
    )
    rank: ClassVar[int] = 30

    def available(self) -> Availability:
        """Ok when Pyomo imports and ``appsi_highs`` is usable (Pyomo's and HiGHS's versions)."""
        try:
            import pyomo.version
        except ImportError as e:
            return Availability(False, f"pyomo is not installed ({e}); fix: pip install pyomo")
        av = solver_availability(DEFAULT_SOLVER)
        if not av.ok:
            return Availability(False, f"Pyomo {pyomo.version.version}: {av.reason}")
        return Availability(True, version=f"pyomo {pyomo.version.version}, HiGHS {av.version}")

    @staticmethod
    def installed_solvers() -> dict[str, Availability]:
        """See :func:`installed_solvers`."""
        return installed_solvers()

    def solve(self, model: Any, options: SolveOptions) -> Result:
        """Compile *model* to Pyomo and solve it with the chosen Pyomo solver.

        Parameters
        ----------
        model
            The IR model (not modified).
        options
            ``time_limit``, ``rel_gap``, ``threads``, ``seed`` and
            ``verbose`` are mapped per solver; ``extra['solver']`` picks the
            Pyomo solver; other ``extra`` keys go to the solver as its own
            options (checked against HiGHS's option list for the HiGHS solvers).

        Returns
        -------
        Result

        Raises
        ------
        OptionsError
            For a bad option.
        UnsupportedProblemError
            When the chosen solver cannot take the model's class.
        BackendUnavailableError
            When the requested Pyomo solver is not installed.
        """
        from workbench.classification import classify_structure
        from workbench.compile.pyomo_form import compile_pyomo
        from workbench.compile.structure import compile_structure

        requested, passthrough = _check_extra(options.extra)
        t0 = time.perf_counter()
        cm = options.structure or compile_structure(model)
        cls = classify_structure(cm)
        solver = choose_solver(requested, cls)
        if solver in _HIGHS:
            _check_highs_options(passthrough)
        is_lp = cls.problem_class == Capability.LP
        form = compile_pyomo(cm, duals=is_lp)
        build = time.perf_counter() - t0
        return self._run(form, cls, solver, passthrough, options, build, list(cm.warnings))

    def solve_linear(self, lf: Any, options: SolveOptions) -> Result:
        """Solve a matrix-form model (MPS/LP import) through Pyomo; see :meth:`solve`."""
        from workbench.classification import classify_linear_form
        from workbench.compile.pyomo_form import compile_pyomo_linear

        requested, passthrough = _check_extra(options.extra)
        t0 = time.perf_counter()
        cls = classify_linear_form(lf)
        solver = choose_solver(requested, cls)
        if solver in _HIGHS:
            _check_highs_options(passthrough)
        is_lp = cls.problem_class == Capability.LP
        form = compile_pyomo_linear(lf, duals=is_lp)
        build = time.perf_counter() - t0
        return self._run(form, cls, solver, passthrough, options, build, list(lf.warnings))

    @staticmethod
    def supports(cls: Any) -> Availability:
        """Whether an installed Pyomo solver can take a problem of classification *cls*."""
        try:
            name = choose_solver(None, cls)
        except (UnsupportedProblemError, BackendUnavailableError) as e:
            return Availability(False, str(e))
        return Availability(True, version=name)

    def _run(
        self,
        form: Any,
        cls: Any,
        solver: str,
        passthrough: dict[str, Any],
        options: SolveOptions,
        build: float,
        warnings: list[str],
    ) -> Result:
        timings = Timings(build=build)
        diag = Diagnostics(warnings=warnings)
        if form.infeasible_rows:
            diag.message = "rows without variables violate their bounds: " + ", ".join(
                form.infeasible_rows[:10]
            )
            diag.iis = form.infeasible_rows[:10]
            return Result(
                Termination.INFEASIBLE, timings=timings, diagnostics=diag, backend=self.name
            )
        is_lp = cls.problem_class == Capability.LP
        log = _LogBuffer(options.verbose)
        try:
            if solver == "appsi_highs":
                res = self._solve_appsi(form, options, passthrough, is_lp, timings, diag, log)
            else:
                res = self._solve_legacy(
                    solver, form, options, passthrough, is_lp, timings, diag, log
                )
        except Exception as e:  # a crash inside Pyomo or the solver is a value
            diag.message = f"Pyomo solver {solver!r} failed: {type(e).__name__}: {e}"
            res = Result(Termination.ERROR, timings=timings, diagnostics=diag)
        res.log = log.text
        res.backend = self.name
        res.termination, note = verdict(solver, cls, res.termination)
        if note is not None:
            res.diagnostics.message = note + (
                f" ({res.diagnostics.message})" if res.diagnostics.message else ""
            )
        return res

    # ----------------------------------------------------------------- APPSI
    def _solve_appsi(
        self,
        form: Any,
        options: SolveOptions,
        passthrough: dict[str, Any],
        is_lp: bool,
        timings: Timings,
        diag: Diagnostics,
        log: _LogBuffer,
    ) -> Result:
        from pyomo.contrib.appsi.base import TerminationCondition as TC
        from pyomo.contrib.appsi.solvers import Highs

        opt: Any = Highs()
        opt.config.load_solution = False
        opt.config.stream_solver = False
        opt.config.solver_output_logger = log.logger()
        opt.config.log_level = logging.INFO
        if options.time_limit is not None:
            opt.config.time_limit = float(options.time_limit)
        if options.rel_gap is not None:
            opt.config.mip_gap = float(options.rel_gap)
        hopts = dict(passthrough)
        if options.threads is not None:
            hopts.setdefault("threads", int(options.threads))
        if options.seed is not None:
            hopts.setdefault("random_seed", int(options.seed) % 2_147_483_647)
        opt.highs_options = hopts
        t1 = time.perf_counter()
        opt.set_instance(form.model)
        timings.load = time.perf_counter() - t1
        t2 = time.perf_counter()
        results = opt.solve(form.model)
        tc = results.termination_condition
        if tc == TC.infeasibleOrUnbounded and is_lp and "presolve" not in passthrough:
            opt.highs_options = {**hopts, "presolve": "off"}  # tell the two apart
            results = opt.solve(form.model)
            tc = results.termination_condition
        timings.solve = time.perf_counter() - t2
        highs = opt._solver_model
        native = highs.modelStatusToString(highs.getModelStatus())
        diag.native_status = f"{tc.name} (HiGHS: {native})"
        term = termination(tc)
        if tc == TC.unknown and native == "Model empty":
            term = Termination.OPTIMAL
        has_point = results.best_feasible_objective is not None
        if term in _LIMITS and has_point:
            diag.message = f"stopped ({tc.name}) with a feasible point"
            term = Termination.FEASIBLE
        res = Result(term, timings=timings, diagnostics=diag)
        if has_point or term is Termination.OPTIMAL:
            with contextlib.suppress(RuntimeError):
                results.solution_loader.load_vars()
                _fill_untouched(form.variables)
                res.values = form.values_by_variable()
                res.objective = finite(results.best_feasible_objective)
        res.bound = finite(results.best_objective_bound)
        if res.objective is not None and res.bound is not None:
            res.gap = abs(res.objective - res.bound) / max(1.0, abs(res.objective))
        if is_lp and term is Termination.OPTIMAL:
            with contextlib.suppress(RuntimeError):
                dual = form.model.component("dual")
                if dual is not None:
                    for con, val in opt.get_duals().items():
                        dual[con] = val
                    res.duals = form.duals_by_constraint()
        info = highs.getInfo()
        res.iterations = sum(
            max(0, int(getattr(info, k, 0)))
            for k in ("simplex_iteration_count", "ipm_iteration_count", "qp_iteration_count")
        )
        res.history = [(timings.solve, res.objective, res.bound)]
        return res

    # ---------------------------------------------------------------- legacy
    def _solve_legacy(
        self,
        solver: str,
        form: Any,
        options: SolveOptions,
        passthrough: dict[str, Any],
        is_lp: bool,
        timings: Timings,
        diag: Diagnostics,
        log: _LogBuffer,
    ) -> Result:
        import pyomo.environ as pyo
        from pyomo.opt import SolutionStatus

        opt: Any = pyo.SolverFactory(solver)
        solver_opts: dict[str, Any] = {}
        base = solver.split("_")[0] if solver.startswith(("gurobi", "cplex")) else solver
        names = _COMMON.get(base, (None, None, None, None))
        common = (options.time_limit, options.rel_gap, options.threads, options.seed)
        for what, key, value in zip(("time_limit", "rel_gap", "threads", "seed"), names, common):
            if value is not None and key is not None:
                solver_opts[key] = value
            elif value is not None:
                diag.warnings.append(f"{what}={value!r} has no known {solver} option; ignored")
        solver_opts.update(passthrough)
        t2 = time.perf_counter()
        with contextlib.redirect_stdout(log):  # type: ignore[type-var]
            results = opt.solve(form.model, tee=True, load_solutions=False, options=solver_opts)
        timings.solve = time.perf_counter() - t2
        tc = results.solver.termination_condition
        term = termination(tc)
        native = getattr(results.solver, "termination_message", None) or results.solver.status
        diag.native_status = f"{tc.name} ({native})"
        has_point = len(results.solution) > 0 and results.solution(0).status in (
            SolutionStatus.optimal,
            SolutionStatus.feasible,
            SolutionStatus.globallyOptimal,
            SolutionStatus.locallyOptimal,
            SolutionStatus.bestSoFar,
        )
        if term in _LIMITS and has_point:
            diag.message = f"stopped ({tc.name}) with a feasible point"
            term = Termination.FEASIBLE
        res = Result(term, timings=timings, diagnostics=diag)
        if len(results.solution) > 0 and (has_point or term.has_solution):
            form.model.solutions.load_from(results)
            _fill_untouched(form.variables)
            res.values = form.values_by_variable()
            res.objective = finite(pyo.value(form.objective, exception=False))
            if is_lp and term is Termination.OPTIMAL:
                res.duals = form.duals_by_constraint()
        lo, hi = finite(results.problem.lower_bound), finite(results.problem.upper_bound)
        res.bound = hi if form.objective.sense == pyo.maximize else lo
        if res.objective is not None and res.bound is not None:
            res.gap = abs(res.objective - res.bound) / max(1.0, abs(res.objective))
        res.history = [(timings.solve, res.objective, res.bound)]
        return res


def _fill_untouched(variables: list[Any]) -> None:
    """Give each variable the solver left without a value (no constraint or objective uses it)
    0 clipped to its bounds (rounded into them when it is integer), so no value is ``NaN``.

    Any such value is optimal: the variable appears nowhere, so it changes nothing.
    """
    import math

    for v in variables:
        if v.value is not None:
            continue
        lo = -math.inf if v.lb is None else float(v.lb)
        hi = math.inf if v.ub is None else float(v.ub)
        x = min(max(0.0, lo), hi)
        if v.is_integer() and not float(x).is_integer():
            x = float(math.ceil(lo)) if math.ceil(lo) <= hi else float(math.floor(hi))
        v.set_value(x, skip_validation=True)
