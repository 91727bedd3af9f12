"""Every backend runs the conformance problems its capabilities cover.

The backend's word is not taken on trust: the returned point is put back
into the compiled matrix form and checked for feasibility, integrality and
its objective value (cvxpy-style checkers), and compared with the known
solution, duals and infeasible core where the problem records them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import workbench
from problems.conformance import CONFORMANCE_DIR, load_conformance
from problems.conformance.checks import flatten_values, max_violation
from workbench.backends.base import Capability
from workbench.backends.registry import backend_names, get_backend
from workbench.datasets import Problem
from workbench.errors import BackendUnavailableError
from workbench.result import Result, Termination

FEAS_TOL = 1e-6
REQUIRED = {
    "lp_small",
    "lp_max",
    "lp_equality_range",
    "milp_small",
    "milp_knapsack",
    "pure_integer_small",
    "qp_small",
    "nlp_small",
    "infeasible_lp",
    "infeasible_milp",
    "unbounded_lp",
    "small_mps",
}


def _obj_tol(problem: Problem) -> float:
    rel = 1e-5 if problem.meta["capability"] == Capability.NLP.value else 1e-6
    return rel * max(1.0, abs(problem.optimum or 0.0))


def _value_tol(problem: Problem, expected: float) -> float:
    exact = problem.meta["capability"] in {"LP", "MILP", "pure_integer"}
    return (1e-6 if exact else 1e-4) * max(1.0, abs(expected))


def _flat_expected(tree: dict[str, Any]) -> list[tuple[str, Any, float]]:
    """``{name: v | {label: v}}`` -> ``[(name, label or None, v)]``."""
    out: list[tuple[str, Any, float]] = []
    for name, v in tree.items():
        if isinstance(v, dict):
            out.extend((name, label, float(x)) for label, x in v.items())
        else:
            out.append((name, None, float(v)))
    return out


def _lookup(tree: dict[str, Any], name: str, label: Any) -> float:
    v = tree[name]
    if label is None:
        return float(v)
    key = tuple(label) if isinstance(label, list) else label
    return float(v[key])


def _cases() -> list[Any]:
    problems = load_conformance()
    cases: list[Any] = []
    for name in backend_names():
        try:
            backend = get_backend(name)
        except BackendUnavailableError as e:
            cases.append(
                pytest.param(
                    name, None, id=f"{name}-unloadable", marks=pytest.mark.skip(reason=str(e))
                )
            )
            continue
        caps = {c.value for c in backend.capabilities}
        cases.extend(
            pytest.param(name, p, id=f"{name}-{p.id}")
            for p in problems
            if p.meta["capability"] in caps
        )
    return cases


def public_solve(*args: Any, **kwargs: Any) -> Result:
    """Call the public ``workbench.solve``."""
    return workbench.solve(*args, **kwargs)


def _solve(name: str, problem: Problem) -> Result:
    backend = get_backend(name)
    avail = backend.available()
    if not avail:
        pytest.skip(f"backend {name!r} unavailable: {avail.reason}")
    source = problem.model if problem.model is not None else str(problem.path)
    supports = getattr(type(backend), "supports", None)
    if supports is not None:
        model = source if problem.model is not None else workbench.read_model_file(source)
        fit = supports(workbench.classify(model))
        if not fit:
            pytest.skip(f"backend {name!r} cannot take this class here: {fit.reason}")
    return public_solve(source, backend=name, time_limit=30, seed=0)


# ---------------------------------------------------------------------------
# The problems themselves


def test_required_problems_present() -> None:
    ids = {p.id for p in load_conformance()}
    assert ids >= REQUIRED, f"missing: {sorted(REQUIRED - ids)}"


def test_capability_filter() -> None:
    everything = load_conformance()
    for cap in {p.meta["capability"] for p in everything}:
        subset = load_conformance(capability=cap)
        assert subset, cap
        assert all(p.meta["capability"] == cap for p in subset)
    assert sum(len(load_conformance(capability=c.value)) for c in Capability) == len(everything)


def test_unknown_capability_rejected() -> None:
    with pytest.raises(ValueError, match="unknown capability 'LPP'"):
        load_conformance(capability="LPP")


def test_mps_sidecar() -> None:
    (mps,) = [p for p in load_conformance() if p.id == "small_mps"]
    assert mps.model is None
    assert mps.path == CONFORMANCE_DIR / "small.mps"
    assert mps.meta["capability"] == "MILP"
    lf = workbench.read_model_file(mps.path)
    assert (lf.num_rows, lf.num_cols) == (4, 4)
    assert lf.integrality.tolist() == [True, True, False, False]


@pytest.mark.parametrize("problem", load_conformance(), ids=lambda p: p.id)
def test_problem_is_well_formed(problem: Problem) -> None:
    assert problem.status in {"optimal", "infeasible", "unbounded"}
    assert (problem.optimum is None) == (problem.status != "optimal")
    if "iis" in problem.meta:
        assert problem.status == "infeasible"
        names = set(problem.model.constraint_names()) if problem.model else set()
        assert set(problem.meta["iis"]) <= names


@pytest.mark.parametrize(
    "problem",
    [p for p in load_conformance() if "solution" in p.meta and p.meta["capability"] != "NLP"],
    ids=lambda p: p.id,
)
def test_recorded_solution_is_feasible_and_optimal(problem: Problem) -> None:
    """The expected point itself satisfies the compiled model and attains the optimum."""
    lf = workbench.compile_linear(problem.model)
    x = flatten_values(lf, problem.meta["solution"])
    viol = max_violation(lf, x)
    assert viol <= 1e-9, viol.where
    assert lf.objective_value(x) == pytest.approx(problem.optimum, abs=1e-9)


# ---------------------------------------------------------------------------
# Every backend on the problems it claims


@pytest.mark.parametrize(("backend", "problem"), _cases())
def test_backend_conformance(backend: str, problem: Problem) -> None:
    result = _solve(backend, problem)
    expected = {
        "optimal": {Termination.OPTIMAL},
        "infeasible": {Termination.INFEASIBLE},
        "unbounded": {Termination.UNBOUNDED, Termination.INFEASIBLE_OR_UNBOUNDED},
    }[problem.status]
    assert result.termination in expected, (
        f"{backend} on {problem.id}: {result.termination} ({result.diagnostics.message})"
    )

    if problem.status == "infeasible" and "iis" in problem.meta and result.diagnostics.iis:
        families = {n.split("[", 1)[0] for n in result.diagnostics.iis}
        assert families <= set(problem.meta["iis"]), result.diagnostics.iis
    if problem.status != "optimal":
        assert result.objective is None, "an infeasible/unbounded result must carry no objective"
        assert result.values == {}
        return

    assert result.objective is not None
    assert math.isfinite(result.objective)
    assert abs(result.objective - problem.optimum) <= _obj_tol(problem), result.objective

    for name, label, want in _flat_expected(problem.meta.get("solution", {})):
        got = _lookup(result.values, name, label)
        assert abs(got - want) <= _value_tol(problem, want), (name, label, got, want)

    if "duals" in problem.meta and result.duals:
        for name, label, want in _flat_expected(problem.meta["duals"]):
            got = _lookup(result.duals, name, label)
            assert abs(got - want) <= 1e-6 * max(1.0, abs(want)), (name, label, got, want)

    if problem.meta["capability"] == "NLP":
        return  # no matrix form; the point was compared with the known solution above
    lf = (
        workbench.compile_linear(problem.model)
        if problem.model is not None
        else workbench.read_model_file(problem.path)
    )
    x = flatten_values(lf, result.values)
    viol = max_violation(lf, x)
    assert viol <= FEAS_TOL, (
        f"{backend} on {problem.id}: violation {float(viol):.3g} at {viol.where}"
    )
    assert abs(lf.objective_value(x) - result.objective) <= _obj_tol(problem)
