"""A whitelisting parser: Python expression syntax in, typed nodes out.

Uses :mod:`ast` to parse and rejects every construct that is not on the
whitelist with a located :class:`~workbench.errors.ModelError`.  There is no
``eval`` anywhere.
"""

from __future__ import annotations

import ast
import math
import warnings

from workbench.errors import ModelError
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

__all__ = [
    "ALL_FUNCTIONS",
    "FUNCTIONS",
    "MAX_LENGTH",
    "MEMBER_FUNCTIONS",
    "parse_expr",
    "parse_for",
    "parse_set_expr",
]

FUNCTIONS = frozenset({"abs", "exp", "log", "sqrt", "sin", "cos", "min", "max"})
"""Elementwise numeric functions."""
REDUCERS = frozenset({"sum", "min", "max"})
MEMBER_FUNCTIONS = frozenset({"ord"})
"""Functions of set members: ``ord(i)`` and ``ord(i, S)``, the 1-based position."""
ALL_FUNCTIONS = FUNCTIONS | REDUCERS | MEMBER_FUNCTIONS
"""Every name that may be called.  Declared names may coincide with them: ``exp[i]``
and a bare ``exp`` are the declared symbol, ``exp(...)`` is the function."""
MAX_LENGTH = 20_000
_MAX_DEPTH = 200

_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}
_CMPOPS: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
_NICE = {
    ast.Attribute: "attribute access ('.')",
    ast.Lambda: "lambda",
    ast.ListComp: "a list comprehension (use sum(... for ...))",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.List: "a list literal",
    ast.Dict: "a dict literal",
    ast.Set: "a set literal",
    ast.IfExp: "a conditional expression (use a filter: 'for i in I if ...')",
    ast.Starred: "'*' unpacking",
    ast.NamedExpr: "':='",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.JoinedStr: "an f-string",
    ast.Slice: "a slice",
    ast.Mod: "'%'",
    ast.FloorDiv: "'//'",
    ast.MatMult: "'@'",
    ast.BitAnd: "'&'",
    ast.BitOr: "'|'",
    ast.BitXor: "'^'",
    ast.LShift: "'<<'",
    ast.RShift: "'>>'",
    ast.Invert: "'~'",
    ast.Is: "'is'",
    ast.IsNot: "'is not'",
}


def _what(node: ast.AST) -> str:
    return _NICE.get(type(node), f"'{type(node).__name__}'")


class _Converter:
    def __init__(self, where: str | None) -> None:
        self.where = where
        self.depth = 0

    def fail(self, msg: str) -> ModelError:
        return ModelError(msg, self.where)

    def expr(self, node: ast.AST) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.fail("expression is nested too deeply")
        try:
            return self._expr(node)
        finally:
            self.depth -= 1

    def _expr(self, node: ast.AST) -> Node:
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or v is None:
                raise self.fail(f"{v!r} is not allowed; use a number")
            if isinstance(v, int | float):
                if isinstance(v, float) and not math.isfinite(v):
                    raise self.fail("numbers must be finite")
                return Num(v)
            if isinstance(v, str):
                return Str(v)
            raise self.fail(f"the literal {v!r} is not allowed")
        if isinstance(node, ast.Name):
            if node.id.startswith("__"):
                raise self.fail(f"'{node.id}' is not allowed")
            return Name(node.id)
        if isinstance(node, ast.Subscript):
            if not isinstance(node.value, ast.Name):
                raise self.fail("only a declared name can be subscripted, as in x[i, j]")
            sl = node.slice
            if isinstance(sl, ast.Slice):
                raise self.fail("slices are not allowed; index with set members")
            items = sl.elts if isinstance(sl, ast.Tuple) else [sl]
            return Index(node.value.id, tuple(self.expr(a) for a in items))
        if isinstance(node, ast.Tuple):
            return Tup(tuple(self.expr(a) for a in node.elts))
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise self.fail(f"{_what(node.op)} is not allowed")
            return BinOp(op, self.expr(node.left), self.expr(node.right))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub | ast.UAdd):
                operand = self.expr(node.operand)
                sign = "-" if isinstance(node.op, ast.USub) else "+"
                if isinstance(operand, Num):
                    return Num(-operand.value if sign == "-" else operand.value)
                return Unary(sign, operand)
            if isinstance(node.op, ast.Not):
                return Not(self.expr(node.operand))
            raise self.fail(f"{_what(node.op)} is not allowed")
        if isinstance(node, ast.BoolOp):
            return BoolOp(
                "and" if isinstance(node.op, ast.And) else "or",
                tuple(self.expr(v) for v in node.values),
            )
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.GeneratorExp):
            raise self.fail("a generator must be the argument of sum(), min() or max()")
        raise self.fail(f"{_what(node)} is not allowed")

    def _compare(self, node: ast.Compare) -> Node:
        if len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn):
            right = node.comparators[0]
            if not isinstance(right, ast.Name):
                raise self.fail("'in' must be followed by a set name, as in 'i in I'")
            return In(self.expr(node.left), right.id, isinstance(node.ops[0], ast.NotIn))
        ops = []
        for op in node.ops:
            if isinstance(op, ast.In | ast.NotIn):
                raise self.fail("'in' cannot be chained with other comparisons")
            name = _CMPOPS.get(type(op))
            if name is None:
                raise self.fail(f"{_what(op)} is not allowed")
            ops.append(name)
        operands = (self.expr(node.left), *(self.expr(c) for c in node.comparators))
        return Compare(tuple(ops), operands)

    def _call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(f"only the functions {', '.join(sorted(ALL_FUNCTIONS))} may be called")
        fn = node.func.id
        if node.keywords:
            raise self.fail(f"{fn}() takes no keyword arguments")
        if fn not in ALL_FUNCTIONS:
            allowed = ", ".join(sorted(ALL_FUNCTIONS))
            raise self.fail(f"'{fn}' is not allowed; the functions are {allowed}")
        if len(node.args) == 1 and isinstance(node.args[0], ast.GeneratorExp):
            if fn not in REDUCERS:
                raise self.fail(f"{fn}() cannot take a generator; only sum, min and max can")
            gen = node.args[0]
            return Reduce(fn, self.expr(gen.elt), tuple(self._gen(c) for c in gen.generators))
        if any(isinstance(a, ast.GeneratorExp) for a in node.args):
            raise self.fail(f"{fn}(): a generator must be the only argument")
        args = tuple(self.expr(a) for a in node.args)
        if fn == "sum":
            raise self.fail("sum() needs a generator, as in sum(x[i] for i in I)")
        if fn == "ord":
            if len(args) not in (1, 2) or (len(args) == 2 and not isinstance(args[1], Name)):
                raise self.fail(
                    "ord() takes a member, as in ord(i), or a member and a set: ord(i, S)"
                )
        elif fn in ("min", "max"):
            if len(args) < 2:
                raise self.fail(f"{fn}() needs two or more arguments, or a generator")
        elif len(args) != 1:
            raise self.fail(f"{fn}() takes exactly one argument, got {len(args)}")
        return Call(fn, args)

    def _gen(self, comp: ast.comprehension) -> Gen:
        if comp.is_async:
            raise self.fail("async comprehensions are not allowed")
        if not isinstance(comp.iter, ast.Name):
            raise self.fail("a 'for' must run over a declared set name, as in 'for i in I'")
        tgt = comp.target
        if isinstance(tgt, ast.Name):
            targets: tuple[str, ...] = (tgt.id,)
            is_tuple = False
        elif isinstance(tgt, ast.Tuple) and all(isinstance(e, ast.Name) for e in tgt.elts):
            targets = tuple(e.id for e in tgt.elts)  # type: ignore[attr-defined]
            is_tuple = True
        else:
            raise self.fail("a 'for' target must be a name or a tuple of names, as in (i, j)")
        for t in targets:
            if t.startswith("__"):
                raise self.fail(f"'{t}' is not allowed")
        if len(set(targets)) != len(targets):
            raise self.fail(f"repeated name in 'for {', '.join(targets)}'")
        return Gen(targets, comp.iter.id, tuple(self.expr(c) for c in comp.ifs), is_tuple)


def _parse(text: str, where: str | None) -> ast.AST:
    if not isinstance(text, str):
        raise ModelError(f"expected an expression string, got {type(text).__name__}", where)
    if len(text) > MAX_LENGTH:
        raise ModelError(f"expression longer than {MAX_LENGTH} characters", where)
    src = text.strip()
    if not src:
        raise ModelError("empty expression", where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        col = f" at column {e.offset}" if e.offset else ""
        raise ModelError(f"syntax error{col}: {e.msg}", where) from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise ModelError(f"cannot parse: {e}", where) from None
    return tree.body  # type: ignore[attr-defined,no-any-return]


def parse_expr(text: str, where: str | None = None) -> Node:
    """Parse one expression.

    Parameters
    ----------
    text
        The expression, in the whitelisted Python syntax.
    where
        Its location for error messages, such as ``constraints[2].expr``.

    Returns
    -------
    Node
        The typed tree.

    Raises
    ------
    ModelError
        On a syntax error or a construct outside the whitelist.
    """
    conv = _Converter(where)
    try:
        return conv.expr(_parse(text, where))
    except RecursionError:
        raise ModelError("expression is nested too deeply", where) from None


def parse_for(text: str, where: str | None = None) -> tuple[Gen, ...]:
    """Parse a ``for`` quantifier: ``"i in I"``, ``"i in I for j in J if i != j"`` or ``"i in I, j in J"``.

    Returns
    -------
    tuple[Gen, ...]
        The clauses, outermost first.
    """
    if not isinstance(text, str) or not text.strip():
        raise ModelError("empty 'for'; write e.g. 'i in I'", where)
    src = text.strip()
    if src.startswith("for "):
        src = src[4:]
    candidates = [src]
    pieces = _split_top_level_commas(src)
    if len(pieces) > 1:
        candidates.append(" for ".join(p.strip() for p in pieces))
    err: ModelError | None = None
    for cand in candidates:
        try:
            node = _parse(f"(_ for {cand})", where)
        except ModelError as e:
            err = err or e
            continue
        if not isinstance(node, ast.GeneratorExp):
            break
        conv = _Converter(where)
        try:
            return tuple(conv._gen(c) for c in node.generators)
        except RecursionError:
            raise ModelError("'for' is nested too deeply", where) from None
    raise ModelError(
        f"cannot read the quantifier {text!r}; write e.g. 'i in I', "
        "'i in I for j in J if i != j' or 'i in I, j in J'",
        where,
    ) from err


def parse_set_expr(text: str, where: str | None = None) -> tuple[Node, tuple[Gen, ...]]:
    """Parse a derived set: ``"(i, j) for i in I for j in J if d[i, j] <= 50"``.

    Returns
    -------
    tuple[Node, tuple[Gen, ...]]
        The member expression and the generator clauses.
    """
    if not isinstance(text, str):
        raise ModelError(f"expected an expression string, got {type(text).__name__}", where)
    node = _parse(f"({text.strip()})", where)
    if not isinstance(node, ast.GeneratorExp):
        raise ModelError(
            "a derived set is a generator such as '(i, j) for i in I for j in J if ...'", where
        )
    conv = _Converter(where)
    try:
        return conv.expr(node.elt), tuple(conv._gen(c) for c in node.generators)
    except RecursionError:
        raise ModelError("expression is nested too deeply", where) from None


def _split_top_level_commas(text: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out
