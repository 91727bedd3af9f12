"""Spatial branch and bound over an uncertainty box: the exact worst case of a fixed first stage.

For a fixed ``x`` and a box uncertainty set, ``max_{xi in box} Q(x, xi)`` with
``Q(x, xi) = min_y f(x, y, xi)`` is bracketed region by region:

- **upper bound** of a region ``R = [l, u]``: the *region-robust recourse*
  ``min_{y, theta} theta`` with ``theta >= f(x, y, xi)`` and every recourse
  row holding for all ``xi`` in ``R``.  A row ``g_0(y) + sum_f xi_f g_f(y)``
  (each ``g_f`` affine in ``y``) is largest over ``R`` at
  ``g_0(y) + sum_f (m_f g_f(y) + r_f |g_f(y)|)`` with centre ``m`` and
  half-widths ``r``: linear with auxiliaries ``s_f >= +-g_f(y)``.  One MILP
  on HiGHS; any feasible ``y`` proves the bound, so HiGHS's incumbent is
  used (an infeasible region gets ``+inf`` and is split);
- **lower bound**: the recourse value at each region's centre (the solver's
  proven bound on it), by the shared recourse solver.  A centre with no
  feasible recourse proves ``x`` infeasible.

Leaves sit in a heap by upper bound; the one with the largest is split in two
at its middle, along the dimension with the largest contribution
``r_f |g_f(y*)|`` at the region's robust recourse ``y*`` (``split="impact"``)
or along its widest side (``split="widest"``).  The loop stops when the
largest leaf bound meets the best point value within ``tol``, at the
deadline, at ``max_regions``, or once the lower bound reaches ``cutoff``.
Both bounds are valid at every stop.

Applies to a box uncertainty set (no uncertainty-set row cuts the bounds of
``xi``), continuous and bounded ``xi``, and rows and objective affine in
``xi`` for fixed ``(x, y)``; products ``xi * y`` are allowed.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from workbench.compile.affine import NonlinearError
from workbench.errors import UnsupportedProblemError
from workbench.robust.enumeration import _box_range
from workbench.robust.evaluation import RobustEvaluation, bounds_met
from workbench.robust.milp import LpSolution, solve_milp
from workbench.robust.recourse import FEAS_TOL, solve_recourse_bounded
from workbench.robust.rows import Rows
from workbench.robust.structure import RobustStructure

__all__ = ["REGION_SECONDS", "SPLITS", "boxsplit_applicable", "boxsplit_eval"]

#: the most seconds one region MILP or point recourse may take (their incumbent and
#: dual bound stay valid bounds)
REGION_SECONDS = 2.0

#: the split rules: ``impact`` (largest ``r_f |g_f(y*)|``) or ``widest``
SPLITS = ("impact", "widest")


@dataclass
class _Bilinear:
    """Rows ``c0 + G0 y + sum_f xi_f (cf[f] + Gf[f] y)`` with ``x`` fixed (y columns only)."""

    c0: np.ndarray  # (m,)
    g0: sp.csr_matrix  # (m, p)
    cf: np.ndarray  # (d, m)
    gf: list[sp.csr_matrix]  # d of (m, p)
    lo: np.ndarray
    hi: np.ndarray
    #: (row, f) pairs whose xi_f coefficient depends on y: they get an auxiliary |.|
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))

    @property
    def m(self) -> int:
        return int(self.c0.shape[0])

    def coef(self, f: int, y: np.ndarray) -> np.ndarray:
        """``g_f(y)`` of every row."""
        return np.asarray(self.cf[f] + self.gf[f] @ y)


def _bilinear(rs: RobustStructure, r: Rows, vx: np.ndarray, where: str) -> _Bilinear:
    """Split *r* (x fixed at *vx*) into its part free of ``xi`` and one part per ``xi_f``."""
    unc = rs.uncertain
    if r.qrow.size and bool((unc[r.qi] & unc[r.qj]).any()):
        raise UnsupportedProblemError(
            f"method='boxsplit': the {where} has a product of two uncertain variables; "
            "it needs rows and objective affine in xi for fixed (x, y)"
        )
    fixed = rs.first | unc
    yi, xi_idx = np.nonzero(rs.second)[0], np.nonzero(unc)[0]
    base = np.where(rs.first, vx, 0.0)
    try:
        c0, a0 = r.restrict(base, fixed)
        parts = []
        for j in xi_idx:
            v = base.copy()
            v[j] = 1.0
            parts.append(r.restrict(v, fixed))
    except NonlinearError as e:
        raise UnsupportedProblemError(
            f"method='boxsplit': the {where} is not affine in the second stage for fixed "
            f"(x, xi): {e}"
        ) from None
    g0 = sp.csr_matrix(a0[:, yi])
    cf = np.array([c - c0 for c, _ in parts]).reshape(len(parts), r.m)
    gf = [sp.csr_matrix(a[:, yi] - g0) for _, a in parts]
    for g in gf:
        g.eliminate_zeros()
    pairs = [(i, f) for f, g in enumerate(gf) for i in np.nonzero(np.diff(g.indptr))[0]]
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return _Bilinear(c0, g0, cf, gf, r.lo.copy(), r.hi.copy(), arr)


def _box_check(rs: RobustStructure) -> None:
    """UnsupportedProblemError unless the uncertainty set is a bounded continuous box."""
    xi_idx = np.nonzero(rs.uncertain)[0]
    if rs.integrality[xi_idx].any():
        raise UnsupportedProblemError(
            "method='boxsplit' needs continuous uncertain variables; this model has integer "
            "ones (use method='enumeration')"
        )
    lb, ub = rs.col_lb[xi_idx], rs.col_ub[xi_idx]
    if not (np.isfinite(lb).all() and np.isfinite(ub).all()):
        raise UnsupportedProblemError(
            "method='boxsplit' needs finite bounds (lb and ub) on every uncertain variable; "
            "the uncertainty set is bounded only through its constraints, so it is not a box"
        )
    u = rs.uset
    if not u.m:
        return
    g = np.asarray(u.A[:, xi_idx].toarray())
    rmin, rmax = _box_range(u.const, g, lb, ub)
    scale = 1.0 + np.maximum(np.abs(rmin), np.abs(rmax))
    cuts = (rmin < u.lo - 1e-9 * scale) | (rmax > u.hi + 1e-9 * scale)
    if cuts.any():
        k = int(np.nonzero(cuts)[0][0])
        raise UnsupportedProblemError(
            f"method='boxsplit' needs a box uncertainty set, but the constraint "
            f"'{u.names[k]}' cuts the box of the uncertain variables' bounds "
            f"({int(cuts.sum())} such row(s)); use method='enumeration' (or 'kkt')"
        )


def boxsplit_applicable(rs: RobustStructure) -> bool:
    """Whether ``method='boxsplit'`` applies (a box set, rows affine in ``xi``)."""
    try:
        _box_check(rs)
        vx = np.zeros(rs.n)
        _bilinear(rs, rs.objective, vx, "objective")
        _bilinear(rs, rs.rows, vx, "constraints")
    except UnsupportedProblemError:
        return False
    return True


class _Pool:
    """Recourse solutions seen so far, as affine functions of ``xi`` (objective and rows)."""

    def __init__(self, obj: _Bilinear, rows: _Bilinear) -> None:
        self.obj, self.rows = obj, rows
        self.seen: set[bytes] = set()
        d, m = len(rows.gf), rows.m
        self.k = 0
        self.a = np.zeros(16)  # objective constant per solution
        self.b = np.zeros((16, d))  # objective xi coefficients
        self.g0 = np.zeros((16, m))  # row constants
        self.gf = np.zeros((16, d, m))  # row xi coefficients

    def add(self, y: np.ndarray) -> None:
        key = np.round(y, 9).tobytes()
        if key in self.seen:
            return
        self.seen.add(key)
        if self.k == self.a.shape[0]:
            self.a, self.b, self.g0, self.gf = (
                np.concatenate([v, np.zeros_like(v)]) for v in (self.a, self.b, self.g0, self.gf)
            )
        o, r, k = self.obj, self.rows, self.k
        self.a[k] = float((o.c0 + o.g0 @ y)[0])
        self.b[k] = [float(o.coef(f, y)[0]) for f in range(len(o.gf))]
        self.g0[k] = r.c0 + r.g0 @ y
        self.gf[k] = [r.coef(f, y) for f in range(len(r.gf))]
        self.k += 1

    def bound(self, lo: np.ndarray, hi: np.ndarray) -> tuple[float, np.ndarray | None]:
        """``max_{xi in [lo, hi]} min_k f(y_k, xi)`` over the solutions feasible on the whole box.

        Returns the bound and its maximiser (``(inf, None)`` without such solutions).
        """
        if not self.k:
            return math.inf, None
        mid, rad = 0.5 * (lo + hi), 0.5 * (hi - lo)
        gf = self.gf[: self.k]
        centre = self.g0[: self.k] + np.einsum("f,kfm->km", mid, gf)
        spread = np.einsum("f,kfm->km", rad, np.abs(gf))
        lo_r, hi_r = self.rows.lo, self.rows.hi
        slack = FEAS_TOL * (1.0 + np.abs(centre))
        with np.errstate(invalid="ignore"):
            ok = ((centre + spread <= hi_r + slack) & (centre - spread >= lo_r - slack)).all(axis=1)
        idx = np.nonzero(ok)[0]
        if not idx.size:
            return math.inf, None
        d = lo.size
        # max t  s.t.  t - b_k . xi <= a_k
        a = sp.csr_matrix(np.hstack([-self.b[idx], np.ones((idx.size, 1))]))
        c = np.zeros(d + 1)
        c[d] = 1.0
        res = solve_milp(c, a, np.full(idx.size, -math.inf), self.a[idx],
                         np.concatenate([lo, [-math.inf]]), np.concatenate([hi, [math.inf]]),
                         np.zeros(d + 1, dtype=bool), sense="max")  # fmt: skip
        if res.status != "optimal":
            return math.inf, None
        return float(res.objective), np.clip(res.x[:d], lo, hi)


@dataclass(order=True)
class _Leaf:
    """A region in the heap, ordered by ``-ub`` (the largest bound first)."""

    key: float
    seq: int
    lo: np.ndarray = field(compare=False)
    hi: np.ndarray = field(compare=False)
    ub: float = field(compare=False)
    y: np.ndarray | None = field(compare=False, default=None)


@dataclass
class _Search:
    """The state of one evaluation."""

    rs: RobustStructure
    vx: np.ndarray
    obj: _Bilinear
    rows: _Bilinear
    tol: float
    deadline: float
    split: str
    lb: float = -math.inf
    best_xi: np.ndarray | None = None
    best_full: np.ndarray | None = None
    solves: int = 0
    approx: bool = False
    #: the region-independent rows ``s_k >= +-g_f(y)`` (built at the first region)
    abs_rows: list[sp.csr_matrix] | None = None
    pool: _Pool | None = None
    #: the current global upper bound (for the MILP gap)
    ub: float = math.inf

    def left(self) -> float | None:
        return (
            max(self.deadline - time.perf_counter(), 0.01) if math.isfinite(self.deadline) else None
        )


def _region_milp(s: _Search, lo: np.ndarray, hi: np.ndarray) -> LpSolution:
    """``min theta`` over y robust on ``[lo, hi]``: columns y | theta | s_obj | s_rows."""
    mid, rad = 0.5 * (lo + hi), 0.5 * (hi - lo)
    yi = np.nonzero(s.rs.second)[0]
    p = yi.size
    blocks: list[sp.csr_matrix] = []
    rlo: list[np.ndarray] = []
    rhi: list[np.ndarray] = []
    npo, npr = s.obj.pairs.shape[0], s.rows.pairs.shape[0]
    ncol = p + 1 + npo + npr
    for b, off, is_obj in ((s.obj, p + 1, True), (s.rows, p + 1 + npo, False)):
        body = b.g0 + sum((mid[f] * b.gf[f] for f in range(len(b.gf))), sp.csr_matrix(b.g0.shape))
        const = b.c0 + mid @ b.cf
        # |cf| of (row, f) without an auxiliary (the coefficient does not depend on y)
        has_aux = np.zeros((b.m, len(b.gf)), dtype=bool)
        has_aux[b.pairs[:, 0], b.pairs[:, 1]] = True
        fixed_abs = (np.abs(b.cf.T) * ~has_aux) @ rad
        npair = b.pairs.shape[0]
        aux = sp.csr_matrix(
            (rad[b.pairs[:, 1]], (b.pairs[:, 0], off + np.arange(npair))), shape=(b.m, ncol)
        )
        left = sp.hstack([body, sp.csr_matrix((b.m, ncol - p))]).tocsr()
        if is_obj:  # body + aux - theta <= -const - fixed_abs
            th = sp.csr_matrix((np.full(b.m, -1.0), (np.arange(b.m), np.full(b.m, p))),
                               shape=(b.m, ncol))  # fmt: skip
            blocks.append(sp.csr_matrix(left + aux + th))
            rlo.append(np.full(b.m, -math.inf))
            rhi.append(-const - fixed_abs)
            continue
        up, dn = np.isfinite(b.hi), np.isfinite(b.lo)
        blocks += [sp.csr_matrix((left + aux)[np.nonzero(up)[0]]),
                   sp.csr_matrix((left - aux)[np.nonzero(dn)[0]])]  # fmt: skip
        rlo += [np.full(int(up.sum()), -math.inf), (b.lo - const + fixed_abs)[dn]]
        rhi += [(b.hi - const - fixed_abs)[up], np.full(int(dn.sum()), math.inf)]
    if s.abs_rows is None:
        s.abs_rows = [*_abs_rows(s.obj, p + 1, ncol, p), *_abs_rows(s.rows, p + 1 + npo, ncol, p)]
    blocks += s.abs_rows
    for b in (s.obj, s.rows):
        k = b.pairs.shape[0]
        cf = b.cf[b.pairs[:, 1], b.pairs[:, 0]] if k else np.zeros(0)
        rlo += [cf, -cf]  # s - g_f y >= cf ; s + g_f y >= -cf
        rhi += [np.full(k, math.inf), np.full(k, math.inf)]
    c = np.zeros(ncol)
    c[p] = 1.0
    rs = s.rs
    return solve_milp(
        c,
        sp.csr_matrix(sp.vstack(blocks)),
        np.concatenate(rlo),
        np.concatenate(rhi),
        np.concatenate([rs.col_lb[yi], [-math.inf], np.zeros(npo + npr)]),
        np.concatenate([rs.col_ub[yi], [math.inf], np.full(npo + npr, math.inf)]),
        np.concatenate([rs.integrality[yi], np.zeros(1 + npo + npr, dtype=bool)]),
        time_limit=min(s.left() or REGION_SECONDS, REGION_SECONDS),
        mip_rel_gap=_milp_gap(s),
    )


def _milp_gap(s: _Search) -> float:
    """The region MILP's relative gap: a quarter of the global bounds' distance, in [tol/4, 1e-2].

    Its incumbent is the bound, valid at any gap; a loose gap only weakens it while the
    global bounds are far apart (a tight gap made the root MILP take the whole time
    limit on CB_n30).
    """
    if not (math.isfinite(s.lb) and math.isfinite(s.ub)):
        return max(0.25 * s.tol, 1e-2)
    return min(
        max(0.25 * s.tol, 0.25 * (s.ub - s.lb) / max(1.0, abs(s.ub))), max(0.25 * s.tol, 1e-2)
    )


def _abs_rows(b: _Bilinear, off: int, ncol: int, p: int) -> list[sp.csr_matrix]:
    """``s_k - g_f(y) >= cf`` and ``s_k + g_f(y) >= -cf`` for each pair ``k = (row, f)``."""
    k = b.pairs.shape[0]
    if not k:
        return [sp.csr_matrix((0, ncol)), sp.csr_matrix((0, ncol))]
    gy = sp.vstack([b.gf[f][i] for i, f in b.pairs]).tocsr()
    gy = sp.hstack([gy, sp.csr_matrix((k, ncol - p))]).tocsr()
    eye = sp.csr_matrix((np.ones(k), (np.arange(k), off + np.arange(k))), shape=(k, ncol))
    return [sp.csr_matrix(eye - gy), sp.csr_matrix(eye + gy)]


def _region_ub(s: _Search, lo: np.ndarray, hi: np.ndarray) -> tuple[float, np.ndarray | None]:
    """(upper bound, robust y) of a region; ``(inf, None)`` without a robust recourse.

    With the pool, the pool's maximiser is scored too (a lower bound); NaN when it
    has no feasible recourse (``x`` is infeasible).
    """
    res = _region_milp(s, lo, hi)
    s.solves += 1
    if res.status == "unbounded":
        raise UnsupportedProblemError(
            "method='boxsplit': the region-robust recourse is unbounded; give the "
            "second-stage variables finite bounds"
        )
    if res.status not in ("optimal", "limit") or not math.isfinite(res.objective):
        return math.inf, None
    p = int(s.rs.second.sum())
    y = res.x[:p]
    if s.pool is not None:
        s.pool.add(y)
        bound, arg = s.pool.bound(lo, hi)
        if arg is not None and bound > s.lb and _point(s, _embed(s, arg)) == "infeasible":
            return math.nan, None
        return min(float(res.objective), bound), y
    return float(res.objective), y


def _point(s: _Search, xi: np.ndarray) -> str:
    """Score the scenario *xi* (full vector): 'infeasible', 'ok' or the solver's status."""
    vals = np.where(s.rs.uncertain, xi, s.vx)
    status, val, bound, full = solve_recourse_bounded(
        s.rs, vals, min(s.left() or REGION_SECONDS, REGION_SECONDS), 0.25 * s.tol
    )
    s.solves += 1
    if status == "infeasible":
        s.best_xi, s.best_full = xi, None
        return status
    if status not in ("optimal", "limit"):
        return status
    s.approx |= status == "limit"
    if s.pool is not None:
        s.pool.add(full[s.rs.second])
    here = bound if math.isfinite(bound) else val
    if here > s.lb:
        s.lb, s.best_xi, s.best_full = here, xi, full
    return "ok"


def _embed(s: _Search, xi: np.ndarray) -> np.ndarray:
    v = np.zeros(s.rs.n)
    v[np.nonzero(s.rs.uncertain)[0]] = xi
    return v


def _full(s: _Search, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return _embed(s, 0.5 * (lo + hi))


def _split_dim(s: _Search, leaf: _Leaf) -> int:
    """The dimension to halve: widest, or the largest ``r_f |g_f(y*)|`` (scaled per row)."""
    rad = 0.5 * (leaf.hi - leaf.lo)
    if s.split == "widest" or leaf.y is None:
        return int(np.argmax(rad))
    score = np.zeros(rad.size)
    for f in range(rad.size):
        go = float(np.abs(s.obj.coef(f, leaf.y)).sum())
        gr = np.abs(s.rows.coef(f, leaf.y))
        sides = np.maximum(np.where(np.isfinite(s.rows.hi), np.abs(s.rows.hi), 0.0),
                           np.where(np.isfinite(s.rows.lo), np.abs(s.rows.lo), 0.0))  # fmt: skip
        score[f] = rad[f] * (go / (1.0 + abs(leaf.ub)) + float((gr / (1.0 + sides)).sum()))
    if not (score > 1e-12).any():
        return int(np.argmax(rad))
    return int(np.argmax(score))


def _free_rows_check(s: _Search) -> bool:
    """Score the worst box vertex of each row free of y but not of xi; False when infeasible."""
    b, rs = s.rows, s.rs
    xi_idx = np.nonzero(rs.uncertain)[0]
    lo_b, hi_b = rs.xi_lo[xi_idx], rs.xi_hi[xi_idx]
    no_y = np.diff(b.g0.indptr) == 0
    for g in b.gf:
        no_y &= np.diff(g.indptr) == 0
    for i in np.nonzero(no_y & (np.abs(b.cf).sum(axis=0) > 0))[0]:
        for side in (1.0, -1.0):
            bound = b.hi[i] if side > 0 else b.lo[i]
            if not np.isfinite(bound):
                continue
            vert = np.where(side * b.cf[:, i] >= 0, hi_b, lo_b)
            val = b.c0[i] + vert @ b.cf[:, i]
            if side * (val - bound) > FEAS_TOL * (1.0 + abs(val)):
                v = np.zeros(rs.n)
                v[xi_idx] = vert
                if _point(s, v) == "infeasible":
                    return False
    return True


def boxsplit_eval(
    rs: RobustStructure,
    vx: np.ndarray,
    *,
    tol: float,
    deadline: float,
    cutoff: float | None = None,
    max_regions: int = 100_000,
    split: str = "impact",
    pool: bool = True,
) -> RobustEvaluation:
    """The worst case of the first stage *vx* by spatial branch and bound over the box.

    Parameters
    ----------
    rs
        The model's :func:`~workbench.robust.robust_structure`.
    vx
        The first stage as a full-length vector (zero off the first-stage columns).
    tol
        Relative tolerance at which the bounds count as met.
    deadline
        ``time.perf_counter()`` value at which to stop (``math.inf``: none).
    cutoff
        In the internal minimising sense: stop as soon as the lower bound
        reaches it (``cut_off=True``).
    max_regions
        Cap on the regions created (each costs two MILPs).
    split
        ``"impact"`` or ``"widest"`` (see the module docstring).
    pool
        Also bound each region by ``max_xi min_k f(y_k, xi)`` over the recourse
        solutions ``y_k`` found so far that are feasible on the whole region (an LP).

    Returns
    -------
    RobustEvaluation
        ``objective`` is the conservative bound (exact within *tol* when the
        bounds met); ``worst_scenario`` is the scenario of the best lower bound.

    Raises
    ------
    UnsupportedProblemError
        A set that is not a continuous bounded box, a row not affine in ``xi``
        for fixed ``(x, y)``, or an unbounded region-robust recourse.
    ValueError
        A bad *split* or *max_regions*.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if max_regions < 1:
        raise ValueError(f"max_regions must be >= 1, got {max_regions}")
    _box_check(rs)
    s = _Search(rs, vx, _bilinear(rs, rs.objective, vx, "objective"),
                _bilinear(rs, rs.rows, vx, "constraints"), tol, deadline, split)  # fmt: skip
    if pool:
        s.pool = _Pool(s.obj, s.rows)
    xi_idx = np.nonzero(rs.uncertain)[0]
    lo0, hi0 = rs.col_lb[xi_idx].astype(float), rs.col_ub[xi_idx].astype(float)
    if not _free_rows_check(s) or _point(s, _full(s, lo0, hi0)) == "infeasible":
        return _infeasible(s)
    ub0, y0 = _region_ub(s, lo0, hi0)
    if math.isnan(ub0):
        return _infeasible(s)
    heap = [_Leaf(-ub0, 0, lo0, hi0, ub0, y0)]
    regions, msg, cut = 1, "", False
    while True:
        ub = max(heap[0].ub, s.lb) if heap else s.lb
        s.ub = ub
        if bounds_met(s.lb, ub, tol) or (heap and heap[0].ub <= s.lb):
            break
        if cutoff is not None and s.lb >= cutoff:
            cut, msg = True, f"cut off: the worst case is at least {s.lb:.10g} >= {cutoff:.10g}"
            break
        if time.perf_counter() > deadline:
            msg = "time limit"
            break
        if regions + 2 > max_regions:
            msg = f"region limit ({max_regions})"
            break
        leaf = heapq.heappop(heap)
        f = _split_dim(s, leaf)
        cut_at = 0.5 * (leaf.lo[f] + leaf.hi[f])
        for lo, hi in ((leaf.lo, np.where(np.arange(lo0.size) == f, cut_at, leaf.hi)),
                       (np.where(np.arange(lo0.size) == f, cut_at, leaf.lo), leaf.hi)):  # fmt: skip
            regions += 1
            if _point(s, _full(s, lo, hi)) == "infeasible":
                return _infeasible(s, regions)
            cub, cy = _region_ub(s, lo, hi)
            if math.isnan(cub):
                return _infeasible(s, regions)
            cub = min(cub, leaf.ub)  # a subregion's worst case is no worse than its parent's
            if cub > s.lb:
                heapq.heappush(heap, _Leaf(-cub, regions, lo, hi, cub, cy))
    ub = max(heap[0].ub, s.lb) if heap else s.lb
    return _result(s, ub, regions, msg, cut)


def _infeasible(s: _Search, regions: int = 1) -> RobustEvaluation:
    xi = s.best_xi if s.best_xi is not None else np.zeros(s.rs.n)
    return RobustEvaluation(s.rs.sign * math.inf, s.rs.split(xi, "uncertain"), {}, s.solves, True,
                            "boxsplit", math.inf, math.inf, False,
                            f"no feasible recourse at a scenario (region {regions})",
                            xi=xi)  # fmt: skip


def _result(s: _Search, ub: float, regions: int, msg: str, cut: bool) -> RobustEvaluation:
    rs = s.rs
    exact = bounds_met(s.lb, ub, s.tol) and not cut and not s.approx
    if s.approx:
        msg = (msg + "; " if msg else "") + "a recourse MILP hit its time limit"
    elif not exact and not msg:
        msg = "bounds did not meet"
    xi = s.best_xi if s.best_xi is not None else np.zeros(rs.n)
    words = f"{msg or 'bounds met'} after {regions} regions: worst case in [{s.lb:.10g}, {ub:.10g}]"
    return RobustEvaluation(
        rs.sign * ub,
        rs.split(xi, "uncertain"),
        rs.split(s.best_full, "second") if s.best_full is not None else {},
        s.solves,
        exact,
        "boxsplit",
        s.lb,
        ub,
        True,
        words,
        xi=xi,
        cut_off=cut,
    )
