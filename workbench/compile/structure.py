"""Compile a model's expressions into plans: the shared front half of every compiler.

``compile_structure(model)`` resolves sets, parameters and variables, then
turns the objective and each constraint family (including the bilevel
follower's and the uncertainty set's) into vectorised plans with row
bounds.  ``LinearForm``, ``TorchForm`` and the Pyomo compiler all start here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from workbench.compile.builder import Builder
from workbench.compile.context import Context
from workbench.compile.plan import Col, Frame, PConst, Plan, PVar
from workbench.compile.sets import Interner
from workbench.errors import ModelError
from workbench.expr.nodes import Compare, Index, Name, Node
from workbench.expr.parser import parse_expr, parse_for
from workbench.ir.model import Constraint, Model, Objective
from workbench.result import Label

__all__ = ["CompiledModel", "FrameLabels", "ObjectivePlan", "RowFamily", "compile_structure"]


class FrameLabels(Sequence[Label]):
    """Row labels from a frame's bound names, decoded on demand."""

    def __init__(self, cols: list[Col], interner: Interner, n: int) -> None:
        self.cols = cols
        self.interner = interner
        self.n = n
        self._all: list[Label] | None = None

    def __len__(self) -> int:
        return self.n

    def _decode(self, col: Col, r: int) -> str | int:
        v = int(col.values[r])
        return self.interner.decode(v) if col.kind == "str" else v

    def __getitem__(self, r: int) -> Label:  # type: ignore[override]
        if self._all is not None:
            return self._all[r]
        parts = tuple(self._decode(c, r) for c in self.cols)
        return parts[0] if len(parts) == 1 else parts

    def __iter__(self) -> Iterator[Label]:
        if self._all is None:
            per = []
            for c in self.cols:
                if c.kind == "str":
                    strings = self.interner.strings
                    per.append([strings[v] for v in c.values.tolist()])
                else:
                    per.append(c.values.tolist())
            self._all = per[0] if len(per) == 1 else list(zip(*per))
        return iter(self._all)


@dataclass
class RowFamily:
    """One named constraint (family): ``lo <= plan <= hi`` per row.

    Attributes
    ----------
    name
        The constraint's name.
    where
        Its location, such as ``constraints[2]``.
    plan
        The row expression (variables on the left; constants moved to the bounds
        by the compilers that can).
    lo, hi
        Row bounds as ``(n,)`` arrays.
    labels
        Index labels of the rows (``None`` for a constraint without ``for``).
    indicator
        Flat binary column per row for an indicator constraint, else ``None``.
    """

    name: str
    where: str
    plan: Plan
    lo: np.ndarray
    hi: np.ndarray
    labels: Sequence[Label] | None
    indicator: np.ndarray | None = None
    """For an indicator constraint (``when: "y[i]"``): per row, the flat column of
    the binary variable; the row holds only where that binary is 1."""

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.lo.shape[0])


@dataclass
class ObjectivePlan:
    """The objective: a one-row plan and its sense."""

    sense: str
    plan: Plan
    where: str


@dataclass
class CompiledModel:
    """The resolved model: data, variable layout and plans."""

    model: Model
    ctx: Context
    objective: ObjectivePlan
    rows: list[RowFamily]
    lower_objective: ObjectivePlan | None = None
    lower_rows: list[RowFamily] = field(default_factory=list)
    uncertainty_rows: list[RowFamily] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """Warnings found while compiling (empty sums, empty families...)."""
        return self.ctx.warnings

    @property
    def num_vars(self) -> int:
        """Length of the flat variable vector."""
        return self.ctx.num_vars

    @property
    def num_rows(self) -> int:
        """Rows of the leader's constraints."""
        return sum(r.n for r in self.rows)

    def var_slice(self, name: str) -> slice:
        """Positions of variable family *name* in the flat vector."""
        v = self.ctx.vars[name]
        return slice(v.offset, v.offset + v.size)


def _objective(ctx: Context, obj: Objective, where: str) -> ObjectivePlan:
    node = parse_expr(obj.expr, f"{where}.expr")
    if isinstance(node, Compare):
        raise ModelError("an objective is an expression, not a comparison", f"{where}.expr")
    b = ctx.builder(f"{where}.expr")
    return ObjectivePlan(obj.sense, b.value(node, b.root()), f"{where}.expr")


def _family(ctx: Context, con: Constraint, name: str, where: str) -> RowFamily:
    node: Node = parse_expr(con.expr, f"{where}.expr")
    b: Builder = ctx.builder(f"{where}.expr")
    frame = b.root()
    labels: Sequence[Label] | None = None
    if con.for_:
        gens = parse_for(con.for_, f"{where}.for")
        frame, _ = ctx.builder(f"{where}.for").expand_all(frame, gens)
        targets = [t for g in gens for t in g.targets]
        labels = FrameLabels([frame.cols[t] for t in targets], ctx.interner, frame.n)
        if frame.n == 0:
            ctx.warn(f"{where}: 'for' runs over an empty set, so '{name}' has no rows")
    if not isinstance(node, Compare):
        raise ModelError(
            "a constraint must be a comparison such as 'lhs <= rhs', 'lhs == rhs' or 'lo <= e <= hi'",
            f"{where}.expr",
        )
    for op in node.ops:
        if op in ("<", ">"):
            raise ModelError(
                f"strict '{op}' is not allowed in a constraint; use '{op}='", f"{where}.expr"
            )
        if op == "!=":
            raise ModelError("'!=' is not allowed in a constraint", f"{where}.expr")
    fam = _rows(ctx, b, node, frame, name, where, labels)
    if con.when is not None:
        fam.indicator = _indicator(ctx, con.when, frame, f"{where}.when")
    return fam


def _indicator(ctx: Context, text: str, frame: Frame, where: str) -> np.ndarray:
    """The flat column of the binary that switches each row on (``when: "y[i]"``)."""
    node = parse_expr(text, where)
    name = node.name if isinstance(node, Index) else node.id if isinstance(node, Name) else None
    if name is not None and name not in ctx.kind_of:
        raise ctx.unknown(name, where)
    if name is None or ctx.kind_of.get(name) != "variable":
        raise ModelError(
            f"'when' must name a binary variable, such as \"y[i]\", not {text!r}", where
        )
    if ctx.vars[name].domain != "binary":
        raise ModelError(
            f"'when' must name a binary variable; '{name}' is {ctx.vars[name].domain} "
            f"(declare it with domain: binary)",
            where,
        )
    plan = ctx.builder(where).value(node, frame)
    assert isinstance(plan, PVar)
    return plan.cols.copy()


def _rows(
    ctx: Context,
    b: Builder,
    node: Compare,
    frame: Frame,
    name: str,
    where: str,
    labels: Sequence[Label] | None,
) -> RowFamily:
    n = frame.n
    inf = np.full(n, np.inf)
    if len(node.ops) == 1:
        lhs = b.value(node.operands[0], frame)
        rhs = b.value(node.operands[1], frame)
        zero = np.zeros(n)
        if isinstance(lhs, PConst) and isinstance(rhs, PConst):
            ctx.warn(f"{where}: the constraint has no variables")
        op = node.ops[0]
        if isinstance(lhs, PConst) and not isinstance(rhs, PConst):
            # '5 >= x' reads better (and prints its row) as 'x <= 5'
            lhs, rhs = rhs, lhs
            op = {"<=": ">=", ">=": "<=", "==": "=="}[op]
        body = b._binop("-", lhs, rhs, frame)
        lo = -inf if op == "<=" else zero
        hi = inf if op == ">=" else zero
        return RowFamily(name, where, body, lo.copy(), hi.copy(), labels)
    if len(node.ops) == 2 and node.ops[0] == node.ops[1] and node.ops[0] in ("<=", ">="):
        a, e, c = (b.value(x, frame) for x in node.operands)
        if not (isinstance(a, PConst) and isinstance(c, PConst)):
            raise ModelError(
                "in a chained comparison 'lo <= e <= hi' the outer sides must be data",
                f"{where}.expr",
            )
        lo_p, hi_p = (a, c) if node.ops[0] == "<=" else (c, a)
        return RowFamily(
            name,
            where,
            e,
            lo_p.array().astype(float).copy(),
            hi_p.array().astype(float).copy(),
            labels,
        )
    raise ModelError(
        "a chained comparison must be 'lo <= e <= hi' or 'hi >= e >= lo'", f"{where}.expr"
    )


def _families(ctx: Context, cons: list[Constraint], prefix: str) -> list[RowFamily]:
    out: list[RowFamily] = []
    seen: dict[str, str] = {}
    for k, con in enumerate(cons):
        where = f"{prefix}[{k}]"
        default = f"c{k}" if prefix == "constraints" else f"{prefix.split('.')[0]}_c{k}"
        name = con.name or default
        if not name.replace("_", "a").isalnum():  # letters, digits and '_' (may start with a digit)
            raise ModelError(f"'{name}' is not a valid constraint name", f"{where}.name")
        if name in seen:
            raise ModelError(
                f"duplicate constraint name '{name}' (also {seen[name]})", f"{where}.name"
            )
        seen[name] = where
        out.append(_family(ctx, con, name, where))
    return out


def _check_var_names(ctx: Context, names: list[str], where: str) -> None:
    for k, v in enumerate(names):
        if v not in ctx.model.variables:
            raise ctx.unknown(v, f"{where}[{k}]")


def compile_structure(model: Model) -> CompiledModel:
    """Resolve data and build plans for every expression in *model*.

    Parameters
    ----------
    model
        A model from :func:`workbench.load_model` (never modified).

    Returns
    -------
    CompiledModel

    Raises
    ------
    ModelError
        With the location of the first problem found.
    """
    ctx = Context(model)
    for name in model.sets:
        ctx.get_set(name, f"sets.{name}")
    for name in model.params:
        ctx.get_param(name, f"params.{name}")
    ctx.build_variables()
    objective = _objective(ctx, model.objective, "objective")
    rows = _families(ctx, model.constraints, "constraints")
    cm = CompiledModel(model, ctx, objective, rows)
    if model.lower_level is not None:
        ll = model.lower_level
        _check_var_names(ctx, ll.variables, "lower_level.variables")
        cm.lower_objective = _objective(ctx, ll.objective, "lower_level.objective")
        cm.lower_rows = _families(ctx, ll.constraints, "lower_level.constraints")
    if model.robust is not None:
        rb = model.robust
        for key in ("first_stage", "second_stage", "uncertain"):
            _check_var_names(ctx, getattr(rb, key), f"robust.{key}")
        roles: dict[str, str] = {}
        for key in ("first_stage", "second_stage", "uncertain"):
            for v in getattr(rb, key):
                if v in roles:
                    raise ModelError(
                        f"'{v}' is listed in both {roles[v]} and {key}", f"robust.{key}"
                    )
                roles[v] = key
        cm.uncertainty_rows = _families(
            ctx, rb.uncertainty_set.constraints, "robust.uncertainty_set.constraints"
        )
    return cm
