"""Backend-independent checks of a returned point against a model's matrix form.

Used by the conformance tests (cvxpy-style feasibility and optimality
checkers): a backend's reported objective and status are not trusted on
their own; the point it returns is put back into the compiled
:class:`~workbench.compile.linear_form.LinearForm` and checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from workbench.compile.linear_form import LinearForm

__all__ = ["Violation", "flatten_values", "max_violation"]


class Violation(float):
    """The largest violation found, as a float, with where it occurred in ``where``."""

    where: str

    def __new__(cls, value: float, where: str = "") -> Violation:
        obj = super().__new__(cls, value)
        obj.where = where
        return obj


def flatten_values(lf: LinearForm, values: Mapping[str, Any]) -> np.ndarray:
    """Turn ``Result.values`` (by variable and label) into the flat column vector of *lf*.

    Parameters
    ----------
    lf
        The compiled model; its ``columns`` blocks give each variable's
        position and labels.
    values
        ``{name: float}`` for a scalar variable, ``{name: {label: float}}``
        for an indexed one.

    Returns
    -------
    numpy.ndarray
        Shape ``(lf.num_cols,)``.

    Raises
    ------
    KeyError
        If a variable or label of *lf* has no value; the message names it.
    """
    x = np.empty(lf.num_cols, dtype=float)
    for block in lf.columns:
        if block.name not in values:
            raise KeyError(f"no value for variable {block.name!r}")
        v = values[block.name]
        if block.labels is None:
            x[block.start] = float(v[None] if isinstance(v, Mapping) else v)
            continue
        for k, label in enumerate(block.labels):
            if label not in v:
                raise KeyError(f"no value for {block.entry_name(k)}")
            x[block.start + k] = float(v[label])
    return x


def max_violation(lf: LinearForm, x: np.ndarray) -> Violation:
    """The largest absolute violation by *x* of the rows, column bounds and integrality of *lf*.

    Parameters
    ----------
    lf
        The compiled model.
    x
        A flat point, as from :func:`flatten_values`.

    Returns
    -------
    Violation
        ``0.0`` for a feasible point; otherwise the largest violation, with
        ``where`` naming the row or column.
    """
    worst = Violation(0.0)
    if lf.num_rows:
        ax = lf.A @ x
        viol = np.maximum(lf.row_lb - ax, ax - lf.row_ub)
        i = int(np.argmax(viol))
        if viol[i] > worst:
            worst = Violation(float(viol[i]), f"row {lf.row_name(i) if lf.rows else i}")
    if lf.num_cols:
        viol = np.maximum(lf.col_lb - x, x - lf.col_ub)
        j = int(np.argmax(viol))
        if viol[j] > worst:
            worst = Violation(float(viol[j]), f"bounds of {lf.col_name(j) if lf.columns else j}")
        frac = np.where(lf.integrality, np.abs(x - np.round(x)), 0.0)
        j = int(np.argmax(frac))
        if frac[j] > worst:
            worst = Violation(
                float(frac[j]), f"integrality of {lf.col_name(j) if lf.columns else j}"
            )
    return worst
