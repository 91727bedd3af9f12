"""Build vectorised plans from expression trees.

Every bound index name is a column of a :class:`~workbench.compile.plan.Frame`.
``for`` clauses expand frames (a Cartesian product, or a sort-based join
when a filter pins an index to an outer one, as in ``for (k, j) in A if k
== i``), ``sum`` becomes a segment reduction, and subscripts become
vectorised position lookups.  No Python loop runs per term.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from workbench.compile.plan import (
    Col,
    Frame,
    PBin,
    PConst,
    PFunc,
    Plan,
    PNeg,
    PReduce,
    PVar,
    PVarMinMax,
)
from workbench.compile.sets import SetData
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

if TYPE_CHECKING:  # type-only: context.py imports this module, never the reverse
    from workbench.compile.context import Context, VarData

__all__ = ["MAX_ROWS", "Builder"]

MAX_ROWS = 50_000_000
"""Largest frame an expansion may create before it is refused."""

_NUMPY_FUNCS = {
    "abs": np.abs,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "sin": np.sin,
    "cos": np.cos,
}


def _mentions(node: Node, names: set[str]) -> bool:
    if isinstance(node, Name):
        return node.id in names
    if isinstance(node, Index):
        return node.name in names or any(_mentions(a, names) for a in node.args)
    if isinstance(node, Tup):
        return any(_mentions(a, names) for a in node.items)
    if isinstance(node, BinOp):
        return _mentions(node.left, names) or _mentions(node.right, names)
    if isinstance(node, Unary | Not):
        return _mentions(node.operand, names)
    if isinstance(node, Call):
        return any(_mentions(a, names) for a in node.args)
    if isinstance(node, Compare):
        return any(_mentions(a, names) for a in node.operands)
    if isinstance(node, BoolOp):
        return any(_mentions(a, names) for a in node.values)
    if isinstance(node, In):
        return _mentions(node.item, names)
    if isinstance(node, Reduce):
        inner = names - {t for g in node.gens for t in g.targets}
        return _mentions(node.body, inner) or any(
            _mentions(c, inner) for g in node.gens for c in g.conds
        )
    return False


_MAX_INDEX = float(2**53)

_ORDER_OPS = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


class Builder:
    """Turns expression nodes into plans over frames, reporting errors at ``where``."""

    def __init__(self, ctx: Context, where: str | None) -> None:
        self.ctx = ctx
        self.where = where

    def fail(self, msg: str, frame: Frame | None = None, row: int | None = None) -> ModelError:
        """A located error, with the bindings of *row* when given."""
        if frame is not None and row is not None and frame.cols:
            msg += f" (when {self.describe(frame, row)})"
        return ModelError(msg, self.where)

    def _variable(self, name: str) -> VarData:
        """The compiled variable *name*; variables do not exist yet while parameters are built."""
        v = self.ctx.vars.get(name)
        if v is None:
            raise self.fail(
                f"'{name}' is a variable: a parameter must be defined from data only "
                "(sets, numbers and other parameters); move the expression into a constraint "
                "or the objective"
            )
        return v

    def describe(self, frame: Frame, row: int) -> str:
        """``i=a, t=1``: the bindings of one row."""
        parts = []
        for name, col in frame.cols.items():
            v = int(col.values[row])
            parts.append(f"{name}={self.ctx.interner.decode(v) if col.kind == 'str' else v}")
        return ", ".join(parts)

    # ----------------------------------------------------------------- frames
    @staticmethod
    def root() -> Frame:
        """The frame with one row and no bindings."""
        return Frame(1, {})

    def expand_all(self, frame: Frame, gens: tuple[Gen, ...]) -> tuple[Frame, np.ndarray]:
        """Apply every clause; return the new frame and each row's parent row in *frame*."""
        parent: np.ndarray | None = None
        for g in gens:
            frame, p = self.expand(frame, g)
            parent = p if parent is None else parent[p]
        return frame, (np.arange(frame.n, dtype=np.int64) if parent is None else parent)

    def expand(self, frame: Frame, gen: Gen) -> tuple[Frame, np.ndarray]:
        """One ``for targets in SET if conds`` clause."""
        s = self.ctx.get_set(gen.set, self.where)
        targets = gen.targets
        if gen.tuple_target and len(targets) != s.dim:
            raise self.fail(
                f"'{s.name}' has {s.dim} component(s) but the 'for' names {len(targets)}"
            )
        if not gen.tuple_target and s.dim != 1:
            names = ", ".join(f"{targets[0]}{k + 1}" for k in range(s.dim))
            raise self.fail(f"'{s.name}' has {s.dim} components; write 'for ({names}) in {s.name}'")
        for t in targets:
            if t in frame.cols:
                raise self.fail(f"'{t}' is already bound by an outer 'for'; choose another name")
            if t in self.ctx.kind_of:
                raise self.fail(
                    f"'{t}' is the name of a declared {self.ctx.kind_of[t]}; choose another index name"
                )
        conds = list(gen.conds)
        join = self._find_join(conds, targets, frame)
        if join is not None:
            comp, other, k = join
            conds.pop(k)
            parent, pos = self._join(frame, s, comp, other)
        else:
            m = s.size
            total = frame.n * m
            if total > MAX_ROWS:
                raise self.fail(
                    f"'for {', '.join(targets)} in {s.name}' would create {total:,} combinations; "
                    "narrow it with an equality filter such as 'if k == i'"
                )
            if frame.n == 1:
                parent = np.zeros(m, dtype=np.int64)
                pos = np.arange(m, dtype=np.int64)
            else:
                parent = np.repeat(np.arange(frame.n, dtype=np.int64), m)
                pos = np.tile(np.arange(m, dtype=np.int64), frame.n)
        cols = {name: c.take(parent) for name, c in frame.cols.items()}
        for c, t in enumerate(targets):
            cols[t] = Col.of_set(s.cols[c], s.kinds[c], s.name, c, pos)
        new = Frame(int(pos.shape[0]), cols)
        for cond in conds:
            mask = self.mask(cond, new)
            if not mask.all():
                idx = np.nonzero(mask)[0]
                new = new.take(idx)
                parent = parent[idx]
        return new, parent

    def _find_join(
        self, conds: list[Node], targets: tuple[str, ...], frame: Frame
    ) -> tuple[int, Node, int] | None:
        tset = set(targets)
        for k, c in enumerate(conds):
            if not (isinstance(c, Compare) and c.ops == ("==",)):
                continue
            a, b = c.operands
            for side, other in ((a, b), (b, a)):
                if (
                    isinstance(side, Name)
                    and side.id in tset
                    and not _mentions(other, tset)
                    and frame.n > 1
                ):
                    return targets.index(side.id), other, k
        return None

    def _join(
        self, frame: Frame, s: SetData, comp: int, other: Node
    ) -> tuple[np.ndarray, np.ndarray]:
        key = self.member(other, frame)
        if key.kind != s.kinds[comp]:
            raise self.fail(
                f"comparing members of {s.name} ({'text' if s.kinds[comp] == 'str' else 'integers'}) "
                f"with {'text' if key.kind == 'str' else 'integers'}"
            )
        cv = s.cols[comp]
        order = np.argsort(cv, kind="stable")
        sv = cv[order]
        left = np.searchsorted(sv, key.values, side="left")
        right = np.searchsorted(sv, key.values, side="right")
        counts = right - left
        total = int(counts.sum())
        parent = np.repeat(np.arange(frame.n, dtype=np.int64), counts)
        starts = np.cumsum(counts) - counts
        offs = np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
        pos = order[np.repeat(left, counts) + offs]
        return parent, pos.astype(np.int64)

    # ---------------------------------------------------------------- members
    def member(self, node: Node, frame: Frame) -> Col:
        """Evaluate an index expression to member values."""
        n = frame.n
        if isinstance(node, Name):
            if node.id in frame.cols:
                return frame.cols[node.id]
            if node.id in self.ctx.model.params:
                return self._int_col(self.value(node, frame), node)
            if node.id in self.ctx.kind_of:
                raise self.fail(
                    f"the {self.ctx.kind_of[node.id]} '{node.id}' cannot be used as an index"
                )
            raise self.ctx.unknown(node.id, self.where, list(frame.cols))
        if isinstance(node, Str):
            return Col(np.full(n, self.ctx.interner.code(node.value), dtype=np.int64), "str")
        if isinstance(node, Num):
            if isinstance(node.value, float) and not node.value.is_integer():
                raise self.fail(f"index {node.value} is not an integer")
            self._index_range(np.array([float(node.value)]))
            return Col(np.full(n, int(node.value), dtype=np.int64), "int")
        if isinstance(node, BinOp) and node.op in ("+", "-", "*"):
            a = self.member(node.left, frame)
            b = self.member(node.right, frame)
            if a.kind != "int" or b.kind != "int":
                raise self.fail(f"arithmetic '{node.op}' on text members is not allowed")
            fn = {"+": np.add, "-": np.subtract, "*": np.multiply}[node.op]
            self._index_range(fn(a.values.astype(float), b.values.astype(float)))
            return Col(fn(a.values, b.values), "int")
        if isinstance(node, Unary):
            a = self.member(node.operand, frame)
            if a.kind != "int":
                raise self.fail("unary minus on a text member is not allowed")
            return Col(-a.values if node.op == "-" else a.values, "int")
        if isinstance(node, Index) and node.name in self.ctx.model.params:
            return self._int_col(self.value(node, frame), node)
        if isinstance(node, Call) and node.func == "ord":
            return self._int_col(self.value(node, frame), node)
        raise self.fail(
            "this cannot be used as an index; use a bound name, a member or integer arithmetic"
        )

    def _int_col(self, plan: Plan, node: Node) -> Col:
        if not isinstance(plan, PConst):
            raise self.fail("an index must be data, not a variable")
        vals = plan.array()
        if not np.all(np.mod(vals, 1) == 0):
            raise self.fail("a parameter used as an index must hold integers")
        self._index_range(vals)
        return Col(vals.astype(np.int64), "int")

    def _index_range(self, vals: np.ndarray) -> None:
        """Integer members must stay exact in float64 (and far from int64 overflow)."""
        if vals.size and float(np.max(np.abs(vals))) > _MAX_INDEX:
            raise self.fail(
                f"index value {float(np.max(np.abs(vals))):g} is out of range; integer members "
                f"must lie within +-{_MAX_INDEX:.0f} (2^53)"
            )

    def lookup(
        self, name: str, index: tuple[SetData, ...], args: tuple[Node, ...], frame: Frame
    ) -> np.ndarray:
        """Flat positions of ``name[args]`` over the product of *index*, per row."""
        if len(args) == 1 and isinstance(args[0], Tup):
            args = args[0].items
        dims = sum(s.dim for s in index)
        if len(args) != dims:
            sets = ", ".join(s.name for s in index) or "nothing"
            raise self.fail(f"'{name}' takes {dims} index(es) ({sets}), got {len(args)}")
        cols = [self.member(a, frame) for a in args]
        flat: np.ndarray | None = None
        k = 0
        for s in index:
            cs = cols[k : k + s.dim]
            k += s.dim
            for c, col in enumerate(cs):
                if col.kind != s.kinds[c]:
                    want = "text" if s.kinds[c] == "str" else "an integer"
                    raise self.fail(
                        f"index {k - s.dim + c + 1} of '{name}' must be {want} (a member of {s.name})"
                    )
            fast = all(
                col.src == s.name and col.comp == c and col.has_pos for c, col in enumerate(cs)
            )
            if fast and s.dim > 1:
                fast = cs[0].group is not None and all(col.group == cs[0].group for col in cs[1:])
            if fast:
                pos = cs[0].pos
                assert pos is not None
            else:
                pos = s.positions([col.values for col in cs])
                missing = np.nonzero(pos < 0)[0]
                if missing.size:
                    r = int(missing[0])
                    shown = ", ".join(
                        str(
                            self.ctx.interner.decode(int(col.values[r]))
                            if col.kind == "str"
                            else int(col.values[r])
                        )
                        for col in cols
                    )
                    hint = ""
                    if s.kinds[0] == "int" and any(isinstance(a, BinOp) for a in args):
                        hint = "; filter the quantifier, e.g. 'for t in T if t > 1'"
                    raise self.fail(
                        f"{name}[{shown}] is outside the index set {s.name} of '{name}'{hint}",
                        frame,
                        r,
                    )
            flat = pos if flat is None else flat * s.size + pos
        return np.zeros(frame.n, dtype=np.int64) if flat is None else flat

    # ----------------------------------------------------------------- values
    def value(self, node: Node, frame: Frame) -> Plan:
        """Evaluate an arithmetic expression to a plan over *frame*'s rows."""
        n = frame.n
        if isinstance(node, Num):
            return PConst(float(node.value), n)
        if isinstance(node, Str):
            raise self.fail(f"the text '{node.value}' is not a number; text can only be an index")
        if isinstance(node, Name):
            return self._name(node.id, frame)
        if isinstance(node, Index):
            return self._index(node, frame)
        if isinstance(node, BinOp):
            return self._binop(
                node.op, self.value(node.left, frame), self.value(node.right, frame), frame
            )
        if isinstance(node, Unary):
            a = self.value(node.operand, frame)
            if node.op == "+":
                return a
            if isinstance(a, PConst):
                return PConst(-a.value, n)
            return PNeg(a, n)
        if isinstance(node, Call):
            return self._call(node, frame)
        if isinstance(node, Reduce):
            return self._reduce(node, frame)
        if isinstance(node, Tup):
            raise self.fail("a tuple is not a value; tuples are only for indices")
        if isinstance(node, Compare | BoolOp | Not | In):
            raise self.fail(
                "a comparison is not a value here; constraints have one comparison at the top"
            )
        raise self.fail(f"unsupported expression {type(node).__name__}")

    def _name(self, name: str, frame: Frame) -> Plan:
        n = frame.n
        if name in frame.cols:
            col = frame.cols[name]
            if col.kind == "str":
                raise self.fail(f"'{name}' runs over text members and has no numeric value")
            return PConst(col.values.astype(float), n)
        kind = self.ctx.kind_of.get(name)
        if kind == "parameter":
            p = self.ctx.get_param(name, self.where)
            if not p.is_scalar:
                raise self.fail(
                    f"'{name}' is indexed by ({', '.join(s.name for s in p.index)}); write {name}[...]"
                )
            return PConst(float(p.values[0]), n)
        if kind == "variable":
            v = self._variable(name)
            if v.index:
                raise self.fail(
                    f"'{name}' is indexed by ({', '.join(s.name for s in v.index)}); write {name}[...]"
                )
            return PVar(np.full(n, v.offset, dtype=np.int64), n)
        if kind == "set":
            raise self.fail(f"'{name}' is a set, not a value; iterate it with 'for ... in {name}'")
        raise self.ctx.unknown(name, self.where, list(frame.cols))

    def _index(self, node: Index, frame: Frame) -> Plan:
        kind = self.ctx.kind_of.get(node.name)
        n = frame.n
        if kind == "parameter":
            p = self.ctx.get_param(node.name, self.where)
            if p.is_scalar:
                raise self.fail(f"'{node.name}' is a scalar parameter; write it without [...]")
            flat = self.lookup(node.name, p.index, node.args, frame)
            return PConst(p.values[flat], n)
        if kind == "variable":
            v = self._variable(node.name)
            if not v.index:
                raise self.fail(f"'{node.name}' is a scalar variable; write it without [...]")
            flat = self.lookup(node.name, v.index, node.args, frame)
            return PVar(flat + v.offset, n)
        if kind == "set":
            raise self.fail(f"'{node.name}' is a set and cannot be subscripted")
        if node.name in frame.cols:
            raise self.fail(f"'{node.name}' is an index name and cannot be subscripted")
        raise self.ctx.unknown(node.name, self.where, list(frame.cols))

    def _fold_check(self, out: np.ndarray | float, what: str, frame: Frame) -> None:
        arr = np.asarray(out)
        if not np.all(np.isfinite(arr)):
            bad = (
                int(np.nonzero(~np.isfinite(np.broadcast_to(arr, (frame.n,))))[0][0])
                if frame.n
                else None
            )
            raise self.fail(f"{what} gives a value that is not finite", frame, bad)

    def _binop(self, op: str, a: Plan, b: Plan, frame: Frame) -> Plan:
        n = frame.n
        if isinstance(a, PConst) and isinstance(b, PConst):
            with np.errstate(all="ignore"):
                if op == "+":
                    out = a.value + b.value
                elif op == "-":
                    out = a.value - b.value
                elif op == "*":
                    out = a.value * b.value
                elif op == "/":
                    if np.any(np.asarray(b.value) == 0):
                        bz = np.broadcast_to(np.asarray(b.value) == 0, (n,))
                        raise self.fail(
                            "division by zero", frame, int(np.nonzero(bz)[0][0]) if n else None
                        )
                    out = a.value / b.value
                else:
                    out = np.power(a.value, b.value)
            self._fold_check(out, f"'{op}'", frame)
            return PConst(out if isinstance(out, np.ndarray) else float(out), n)
        if op == "/" and isinstance(b, PConst) and np.any(np.asarray(b.value) == 0):
            raise self.fail("division by zero")
        # simplify x * 1, x + 0
        if op in ("+", "-") and isinstance(b, PConst) and np.all(np.asarray(b.value) == 0):
            return a
        if op == "*" and isinstance(b, PConst) and np.all(np.asarray(b.value) == 1):
            return a
        if op == "*" and isinstance(a, PConst) and np.all(np.asarray(a.value) == 1):
            return b
        return PBin(op, a, b, n)

    def _call(self, node: Call, frame: Frame) -> Plan:
        n = frame.n
        if node.func in self.ctx.kind_of:
            self.ctx.warn(
                f"{self.where}: '{node.func}(...)' calls the function {node.func}(), not the "
                f"declared {self.ctx.kind_of[node.func]} '{node.func}' (write {node.func}[...] "
                "for its entries)"
            )
        if node.func == "ord":
            return self._ord(node, frame)
        args = [self.value(a, frame) for a in node.args]
        if node.func in ("min", "max"):
            if all(isinstance(a, PConst) for a in args):
                fn = np.minimum if node.func == "min" else np.maximum
                out = args[0].value  # type: ignore[attr-defined]
                for a in args[1:]:
                    out = fn(out, a.value)  # type: ignore[attr-defined]
                return PConst(out, n)
            return PVarMinMax(node.func, tuple(args), n)
        a = args[0]
        if isinstance(a, PConst):
            val = np.asarray(a.value)
            if node.func == "log" and np.any(val <= 0):
                raise self.fail("log of a number <= 0")
            if node.func == "sqrt" and np.any(val < 0):
                raise self.fail("sqrt of a negative number")
            with np.errstate(all="ignore"):
                out = _NUMPY_FUNCS[node.func](a.value)
            self._fold_check(out, f"{node.func}()", frame)
            return PConst(out if isinstance(out, np.ndarray) and out.ndim else float(out), n)
        return PFunc(node.func, a, n)

    def _reduce(self, node: Reduce, frame: Frame) -> Plan:
        child, parent = self.expand_all(frame, node.gens)
        if child.n == 0:
            self.ctx.warn(
                f"{self.where}: {node.func}() over an empty set"
                + (" (taken as 0)" if node.func == "sum" else "")
            )
        body = self.value(node.body, child)
        n = frame.n
        if isinstance(body, PConst):
            vals = body.array()
            if node.func == "sum":
                return PConst(np.bincount(parent, weights=vals, minlength=n).astype(float), n)
            counts = np.bincount(parent, minlength=n)
            if np.any(counts == 0):
                raise self.fail(
                    f"{node.func}() over an empty set", frame, int(np.nonzero(counts == 0)[0][0])
                )
            out = np.full(n, np.inf if node.func == "min" else -np.inf)
            (np.minimum if node.func == "min" else np.maximum).at(out, parent, vals)
            return PConst(out, n)
        if node.func != "sum":
            counts = np.bincount(parent, minlength=n)
            if np.any(counts == 0):
                raise self.fail(
                    f"{node.func}() over an empty set", frame, int(np.nonzero(counts == 0)[0][0])
                )
        return PReduce(node.func, body, parent, n)

    # ----------------------------------------------------------------- order
    def _order_set(self, node: Node, frame: Frame) -> SetData | None:
        """The set whose order a bound member follows (``None`` unless *node* is a bound name)."""
        if not (isinstance(node, Name) and node.id in frame.cols):
            return None
        col = frame.cols[node.id]
        origin = self.ctx.member_origin(col.src, col.comp)
        if origin is None:
            raise self.fail(
                f"'{node.id}' is a component of the tuple set {col.src}, which has no order "
                f"of its own; name the set whose order to use: ord({node.id}, S)"
            )
        return self.ctx.get_set(origin, self.where)

    def _positions(self, node: Node, frame: Frame, s: SetData) -> np.ndarray:
        """0-based positions of the member expression *node* in the one-dimensional set *s*."""
        if s.dim != 1:
            raise self.fail(
                f"'{s.name}' has {s.dim} components; ord() needs a set of single members"
            )
        col = self.member(node, frame)
        if col.kind != s.kinds[0]:
            want = "text" if s.kinds[0] == "str" else "integers"
            raise self.fail(f"the members of {s.name} are {want}, so this cannot be one of them")
        if col.src == s.name and col.has_pos:
            pos = col.pos
            assert pos is not None
            return pos
        pos = s.positions([col.values])
        missing = np.nonzero(pos < 0)[0]
        if missing.size:
            r = int(missing[0])
            v = int(col.values[r])
            shown = self.ctx.interner.decode(v) if col.kind == "str" else v
            raise self.fail(f"{shown!r} is not a member of {s.name}", frame, r)
        return pos

    def _ord(self, node: Call, frame: Frame) -> Plan:
        """``ord(i)`` / ``ord(i, S)``: the 1-based position of a member in its (or the named) set."""
        arg = node.args[0]
        if len(node.args) == 2:
            named = node.args[1]
            assert isinstance(named, Name)
            s = self.ctx.get_set(named.id, self.where)
        else:
            found = self._order_set(arg, frame)
            if found is None:
                raise self.fail(
                    "ord() needs a member bound by 'for', as in ord(i), or the set to look "
                    "in: ord('b', S)"
                )
            s = found
        return PConst((self._positions(arg, frame, s) + 1).astype(float), frame.n)

    def _order_mask(self, op: str, a: Node, b: Node, frame: Frame) -> np.ndarray:
        """``a < b`` and the like for text members: their positions in their one set."""
        sa, sb = self._order_set(a, frame), self._order_set(b, frame)
        if sa is not None and sb is not None and sa.name != sb.name:
            raise self.fail(
                f"order comparison '{op}' of members of different sets ({sa.name} and "
                f"{sb.name}); compare positions in one set with ord(..., S)"
            )
        s = sa or sb
        if s is None:
            raise self.fail(
                f"order comparison '{op}' of text needs a member bound by 'for', as in "
                "'if i < j'; text members are ordered by their position in their set"
            )
        if not (self._is_text(a, frame) and self._is_text(b, frame)):
            raise self.fail("comparing text with a number")
        pa, pb = self._positions(a, frame, s), self._positions(b, frame, s)
        return _ORDER_OPS[op](pa, pb)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ masks
    def _is_text(self, node: Node, frame: Frame) -> bool:
        if isinstance(node, Str):
            return True
        return (
            isinstance(node, Name) and node.id in frame.cols and frame.cols[node.id].kind == "str"
        )

    def mask(self, node: Node, frame: Frame) -> np.ndarray:
        """Evaluate a filter to one boolean per row (data only)."""
        n = frame.n
        if isinstance(node, Compare):
            out = np.ones(n, dtype=bool)
            for op, a, b in zip(node.ops, node.operands, node.operands[1:]):
                if self._is_text(a, frame) or self._is_text(b, frame):
                    if op not in ("==", "!="):
                        out &= self._order_mask(op, a, b, frame)
                        continue
                    ca, cb = self.member(a, frame), self.member(b, frame)
                    if ca.kind != cb.kind:
                        raise self.fail("comparing text with a number")
                    res = ca.values == cb.values if op == "==" else ca.values != cb.values
                else:
                    pa, pb = self.value(a, frame), self.value(b, frame)
                    if not (isinstance(pa, PConst) and isinstance(pb, PConst)):
                        raise self.fail("a filter may use data only, not variables")
                    va, vb = pa.array(), pb.array()
                    res = _ORDER_OPS[op](va, vb)
                out &= res
            return out
        if isinstance(node, BoolOp):
            masks = [self.mask(v, frame) for v in node.values]
            out = masks[0].copy()
            for m in masks[1:]:
                out = (out & m) if node.op == "and" else (out | m)
            return out
        if isinstance(node, Not):
            return ~self.mask(node.operand, frame)
        if isinstance(node, In):
            s = self.ctx.get_set(node.set, self.where)
            items = node.item.items if isinstance(node.item, Tup) else (node.item,)
            if len(items) != s.dim:
                raise self.fail(f"'{s.name}' has {s.dim} component(s); the test names {len(items)}")
            cols = [self.member(it, frame) for it in items]
            for c, col in enumerate(cols):
                if col.kind != s.kinds[c]:
                    return np.ones(n, dtype=bool) if node.negate else np.zeros(n, dtype=bool)
            found = s.positions([c.values for c in cols]) >= 0
            return ~found if node.negate else found
        raise self.fail("a filter must be a comparison, such as 'if i != j' or 'if (i, j) in A'")
