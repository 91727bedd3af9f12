"""Expression trees back to text that :func:`~workbench.expr.parser.parse_expr` reads again.

Used by the reformulation passes, which rewrite trees and write them back into
the IR.  Operators are parenthesised where precedence could change meaning.
"""

from __future__ import annotations

from workbench.expr.nodes import (
    BinOp,
    BoolOp,
    Call,
    Compare,
    Gen,
    In,
    Index,
    Name,
    Node,
    Not,
    Num,
    Reduce,
    Str,
    Tup,
    Unary,
)

__all__ = ["unparse", "unparse_gens"]

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 4}


def _num(v: float | int) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _prec(node: Node) -> int:
    if isinstance(node, BinOp):
        return _PREC[node.op]
    if isinstance(node, Unary) or (isinstance(node, Num) and node.value < 0):
        return 3
    if isinstance(node, Compare | BoolOp | Not | In):
        return 0
    return 5


def _wrap(node: Node, need: int) -> str:
    text = unparse(node)
    return f"({text})" if _prec(node) < need else text


def unparse_gens(gens: tuple[Gen, ...]) -> str:
    """``for i in I if c for j in J``: generator clauses as text (with the leading ``for``)."""
    parts = []
    for g in gens:
        tgt = f"({', '.join(g.targets)})" if g.tuple_target else g.targets[0]
        parts.append(f"for {tgt} in {g.set}" + "".join(f" if {unparse(c)}" for c in g.conds))
    return " ".join(parts)


def unparse(node: Node) -> str:
    """The text of *node*, parseable back to an equal tree up to number spelling."""
    if isinstance(node, Num):
        return _num(node.value)
    if isinstance(node, Str):
        return repr(node.value)
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Index):
        return f"{node.name}[{', '.join(unparse(a) for a in node.args)}]"
    if isinstance(node, Tup):
        return f"({', '.join(unparse(a) for a in node.items)})"
    if isinstance(node, BinOp):
        p = _PREC[node.op]
        if node.op == "**":  # right-associative
            return f"{_wrap(node.left, p + 1)} ** {_wrap(node.right, p)}"
        return f"{_wrap(node.left, p)} {node.op} {_wrap(node.right, p + 1)}"
    if isinstance(node, Unary):
        return f"{node.op}{_wrap(node.operand, 3)}"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(unparse(a) for a in node.args)})"
    if isinstance(node, Reduce):
        return f"{node.func}({unparse(node.body)} {unparse_gens(node.gens)})"
    if isinstance(node, Compare):
        out = _wrap(node.operands[0], 1)
        for op, b in zip(node.ops, node.operands[1:]):
            out += f" {op} {_wrap(b, 1)}"
        return out
    if isinstance(node, BoolOp):
        return f" {node.op} ".join(f"({unparse(v)})" for v in node.values)
    if isinstance(node, Not):
        return f"not ({unparse(node.operand)})"
    if isinstance(node, In):
        return f"{unparse(node.item)} {'not in' if node.negate else 'in'} {node.set}"
    raise TypeError(f"cannot write {type(node).__name__} as text")
