"""Certifying (and polishing) the learned first stage with an exact scenario master.

Neur2RO's answer is a heuristic: the network only approximates ``Q``.  The
scenarios ML-CCG found, together with the exact worst case of the chosen
``x`` (from :func:`workbench.robust.evaluate_first_stage`), give a *valid
lower bound* on the robust optimum through the exact scenario master::

    min c x + theta   s.t.  theta >= f(x, xi_k, y_k),  y_k in Y(x, xi_k)  for every k,

(one copy of the recourse per scenario, no network).  When it meets the exact
worst case of an evaluated ``x``, that ``x`` is proven optimal.  When it does
not, exact polishing rounds evaluate the master's ``x`` and add its worst
scenario (column-and-constraint generation warm-started with the learned
scenarios); after the first round the master is restricted to a
local-branching neighbourhood of the incumbent (:func:`local_branching_row`),
where few scenarios already describe the worst case well.  A master with a product of a first-stage and a
second-stage variable (or of two first-stage variables) is not linear, so no
certificate is attempted there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from solvers.neur2ro.milp import MilpStatus, solve_milp
from solvers.neur2ro.recourse import _X, RobustSplit

__all__ = ["MasterBound", "local_branching_row", "scenario_master"]


@dataclass
class MasterBound:
    """The exact scenario master: a lower bound (minimised sense) and its ``x``."""

    bound: float | None
    x: np.ndarray | None
    proven: bool  # the master was solved to optimality (its bound is the LP/MIP bound)
    message: str = ""


def _linear_in_x(
    split: RobustSplit, part: object, xi: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix] | None:
    """``(Dx, const, Ay)`` with the part's rows ``= Dx x + const + Ay y`` at fixed *xi*."""
    from solvers.neur2ro.recourse import _Part

    assert isinstance(part, _Part)
    st = split.stage
    if np.any(st[part.b_fcol] == _X):
        return None  # x * y: the master would be bilinear
    qi, qj = st[part.ff_i], st[part.ff_j]
    if np.any((qi == _X) & (qj == _X)):
        return None
    xpos = np.full(st.size, -1, dtype=np.int64)
    xpos[split.x_cols] = np.arange(split.nx)
    v = split.full_vector(np.zeros(split.nx), xi)
    const = part.fixed_value(v)
    lx = st[part.f_cols] == _X
    rows = [part.f_rows[lx]]
    cols = [xpos[part.f_cols[lx]]]
    vals = [part.f_coef[lx]]
    for a, b in ((qi, part.ff_j), (qj, part.ff_i)):
        m = a == _X
        other = b[m]
        own = part.ff_i[m] if a is qi else part.ff_j[m]
        rows.append(part.ff_rows[m])
        cols.append(xpos[own])
        vals.append(part.ff_coef[m] * v[other])
    Dx = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(part.n, split.nx),
    )
    return Dx, const, part.y_matrix(v, split.ny)


def local_branching_row(
    split: RobustSplit, center: np.ndarray, radius: int
) -> tuple[sp.csr_matrix, float] | None:
    """``sum_{c_j=1} (1 - x_j) + sum_{c_j=0} x_j <= radius`` over the binary first-stage columns.

    Returns ``(row over x, upper side)``, or ``None`` when ``x`` has no binary column.
    """
    binary = split.x_integer & (split.x_lb == 0) & (split.x_ub == 1)
    j = np.flatnonzero(binary)
    if j.size == 0:
        return None
    on = np.round(np.asarray(center, dtype=float)[j]) >= 0.5
    row = sp.csr_matrix((np.where(on, -1.0, 1.0), (np.zeros(j.size, int), j)), shape=(1, split.nx))
    return row, float(radius - on.sum())


def scenario_master(
    split: RobustSplit,
    scenarios: list[np.ndarray],
    *,
    time_limit: float | None,
    mip_rel_gap: float = 1e-6,
    seed: int = 0,
    center: np.ndarray | None = None,
    radius: int | None = None,
    start: np.ndarray | None = None,
    cutoff: float | None = None,
) -> MasterBound:
    """Solve the exact scenario master (see the module doc) over *scenarios*.

    With *center* and *radius* (local branching), only first stages whose binary
    columns differ from *center* in at most *radius* places are searched; the
    bound is then a bound over that neighbourhood only.  *start* (a first stage)
    warm-starts HiGHS.  With *cutoff* (minimised sense) only points below it are
    searched: when there is none, the result has ``bound=cutoff`` and ``x=None``.

    Returns
    -------
    MasterBound
        ``bound`` is a valid lower bound on the robust optimum (minimised sense)
        when the solve ended with one; ``None`` when no certificate applies.
    """
    nx, ny, K = split.nx, split.ny, len(scenarios)
    blocks: list[sp.csr_matrix] = []
    los: list[np.ndarray] = []
    his: list[np.ndarray] = []

    def place(Dx: sp.csr_matrix, Ay: sp.csr_matrix, k: int, theta: float) -> sp.csr_matrix:
        m = Dx.shape[0]
        th = sp.csr_matrix(np.full((m, 1), theta)) if theta else sp.csr_matrix((m, 1))
        left = sp.csr_matrix((m, k * ny))
        right = sp.csr_matrix((m, (K - k - 1) * ny))
        return sp.hstack([Dx, th, left, Ay, right], format="csr")

    for k, xi in enumerate(scenarios):
        ob = _linear_in_x(split, split.obj, xi)
        if ob is None:
            return MasterBound(None, None, False, "the master is not linear (x * y or x * x)")
        Dx, const, Ay = ob
        # theta - Dx x - Ay y >= const
        blocks.append(place(-Dx, -Ay, k, 1.0))
        los.append(const)
        his.append(np.full(1, np.inf))
        for part, plo, phi in zip(split.rows, split.row_lo, split.row_hi):
            lin = _linear_in_x(split, part, xi)
            if lin is None:
                return MasterBound(None, None, False, "the master is not linear (x * y or x * x)")
            Dx, const, Ay = lin
            blocks.append(place(Dx, Ay, k, 0.0))
            los.append(plo - const)
            his.append(phi - const)
    A = sp.vstack(blocks, format="csr")
    c = np.concatenate([split.first_stage_c(), np.ones(1), np.zeros(K * ny)])
    ylb, yub = split.col_lb[split.y_cols], split.col_ub[split.y_cols]
    lb = np.concatenate([split.x_lb, [-np.inf], np.tile(ylb, K)])
    ub = np.concatenate([split.x_ub, [np.inf], np.tile(yub, K)])
    integ = np.concatenate([split.x_integer, [False], np.tile(split.integ[split.y_cols], K)])
    rlo, rhi = np.concatenate(los), np.concatenate(his)
    if center is not None and radius is not None:
        lb_row = local_branching_row(split, center, radius)
        if lb_row is not None:
            row, hi = lb_row
            A = sp.vstack([A, sp.hstack([row, sp.csr_matrix((1, A.shape[1] - nx))])], format="csr")
            rlo, rhi = np.append(rlo, -np.inf), np.append(rhi, hi)
    mip_start = None
    if start is not None:
        mip_start = (np.arange(nx), np.asarray(start, dtype=float))
    out = solve_milp(c, A, rlo, rhi, lb, ub, integ, offset=split.fs_const, time_limit=time_limit,
                     mip_rel_gap=mip_rel_gap, seed=seed, start=mip_start,
                     cutoff=cutoff)  # fmt: skip
    if cutoff is not None and out.status is MilpStatus.INFEASIBLE:
        return MasterBound(float(cutoff), None, True, "nothing below the cut-off")
    if out.bound is None or out.x is None:
        return MasterBound(None, None, False, f"scenario master: {out.native}")
    x = out.x[:nx]
    x = np.where(split.x_integer, np.round(x), x)
    return MasterBound(float(out.bound), x, out.status.value == "optimal")
