"""Typed Balans settings: arms, acceptance, bandit, time splits and the published presets.

Acceptance criteria come from ``alns.accept``; bandits are ``mabwiser``
learning policies behind ``alns.select.MABSelector``.  Each is a small
frozen dataclass that validates itself and builds the library object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from workbench.errors import OptionsError

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "Acceptance",
    "BalansSettings",
    "Bandit",
    "TimeSplits",
    "settings_from_options",
]

IJCAI25_ARMS = (
    "crossover",
    "mutation_25", "mutation_50", "mutation_75",
    "local_branching_10", "local_branching_25", "local_branching_50",
    "proximity_0.005", "proximity_0.015", "proximity_0.03",
    "rens_25", "rens_50", "rens_75",
    "rins_25", "rins_50", "rins_75",
)  # fmt: skip
BALANS22_ARMS = (
    "crossover", "mutation_50", "rins_40", "rens_40", "rens_50", "proximity_0.005",
    "local_branching_10", "local_branching_20", "local_branching_30", "local_branching_50",
)  # fmt: skip


def _positive(owner: str, name: str, v: Any, *, allow_zero: bool = False) -> None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    if not ok or v < 0 or (v == 0 and not allow_zero):
        raise OptionsError(f"{owner}: {name} must be a positive number, got {v!r}")


@dataclass(frozen=True)
class TimeSplits:
    """Seconds per phase; each is also capped by what is left of the budget.

    Attributes
    ----------
    first_solution
        The first-incumbent solve (the reference's 20 s).
    iteration
        One sub-MIP repair.
    local_branching
        One Local Branching repair (the paper: 2.5x an iteration).
    crossover
        Crossover's random-feasible solve.
    lp
        The LP relaxation at the start (the reference has no limit; a
        relaxation not solved in time is skipped together with the arms that
        need it: RINS, RENS, DINS).
    """

    first_solution: float = 20.0
    iteration: float = 60.0
    local_branching: float = 150.0
    crossover: float = 20.0
    lp: float = 20.0

    def __post_init__(self) -> None:
        for f in fields(self):
            _positive("TimeSplits", f.name, getattr(self, f.name))

    def scaled(self, factor: float) -> TimeSplits:
        """Every split multiplied by *factor* (to fit a shorter budget)."""
        _positive("TimeSplits.scaled", "factor", factor)
        return TimeSplits(*(getattr(self, f.name) * factor for f in fields(self)))


@dataclass(frozen=True)
class Acceptance:
    """Hill climbing, or simulated annealing from ``start`` down to ``end`` by ``step``."""

    kind: Literal["hill_climbing", "simulated_annealing"] = "hill_climbing"
    start: float = 20.0
    end: float = 1.0
    step: float = 0.1
    method: Literal["linear", "exponential"] = "linear"

    def __post_init__(self) -> None:
        if self.kind not in ("hill_climbing", "simulated_annealing"):
            raise OptionsError(
                f"accept must be 'hill_climbing' or 'simulated_annealing', got {self.kind!r}"
            )
        if self.method not in ("linear", "exponential"):
            raise OptionsError(f"sa_method must be 'linear' or 'exponential', got {self.method!r}")
        if self.kind == "simulated_annealing":
            _positive("simulated annealing", "sa_start", self.start)
            _positive("simulated annealing", "sa_end", self.end)
            _positive("simulated annealing", "sa_step", self.step, allow_zero=True)
            if self.end > self.start:
                raise OptionsError(
                    f"sa_end ({self.end!r}) must not exceed sa_start ({self.start!r})"
                )

    def build(self) -> Any:
        """The ``alns.accept`` criterion."""
        from alns.accept import HillClimbing, SimulatedAnnealing

        if self.kind == "hill_climbing":
            return HillClimbing()
        return SimulatedAnnealing(self.start, self.end, self.step, method=self.method)


@dataclass(frozen=True)
class Bandit:
    """A ``mabwiser`` policy with the four ALNS reward scores (best, better, accepted, rejected)."""

    policy: Literal["thompson", "softmax", "epsilon_greedy"] = "softmax"
    scores: tuple[float, float, float, float] = (8.0, 4.0, 2.0, 1.0)
    tau: float = 1.359686
    epsilon: float = 0.15

    def __post_init__(self) -> None:
        if self.policy not in ("thompson", "softmax", "epsilon_greedy"):
            raise OptionsError(
                f"bandit must be 'thompson', 'softmax' or 'epsilon_greedy', got {self.policy!r}"
            )
        sc = tuple(self.scores)
        if len(sc) != 4 or any(
            not isinstance(s, int | float) or isinstance(s, bool) or s < 0 for s in sc
        ):
            raise OptionsError(f"scores must be four non-negative numbers, got {self.scores!r}")
        if self.policy == "thompson" and any(s not in (0, 1) for s in sc):
            raise OptionsError(f"Thompson sampling needs 0/1 scores, got {self.scores!r}")
        _positive("softmax", "tau", self.tau)
        if not (0.0 <= self.epsilon <= 1.0):
            raise OptionsError(f"epsilon must be in [0, 1], got {self.epsilon!r}")

    def build(self, num_destroy: int, seed: int, *, optimistic: bool = False) -> Any:
        """An ``alns.select.MABSelector`` over *num_destroy* arms and one repair.

        With *optimistic* every arm starts with one observation of the top
        score (see :attr:`BalansSettings.optimistic_bandit`).
        """
        from alns.select import MABSelector
        from mabwiser.mab import LearningPolicy

        policy = {
            "thompson": lambda: LearningPolicy.ThompsonSampling(),
            "softmax": lambda: LearningPolicy.Softmax(tau=self.tau),
            "epsilon_greedy": lambda: LearningPolicy.EpsilonGreedy(epsilon=self.epsilon),
        }[self.policy]()
        select = MABSelector(
            scores=[float(s) for s in self.scores],
            num_destroy=num_destroy,
            num_repair=1,
            learning_policy=policy,
            seed=int(seed),
        )
        if optimistic:
            arms = [f"{d}_0" for d in range(num_destroy)]  # alns's "destroy_repair" arm names
            select.mab.partial_fit(arms, [float(max(self.scores))] * num_destroy)
        return select


@dataclass(frozen=True)
class BalansSettings:
    """Everything a Balans run takes besides the model, time limit and seed.

    Attributes
    ----------
    arms
        Destroy-operator names (see :func:`solvers.balans.operators.make_operator`).
    acceptance, bandit, times
        The strategies and time splits.
    mip_solver
        ``"highs"`` or ``"scip"`` (pyscipopt).
    first_solution_limit
        Stop the first solve after this many improving solutions (default 1:
        ALNS starts from the first feasible point, as the paper describes;
        ``None``: run it for its whole time split, as the ``balans`` package
        does).  The first solve always uses the solver's feasibility emphasis
        (SCIP), as the reference does.
    sub_mip_gap
        Relative gap at which a repair sub-MIP stops (default 1e-4, HiGHS's
        default; ``None`` keeps each solver's own: 1e-4 HiGHS, 0 SCIP).
    objective_cutoff
        Give each repair sub-MIP that keeps the original objective the
        current objective as a cutoff (HiGHS ``objective_bound``, SCIP
        ``setObjlimit``), so that it stops once it proves it cannot improve.
        It is used where a worse point could not be accepted anyway: when the
        incumbent is a start of the sub-MIP, or under hill climbing.
    max_iterations, stall_iterations
        Optional ALNS stops: total iterations; iterations without a new best.
    final_solve
        When ALNS stops before the budget, spend the rest on an exact solve
        warm-started with the incumbent (can prove optimality).
    default_budget
        Seconds used when the caller gives no time limit.
    big_m
        Cost of Proximity's cutoff slack (the reference's ``big_m``, 1000);
        ``None`` makes the cutoff a hard constraint.
    fix_continuous
        Fix continuous columns at their incumbent values in the sub-MIPs, as
        the reference does (default ``False``: only integer columns are fixed).
    adaptive_size
        Our extension (not in the paper or the package): each resizable arm's
        destroy fraction (Mutation, RINS, RENS, DINS, Local Branching) is
        multiplied by ``size_step`` when its sub-MIP is solved to optimality
        (or proven to hold nothing better) without improving the incumbent --
        the neighbourhood was too small -- and divided by it when the sub-MIP
        hits its time limit without improving -- too large.  The fraction
        stays in [0.01, 1].
    size_step
        The factor of ``adaptive_size`` (> 1).
    first_stall
        Our extension (not in the paper or the package): a fraction of the
        budget.  The first solve then also stops once it has a point and has
        found no improving one for ``first_stall * budget`` seconds (besides
        its time split and ``first_solution_limit``), so that the MIP solver
        keeps searching the whole MIP while it still improves quickly and
        ALNS takes over when it stalls (HiGHS: its MIP callbacks; SCIP: an
        event handler that calls ``interruptSolve``).  ``None``: off.
    first_emphasis
        Our extension (not in the paper or the package), SCIP only:
        ``"feasibility"`` (the reference) runs the first solve under SCIP's
        feasibility emphasis; ``"default"`` runs it as plain SCIP (which keeps
        improving much faster once it has a point, e.g. gmu-35-40 and
        graphdraw-domain), and with ``first_stall`` it is also interrupted
        when it has found no point within the stall window, after which a
        feasibility-emphasis solve, watched the same way, looks for one (for
        instances such as csched007 where plain SCIP finds nothing in 60 s).
    optimistic_bandit
        Our extension (not in the paper or the package): before the first
        iteration every arm gets one pseudo-observation of the top score
        (``scores[0]``), the optimistic initial values of Sutton and Barto
        (2018, section 2.6).  The package's Softmax starts every arm at 0, so
        with tens of iterations the first arm that finds a new best is chosen
        almost always and most arms are never tried; with the prior an
        untried arm looks as good as one that just found a new best.
    """

    arms: tuple[str, ...] = BALANS22_ARMS
    acceptance: Acceptance = field(default_factory=Acceptance)
    bandit: Bandit = field(default_factory=Bandit)
    times: TimeSplits = field(default_factory=lambda: TimeSplits(10.0, 12.0, 15.0, 6.0, 10.0))
    mip_solver: Literal["highs", "scip"] = "highs"
    first_solution_limit: int | None = 1
    sub_mip_gap: float | None = 1e-4
    objective_cutoff: bool = True
    max_iterations: int | None = None
    stall_iterations: int | None = None
    final_solve: bool = False
    default_budget: float = 60.0
    big_m: float | None = 1000.0
    fix_continuous: bool = False
    adaptive_size: bool = False
    size_step: float = 1.5
    first_stall: float | None = None
    first_emphasis: Literal["feasibility", "default"] = "feasibility"
    optimistic_bandit: bool = False

    def __post_init__(self) -> None:
        from solvers.balans.operators import make_operator

        if not self.arms:
            raise OptionsError("arms must name at least one destroy operator")
        names = [make_operator(a).name for a in self.arms]
        if len(set(names)) != len(names):
            raise OptionsError(f"arms must be distinct, got {list(self.arms)!r}")
        if self.mip_solver not in ("highs", "scip"):
            raise OptionsError(f"mip_solver must be 'highs' or 'scip', got {self.mip_solver!r}")
        for name in ("first_solution_limit", "max_iterations", "stall_iterations"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise OptionsError(f"{name} must be a positive integer or None, got {v!r}")
        _positive("Balans", "default_budget", self.default_budget)
        if self.big_m is not None:
            _positive("Balans", "big_m", self.big_m)
        if self.sub_mip_gap is not None:
            _positive("Balans", "sub_mip_gap", self.sub_mip_gap, allow_zero=True)
        _positive("Balans", "size_step", self.size_step)
        if self.size_step <= 1.0:
            raise OptionsError(f"size_step must be greater than 1, got {self.size_step!r}")
        if self.first_stall is not None:
            v = self.first_stall
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or not 0 < v <= 1:
                raise OptionsError(
                    f"first_stall must be a fraction of the budget in (0, 1] or None, got {v!r}"
                )
        if self.first_emphasis not in ("feasibility", "default"):
            raise OptionsError(
                f"first_emphasis must be 'feasibility' or 'default', got {self.first_emphasis!r}"
            )
        if self.first_emphasis == "default" and self.mip_solver != "scip":
            raise OptionsError(
                "first_emphasis='default' is for mip_solver='scip' (HiGHS has no emphasis "
                "setting); fix: drop first_emphasis or use mip_solver='scip'"
            )
        for name in (
            "final_solve", "fix_continuous", "objective_cutoff", "adaptive_size",
            "optimistic_bandit",
        ):  # fmt: skip
            if not isinstance(getattr(self, name), bool):
                raise OptionsError(f"{name} must be True or False, got {getattr(self, name)!r}")


PRESETS: dict[str, BalansSettings] = {
    "ijcai25": BalansSettings(
        arms=IJCAI25_ARMS,
        acceptance=Acceptance("simulated_annealing", 20.0, 1.0, 0.1, "linear"),
        bandit=Bandit("thompson", (1.0, 1.0, 0.0, 0.0)),
        times=TimeSplits(20.0, 60.0, 150.0, 20.0, 20.0),
        default_budget=3600.0,
    ),
    "balans22": BalansSettings(),
}
PRESETS["balans22_highs"] = replace(
    PRESETS["balans22"],
    times=replace(PRESETS["balans22"].times, first_solution=60.0),
    first_solution_limit=None,
    first_stall=0.125,
    adaptive_size=True,
)
PRESETS["balans22_scip"] = replace(
    PRESETS["balans22_highs"], mip_solver="scip", first_emphasis="default"
)
"""The published configurations, and our defaults for the HiGHS and SCIP paths.

``ijcai25``: the paper's MIPLIB setting (16 arms, simulated annealing 20 -> 1
by 0.1, Thompson sampling with scores [1, 1, 0, 0], 20/60/150/20 s splits).
``balans22``: the ``balans`` 2.2 package's ``configs/default.json`` (10 arms,
Softmax tau=1.359686 with scores [8, 4, 2, 1], hill climbing, 10 s first
solution, 12 s per iteration, 15 s per Local Branching iteration, 6 s
Crossover, big-M 1000, a 60 s budget).  Both add what the package lacks: a
time limit on the LP relaxation (the first-solution split), a first solve
that stops at the first feasible point, an objective cutoff and a 1e-4 gap
limit on the repair sub-MIPs.
``balans22_highs`` (the default when ``mip_solver="highs"``): ``balans22``
with two of our extensions.  The first solve is plain HiGHS on the whole
MIP that stops once it has gone 1/8 of the budget without an improving
solution (:attr:`BalansSettings.first_stall`; its split is the whole 60 s
default budget, no solution-count limit): HiGHS alone improves fast on many
instances right after its first points, and ALNS sub-MIPs that start too
early lose that.  And the adaptive neighbourhood size
(:attr:`BalansSettings.adaptive_size`).
``balans22_scip`` (the default when ``mip_solver="scip"``): ``balans22_highs``
on SCIP, with the first solve run as plain SCIP
(:attr:`BalansSettings.first_emphasis` ``"default"``), watched by an event
handler that records improving points and a clock thread that interrupts the
solve (SCIP's node and LP events do not fire during a long root phase, as on
lotsize); when plain SCIP finds no point within the stall window, a
feasibility-emphasis solve (the reference's) takes over, watched the same way.
Our extensions, not the package's behaviour: ``preset="balans22"`` is the
package's configuration.
"""

DEFAULT_PRESET = {"highs": "balans22_highs", "scip": "balans22_scip"}
"""The preset used when ``preset`` is not given, per ``mip_solver``."""

_SIMPLE = {
    "arms": "arms",
    "mip_solver": "mip_solver",
    "first_solution_limit": "first_solution_limit",
    "sub_mip_gap": "sub_mip_gap",
    "objective_cutoff": "objective_cutoff",
    "max_iterations": "max_iterations",
    "stall_iterations": "stall_iterations",
    "final_solve": "final_solve",
    "default_budget": "default_budget",
    "big_m": "big_m",
    "fix_continuous": "fix_continuous",
    "adaptive_size": "adaptive_size",
    "size_step": "size_step",
    "first_stall": "first_stall",
    "first_emphasis": "first_emphasis",
    "optimistic_bandit": "optimistic_bandit",
}
_ACCEPT = {
    "accept": "kind",
    "sa_start": "start",
    "sa_end": "end",
    "sa_step": "step",
    "sa_method": "method",
}
_BANDIT = {"bandit": "policy", "scores": "scores", "tau": "tau", "epsilon": "epsilon"}
_TIMES = {
    "time_first_solution": "first_solution",
    "time_iteration": "iteration",
    "time_local_branching": "local_branching",
    "time_crossover": "crossover",
    "time_lp": "lp",
}
KNOWN_OPTIONS = ("preset", *_SIMPLE, *_ACCEPT, *_BANDIT, *_TIMES)


def settings_from_options(extra: dict[str, Any]) -> BalansSettings:
    """Build :class:`BalansSettings` from ``solve(..., **options)`` keywords.

    ``preset`` (``"balans22"``, ``"balans22_highs"``, ``"balans22_scip"`` or
    ``"ijcai25"``;
    default :data:`DEFAULT_PRESET` for the chosen ``mip_solver``, itself
    ``"highs"`` by default) gives the base; the other keys override single
    fields.

    Raises
    ------
    OptionsError
        For an unknown key (with close names) or a bad value.
    """
    import difflib

    for key in extra:
        if key not in KNOWN_OPTIONS:
            close = difflib.get_close_matches(key, KNOWN_OPTIONS, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise OptionsError(f"unknown balans option {key!r}{hint}")
    solver = extra.get("mip_solver", "highs")
    fallback = DEFAULT_PRESET.get(solver, "balans22") if isinstance(solver, str) else "balans22"
    preset = extra.get("preset", fallback)
    if preset not in PRESETS:
        raise OptionsError(f"unknown balans preset {preset!r}; known: {sorted(PRESETS)}")
    s = PRESETS[preset]
    try:
        acc = replace(s.acceptance, **{_ACCEPT[k]: v for k, v in extra.items() if k in _ACCEPT})
        bandit_kw = {_BANDIT[k]: v for k, v in extra.items() if k in _BANDIT}
        if "scores" in bandit_kw:
            bandit_kw["scores"] = tuple(bandit_kw["scores"])
        ban = replace(s.bandit, **bandit_kw)
        times = replace(s.times, **{_TIMES[k]: v for k, v in extra.items() if k in _TIMES})
        simple = {_SIMPLE[k]: v for k, v in extra.items() if k in _SIMPLE}
        if "arms" in simple:
            if isinstance(simple["arms"], str):
                raise OptionsError(f"arms must be a list of names, got {simple['arms']!r}")
            simple["arms"] = tuple(simple["arms"])
        return replace(s, acceptance=acc, bandit=ban, times=times, **simple)
    except TypeError as e:
        raise OptionsError(f"bad balans option: {e}") from e
