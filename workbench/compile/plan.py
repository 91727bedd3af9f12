"""Vectorised evaluation plans.

An expression evaluated over a *frame* (one row per binding of the bound
index names) becomes a small tree of plan nodes.  Everything that depends
only on data is folded into :class:`PConst` arrays while the plan is built,
so what remains mentions variables only through :class:`PVar` gathers and
:class:`PSum`-style segment reductions.  The same plan then feeds several
back-ends: affine/quadratic extraction (``LinearForm``), numeric evaluation
with numpy or torch (``TorchForm``, SciPy) and Pyomo expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Col",
    "Frame",
    "PBin",
    "PConst",
    "PFunc",
    "PNeg",
    "PReduce",
    "PVar",
    "PVarMinMax",
    "Plan",
    "is_const",
]


class Col:
    """One bound index name's values over a frame's rows.

    Attributes
    ----------
    values
        ``int64`` member values (string members as interned codes).
    kind
        ``"int"`` or ``"str"``.
    src, comp, pos
        When the column came straight from iterating a set: that set's
        name, the component, and each row's position in the set (a fast
        path that skips lookups).

    Rows taken from another column are gathered lazily, on first use of
    ``values`` or ``pos``: most columns of an expanded frame are never read.
    """

    __slots__ = ("_idx", "_parent", "_pos", "_values", "comp", "group", "has_pos", "kind", "src")

    def __init__(
        self,
        values: np.ndarray | None,
        kind: str,
        src: str | None = None,
        comp: int = 0,
        pos: np.ndarray | None = None,
        *,
        parent: Col | None = None,
        idx: np.ndarray | None = None,
    ) -> None:
        self._values = values
        self.kind = kind
        self.src = src
        self.comp = comp
        self._pos = pos
        self._parent = parent
        self._idx = idx
        self.has_pos: bool = pos is not None or (parent is not None and parent.has_pos)
        # Columns bound by one 'for' clause share a group; frames always take all their
        # columns with the same rows, so a group's columns stay aligned (same positions).
        self.group: int | None = parent.group if parent is not None else None

    @property
    def values(self) -> np.ndarray:
        """Member values, gathered on first use."""
        if self._values is None:
            assert self._parent is not None and self._idx is not None
            self._values = self._parent.values[self._idx]
        return self._values

    @property
    def pos(self) -> np.ndarray | None:
        """Positions in ``src``, gathered on first use (``None`` if not from a set)."""
        if self._pos is None and self.has_pos:
            assert self._parent is not None and self._idx is not None
            ppos = self._parent.pos
            assert ppos is not None
            self._pos = ppos[self._idx]
        return self._pos

    def take(self, idx: np.ndarray) -> Col:
        """Rows *idx* of this column (gathered lazily)."""
        return Col(None, self.kind, self.src, self.comp, parent=self, idx=idx)

    @classmethod
    def of_set(cls, members: np.ndarray, kind: str, src: str, comp: int, pos: np.ndarray) -> Col:
        """The column of a set's component at positions *pos* (values gathered lazily)."""
        base = Col(members, kind)
        col = Col(None, kind, src, comp, pos, parent=base, idx=pos)
        col.group = id(pos)
        return col


@dataclass
class Frame:
    """Rows of bindings: ``cols[name]`` holds each bound name's values."""

    n: int
    cols: dict[str, Col] = field(default_factory=dict)

    def take(self, idx: np.ndarray) -> Frame:
        """The frame restricted to rows *idx*."""
        return Frame(int(idx.shape[0]), {k: c.take(idx) for k, c in self.cols.items()})


class Plan:
    """Base class of plan nodes; ``n`` is the number of rows produced."""

    n: int


@dataclass
class PConst(Plan):
    """Data: a float per row (``value`` is a scalar or an ``(n,)`` array)."""

    value: np.ndarray | float
    n: int

    def array(self) -> np.ndarray:
        """The values as an ``(n,)`` float array."""
        if isinstance(self.value, np.ndarray):
            return self.value
        return np.full(self.n, float(self.value))


@dataclass
class PVar(Plan):
    """A variable per row: ``cols`` are flat variable positions."""

    cols: np.ndarray
    n: int


@dataclass
class PBin(Plan):
    """``+ - * / **`` of two plans over the same rows."""

    op: str
    left: Plan
    right: Plan
    n: int


@dataclass
class PNeg(Plan):
    """Unary minus."""

    operand: Plan
    n: int


@dataclass
class PFunc(Plan):
    """An elementwise function of one argument (``abs exp log sqrt sin cos``)."""

    func: str
    arg: Plan
    n: int


@dataclass
class PVarMinMax(Plan):
    """Elementwise ``min``/``max`` of several plans."""

    func: str
    args: tuple[Plan, ...]
    n: int


@dataclass
class PReduce(Plan):
    """Segment reduction: rows of *child* are combined into ``parent[k]``.

    ``func`` is ``sum``, ``min`` or ``max``; ``n`` is the number of
    parent rows.
    """

    func: str
    child: Plan
    parent: np.ndarray
    n: int


def is_const(p: Plan) -> bool:
    """True if *p* is folded data."""
    return isinstance(p, PConst)
