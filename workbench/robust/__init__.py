"""Two-stage robust models: structure, checks and the exact evaluation of a first-stage decision.

A two-stage robust model (IR ``robust:`` section) reads::

    min_x  max_{xi in U}  min_{y in Y(x, xi)}  f(x, xi, y)

This package is the core that every robust backend shares (``ccg``,
``neur2ro``):

- :func:`robust_structure` splits a model into first-stage, uncertain and
  second-stage columns, as *multi-affine* rows: affine in each block once
  the others are fixed (products such as ``xi[i] * y[i]`` or
  ``x[i] * xi[j]`` are allowed; ``y * y`` and ``xi * xi`` are not).  It
  checks the uncertainty set: bounded (an LP per coordinate direction),
  non-empty, and depending on the uncertain variables only.
- :func:`recourse_value` / :func:`solve_recourse`: ``min_y f`` for fixed
  ``x`` and ``xi``, a MILP/LP on HiGHS.
- :func:`evaluate_first_stage`: the exact worst case ``max_xi min_y f`` for
  a fixed ``x``, by one of

  * ``"kkt"`` (continuous recourse, ``xi`` only in right-hand sides and in
    the objective's constant part): the inner LP's KKT conditions with
    big-M complementarity, one MILP (Zeng & Zhao 2013), after a
    slack-feasibility pass of the same form;
  * ``"enumeration"`` (integer or mixed recourse): lazy enumeration of
    recourse solutions ``y_k``: ``max t s.t. t <= f(xi, y_k)`` for every
    ``y_k`` still feasible at ``xi`` (a disjunction with big-Ms from the
    uncertainty box), then the recourse at the new ``xi``; exact when the
    two bounds meet, which happens in finitely many steps for a pure
    integer recourse;
  * ``"boxsplit"`` (a box uncertainty set, rows affine in ``xi``): spatial
    branch and bound over the box, a region-robust recourse MILP as each
    region's upper bound and recourse values at chosen points as the lower
    bound;
  * ``"sampling"``: the best of sampled vertices of ``U``: a *lower bound*
    only, labelled ``exact=False``.

Modules: :mod:`~workbench.robust.structure` (stages and uncertainty-set checks),
:mod:`~workbench.robust.recourse` (recourse solves), :mod:`~workbench.robust.evaluate`
(:func:`evaluate_first_stage`, with :mod:`~workbench.robust.kkt`,
:mod:`~workbench.robust.enumeration` and :mod:`~workbench.robust.boxsplit`), :mod:`~workbench.robust.milp` (HiGHS) and
:mod:`~workbench.robust.rows`.  Heavy dependencies (highspy) are imported inside
the functions that use them.
"""

from workbench.robust.boxsplit import boxsplit_applicable, boxsplit_eval
from workbench.robust.evaluate import center_scenario, evaluate_first_stage, kkt_applicable
from workbench.robust.evaluation import RobustEvaluation
from workbench.robust.milp import LpSolution, solve_milp
from workbench.robust.recourse import RecourseSolution, recourse_value, solve_recourse
from workbench.robust.structure import RobustStructure, robust_structure

__all__ = [
    "LpSolution",
    "RecourseSolution",
    "RobustEvaluation",
    "RobustStructure",
    "boxsplit_applicable",
    "boxsplit_eval",
    "center_scenario",
    "evaluate_first_stage",
    "kkt_applicable",
    "recourse_value",
    "robust_structure",
    "solve_milp",
    "solve_recourse",
]
