"""Interval bounds of affine plans over variable bounds: the numbers behind every big-M."""

from __future__ import annotations

import numpy as np

from workbench.compile.affine import poly
from workbench.compile.context import Context
from workbench.compile.plan import Plan
from workbench.compile.reformulate.columns import label_parts
from workbench.compile.reformulate.records import AUX_PREFIX
from workbench.errors import ModelError

__all__ = ["MissingBound", "affine_bounds", "column_name"]


class MissingBound(ModelError):
    """A big-M needs a finite bound that a variable lacks."""

    def __init__(self, var: str, side: str, label: str, where: str | None) -> None:
        self.var = var
        self.side = side
        if var.startswith(AUX_PREFIX):  # an auxiliary stands for a max/min/abs/product
            super().__init__(
                f"the exact linear form needs finite bounds on the variables inside the "
                f"max/min/abs or product that {var} stands for; give them lb and ub, "
                "or solve it as written with a global solver (backend 'scip'; pip install pyscipopt)",
                where,
            )
            return
        super().__init__(
            f"the exact linear form needs a finite {side} bound on {var}{label}; "
            f"give `{var}` an {side} bound (variables.{var}.{'ub' if side == 'upper' else 'lb'}), "
            "or solve it as written with a global solver (backend 'scip'; pip install pyscipopt)",
            where,
        )


def column_name(ctx: Context, col: int) -> tuple[str, str]:
    """``("x", "[3]")``: the variable family and label of flat column *col*."""
    try:
        name, parts = label_parts(ctx, col)
    except IndexError:
        return f"column {col}", ""
    return name, f"[{', '.join(str(p) for p in parts)}]" if parts else ""


def affine_bounds(ctx: Context, plan: Plan, where: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``(lo, hi)`` of an affine *plan* over the variables' bounds.

    Raises
    ------
    NonlinearError
        If the plan is not affine.
    MissingBound
        If a bound it needs is infinite (naming the variable).
    """
    p = poly(plan, quadratic=False)
    lb = np.concatenate([v.lb for v in ctx.vars.values()]) if ctx.vars else np.zeros(0)
    ub = np.concatenate([v.ub for v in ctx.vars.values()]) if ctx.vars else np.zeros(0)
    keep = p.coefs != 0
    rows, cols, coefs = p.rows[keep], p.cols[keep], p.coefs[keep]
    with np.errstate(invalid="ignore"):
        lo_t = np.where(coefs > 0, coefs * lb[cols], coefs * ub[cols])
        hi_t = np.where(coefs > 0, coefs * ub[cols], coefs * lb[cols])
    for terms, side_pos, side_neg in ((lo_t, "lower", "upper"), (hi_t, "upper", "lower")):
        bad = np.nonzero(~np.isfinite(terms))[0]
        if bad.size:
            k = int(bad[0])
            name, label = column_name(ctx, int(cols[k]))
            # lo needs x's lower bound when the coefficient is positive, its upper when negative
            raise MissingBound(name, side_pos if coefs[k] > 0 else side_neg, label, where)
    lo = p.const + np.bincount(rows, weights=lo_t, minlength=p.n)
    hi = p.const + np.bincount(rows, weights=hi_t, minlength=p.n)
    return lo.astype(float), hi.astype(float)
