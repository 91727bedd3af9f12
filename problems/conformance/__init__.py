"""Conformance problems: canonical models with known outcomes, run against every backend.

Each problem is a YAML file like a catalogue entry, with extra keys:

``capability``
    The :class:`workbench.backends.Capability` value the problem exercises
    (``LP``, ``MILP``, ``QP``, ``NLP``, ``pure_integer``).
``solution``
    Optional: the unique optimal point, ``{variable: value or {label: value}}``.
``duals``
    Optional: unique constraint duals (sensitivity convention,
    d objective / d right-hand side), ``{constraint: value or {label: value}}``.
``iis``
    Optional, for infeasible problems: the constraint names of the
    infeasible core; a backend's IIS should be a subset of it.
``nonconvex``, ``nonsmooth``
    Optional flags: a local method may stop at a point that is not the
    global optimum, so a ``locally_optimal`` answer is accepted from a
    backend when its point is feasible and its objective no better than
    ``optimum``.  ``optimal`` must always hit ``optimum``.
``needs``
    Optional: the features a solver needs for this problem that may be
    missing from an installation (:data:`NEEDS`): ``reformulation``
    (``max``/``min``/``abs``/binary products to linear rows),
    ``scip`` (the global ``scip`` backend), ``indicators`` (``when:``).
    Where one is missing the conformance tests skip the problem and say why.

A matrix file (``small.mps``) comes with a sidecar ``small.mps.yaml`` holding
its ``id``, ``capability``, ``status`` and ``optimum``; its problem has
``model=None`` and ``path`` pointing at the matrix file.
"""

from __future__ import annotations

from pathlib import Path

from problems.catalog import problem_from_file
from workbench.backends.base import Capability
from workbench.datasets import Problem
from workbench.errors import ModelError

__all__ = ["CONFORMANCE_DIR", "NEEDS", "load_conformance"]

CONFORMANCE_DIR: Path = Path(__file__).resolve().parent
"""The folder that holds the conformance problems."""

_CAPABILITIES = frozenset(c.value for c in Capability)

NEEDS = frozenset({"reformulation", "scip", "indicators"})
"""The values ``needs`` may list."""


def _load_one(path: Path) -> Problem:
    sidecar = path.name.endswith((".mps.yaml", ".lp.yaml"))
    problem = problem_from_file(path, check_id=not sidecar)
    capability = problem.meta.get("capability")
    if capability not in _CAPABILITIES:
        raise ModelError(
            f"capability {capability!r} is not one of {', '.join(sorted(_CAPABILITIES))}",
            str(path),
        )
    needs = problem.meta.get("needs", [])
    if not isinstance(needs, list) or not set(needs) <= NEEDS:
        raise ModelError(f"needs {needs!r} must be a list of {', '.join(sorted(NEEDS))}", str(path))
    for flag in ("nonconvex", "nonsmooth"):
        if not isinstance(problem.meta.get(flag, False), bool):
            raise ModelError(f"{flag} must be true or false", str(path))
    if sidecar:
        matrix = path.with_suffix("")  # small.mps.yaml -> small.mps
        if not matrix.is_file():
            raise ModelError(f"the matrix file {matrix.name!r} is missing", str(path))
        if problem.model is not None:
            raise ModelError("a sidecar file must not hold a model", str(path))
        problem.path = matrix
    elif problem.model is None:
        raise ModelError("a conformance problem needs a 'model'", str(path))
    return problem


def load_conformance(*, capability: str | None = None) -> list[Problem]:
    """Load the conformance problems, sorted by id.

    Parameters
    ----------
    capability
        Keep only problems whose ``meta['capability']`` equals this value
        (for example ``"LP"`` or ``"pure_integer"``); ``None`` keeps all.

    Returns
    -------
    list of Problem
        ``meta`` holds ``capability`` and, where given, ``solution``,
        ``duals`` and ``iis``.

    Raises
    ------
    ValueError
        If *capability* is not a known capability value.
    ModelError
        If a file is malformed.
    """
    if capability is not None and capability not in _CAPABILITIES:
        raise ValueError(
            f"unknown capability {capability!r}; use one of {', '.join(sorted(_CAPABILITIES))}"
        )
    problems = [_load_one(p) for p in sorted(CONFORMANCE_DIR.glob("*.yaml"))]
    if capability is not None:
        problems = [p for p in problems if p.meta["capability"] == capability]
    return sorted(problems, key=lambda p: p.id)
