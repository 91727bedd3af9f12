"""``LinearForm``: the matrix form of an LP/MILP/QP, the input of HiGHS, CP-SAT and MPS.

Objective: ``offset + c @ x + 0.5 * x @ Q @ x`` (``Q`` symmetric), in
``sense``; rows: ``row_lb <= A @ x <= row_ub``; columns:
``col_lb <= x <= col_ub`` with ``integrality[j]`` true for integer columns.
Names are produced lazily: a million-column model never builds a million
strings unless someone asks for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from workbench.result import Label

__all__ = ["Block", "LinearForm", "split_blocks"]


@dataclass
class Block:
    """A contiguous run of columns (one variable family) or rows (one constraint family).

    Attributes
    ----------
    name
        The variable or constraint name.
    start, size
        Position of the block in the column (or row) order.
    labels
        A callable-free list of index labels, one per entry; ``None`` for a
        scalar (unindexed) entity of size 1.
    """

    name: str
    start: int
    size: int
    labels: Sequence[Label] | None = None

    @property
    def stop(self) -> int:
        """One past the last position."""
        return self.start + self.size

    def label(self, k: int) -> Label | None:
        """The label of entry *k* of this block (``None`` for a scalar)."""
        return None if self.labels is None else self.labels[k]

    def entry_name(self, k: int) -> str:
        """A readable name such as ``x[a,1]`` for entry *k*."""
        lab = self.label(k)
        if lab is None:
            return self.name
        if isinstance(lab, tuple):
            return f"{self.name}[{','.join(str(p) for p in lab)}]"
        return f"{self.name}[{lab}]"


def split_blocks(vec: np.ndarray, blocks: Sequence[Block]) -> dict[str, Any]:
    """Split a flat vector into ``{name: value or {label: value}}``, one entry per block."""
    out: dict[str, Any] = {}
    for b in blocks:
        part = vec[b.start : b.stop]
        if b.labels is None:
            out[b.name] = float(part[0]) if b.size else 0.0
        else:
            out[b.name] = dict(zip(b.labels, part.tolist()))
    return out


@dataclass
class LinearForm:
    """A linear (or quadratic-objective) model in CSR form.

    Attributes
    ----------
    c
        Objective coefficients, shape ``(n,)``.
    A
        Constraint matrix, CSR, shape ``(m, n)``.
    row_lb, row_ub
        Row bounds (``-inf``/``inf`` where absent).
    col_lb, col_ub
        Column bounds.
    integrality
        Boolean, true where the column is integer (binaries included).
    sense
        ``"min"`` or ``"max"``.
    offset
        Constant term of the objective.
    Q
        Symmetric Hessian of the objective (objective has ``0.5 x'Qx``), or ``None``.
    columns, rows
        Blocks mapping variable and constraint families to positions.
    """

    c: np.ndarray
    A: sp.csr_matrix
    row_lb: np.ndarray
    row_ub: np.ndarray
    col_lb: np.ndarray
    col_ub: np.ndarray
    integrality: np.ndarray
    sense: Literal["min", "max"] = "min"
    offset: float = 0.0
    Q: sp.csr_matrix | None = None
    columns: list[Block] = field(default_factory=list)
    rows: list[Block] = field(default_factory=list)
    row_indicator: np.ndarray | None = None
    """Per row, the column of the binary that switches it on (``when``), or -1; ``None`` when
    no row has one.  Only backends with native indicators (``indicators = True``) accept it."""
    name: str = "model"
    warnings: list[str] = field(default_factory=list)

    @property
    def num_cols(self) -> int:
        """Number of columns (variables)."""
        return int(self.c.shape[0])

    @property
    def num_rows(self) -> int:
        """Number of rows (constraints)."""
        return int(self.A.shape[0])

    @property
    def nnz(self) -> int:
        """Nonzeros of ``A``."""
        return int(self.A.nnz)

    @property
    def is_mip(self) -> bool:
        """True when any column is integer."""
        return bool(self.integrality.any())

    def objective_value(self, x: np.ndarray) -> float:
        """The objective at *x*, offset and quadratic term included."""
        val = float(self.offset + self.c @ x)
        if self.Q is not None:
            val += 0.5 * float(x @ (self.Q @ x))
        return val

    def col_names(self) -> list[str]:
        """Names of all columns (built on demand)."""
        return [b.entry_name(k) for b in self.columns for k in range(b.size)]

    def row_names(self) -> list[str]:
        """Names of all rows (built on demand)."""
        return [b.entry_name(k) for b in self.rows for k in range(b.size)]

    def _find(self, blocks: list[Block], pos: int) -> tuple[Block, int]:
        starts = [b.start for b in blocks]
        i = int(np.searchsorted(starts, pos, side="right")) - 1
        if i < 0 or pos >= blocks[i].stop:
            raise IndexError(pos)
        return blocks[i], pos - blocks[i].start

    def row_name(self, i: int) -> str:
        """Name of row *i*, such as ``supply_limit[plant_a]``."""
        b, k = self._find(self.rows, i)
        return b.entry_name(k)

    def col_name(self, j: int) -> str:
        """Name of column *j*, such as ``x[plant_a,1]``."""
        b, k = self._find(self.columns, j)
        return b.entry_name(k)

    def row_family(self, i: int) -> str:
        """The constraint (family) name of row *i*."""
        return self._find(self.rows, i)[0].name

    def split(self, vec: np.ndarray, blocks: list[Block]) -> dict[str, Any]:
        """Split a flat vector into ``{name: value or {label: value}}``."""
        return split_blocks(vec, blocks)

    def values_by_variable(self, x: np.ndarray) -> dict[str, Any]:
        """Column values by variable name and index label."""
        return self.split(np.asarray(x, dtype=float), self.columns)

    def duals_by_constraint(self, y: np.ndarray) -> dict[str, Any]:
        """Row duals by constraint name and index label."""
        return self.split(np.asarray(y, dtype=float), self.rows)

    def with_rows(self, keep: np.ndarray) -> LinearForm:
        """A copy keeping only the rows where *keep* is true (blocks dropped)."""
        return LinearForm(
            c=self.c,
            A=self.A[keep],
            row_lb=self.row_lb[keep],
            row_ub=self.row_ub[keep],
            col_lb=self.col_lb,
            col_ub=self.col_ub,
            integrality=self.integrality,
            sense=self.sense,
            offset=self.offset,
            Q=self.Q,
            columns=self.columns,
            rows=[],
            name=self.name,
        )
