"""``abs`` of an affine term: epigraph on its convex side, a split with one binary elsewhere.

- convex side (kept small): ``t >= a``, ``t >= -a``; 1 variable, 2 rows;
- a term of one sign over its bounds: ``abs(a)`` is ``a`` or ``-a``, no rows;
- elsewhere: ``a = p - q``, ``0 <= p <= U z``, ``0 <= q <= -L (1 - z)`` with a
  binary ``z``, and ``abs(a) = p + q``; 3 variables, 3 rows.
"""

from __future__ import annotations

import numpy as np

from workbench.compile.reformulate.walk import Walker
from workbench.expr.nodes import BinOp, Call, Compare, Gen, Node, Num, Unary

__all__ = ["rewrite_abs"]


def rewrite_abs(w: Walker, node: Node, pol: int, gens: tuple[Gen, ...]) -> Node | None:
    """The rule for ``abs`` nodes."""
    if not (isinstance(node, Call) and node.func == "abs") or not w.has_vars(node, gens):
        return None
    (a,) = node.args
    scope = w.scope(gens)
    if pol == 1:
        lo, hi = w.try_bounds([a], gens)  # implied bounds, for CP-SAT
        top = None if lo is None or hi is None else np.maximum(np.abs(lo[0]), np.abs(hi[0]))
        t = w.em.var("t", scope, domain=w.domain([a], gens), lo=np.zeros(scope.n), hi=top)
        rows = w.em.rows(
            "c", scope, [Compare((">=",), (t, a)), Compare((">=",), (t, Unary("-", a)))]
        )
        w.record("abs", "epigraph", scope.n, rows)
        return t
    lo, hi = w.bounds(a, gens)
    if np.all(lo >= 0):
        w.record("abs", "the term (never negative)", 0, 0)
        return a
    if np.all(hi <= 0):
        w.record("abs", "minus the term (never positive)", 0, 0)
        return Unary("-", a)
    up = np.maximum(hi, 0.0)
    down = np.maximum(-lo, 0.0)
    dom = w.domain([a], gens)
    p = w.em.var("p", scope, domain=dom, lo=np.zeros(scope.n), hi=up)
    q = w.em.var("q", scope, domain=dom, lo=np.zeros(scope.n), hi=down)
    z = w.em.var("z", scope, domain="binary")
    rows = w.em.rows(
        "c",
        scope,
        [
            Compare(("==",), (BinOp("-", p, q), a)),
            Compare(("<=",), (p, BinOp("*", w.em.data("M", scope, up), z))),
            Compare(
                ("<=",),
                (q, BinOp("*", w.em.data("M", scope, down), BinOp("-", Num(1), z))),
            ),
        ],
    )
    w.record("abs", "split with a binary", 3 * scope.n, rows)
    return BinOp("+", p, q)
