"""Round trips keep the optimum: IR -> YAML -> IR, IR -> Pyomo -> solve, IR -> MPS -> solve.

Every catalogue and conformance model is solved directly and through each
round trip its class allows (MPS for linear and quadratic models; Pyomo for
every single-level model); the outcomes must agree.  A representative subset
runs by default, the full sweep with ``-m slow``.  A hypothesis property
does the same over generated small LP/MILP models with integer data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workbench
from problems.catalog import load_catalog
from problems.conformance import load_conformance
from problems.conformance.checks import flatten_values, max_violation
from workbench.backends.base import Capability
from workbench.classification import classify
from workbench.compile.linear import compile_linear
from workbench.ir import dump_model, load_model, model_from_dict
from workbench.ir.model import Model
from workbench.result import Result

pytest.importorskip("pyomo.environ")
pytest.importorskip("highspy")

from workbench.compile.mps import read_mps, write_mps  # noqa: E402
from workbench.compile.pyomo_form import compile_pyomo  # noqa: E402

PROBLEMS = {p.id: p for p in [*load_catalog(), *load_conformance()] if p.model is not None}
DEFAULT = {
    "transport_small",  # LP, two-dimensional labels
    "facility_capacitated",  # MILP with binaries
    "portfolio_markowitz",  # QP
    "nlp_small",  # NLP: no MPS
    "lp_equality_range",  # equality and ranged rows
    "infeasible_milp",
    "unbounded_lp",
    "robust_lp_small",  # robust: YAML only
}
MATRIX = {Capability.LP, Capability.MILP, Capability.QP, Capability.MIQP}
SINGLE_LEVEL = MATRIX | {Capability.NLP, Capability.MINLP}


def agree(ref: Result, got: Result, how: str, *, rel: float = 1e-7) -> None:
    """*got* has the same outcome as *ref*: the same termination and, with a point, optimum."""
    assert got.termination is ref.termination, f"{how}: {got.termination} != {ref.termination}"
    if ref.termination.has_solution:
        assert got.objective == pytest.approx(ref.objective, rel=rel, abs=1e-6), how


def through_yaml(model: Model) -> Model:
    again = load_model(dump_model(model))
    assert again.model_dump() == model.model_dump()
    return again


def through_mps(model: Model, folder: Path) -> Any:
    path = folder / f"{model.name}.mps"
    write_mps(compile_linear(model), path)
    return read_mps(path)


def exported(model: Model) -> Model:
    """The model a user exports to Pyomo or MPS: with ``max``/``min``/``abs``, binary
    products or ``when`` rows, the exact reformulation first (those forms have none)."""
    reform = workbench.reformulate(model)
    return reform.model if reform.records else model


def check_round_trips(model: Model, folder: Path, **kw: Any) -> None:
    """Solve *model* directly and through each round trip its class allows."""
    ref = workbench.solve(model, **kw)
    agree(ref, workbench.solve(through_yaml(model), **kw), "IR -> YAML -> IR")
    if model.robust is None and model.lower_level is None:
        model = exported(model)
    cls = classify(model).problem_class
    nonlinear = cls not in MATRIX
    rel = 1e-5 if nonlinear else 1e-7  # a local NLP method on a rewritten expression
    if cls in SINGLE_LEVEL:
        pyomo_model = compile_pyomo(model).model
        got = workbench.solve(pyomo_model, **kw)
        agree(ref, got, "IR -> Pyomo -> solve", rel=rel)
        if ref.termination.has_solution and not nonlinear:
            # the answer comes back under the IR's own names and labels: a feasible optimum
            lf = compile_linear(model)
            x = flatten_values(lf, got.values)
            assert max_violation(lf, x) <= 1e-6
            assert lf.objective_value(x) == pytest.approx(ref.objective, rel=1e-7, abs=1e-6)
    if cls in MATRIX:
        agree(ref, workbench.solve(through_mps(model, folder), **kw), "IR -> MPS -> solve")


@pytest.mark.parametrize(
    "pid",
    [
        pytest.param(pid, marks=() if pid in DEFAULT else pytest.mark.slow)
        for pid in sorted(PROBLEMS)
    ],
)
def test_catalogue_and_conformance_round_trips(pid: str, tmp_path: Path) -> None:
    check_round_trips(PROBLEMS[pid].model, tmp_path, time_limit=60)


def test_a_row_without_variables_that_fails_stays_in_the_pyomo_model(tmp_path: Path) -> None:
    model = load_model(
        "variables: {x: {lb: 0, ub: 1}}\nobjective: {expr: x}\n"
        "constraints: [{name: never, expr: '0 * x >= 1'}]\n"
    )
    check_round_trips(model, tmp_path)
    pyomo_model = compile_pyomo(model).model
    assert workbench.solve(pyomo_model).termination.value == "infeasible"


def test_default_subset_covers_every_class() -> None:
    classes = {classify(PROBLEMS[pid].model).problem_class for pid in DEFAULT}
    assert classes >= {Capability.LP, Capability.MILP, Capability.QP, Capability.NLP}
    statuses = {PROBLEMS[pid].status for pid in DEFAULT}
    assert statuses == {"optimal", "infeasible", "unbounded"}


# ------------------------------------------------------------------ property
small = st.integers(-3, 3)


@st.composite
def lp_milp(draw: st.DrawFn) -> Model:
    """A bounded LP or MILP: x continuous and z integer over J, rows le/ge/eq over R."""
    n = draw(st.integers(1, 4))
    m = draw(st.integers(1, 3))
    R = [f"r{k}" for k in range(m)]
    grid = st.lists(st.lists(small, min_size=n, max_size=n), min_size=m, max_size=m)
    ops = draw(st.lists(st.sampled_from(["<=", ">=", "=="]), min_size=1, max_size=3, unique=True))
    constraints = [
        {
            "name": f"row_{k}",
            "for": "r in R",
            "expr": f"sum(a{k}[r, j] * x[j] + e{k}[r, j] * z[j] for j in J) {op} b{k}[r]",
        }
        for k, op in enumerate(ops)
    ]
    params: dict[str, Any] = {
        "c": {"index": ["J"], "values": draw(st.lists(small, min_size=n, max_size=n))},
        "d": {"index": ["J"], "values": draw(st.lists(small, min_size=n, max_size=n))},
    }
    for k in range(len(ops)):
        params[f"a{k}"] = {"index": ["R", "J"], "values": draw(grid)}
        params[f"e{k}"] = {"index": ["R", "J"], "values": draw(grid)}
        params[f"b{k}"] = {
            "index": ["R"],
            "values": draw(st.lists(st.integers(0, 8), min_size=m, max_size=m)),
        }
    lb = draw(st.sampled_from([0, -2]))
    return model_from_dict(
        {
            "name": "generated",
            "sets": {"J": {"range": [1, n]}, "R": R},
            "params": params,
            "variables": {
                "x": {"index": ["J"], "lb": lb, "ub": draw(st.integers(1, 6))},
                "z": {"index": ["J"], "domain": "integer", "lb": 0, "ub": draw(st.integers(0, 4))},
            },
            "objective": {
                "sense": draw(st.sampled_from(["min", "max"])),
                "expr": "sum(c[j] * x[j] + d[j] * z[j] for j in J)",
            },
            "constraints": constraints,
        }
    )


def _generated(tmp_path_factory: pytest.TempPathFactory, model: Model) -> None:
    check_round_trips(model, tmp_path_factory.mktemp("mps"), backend="highs")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lp_milp())
def test_generated_models_round_trip_to_the_same_optimum(tmp_path_factory, model: Model) -> None:
    _generated(tmp_path_factory, model)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lp_milp())
def test_many_generated_models_round_trip(tmp_path_factory, model: Model) -> None:
    _generated(tmp_path_factory, model)
