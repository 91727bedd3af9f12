"""Lazy enumeration of recourse solutions: the exact worst case for an integer recourse.

For a fixed ``x``: ``max t s.t. t <= f(xi, y_k)`` for every recourse solution
``y_k`` found so far that is still feasible at ``xi`` (a disjunction with
big-Ms from the uncertainty box), then the recourse at the new ``xi``; exact
when the two bounds meet, which happens in finitely many steps for a pure
integer recourse.

The recourse MILPs can be solved *loosely* while the bounds are far apart: the
relative gap handed to HiGHS is a quarter of the current relative distance
between the bounds (at most :data:`LOOSE_GAP`, at least ``tol``).  The lower
bound takes the MILP's proven dual bound (valid however early the solve
stopped), and the cut takes the solver's best ``y`` (any feasible recourse
gives a valid cut).  As the bounds close the gap tightens with them, and a
repeated ``y`` from a loose solve is re-solved at ``tol`` before the loop gives
up, so the answer is exact to ``tol`` exactly as with tight solves.
Loose solves are used only while every cut is a plain value cut: once some
recourse solution can become infeasible under the uncertainty (its cut
carries big-M infeasibility indicators), the rest of the evaluation solves
the recourse to ``tol``.  On capital budgeting (CB_n10_xi4_s1, an uncertain
budget row) loose ``y`` in such cuts drove the adversarial MILP into HiGHS
solve errors, and the evaluation of the learned ``x`` ended inexact.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from workbench.compile.affine import NonlinearError
from workbench.errors import UnsupportedProblemError
from workbench.robust.evaluation import RobustEvaluation, bounds_met
from workbench.robust.milp import LpSolution, solve_milp
from workbench.robust.recourse import solve_recourse_bounded
from workbench.robust.rows import Rows
from workbench.robust.structure import RobustStructure

__all__ = ["LOOSE_GAP", "enumeration_eval"]

#: the loosest relative MILP gap of a recourse solve inside the enumeration (0: always ``tol``)
LOOSE_GAP = 1e-2


def _affine_in(
    rs: RobustStructure, r: Rows, vals: np.ndarray, fixed: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of *r* as ``const + G v[cols]`` with everything outside *cols* fixed at *vals*."""
    try:
        c, a = r.restrict(vals, fixed)
    except NonlinearError as e:
        raise UnsupportedProblemError(f"not affine in the uncertain variables: {e}") from None
    return c, np.asarray(a[:, cols].toarray())


def _box_range(
    const: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    gp, gn = np.maximum(g, 0.0), np.minimum(g, 0.0)
    return const + gp @ lo + gn @ hi, const + gp @ hi + gn @ lo


class _Triplets:
    """Rows collected as sparse triplets with bounds."""

    def __init__(self) -> None:
        self.r: list[int] = []
        self.c: list[int] = []
        self.v: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols: list[int], coefs: list[float], lo: float, hi: float) -> None:
        self.r.extend([len(self.lo)] * len(cols))
        self.c.extend(cols)
        self.v.extend(coefs)
        self.lo.append(lo)
        self.hi.append(hi)

    def matrix(self, ncol: int) -> sp.csr_matrix:
        return sp.csr_matrix((self.v, (self.r, self.c)), shape=(len(self.lo), ncol))


_Cut = tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, float, float, int]]]


def _enum_adversary(
    rs: RobustStructure, cuts: list[_Cut], deadline: float, gap: float
) -> LpSolution:
    """max t s.t. t <= f_k(xi) + Mg_k * sum(w_k), w_k => y_k infeasible at xi; xi in U."""
    xi_idx = np.nonzero(rs.uncertain)[0]
    d = xi_idx.size
    lo_b, hi_b = rs.xi_lo[xi_idx], rs.xi_hi[xi_idx]
    fmax = max(float(_box_range(c, g[None, :], lo_b, hi_b)[1][0]) for c, g, _ in cuts)
    t_top = fmax + 1.0 + abs(fmax)
    nw = sum(len(s) for _, _, s in cuts)
    ncol = d + 1 + nw
    tri = _Triplets()
    w = d + 1
    for c, g, sides in cuts:
        fmin = float(_box_range(c, g[None, :], lo_b, hi_b)[0][0])
        mg = t_top - fmin
        ws = list(range(w, w + len(sides)))
        # t - g.xi - mg * sum(w) <= c
        tri.add([*range(d), d, *ws], [*(-g).tolist(), 1.0, *([-mg] * len(ws))], -math.inf,
                float(c[0]))  # fmt: skip
        if len(ws) > 1:
            tri.add(ws, [1.0] * len(ws), -math.inf, 1.0)
        for (gr, rhs, m_big, side), wj in zip(sides, ws):
            if side > 0:  # g.xi - M w >= rhs - M
                tri.add([*range(d), wj], [*gr.tolist(), -m_big], rhs - m_big, math.inf)
            else:  # g.xi + M w <= rhs + M
                tri.add([*range(d), wj], [*gr.tolist(), m_big], -math.inf, rhs + m_big)
        w += len(ws)
    ua = sp.csr_matrix(rs.uset.A[:, xi_idx])
    a_u = sp.hstack([ua, sp.csr_matrix((ua.shape[0], 1 + nw))])
    cobj = np.zeros(ncol)
    cobj[d] = 1.0
    return solve_milp(
        cobj,
        sp.csr_matrix(sp.vstack([tri.matrix(ncol), a_u])),
        np.concatenate([tri.lo, rs.uset.lo - rs.uset.const]),
        np.concatenate([tri.hi, rs.uset.hi - rs.uset.const]),
        np.concatenate([rs.col_lb[xi_idx], [-math.inf], np.zeros(nw)]),
        np.concatenate([rs.col_ub[xi_idx], [t_top], np.ones(nw)]),
        np.concatenate([rs.integrality[xi_idx], [False], np.ones(nw, dtype=bool)]),
        sense="max",
        time_limit=max(deadline - time.perf_counter(), 0.01) if math.isfinite(deadline) else None,
        mip_rel_gap=gap,
    )


def _gap(lb: float, ub: float, tol: float) -> float:
    """The recourse MILP's relative gap: a quarter of the bounds' distance, in [tol, LOOSE_GAP]."""
    if not (math.isfinite(lb) and math.isfinite(ub)):
        return max(tol, LOOSE_GAP)
    return min(max(tol, 0.25 * (ub - lb) / max(1.0, abs(ub))), max(tol, LOOSE_GAP))


def enumeration_eval(
    rs: RobustStructure,
    vx: np.ndarray,
    xi0: np.ndarray,
    *,
    tol: float,
    deadline: float,
    max_iterations: int,
    cutoff: float | None = None,
) -> RobustEvaluation:
    """Lazy enumeration of recourse solutions (see the module docstring).

    With *cutoff* (the internal minimising sense) the loop stops as soon as the
    lower bound reaches it: the worst case is then proven no better than it.
    """
    xi_idx = np.nonzero(rs.uncertain)[0]
    d = xi_idx.size
    fixed_xy = rs.first | rs.second
    lo_b, hi_b = rs.xi_lo[xi_idx], rs.xi_hi[xi_idx]
    ys: list[np.ndarray] = []  # full vectors (x, y) of each recourse solution found
    cuts: list[_Cut] = []
    best_lb, best_xi, best_full = -math.inf, xi0, None
    ub = math.inf
    xi = xi0
    it = 0
    msg = ""
    approx = False
    retry = False
    cut = False
    loose = True  # until a cut needs infeasibility indicators (see the module docstring)
    while True:
        it += 1
        gap = tol if retry or not loose else _gap(best_lb, ub, tol)
        retry = False
        status, val, bound, full = solve_recourse_bounded(
            rs, np.where(rs.uncertain, xi, vx), max(deadline - time.perf_counter(), 0.01), gap
        )
        if status == "infeasible":
            return RobustEvaluation(rs.sign * math.inf, rs.split(xi, "uncertain"), {}, it, True,
                                    "enumeration", math.inf, math.inf, False,
                                    "no feasible recourse at the worst scenario",
                                    xi=xi)  # fmt: skip
        if status not in ("optimal", "limit"):
            msg = f"recourse solve ended '{status}'"
            break
        if status == "limit":
            approx = True
        lb_here = bound if math.isfinite(bound) else val
        if lb_here > best_lb:
            best_lb, best_xi, best_full = lb_here, xi, full
        if bounds_met(best_lb, ub, tol):
            break
        if cutoff is not None and best_lb >= cutoff:
            cut = True
            msg = f"cut off: the worst case is at least {best_lb:.10g} >= {cutoff:.10g}"
            break
        if any(np.array_equal(full[rs.second], y[rs.second]) for y in ys):
            if gap > tol and it < max_iterations and time.perf_counter() < deadline:
                retry = True  # a loose solve: solve this scenario again at tol
                continue
            msg = "the adversary repeated a recourse solution (numerical tolerance)"
            break
        ys.append(full)
        # the new recourse solution as affine functions of xi
        oc, og = _affine_in(rs, rs.objective, full, fixed_xy, xi_idx)
        rc, rg = _affine_in(rs, rs.rows, full, fixed_xy, xi_idx)
        sides: list[tuple[np.ndarray, float, float, int]] = []
        live = np.nonzero(np.abs(rg).sum(axis=1) > 0)[0]
        rmin, rmax = _box_range(rc[live], rg[live], lo_b, hi_b)
        for k, r in enumerate(live):
            # a violation counts from eps, relative to the row's finite sides and constant
            # (an infinite side must not enter the scale: that made eps infinite and hid
            # every scenario at which a one-sided row, e.g. a budget, has no recourse)
            sides_r = [abs(float(b)) for b in (rs.rows.hi[r], rs.rows.lo[r]) if np.isfinite(b)]
            eps = 1e-5 * max(1.0, abs(float(rc[r])), *sides_r)
            if np.isfinite(rs.rows.hi[r]) and rmax[k] > rs.rows.hi[r] + eps:
                # violated when g.xi + c >= hi + eps: row  g.xi - M w >= hi + eps - M - c
                m_big = float(rs.rows.hi[r] + eps - rmin[k])
                sides.append((rg[r], float(rs.rows.hi[r] + eps - rc[r]), m_big, 1))
            if np.isfinite(rs.rows.lo[r]) and rmin[k] < rs.rows.lo[r] - eps:
                m_big = float(rmax[k] - rs.rows.lo[r] + eps)
                sides.append((rg[r], float(rs.rows.lo[r] - eps - rc[r]), m_big, -1))
        cuts.append((np.array([oc[0]]), og[0], sides))
        loose = loose and not sides
        if time.perf_counter() > deadline:
            msg = "time limit"
            break
        if it >= max_iterations:
            msg = "iteration limit"
            break
        res = _enum_adversary(rs, cuts, deadline, 0.25 * tol)
        if res.status != "optimal":
            msg = f"adversarial problem ended '{res.status}'"
            break
        # the MILP's proven (dual) bound: its incumbent alone may sit below the true max
        ub = min(ub, float(res.bound) if math.isfinite(res.bound) else float(res.objective))
        xi = np.zeros(rs.n)
        xi[xi_idx] = res.x[:d]
    exact = bounds_met(best_lb, ub, tol) and not approx and not cut
    obj = ub  # the conservative side (exact: within tol of the lower bound)
    if approx:
        msg = (msg + "; " if msg else "") + "a recourse MILP hit its time limit"
    elif not exact and not msg:
        msg = "bounds did not meet"
    full = best_full if best_full is not None else np.where(rs.uncertain, best_xi, vx)
    return RobustEvaluation(
        rs.sign * obj,
        rs.split(best_xi, "uncertain"),
        rs.split(full, "second") if best_full is not None else {},
        it,
        exact,
        "enumeration",
        best_lb,
        ub,
        True,
        msg or "bounds met",
        xi=best_xi,
        cut_off=cut,
    )
