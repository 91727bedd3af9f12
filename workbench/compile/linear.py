"""IR model -> :class:`~workbench.compile.linear_form.LinearForm`, vectorised.

The objective may be quadratic (a QP); constraints must be linear.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from workbench.compile.affine import NonlinearError, Poly, poly
from workbench.compile.linear_form import Block, LinearForm
from workbench.compile.sets import LazyLabels
from workbench.compile.structure import CompiledModel, compile_structure
from workbench.errors import UnsupportedProblemError
from workbench.ir.model import Model

__all__ = ["compile_linear", "csr_from_triplets", "linear_form_from_structure"]


def csr_from_triplets(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """A canonical CSR matrix (sorted, duplicates summed, explicit zeros dropped).

    Takes a fast path when the triplets already come in row-major order
    without duplicates, which is what the builder produces for most models.
    """
    m, n = shape
    if vals.shape[0]:
        nz = vals != 0
        if not nz.all():
            rows, cols, vals = rows[nz], cols[nz], vals[nz]
    small = m * max(n, 1) < 2**31
    kt: type[np.signedinteger[Any]] = np.int32 if small else np.int64
    key = rows.astype(kt, copy=False) * max(n, 1) + cols.astype(kt, copy=False)
    if key.shape[0] > 1 and not bool(np.all(key[1:] > key[:-1])):
        order = np.argsort(key, kind="stable")
        key = key[order]
        vals = vals[order]
        first = np.ones(key.shape[0], dtype=bool)
        first[1:] = key[1:] != key[:-1]
        starts = np.nonzero(first)[0]
        vals = np.add.reduceat(vals, starts) if starts.size else vals
        key = key[starts]
        nz = vals != 0
        if not nz.all():
            key, vals = key[nz], vals[nz]
        rows = key // max(n, 1)
        cols = key % max(n, 1)
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    mat = sp.csr_matrix(
        (
            vals.astype(float, copy=False),
            cols.astype(np.int32 if n < 2**31 else np.int64, copy=False),
            indptr,
        ),
        shape=(m, n),
    )
    mat.has_sorted_indices = True
    mat.has_canonical_format = True
    return mat


def _quad_matrix(p: Poly, n: int) -> sp.csr_matrix | None:
    if not p.has_quad:
        return None
    qi = np.concatenate([p.qi, p.qj])
    qj = np.concatenate([p.qj, p.qi])
    qv = np.concatenate([p.qcoef, p.qcoef])
    q = sp.coo_matrix((qv, (qi, qj)), shape=(n, n)).tocsr()
    q.sum_duplicates()
    q.eliminate_zeros()
    return q if q.nnz else None


def _row_indicators(cm: CompiledModel, accept: bool) -> np.ndarray | None:
    """Per-row indicator columns (-1 for plain rows), or ``None`` when there are none."""
    fams = [f for f in cm.rows if f.indicator is not None]
    if not fams:
        return None
    if not accept:
        raise UnsupportedProblemError(
            f"{fams[0].where}.when: constraint '{fams[0].name}' is an indicator constraint, "
            "which this backend does not take natively; solve with reformulate=True (big-M "
            "rows from the bounds) or with a backend that takes indicators (cpsat)"
        )
    return np.concatenate(
        [f.indicator if f.indicator is not None else np.full(f.n, -1) for f in cm.rows]
    ).astype(np.int64)


def linear_form_from_structure(cm: CompiledModel, *, indicators: bool = False) -> LinearForm:
    """Assemble a LinearForm from a compiled structure.

    Parameters
    ----------
    cm
        The compiled model.
    indicators
        Accept indicator rows (``when``) into ``row_indicator``; otherwise they
        are refused, since a consumer that ignores them would solve another problem.

    Raises
    ------
    UnsupportedProblemError
        If a constraint is not linear, the objective is not quadratic, or an
        indicator row is present and not accepted.
    """
    row_indicator = _row_indicators(cm, indicators)
    ctx = cm.ctx
    n = ctx.num_vars
    try:
        obj = poly(cm.objective.plan, quadratic=True)
    except NonlinearError as e:
        raise UnsupportedProblemError(
            f"{cm.objective.where}: the objective is nonlinear ({e}); a LinearForm needs a linear "
            "or quadratic objective; use backend 'scipy' or 'pyomo'"
        ) from None
    c = np.bincount(obj.cols, weights=obj.coefs, minlength=n).astype(float) if n else np.zeros(0)
    offset = float(obj.const[0]) if obj.const.shape[0] else 0.0
    q = _quad_matrix(obj, n)

    all_r, all_c, all_v, lo_parts, hi_parts = [], [], [], [], []
    row_blocks: list[Block] = []
    start = 0
    for fam in cm.rows:
        try:
            p = poly(fam.plan, quadratic=False)
        except NonlinearError as e:
            raise UnsupportedProblemError(
                f"{fam.where}.expr: constraint '{fam.name}' is not linear ({e}); "
                "use backend 'scipy' or 'pyomo' for nonlinear constraints"
            ) from None
        all_r.append(p.rows + start)
        all_c.append(p.cols)
        all_v.append(p.coefs)
        lo_parts.append(fam.lo - p.const)
        hi_parts.append(fam.hi - p.const)
        row_blocks.append(Block(fam.name, start, fam.n, fam.labels))
        start += fam.n
    m = start
    if all_r:
        rows = np.concatenate(all_r) if len(all_r) > 1 else all_r[0]
        cols = np.concatenate(all_c) if len(all_c) > 1 else all_c[0]
        vals = np.concatenate(all_v) if len(all_v) > 1 else all_v[0]
        row_lb = np.concatenate(lo_parts)
        row_ub = np.concatenate(hi_parts)
    else:
        rows = cols = np.zeros(0, dtype=np.int64)
        vals = np.zeros(0)
        row_lb = row_ub = np.zeros(0)
    a = csr_from_triplets(rows, cols, vals, (m, n))

    col_lb = np.concatenate([v.lb for v in ctx.vars.values()]) if ctx.vars else np.zeros(0)
    col_ub = np.concatenate([v.ub for v in ctx.vars.values()]) if ctx.vars else np.zeros(0)
    integ = (
        np.concatenate([np.full(v.size, v.is_integer) for v in ctx.vars.values()])
        if ctx.vars
        else np.zeros(0, dtype=bool)
    )
    col_blocks = [
        Block(v.name, v.offset, v.size, LazyLabels(v.index) if v.index else None)
        for v in ctx.vars.values()
    ]
    return LinearForm(
        c=c,
        A=a,
        row_lb=row_lb,
        row_ub=row_ub,
        col_lb=col_lb,
        col_ub=col_ub,
        integrality=integ,
        sense="max" if cm.objective.sense == "max" else "min",
        offset=offset,
        Q=q,
        columns=col_blocks,
        rows=row_blocks,
        name=cm.model.name,
        warnings=list(cm.warnings),
        row_indicator=row_indicator,
    )


def compile_linear(model: Model | CompiledModel, *, indicators: bool = False) -> LinearForm:
    """Compile an IR model into a :class:`LinearForm`.

    Parameters
    ----------
    model
        The model (or an already compiled structure).
    indicators
        Keep indicator rows (``when``) as ``row_indicator`` for a backend that
        takes them natively; otherwise they are an ``UnsupportedProblemError``.

    Returns
    -------
    LinearForm
        Objective ``offset + c x + 0.5 x'Qx``; rows ``row_lb <= A x <= row_ub``.

    Raises
    ------
    ModelError
        If the model is malformed (with its location).
    UnsupportedProblemError
        If a constraint is nonlinear or the objective is beyond quadratic.
    """
    cm = model if isinstance(model, CompiledModel) else compile_structure(model)
    refuse_structured(cm.model, "matrix (LinearForm, MPS, LP)")
    return linear_form_from_structure(cm, indicators=indicators)


def refuse_structured(model: Model, target: str) -> None:
    """Refuse a bilevel or two-stage robust model for a single-level *target* form.

    Such a form has no place for the follower's problem or the uncertainty, so
    writing one would silently solve a different problem (the robust model's
    nominal copy, the bilevel model's relaxation).

    Raises
    ------
    UnsupportedProblemError
        Naming the section and the backends that take it.
    """
    if model.lower_level is not None:
        raise UnsupportedProblemError(
            f"a bilevel model has no {target} form: it would drop the follower's problem "
            "(lower_level); solve it with backend 'bilevel_kkt' or 'bilevel_penalty'"
        )
    if model.robust is not None:
        raise UnsupportedProblemError(
            f"a two-stage robust model has no {target} form: it would drop the uncertainty "
            "(robust); solve it with backend 'ccg' or 'neur2ro'"
        )
