"""The outcome of evaluating a first stage, shared by the evaluation methods."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["RobustEvaluation", "bounds_met"]


@dataclass
class RobustEvaluation:
    """The worst case of a fixed first-stage decision.

    Attributes
    ----------
    objective
        ``max_xi min_y f`` in the model's own sense (first-stage cost included):
        the exact value when ``exact``; otherwise the conservative bound when one
        is known (``enumeration``/``kkt`` stopped early) or the sampled lower bound
        (``sampling``).  ``inf`` (``-inf`` when maximising) if some scenario leaves
        no feasible recourse or ``x`` breaks a first-stage constraint.
    worst_scenario
        The uncertain values of the worst case found.
    recourse_values
        The best recourse at that scenario.
    iterations
        Adversarial iterations (recourse solves).
    exact
        Whether ``objective`` is proven (bounds met within the tolerance).
    method
        ``kkt``, ``enumeration`` or ``sampling``.
    lower_bound, upper_bound
        Bounds on the worst case, in the internal minimising sense.
    feasible
        False when ``x`` is infeasible for some scenario (or a first-stage row).
    message
        What happened, in words.
    cut_off
        The evaluation stopped early because the worst case was proven no
        better than the caller's ``cutoff`` (``lower_bound`` proves it).
    """

    objective: float
    worst_scenario: dict[str, Any]
    recourse_values: dict[str, Any]
    iterations: int
    exact: bool
    method: str
    lower_bound: float = -math.inf
    upper_bound: float = math.inf
    feasible: bool = True
    message: str = ""
    seconds: float = 0.0
    xi: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    cut_off: bool = False


def bounds_met(lb: float, ub: float, tol: float) -> bool:
    """Whether finite bounds meet within the relative tolerance *tol*."""
    return math.isfinite(ub) and math.isfinite(lb) and ub - lb <= tol * max(1.0, abs(ub))
