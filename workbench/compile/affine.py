"""Extract affine and quadratic forms from plans, vectorised.

A :class:`Poly` holds, for each of ``n`` rows, a constant, linear terms
``(row, col, coef)`` and quadratic terms ``(row, i, j, coef)``.  Anything
of higher degree, or a nonlinear function of variables, raises
:class:`NonlinearError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workbench.compile.plan import PBin, PConst, PFunc, Plan, PNeg, PReduce, PVar, PVarMinMax

__all__ = ["NonlinearError", "Poly", "degree", "poly"]

_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=float)


class NonlinearError(Exception):
    """The plan is not affine (or quadratic, where that is allowed)."""


@dataclass
class Poly:
    """Per-row polynomial of degree at most two."""

    n: int
    const: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    coefs: np.ndarray
    qrows: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    qi: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    qj: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    qcoef: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    ident: bool = False
    """True when linear term k belongs to row k (``rows == arange(n)``): gathers are skipped."""

    @property
    def has_quad(self) -> bool:
        """True when any quadratic term is present."""
        return bool(self.qcoef.shape[0])

    def scale(self, w: np.ndarray | float) -> Poly:
        """Multiply row ``r`` by ``w[r]`` (or by a scalar)."""
        if isinstance(w, np.ndarray):
            return Poly(
                self.n,
                self.const * w,
                self.rows,
                self.cols,
                self.coefs * (w if self.ident else w[self.rows]),
                self.qrows,
                self.qi,
                self.qj,
                self.qcoef * w[self.qrows] if self.has_quad else self.qcoef,
                ident=self.ident,
            )
        return Poly(
            self.n,
            self.const * w,
            self.rows,
            self.cols,
            self.coefs * w,
            self.qrows,
            self.qi,
            self.qj,
            self.qcoef * w,
            ident=self.ident,
        )

    def add(self, other: Poly, sign: float = 1.0) -> Poly:
        """``self + sign * other``."""
        o = other if sign == 1.0 else other.scale(sign)
        if not o.coefs.shape[0] and not o.has_quad:
            return Poly(self.n, self.const + o.const, self.rows, self.cols, self.coefs,
                        self.qrows, self.qi, self.qj, self.qcoef, ident=self.ident)  # fmt: skip
        if not self.coefs.shape[0] and not self.has_quad:
            return Poly(o.n, self.const + o.const, o.rows, o.cols, o.coefs,
                        o.qrows, o.qi, o.qj, o.qcoef, ident=o.ident)  # fmt: skip
        return Poly(
            self.n,
            self.const + o.const,
            np.concatenate([self.rows, o.rows]),
            np.concatenate([self.cols, o.cols]),
            np.concatenate([self.coefs, o.coefs]),
            np.concatenate([self.qrows, o.qrows]),
            np.concatenate([self.qi, o.qi]),
            np.concatenate([self.qj, o.qj]),
            np.concatenate([self.qcoef, o.qcoef]),
        )


def _const(p: PConst) -> Poly:
    return Poly(p.n, p.array().astype(float), _EMPTY_I, _EMPTY_I, _EMPTY_F)


def _pairs(ra: np.ndarray, rb: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """All (ia, ib) index pairs with ``ra[ia] == rb[ib]``."""
    oa = np.argsort(ra, kind="stable")
    ob = np.argsort(rb, kind="stable")
    cb = np.bincount(rb, minlength=n)
    start_b = np.cumsum(cb) - cb
    reps = cb[ra[oa]]
    ia = np.repeat(oa, reps)
    total = int(reps.sum())
    first = np.repeat(start_b[ra[oa]], reps)
    offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps)
    ib = ob[first + offs]
    return ia, ib


def _mul(a: Poly, b: Poly) -> Poly:
    if a.has_quad or b.has_quad:
        raise NonlinearError("a product of degree higher than two")
    out = a.scale(b.const).add(Poly(b.n, np.zeros(b.n), b.rows, b.cols, b.coefs).scale(a.const))
    out.const = a.const * b.const
    ia, ib = _pairs(a.rows, b.rows, a.n)
    out.qrows = a.rows[ia]
    out.qi = a.cols[ia]
    out.qj = b.cols[ib]
    out.qcoef = a.coefs[ia] * b.coefs[ib]
    return out


def poly(plan: Plan, *, quadratic: bool = True) -> Poly:
    """The polynomial form of *plan*.

    Parameters
    ----------
    plan
        A plan from the builder.
    quadratic
        Allow degree-two terms; otherwise they raise :class:`NonlinearError`.
    """
    out = _poly(plan)
    if out.has_quad and not quadratic:
        raise NonlinearError("quadratic terms")
    return out


def _poly(p: Plan) -> Poly:
    if isinstance(p, PConst):
        return _const(p)
    if isinstance(p, PVar):
        return Poly(
            p.n, np.zeros(p.n), np.arange(p.n, dtype=np.int64), p.cols, np.ones(p.n), ident=True
        )
    if isinstance(p, PNeg):
        return _poly(p.operand).scale(-1.0)
    if isinstance(p, PBin):
        if p.op in ("+", "-"):
            return _poly(p.left).add(_poly(p.right), 1.0 if p.op == "+" else -1.0)
        if p.op == "*":
            if isinstance(p.left, PConst):
                return _poly(p.right).scale(p.left.value)
            if isinstance(p.right, PConst):
                return _poly(p.left).scale(p.right.value)
            return _mul(_poly(p.left), _poly(p.right))
        if p.op == "/":
            if isinstance(p.right, PConst):
                return _poly(p.left).scale(
                    1.0 / np.asarray(p.right.value)
                    if isinstance(p.right.value, np.ndarray)
                    else 1.0 / p.right.value
                )
            raise NonlinearError("division by an expression with variables")
        if p.op == "**":
            if isinstance(p.right, PConst):
                k = np.unique(np.asarray(p.right.value, dtype=float))
                if k.size == 1 and k[0] in (0.0, 1.0, 2.0):
                    if k[0] == 0.0:
                        return Poly(p.n, np.ones(p.n), _EMPTY_I, _EMPTY_I, _EMPTY_F)
                    base = _poly(p.left)
                    return base if k[0] == 1.0 else _mul(base, base)
            raise NonlinearError("a power other than 0, 1 or 2 of variables")
    if isinstance(p, PReduce):
        if p.func != "sum":
            raise NonlinearError(f"{p.func}() over variables")
        c = _poly(p.child)
        par = p.parent
        return Poly(
            p.n,
            np.bincount(par, weights=c.const, minlength=p.n).astype(float)
            if c.n and c.const.any()
            else np.zeros(p.n),
            par if c.ident else par[c.rows],
            c.cols,
            c.coefs,
            par[c.qrows],
            c.qi,
            c.qj,
            c.qcoef,
        )
    if isinstance(p, PFunc):
        raise NonlinearError(f"{p.func}() of variables")
    if isinstance(p, PVarMinMax):
        raise NonlinearError(f"{p.func}() of variables")
    raise NonlinearError(type(p).__name__)


INF_DEGREE = 99


def degree(p: Plan) -> int:
    """Polynomial degree of a plan in the variables (``INF_DEGREE`` if nonpolynomial)."""
    if isinstance(p, PConst):
        return 0
    if isinstance(p, PVar):
        return 1
    if isinstance(p, PNeg):
        return degree(p.operand)
    if isinstance(p, PBin):
        a, b = degree(p.left), degree(p.right)
        if p.op in ("+", "-"):
            return max(a, b)
        if p.op == "*":
            return min(a + b, INF_DEGREE)
        if p.op == "/":
            return a if b == 0 else INF_DEGREE
        if isinstance(p.right, PConst):
            k = np.unique(np.asarray(p.right.value, dtype=float))
            if k.size == 1 and float(k[0]).is_integer() and k[0] >= 0:
                return min(a * int(k[0]), INF_DEGREE)
        return INF_DEGREE if a or b else 0
    if isinstance(p, PReduce):
        d = degree(p.child)
        return d if p.func == "sum" or d == 0 else INF_DEGREE
    if isinstance(p, PFunc | PVarMinMax):
        return INF_DEGREE
    return INF_DEGREE
