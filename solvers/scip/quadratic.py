"""A convex quadratic objective as a sum of squares, for one epigraph row per square.

SCIP takes a quadratic objective through an epigraph row ``t >= q(x)``.  With
unbounded variables and several of them in one row, its LP relaxation stays
unbounded and the search never closes (a two-variable convex QP with free
variables ran 20,000 nodes without a dual bound; a free-integer least-squares
model did not even find its optimum).  Written with completed squares,
``f(x) = sum_k (c_k'x + d_k)^2 + r'x + const`` with one row
``t_k >= (c_k'x + d_k)^2``, ``t_k >= 0`` per square, the LP relaxation is
bounded and SCIP solves the same models at the root.  The rewrite is exact up
to floating point: the quadratic form is factored blockwise (per connected
component) by its eigen-decomposition, and each eigenvector's share of the
linear term goes into its square.  It is used only when a variable of the
quadratic form is unbounded: otherwise a single row is faster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["MAX_BLOCK", "Squares", "convex_squares"]

MAX_BLOCK = 600
"""Largest connected block of the quadratic form that is factored (a dense eigen-decomposition)."""

_TOL = 1e-12
"""Eigenvalues within ``_TOL * max|eigenvalue| * block size`` of zero are rounding zeros."""


@dataclass
class Squares:
    """``f(x) = s * sum_k (c_k'x + d_k)^2 + linear'x + constant`` with ``s = +1`` (min) or ``-1`` (max).

    Attributes
    ----------
    terms
        ``(cols, c, d)`` per square: ``(c @ x[cols] + d)^2``.
    linear
        The linear part left over (dense, one entry per variable): the part of
        the objective's linear term outside the range of its quadratic form.
    constant
        The constant left over.
    """

    terms: list[tuple[np.ndarray, np.ndarray, float]]
    linear: np.ndarray
    constant: float


def convex_squares(
    qi: np.ndarray, qj: np.ndarray, qcoef: np.ndarray, lin: np.ndarray, sense: str
) -> Squares | None:
    """``f(x) = sum coef * x_i * x_j + lin'x`` written with squares (completing each square).

    Parameters
    ----------
    qi, qj, qcoef
        The quadratic terms (repeats and both orders allowed).
    lin
        The linear coefficients, one per variable.
    sense
        ``"min"`` or ``"max"``: the quadratic part must be convex for ``min``,
        concave for ``max``.

    Returns
    -------
    Squares or None
        ``None`` when the quadratic part has the wrong curvature (or a block is
        larger than :data:`MAX_BLOCK`), so that the caller keeps a single
        epigraph row.
    """
    n = int(lin.shape[0])
    s = -1.0 if sense == "max" else 1.0
    a = sp.coo_matrix((s * np.asarray(qcoef, dtype=float), (qi, qj)), shape=(n, n)).tocsr()
    g = ((a + a.T) * 0.5).tocsr()  # x'Gx = s * quadratic part
    g.eliminate_zeros()
    residual = s * np.asarray(lin, dtype=float)  # the linear part, in the convex (s-scaled) form
    constant = 0.0
    used = np.unique(g.nonzero()[0])
    terms: list[tuple[np.ndarray, np.ndarray, float]] = []
    sub = g[used][:, used]
    k, labels = connected_components(sub, directed=False) if used.size else (0, used)
    for comp in range(k):
        idx = np.flatnonzero(labels == comp)
        if idx.size > MAX_BLOCK:
            return None
        w, v = np.linalg.eigh(sub[idx][:, idx].toarray())
        zero = _TOL * max(1.0, float(np.abs(w).max())) * idx.size
        if w.min() < -zero:
            return None  # not convex in this sense: the single epigraph row stays
        cols = used[idx]
        for lam, vec in zip(w, v.T):
            if lam <= zero:
                continue
            beta = float(residual[cols] @ vec)  # lam (v'x)^2 + beta v'x, as one square
            residual[cols] -= beta * vec
            constant -= beta * beta / (4.0 * lam)
            c = np.sqrt(lam) * vec
            keep = np.abs(c) > 1e-14 * np.abs(c).max()
            terms.append((cols[keep], c[keep], beta / (2.0 * np.sqrt(lam))))
    residual[np.abs(residual) <= 1e-12 * max(1.0, float(np.abs(lin).max(initial=0.0)))] = 0.0
    return Squares(terms, s * residual, s * constant)
