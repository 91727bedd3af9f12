"""Destroy operators for Balans: each turns the incumbent into a :class:`Neighbourhood`.

A destroy operator only *describes* a sub-MIP (which integer columns are
fixed, which get a bound window, which temporary rows or objective apply);
the repair step (:mod:`solvers.balans.engine`) applies it through the MIP
adapter, solves it with a time limit and undoes it.  Every random choice
uses the generator passed in, and every subset is sampled without
replacement (the reference implementation samples RINS/RENS with
replacement and draws its random objective from Python's global
``random``).

By default only integer columns are fixed: continuous columns stay free in
every sub-MIP (the reference fixes them too, which makes most neighbourhoods
nearly trivial on mixed problems); ``fix_continuous=True`` in the
:class:`SearchContext` fixes them as the reference does.  Every integer
column an operator does not free (binary and general integer alike) is
fixed to its rounded incumbent value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from solvers.balans.adapter import MipAdapter, TempRow
from workbench.compile.linear_form import LinearForm
from workbench.errors import OptionsError

__all__ = [
    "Crossover",
    "DestroyOperator",
    "Dins",
    "LocalBranching",
    "Mutation",
    "Neighbourhood",
    "Proximity",
    "RandomObjective",
    "Rens",
    "Rins",
    "SearchContext",
    "make_operator",
]

Requirement = Literal["discrete", "binary", "general"]
_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=np.float64)
_TOL = 1e-6


@dataclass
class SearchContext:
    """What operators may read about the instance (built once per solve).

    Attributes
    ----------
    lf
        The model in minimisation form.
    x_lp
        The LP relaxation's solution, or ``None`` when it was not solved (in
        its time limit): the arms that need it (``needs_lp``) are dropped.
    adapter
        The MIP adapter (used by Crossover's random-feasible solve).
    crossover_time
        Seconds allowed for Crossover's random-feasible solve (already capped
        by the remaining budget by the caller, through :attr:`remaining`).
    remaining
        A callable giving the seconds left in the budget.
    fix_continuous
        Also fix the continuous columns to their incumbent values wherever
        the integer columns are fixed (the reference's behaviour).
    big_m
        The cost of Proximity's cutoff slack (the reference's ``big_m``);
        ``None`` makes the cutoff a hard row.
    size_factor
        Per arm name, a multiplier on the arm's destroy fraction δ (our
        adaptive-neighbourhood extension, see :meth:`adapt`); absent means 1.
    """

    lf: LinearForm
    x_lp: np.ndarray | None
    adapter: MipAdapter | None = None
    crossover_time: float = 20.0
    remaining: object = None
    fix_continuous: bool = False
    big_m: float | None = 1000.0
    size_factor: dict[str, float] = field(default_factory=dict)
    discrete: np.ndarray = field(init=False)
    binary: np.ndarray = field(init=False)
    general: np.ndarray = field(init=False)
    continuous: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        integ = np.asarray(self.lf.integrality, dtype=bool)
        is_bin = integ & (self.lf.col_lb >= 0) & (self.lf.col_ub <= 1)
        self.discrete = np.flatnonzero(integ)
        self.binary = np.flatnonzero(is_bin)
        self.general = np.flatnonzero(integ & ~is_bin)
        self.continuous = np.flatnonzero(~integ)

    def has(self, need: Requirement) -> bool:
        """Whether the instance has the columns an operator needs."""
        return bool(
            {"discrete": self.discrete, "binary": self.binary, "general": self.general}[need].size
        )

    def effective(self, name: str, delta: float) -> float:
        """The destroy fraction arm *name* uses now: ``delta * size_factor``, in [0.01, 1]."""
        return float(min(1.0, max(0.01, delta * self.size_factor.get(name, 1.0))))

    def adapt(self, name: str, factor: float, *, base: float) -> float:
        """Multiply arm *name*'s size factor by *factor* (our extension, not in the paper).

        The factor is kept where the effective fraction ``base * size_factor``
        stays in [0.01, 1]; returns the new effective fraction.
        """
        f = self.size_factor.get(name, 1.0) * factor
        f = min(1.0 / base, max(0.01 / base, f))
        self.size_factor[name] = f
        return self.effective(name, base)

    def time_left(self) -> float:
        """Seconds left (infinite when no clock was given)."""
        return math.inf if self.remaining is None else float(self.remaining())  # type: ignore[operator]


@dataclass
class Neighbourhood:
    """A sub-MIP around the incumbent, as a destroy operator describes it.

    Attributes
    ----------
    fix_cols, fix_values
        Integer columns fixed to incumbent values.
    bound_cols, bound_lb, bound_ub
        Columns restricted to a window.
    rows
        Temporary rows.
    objective
        A replacement cost vector (minimisation), or ``None``.
    long
        Use the (longer) local-branching time limit.
    start_ok
        The incumbent is feasible for the sub-MIP (pass it as a start).
    solution_limit
        Stop the sub-MIP after this many improving solutions.
    skip
        Nothing was destroyed: the repair step keeps the incumbent.
    """

    fix_cols: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    fix_values: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    bound_cols: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    bound_lb: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    bound_ub: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    rows: tuple[TempRow, ...] = ()
    objective: np.ndarray | None = None
    long: bool = False
    start_ok: bool = True
    solution_limit: int | None = None
    skip: bool = False

    @property
    def restricted(self) -> bool:
        """Whether this is a strict restriction of the original MIP (or another objective)."""
        return bool(
            self.fix_cols.size or self.bound_cols.size or self.rows or self.objective is not None
        )

    def apply(self, adapter: MipAdapter) -> None:
        """Make the temporary changes on *adapter* (the caller undoes them)."""
        adapter.fix(self.fix_cols, self.fix_values)
        adapter.set_bounds(self.bound_cols, self.bound_lb, self.bound_ub)
        for row in self.rows:
            adapter.add_row(row)
        if self.objective is not None:
            adapter.set_objective(self.objective)


def _delta(name: str, delta: float) -> float:
    if not (isinstance(delta, int | float) and 0.0 < float(delta) <= 1.0):
        raise OptionsError(f"{name}: delta must be in (0, 1], got {delta!r}")
    return float(delta)


def _fix_rest(
    x: np.ndarray, cols: np.ndarray, free: np.ndarray, ctx: SearchContext | None = None
) -> Neighbourhood:
    """Fix every column of *cols* not in *free* to its rounded incumbent value.

    With ``ctx.fix_continuous`` the continuous columns are fixed too, at
    their (unrounded) incumbent values.
    """
    fixed = np.setdiff1d(cols, free, assume_unique=False)
    values = np.round(x[fixed])
    if ctx is not None and ctx.fix_continuous and ctx.continuous.size:
        cont = np.setdiff1d(ctx.continuous, free, assume_unique=False)
        order = np.argsort(np.concatenate([fixed, cont]), kind="stable")
        fixed = np.concatenate([fixed, cont])[order]
        values = np.concatenate([values, np.asarray(x[cont], dtype=np.float64)])[order]
    return Neighbourhood(fix_cols=fixed, fix_values=values)


def _sample(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    """*k* distinct members of *pool* (sorted), drawn without replacement."""
    if k <= 0 or pool.size == 0:
        return _EMPTY_I
    return np.sort(rng.choice(pool, size=min(k, pool.size), replace=False))


class DestroyOperator:
    """Base class: ``destroy(x, objective, rng, ctx) -> Neighbourhood``.

    Attributes
    ----------
    name
        The arm name (``mutation_25``), unique within a configuration.
    requires
        ``"discrete"``, ``"binary"`` or ``"general"``: dropped when the
        instance has no such columns.
    needs_lp
        Reads the LP relaxation's solution: dropped when there is none.
    resizable
        Its neighbourhood size is ``delta`` scaled by ``ctx.size_factor`` (the
        adaptive-size extension may grow or shrink it).
    delta
        The destroy fraction (Mutation, RINS, RENS, DINS, Local Branching).
    """

    name: str = "destroy"
    requires: ClassVar[Requirement] = "discrete"
    needs_lp: ClassVar[bool] = False
    resizable: ClassVar[bool] = False
    delta: float = 1.0

    def destroy(
        self, x: np.ndarray, objective: float, rng: np.random.Generator, ctx: SearchContext
    ) -> Neighbourhood:
        """Describe the sub-MIP around incumbent *x* (objective in minimisation form)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Mutation(DestroyOperator):
    """Free a random fraction δ of the integer columns; fix the others."""

    resizable: ClassVar[bool] = True

    def __init__(self, delta: float) -> None:
        self.delta = _delta("Mutation", delta)
        self.name = f"mutation_{round(self.delta * 100):02d}"

    def destroy(self, x, objective, rng, ctx):  # noqa: D102
        pool = ctx.discrete
        free = _sample(rng, pool, int(ctx.effective(self.name, self.delta) * pool.size))
        if free.size == 0:
            return Neighbourhood(skip=True)
        return _fix_rest(x, pool, free, ctx)


class Rins(DestroyOperator):
    """Fix integer columns where incumbent and LP agree; free a fraction δ of the others."""

    needs_lp: ClassVar[bool] = True
    resizable: ClassVar[bool] = True

    def __init__(self, delta: float) -> None:
        self.delta = _delta("RINS", delta)
        self.name = f"rins_{round(self.delta * 100):02d}"

    def destroy(self, x, objective, rng, ctx):  # noqa: D102
        pool = ctx.discrete
        differ = pool[np.abs(ctx.x_lp[pool] - x[pool]) > _TOL]
        free = _sample(rng, differ, int(ctx.effective(self.name, self.delta) * differ.size))
        if free.size == 0:
            return Neighbourhood(skip=True)
        return _fix_rest(x, pool, free, ctx)


class Rens(DestroyOperator):
    """Restrict a fraction δ of the LP-fractional columns to floor/ceil of the LP value; fix the rest."""

    needs_lp: ClassVar[bool] = True
    resizable: ClassVar[bool] = True

    def __init__(self, delta: float) -> None:
        self.delta = _delta("RENS", delta)
        self.name = f"rens_{round(self.delta * 100):02d}"

    def destroy(self, x, objective, rng, ctx):  # noqa: D102
        pool = ctx.discrete
        lp = ctx.x_lp[pool]
        frac = pool[np.abs(lp - np.round(lp)) > _TOL]
        free = _sample(rng, frac, int(ctx.effective(self.name, self.delta) * frac.size))
        if free.size == 0:
            return Neighbourhood(skip=True)
        nb = _fix_rest(x, pool, free, ctx)
        nb.bound_cols = free
        nb.bound_lb = np.floor(ctx.x_lp[free])
        nb.bound_ub = np.ceil(ctx.x_lp[free])
        nb.start_ok = False
        return nb


class Dins(DestroyOperator):
    """General integers far (≥ 0.5) from the LP get the window ``|x - x_lp| <= |x_inc - x_lp|``.

    A fraction δ of those columns is opened (all of them by default); every
    other integer column is fixed.
    """

    requires: ClassVar[Requirement] = "general"
    needs_lp: ClassVar[bool] = True
    resizable: ClassVar[bool] = True

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = _delta("DINS", delta)
        self.name = "dins" if self.delta == 1.0 else f"dins_{round(self.delta * 100):02d}"

    def destroy(self, x, objective, rng, ctx):  # noqa: D102
        gen = ctx.general
        far = gen[np.abs(ctx.x_lp[gen] - x[gen]) >= 0.5]
        free = _sample(rng, far, math.ceil(ctx.effective(self.name, self.delta) * far.size))
        if free.size == 0:
            return Neighbourhood(skip=True)
        nb = _fix_rest(x, ctx.discrete, free, ctx)
        d = np.abs(np.round(x[free]) - ctx.x_lp[free])
        nb.bound_cols = free
        nb.bound_lb = np.maximum(np.ceil(ctx.x_lp[free] - d - _TOL), ctx.lf.col_lb[free])
        nb.bound_ub = np.minimum(np.floor(ctx.x_lp[free] + d + _TOL), ctx.lf.col_ub[free])
        return nb


class LocalBranching(DestroyOperator):
    """Allow at most k binary flips, k drawn in ``[0.05 |B|, δ |B|]``."""

    requires: ClassVar[Requirement] = "binary"
    resizable: ClassVar[bool] = True

    def __init__(self, delta: float) -> None:
        self.delta = _delta("Local Branching", delta)
        self.name = f"local_branching_{round(self.delta * 100):02d}"

    def destroy(self, x, objective, rng, ctx):  # noqa: D102
        b = ctx.binary
        hi = int(ctx.effective(self.name, self.delta) * b.size)
        k = int(rng.integers(min(int(0.05 * b.size), hi), hi + 1))
        ones = np.round(x[b]) >= 0.5
        coefs = np.where(ones, -1.0, 1.0)
        row = TempRow(cols=b, coefs=coefs, lb=-math.inf, ub=float(k - int(ones.sum())))
        return Neighbourhood(rows=(row,), long=True)


class Proximity(DestroyOperator):
    """Minimise the Hamming distance to the incumbent's binaries under an objective cutoff.

    The cutoff row is ``f(x) <= f(x_inc) - δ |f(x_inc)| + s`` with a slack
    ``s >= 0`` that costs ``ctx.big_m`` in the Hamming objective, as in the
    reference: the sub-MIP stays feasible even when no point meets the
    cutoff (then it returns the point nearest to the cutoff, which the
    acceptance criterion judges by its true objective).  With
    ``ctx.big_m=None`` the cutoff is a hard row and an infeasible cutoff
    keeps the incumbent.
    """

    requires: ClassVar[Requirement] = "binary"

    def __init__(self, delta: float) -> None:
        self.delta = _delta("Proximity", delta)
        self.name = f"proximity_{self.delta:g}"

    def destroy(self, x, objective, rng, ctx):  # noqa: D102
        lf = ctx.lf
        b = ctx.binary
        ones = np.round(x[b]) >= 0.5
        cost = np.zeros(lf.num_cols)
        cost[b] = np.where(ones, -1.0, 1.0)
        nz = np.flatnonzero(lf.c)
        cutoff = objective - self.delta * abs(objective) - float(lf.offset)
        if cutoff >= objective - float(lf.offset):  # objective 0: tighten by a hair
            cutoff = objective - float(lf.offset) - 1e-6
        row = TempRow(
            cols=nz, coefs=np.asarray(lf.c)[nz], lb=-math.inf, ub=cutoff, slack_cost=ctx.big_m
        )
        return Neighbourhood(rows=(row,), objective=cost, start_ok=False)


def _random_cost(rng: np.random.Generator, n: int) -> np.ndarray:
    c = rng.uniform(-1.0, 1.0, size=n)
    norm = float(np.linalg.norm(c))
    return c / norm if norm > 0 else c


class Crossover(DestroyOperator):
    """Find a random feasible point (random objective, first solution); free where it differs."""

    def __init__(self) -> None:
        self.name = "crossover"

    def destroy(self, x, objective, rng, ctx):  # noqa: D102
        cost = _random_cost(rng, ctx.lf.num_cols)
        t = min(ctx.crossover_time, ctx.time_left())
        if ctx.adapter is None or t <= 0:
            return Neighbourhood(skip=True)
        ctx.adapter.set_objective(cost)
        try:
            other = ctx.adapter.solve(t, solution_limit=1, feasibility=True)
        finally:
            ctx.adapter.undo()
        if other.x is None:
            return Neighbourhood(skip=True)
        pool = ctx.discrete
        free = pool[np.abs(np.round(other.x[pool]) - np.round(x[pool])) > 0.5]
        if free.size == 0:
            return Neighbourhood(skip=True)
        return _fix_rest(x, pool, free, ctx)


class RandomObjective(DestroyOperator):
    """Re-solve the whole MIP under a random objective (uniform in [-1, 1], normalised)."""

    def __init__(self, solution_limit: int | None = None) -> None:
        self.name = "random_objective"
        self.solution_limit = solution_limit

    def destroy(self, x, objective, rng, ctx):  # noqa: D102
        cost = _random_cost(rng, ctx.lf.num_cols)
        return Neighbourhood(objective=cost, solution_limit=self.solution_limit)


_PATTERN = re.compile(r"^(mutation|rins|rens|dins|local_branching|proximity)_([0-9]*\.?[0-9]+)$")
_PERCENT = {
    "mutation": Mutation,
    "rins": Rins,
    "rens": Rens,
    "dins": Dins,
    "local_branching": LocalBranching,
}
ARM_HELP = (
    "crossover, dins, random_objective, mutation_<pct>, rins_<pct>, rens_<pct>, dins_<pct>,"
    " local_branching_<pct>, proximity_<fraction> (e.g. mutation_25, proximity_0.005)"
)


def make_operator(name: str) -> DestroyOperator:
    """Build an operator from its arm name (``mutation_25``, ``proximity_0.015``, ``crossover``).

    Raises
    ------
    OptionsError
        For an unknown name or a δ out of range.
    """
    if name == "crossover":
        return Crossover()
    if name == "dins":
        return Dins()
    if name == "random_objective":
        return RandomObjective()
    m = _PATTERN.match(name) if isinstance(name, str) else None
    if m is None:
        raise OptionsError(f"unknown Balans arm {name!r}; known: {ARM_HELP}")
    kind, num = m.group(1), float(m.group(2))
    if kind == "proximity":
        return Proximity(num)
    return _PERCENT[kind](num / 100.0)
