"""Every backend runs the conformance problems its capabilities cover.

The backend's word is not taken on trust: the returned point is put back
into the compiled matrix form (or, for nonlinear models, the compiled
expressions) and checked for feasibility, integrality and its objective
value (cvxpy-style checkers), and compared with the known solution, duals
and infeasible core where the problem records them.

``optimal`` must hit the recorded global optimum.  ``locally_optimal`` is
accepted only on problems flagged ``nonconvex`` or ``nonsmooth``, with a
feasible point no better than the optimum; a local backend must never say
``optimal`` on a nonconvex problem.  A problem whose ``needs`` (the
reformulation layer, the ``scip`` backend, indicators) are missing here is
skipped with the reason, never silently.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest

import workbench
from problems.conformance import CONFORMANCE_DIR, load_conformance
from problems.conformance.checks import flatten_values, max_violation, point_check
from workbench.backends.base import Capability
from workbench.backends.registry import backend_names, get_backend
from workbench.compile.linear import linear_form_from_structure
from workbench.compile.structure import compile_structure
from workbench.datasets import Problem
from workbench.errors import BackendUnavailableError, ModelError, UnsupportedProblemError
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


NEW = {
    "miqp_portfolio",
    "nlp_haverly",
    "nlp_concave_box",
    "minlp_exp_integer",
    "lp_max_convex",
    "milp_max_nonconvex",
    "lp_min_convex",
    "milp_min_nonconvex",
    "lp_abs_convex",
    "milp_abs_nonconvex",
    "milp_binary_product",
    "milp_binary_continuous",
    "milp_indicator",
}
"""Issue 17's classes and constructs; the global optimum of each is derived in its text and
recomputed by enumeration in tests/test_conformance_optima.py."""

LOCAL_BACKENDS = ("scipy", "bcd", "alsketch")
"""Backends that are local methods: never ``optimal`` on a nonconvex problem."""


@functools.cache
def unmet(need: str) -> str | None:
    """Why *need* is missing here (``None`` when it is present), found by a small probe."""
    if need == "scip":
        try:
            av = get_backend("scip").available()
        except (BackendUnavailableError, KeyError) as e:
            return f"the scip backend is not installed here ({e})"
        return None if av else f"the scip backend is unavailable here ({av.reason})"
    probe = {
        "reformulation": (
            "variables: {x: {lb: 0, ub: 1}}\nobjective: {expr: 'max(x, 1 - x)'}\n",
            "highs",
        ),
        "indicators": (
            "variables: {y: {domain: binary}, x: {lb: 0, ub: 5}}\nobjective: {expr: 'x - y'}\n"
            "constraints: [{expr: 'x >= 2', when: 'y'}]\n",
            "highs",
        ),
    }[need]
    try:
        workbench.solve(workbench.load_model(probe[0]), backend=probe[1])
    except (UnsupportedProblemError, ModelError) as e:
        return f"no {need} here: {e}"
    return None


def unmet_needs(problem: Problem) -> str | None:
    """A skip reason naming every missing need of *problem*, or ``None``."""
    missing = [f"{n} ({why})" for n in problem.meta.get("needs", []) if (why := unmet(n))]
    return f"{problem.id} needs: " + "; ".join(missing) if missing else None


def _obj_tol(problem: Problem) -> float:
    rel = 1e-5 if problem.meta["capability"] in ("NLP", "MINLP", "MIQP") else 1e-6
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
    missing = unmet_needs(problem)
    supports = getattr(type(backend), "supports", None)
    try:
        if supports is not None:
            model = source if problem.model is not None else workbench.read_model_file(source)
            fit = supports(workbench.classify(model))
            if not fit:
                pytest.skip(f"backend {name!r} cannot take this class here: {fit.reason}")
        return public_solve(source, backend=name, time_limit=30, seed=0)
    except (UnsupportedProblemError, ModelError) as e:
        if missing is None:
            raise
        pytest.skip(f"{missing}; {name}: {e}")


def _check_local(backend: str, problem: Problem, result: Result) -> None:
    """A ``locally_optimal`` answer: allowed on nonconvex/nonsmooth problems, feasible, no better."""
    assert problem.meta.get("nonconvex") or problem.meta.get("nonsmooth"), (
        f"{backend} on {problem.id}: locally_optimal on a problem that is convex and smooth"
    )
    assert result.objective is not None and math.isfinite(result.objective)
    viol, obj = point_check(problem.model, result.values)
    assert viol <= 1e-5, f"{backend} on {problem.id}: violation {float(viol):.3g} at {viol.where}"
    assert abs(obj - result.objective) <= 1e-5 * max(1.0, abs(obj))
    sign = 1.0 if problem.model.objective.sense == "min" else -1.0
    assert sign * (result.objective - problem.optimum) >= -_obj_tol(problem), (
        f"{backend} on {problem.id}: a local answer {result.objective} better than the global "
        f"optimum {problem.optimum}"
    )


# ---------------------------------------------------------------------------
# The problems themselves


def test_required_problems_present() -> None:
    ids = {p.id for p in load_conformance()}
    assert ids >= REQUIRED | NEW, f"missing: {sorted((REQUIRED | NEW) - ids)}"


@pytest.mark.parametrize(
    "problem", [p for p in load_conformance() if "solution" in p.meta], ids=lambda p: p.id
)
def test_recorded_solution_satisfies_the_expressions(problem: Problem) -> None:
    """The expected point satisfies every row (evaluated as written) and attains the optimum."""
    viol, obj = point_check(problem.model, problem.meta["solution"])
    assert viol <= 1e-9, viol.where
    assert obj == pytest.approx(problem.optimum, abs=1e-9)


@pytest.mark.parametrize("problem", load_conformance(), ids=lambda p: p.id)
def test_some_installed_backend_covers_it(problem: Problem) -> None:
    """Report, as a skip with the reason, a problem no installed backend takes yet."""
    missing = unmet_needs(problem)
    cap = problem.meta["capability"]
    takers = []
    for name in backend_names():
        try:
            be = get_backend(name)
        except BackendUnavailableError:
            continue
        if cap in {c.value for c in be.capabilities} and be.available():
            takers.append(name)
    if missing is not None:
        pytest.skip(f"{missing} (backends declaring {cap} here: {', '.join(takers) or 'none'})")
    assert takers, f"no installed backend declares {cap} for {problem.id}"


@pytest.mark.parametrize(
    "problem", [p for p in load_conformance() if p.id in NEW], ids=lambda p: p.id
)
def test_auto_proves_the_global_optimum(problem: Problem) -> None:
    """``backend='auto'`` takes the model as written and proves the recorded global optimum."""
    missing = unmet_needs(problem)
    if missing is not None:
        pytest.skip(missing)
    result = public_solve(problem.model, time_limit=30, seed=0)
    assert result.termination is Termination.OPTIMAL, (result.backend, result.diagnostics.message)
    assert abs(result.objective - problem.optimum) <= _obj_tol(problem), result.objective
    viol, obj = point_check(problem.model, result.values)
    assert viol <= 1e-5, viol.where
    for name, label, want in _flat_expected(problem.meta.get("solution", {})):
        got = _lookup(result.values, name, label)
        assert abs(got - want) <= _value_tol(problem, want), (name, label, got, want)


NONCONVEX_NLP = [
    p for p in load_conformance() if p.meta.get("nonconvex") and p.meta["capability"] == "NLP"
]
CONVEX_NLP = [
    p for p in load_conformance() if p.meta["capability"] == "NLP" and not p.meta.get("nonconvex")
]


@pytest.mark.parametrize("problem", NONCONVEX_NLP, ids=lambda p: p.id)
def test_local_backend_never_says_optimal_on_a_nonconvex_model(problem: Problem) -> None:
    """scipy on Haverly's pooling and on a concave minimisation: locally_optimal, never optimal."""
    result = public_solve(problem.model, backend="scipy", seed=0)
    assert result.termination is Termination.LOCALLY_OPTIMAL, result.diagnostics.message
    assert "nonconvex model" in result.diagnostics.message
    _check_local("scipy", problem, result)


@pytest.mark.parametrize("problem", CONVEX_NLP, ids=lambda p: p.id)
def test_local_backend_keeps_optimal_on_a_convex_model(problem: Problem) -> None:
    result = public_solve(problem.model, backend="scipy", seed=0)
    assert result.termination is Termination.OPTIMAL, result.diagnostics.message
    assert abs(result.objective - problem.optimum) <= _obj_tol(problem)


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
    assert set(problem.meta.get("needs", [])) <= {"reformulation", "scip", "indicators"}
    assert (problem.optimum is None) == (problem.status != "optimal")
    if "iis" in problem.meta:
        assert problem.status == "infeasible"
        names = set(problem.model.constraint_names()) if problem.model else set()
        assert set(problem.meta["iis"]) <= names


def _rows_of(model):
    """The model's rows as a matrix, robust/bilevel sections included as plain rows.

    ``compile_linear`` refuses those sections (a single-level form would solve a
    different problem); checking a recorded scenario point against the rows is
    still meaningful, so this goes one level down on purpose.
    """
    return linear_form_from_structure(compile_structure(model))


@pytest.mark.parametrize(
    "problem",
    [
        p
        for p in load_conformance()
        if "solution" in p.meta and p.meta["capability"] != "NLP" and not p.meta.get("needs")
    ],
    ids=lambda p: p.id,
)
def test_recorded_solution_is_feasible_and_optimal(problem: Problem) -> None:
    """The expected point itself satisfies the compiled model and attains the optimum."""
    lf = _rows_of(problem.model)
    x = flatten_values(lf, problem.meta["solution"])
    viol = max_violation(lf, x)
    assert viol <= 1e-9, viol.where
    assert lf.objective_value(x) == pytest.approx(problem.optimum, abs=1e-9)


# ---------------------------------------------------------------------------
# Every backend on the problems it claims


@pytest.mark.parametrize(("backend", "problem"), _cases())
def test_backend_conformance(backend: str, problem: Problem) -> None:
    result = _solve(backend, problem)
    local_ok = bool(problem.meta.get("nonconvex") or problem.meta.get("nonsmooth"))
    expected = {
        "optimal": {Termination.OPTIMAL} | ({Termination.LOCALLY_OPTIMAL} if local_ok else set()),
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

    if result.termination is Termination.LOCALLY_OPTIMAL:
        _check_local(backend, problem, result)
        return
    if problem.meta.get("nonconvex"):
        assert backend not in LOCAL_BACKENDS, f"{backend} said optimal on nonconvex {problem.id}"
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

    if problem.model is not None:
        viol, obj = point_check(problem.model, result.values)
        assert viol <= 1e-5, (
            f"{backend} on {problem.id}: violation {float(viol):.3g} at {viol.where}"
        )
        assert abs(obj - result.objective) <= _obj_tol(problem)
    if problem.meta["capability"] in ("NLP", "MINLP") or problem.meta.get("needs"):
        return  # no matrix form here; the point was checked on the expressions above
    lf = (
        _rows_of(problem.model)
        if problem.model is not None
        else workbench.read_model_file(problem.path)
    )
    x = flatten_values(lf, result.values)
    viol = max_violation(lf, x)
    assert viol <= FEAS_TOL, (
        f"{backend} on {problem.id}: violation {float(viol):.3g} at {viol.where}"
    )
    assert abs(lf.objective_value(x) - result.objective) <= _obj_tol(problem)
