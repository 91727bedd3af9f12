"""The recourse problem ``min_y f(x, xi, y)`` for fixed ``x`` and ``xi``, on HiGHS."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from workbench.compile.affine import NonlinearError
from workbench.errors import UnsupportedProblemError
from workbench.ir.model import Model
from workbench.robust.milp import solve_milp
from workbench.robust.structure import RobustStructure, robust_structure

__all__ = [
    "FEAS_TOL",
    "RecourseSolution",
    "fix_stages",
    "recourse_value",
    "solve_recourse",
    "solve_recourse_bounded",
    "solve_recourse_vector",
]


@dataclass
class RecourseSolution:
    """``min_y f(x, xi, y)`` for fixed ``x`` and ``xi``.

    Attributes
    ----------
    objective
        The model's whole objective (first-stage cost included) at the best ``y``,
        in the model's own sense; ``inf`` (``-inf`` for a maximising model) when
        no ``y`` is feasible.
    feasible
        Whether a feasible recourse exists.
    values
        The second-stage values ``{var: number | {label: number}}``.
    status
        ``optimal``, ``infeasible``, ``unbounded``, ``limit`` or ``error``.
    """

    objective: float
    feasible: bool
    values: dict[str, Any]
    status: str
    y: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)


def fix_stages(
    rs: RobustStructure, vals: np.ndarray, fixed: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, sp.csr_matrix]:
    """Objective (const, c) and rows (const, A) affine in the free columns."""
    try:
        oc, oa = rs.objective.restrict(vals, fixed)
        rc, ra = rs.rows.restrict(vals, fixed)
    except NonlinearError as e:
        raise UnsupportedProblemError(
            "the model has a product of two variables of the same stage (or of first- and "
            f"second-stage variables where both are free): {e}; robust methods need "
            "expressions that are affine in each stage"
        ) from None
    return float(oc[0]), np.asarray(oa.toarray()).ravel(), rc, ra


FEAS_TOL = 1e-6


def solve_recourse_vector(
    rs: RobustStructure, vals: np.ndarray, time_limit: float | None = None
) -> tuple[str, float, np.ndarray]:
    """Internal recourse: (status, internal min objective, full vector)."""
    status, val, _, full = solve_recourse_bounded(rs, vals, time_limit)
    return status, val, full


def solve_recourse_bounded(
    rs: RobustStructure,
    vals: np.ndarray,
    time_limit: float | None = None,
    mip_rel_gap: float | None = None,
) -> tuple[str, float, float, np.ndarray]:
    """Internal recourse with a relative gap: (status, value, proven lower bound, full vector).

    ``value`` is the internal (minimised) objective of the recourse found, ``bound``
    the solver's proven lower bound on the optimum (``value`` itself when the
    problem is infeasible or unbounded, NaN when the solve ended without one).
    """
    fixed = rs.first | rs.uncertain
    oc, c, rc, ra = fix_stages(rs, vals, fixed)
    free = np.nonzero(rs.second)[0]
    a = sp.csr_matrix(ra[:, free])
    lo, hi = rs.rows.lo - rc, rs.rows.hi - rc
    empty = np.diff(a.indptr) == 0
    scale = 1.0 + np.abs(rc)
    if bool(((lo[empty] > FEAS_TOL * scale[empty]) | (hi[empty] < -FEAS_TOL * scale[empty])).any()):
        return "infeasible", math.inf, math.inf, vals.copy()
    keep = ~empty
    res = solve_milp(
        c[free],
        sp.csr_matrix(a[keep]),
        lo[keep],
        hi[keep],
        rs.col_lb[free],
        rs.col_ub[free],
        rs.integrality[free],
        offset=oc,
        time_limit=time_limit,
        mip_rel_gap=mip_rel_gap,
    )
    full = vals.copy()
    if res.status in ("optimal", "limit"):
        full[free] = res.x
        return res.status, res.objective, res.bound, full
    if res.status == "unbounded":
        return res.status, -math.inf, -math.inf, full
    return res.status, math.inf, math.inf, full


def _vals(rs: RobustStructure, x: Any, xi: Any) -> np.ndarray:
    vx = x if isinstance(x, np.ndarray) and x.shape == (rs.n,) else rs.vector("first", x)
    vxi = xi if isinstance(xi, np.ndarray) and xi.shape == (rs.n,) else rs.vector("uncertain", xi)
    return np.where(rs.first, vx, 0.0) + np.where(rs.uncertain, vxi, 0.0)


def solve_recourse(
    model: Model | RobustStructure,
    x: Any,
    xi: Any,
    *,
    time_limit: float | None = None,
) -> RecourseSolution:
    """Solve the recourse problem ``min_y f(x, xi, y)`` for fixed ``x`` and ``xi``.

    Parameters
    ----------
    model
        The robust model, or its :func:`robust_structure` (faster when called often).
    x, xi
        First-stage and uncertain values: ``{var: number | {label: number}}``
        (as in ``Result.values``) or flat arrays in the order of
        ``RobustStructure.columns``.
    time_limit
        Seconds for the MILP.

    Returns
    -------
    RecourseSolution
    """
    rs = robust_structure(model)
    status, val, full = solve_recourse_vector(rs, _vals(rs, x, xi), time_limit)
    ok = status in ("optimal", "limit")
    return RecourseSolution(
        objective=rs.sign * val,
        feasible=ok or status == "unbounded",
        values=rs.split(full, "second") if ok else {},
        status=status,
        y=full[rs.second],
    )


def recourse_value(
    model: Model | RobustStructure, x: Any, xi: Any, *, time_limit: float | None = None
) -> float:
    """The objective (first-stage cost included) after the best recourse at ``x``, ``xi``.

    ``inf`` (``-inf`` for a maximising model) when no recourse is feasible.  See
    :func:`solve_recourse` for the arguments.
    """
    return solve_recourse(model, x, xi, time_limit=time_limit).objective
