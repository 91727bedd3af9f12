"""Scoring a capital-budgeting first stage as the Neur2RO paper does (sample scenario approximation).

:func:`cb_ssa_scenarios` draws the paper's uniform sample,
:func:`cb_robust_budget` checks the budget over the whole box exactly, and
:func:`cb_sampled_worst` gives the exact worst case over a finite scenario set
(a lower estimate of the true worst case, which it can miss).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from problems.robust.capital_budgeting import CapitalBudgetingInstance

__all__ = ["CbSampledWorst", "cb_robust_budget", "cb_sampled_worst", "cb_ssa_scenarios"]


@dataclass(frozen=True)
class CbSampledWorst:
    """The worst case of a first stage over a finite scenario set.

    Attributes
    ----------
    value
        ``max`` over the scenarios of ``Q(x, xi)`` (minimised sense: the worst
        negative profit, recourse solved exactly); ``inf`` when ``x`` breaks
        the budget at some point of the box.
    scenario
        The worst scenario, shape ``(xi_dim,)``; when ``value`` is ``inf``, the
        box vertex that breaks the budget (not necessarily one of the scenarios).
    scenarios
        How many scenarios were scored.
    exact_solves
        How many 0/1 knapsacks were solved by MILP (the others were settled by
        the greedy/LP bounds).
    """

    value: float
    scenario: np.ndarray
    scenarios: int
    exact_solves: int


def _first_stage(inst: CapitalBudgetingInstance, x: ArrayLike) -> np.ndarray:
    """*x* as a 0/1 float vector of length ``n``, or ValueError naming the argument."""
    xa = np.asarray(x, dtype=float).reshape(-1) if np.ndim(x) <= 1 else None
    if xa is None or xa.size != inst.n:
        raise ValueError(f"x: expected {inst.n} first-stage values (one per project), "
                         f"got shape {np.shape(x)}")  # fmt: skip
    xb = np.round(xa)
    if (
        not np.all(np.isfinite(xa))
        or np.any(np.abs(xa - xb) > 1e-6)
        or np.any((xb != 0) & (xb != 1))
    ):
        raise ValueError(f"x: expected 0/1 values, got {xa.tolist()}")
    return xb


def _costs(inst: CapitalBudgetingInstance, xi: np.ndarray) -> np.ndarray:
    return np.asarray((1.0 + 0.5 * xi @ inst.phi.T) * inst.cbar)


def _revenues(inst: CapitalBudgetingInstance, xi: np.ndarray) -> np.ndarray:
    return np.asarray((1.0 + 0.5 * xi @ inst.psi.T) * inst.rbar)


def _budget_direction(inst: CapitalBudgetingInstance, x: np.ndarray) -> np.ndarray:
    """``g`` with ``c(xi)^T x = cbar^T x + g^T xi / 2``."""
    return np.asarray(inst.phi.T @ (inst.cbar * x))


def cb_robust_budget(inst: CapitalBudgetingInstance, x: ArrayLike) -> float:
    """The worst-case first-stage budget use ``max_{xi in [-1,1]^d} c(xi)^T x``, exactly.

    ``c(xi)^T x = cbar^T x + (phi^T (cbar * x))^T xi / 2`` is linear in ``xi``,
    so its maximum over the box is ``cbar^T x + ||phi^T (cbar * x)||_1 / 2``
    (attained at the vertex ``sign(phi^T (cbar * x))``).

    Parameters
    ----------
    inst
        The instance.
    x
        The first stage, ``n`` values in {0, 1}.

    Returns
    -------
    float
        The largest budget use of ``x`` alone; ``x`` is robustly feasible when
        it is at most ``inst.budget``.

    Raises
    ------
    ValueError
        When ``x`` does not have ``n`` 0/1 values.
    """
    xb = _first_stage(inst, x)
    return float(inst.cbar @ xb + 0.5 * np.abs(_budget_direction(inst, xb)).sum())


def cb_ssa_scenarios(
    inst: CapitalBudgetingInstance, n: int = 10_000, *, seed: int | None = None
) -> np.ndarray:
    """The paper's SSA sample: *n* scenarios uniform in ``[-1, 1]^xi_dim``.

    Parameters
    ----------
    inst
        The instance (only ``xi_dim`` is used).
    n
        Number of scenarios (the paper: 10,000).
    seed
        Seed of numpy's legacy Mersenne Twister (``np.random.RandomState``);
        ``None`` means ``n``, as the paper's evaluation script seeds numpy with
        the sample count before drawing ``uniform(-1, 1, (n, xi_dim))``, so the
        default reproduces the paper's sample.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, xi_dim)``; the same array for the same ``n`` and ``seed``.

    Raises
    ------
    ValueError
        When ``n`` is negative.
    """
    if n < 0:
        raise ValueError(f"n: expected a non-negative sample size, got {n}")
    rs = np.random.RandomState(n if seed is None else seed)  # noqa: NPY002 (the paper's stream)
    return np.asarray(rs.uniform(-1.0, 1.0, size=(n, inst.xi_dim)))


def _knapsack_bounds(
    p: np.ndarray, w: np.ndarray, cap: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: a feasible 0/1 value (greedy by ratio, skipping what does not fit) and the LP bound.

    ``p`` (profits, ``<= 0`` entries are never taken) and ``w`` (weights) have
    shape ``(m, n)``, ``cap >= 0`` shape ``(m,)``.  Items of non-positive weight
    and positive profit are taken by both (they free capacity).
    """
    useful = p > 0
    free = useful & (w <= 0)
    rest = useful & ~free
    base = np.where(free, p, 0.0).sum(axis=1)
    cap = cap - np.where(free, w, 0.0).sum(axis=1)
    ratio = np.where(rest, p / np.where(rest, w, 1.0), -np.inf)
    order = np.argsort(-ratio, axis=1, kind="stable")
    ps = np.take_along_axis(np.where(rest, p, 0.0), order, axis=1)
    ws = np.take_along_axis(np.where(rest, w, 0.0), order, axis=1)
    cum = np.cumsum(ws, axis=1)
    full = cum <= cap[:, None]  # a prefix: the weights are >= 0
    k = full.sum(axis=1)
    lp = (ps * full).sum(axis=1)
    has = k < ps.shape[1]
    kk = np.minimum(k, ps.shape[1] - 1)
    rows = np.arange(ps.shape[0])
    before = np.where(k > 0, cum[rows, np.maximum(k - 1, 0)], 0.0)
    wk = ws[rows, kk]
    frac = np.where(has & (wk > 0), (cap - before) / np.where(wk > 0, wk, 1.0), 0.0)
    lp = lp + np.clip(frac, 0.0, 1.0) * ps[rows, kk]
    greedy = np.zeros(ps.shape[0])
    left = cap.copy()
    for j in range(ps.shape[1]):
        take = (ws[:, j] <= left) & (ps[:, j] > 0)
        greedy += np.where(take, ps[:, j], 0.0)
        left -= np.where(take, ws[:, j], 0.0)
    return base + greedy, base + lp


@contextmanager
def _quiet_fd1() -> Iterator[None]:
    """Send file descriptor 1 (C-level stdout) to ``/dev/null`` for the block."""
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(null)
        os.close(saved)


_BB_NODES = 100_000
"""Nodes the pure-Python branch and bound may visit before a knapsack goes to HiGHS."""


def _knapsack_bb(p: np.ndarray, w: np.ndarray, cap: float, start: float) -> float | None:
    """``max p^T y`` s.t. ``w^T y <= cap``, ``y`` binary, for ``p > 0``, ``0 < w <= cap``.

    Depth-first branch and bound (items by decreasing ``p / w``, the
    fractional-knapsack bound at every node, Horowitz and Sahni's scheme);
    ``start`` is the value of a known packing.  ``None`` when it needs more
    than :data:`_BB_NODES` nodes.  A HiGHS MIP costs about 10 ms even on ten
    items; this settles most knapsacks here in well under a millisecond.
    """
    order = np.argsort(-(p / w), kind="stable")
    ps, ws = [float(v) for v in p[order]], [float(v) for v in w[order]]
    m = len(ps)
    best = start
    nodes = 0
    eps = 1e-12 * max(1.0, abs(start))

    def bound(i: int, room: float) -> float:
        b = 0.0
        for j in range(i, m):
            if ws[j] <= room:
                room -= ws[j]
                b += ps[j]
            else:
                return b + ps[j] * room / ws[j]
        return b

    def dfs(i: int, room: float, val: float) -> bool:
        nonlocal best, nodes
        nodes += 1
        if nodes > _BB_NODES:
            return False
        if val > best:
            best = val
        if i == m or val + bound(i, room) <= best + eps:
            return True
        if ws[i] <= room and not dfs(i + 1, room - ws[i], val + ps[i]):
            return False
        return dfs(i + 1, room, val)

    return best if dfs(0, cap, 0.0) else None


class _ExactKnapsack:
    """``max p^T y`` s.t. ``w^T y <= cap``, ``y`` binary: :func:`_knapsack_bb`, else HiGHS.

    Items of no profit or too heavy to fit are dropped and items of positive
    profit and no weight are taken before HiGHS sees the rest.  HiGHS 1.12
    prints a stray debug line (``HighsMipSolverData::transformNew...``) to the
    C-level stdout on some incumbents, whatever its options, so file
    descriptor 1 points at ``/dev/null`` while it runs.
    """

    def __init__(self) -> None:
        self.highs_solves = 0
        self._h: Any = None

    def _highs(self) -> Any:
        if self._h is None:
            import highspy  # lazy: only when the branch and bound gives up

            self._h = h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            h.setOptionValue("threads", 1)
            h.setOptionValue("mip_rel_gap", 0.0)
            h.setOptionValue("mip_abs_gap", 0.0)
        return self._h

    def solve(self, p: np.ndarray, w: np.ndarray, cap: float, feasible_value: float) -> float:
        """The optimum (at least *feasible_value*, the value of a known packing)."""
        free = (p > 0) & (w <= 0)
        cap -= float(w[free].sum())
        base = float(p[free].sum())
        use = (p > 0) & (w > 0) & (w <= cap)
        if not use.any():
            return max(feasible_value, base)
        pu, wu = p[use], w[use]
        bb = _knapsack_bb(pu, wu, cap, feasible_value - base)
        if bb is not None:
            return max(feasible_value, base + bb)
        m = int(pu.size)
        idx = np.arange(m, dtype=np.int32)
        import highspy as hs

        h = self._highs()
        self.highs_solves += 1
        h.clearModel()
        h.changeObjectiveSense(hs.ObjSense.kMaximize)
        h.addVars(m, np.zeros(m), np.ones(m))
        h.changeColsCost(m, idx, pu)
        h.changeColsIntegrality(m, idx, np.full(m, hs.HighsVarType.kInteger))
        h.addRow(-hs.kHighsInf, cap, m, idx, wu)
        with _quiet_fd1():
            h.run()
        status = h.getModelStatus()
        if status != hs.HighsModelStatus.kOptimal:
            raise RuntimeError(f"HiGHS failed on a 0/1 knapsack: {h.modelStatusToString(status)}")
        y = np.round(np.asarray(h.getSolution().col_value))
        if wu @ y > cap + 1e-9 * max(1.0, abs(cap)):  # rounding broke the row: keep HiGHS's value
            return max(feasible_value, base + float(h.getInfo().objective_function_value))
        return max(feasible_value, base + float(pu @ y))


def cb_sampled_worst(
    inst: CapitalBudgetingInstance,
    x: ArrayLike,
    scenarios: ArrayLike,
    *,
    tol: float = 1e-6,
) -> CbSampledWorst:
    """The exact worst case of *x* over a finite scenario set (the paper's SSA value).

    ``value = max_s Q(x, xi_s)`` with ``Q(x, xi) = -sum r_i(xi) (x_i + k y_i)``
    and ``y`` the best recourse (a 0/1 knapsack on the projects not started,
    capacity ``B - c(xi)^T x``).  Every scenario gets the bounds
    ``Q_LP <= Q <= Q_greedy`` at once (vectorised: the fractional-knapsack LP
    bound and the greedy 0/1 packing); scenarios are visited by decreasing
    ``Q_greedy``, a knapsack is solved exactly (a depth-first branch and bound, HiGHS via
    highspy past 100,000 nodes) only where
    the two bounds differ, and the scan stops when the next ``Q_greedy``
    cannot beat the best exact value.  The result equals solving every
    scenario exactly.

    Parameters
    ----------
    inst
        The instance.
    x
        The first stage, ``n`` values in {0, 1}.
    scenarios
        Shape ``(m, xi_dim)`` with ``m >= 1``, points of ``[-1, 1]^xi_dim``.
    tol
        Relative tolerance (times ``max(1, |B|)``) of the robust budget check
        and on the box bounds of the scenarios.

    Returns
    -------
    CbSampledWorst
        ``value`` is ``inf`` when ``x`` is not robustly budget-feasible
        (:func:`cb_robust_budget` above ``B``), whatever the scenarios.

    Raises
    ------
    ValueError
        When ``x`` does not have ``n`` 0/1 values, or ``scenarios`` is not a
        non-empty finite ``(m, xi_dim)`` array inside the box.
    """
    xb = _first_stage(inst, x)
    d = inst.xi_dim
    xi = np.asarray(scenarios, dtype=float)
    if xi.ndim != 2 or xi.shape[1] != d or xi.shape[0] < 1:
        raise ValueError(f"scenarios: expected shape (m, {d}) with m >= 1 (one row per "
                         f"scenario), got {xi.shape}")  # fmt: skip
    if not np.all(np.isfinite(xi)) or np.abs(xi).max() > 1.0 + tol:
        raise ValueError(f"scenarios: expected finite points of [-1, 1]^{d}, got entries up to "
                         f"{np.abs(xi).max()}")  # fmt: skip
    m = xi.shape[0]
    slack = tol * max(1.0, abs(inst.budget))
    if cb_robust_budget(inst, xb) > inst.budget + slack:
        vertex = np.where(_budget_direction(inst, xb) >= 0, 1.0, -1.0)
        return CbSampledWorst(float("inf"), vertex, m, 0)
    c, r = _costs(inst, xi), _revenues(inst, xi)
    cap = np.maximum(inst.budget - c @ xb, 0.0)
    p = np.where(xb[None, :] == 0, r, 0.0)
    greedy, lp = _knapsack_bounds(p, c, cap)
    first = -(r @ xb)
    q_hi = first - inst.k * greedy  # a feasible recourse: Q <= q_hi
    q_lo = first - inst.k * lp  # the LP relaxation: q_lo <= Q
    settled = lp - greedy <= 1e-12 * np.maximum(1.0, np.abs(lp))
    best, arg, solves = -np.inf, 0, 0
    exact: _ExactKnapsack | None = None
    for s in np.argsort(-q_hi, kind="stable"):
        if q_hi[s] <= best:
            break
        if settled[s]:
            q = float(q_hi[s])
        else:
            exact = exact or _ExactKnapsack()
            q = float(first[s] - inst.k * exact.solve(p[s], c[s], float(cap[s]), greedy[s]))
            solves += 1
        if q > best:
            best, arg = q, int(s)
    # q_lo is only a sanity bound here: max_s q_lo <= max_s Q
    assert best >= float(q_lo.max()) - 1e-9 * max(1.0, abs(best))
    return CbSampledWorst(best, xi[arg].copy(), m, solves)
