"""Render five-element IR models as LaTeX, from the parsed expression tree.

The converter walks :mod:`workbench.expr.nodes` trees produced by
:func:`workbench.expr.parse_expr`; nothing is evaluated.  Every name and
string is escaped, so a model cannot inject LaTeX commands.  Text that does
not parse is shown verbatim in ``\\texttt{}``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError
from workbench.expr import nodes as n
from workbench.expr import parse_expr, parse_for

if TYPE_CHECKING:
    from workbench.ir.model import Constraint, Model, Variable

__all__ = ["constraint_latex", "escape_text", "expr_latex", "model_latex", "variable_latex"]

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "~": r"\textasciitilde{}",
}
_CMP = {"<=": r"\le", ">=": r"\ge", "==": "=", "!=": r"\ne", "<": "<", ">": ">"}
_FUNCS = {"exp": r"\exp", "log": r"\log", "sin": r"\sin", "cos": r"\cos",
          "min": r"\min", "max": r"\max"}  # fmt: skip
_REDUCERS = {"sum": r"\sum", "prod": r"\prod", "min": r"\min", "max": r"\max"}
_PREC = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6,
         "%": 6, "neg": 7, "**": 8, "atom": 9}  # fmt: skip


def escape_text(text: str) -> str:
    """Escape *text* for use inside LaTeX ``\\text{}`` or ``\\texttt{}``.

    Parameters
    ----------
    text
        Any text.

    Returns
    -------
    str
        The text with LaTeX's special characters escaped.
    """
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def _name(ident: str) -> str:
    """A variable or set name: one letter as is, longer names upright italics."""
    if re.fullmatch(r"[A-Za-z]", ident):
        return ident
    return r"\mathit{" + escape_text(ident) + "}"


def _num(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    text = f"{value:g}" if isinstance(value, float) else str(value)
    if "e" in text:
        mant, exp = text.split("e")
        return rf"{mant} \times 10^{{{int(exp)}}}"
    return text


def _gens(gens: tuple[n.Gen, ...]) -> str:
    parts = []
    for g in gens:
        target = ", ".join(_name(t) for t in g.targets)
        if g.tuple_target or len(g.targets) > 1:
            target = f"({target})"
        text = rf"{target} \in {_name(g.set)}"
        if g.conds:
            text += " : " + r" \land ".join(_tex(c) for c in g.conds)
        parts.append(text)
    return ", ".join(parts)


def _prec(node: n.Node) -> int:
    if isinstance(node, n.BinOp):
        return _PREC.get(node.op, 5)
    if isinstance(node, n.Unary):
        return _PREC["neg"]
    if isinstance(node, n.Compare | n.In):
        return _PREC["cmp"]
    if isinstance(node, n.BoolOp):
        return _PREC.get(node.op, 1)
    if isinstance(node, n.Not):
        return _PREC["not"]
    if isinstance(node, n.Reduce):
        return _PREC["+"]  # a sum binds like an addition: parenthesise it in products
    return _PREC["atom"]


def _wrap(node: n.Node, at_least: int) -> str:
    text = _tex(node)
    return rf"\left({text}\right)" if _prec(node) < at_least else text


def _tex(node: n.Node) -> str:  # noqa: C901 - one branch per node type
    if isinstance(node, n.Num):
        return _num(node.value)
    if isinstance(node, n.Str):
        return r"\text{``" + escape_text(node.value) + "''}"
    if isinstance(node, n.Name):
        return _name(node.id)
    if isinstance(node, n.Index):
        return _name(node.name) + "_{" + ",".join(_tex(a) for a in node.args) + "}"
    if isinstance(node, n.Tup):
        return "(" + ", ".join(_tex(a) for a in node.items) + ")"
    if isinstance(node, n.Unary):
        op = r"\lnot " if node.op == "not" else node.op
        return op + _wrap(node.operand, _PREC["neg"])
    if isinstance(node, n.BinOp):
        p = _PREC.get(node.op, 5)
        if node.op == "/":
            return r"\frac{" + _tex(node.left) + "}{" + _tex(node.right) + "}"
        if node.op == "**":
            return "{" + _wrap(node.left, p + 1) + "}^{" + _tex(node.right) + "}"
        ops = {"*": r" \cdot ", "+": " + ", "-": " - ", "//": r" \mathbin{//} ",
               "%": r" \bmod "}  # fmt: skip
        right_min = p + 1 if node.op in ("-", "/", "//", "%") else p
        return _wrap(node.left, p) + ops.get(node.op, f" {node.op} ") + _wrap(node.right, right_min)
    if isinstance(node, n.Call):
        args = ", ".join(_tex(a) for a in node.args)
        if node.func == "sqrt":
            return r"\sqrt{" + args + "}"
        if node.func == "abs":
            return r"\left|" + args + r"\right|"
        head = _FUNCS.get(node.func, r"\operatorname{" + escape_text(node.func) + "}")
        return head + r"\left(" + args + r"\right)"
    if isinstance(node, n.Reduce):
        head = _REDUCERS.get(node.func, r"\operatorname{" + escape_text(node.func) + "}")
        return head + "_{" + _gens(node.gens) + "} " + _wrap(node.body, _PREC["*"])
    if isinstance(node, n.Compare):
        out = _tex(node.operands[0])
        for op, right in zip(node.ops, node.operands[1:]):
            out += f" {_CMP.get(op, escape_text(op))} " + _tex(right)
        return out
    if isinstance(node, n.BoolOp):
        joiner = r" \land " if node.op == "and" else r" \lor "
        return joiner.join(_wrap(v, _prec(node) + 1) for v in node.values)
    if isinstance(node, n.Not):
        return r"\lnot " + _wrap(node.operand, _PREC["not"])
    if isinstance(node, n.In):
        return _tex(node.item) + (r" \notin " if node.negate else r" \in ") + _name(node.set)
    return r"\texttt{" + escape_text(str(node)) + "}"


def expr_latex(text: str) -> str:
    """Convert one expression string of the IR to LaTeX.

    Parameters
    ----------
    text
        An expression such as ``"sum(c[i] * x[i] for i in I) <= 10"``.

    Returns
    -------
    str
        LaTeX math (no surrounding ``$``); the escaped text in ``\\texttt{}``
        when the expression does not parse.
    """
    try:
        return _tex(parse_expr(text))
    except (WorkbenchError, RecursionError, ValueError):
        return r"\texttt{" + escape_text(text) + "}"


def _forall(text: str | None) -> str:
    if not text:
        return ""
    try:
        return r"\quad \forall\, " + _gens(parse_for(text))
    except (WorkbenchError, RecursionError, ValueError):
        return r"\quad \forall\, \texttt{" + escape_text(text) + "}"


def constraint_latex(con: Constraint) -> str:
    """One constraint (family) with its quantifier, as LaTeX math."""
    return expr_latex(con.expr) + _forall(con.for_)


def _bound(value: Any) -> str:
    if isinstance(value, int | float):
        return _num(value)
    if isinstance(value, list | dict):  # data in set order or by member
        shown = str(value)
        return r"\texttt{" + escape_text(shown) + "}" if len(shown) <= 40 else r"\text{(data)}"
    return expr_latex(str(value))


def variable_latex(name: str, var: Variable) -> str:
    """A variable's declaration: bounds and domain, e.g. ``0 \\le x_{i} \\in \\mathbb{Z}``."""
    sym = _name(name)
    if var.index:
        sym += "_{" + ",".join(r"\cdot" for _ in var.index) + "}"
    if var.domain == "binary":
        return sym + r" \in \{0, 1\}"
    text = sym
    if var.lb is not None:
        text = _bound(var.lb) + r" \le " + text
    if var.ub is not None:
        text = text + r" \le " + _bound(var.ub)
    domain = r"\mathbb{Z}" if var.domain == "integer" else r"\mathbb{R}"
    text += r", \quad " + sym + r" \in " + domain
    if var.index:
        text += r" \quad \text{over } " + r" \times ".join(_name(s) for s in var.index)
    return text


def model_latex(model: Model) -> str:
    """The objective, constraints and variables of *model* as one ``aligned`` block.

    Parameters
    ----------
    model
        A validated (or at least parsed) IR model.

    Returns
    -------
    str
        LaTeX for ``st.latex``.
    """
    sense = r"\max" if model.objective.sense == "max" else r"\min"
    lines = [rf"{sense} \quad & {expr_latex(model.objective.expr)}"]
    for k, (con, cname) in enumerate(zip(model.constraints, model.constraint_names())):
        head = r"\text{s.t.} \quad" if k == 0 else ""
        tag = r"\qquad (\text{" + escape_text(cname) + "})"
        lines.append(f"{head} & {constraint_latex(con)}{tag}")
    for vname, var in model.variables.items():
        lines.append(f"& {variable_latex(vname, var)}")
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"
