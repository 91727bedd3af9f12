"""Typed expression trees produced by the whitelisted parser.

The parser turns Python-syntax text into these frozen dataclasses; nothing
is ever evaluated by Python itself.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BinOp",
    "BoolOp",
    "Call",
    "Compare",
    "Gen",
    "In",
    "Index",
    "Name",
    "Node",
    "Not",
    "Num",
    "Reduce",
    "Str",
    "Tup",
    "Unary",
]


@dataclass(frozen=True)
class Num:
    """A numeric literal."""

    value: float | int


@dataclass(frozen=True)
class Str:
    """A string literal (a set member)."""

    value: str


@dataclass(frozen=True)
class Name:
    """A bare name: a set, parameter, variable or bound index."""

    id: str


@dataclass(frozen=True)
class Index:
    """A subscript ``name[args]``."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Tup:
    """A tuple, only valid as an index or a membership test's item."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class BinOp:
    """Arithmetic: ``+ - * / **``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Unary:
    """Unary minus or plus."""

    op: str
    operand: Node


@dataclass(frozen=True)
class Call:
    """A function call: elementwise ``abs exp log sqrt sin cos min max``, or ``ord`` of a member."""

    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Gen:
    """One ``for targets in SET if conds`` clause."""

    targets: tuple[str, ...]
    set: str
    conds: tuple[Node, ...] = ()
    tuple_target: bool = False


@dataclass(frozen=True)
class Reduce:
    """``sum``/``min``/``max`` over generator clauses."""

    func: str
    body: Node
    gens: tuple[Gen, ...]


@dataclass(frozen=True)
class Compare:
    """A (possibly chained) comparison."""

    ops: tuple[str, ...]
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class BoolOp:
    """``and``/``or`` in filters."""

    op: str
    values: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """``not`` in filters."""

    operand: Node


@dataclass(frozen=True)
class In:
    """Membership ``item in SET`` (or ``not in``)."""

    item: Node
    set: str
    negate: bool = False


Node = Num | Str | Name | Index | Tup | BinOp | Unary | Call | Reduce | Compare | BoolOp | Not | In
