"""The SCIP model built from a workbench model, and the maps to read it back."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solvers.scip.capi import BulkRows, constraints_at
from workbench.compile.linear_form import Block, LinearForm, split_blocks

__all__ = ["FEAS_TOL", "ScipForm", "entry_names", "scip_bound"]

FEAS_TOL = 1e-9
"""A row without variables is infeasible when its constant lies this far outside its bounds."""


def scip_bound(v: float) -> float | None:
    """*v* as a pyscipopt bound: ``None`` for an infinite one."""
    return float(v) if math.isfinite(v) else None


def entry_names(block: Block, ks: Sequence[int]) -> list[str]:
    """``block.entry_name(k)`` for each of *ks*, with the labels read once."""
    if block.labels is None:
        return [block.name] * len(ks)
    labels = block.labels if isinstance(block.labels, list) else list(block.labels)
    name = block.name
    out = []
    for k in ks:
        lab = labels[k]
        if lab is None:
            out.append(name)
        elif isinstance(lab, tuple):
            out.append(f"{name}[{','.join(str(p) for p in lab)}]")
        else:
            out.append(f"{name}[{lab}]")
    return out


@dataclass
class ScipForm:
    """A SCIP model built from a workbench model, and the maps to read it back.

    Attributes
    ----------
    model
        The ``pyscipopt.Model``.
    variables
        SCIP variables by flat position (the user's variables only).
    columns
        Blocks mapping variable families to flat positions and labels.
    integer
        Boolean per flat position: an integer (or binary) column.
    objective_value
        The model's objective at a flat point (offset included, own sense).
    rows
        ``(block, constraints)`` per constraint family; a row left out (free,
        or without variables) is ``None``; a row added in bulk is its
        position among the model's constraints until :meth:`row_constraints`
        looks it up.
    infeasible_rows
        Rows without variables whose constant lies outside their bounds.
    epigraph
        The epigraph variable of a quadratic or nonlinear objective, or ``None``.
    violation
        Largest relative violation of the rows and bounds at a flat point, for
        models with nonlinear rows (``None`` when every row is linear).
    linear_form
        The matrix form the model came from, if any.
    bulk
        Adds linear rows through SCIP's C functions (``None``: through pyscipopt).
    """

    model: Any
    variables: list[Any]
    columns: list[Block]
    integer: np.ndarray
    objective_value: Callable[[np.ndarray], float]
    rows: list[tuple[Block, list[Any]]] = field(default_factory=list)
    infeasible_rows: list[str] = field(default_factory=list)
    epigraph: Any = None
    violation: Callable[[np.ndarray], float] | None = None
    linear_form: LinearForm | None = None
    bulk: BulkRows | None = None
    _ptrs: np.ndarray | None = field(default=None, repr=False)

    def values_by_variable(self, x: np.ndarray) -> dict[str, Any]:
        """A flat point as ``{name: value}`` or ``{name: {label: value}}``."""
        return split_blocks(x, self.columns)

    def var_ptrs(self) -> np.ndarray:
        """The ``SCIP_VAR*`` of each variable by flat position (``np.uintp``)."""
        if self._ptrs is None:
            self._ptrs = np.array([v.ptr() for v in self.variables], dtype=np.uintp)
        return self._ptrs

    def next_row(self) -> int:
        """The flat position of the next constraint family's first row."""
        return self.rows[-1][0].stop if self.rows else 0

    def row_constraints(self) -> list[tuple[Block, list[Any]]]:
        """:attr:`rows` with each row added in bulk replaced by its ``Constraint``."""
        where = [
            (f, k, c)
            for f, (_, conss) in enumerate(self.rows)
            for k, c in enumerate(conss)
            if isinstance(c, int)
        ]
        if where:

            def name_of(i: int) -> str:
                f, k, _ = where[i]
                return self.rows[f][0].entry_name(k)

            found = constraints_at(self.model, [c for _, _, c in where], name_of)
            for (f, k, _), cons in zip(where, found, strict=True):
                self.rows[f][1][k] = cons
        return self.rows
