"""``max``/``min`` of affine terms: epigraph on the convex side, big-M selectors elsewhere.

For ``t = max(a_1, ..., a_k)`` (``min`` mirrored with the signs flipped):

- convex side (a ``max`` kept small, a ``min`` kept large): ``t >= a_m`` for
  every ``m``; 1 variable and ``k`` rows per scope row;
- elsewhere, the exact form ``t >= a_m``, ``t <= a_m + M_m (1 - z_m)``,
  ``sum_m z_m = 1`` with binary ``z`` and ``M_m = max_l U_l - L_m`` from the
  interval bounds ``[L_m, U_m]`` of each term.

Both the call form ``max(a, b, c)`` and the generator form
``max(e[k] for k in K if ...)`` are handled.
"""

from __future__ import annotations

import numpy as np

from workbench.compile.affine import NonlinearError
from workbench.compile.reformulate.walk import Walker
from workbench.expr.nodes import BinOp, Call, Compare, Gen, In, Name, Node, Num, Reduce, Tup

__all__ = ["rewrite_minmax"]


def _sub(a: Node, b: Node) -> Node:
    return BinOp("-", a, b)


def _ge(a: Node, b: Node) -> Node:
    return Compare((">=",), (a, b))


def _le(a: Node, b: Node) -> Node:
    return Compare(("<=",), (a, b))


def _one_minus(z: Node) -> Node:
    return BinOp("-", Num(1), z)


def rewrite_minmax(w: Walker, node: Node, pol: int, gens: tuple[Gen, ...]) -> Node | None:
    """The rule for ``max``/``min`` nodes (call or generator form)."""
    if isinstance(node, Call) and node.func in ("max", "min"):
        return _call_form(w, node, pol, gens)
    if isinstance(node, Reduce) and node.func in ("max", "min"):
        return _reduce_form(w, node, pol, gens)
    return None


def _call_form(w: Walker, node: Call, pol: int, gens: tuple[Gen, ...]) -> Node | None:
    if not w.has_vars(node, gens):
        return None
    is_max = node.func == "max"
    scope = w.scope(gens)
    convex = pol == (1 if is_max else -1)
    if convex:
        los, his = w.try_bounds(list(node.args), gens)  # implied bounds, for CP-SAT
        t_lo = None if los is None else (los.max(0) if is_max else los.min(0))
        t_hi = None if his is None else (his.max(0) if is_max else his.min(0))
        t = w.em.var("t", scope, domain=w.domain(list(node.args), gens), lo=t_lo, hi=t_hi)
        rel = _ge if is_max else _le
        rows = w.em.rows("c", scope, [rel(t, a) for a in node.args])
        w.record(node.func, "epigraph" if is_max else "hypograph", scope.n, rows)
        return t
    bnds = [w.bounds(a, gens) for a in node.args]  # NonlinearError: leave it
    los = np.vstack([b[0] for b in bnds])
    his = np.vstack([b[1] for b in bnds])
    t_lo, t_hi = (los.max(0), his.max(0)) if is_max else (los.min(0), his.min(0))
    t = w.em.var("t", scope, domain=w.domain(list(node.args), gens), lo=t_lo, hi=t_hi)
    exprs: list[Node] = []
    zs: list[Node] = []
    for m, a in enumerate(node.args):
        z = w.em.var("z", scope, domain="binary")
        zs.append(z)
        if is_max:  # t <= a_m + (max U - L_m)(1 - z_m)
            big = w.em.data("M", scope, np.maximum(t_hi - los[m], 0.0))
            exprs += [_ge(t, a), _le(t, BinOp("+", a, BinOp("*", big, _one_minus(z))))]
        else:  # t >= a_m - (U_m - min L)(1 - z_m)
            big = w.em.data("M", scope, np.maximum(his[m] - t_lo, 0.0))
            exprs += [_le(t, a), _ge(t, _sub(a, BinOp("*", big, _one_minus(z))))]
    total: Node = zs[0]
    for z in zs[1:]:
        total = BinOp("+", total, z)
    exprs.append(Compare(("==",), (total, Num(1))))
    rows = w.em.rows("c", scope, exprs)
    w.record(node.func, "big-M selectors", scope.n * (1 + len(zs)), rows)
    return t


def _reduce_form(w: Walker, node: Reduce, pol: int, gens: tuple[Gen, ...]) -> Node | None:
    if not w.has_vars(node.body, gens + node.gens):
        return None
    is_max = node.func == "max"
    scope = w.scope(gens)
    inner = w.scope(gens + node.gens)  # one row per (scope row, term)
    convex = pol == (1 if is_max else -1)
    rel = _ge if is_max else _le
    dom = w.domain([node.body], gens + node.gens)
    b = w.ctx.builder(w.loc)
    _, parent = b.expand_all(scope.frame, node.gens)
    if inner.n != parent.shape[0]:
        raise NonlinearError("scope mismatch")  # leave it as written
    los, his = w.try_bounds([node.body], gens + node.gens)
    t_lo = t_hi = None
    if los is not None and his is not None:
        lo, hi = los[0], his[0]
        t_lo = np.full(scope.n, -np.inf if is_max else np.inf)
        t_hi = t_lo.copy()
        agg = np.maximum if is_max else np.minimum
        agg.at(t_lo, parent, lo)
        agg.at(t_hi, parent, hi)
    if convex:
        t = w.em.var("t", scope, domain=dom, lo=t_lo, hi=t_hi)
        rows = w.em.rows("c", inner, [rel(t, node.body)])
        w.record(node.func, "epigraph" if is_max else "hypograph", scope.n, rows)
        return t
    if t_lo is None or t_hi is None:
        w.bounds(node.body, gens + node.gens)  # raises the located reason
        return None
    t = w.em.var("t", scope, domain=dom, lo=t_lo, hi=t_hi)
    z = w.em.var("z", inner, domain="binary")
    if is_max:
        big = w.em.data("M", inner, np.maximum(t_hi[parent] - lo, 0.0))
        tie = _le(t, BinOp("+", node.body, BinOp("*", big, _one_minus(z))))
    else:
        big = w.em.data("M", inner, np.maximum(hi - t_lo[parent], 0.0))
        tie = _ge(t, _sub(node.body, BinOp("*", big, _one_minus(z))))
    rows = w.em.rows("c", inner, [rel(t, node.body), tie])
    # sum of the selectors over the generator, restricted to this scope row's terms
    plain = tuple(Gen(g.targets, g.set, (), g.tuple_target) for g in node.gens)
    if not inner.plain:
        inner_set = w.em.set_of(inner)
        assert inner_set is not None
        names = tuple(Name(x) for x in inner.targets)
        member = names[0] if len(names) == 1 else Tup(names)
        last = plain[-1]
        cond = (In(member, inner_set),)
        plain = (*plain[:-1], Gen(last.targets, last.set, cond, last.tuple_target))
    pick = Compare(("==",), (Reduce("sum", z, plain), Num(1)))
    rows += w.em.rows("c", scope, [pick])
    w.record(node.func, "big-M selectors", scope.n + inner.n, rows)
    return t
