"""Products with binary factors: exact linear rows.

- a binary squared (or any power) is the binary; a repeated binary factor counts once;
- ``b_1 * ... * b_k`` (binaries): one auxiliary ``w`` in [0, 1] with
  ``w <= b_j`` for each ``j`` and ``w >= sum_j b_j - (k - 1)``: ``k + 1`` rows
  (3 for a pair); ``w`` is 0/1 at every feasible point, so it counts as binary
  in later rules.  Where the product sits on one side (kept small: a
  minimised objective with a coefficient of one sign, the small side of
  ``<=``), only the rows that push ``w`` towards the product are kept, as for
  an epigraph: ``w >= sum_j b_j - (k - 1)`` when kept small, ``w <= b_j``
  when kept large; the optimum is unchanged and the relaxation no weaker;
- ``w * v`` for a 0/1 ``w`` and a variable ``v`` in ``[L, U]``: the McCormick
  rows ``L w <= y <= U w``, ``v - U (1 - w) <= y <= v - L (1 - w)``, exact
  because ``w`` is 0/1; 1 variable, 4 rows.

Data factors stay as coefficients.  Products of two non-binary variables stay
for a global solver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.compile.plan import PVar
from workbench.compile.reformulate.walk import Walker
from workbench.expr.nodes import BinOp, Compare, Gen, Index, Name, Node, Num
from workbench.expr.unparse import unparse

__all__ = ["product_parts", "rewrite_product"]


@dataclass
class Parts:
    """A product split into data factors, distinct binary references and one other variable."""

    data: list[Node]
    binaries: list[Node]
    other: Node | None
    squared: bool


def _factors(node: Node) -> list[Node]:
    if isinstance(node, BinOp) and node.op == "*":
        return _factors(node.left) + _factors(node.right)
    return [node]


def _var_ref(w: Walker, node: Node) -> str | None:
    if isinstance(node, Index | Name):
        name = node.name if isinstance(node, Index) else node.id
        if name in w.ctx.vars:
            return name
    return None


def product_parts(w: Walker, node: Node, gens: tuple[Gen, ...]) -> Parts | None:
    """The parts of a product this rule rewrites, or ``None``."""
    if isinstance(node, BinOp) and node.op == "**":
        name = _var_ref(w, node.left)
        if (
            name
            and w.is_binary_ref(name)
            and isinstance(node.right, Num)
            and float(node.right.value).is_integer()
            and node.right.value >= 1
        ):
            return Parts([], [node.left], None, True)
        return None
    if not (isinstance(node, BinOp) and node.op == "*"):
        return None
    data: list[Node] = []
    binaries: dict[str, Node] = {}
    others: list[Node] = []
    count = 0
    for f in _factors(node):
        if not w.has_vars(f, gens):
            data.append(f)
            continue
        base = f
        if isinstance(f, BinOp) and f.op == "**" and isinstance(f.right, Num):
            base = f.left
        name = _var_ref(w, base)
        if name is None:
            return None
        count += 1
        if w.is_binary_ref(name):
            binaries.setdefault(unparse(base), base)
        elif base is f:
            others.append(f)
        else:
            return None  # a power of a non-binary variable
    if count < 2 or not binaries or len(others) > 1:
        return None
    squared = len(binaries) + len(others) < count
    if len(binaries) == 1 and not others and not squared:
        return None
    return Parts(data, list(binaries.values()), others[0] if others else None, squared)


def _times(nodes: list[Node]) -> Node:
    out = nodes[0]
    for n in nodes[1:]:
        out = BinOp("*", out, n)
    return out


def rewrite_product(w: Walker, node: Node, pol: int, gens: tuple[Gen, ...]) -> Node | None:
    """The rule for products with binary factors."""
    if w.keep_objective_products and w.where == "objective":
        return None
    parts = product_parts(w, node, gens)
    if parts is None:
        return None
    scope = w.scope(gens)
    bins = parts.binaries
    if len(bins) == 1:
        z = bins[0]
        if parts.squared and parts.other is None:
            w.record("binary squared", "the binary", 0, 0)
    else:
        # the side the product sits on: data coefficients of one sign keep or flip it
        side = pol
        for d in parts.data:
            side *= w.data_sign(d, gens)
        full = parts.other is not None or side == 0
        dom = w.domain([], gens)  # 0/1 at every feasible point
        z = w.em.var(
            "w", scope, domain=dom, lo=np.zeros(scope.n), hi=np.ones(scope.n), binary_valued=full
        )
        total = bins[0]
        for b in bins[1:]:
            total = BinOp("+", total, b)
        exprs: list[Node] = []
        if full or side == -1:  # kept large: only the rows that cap it are needed
            exprs += [Compare(("<=",), (z, b)) for b in bins]
        if full or side == 1:  # kept small: only the row that lifts it is needed
            exprs.append(Compare((">=",), (z, BinOp("-", total, Num(len(bins) - 1)))))
        rows = w.em.rows("c", scope, exprs)
        how = (
            "linear"
            if full
            else "linear, one side (it is kept " + ("small)" if side == 1 else "large)")
        )
        w.record("binary product", how, scope.n, rows)
    if parts.other is not None:
        z = _mccormick(w, z, parts.other, gens)
    return _times([*parts.data, z]) if parts.data else z


def _mccormick(w: Walker, z: Node, v: Node, gens: tuple[Gen, ...]) -> Node:
    scope = w.scope(gens)
    plan = w.value(v, gens)
    assert isinstance(plan, PVar)
    lo, hi = w.bounds(v, gens)  # MissingBound names the variable
    dom = w.domain([v], gens)
    y = w.em.var("y", scope, domain=dom, lo=np.minimum(lo, 0.0), hi=np.maximum(hi, 0.0))
    big_l = w.em.data("L", scope, lo)
    big_u = w.em.data("U", scope, hi)
    one_minus = BinOp("-", Num(1), z)
    rows = w.em.rows(
        "c",
        scope,
        [
            Compare((">=",), (y, BinOp("*", big_l, z))),
            Compare(("<=",), (y, BinOp("*", big_u, z))),
            Compare((">=",), (y, BinOp("-", v, BinOp("*", big_u, one_minus)))),
            Compare(("<=",), (y, BinOp("-", v, BinOp("*", big_l, one_minus)))),
        ],
    )
    w.record("binary x variable", "McCormick", scope.n, rows)
    return y
