"""The ``highs`` backend: LP, MILP and convex QP through highspy.

The model arrives as a :class:`~workbench.compile.linear_form.LinearForm`
and is passed to HiGHS in one vectorised ``passModel`` call
(:func:`workbench.compile.mps.load_into_highs`).  HiGHS's statuses are
mapped in one table, :data:`STATUS_MAP`; its log is captured through the
logging callback into ``Result.log`` (and echoed only when ``verbose``).

Conventions
-----------
- ``objective`` includes the offset and is in the model's own sense.
- ``bound`` is HiGHS's MIP dual bound (for an LP solved to optimality, the
  objective itself).
- ``duals`` (pure LPs only) are HiGHS's row duals: the rate of change of the
  optimal objective, *in the model's sense*, per unit increase of the row's
  active bound.  A binding ``<=`` row has a dual <= 0 when minimising and
  >= 0 when maximising; a non-binding row has dual 0.
- When a time, iteration or interrupt limit stops HiGHS with a feasible
  point, the termination is ``FEASIBLE`` (the native status still says
  which limit); without a point it is the mapped limit.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
from typing import Any, ClassVar

import numpy as np

from solvers._linear import (
    HistoryRecorder,
    LinearFormBackend,
    compile_model,
    finite,
    relative_gap,
    unknown_option,
)
from workbench.backends.base import (
    Availability,
    Capability,
    SolveOptions,
    stopped_before_start,
)
from workbench.compile.linear_form import LinearForm
from workbench.compile.mps import load_into_highs
from workbench.errors import BackendUnavailableError, OptionsError
from workbench.result import Diagnostics, Result, Termination, Timings

__all__ = ["IIS_LIMIT", "STATUS_MAP", "HighsBackend", "status_map"]  # noqa: F822 (lazy)

IIS_LIMIT = 200_000
"""Largest ``rows + columns`` for which an IIS is computed automatically."""

_STATUS_NAMES: dict[str, Termination] = {
    "kNotset": Termination.ERROR,
    "kLoadError": Termination.ERROR,
    "kModelError": Termination.ERROR,
    "kPresolveError": Termination.ERROR,
    "kSolveError": Termination.ERROR,
    "kPostsolveError": Termination.ERROR,
    "kModelEmpty": Termination.OPTIMAL,
    "kOptimal": Termination.OPTIMAL,
    "kInfeasible": Termination.INFEASIBLE,
    "kUnboundedOrInfeasible": Termination.INFEASIBLE_OR_UNBOUNDED,
    "kUnbounded": Termination.UNBOUNDED,
    "kObjectiveBound": Termination.INTERRUPTED,
    "kObjectiveTarget": Termination.FEASIBLE,
    "kTimeLimit": Termination.TIME_LIMIT,
    "kIterationLimit": Termination.ITERATION_LIMIT,
    "kUnknown": Termination.ERROR,
    "kSolutionLimit": Termination.INTERRUPTED,
    "kInterrupt": Termination.INTERRUPTED,
    "kMemoryLimit": Termination.ERROR,
    "kHighsInterrupt": Termination.INTERRUPTED,
}


def status_map() -> dict[Any, Termination]:
    """``STATUS_MAP``: every ``highspy.HighsModelStatus`` member -> :class:`Termination`.

    Raises
    ------
    KeyError
        If highspy has a status this table does not know (the test catches it).
    """
    import highspy

    return {
        member: _STATUS_NAMES[name] for name, member in highspy.HighsModelStatus.__members__.items()
    }


def __getattr__(name: str) -> Any:
    # STATUS_MAP is keyed by highspy enum members, so it is built on first use:
    # importing this module must not import highspy.
    if name == "STATUS_MAP":
        table = status_map()
        globals()["STATUS_MAP"] = table
        return table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_LIMITS = (Termination.TIME_LIMIT, Termination.ITERATION_LIMIT, Termination.INTERRUPTED)
_RESERVED = {"output_flag", "log_to_console", "log_file"}


def _known_options(h: Any) -> list[str]:
    return [a for a in dir(h.getOptions()) if not a.startswith("_")]


def apply_options(h: Any, options: SolveOptions, lines: list[str] | None = None) -> None:
    """Set the common options and validated ``extra`` HiGHS options on *h*.

    *lines* is the captured log, used to quote HiGHS's reason for a bad value.

    Raises
    ------
    ValueError
        For an unknown HiGHS option (with close names) or a bad value.
    """
    import highspy

    ok = highspy.HighsStatus.kError
    lines = [] if lines is None else lines
    common: dict[str, Any] = {}
    if options.time_limit is not None:
        common["time_limit"] = float(options.time_limit)
    if options.rel_gap is not None:
        common["mip_rel_gap"] = float(options.rel_gap)
    if options.seed is not None:
        common["random_seed"] = int(options.seed) % 2_147_483_647
    if options.threads is not None:
        common["threads"] = int(options.threads)
    known = _known_options(h)
    for name, value in {**common, **options.extra}.items():
        if name in _RESERVED:
            raise OptionsError(f"HiGHS option {name!r} is managed by the backend (use verbose=)")
        status, _ = h.getOptionType(name)
        if status == ok:
            raise unknown_option("HiGHS", name, known)
        before = len(lines)
        try:
            status = h.setOptionValue(name, value)
        except (TypeError, RuntimeError) as e:
            raise OptionsError(f"HiGHS option {name!r}: bad value {value!r} ({e})") from e
        if status == ok:
            why = " ".join(ln.replace("ERROR:", "").strip() for ln in lines[before:])
            raise OptionsError(
                f"HiGHS option {name!r}: bad value {value!r}" + (f": {why}" if why else "")
            )


class _Capture:
    """HiGHS's log: through the logging callback, and while HiGHS runs, unless verbose,
    through a log file (:meth:`quiet`).

    A callback is a call into Python that must take the GIL, and HiGHS logs a line
    every few milliseconds: beside another thread holding the GIL (a raced solver's
    build) each line waited up to Python's switch interval.  The callback stays on
    while options are set, so that an option's error can be quoted at once.
    """

    def __init__(self, h: Any, verbose: bool) -> None:
        self.h = h
        self.lines: list[str] = []
        self.verbose = verbose
        self._path: str | None = None
        h.setOptionValue("output_flag", True)
        h.setOptionValue("log_to_console", True)  # the callback fires only with this on
        h.cbLogging.subscribe(self._on_log)

    def _on_log(self, event: Any) -> None:
        msg = str(event.message)
        self.lines.append(msg)
        if self.verbose:
            sys.stdout.write(msg)

    def quiet(self) -> None:
        """From now on log to a temporary file instead of the callback (not when verbose)."""
        if self.verbose or self._path is not None:
            return
        try:
            fd, path = tempfile.mkstemp(prefix="workbench-highs-", suffix=".log")
        except OSError:  # no writable temporary directory: the callback goes on
            return
        os.close(fd)
        import highspy

        if self.h.setOptionValue("log_file", path) == highspy.HighsStatus.kError:
            with contextlib.suppress(OSError):
                os.unlink(path)
            return
        self._path = path
        self.h.cbLogging.unsubscribe(self._on_log)
        self.h.setOptionValue("log_to_console", False)

    def close(self) -> None:
        """Take the log file's lines in, and remove the file."""
        if self._path is None:
            return
        text = self._file_text()
        self.h.setOptionValue("log_file", "")  # HiGHS closes the file
        with contextlib.suppress(OSError):
            os.unlink(self._path)
        self._path = None
        self.lines.append(text)

    def _file_text(self) -> str:
        if self._path is None:
            return ""
        try:
            with open(self._path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    @property
    def text(self) -> str:
        """The log so far."""
        return "".join(self.lines) + self._file_text()

    def errors(self) -> str:
        found = [
            ln.strip().removeprefix("ERROR:").strip()
            for ln in self.text.splitlines()
            if ln.lstrip().startswith("ERROR")
        ]
        return "; ".join(found)


def _name(lf: LinearForm, i: int, *, row: bool) -> str:
    try:
        return lf.row_name(i) if row else lf.col_name(i)
    except IndexError:
        return f"{'row' if row else 'column'} {i}"


_BOUND_WORD = {2: "lower bound", 3: "upper bound", 4: "bounds"}


def compute_iis(
    h: Any, lf: LinearForm, *, keep_strategy: bool = False
) -> tuple[list[str] | None, str]:
    """An irreducible infeasible subsystem of the (LP relaxation of the) model in *h*.

    HiGHS's ``iis_strategy`` is set to "from LP, row priority" unless
    *keep_strategy* (the user chose one through ``extra``).

    Returns
    -------
    names, message
        Row names (``supply_limit[plant_a]``) and column bounds
        (``x[a,1] (upper bound)``) of the IIS, or ``None`` with a message
        saying why there is none.  For a MIP whose LP relaxation is
        feasible the message says so and no IIS is invented.
    """
    import highspy

    if lf.num_rows + lf.num_cols > IIS_LIMIT:
        return None, f"model too large for an automatic IIS (> {IIS_LIMIT} rows + columns)"
    if lf.is_mip:
        n = lf.num_cols
        h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.zeros(n, dtype=np.uint8))
        h.run()
        relaxed = h.getModelStatus()
        if (
            relaxed == highspy.HighsModelStatus.kOptimal
            or relaxed == highspy.HighsModelStatus.kUnbounded
        ):
            return None, (
                "the LP relaxation is feasible: the infeasibility comes from the integrality"
                " of the variables together with the constraints, so no LP IIS exists"
            )
    if not keep_strategy:  # the default ("light") only finds single-row conflicts
        h.setOptionValue("iis_strategy", int(highspy.IisStrategy.kIisStrategyFromLpRowPriority))
    iis = highspy.HighsIis()
    if h.getIis(iis) == highspy.HighsStatus.kError or not iis.valid:
        return None, "HiGHS could not compute an IIS"
    names = [_name(lf, int(i), row=True) for i in iis.row_index]
    for j, b in zip(iis.col_index, iis.col_bound):
        word = _BOUND_WORD.get(int(b))
        if word:
            names.append(f"{_name(lf, int(j), row=False)} ({word})")
    if not names:
        return None, "HiGHS returned an empty IIS"
    where = "of the LP relaxation " if lf.is_mip else ""
    return names, f"irreducible infeasible subset {where}of {len(names)} constraint(s)/bound(s)"


class HighsBackend(LinearFormBackend):
    """LP, MILP and convex QP with HiGHS (highspy)."""

    name: ClassVar[str] = "highs"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LP, Capability.MILP, Capability.QP, Capability.PURE_INTEGER}
    )
    rank: ClassVar[int] = 10
    cancellable: ClassVar[bool] = True

    def available(self) -> Availability:
        """Whether highspy imports; its version."""
        try:
            import highspy
        except ImportError as e:
            return Availability(
                False, f"highspy is not installed ({e}); fix: pip install highspy==1.12.0"
            )
        v = f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"
        return Availability(True, version=v)

    def infeasible_subset(self, model: Any, options: SolveOptions) -> tuple[list[str] | None, str]:
        """An IIS of *model*'s LP relaxation (see :func:`compute_iis`), without solving the MIP.

        Used when another solver proved the model infeasible (a race) and gave no IIS.
        """
        import highspy

        lf, _ = compile_model(model, options)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        if load_into_highs(h, lf) == highspy.HighsStatus.kError:
            return None, "HiGHS rejected the model"
        return compute_iis(h, lf)

    def solve_linear(
        self, lf: LinearForm, options: SolveOptions, *, build_time: float = 0.0
    ) -> Result:
        """Solve a LinearForm with HiGHS.

        Parameters
        ----------
        lf
            The model (not modified).
        options
            ``time_limit``, ``rel_gap`` (``mip_rel_gap``), ``seed``
            (``random_seed``), ``threads``, ``verbose``; ``extra`` holds
            HiGHS option names, each validated.
        build_time
            Seconds spent compiling, reported as ``timings.build``.

        Returns
        -------
        Result
            Never raises for a solver outcome or crash (those are
            ``termination=ERROR`` with a message).

        Raises
        ------
        ValueError
            For an unknown or badly valued HiGHS option.
        BackendUnavailableError
            If highspy is not installed.
        """
        try:
            import highspy
        except ImportError as e:
            raise BackendUnavailableError(f"highspy is not installed: {e}") from e
        timings = Timings(build=build_time)
        h = highspy.Highs()
        cap = _Capture(h, options.verbose)
        apply_options(h, options, cap.lines)  # ValueError on misuse: before any work
        try:
            return self._run(h, cap, lf, options, timings)
        except Exception as e:  # a crash inside highspy is a value, not a traceback
            return Result(
                termination=Termination.ERROR,
                timings=timings,
                diagnostics=Diagnostics(message=f"HiGHS failed: {type(e).__name__}: {e}"),
                log=cap.text,
                backend=self.name,
            )
        finally:
            cap.close()

    def _early(
        self, term: Termination, message: str, diag: Diagnostics, timings: Timings, cap: _Capture
    ) -> Result:
        """A result without a solve (bad data, a rejected model, a stop before the start)."""
        diag.message = message
        return Result(term, timings=timings, diagnostics=diag, log=cap.text, backend=self.name)

    def _run(
        self, h: Any, cap: _Capture, lf: LinearForm, options: SolveOptions, timings: Timings
    ) -> Result:
        import highspy

        diag = Diagnostics(warnings=list(lf.warnings))
        bad = _bad_data(lf)
        if bad:
            return self._early(
                Termination.ERROR, f"the model is malformed: {bad}", diag, timings, cap
            )
        t0 = time.perf_counter()
        status = load_into_highs(h, lf)
        timings.load = time.perf_counter() - t0
        if status == highspy.HighsStatus.kError:
            why = f"HiGHS rejected the model: {cap.errors() or 'passModel failed'}"
            return self._early(Termination.ERROR, why, diag, timings, cap)

        hist = HistoryRecorder()
        if lf.is_mip:

            def on_mip(e: Any) -> None:
                d = e.data_out
                hist.add(d.running_time, d.mip_primal_bound, d.mip_dual_bound)

            h.cbMipImprovingSolution.subscribe(on_mip)
            h.cbMipLogging.subscribe(on_mip)
        if options.cancel is not None:
            if stopped_before_start(options.cancel):
                diag.native_status = "not started"
                why = "cancelled before the solve started"
                return self._early(Termination.INTERRUPTED, why, diag, timings, cap)
            _on_cancel(h, options.cancel, mip=lf.is_mip)
        cap.quiet()
        t1 = time.perf_counter()
        run_status = h.run()
        ms = h.getModelStatus()
        is_lp = not lf.is_mip
        if (
            ms == highspy.HighsModelStatus.kUnboundedOrInfeasible
            and is_lp
            and "presolve" not in options.extra
        ):
            h.setOptionValue("presolve", "off")  # tell the two apart without presolve
            run_status = h.run()
            ms = h.getModelStatus()
        timings.solve = time.perf_counter() - t1

        term = _termination(ms)
        diag.native_status = h.modelStatusToString(ms)
        info = h.getInfo()
        has_point = int(info.primal_solution_status) == int(
            highspy.SolutionStatus.kSolutionStatusFeasible
        )
        if (
            not has_point
            and lf.is_mip
            and int(info.primal_solution_status)
            == int(highspy.SolutionStatus.kSolutionStatusInfeasible)
        ):
            # HiGHS flags a MIP incumbent 'infeasible' when, after unscaling, it misses the
            # primal tolerance by a hair (seen on MIPLIB's mas76): check it ourselves.
            viol = _max_violation(lf, np.asarray(h.getSolution().col_value, dtype=np.float64))
            if viol <= 1e-6:
                has_point = True
                diag.warnings.append(
                    f"HiGHS marked its incumbent slightly infeasible; its max violation is {viol:.2e}"
                )
        if term in _LIMITS and has_point:
            diag.message = f"stopped ({diag.native_status}) with a feasible point"
            term = Termination.FEASIBLE
        if run_status == highspy.HighsStatus.kError and term is Termination.ERROR:
            diag.message = cap.errors() or "HiGHS returned an error"
            if lf.Q is not None and "non-convex" not in diag.message and "Hessian" in cap.text:
                diag.message += " (HiGHS solves only convex QPs: is Q positive semidefinite?)"

        res = Result(term, timings=timings, diagnostics=diag, backend=self.name)
        no_answer = term in (
            Termination.INFEASIBLE,
            Termination.UNBOUNDED,
            Termination.INFEASIBLE_OR_UNBOUNDED,
        )
        if (term.has_solution or has_point) and not no_answer:
            sol = h.getSolution()
            x = np.asarray(sol.col_value, dtype=np.float64) + 0.0  # no -0.0 in results
            if x.size == lf.num_cols:
                if lf.is_mip:
                    integ = np.asarray(lf.integrality, dtype=bool)
                    x = x.copy()
                    x[integ] = np.round(x[integ])
                res.values = lf.values_by_variable(x)
                res.objective = float(info.objective_function_value)
                if ms == highspy.HighsModelStatus.kModelEmpty:
                    res.objective = float(lf.offset)
            if not lf.is_mip and lf.Q is None and term is Termination.OPTIMAL and sol.dual_valid:
                y = np.asarray(sol.row_dual, dtype=np.float64) + 0.0
                if y.size == lf.num_rows:
                    res.duals = lf.duals_by_constraint(y)
        if lf.is_mip:
            res.bound = finite(info.mip_dual_bound)
            res.gap = finite(info.mip_gap) if res.objective is not None else None
        elif term is Termination.OPTIMAL:
            res.bound, res.gap = res.objective, 0.0
        if lf.is_mip and res.gap is None:
            res.gap = relative_gap(res.objective, res.bound)
        res.iterations = sum(
            max(0, int(getattr(info, k)))
            for k in (
                "simplex_iteration_count",
                "ipm_iteration_count",
                "qp_iteration_count",
                "pdlp_iteration_count",
            )
        )
        res.history = hist.finish(h.getRunTime(), res.objective, res.bound)
        if term is Termination.INFEASIBLE:
            t2 = time.perf_counter()
            diag.iis, diag.message = compute_iis(
                h, lf, keep_strategy="iis_strategy" in options.extra
            )
            if diag.iis:
                diag.message += f" (found in {time.perf_counter() - t2:.2f}s)"
        res.log = cap.text
        return res


def _on_cancel(h: Any, cancel: threading.Event, *, mip: bool) -> None:
    """Stop HiGHS at its next interrupt check once *cancel* is set.

    A MIP listens only to the MIP loop's check: HiGHS does not pass the simplex
    check down to the LPs inside its branch and bound, and each check is a call
    into Python that waits for the GIL.
    """

    def check(e: Any) -> None:
        if cancel.is_set():
            e.interrupt()

    events = (h.cbMipInterrupt,) if mip else (h.cbSimplexInterrupt, h.cbIpmInterrupt)
    for event in events:
        event.subscribe(check)


def _max_violation(lf: LinearForm, x: np.ndarray) -> float:
    """Largest relative violation of rows, bounds and integrality at *x* (inf for a wrong size)."""
    if x.size != lf.num_cols:
        return float("inf")
    ax = lf.A @ x
    scale = 1.0 + np.abs(ax)
    rows = np.maximum(lf.row_lb - ax, ax - lf.row_ub) / scale
    cols = np.maximum(lf.col_lb - x, x - lf.col_ub) / (1.0 + np.abs(x))
    integ = np.abs(x - np.round(x))[np.asarray(lf.integrality, dtype=bool)]
    parts = [a.max(initial=0.0) for a in (rows, cols, integ)]
    return float(max(parts))


def _bad_data(lf: LinearForm) -> str:
    """Why *lf* holds data HiGHS would silently misuse (NaN, infinite coefficients), or ''."""
    checks = (
        ("objective coefficients", lf.c, np.isfinite),
        ("matrix coefficients", lf.A.data, np.isfinite),
        ("row bounds", np.r_[lf.row_lb, lf.row_ub], lambda v: ~np.isnan(v)),
        ("column bounds", np.r_[lf.col_lb, lf.col_ub], lambda v: ~np.isnan(v)),
    )
    for what, arr, ok in checks:
        if arr.size and not np.all(ok(np.asarray(arr, dtype=np.float64))):
            return f"{what} contain NaN or infinite values"
    if lf.Q is not None and lf.Q.nnz and not np.all(np.isfinite(lf.Q.data)):
        return "the quadratic objective contains NaN or infinite values"
    if not np.isfinite(lf.offset):
        return "the objective offset is not finite"
    return ""


def _termination(ms: Any) -> Termination:
    """Look up a HiGHS model status in :data:`STATUS_MAP` (``ERROR`` if absent)."""
    table: dict[Any, Termination] = globals().get("STATUS_MAP") or __getattr__("STATUS_MAP")
    return table.get(ms, Termination.ERROR)
