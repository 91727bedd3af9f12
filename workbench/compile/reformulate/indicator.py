"""Indicator constraints (``when: "y[i]"``) as big-M rows, for backends without native indicators.

``y = 1 -> lhs <= rhs`` becomes ``lhs <= rhs + M (1 - y)`` with
``M = max(0, U(lhs - rhs))`` from interval bounds (``>=`` mirrored, ``==`` and
``lo <= e <= hi`` as two rows).  The first row keeps the constraint's name.
"""

from __future__ import annotations

import numpy as np

from workbench.compile.reformulate.walk import Walker
from workbench.expr.nodes import BinOp, Compare, Gen, Node, Num
from workbench.expr.parser import parse_expr
from workbench.expr.unparse import unparse
from workbench.ir.model import Constraint

__all__ = ["indicator_rows"]


def _sides(node: Compare) -> list[tuple[Node, str, Node]]:
    """The comparison as single ``<=``/``>=`` pieces."""
    out: list[tuple[Node, str, Node]] = []
    for op, a, b in zip(node.ops, node.operands, node.operands[1:]):
        if op == "==":
            out += [(a, "<=", b), (a, ">=", b)]
        else:
            out.append((a, op, b))
    return out


def indicator_rows(
    w: Walker, con: Constraint, name: str, gens: tuple[Gen, ...]
) -> list[Constraint] | None:
    """Big-M constraints replacing *con* (``None``: leave it, its body is not affine)."""
    assert con.when is not None
    node = parse_expr(con.expr, w.loc)
    assert isinstance(node, Compare)
    y = parse_expr(con.when, f"{w.where}.when")
    scope = w.scope(gens)
    out: list[Constraint] = []
    for k, (a, op, b) in enumerate(_sides(node)):
        lo, hi = w.bounds(BinOp("-", a, b), gens)
        slack = np.maximum(hi, 0.0) if op == "<=" else np.maximum(-lo, 0.0)
        if slack.size:
            w.indicator_m = max(w.indicator_m, float(np.max(slack)))
        big = BinOp("*", w.em.data("M", scope, slack), BinOp("-", Num(1), y))
        rhs = BinOp("+" if op == "<=" else "-", b, big)
        out.append(
            Constraint(
                name=name if k == 0 else w.em.fresh("c"),
                for_=con.for_,
                expr=unparse(Compare((op,), (a, rhs))),
            )
        )
    w.record("indicator", "big-M", 0, len(out) * scope.n)
    return out
