"""Backend-independent checks of a returned point against a model.

Used by the conformance tests (cvxpy-style feasibility and optimality
checkers): a backend's reported objective and status are not trusted on
their own; the point it returns is put back into the compiled
:class:`~workbench.compile.linear_form.LinearForm` and checked
(:func:`max_violation`), or, for a nonlinear model (``max``, ``abs``,
products, ``exp``...), into its compiled expressions, evaluated with numpy
(:func:`point_check`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from workbench.compile.linear_form import LinearForm

__all__ = ["Violation", "flatten_values", "max_violation", "point_check"]


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


def _lookup_value(values: Mapping[str, Any], name: str, label: Any) -> float:
    if name not in values:
        raise KeyError(f"no value for variable {name!r}")
    v = values[name]
    if not isinstance(v, Mapping):
        return float(v)
    if label in v:
        return float(v[label])
    raise KeyError(f"no value for {name}[{label}]")


def point_check(model: Any, values: Mapping[str, Any]) -> tuple[Violation, float]:
    """The largest violation and the objective of a point, from the model's own expressions.

    Works for every expression the language allows (the rows are evaluated
    with numpy, not linearised).  Constraints with ``when`` (indicators) are
    left out: check them apart.

    Parameters
    ----------
    model
        An IR model.
    values
        ``Result.values`` (by variable and index label).

    Returns
    -------
    (Violation, float)
        The largest violation of a row, bound or integrality (``where``
        names it) and the objective value in the model's own sense.
    """
    from workbench.compile.numeric import evaluate
    from workbench.compile.sets import LazyLabels
    from workbench.compile.structure import compile_structure

    plain = model.model_copy(update={"constraints": [c for c in model.constraints if not c.when]})
    cm = compile_structure(plain)
    x = np.empty(cm.num_vars)
    worst = Violation(0.0)
    for name, v in cm.ctx.vars.items():
        labels = LazyLabels(v.index) if v.index else [None]
        for k, label in enumerate(labels):
            x[v.offset + k] = _lookup_value(values, name, label)
        part = x[v.offset : v.offset + v.size]
        viol = np.maximum(v.lb - part, part - v.ub)
        if v.is_integer:
            viol = np.maximum(viol, np.abs(part - np.round(part)))
        if viol.size and float(viol.max()) > worst:
            k = int(np.argmax(viol))
            worst = Violation(float(viol[k]), f"bounds or integrality of {name}[{labels[k]}]")
    with np.errstate(all="ignore"):
        for fam in cm.rows:
            g = np.broadcast_to(np.asarray(evaluate(fam.plan, x), dtype=float), (fam.n,))
            viol = np.nan_to_num(np.maximum(fam.lo - g, g - fam.hi), nan=np.inf)
            if viol.size and float(viol.max()) > worst:
                k = int(np.argmax(viol))
                where = fam.name if fam.labels is None else f"{fam.name}[{fam.labels[k]}]"
                worst = Violation(float(viol[k]), f"row {where}")
        obj = float(np.asarray(evaluate(cm.objective.plan, x), dtype=float).reshape(-1)[0])
    return worst, obj
