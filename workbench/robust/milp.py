"""One silent LP/MILP on HiGHS, shared by the robust methods and backends."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from workbench.compile.linear_form import LinearForm

__all__ = ["LpSolution", "solve_milp"]


@dataclass
class LpSolution:
    status: str  # optimal | infeasible | unbounded | limit | error
    x: np.ndarray
    objective: float
    #: the solver's proven bound on the objective (a MILP's dual bound; ``objective``
    #: for an LP or an empty model; NaN when the solve ended without one)
    bound: float = math.nan


def solve_milp(
    c: np.ndarray,
    a: sp.csr_matrix,
    row_lb: np.ndarray,
    row_ub: np.ndarray,
    col_lb: np.ndarray,
    col_ub: np.ndarray,
    integ: np.ndarray,
    *,
    offset: float = 0.0,
    sense: str = "min",
    time_limit: float | None = None,
    mip_rel_gap: float | None = None,
) -> LpSolution:
    """One LP/MILP on HiGHS, silent and single-threaded: ``LpSolution(status, x, objective)``.

    ``status`` is ``optimal``, ``infeasible``, ``unbounded``, ``limit`` (a point, not
    proven) or ``error``.  Used by the robust backends for their master problems.
    *mip_rel_gap* overrides HiGHS's relative gap (default ``1e-4``); ``bound`` is the
    proven bound (a MILP's ``mip_dual_bound``), valid also when the gap or the time
    limit stops the solve early.
    """
    import highspy

    from workbench.compile.mps import load_into_highs

    lf = LinearForm(
        c=np.asarray(c, dtype=float),
        A=sp.csr_matrix(a),
        row_lb=np.asarray(row_lb, dtype=float),
        row_ub=np.asarray(row_ub, dtype=float),
        col_lb=np.asarray(col_lb, dtype=float),
        col_ub=np.asarray(col_ub, dtype=float),
        integrality=np.asarray(integ, dtype=bool),
        sense="max" if sense == "max" else "min",
        offset=float(offset),
    )
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)  # before passModel: no model summary either
    h.setOptionValue("log_to_console", False)
    # HiGHS 1.12.0 still prints "HighsMipSolverData::transformNewIntegerFeasibleSolution
    # tmpSolver.run();" with a bare printf that no option reaches (reported upstream as
    # ERGO-Code/HiGHS#2783, closed).  Callers that need a clean stdout redirect fd 1.
    h.setOptionValue("threads", 1)
    if time_limit is not None:
        h.setOptionValue("time_limit", max(float(time_limit), 0.01))
    if mip_rel_gap is not None:
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    load_into_highs(h, lf, names=False)
    h.run()
    ms = h.getModelStatus()
    st = highspy.HighsModelStatus
    if ms == st.kUnboundedOrInfeasible and not lf.is_mip:
        h.setOptionValue("presolve", "off")
        h.run()
        ms = h.getModelStatus()
    info = h.getInfo()
    has_point = int(info.primal_solution_status) == int(
        highspy.SolutionStatus.kSolutionStatusFeasible
    )
    x = np.asarray(h.getSolution().col_value, dtype=float)
    if ms in (st.kOptimal, st.kModelEmpty):
        status = "optimal"
    elif ms == st.kInfeasible:
        status = "infeasible"
    elif ms in (st.kUnbounded, st.kUnboundedOrInfeasible):
        status = "unbounded"
    elif ms in (st.kTimeLimit, st.kIterationLimit, st.kInterrupt, st.kSolutionLimit):
        status = "limit" if has_point else "error"
    else:
        status = "error"
    if lf.is_mip and x.size == lf.num_cols:
        x = np.where(lf.integrality, np.round(x), x)
    obj = float(info.objective_function_value) if x.size == lf.num_cols else math.nan
    if ms == st.kModelEmpty:
        obj = float(lf.offset)
    bound = math.nan
    if ms == st.kModelEmpty or (ms == st.kOptimal and not lf.is_mip):
        bound = obj
    elif lf.is_mip and ms in (st.kOptimal, st.kTimeLimit, st.kIterationLimit, st.kInterrupt,
                              st.kSolutionLimit):  # fmt: skip
        bound = float(info.mip_dual_bound)
        if not math.isfinite(bound):
            bound = math.nan
    return LpSolution(status, x if x.size == lf.num_cols else np.zeros(lf.num_cols), obj, bound)
