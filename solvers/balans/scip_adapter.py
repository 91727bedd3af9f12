"""The SCIP implementation of :class:`~solvers.balans.adapter.MipAdapter` (pyscipopt).

The model is built column by column from the LinearForm (so column *j* is
SCIP variable *j*).  Temporary bound changes, rows and objective swaps are
made in SCIP's problem stage (``freeTransform`` first) and reverted by
:meth:`ScipAdapter.undo`.  The objective offset is kept on our side.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np

from solvers.balans.adapter import StallClock, SubResult, SubStatus, TempRow, clip_window
from workbench.compile.linear_form import LinearForm

__all__ = ["SCIP_SUB_STATUS", "ScipAdapter"]

SCIP_SUB_STATUS: dict[str, SubStatus] = {
    "optimal": SubStatus.OPTIMAL,
    "infeasible": SubStatus.INFEASIBLE,
    "unbounded": SubStatus.UNBOUNDED,
    "inforunbd": SubStatus.INFEASIBLE_OR_UNBOUNDED,
    "timelimit": SubStatus.NO_SOLUTION,
    "userinterrupt": SubStatus.NO_SOLUTION,
    "nodelimit": SubStatus.NO_SOLUTION,
    "totalnodelimit": SubStatus.NO_SOLUTION,
    "stallnodelimit": SubStatus.NO_SOLUTION,
    "gaplimit": SubStatus.NO_SOLUTION,
    "memlimit": SubStatus.NO_SOLUTION,
    "sollimit": SubStatus.NO_SOLUTION,
    "bestsollimit": SubStatus.NO_SOLUTION,
    "restartlimit": SubStatus.NO_SOLUTION,
    "primallimit": SubStatus.NO_SOLUTION,
    "duallimit": SubStatus.NO_SOLUTION,
    "terminate": SubStatus.NO_SOLUTION,
    "unknown": SubStatus.ERROR,
}
"""SCIP status text -> :class:`SubStatus` (a limit with a point becomes FEASIBLE)."""

_INF = 1e20
_TICK = 0.05  # seconds between the stall clock's checks


def _opt(v: float) -> float | None:
    return None if not math.isfinite(v) or abs(v) >= _INF else float(v)


class ScipAdapter:
    """One SCIP model holding the (minimisation) MIP, with undoable changes.

    Parameters
    ----------
    lf
        The model in minimisation form.
    seed
        SCIP ``randomization/randomseedshift``.
    threads
        Ignored (SCIP solves on one thread).
    verbose
        Show SCIP's output.
    """

    name = "scip"

    def __init__(
        self, lf: LinearForm, *, seed: int = 0, threads: int | None = None, verbose: bool = False
    ) -> None:
        import pyscipopt

        del threads
        if lf.sense != "min":
            raise ValueError("ScipAdapter takes a minimisation LinearForm")
        self._scip = pyscipopt
        m = pyscipopt.Model()
        if not verbose:
            m.hideOutput()
        self._seed = int(seed) % 2_147_483_647
        self.model = m
        self._base_params()
        self.n = lf.num_cols
        self._lb = np.asarray(lf.col_lb, dtype=np.float64).copy()
        self._ub = np.asarray(lf.col_ub, dtype=np.float64).copy()
        self._c = np.asarray(lf.c, dtype=np.float64).copy()
        self._offset = float(lf.offset)
        integ = np.asarray(lf.integrality, dtype=bool)
        self._vtypes: list[str] = []
        self.vars: list[Any] = []
        for j in range(self.n):
            lo, hi = self._lb[j], self._ub[j]
            vt = "C"
            if integ[j]:
                vt = "B" if lo >= 0 and hi <= 1 else "I"
            self._vtypes.append(vt)
            self.vars.append(
                m.addVar(
                    name=f"x{j}",
                    vtype=vt,
                    lb=None if lo == -math.inf else lo,
                    ub=None if hi == math.inf else hi,
                    obj=float(self._c[j]),
                )
            )
        A = lf.A.tocsr()
        for i in range(lf.num_rows):
            lo_k, hi_k = A.indptr[i], A.indptr[i + 1]
            self._add_cons(A.indices[lo_k:hi_k], A.data[lo_k:hi_k], lf.row_lb[i], lf.row_ub[i])
        m.setMinimize()
        self._touched: list[np.ndarray] = []
        self.improvements: list[tuple[float, float]] = []
        self._watch: Any = None  # the stall-watch event handler, included on first use
        self._rows: list[Any] = []
        self._slacks: list[tuple[Any, float]] = []
        self._obj_swapped = False
        self._swapped_obj_has_offset = False

    def _add_cons(
        self, cols: np.ndarray, coefs: np.ndarray, lb: float, ub: float, *, slack: Any = None
    ) -> Any:
        expr = self._scip.quicksum(
            float(a) * self.vars[int(j)] for j, a in zip(cols, coefs, strict=True)
        )
        if slack is not None:
            expr = expr - slack
        lo = None if lb == -math.inf else float(lb)
        hi = None if ub == math.inf else float(ub)
        if lo is not None and hi is not None:
            cons = lo <= (expr <= hi)
        elif hi is not None:
            cons = expr <= hi
        elif lo is not None:
            cons = expr >= lo
        else:
            return None
        return self.model.addCons(cons)

    def _base_params(self) -> None:
        """The parameters every solve starts from (after a reset to SCIP's defaults)."""
        self.model.setParam("randomization/randomseedshift", self._seed)
        self.model.setParam("limits/maxorigsol", 0)

    def _problem_stage(self) -> None:
        if self.model.getStage() != 1:  # SCIP_STAGE_PROBLEM
            self.model.freeTransform()

    # -- temporary changes -------------------------------------------------
    def set_bounds(self, cols: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> None:
        """Temporarily intersect the bounds of *cols* with ``[lb, ub]``."""
        cols = np.asarray(cols, dtype=np.int64)
        if cols.size == 0:
            return
        self._problem_stage()
        lo, hi = clip_window(self._lb[cols], self._ub[cols], lb, ub)
        for j, a, b in zip(cols.tolist(), lo.tolist(), hi.tolist(), strict=True):
            v = self.vars[j]
            # widen first so that lb <= ub holds at every step
            self.model.chgVarUb(v, None if self._ub[j] == math.inf else float(self._ub[j]))
            self.model.chgVarLb(v, None if a == -math.inf else a)
            self.model.chgVarUb(v, None if b == math.inf else b)
        self._touched.append(cols)

    def fix(self, cols: np.ndarray, values: np.ndarray) -> None:
        """Temporarily fix *cols* to *values* (clipped to the original bounds)."""
        v = np.asarray(values, dtype=np.float64)
        self.set_bounds(cols, v, v)

    def add_row(self, row: TempRow) -> None:
        """Temporarily add a row (a soft row gets its slack variable ``s >= 0`` first)."""
        self._problem_stage()
        cols, coefs = np.asarray(row.cols), np.asarray(row.coefs)
        slack = None
        if row.slack_cost is not None:
            slack = self.model.addVar(
                name=f"balans_slack{len(self._slacks)}", vtype="C", lb=0.0, ub=None,
                obj=float(row.slack_cost),
            )  # fmt: skip
            self._slacks.append((slack, float(row.slack_cost)))
        cons = self._add_cons(cols, coefs, row.lb, row.ub, slack=slack)
        if cons is not None:
            self._rows.append(cons)

    def set_objective(self, c: np.ndarray) -> None:
        """Temporarily replace the cost vector (no offset meanwhile; slack costs are kept)."""
        self._problem_stage()
        self._set_costs(np.asarray(c, dtype=np.float64))
        self._obj_swapped = True

    def _set_costs(self, c: np.ndarray) -> None:
        """Make *c* (plus the costs of any temporary slacks) SCIP's whole objective."""
        quicksum = self._scip.quicksum
        nz = np.flatnonzero(c)
        expr = quicksum(float(c[j]) * self.vars[j] for j in nz.tolist())
        expr += quicksum(cost * var for var, cost in self._slacks)
        self.model.setObjective(expr, "minimize", clear=True)

    def undo(self) -> None:
        """Revert bounds, rows and objective to the original model."""
        self._problem_stage()
        if self._touched:
            cols = np.unique(np.concatenate(self._touched))
            for j in cols.tolist():
                v, lo, hi = self.vars[j], self._lb[j], self._ub[j]
                self.model.chgVarLb(v, None if lo == -math.inf else float(lo))
                self.model.chgVarUb(v, None if hi == math.inf else float(hi))
            self._touched = []
        for cons in self._rows:
            self.model.delCons(cons)
        self._rows = []
        for var, _ in self._slacks:
            self.model.delVar(var)
        self._slacks = []
        if self._obj_swapped:
            self._set_costs(self._c)
            self._obj_swapped = False

    # -- solves --------------------------------------------------------------
    def lp_relaxation(self, time_limit: float | None = None) -> SubResult:
        """Solve the LP relaxation (integer columns made continuous, then restored).

        A relaxation not solved within *time_limit* seconds is ``NO_SOLUTION``.
        """
        self._problem_stage()
        m = self.model
        changed = [j for j, t in enumerate(self._vtypes) if t != "C"]
        for j in changed:
            m.chgVarType(self.vars[j], "C")
        m.setParam("limits/time", _INF if time_limit is None else max(float(time_limit), 1e-3))
        m.setParam("limits/bestsol", -1)
        m.setParam("limits/gap", 0.0)
        m.setObjlimit(_INF)
        try:
            res = self._run()
        finally:
            self._problem_stage()
            for j in changed:
                m.chgVarType(self.vars[j], self._vtypes[j])
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
        """Run SCIP on the current model within *time_limit* seconds.

        *solution_limit* is ``limits/bestsol``, *gap* ``limits/gap``, *cutoff*
        SCIP's objective limit (``setObjlimit``: only better points are
        accepted, and SCIP stops once it proves there are none);
        *feasibility* is SCIP's feasibility emphasis with the feasibility pump
        at every node, as the reference sets for its first solve.  With
        *stall* (seconds) an event handler records every new incumbent's
        ``(perf_counter time, objective)`` in :attr:`improvements` and
        interrupts the solve (``interruptSolve``) once it has a point and
        has found no improving one for *stall* seconds (checked whenever a
        node or an LP is solved, and every 50 ms by a clock thread while the
        solve runs without the GIL); with *patience* (seconds) it also
        interrupts the solve when it has found no point at all for that long.
        """
        self.improvements = []
        # validated before any parameter changes
        clock = None if stall is None else StallClock(float(stall), patience, self.improvements)
        self._problem_stage()
        m = self.model
        if feasibility:
            from pyscipopt import SCIP_PARAMEMPHASIS  # type: ignore[attr-defined]

            m.setEmphasis(SCIP_PARAMEMPHASIS.FEASIBILITY)
            m.setParam("heuristics/feaspump/freq", 1)
            m.setParam("heuristics/feaspump/maxloops", 10)
        m.setParam("limits/time", max(float(time_limit), 1e-3))
        m.setParam("limits/bestsol", int(solution_limit) if solution_limit else -1)
        m.setParam("limits/gap", 0.0 if gap is None else float(gap))
        shift = 0.0 if self._obj_swapped else self._offset
        m.setObjlimit(_INF if cutoff is None else float(cutoff) - shift)
        if start is not None:
            sol = m.createSol()
            for v, val in zip(self.vars, np.asarray(start).tolist(), strict=True):
                m.setSolVal(sol, v, float(val))
            m.addSol(sol, free=True)
        watch = None
        if clock is not None:
            clock.t_start = time.perf_counter()
            watch = self._stall_watch()
            watch.arm(clock, shift)
        try:
            return self._run(watch)
        finally:
            if watch is not None:
                watch.disarm()
            if feasibility:  # back to SCIP's defaults (this resets every parameter)
                self._problem_stage()
                m.resetParams()
                self._base_params()

    def _stall_watch(self) -> Any:
        """The stall-watch event handler (included in the model once, idle unless armed)."""
        if self._watch is None:
            self._watch = _make_stall_watch()
            self.model.includeEventhdlr(
                self._watch, "balans_stall", "interrupts a solve that stopped improving"
            )
        return self._watch

    def _run(self, watch: Any = None) -> SubResult:
        m = self.model
        if watch is None:
            m.optimize()
        else:
            # SCIP's events do not fire in every phase (lotsize sat in its root for 30 s
            # without a node or LP event), so a clock thread checks the watch while the
            # solve runs without the GIL
            done = threading.Event()

            def tick() -> None:
                while not done.wait(_TICK):
                    if watch.due():
                        m.interruptSolve()
                        return

            clock = threading.Thread(target=tick, daemon=True)
            clock.start()
            try:
                m.optimizeNogil()
            finally:
                done.set()
                clock.join()
        native = str(m.getStatus())
        status = SCIP_SUB_STATUS.get(native, SubStatus.ERROR)
        bound = _opt(m.getDualbound()) if status is not SubStatus.INFEASIBLE else None
        shift = 0.0 if self._obj_swapped else self._offset
        if bound is not None:
            bound += shift
        if status in (SubStatus.INFEASIBLE, SubStatus.UNBOUNDED, SubStatus.ERROR):
            return SubResult(status, bound=None, native=native)
        if m.getNSols() == 0:
            if status is SubStatus.OPTIMAL:
                status = SubStatus.ERROR
            return SubResult(status, native=native, bound=bound)
        best = m.getBestSol()
        x = np.array([m.getSolVal(best, v) for v in self.vars], dtype=np.float64)
        obj = float(m.getSolObjVal(best)) + shift
        if status is SubStatus.NO_SOLUTION:
            status = SubStatus.FEASIBLE
        return SubResult(status, x, obj, bound, native)


def _make_stall_watch() -> Any:
    """A pyscipopt event handler for :meth:`ScipAdapter.solve`'s *stall* watch.

    While armed it catches new incumbents (``BESTSOLFOUND``) and, as clock
    ticks, solved nodes and LPs; it appends ``(perf_counter time, objective
    + shift)`` for each strictly improving incumbent and calls
    ``interruptSolve`` once the last one is *stall* seconds old, or when none
    came within *patience* seconds.  Disarmed it catches nothing.
    """
    from pyscipopt import SCIP_EVENTTYPE, Eventhdlr  # type: ignore[attr-defined]

    best = SCIP_EVENTTYPE.BESTSOLFOUND
    mask = best | SCIP_EVENTTYPE.NODESOLVED | SCIP_EVENTTYPE.LPSOLVED

    class StallWatch(Eventhdlr):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.clock: StallClock | None = None
            self.shift = 0.0
            self.caught = False

        def arm(self, clock: StallClock, shift: float) -> None:
            self.clock, self.shift = clock, shift

        def disarm(self) -> None:
            self.clock = None

        def eventinit(self) -> None:  # after each transformation: catch only when armed
            if self.clock is not None:
                self.model.catchEvent(mask, self)
                self.caught = True

        def eventexit(self) -> None:
            if self.caught:
                self.model.dropEvent(mask, self)
                self.caught = False

        def eventexec(self, event: Any) -> None:
            clock = self.clock
            if clock is None:
                return
            if event.getType() == best:
                m = self.model
                clock.record(float(m.getSolObjVal(m.getBestSol())) + self.shift)
            elif clock.due():
                self.model.interruptSolve()

        def due(self) -> bool:
            """Whether the armed watch's stall (or patience) has run out."""
            return self.clock is not None and self.clock.due()

    return StallWatch()
