"""Scopes (the index rows an occurrence runs over) and the writer of new IR pieces.

Every auxiliary name starts with :data:`AUX_PREFIX` and is checked not to clash
with the user's names.  Per-row numbers (big-M values, bounds) are written as
explicit parameter data over an explicit set of the scope's members, so the
reformulated model is plain IR that prints and reloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.compile.plan import Frame
from workbench.compile.reformulate.records import AUX_PREFIX
from workbench.compile.sets import Interner
from workbench.compile.structure import FrameLabels
from workbench.expr.nodes import Gen, Index, Name, Node, Num
from workbench.expr.unparse import unparse, unparse_gens
from workbench.ir.model import Constraint, Model, Param, SetDef, Variable

__all__ = ["Emitter", "Scope", "loop_text", "member", "ref_text"]


@dataclass
class Scope:
    """The rows an occurrence runs over: its bound index names and their values.

    ``targets`` are the names bound by the constraint's ``for`` and the
    enclosing ``sum``/``min``/``max`` generators; ``frame`` holds one row per
    combination.  A scalar occurrence has no targets and one row.
    """

    targets: tuple[str, ...]
    frame: Frame
    interner: Interner
    gens: tuple[Gen, ...] = ()
    sizes: tuple[int, ...] = ()
    set_name: str | None = None

    @property
    def plain(self) -> bool:
        """True when the rows are a full product of declared sets (no filters)."""
        return bool(self.gens) and all(not g.conds for g in self.gens)

    @property
    def n(self) -> int:
        """Number of rows."""
        return self.frame.n

    def members(self) -> list[Any]:
        """The rows' labels as set members (lists for several targets)."""
        labels = FrameLabels([self.frame.cols[t] for t in self.targets], self.interner, self.n)
        return [list(lab) if isinstance(lab, tuple) else lab for lab in labels]


def ref_text(name: str, targets: list[str]) -> str:
    """``name[i, j]`` over *targets* (``name`` when there are none), as IR text."""
    return f"{name}[{', '.join(targets)}]" if targets else name


def loop_text(targets: list[str], set_name: str) -> str:
    """``i in S`` or ``(i, j) in S``: a ``for`` clause over an explicit set."""
    if len(targets) == 1:
        return f"{targets[0]} in {set_name}"
    return f"({', '.join(targets)}) in {set_name}"


def member(parts: list[Any]) -> Any:
    """A set member from label components: the value itself when there is one."""
    return parts if len(parts) > 1 else parts[0]


def _finite_const(arr: np.ndarray) -> float | None:
    if arr.size and np.all(arr == arr[0]) and np.isfinite(arr[0]):
        return float(arr[0])
    if arr.size == 0:
        return 0.0
    return None


class Emitter:
    """Collects new sets, parameters, variables and constraints under reserved names."""

    def __init__(self, model: Model) -> None:
        self.taken = set(model.sets) | set(model.params) | set(model.variables)
        self.taken |= set(model.constraint_names())
        self.counter = 0
        self.sets: dict[str, SetDef] = {}
        self.params: dict[str, Param] = {}
        self.variables: dict[str, Variable] = {}
        self.constraints: list[Constraint] = []
        self.binary_valued: set[str] = set()

    def fresh(self, stem: str) -> str:
        """A new reserved name such as ``_rf_t3``."""
        while True:
            self.counter += 1
            name = f"{AUX_PREFIX}{stem}{self.counter}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    # ------------------------------------------------------------ scope text
    def index_of(self, scope: Scope) -> list[str]:
        """The index sets of a family over *scope*: the declared sets when plain."""
        if not scope.targets:
            return []
        if scope.plain:
            return [g.set for g in scope.gens]
        s = self.set_of(scope)
        assert s is not None
        return [s]

    def set_of(self, scope: Scope) -> str | None:
        """The explicit set of *scope*'s rows (written once), or ``None`` when scalar."""
        if not scope.targets:
            return None
        if scope.set_name is None:
            scope.set_name = self.fresh("S")
            self.sets[scope.set_name] = SetDef(members=scope.members())
        return scope.set_name

    def for_text(self, scope: Scope) -> str | None:
        """``(i, j) in _rf_S1``, or ``None`` for a scalar scope."""
        if scope.plain:
            return unparse_gens(scope.gens).removeprefix("for ")
        s = self.set_of(scope)
        if s is None:
            return None
        t = scope.targets
        return f"{t[0]} in {s}" if len(t) == 1 else f"({', '.join(t)}) in {s}"

    @staticmethod
    def ref(name: str, scope: Scope) -> Node:
        """``name[i, j]`` over the scope's targets (``name`` when scalar)."""
        if not scope.targets:
            return Name(name)
        return Index(name, tuple(Name(t) for t in scope.targets))

    # ------------------------------------------------------------------ data
    def data(self, stem: str, scope: Scope, values: np.ndarray) -> Node:
        """A number when every row agrees, else an explicit parameter over the scope."""
        c = _finite_const(values)
        if c is not None or not scope.targets:
            return Num(float(values[0]) if c is None else c)
        name = self.fresh(stem)
        index = self.index_of(scope)
        vals: Any = [float(v) for v in values]
        if len(index) > 1:  # nested lists in the order of the sets
            vals = np.asarray(vals).reshape(scope.sizes).tolist()
        self.params[name] = Param(index=index, values=vals)
        return self.ref(name, scope)

    def _bound(self, stem: str, scope: Scope, values: np.ndarray | None) -> float | str | None:
        if values is None or not np.all(np.isfinite(values)):
            return None  # implied bounds only help; a partial one is dropped
        c = _finite_const(values)
        if c is not None:
            return c
        node = self.data(stem, scope, values)
        assert isinstance(node, Index)
        return node.name

    def var(
        self,
        stem: str,
        scope: Scope,
        *,
        domain: str = "continuous",
        lo: np.ndarray | None = None,
        hi: np.ndarray | None = None,
        binary_valued: bool = False,
    ) -> Node:
        """A new auxiliary variable over the scope; returns its reference."""
        name = self.fresh(stem)
        lb = None if domain == "binary" else self._bound(f"{stem}lb", scope, lo)
        ub = None if domain == "binary" else self._bound(f"{stem}ub", scope, hi)
        self.variables[name] = Variable(
            index=self.index_of(scope),
            domain=domain,
            lb=lb,
            ub=ub,  # type: ignore[arg-type]
        )
        if binary_valued or domain == "binary":
            self.binary_valued.add(name)
        return self.ref(name, scope)

    def rows(self, stem: str, scope: Scope, exprs: list[Node], *, when: str | None = None) -> int:
        """One constraint family per expression over the scope; returns the rows added."""
        for e in exprs:
            self.constraints.append(
                Constraint(
                    name=self.fresh(stem), for_=self.for_text(scope), expr=unparse(e), when=when
                )
            )
        return len(exprs) * scope.n

    def merged(self, model: Model, objective: str, constraints: list[Constraint]) -> Model:
        """*model* with the new pieces added and the given objective and constraints."""
        # new containers, shared (never mutated) entries: the user's model stays as it was
        return model.model_copy(
            update={
                "sets": {**model.sets, **self.sets},
                "params": {**model.params, **self.params},
                "variables": {**model.variables, **self.variables},
                "objective": model.objective.model_copy(update={"expr": objective}),
                "constraints": constraints + self.constraints,
            }
        )
