"""Flat-column facts shared by the rules that read the compiled model (perspective, RLT).

The compiled model keeps variables as one flat vector; these helpers give its
bounds and integrality per column, the user-facing label of a column, and the
linear rows as per-row ``(columns, coefficients, lo, hi)`` with constants moved
into the bounds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.compile.affine import NonlinearError, Poly, poly
from workbench.compile.context import Context
from workbench.compile.structure import CompiledModel, RowFamily

__all__ = [
    "Columns",
    "LinearRows",
    "columns",
    "label_key",
    "label_parts",
    "linear_rows",
    "objective_quadratic",
]


@dataclass(frozen=True)
class Columns:
    """Per flat column: bounds, binary (integer in [0, 1]), integer and continuous masks."""

    lb: np.ndarray
    ub: np.ndarray
    binary: np.ndarray
    continuous: np.ndarray

    @property
    def integer(self) -> np.ndarray:
        """Integer (and binary) columns."""
        return ~self.continuous


def columns(ctx: Context) -> Columns:
    """The flat columns of *ctx*'s variables."""
    n = ctx.num_vars
    lb, ub = np.zeros(n), np.zeros(n)
    binary, cont = np.zeros(n, bool), np.zeros(n, bool)
    for v in ctx.vars.values():
        s = slice(v.offset, v.offset + v.size)
        lb[s], ub[s] = v.lb, v.ub
        if v.domain == "continuous":
            cont[s] = True
        elif v.is_integer:
            binary[s] = (v.lb >= 0) & (v.ub <= 1)
    return Columns(lb, ub, binary, cont)


def label_parts(ctx: Context, col: int) -> tuple[str, list[Any]]:
    """The family of flat column *col* and its label's components (tuple sets flattened)."""
    for v in ctx.vars.values():
        if v.offset <= col < v.offset + v.size:
            k = col - v.offset
            parts: list[Any] = []
            for s in reversed(v.index):
                k, r = divmod(k, s.size)
                lab = s.label(r)
                parts[:0] = list(lab) if isinstance(lab, tuple) else [lab]
            return v.name, parts
    raise IndexError(col)  # pragma: no cover - every column belongs to a family


def label_key(parts: list[Any]) -> Any:
    """The label as :attr:`~workbench.result.Result.values` keys it (``None`` when scalar)."""
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else tuple(parts)


@dataclass(frozen=True)
class LinearRows:
    """The linear rows of one constraint family, split per row."""

    family: RowFamily
    index: np.ndarray
    """Positions of the rows kept, within the family."""
    cols: list[np.ndarray]
    coefs: list[np.ndarray]
    lo: np.ndarray
    hi: np.ndarray


def linear_rows(cm: CompiledModel, *, max_terms: int | None = None) -> Iterator[LinearRows]:
    """Each linear constraint family's rows (nonlinear families are skipped).

    Parameters
    ----------
    cm
        The compiled model.
    max_terms
        Keep only rows with at most this many terms (``None``: all), counted
        before repeated columns are merged.

    Each row's columns are distinct (repeats summed, zero coefficients dropped).
    """
    for fam in cm.rows:
        try:
            p = poly(fam.plan, quadratic=False)
        except NonlinearError:
            continue
        counts = np.bincount(p.rows, minlength=fam.n)
        order = np.argsort(p.rows, kind="stable")
        start = np.concatenate([[0], np.cumsum(counts)])
        keep = range(fam.n) if max_terms is None else np.flatnonzero(counts <= max_terms).tolist()
        cols, coefs, rows = [], [], []
        for r in keep:
            t = order[start[r] : start[r + 1]]
            c, v = p.cols[t], p.coefs[t]
            if c.shape[0] > 1:  # a column written twice in a row counts once, summed
                c, inv = np.unique(c, return_inverse=True)
                v = np.bincount(inv, weights=v, minlength=c.shape[0])
                c, v = c[v != 0], v[v != 0]
            cols.append(c)
            coefs.append(v)
            rows.append(r)
        idx = np.asarray(rows, dtype=np.int64)
        yield LinearRows(fam, idx, cols, coefs, (fam.lo - p.const)[idx], (fam.hi - p.const)[idx])


def objective_quadratic(cm: CompiledModel) -> Poly | None:
    """The objective as a polynomial when it is quadratic with a quadratic term, else ``None``."""
    try:
        p = poly(cm.objective.plan, quadratic=True)
    except NonlinearError:
        return None
    return p if p.has_quad else None
