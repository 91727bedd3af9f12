"""The built-in catalogue: every problem loads, reads faithfully and solves to its optimum."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

import workbench
from problems.catalog import CATALOG_DIR, catalog_ids, load_catalog
from problems.conformance.checks import flatten_values, max_violation
from workbench.datasets import Problem, get_dataset
from workbench.result import Result, Termination

PROBLEMS = load_catalog()
BY_ID = {p.id: p for p in PROBLEMS}
NONLINEAR = {"nlp"}  # categories whose models have no matrix form

REQUIRED_CATEGORIES = {
    "transport": 2,
    "assignment": 2,
    "diet": 1,
    "blending": 2,
    "production": 2,
    "knapsack": 2,
    "facility_location": 2,
    "set_cover": 1,
    "scheduling": 1,
    "lot_sizing": 1,
    "network_flow": 3,
    "portfolio": 1,
    "nlp": 1,
    "workforce": 1,
    "cutting_stock": 1,
    "inventory": 1,
    "puzzle": 1,
}

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")


def public_solve(*args: Any, **kwargs: Any) -> Result:
    """Call the public ``workbench.solve``."""
    return workbench.solve(*args, **kwargs)


def _text_numbers(text: str) -> set[float]:
    return {abs(float(m)) for m in _NUMBER.findall(text.replace(",", ""))}


def _data_numbers(obj: Any) -> list[float]:
    """Every number in a parameter's literal data (``values``/``rows``; not members)."""
    if isinstance(obj, bool):
        return []
    if isinstance(obj, int | float):
        return [float(obj)]
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _data_numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _data_numbers(v)]
    return []


def _param_numbers(problem: Problem) -> dict[str, list[float]]:
    assert problem.model is not None
    out: dict[str, list[float]] = {}
    for name, p in problem.model.params.items():
        nums = _data_numbers(p.values)
        if p.rows is not None:
            nums += [float(r[-1]) for r in p.rows]
        out[name] = nums
    return out


# ---------------------------------------------------------------------------
# Loading


def test_catalogue_size_and_unique_ids() -> None:
    ids = [p.id for p in PROBLEMS]
    assert len(ids) >= 32
    assert len(ids) == len(set(ids))
    assert ids == catalog_ids()


def test_required_categories_covered() -> None:
    counts: dict[str, int] = {}
    for p in PROBLEMS:
        counts[p.category] = counts.get(p.category, 0) + 1
    short = {c: n for c, n in REQUIRED_CATEGORIES.items() if counts.get(c, 0) < n}
    assert not short, f"categories with too few problems: {short}"
    assert any(p.model and p.model.objective.sense == "max" for p in PROBLEMS)
    assert any(p.model and any(s.expr for s in p.model.sets.values()) for p in PROBLEMS)
    assert any(p.model and any(q.rows for q in p.model.params.values()) for p in PROBLEMS)


def test_load_by_ids_keeps_order() -> None:
    got = load_catalog(ids=["knapsack_01", "diet"])
    assert [p.id for p in got] == ["knapsack_01", "diet"]


def test_unknown_id_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no_such_problem"):
        load_catalog(ids=["no_such_problem"])


def test_registered_as_dataset() -> None:
    assert [p.id for p in get_dataset("catalog", ids=["diet"])] == ["diet"]


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.id)
def test_problem_fields(problem: Problem) -> None:
    assert problem.path == CATALOG_DIR / f"{problem.id}.yaml"
    assert problem.title.strip()
    assert len(problem.text.split()) >= 20
    assert problem.category
    assert problem.model is not None
    assert problem.model.name == problem.id
    assert problem.status in {"optimal", "infeasible", "unbounded"}
    assert (problem.optimum is None) == (problem.status != "optimal")
    sense = problem.model.objective.sense
    assert ("maximi" in problem.text.lower()) == (sense == "max"), "text and sense disagree"


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.id)
def test_text_mentions_the_data(problem: Problem) -> None:
    """Every number in the model's data (other than 0 and 1) appears in the text.

    A value may also appear as a percentage (0.05 as 5%).
    """
    in_text = _text_numbers(problem.text)
    missing: dict[str, list[float]] = {}
    for name, nums in _param_numbers(problem).items():
        for v in nums:
            a = abs(v)
            if a in (0.0, 1.0):
                continue
            if not any(math.isclose(a, t) or math.isclose(100 * a, t) for t in in_text):
                missing.setdefault(name, []).append(v)
    assert not missing, f"numbers absent from the text: {missing}"


# ---------------------------------------------------------------------------
# Solving


LOCAL = ("scipy", "bcd", "alsketch")
"""Local NLP backends: on a model not proven convex they say locally_optimal."""


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.id)
def test_solves_to_stored_optimum(problem: Problem) -> None:
    result = public_solve(problem.model, time_limit=30, seed=0)
    if problem.status == "optimal":
        accepted = {Termination.OPTIMAL}
        if not workbench.classify(problem.model).proven_convex and result.backend in LOCAL:
            accepted.add(Termination.LOCALLY_OPTIMAL)  # honest: a local method, not proven global
        assert result.termination in accepted, (result.backend, result.diagnostics.message)
        assert result.objective is not None
        rel = 1e-5 if problem.category in NONLINEAR else 1e-6
        assert abs(result.objective - problem.optimum) <= rel * max(1.0, abs(problem.optimum))
    elif problem.status == "infeasible":
        assert result.termination == Termination.INFEASIBLE
    else:
        assert result.termination in {Termination.UNBOUNDED, Termination.INFEASIBLE_OR_UNBOUNDED}

    if problem.status == "optimal" and problem.category not in NONLINEAR:
        lf = workbench.compile_linear(problem.model)
        x = flatten_values(lf, result.values)
        viol = max_violation(lf, x)
        assert viol <= 1e-6, f"violation {float(viol):.3g} at {viol.where}"
        assert lf.objective_value(x) == pytest.approx(result.objective, rel=1e-6, abs=1e-6)
