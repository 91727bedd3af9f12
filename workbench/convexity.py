"""Convexity of smooth NLP by composition rules, in the manner of disciplined convex programming.

Every plan node (one per constraint family, never one per row) gets, for
each of its rows, its curvature -- convex, concave, both (affine) or
neither (unknown) -- and an interval enclosing its values, from the
variables' bounds and the data.  The rules are the DCP ones:

- sums and non-negative multiples keep curvature, a negative multiple flips it;
- ``f(g)`` is convex when ``f`` is convex and, for each argument, ``f`` is
  nondecreasing there and ``g`` convex, or nonincreasing and ``g`` concave,
  or ``g`` affine (and the mirror image for concave); the monotonicity of
  ``abs``, ``x**p`` and ``c**x`` depends on the sign of the argument's
  interval, which is where the bounds come in;
- ``exp`` is convex increasing, ``log`` and ``sqrt`` concave increasing,
  ``abs`` convex, ``max`` convex and ``min`` concave (nondecreasing in each
  argument), ``sin``/``cos`` unknown;
- a product of two expressions with variables is unknown: a row of degree
  two that the rules cannot prove is given to the Hessian test
  (:func:`quadratic_curvature`), which can also prove it has the wrong
  curvature.

A model is convex when its objective is convex (``min``) or concave
(``max``), every row ``lo <= g <= hi`` has ``g`` convex where ``hi`` is
finite and concave where ``lo`` is finite (so equalities must be affine),
and every variable is continuous.  ``None`` means "not proven" and counts
as nonconvex.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.compile.affine import NonlinearError, degree, poly
from workbench.compile.plan import PBin, PConst, PFunc, Plan, PNeg, PReduce, PVar, PVarMinMax

__all__ = [
    "EXACT_SOLVERS",
    "GLOBAL_SOLVERS",
    "LOCAL_SOLVERS",
    "Convexity",
    "Shape",
    "model_convexity",
    "quadratic_curvature",
    "rows_convex",
    "shape",
]

GLOBAL_SOLVERS = frozenset(
    {"couenne", "baron", "scip", "gurobi", "gurobi_direct", "gurobi_persistent", "antigone",
     "lindoglobal", "octeract", "maingo"}
)  # fmt: skip
"""Pyomo solver names that prove global optimality on nonconvex (MI)NLP."""

LOCAL_SOLVERS = frozenset(
    {"ipopt", "cyipopt", "bonmin", "knitro", "knitroampl", "conopt", "minos", "snopt",
     "filtersqp", "loqo", "mindtpy"}
)  # fmt: skip
"""Pyomo solver names whose optimum of a nonconvex model is only local."""

EXACT_SOLVERS = GLOBAL_SOLVERS | frozenset(
    {"highs", "appsi_highs", "cbc", "glpk", "cplex", "cplex_direct", "cplex_persistent",
     "xpress", "xpress_direct", "mosek", "mosek_direct"}
)  # fmt: skip
"""Solvers whose ``optimal`` is proven on every model they accept (LP/MILP/convex QP solvers
refuse what they cannot prove)."""

_MAX_QUAD_ROWS = 5000
"""Rows of degree two the Hessian fallback examines (more: unknown)."""
_MAX_QUAD_VARS = 3000
"""Largest Hessian (variables of one row or of the objective) the fallback factorises."""


@dataclass
class Shape:
    """Per-row facts about one plan node.

    Attributes
    ----------
    cvx, ccv
        Boolean ``(n,)`` arrays: the row is proven convex / concave (both: affine).
    lo, hi
        An interval that encloses the row's values over the variables' box.
    smooth
        False when a kink may be reached (``abs``, ``min``, ``max`` of
        expressions with variables whose sign or order is not fixed).
    """

    cvx: np.ndarray
    ccv: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    smooth: bool = True

    @property
    def affine(self) -> np.ndarray:
        """Rows proven affine."""
        out: np.ndarray = self.cvx & self.ccv
        return out


@dataclass
class Convexity:
    """The verdict on a whole model.

    Attributes
    ----------
    convex
        ``True`` proven convex (continuous variables only); ``False`` proven
        not (integer variables, or a quadratic with the wrong curvature);
        ``None`` unknown (treated as nonconvex).
    relaxation_convex
        The same verdict with integrality dropped (a convex MIQP/MINLP has ``True``).
    smooth
        No ``abs``/``min``/``max`` kink among the expressions with variables.
    reason
        What stopped a proof, naming the objective or constraint (``None`` when convex).
    """

    convex: bool | None
    relaxation_convex: bool | None
    smooth: bool
    reason: str | None = None


def _full(n: int, v: bool) -> np.ndarray:
    return np.full(n, v, dtype=bool)


def _const(p: PConst) -> Shape:
    a = p.array().astype(float)
    return Shape(_full(p.n, True), _full(p.n, True), a, a)


def _scale(s: Shape, c: np.ndarray) -> Shape:
    """``c * s`` for data ``c`` (per row)."""
    with np.errstate(invalid="ignore"):
        a, b = c * s.lo, c * s.hi
    a = np.where(c == 0, 0.0, a)
    b = np.where(c == 0, 0.0, b)
    cvx = np.where(c > 0, s.cvx, np.where(c < 0, s.ccv, True))
    ccv = np.where(c > 0, s.ccv, np.where(c < 0, s.cvx, True))
    return Shape(cvx, ccv, np.minimum(a, b), np.maximum(a, b), s.smooth)


def _corners(alo: np.ndarray, ahi: np.ndarray, blo: np.ndarray, bhi: np.ndarray) -> Any:
    with np.errstate(invalid="ignore"):
        c = np.stack([alo * blo, alo * bhi, ahi * blo, ahi * bhi])
    c = np.where(np.isnan(c), 0.0, c)  # 0 * inf: the zero end of the interval
    return c.min(axis=0), c.max(axis=0)


def _unknown(n: int, lo: np.ndarray, hi: np.ndarray, smooth: bool) -> Shape:
    return Shape(_full(n, False), _full(n, False), lo, hi, smooth)


def _compose(
    arg: Shape, convex_f: np.ndarray, concave_f: np.ndarray, incr: np.ndarray, decr: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """DCP composition: ``f`` convex/concave and nondecreasing/nonincreasing on the argument's range."""
    cvx = convex_f & (arg.affine | (incr & arg.cvx) | (decr & arg.ccv))
    ccv = concave_f & (arg.affine | (incr & arg.ccv) | (decr & arg.cvx))
    return cvx, ccv


def _pow_const_exponent(a: Shape, p: np.ndarray) -> Shape:
    """``g ** p`` for data ``p``, by the sign of ``g``'s range."""
    n = a.cvx.shape[0]
    lo, hi = a.lo, a.hi
    pos, neg, spos, sneg = lo >= 0, hi <= 0, lo > 0, hi < 0
    integer = np.floor(p) == p
    even = integer & (np.mod(p, 2) == 0)
    odd = integer & ~even
    t, f = _full(n, True), _full(n, False)
    # t -> t**p on g's range: its curvature and monotonicity (first matching case wins)
    one, sq, cube, big, root, inv = (
        p == 1, even & (p > 0), odd & (p > 1), p > 1, (p > 0) & (p < 1), p < 0,
    )  # fmt: skip
    convex_f = np.select([one, sq, cube, big, inv], [t, t, pos, pos, spos | (even & sneg)], f)
    concave_f = np.select([one, cube, root, inv], [t, neg, pos, odd & sneg], f)
    incr = np.select([one, sq, cube, big | root, inv], [t, pos, t, pos, even & sneg], f)
    decr = np.select([sq, inv], [neg, spos | (odd & sneg)], f)
    cvx, ccv = _compose(a, convex_f, concave_f, incr, decr)
    zero = p == 0
    with np.errstate(all="ignore"):
        plo, phi = np.power(lo, p), np.power(hi, p)
        alo, ahi = np.power(np.abs(lo), p), np.power(np.abs(hi), p)
        up = (pos & (p > 0)) | cube | (even & inv & sneg)
        down = inv & (spos | (odd & sneg))
        out_lo = np.select(
            [zero, up, down, sq],
            [np.ones(n), plo, phi, np.where(pos | neg, np.minimum(alo, ahi), 0.0)],
            -np.inf,
        )
        out_hi = np.select(
            [zero, up, down, sq], [np.ones(n), phi, plo, np.maximum(alo, ahi)], np.inf
        )
    lo_c, hi_c = _clean(out_lo, out_hi)
    return Shape(cvx | zero, ccv | zero, lo_c, hi_c, a.smooth)


def _pow_const_base(c: np.ndarray, g: Shape) -> Shape:
    """``c ** g`` for data ``c``: ``exp(g log c)`` when ``c > 0``, unknown otherwise."""
    ok = c > 0
    with np.errstate(all="ignore"):
        logc = np.log(np.where(ok, c, 1.0))
    e = _func("exp", _scale(g, logc))
    return Shape(
        ok & e.cvx, ok & e.ccv, np.where(ok, e.lo, -np.inf), np.where(ok, e.hi, np.inf), g.smooth
    )


def _clean(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undefined interval ends (``inf - inf``, ``log`` of a negative) become unbounded."""
    return np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(hi), np.inf, hi)


def _func(name: str, a: Shape) -> Shape:
    n = a.cvx.shape[0]
    t, f = _full(n, True), _full(n, False)
    lo, hi = a.lo, a.hi
    with np.errstate(all="ignore"):
        if name == "exp":
            cvx, ccv = _compose(a, t, f, t, f)
            return Shape(cvx, ccv, np.exp(lo), np.exp(hi), a.smooth)
        if name in ("log", "sqrt"):
            fn = np.log if name == "log" else np.sqrt
            cvx, ccv = _compose(a, f, t, t, f)
            low = np.where(lo > 0, fn(np.maximum(lo, 0.0)), -np.inf if name == "log" else 0.0)
            return Shape(cvx, ccv, low, np.where(hi > 0, fn(np.maximum(hi, 0.0)), low), a.smooth)
        if name == "abs":
            pos, neg = lo >= 0, hi <= 0
            cvx, ccv = _compose(a, t, pos | neg, pos, neg)
            alo = np.where(pos, lo, np.where(neg, -hi, 0.0))
            ahi = np.maximum(np.abs(lo), np.abs(hi))
            return Shape(cvx, ccv, alo, ahi, a.smooth and bool(np.all(pos | neg)))
    # sin, cos: unknown curvature
    return _unknown(n, np.full(n, -1.0), np.full(n, 1.0), a.smooth)


def _minmax(func: str, args: list[Shape]) -> Shape:
    """Elementwise ``max`` (convex, nondecreasing in each argument) or ``min`` (concave)."""
    n = args[0].cvx.shape[0]
    lo = (
        np.maximum.reduce([s.lo for s in args])
        if func == "max"
        else np.minimum.reduce([s.lo for s in args])
    )
    hi = (
        np.maximum.reduce([s.hi for s in args])
        if func == "max"
        else np.minimum.reduce([s.hi for s in args])
    )
    if func == "max":
        return Shape(np.logical_and.reduce([s.cvx for s in args]), _full(n, False), lo, hi, False)
    return Shape(_full(n, False), np.logical_and.reduce([s.ccv for s in args]), lo, hi, False)


def _reduce(p: PReduce, c: Shape) -> Shape:
    """A segment reduction: every child row of a parent row must have the curvature."""
    n, par = p.n, p.parent
    bad_cvx = np.bincount(par, weights=(~c.cvx).astype(float), minlength=n) > 0
    bad_ccv = np.bincount(par, weights=(~c.ccv).astype(float), minlength=n) > 0
    if p.func == "sum":
        with np.errstate(invalid="ignore"):
            lo = np.bincount(par, weights=c.lo, minlength=n)
            hi = np.bincount(par, weights=c.hi, minlength=n)
        lo, hi = _clean(lo, hi)
        return Shape(~bad_cvx, ~bad_ccv, lo, hi, c.smooth)
    op = np.maximum if p.func == "max" else np.minimum
    lo = np.full(n, -np.inf if p.func == "max" else np.inf)
    hi = lo.copy()
    op.at(lo, par, c.lo)
    op.at(hi, par, c.hi)
    empty = np.bincount(par, minlength=n) == 0
    lo, hi = np.where(empty, -np.inf, lo), np.where(empty, np.inf, hi)
    smooth = c.smooth and bool(np.all(c.lo == c.hi))
    if p.func == "max":
        return Shape(~bad_cvx, _full(n, False), lo, hi, smooth)
    return Shape(_full(n, False), ~bad_ccv, lo, hi, smooth)


def shape(p: Plan, lb: np.ndarray, ub: np.ndarray) -> Shape:
    """Curvature and range of every row of plan *p* (one pass over the tree).

    Parameters
    ----------
    p
        A plan from :func:`workbench.compile.structure.compile_structure`.
    lb, ub
        Flat variable bounds (``-inf``/``inf`` where absent).

    Returns
    -------
    Shape
    """
    if isinstance(p, PConst):
        return _const(p)
    if isinstance(p, PVar):
        return Shape(
            _full(p.n, True), _full(p.n, True), lb[p.cols].astype(float), ub[p.cols].astype(float)
        )
    if isinstance(p, PNeg):
        s = shape(p.operand, lb, ub)
        return Shape(s.ccv, s.cvx, -s.hi, -s.lo, s.smooth)
    if isinstance(p, PBin):
        return _binop(p, lb, ub)
    if isinstance(p, PFunc):
        return _func(p.func, shape(p.arg, lb, ub))
    if isinstance(p, PVarMinMax):
        return _minmax(p.func, [shape(a, lb, ub) for a in p.args])
    if isinstance(p, PReduce):
        return _reduce(p, shape(p.child, lb, ub))
    n = int(getattr(p, "n", 1))
    return _unknown(n, np.full(n, -np.inf), np.full(n, np.inf), False)


def _binop(p: PBin, lb: np.ndarray, ub: np.ndarray) -> Shape:
    op, n = p.op, p.n
    if op in ("+", "-"):
        a, b = shape(p.left, lb, ub), shape(p.right, lb, ub)
        if op == "-":
            b = Shape(b.ccv, b.cvx, -b.hi, -b.lo, b.smooth)
        with np.errstate(invalid="ignore"):
            lo, hi = _clean(a.lo + b.lo, a.hi + b.hi)
        return Shape(a.cvx & b.cvx, a.ccv & b.ccv, lo, hi, a.smooth and b.smooth)
    if op == "*":
        if isinstance(p.left, PConst):
            return _scale(shape(p.right, lb, ub), p.left.array().astype(float))
        if isinstance(p.right, PConst):
            return _scale(shape(p.left, lb, ub), p.right.array().astype(float))
        a, b = shape(p.left, lb, ub), shape(p.right, lb, ub)
        lo, hi = _corners(a.lo, a.hi, b.lo, b.hi)
        return _unknown(n, lo, hi, a.smooth and b.smooth)
    if op == "/":
        if isinstance(p.right, PConst):
            return _scale(shape(p.left, lb, ub), 1.0 / p.right.array().astype(float))
        b = shape(p.right, lb, ub)
        inv = _pow_const_exponent(b, np.full(n, -1.0))
        if isinstance(p.left, PConst):
            return _scale(inv, p.left.array().astype(float))
        a = shape(p.left, lb, ub)
        lo, hi = _corners(a.lo, a.hi, inv.lo, inv.hi)
        return _unknown(n, lo, hi, a.smooth and b.smooth)
    # '**'
    if isinstance(p.right, PConst):
        return _pow_const_exponent(shape(p.left, lb, ub), p.right.array().astype(float))
    if isinstance(p.left, PConst):
        return _pow_const_base(p.left.array().astype(float), shape(p.right, lb, ub))
    a, b = shape(p.left, lb, ub), shape(p.right, lb, ub)
    return _unknown(n, np.full(n, -np.inf), np.full(n, np.inf), a.smooth and b.smooth)


def quadratic_curvature(q: Any, *, want: str) -> bool | None:
    """Whether the symmetric part of the sparse Hessian *q* is PSD (``want='convex'``) or NSD.

    Returns ``None`` when the matrix is too large to factorise here.
    """
    q = q.tocsr()
    idx = np.unique(np.concatenate([q.nonzero()[0], q.nonzero()[1]]))
    if idx.size == 0:
        return True
    if idx.size > _MAX_QUAD_VARS:
        return None
    dense = q[idx][:, idx].toarray()
    dense = 0.5 * (dense + dense.T)
    ev = np.linalg.eigvalsh(dense)
    tol = 1e-9 * max(1.0, float(np.abs(ev).max()))
    return bool(ev.min() >= -tol) if want == "convex" else bool(ev.max() <= tol)


def _row_hessians(p: Plan, rows: np.ndarray, num_vars: int) -> dict[int, Any] | None:
    """The quadratic part of each of *rows* of a degree-two plan (``None`` if not quadratic)."""
    from scipy.sparse import coo_matrix

    try:
        pl = poly(p)
    except NonlinearError:
        return None
    out: dict[int, Any] = {}
    order = np.argsort(pl.qrows, kind="stable")
    qr = pl.qrows[order]
    starts = np.searchsorted(qr, rows)
    ends = np.searchsorted(qr, rows, side="right")
    for r, s, e in zip(rows.tolist(), starts.tolist(), ends.tolist()):
        sel = order[s:e]
        out[r] = coo_matrix((pl.qcoef[sel], (pl.qi[sel], pl.qj[sel])), shape=(num_vars, num_vars))
    return out


def rows_convex(
    p: Plan, need_cvx: np.ndarray, need_ccv: np.ndarray, lb: np.ndarray, ub: np.ndarray
) -> tuple[bool | None, bool]:
    """Whether each row of *p* is convex where *need_cvx* and concave where *need_ccv*.

    Returns
    -------
    (verdict, smooth)
        ``True`` proven for every row, ``False`` a row of degree two has the
        wrong curvature (Hessian test), ``None`` not proven.
    """
    if degree(p) <= 1:
        return True, True
    s = shape(p, lb, ub)
    bad = (need_cvx & ~s.cvx) | (need_ccv & ~s.ccv)
    if not bad.any():
        return True, s.smooth
    if degree(p) != 2:
        return None, s.smooth
    rows = np.flatnonzero(bad)
    if rows.size > _MAX_QUAD_ROWS:
        return None, s.smooth
    hess = _row_hessians(p, rows, lb.shape[0])
    if hess is None:
        return None, s.smooth
    verdict: bool | None = True
    for r in rows.tolist():
        q = hess[r]
        for want, needed in (("convex", need_cvx[r]), ("concave", need_ccv[r])):
            if not needed:
                continue
            ok = quadratic_curvature(q, want=want)
            if ok is False:
                return False, s.smooth
            if ok is None:
                verdict = None
    return verdict, s.smooth


def model_convexity(cm: Any) -> Convexity:
    """Prove (or fail to prove) that a compiled model is convex.

    Parameters
    ----------
    cm
        A :class:`~workbench.compile.structure.CompiledModel`.

    Returns
    -------
    Convexity
        ``convex`` is ``None`` for bilevel and robust models (not a smooth NLP).
    """
    ctx = cm.ctx
    if cm.model.lower_level is not None or cm.model.robust is not None:
        return Convexity(None, None, True, "bilevel or robust structure")
    lb = np.concatenate([v.lb for v in ctx.vars.values()]) if ctx.vars else np.zeros(0)
    ub = np.concatenate([v.ub for v in ctx.vars.values()]) if ctx.vars else np.zeros(0)
    verdicts: list[bool | None] = []
    reason: str | None = None
    smooth = True
    obj = cm.objective
    need = _full(1, obj.sense == "min")
    v, sm = rows_convex(obj.plan, need, ~need, lb, ub)
    smooth &= sm
    verdicts.append(v)
    if v is not True:
        want = "convex" if obj.sense == "min" else "concave"
        reason = f"the objective ({obj.sense}) is {'not' if v is False else 'not proven'} {want}"
    for fam in cm.rows:
        v, sm = rows_convex(fam.plan, np.isfinite(fam.hi), np.isfinite(fam.lo), lb, ub)
        smooth &= sm
        verdicts.append(v)
        if v is not True and reason is None:
            reason = (
                f"constraint '{fam.name}' ({fam.where}) is {'not' if v is False else 'not proven'} "
                "convex (<= needs a convex left side, >= a concave one, == an affine one)"
            )
    relax: bool | None = True
    if any(x is False for x in verdicts):
        relax = False
    elif any(x is None for x in verdicts):
        relax = None
    ints = [name for name, var in ctx.vars.items() if var.is_integer]
    if ints:
        why = f"integer variables ({', '.join(ints[:3])})"
        return Convexity(False, relax, smooth, why if reason is None else f"{why}; {reason}")
    return Convexity(relax, relax, smooth, reason)
