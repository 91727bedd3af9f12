"""Our small MIP-adapter protocol: what Balans needs from an underlying MIP solver.

An adapter holds one MIP in *minimisation* form (a maximisation model is
negated once, on the way in) and offers temporary changes that
:meth:`MipAdapter.undo` reverts: column bounds (fixing is a bound change),
extra rows and a swapped objective.  Solves are time-limited and report a
:class:`SubResult` in the adapter's own vocabulary (:class:`SubStatus`); the
native statuses never leave the adapter module (one table per adapter).
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from workbench.compile.linear_form import LinearForm

__all__ = [
    "MipAdapter",
    "StallClock",
    "SubResult",
    "SubStatus",
    "TempRow",
    "clip_window",
    "to_minimisation",
]


class SubStatus(enum.Enum):
    """How one (sub-)MIP solve ended."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"  # a limit stopped it with a point
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    NO_SOLUTION = "no_solution"  # a limit stopped it without a point
    ERROR = "error"


@dataclass(frozen=True)
class SubResult:
    """The outcome of :meth:`MipAdapter.solve`.

    Attributes
    ----------
    status
        How it ended.
    x
        The best point (all columns), or ``None``.
    objective
        Its value under the *current* (possibly swapped) objective, in
        minimisation form, offset included; ``None`` without a point.
    bound
        The solver's dual bound under the current objective, or ``None``.
    native
        The solver's own status text (for logs only).
    """

    status: SubStatus
    x: np.ndarray | None = None
    objective: float | None = None
    bound: float | None = None
    native: str = ""

    @property
    def has_point(self) -> bool:
        """True when a point came back."""
        return self.x is not None


@dataclass(frozen=True)
class TempRow:
    """A temporary row ``lb <= coefs @ x[cols] <= ub``.

    With ``slack_cost`` set, the row is soft: the adapter adds a temporary
    continuous column ``s >= 0`` with cost ``slack_cost`` and the row becomes
    ``coefs @ x[cols] - s <= ub`` (only an upper bound may be softened; ``lb``
    must then be ``-inf``).  The slack never appears in the points an adapter
    returns.  This is the big-M slack of the reference Proximity operator.
    """

    cols: np.ndarray
    coefs: np.ndarray
    lb: float
    ub: float
    slack_cost: float | None = None

    def __post_init__(self) -> None:
        if np.shape(self.cols) != np.shape(self.coefs):
            raise ValueError(
                f"TempRow: cols {np.shape(self.cols)} and coefs {np.shape(self.coefs)} differ"
            )
        if self.slack_cost is not None and (
            not np.isfinite(self.slack_cost) or self.slack_cost <= 0 or self.lb != -np.inf
        ):
            raise ValueError(
                "TempRow: a soft row needs a finite positive slack_cost and lb=-inf, got "
                f"slack_cost={self.slack_cost!r}, lb={self.lb!r}"
            )


class MipAdapter(Protocol):
    """The operations Balans performs on the underlying MIP solver.

    Every ``fix``/``set_bounds``/``add_row``/``set_objective`` is temporary
    until :meth:`undo`; :meth:`solve` itself leaves the changes in place so
    that the caller decides when to undo (the repair step always does).
    """

    name: str
    improvements: list[tuple[float, float]]
    """``(time.perf_counter(), objective)`` of each improving point of the last
    stall-watched solve (empty otherwise, and always for adapters without the watch)."""

    def lp_relaxation(self, time_limit: float | None = None) -> SubResult:
        """Solve the LP relaxation of the original model (no temporary changes).

        With *time_limit* (seconds) a relaxation that is not solved in time
        ends as ``NO_SOLUTION``.
        """
        ...

    def set_bounds(self, cols: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> None:
        """Temporarily intersect the bounds of *cols* with ``[lb, ub]``."""
        ...

    def fix(self, cols: np.ndarray, values: np.ndarray) -> None:
        """Temporarily fix *cols* to *values*."""
        ...

    def add_row(self, row: TempRow) -> None:
        """Temporarily add a row (with its slack column when ``row.slack_cost`` is set)."""
        ...

    def set_objective(self, c: np.ndarray) -> None:
        """Temporarily replace the (minimisation) cost vector (no offset)."""
        ...

    def solve(
        self,
        time_limit: float,
        *,
        start: np.ndarray | None = None,
        solution_limit: int | None = None,
        cutoff: float | None = None,
        gap: float | None = None,
        feasibility: bool = False,
        stall: float | None = None,
        patience: float | None = None,
    ) -> SubResult:
        """Solve the current (modified) model within *time_limit* seconds.

        *start* is a hint (it may be infeasible for the modified model);
        *solution_limit* stops after that many improving solutions;
        *cutoff* (in the units of :attr:`SubResult.objective`) prunes every
        node whose bound reaches it, so the solve ends as soon as it is clear
        that nothing better than *cutoff* exists (a point at or above the
        cutoff may still come back, or none); *gap* is the relative gap at
        which the solve stops (``None``: the solver's default);
        *feasibility* puts the solver's emphasis on finding feasible points
        (SCIP's feasibility emphasis, as the reference uses for its first and
        random-objective solves; HiGHS has no such setting and ignores it);
        *stall* (seconds) stops the solve once it has a point and has found
        no improving one for that long, recording each improving point in
        :attr:`improvements`; *patience* (seconds, with *stall* only) also
        stops it when it has found no point at all for that long.  Every
        setting applies to this solve only.
        """
        ...

    def undo(self) -> None:
        """Revert every temporary change since the last ``undo``."""
        ...


class StallClock:
    """The stall watch's rule, shared by the adapters (see :meth:`MipAdapter.solve`).

    Records strictly improving points ``(perf_counter time, objective)`` into
    *seen* (the adapter's ``improvements`` list) and says when the solve is
    due to stop: it has a point and none better for *stall* seconds, or no
    point at all after *patience* seconds (``None``: wait for a point).
    """

    def __init__(
        self, stall: float, patience: float | None, seen: list[tuple[float, float]]
    ) -> None:
        if not (math.isfinite(stall) and stall > 0):
            raise ValueError(f"the stall watch needs a positive number of seconds, got {stall!r}")
        self.stall = float(stall)
        self.patience = math.inf if patience is None else float(patience)
        self.seen = seen
        self.t_start = time.perf_counter()

    def record(self, value: float, now: float | None = None) -> None:
        """Keep *value* when it improves strictly (solvers also report equal new bests)."""
        seen = self.seen
        if not seen or value < seen[-1][1] - 1e-9 * max(1.0, abs(value)):
            seen.append((time.perf_counter() if now is None else now, float(value)))

    def due(self, now: float | None = None) -> bool:
        """Whether the stall (or, without a point, the patience) has run out."""
        now = time.perf_counter() if now is None else now
        if self.seen:
            return now - self.seen[-1][0] >= self.stall
        return now - self.t_start >= self.patience


def clip_window(
    col_lb: np.ndarray, col_ub: np.ndarray, lb: np.ndarray, ub: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Intersect ``[lb, ub]`` with the original box ``[col_lb, col_ub]``, never leaving the box.

    A window outside the box collapses to the nearest box end (a value to fix
    above ``col_ub`` fixes the column at ``col_ub``), so a temporary bound
    change can make a sub-MIP smaller but never admits a point the original
    model forbids.
    """
    lo = np.clip(np.asarray(lb, dtype=np.float64), col_lb, col_ub)
    hi = np.clip(np.asarray(ub, dtype=np.float64), col_lb, col_ub)
    return lo, np.maximum(hi, lo)


def to_minimisation(lf: LinearForm) -> LinearForm:
    """The same model as a minimisation (costs and offset negated for ``max``).

    The input is not modified; names and blocks are kept.
    """
    if lf.sense == "min":
        return lf
    return LinearForm(
        c=-np.asarray(lf.c, dtype=np.float64),
        A=lf.A,
        row_lb=lf.row_lb,
        row_ub=lf.row_ub,
        col_lb=lf.col_lb,
        col_ub=lf.col_ub,
        integrality=lf.integrality,
        sense="min",
        offset=-float(lf.offset),
        Q=lf.Q,
        columns=lf.columns,
        rows=lf.rows,
        name=lf.name,
        warnings=list(lf.warnings),
    )
