"""The exact worst-case cost of a fixed first-stage decision: :func:`evaluate_first_stage`."""

from __future__ import annotations

import math
import numbers
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from workbench.ir.model import Model
from workbench.robust.boxsplit import boxsplit_eval
from workbench.robust.enumeration import enumeration_eval
from workbench.robust.evaluation import RobustEvaluation
from workbench.robust.kkt import kkt_data, kkt_eval
from workbench.robust.milp import solve_milp
from workbench.robust.recourse import FEAS_TOL, solve_recourse_vector
from workbench.robust.structure import RobustStructure, robust_structure

__all__ = ["METHODS", "center_scenario", "evaluate_first_stage", "kkt_applicable"]


METHODS = ("auto", "kkt", "enumeration", "boxsplit", "sampling")


def _first_stage_violation(rs: RobustStructure, vx: np.ndarray) -> str | None:
    """Name of a violated first-stage-only row or bound, or None."""
    fi = np.nonzero(rs.first)[0]
    lb, ub = rs.col_lb[fi], rs.col_ub[fi]
    bad = (vx[fi] < lb - FEAS_TOL) | (vx[fi] > ub + FEAS_TOL)
    if rs.integrality[fi].any():
        bad |= rs.integrality[fi] & (np.abs(vx[fi] - np.round(vx[fi])) > 1e-6)
    if bad.any():
        return f"bound or integrality of first-stage column {int(fi[np.argmax(bad)])}"
    only = ~rs.rows.touches(~rs.first)
    if only.any():
        c, _ = rs.rows.restrict(vx, rs.first.copy())
        sc = 1.0 + np.abs(c)
        viol = only & ((c < rs.rows.lo - FEAS_TOL * sc) | (c > rs.rows.hi + FEAS_TOL * sc))
        if viol.any():
            return rs.rows.names[int(np.argmax(viol))]
    return None


def _sample_vertices(rs: RobustStructure, k: int, seed: int) -> list[np.ndarray]:
    """*k* vertices of the uncertainty set from random LP directions."""
    rng = np.random.default_rng(seed)
    xi_idx = np.nonzero(rs.uncertain)[0]
    ua = sp.csr_matrix(rs.uset.A[:, xi_idx])
    out = []
    for _ in range(k):
        c = rng.standard_normal(xi_idx.size)
        res = solve_milp(c, ua, rs.uset.lo - rs.uset.const, rs.uset.hi - rs.uset.const,
                     rs.col_lb[xi_idx], rs.col_ub[xi_idx], rs.integrality[xi_idx])  # fmt: skip
        if res.status == "optimal":
            v = np.zeros(rs.n)
            v[xi_idx] = res.x
            out.append(v)
    return out


def center_scenario(rs: RobustStructure) -> np.ndarray:
    """A point of the uncertainty set near the middle of its box.

    Parameters
    ----------
    rs
        The model's :func:`~workbench.robust.robust_structure`.

    Returns
    -------
    numpy.ndarray
        A full-length vector, zero off the uncertain columns: the middle of
        the uncertainty box when it lies in the set (and the set is
        continuous), else a feasible point of the set found by HiGHS.
    """
    xi_idx = np.nonzero(rs.uncertain)[0]
    mid = 0.5 * (rs.xi_lo[xi_idx] + rs.xi_hi[xi_idx])
    ua = sp.csr_matrix(rs.uset.A[:, xi_idx])
    lo, hi = rs.uset.lo - rs.uset.const, rs.uset.hi - rs.uset.const
    v = np.zeros(rs.n)
    act = ua @ mid
    if np.all(act >= lo - 1e-9) and np.all(act <= hi + 1e-9) and not rs.integrality[xi_idx].any():
        v[xi_idx] = mid
        return v
    res = solve_milp(np.zeros(xi_idx.size), ua, lo, hi, rs.col_lb[xi_idx], rs.col_ub[xi_idx],
                 rs.integrality[xi_idx])  # fmt: skip
    v[xi_idx] = res.x
    return v


def kkt_applicable(rs: RobustStructure) -> bool:
    """True when the recourse is continuous and ``xi`` never multiplies ``y``."""
    if bool(rs.integrality[rs.second].any()):
        return False
    return kkt_data(rs, np.where(rs.first, 1.0, 0.0)) is not None


def evaluate_first_stage(
    model: Model | RobustStructure,
    first_stage_values: Any,
    *,
    time_limit: float | None = None,
    tol: float = 1e-6,
    method: str = "auto",
    big_m: float = 1e4,
    max_iterations: int = 10_000,
    samples: int = 32,
    seed: int | None = 0,
    cutoff: float | None = None,
) -> RobustEvaluation:
    """The exact worst-case cost ``max_xi min_y f(x, xi, y)`` of a fixed first stage ``x``.

    Parameters
    ----------
    model
        A two-stage robust model, or its :func:`robust_structure`.
    first_stage_values
        ``{var: number | {label: number}}`` (as in ``Result.values``) or a flat
        array in the order of ``RobustStructure.columns('first')``.
    time_limit
        Seconds in all (``None``: no limit).
    tol
        Relative tolerance at which the adversary's bounds count as met (both
        are proven MILP bounds; ``objective`` is the conservative one).
    method
        ``"auto"`` (``kkt`` for a continuous recourse with ``xi`` only in
        right-hand sides, else ``enumeration``), ``"kkt"``, ``"enumeration"``,
        ``"boxsplit"`` (a box uncertainty set: spatial branch and bound over the
        box, see :mod:`~workbench.robust.boxsplit`) or ``"sampling"`` (a lower
        bound from *samples* vertices of the set).
    big_m
        The big-M of the KKT complementarity (a dual at this value makes the
        result ``exact=False``).
    max_iterations
        Cap on the enumeration's recourse solves, and on the regions of ``boxsplit``.
    samples, seed
        For ``sampling``.
    cutoff
        A value in the model's sense (``enumeration`` and ``boxsplit``): stop as soon as the
        worst case is proven no better than it (at least *cutoff* when
        minimising, at most when maximising).  The result then has
        ``cut_off=True`` and ``exact=False``; its ``lower_bound`` and
        ``worst_scenario`` prove the claim.  Used to reject a candidate first
        stage that cannot beat an incumbent without evaluating it to the end.

    Returns
    -------
    RobustEvaluation

    Raises
    ------
    ModelError
        Bad values, or a bad ``robust`` section (see :func:`robust_structure`).
    UnsupportedProblemError
        A method that does not apply to this model.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not (tol > 0 and big_m > 0 and max_iterations >= 1):
        raise ValueError("tol and big_m must be > 0 and max_iterations >= 1")
    if cutoff is not None and (
        isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real) or math.isnan(cutoff)
    ):
        raise ValueError(f"cutoff must be a number (the model's sense) or None, got {cutoff!r}")
    t0 = time.perf_counter()
    deadline = t0 + (float(time_limit) if time_limit is not None else math.inf)
    rs = robust_structure(model)
    vx = np.where(rs.first, rs.vector("first", first_stage_values), 0.0)
    bad = _first_stage_violation(rs, vx)
    if bad is not None:
        return RobustEvaluation(rs.sign * math.inf, {}, {}, 0, True, method, math.inf, math.inf,
                                False, f"x violates {bad}", time.perf_counter() - t0)  # fmt: skip
    if method == "auto":
        method = "kkt" if kkt_applicable(rs) else "enumeration"
    if method == "kkt":
        out = kkt_eval(rs, vx, big_m=big_m, deadline=deadline, tol=tol)
    elif method == "enumeration":
        out = enumeration_eval(rs, vx, np.where(rs.uncertain, center_scenario(rs), 0.0), tol=tol,
                           deadline=deadline, max_iterations=max_iterations,
                           cutoff=None if cutoff is None else rs.sign * cutoff)  # fmt: skip
    elif method == "boxsplit":
        out = boxsplit_eval(rs, vx, tol=tol, deadline=deadline, max_regions=max_iterations,
                            cutoff=None if cutoff is None else rs.sign * cutoff)  # fmt: skip
    else:
        out = _sampling(rs, vx, samples, 0 if seed is None else seed, deadline)
    out.seconds = time.perf_counter() - t0
    return out


def _sampling(
    rs: RobustStructure, vx: np.ndarray, k: int, seed: int, deadline: float
) -> RobustEvaluation:
    best, best_full, best_xi, it = -math.inf, None, None, 0
    for xi in [center_scenario(rs), *_sample_vertices(rs, k, seed)]:
        if time.perf_counter() > deadline:
            break
        it += 1
        st, val, full = solve_recourse_vector(rs, np.where(rs.uncertain, xi, vx))
        if st == "infeasible":
            return RobustEvaluation(rs.sign * math.inf, rs.split(xi, "uncertain"), {}, it, True,
                                    "sampling", math.inf, math.inf, False,
                                    "no feasible recourse at a sampled scenario", xi=xi)  # fmt: skip
        if val > best:
            best, best_full, best_xi = val, full, xi
    if best_xi is None or best_full is None:
        return RobustEvaluation(math.nan, {}, {}, it, False, "sampling", message="no sample solved")
    return RobustEvaluation(
        rs.sign * best,
        rs.split(best_xi, "uncertain"),
        rs.split(best_full, "second"),
        it,
        False,
        "sampling",
        best,
        math.inf,
        True,
        f"lower bound: the worst of {it} sampled scenarios (not exact)",
        xi=best_xi,
    )
