"""Rows of a SCIP model: linear rows from a CSR matrix, expression rows, indicators.

Linear rows (:func:`add_linear_rows`) go to SCIP in one pass through its C
functions (:mod:`solvers.scip.capi`) where the form has a
:class:`~solvers.scip.capi.BulkRows`, otherwise through ``pyscipopt.Expr``
objects and one ``addConss`` call per family.  Both ways give the same
constraints, names and order.

pyscipopt is imported only inside the functions here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.scip.form import FEAS_TOL, ScipForm, entry_names, scip_bound
from workbench.compile.linear_form import Block
from workbench.errors import UnsupportedProblemError
from workbench.result import Label

__all__ = ["add_indicator", "add_linear_rows", "add_rows", "triplet_exprs"]


def triplet_exprs(
    n: int,
    variables: list[Any],
    rows: np.ndarray,
    cols: np.ndarray,
    coefs: np.ndarray,
    quad: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> list[Any]:
    """One ``pyscipopt.Expr`` per row from linear (and quadratic) triplets; duplicates summed."""
    from pyscipopt.scip import Expr, Term

    terms: list[dict[Any, float]] = [{} for _ in range(n)]
    used, which = np.unique(cols, return_inverse=True)
    monomials = [Term(variables[c]) for c in used.tolist()]  # one Term per column, not per entry
    for r, k, a in zip(rows.tolist(), which.reshape(-1).tolist(), coefs.tolist()):
        if a != 0.0:
            d, t = terms[r], monomials[k]
            d[t] = d.get(t, 0.0) + a
    if quad is not None:
        qrows, qi, qj, qcoef = quad
        for r, i, j, a in zip(qrows.tolist(), qi.tolist(), qj.tolist(), qcoef.tolist()):
            if a != 0.0:
                d, t = terms[r], Term(variables[i], variables[j])
                d[t] = d.get(t, 0.0) + a
    return [Expr({t: a for t, a in d.items() if a != 0.0}) for d in terms]


def _csr_exprs(a: sp.csr_matrix, variables: list[Any]) -> list[Any]:
    rows = np.repeat(np.arange(a.shape[0], dtype=np.int64), np.diff(a.indptr))
    return triplet_exprs(a.shape[0], variables, rows, a.indices.astype(np.int64), a.data)


def add_linear_rows(
    form: ScipForm,
    name: str,
    labels: Sequence[Label] | None,
    a: sp.csr_matrix,
    lo: np.ndarray,
    hi: np.ndarray,
    indicator: np.ndarray | None = None,
) -> None:
    """Rows ``lo <= a @ x <= hi`` named ``name[label]``, as :func:`add_rows` adds them.

    A row without variables is checked against its bounds (infeasible, or
    its binary fixed to 0 where it has an indicator); a free row is left out;
    an indicator row becomes :func:`add_indicator`'s constraints; the others
    go to SCIP together, through ``form.bulk`` when there is one.
    """
    a = sp.csr_matrix(a, copy=True)
    a.sum_duplicates()
    a.eliminate_zeros()
    n = a.shape[0]
    lo = np.asarray(lo, dtype=float)[:n]
    hi = np.asarray(hi, dtype=float)[:n]
    on = np.full(n, -1, dtype=np.int64) if indicator is None else np.asarray(indicator)[:n]
    block = Block(name, form.next_row(), n, labels)
    conss: list[Any] = [None] * n
    empty = np.diff(a.indptr) == 0
    for r in np.flatnonzero(empty & ((lo - FEAS_TOL > 0.0) | (hi + FEAS_TOL < 0.0))).tolist():
        if on[r] < 0:
            form.infeasible_rows.append(block.entry_name(r))
        else:  # the row can never hold, so its binary stays 0
            form.model.chgVarUb(form.variables[int(on[r])], 0.0)
    live = ~empty & (np.isfinite(lo) | np.isfinite(hi))
    switched = np.flatnonzero(live & (on >= 0))
    if switched.size:
        exprs = _csr_exprs(a[switched], form.variables)
        for r, e in zip(switched.tolist(), exprs, strict=True):
            binvar = form.variables[int(on[r])]
            conss[r] = add_indicator(form.model, binvar, e, lo[r], hi[r], name=block.entry_name(r))[
                0
            ]
    plain = np.flatnonzero(live & (on < 0))
    if plain.size:
        sub = a[plain]
        names = entry_names(block, plain.tolist())
        if form.bulk is not None:
            ptrs = form.var_ptrs()[sub.indices]
            first = form.bulk.add_linear(sub.indptr, ptrs, sub.data, lo[plain], hi[plain], names)
            for k, r in enumerate(plain.tolist()):
                conss[r] = first + k
        else:
            from pyscipopt import ExprCons

            exprs = _csr_exprs(sub, form.variables)
            added = form.model.addConss(
                [ExprCons(e, scip_bound(lo[r]), scip_bound(hi[r]))
                 for e, r in zip(exprs, plain.tolist(), strict=True)],
                name=names,
            )  # fmt: skip
            for r, cons in zip(plain.tolist(), added, strict=True):
                conss[r] = cons
    form.rows.append((block, conss))


def _constant(e: Any) -> float | None:
    """The value of a row expression without variables, else ``None``."""
    from pyscipopt import Expr

    if isinstance(e, int | float):
        return float(e)
    if isinstance(e, Expr) and e.degree() == 0:
        return float(sum(e.terms.values()))
    return None


def _degree(e: Any) -> int:
    """The polynomial degree of a SCIP expression (a large number for other functions)."""
    from pyscipopt import Expr

    return int(e.degree()) if isinstance(e, Expr) else 99


def add_rows(
    form: ScipForm,
    name: str,
    labels: Sequence[Label] | None,
    exprs: list[Any],
    lo: np.ndarray,
    hi: np.ndarray,
    indicator: np.ndarray | None = None,
    where: str = "",
) -> None:
    """Rows ``lo <= expr <= hi`` named ``name[label]``; records infeasible constant rows.

    With *indicator* (per row, the flat column of a binary, or -1), a row holds
    only where its binary is 1 (:func:`add_indicator`); such a row must be linear.
    """
    from pyscipopt import ExprCons

    block = Block(name, form.next_row(), len(exprs), labels)
    conss: list[Any] = []
    plain: list[tuple[int, Any, str]] = []  # added together: one addConss call per family
    for r, e in enumerate(exprs):
        a, b = float(lo[r]), float(hi[r])
        on = None
        if indicator is not None and indicator[r] >= 0:
            on = form.variables[int(indicator[r])]
        val = _constant(e)
        if val is not None:
            if val < a - FEAS_TOL or val > b + FEAS_TOL:
                if on is None:
                    form.infeasible_rows.append(block.entry_name(r))
                else:  # the row can never hold, so its binary stays 0
                    form.model.chgVarUb(on, 0.0)
            conss.append(None)
            continue
        if not (math.isfinite(a) or math.isfinite(b)):
            conss.append(None)
            continue
        if on is not None:
            if _degree(e) > 1:
                raise UnsupportedProblemError(
                    f"{where or name}.when: SCIP's indicator constraints take a linear row, and "
                    f"'{block.entry_name(r)}' is not linear; write its body as an affine expression"
                )
            conss.append(add_indicator(form.model, on, e, a, b, name=block.entry_name(r))[0])
            continue
        plain.append((r, ExprCons(e, scip_bound(a), scip_bound(b)), block.entry_name(r)))
        conss.append(None)
    if plain:
        added = form.model.addConss([c for _, c, _ in plain], name=[nm for _, _, nm in plain])
        for (r, _, _), cons in zip(plain, added, strict=True):
            conss[r] = cons
    form.rows.append((block, conss))


def add_indicator(
    m: Any,
    binvar: Any,
    expr: Any,
    lo: float,
    hi: float,
    *,
    name: str = "",
    active: int = 1,
) -> list[Any]:
    """Add ``binvar == active  =>  lo <= expr <= hi`` as SCIP indicator constraints.

    Parameters
    ----------
    m
        The ``pyscipopt.Model``.
    binvar
        A binary SCIP variable.
    expr
        A linear ``pyscipopt.Expr`` (its constant is moved to the bounds).
    lo, hi
        Row bounds (``-inf``/``inf`` where absent; ``lo == hi`` for an equality).
    name
        The constraint name (``_lo``/``_hi`` are appended when both sides are finite).
    active
        The value of *binvar* that switches the row on (1 or 0).

    Returns
    -------
    list
        The indicator constraints added: one per finite side (a ``<=`` row,
        a ``>=`` row, or both for an equality or a range).

    Raises
    ------
    ValueError
        If *expr* is not linear, *active* is not 0 or 1, or both bounds are infinite.
    """
    from pyscipopt import Expr, ExprCons

    if active not in (0, 1):
        raise ValueError(f"indicator 'active' must be 0 or 1, not {active!r}")
    if not isinstance(expr, Expr) or expr.degree() > 1:
        raise ValueError(f"indicator {name or 'row'}: the row must be linear")
    sides = [(s, v) for s, v in (("lo", lo), ("hi", hi)) if np.isfinite(v)]
    if not sides:
        raise ValueError(f"indicator {name or 'row'}: the row has no finite bound")
    out = []
    for side, v in sides:
        cons = ExprCons(expr, float(v), None) if side == "lo" else ExprCons(expr, None, float(v))
        label = f"{name}_{side}" if name and len(sides) == 2 else name
        out.append(m.addConsIndicator(cons, binvar, activeone=bool(active), name=label))
    return out
