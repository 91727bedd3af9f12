"""The HiGHS implementation of :class:`~solvers.balans.adapter.MipAdapter` (highspy)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from solvers.balans.adapter import StallClock, SubResult, SubStatus, TempRow, clip_window
from workbench.compile.linear_form import LinearForm
from workbench.compile.mps import load_into_highs
from workbench.errors import BackendError

__all__ = ["HIGHS_SUB_STATUS", "HighsAdapter"]

HIGHS_SUB_STATUS: dict[str, SubStatus] = {
    "kNotset": SubStatus.ERROR,
    "kLoadError": SubStatus.ERROR,
    "kModelError": SubStatus.ERROR,
    "kPresolveError": SubStatus.ERROR,
    "kSolveError": SubStatus.ERROR,
    "kPostsolveError": SubStatus.ERROR,
    "kModelEmpty": SubStatus.OPTIMAL,
    "kOptimal": SubStatus.OPTIMAL,
    "kInfeasible": SubStatus.INFEASIBLE,
    "kUnboundedOrInfeasible": SubStatus.INFEASIBLE_OR_UNBOUNDED,
    "kUnbounded": SubStatus.UNBOUNDED,
    "kObjectiveBound": SubStatus.NO_SOLUTION,
    "kObjectiveTarget": SubStatus.FEASIBLE,
    "kTimeLimit": SubStatus.NO_SOLUTION,
    "kIterationLimit": SubStatus.NO_SOLUTION,
    "kUnknown": SubStatus.ERROR,
    "kSolutionLimit": SubStatus.NO_SOLUTION,
    "kInterrupt": SubStatus.NO_SOLUTION,
    "kMemoryLimit": SubStatus.ERROR,
    "kHighsInterrupt": SubStatus.NO_SOLUTION,
}
"""HiGHS model status name -> :class:`SubStatus` (a limit with a point becomes FEASIBLE)."""


_DEFAULT_GAP = 1e-4  # HiGHS's own mip_rel_gap default


def _finite(v: Any) -> float | None:
    f = float(v)
    return f if math.isfinite(f) else None


class HighsAdapter:
    """One HiGHS instance holding the (minimisation) model, with undoable changes.

    Parameters
    ----------
    lf
        The model in minimisation form (see :func:`~solvers.balans.adapter.to_minimisation`).
    seed
        HiGHS ``random_seed`` (sub-MIPs are then reproducible when no time limit binds).
    threads
        HiGHS ``threads``, or ``None`` to leave HiGHS's default.
    verbose
        Echo HiGHS's log.
    """

    name = "highs"

    def __init__(
        self, lf: LinearForm, *, seed: int = 0, threads: int | None = None, verbose: bool = False
    ) -> None:
        import highspy

        self._hs = highspy
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", bool(verbose))
        self.h.setOptionValue("random_seed", int(seed) % 2_147_483_647)
        if threads is not None:
            self.h.setOptionValue("threads", int(threads))
        if lf.sense != "min":
            raise ValueError("HighsAdapter takes a minimisation LinearForm")
        if load_into_highs(self.h, lf, names=False) == highspy.HighsStatus.kError:
            raise BackendError("HiGHS rejected the model")
        self.n = lf.num_cols
        self.m = lf.num_rows
        self._lb = np.asarray(lf.col_lb, dtype=np.float64).copy()
        self._ub = np.asarray(lf.col_ub, dtype=np.float64).copy()
        self._c = np.asarray(lf.c, dtype=np.float64).copy()
        self._offset = float(lf.offset)
        self._touched: list[np.ndarray] = []
        self._rows_added = 0
        self._cols_added = 0
        self._obj_swapped = False
        self._all = np.arange(self.n, dtype=np.int32)
        self.integer = bool(np.any(lf.integrality))
        self._continuous = highspy.HighsVarType.kContinuous
        self.improvements: list[tuple[float, float]] = []

    # -- temporary changes -------------------------------------------------
    def set_bounds(self, cols: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> None:
        """Temporarily intersect the bounds of *cols* with ``[lb, ub]``."""
        cols = np.asarray(cols, dtype=np.int32)
        if cols.size == 0:
            return
        lo, hi = clip_window(self._lb[cols], self._ub[cols], lb, ub)
        self.h.changeColsBounds(int(cols.size), cols, lo, hi)
        self._touched.append(cols)

    def fix(self, cols: np.ndarray, values: np.ndarray) -> None:
        """Temporarily fix *cols* to *values* (clipped to the original bounds)."""
        v = np.asarray(values, dtype=np.float64)
        self.set_bounds(cols, v, v)

    def add_row(self, row: TempRow) -> None:
        """Temporarily add ``row.lb <= row.coefs @ x[row.cols] (- s) <= row.ub``.

        A soft row (``row.slack_cost``) first gets its slack column ``s >= 0``.
        """
        idx = np.asarray(row.cols, dtype=np.int32)
        val = np.asarray(row.coefs, dtype=np.float64)
        if row.slack_cost is not None:
            empty_i = np.zeros(0, dtype=np.int32)
            self.h.addCol(float(row.slack_cost), 0.0, math.inf, 0, empty_i, np.zeros(0))
            slack = self.n + self._cols_added
            self._cols_added += 1
            if self.integer:  # a MIP's new column must be declared continuous
                self.h.changeColsIntegrality(
                    1, np.array([slack], dtype=np.int32), np.array([self._continuous])
                )
            idx = np.append(idx, np.int32(slack))
            val = np.append(val, -1.0)
        self.h.addRow(float(row.lb), float(row.ub), int(idx.size), idx, val)
        self._rows_added += 1

    def set_objective(self, c: np.ndarray) -> None:
        """Temporarily replace the cost vector (the offset is dropped meanwhile)."""
        self.h.changeColsCost(self.n, self._all, np.asarray(c, dtype=np.float64))
        self.h.changeObjectiveOffset(0.0)
        self._obj_swapped = True

    def undo(self) -> None:
        """Revert bounds, rows and objective to the original model."""
        if self._touched:
            cols = np.unique(np.concatenate(self._touched)).astype(np.int32)
            self.h.changeColsBounds(int(cols.size), cols, self._lb[cols], self._ub[cols])
            self._touched = []
        if self._rows_added:
            idx = np.arange(self.m, self.m + self._rows_added, dtype=np.int32)
            self.h.deleteRows(int(idx.size), idx)
            self._rows_added = 0
        if self._cols_added:
            idx = np.arange(self.n, self.n + self._cols_added, dtype=np.int32)
            self.h.deleteCols(int(idx.size), idx)
            self._cols_added = 0
        if self._obj_swapped:
            self.h.changeColsCost(self.n, self._all, self._c)
            self.h.changeObjectiveOffset(self._offset)
            self._obj_swapped = False

    # -- solves --------------------------------------------------------------
    def lp_relaxation(self, time_limit: float | None = None) -> SubResult:
        """Solve the LP relaxation (``solve_relaxation``) of the current model.

        A relaxation not solved within *time_limit* seconds is ``NO_SOLUTION``
        (its point, if any, is not optimal and is dropped).
        """
        self.h.setOptionValue("solve_relaxation", True)
        limit = math.inf if time_limit is None else max(float(time_limit), 1e-3)
        self.h.setOptionValue("time_limit", limit)
        try:
            res = self._run()
        finally:
            self.h.setOptionValue("solve_relaxation", False)
        if res.status is SubStatus.FEASIBLE:  # stopped by the limit: not the relaxation's optimum
            return SubResult(SubStatus.NO_SOLUTION, native=res.native)
        return res

    def solve(
        self,
        time_limit: float,
        *,
        start: np.ndarray | None = None,
        solution_limit: int | None = None,
        cutoff: float | None = None,
        gap: float | None = None,
        feasibility: bool = False,
        stall: float | None = None,
        patience: float | None = None,
    ) -> SubResult:
        """Run HiGHS on the current model within *time_limit* seconds.

        *cutoff* is HiGHS's ``objective_bound`` (the MIP's upper limit: nodes
        whose bound reaches it are pruned), *gap* its ``mip_rel_gap``;
        *feasibility* has no HiGHS counterpart and is ignored.  With *stall*
        (seconds) the solve is interrupted (HiGHS's MIP interrupt callback)
        once it has a point and has found no improving one for *stall*
        seconds; every improving point's ``(perf_counter time, objective)``
        is then kept in :attr:`improvements`; with *patience* (seconds) it
        is also interrupted when it has found no point at all for that long.
        """
        del feasibility
        self.improvements = []
        if stall is not None:
            return self._watched(
                float(stall), time_limit, start, solution_limit, cutoff, gap, patience
            )
        return self._solve(time_limit, start, solution_limit, cutoff, gap)

    def _watched(
        self,
        stall: float,
        time_limit: float,
        start: np.ndarray | None,
        solution_limit: int | None,
        cutoff: float | None,
        gap: float | None,
        patience: float | None = None,
    ) -> SubResult:
        """:meth:`_solve` under the stall watch (see :meth:`solve`)."""
        clock = StallClock(stall, patience, self.improvements)

        def improved(e: Any) -> None:
            clock.record(float(e.data_out.objective_function_value))

        def check(e: Any) -> None:
            if clock.due():
                e.interrupt()

        self.h.cbMipImprovingSolution.subscribe(improved)
        self.h.cbMipInterrupt.subscribe(check)
        try:
            return self._solve(time_limit, start, solution_limit, cutoff, gap)
        finally:
            self.h.cbMipImprovingSolution.unsubscribe(improved)
            self.h.cbMipInterrupt.unsubscribe(check)

    def _solve(
        self,
        time_limit: float,
        start: np.ndarray | None,
        solution_limit: int | None,
        cutoff: float | None,
        gap: float | None,
    ) -> SubResult:
        h = self.h
        h.setOptionValue("time_limit", max(float(time_limit), 1e-3))
        h.setOptionValue(
            "mip_max_improving_sols", int(solution_limit) if solution_limit else 2_147_483_647
        )
        h.setOptionValue("objective_bound", math.inf if cutoff is None else float(cutoff))
        h.setOptionValue("mip_rel_gap", _DEFAULT_GAP if gap is None else float(gap))
        if start is not None:
            h.setSolution(self.n, self._all, np.asarray(start, dtype=np.float64))
        try:
            return self._run()
        finally:
            h.setOptionValue("objective_bound", math.inf)
            h.setOptionValue("mip_rel_gap", _DEFAULT_GAP)

    def _run(self) -> SubResult:
        hs = self._hs
        self.h.run()
        ms = self.h.getModelStatus()
        native = self.h.modelStatusToString(ms)
        status = HIGHS_SUB_STATUS.get(ms.name, SubStatus.ERROR)
        info = self.h.getInfo()
        has_point = int(info.primal_solution_status) == int(
            hs.SolutionStatus.kSolutionStatusFeasible
        )
        bound = _finite(info.mip_dual_bound) if info.mip_node_count >= 0 else None
        if status in (SubStatus.INFEASIBLE, SubStatus.UNBOUNDED, SubStatus.ERROR):
            return SubResult(status, native=native, bound=bound)
        if not has_point:
            if status is SubStatus.OPTIMAL:  # an empty model: no columns
                return SubResult(status, np.zeros(self.n), self._offset, self._offset, native)
            return SubResult(
                SubStatus.NO_SOLUTION if status is SubStatus.FEASIBLE else status,
                native=native,
                bound=bound,
            )
        x = np.asarray(self.h.getSolution().col_value, dtype=np.float64)[: self.n].copy()
        obj = float(info.objective_function_value)
        if status is SubStatus.NO_SOLUTION:
            status = SubStatus.FEASIBLE
        if status is SubStatus.OPTIMAL and bound is None:
            bound = obj  # an LP (relaxation) solved to optimality
        return SubResult(status, x, obj, bound, native)
