"""Pyomo models in: ``workbench.solve(ConcreteModel)`` on real backends, answers in Pyomo's names."""

from __future__ import annotations

import math

import numpy as np
import pytest

import workbench
from workbench.backends.registry import availability, backend_names
from workbench.compile.linear_form import LinearForm
from workbench.errors import ModelError
from workbench.ir.model import Model
from workbench.result import Termination

pyo = pytest.importorskip("pyomo.environ")

from workbench.compile.from_pyomo import from_pyomo, is_pyomo_model  # noqa: E402


def production() -> object:
    """max sum(w_k x[i]) + 2.5 y: x over tuple indices, a mutable Param, an Expression.

    x[i, j] <= p * i and sum(x) + y <= 12 with y integer <= 7; the weights
    are 1, 2, 3 in set order, so x[3, 'a'] = min(6, 12 - y) and y = 6 gives
    3 * 6 + 2.5 * 6 = 33 (y = 7 gives 3 * 5 + 17.5 = 32.5).
    """
    m = pyo.ConcreteModel(name="production")
    m.I = pyo.Set(initialize=[(1, "a"), (2, "b"), (3, "a")])
    m.x = pyo.Var(m.I, bounds=(0, 10))
    m.y = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(None, 7))
    m.p = pyo.Param(mutable=True, initialize=2.0)
    m.total = pyo.Expression(expr=sum(m.x[i] for i in m.I))
    m.cap = pyo.Constraint(expr=m.total + m.y <= 12)
    m.each = pyo.Constraint(m.I, rule=lambda m, i, j: m.x[i, j] <= m.p * i)
    weights = {i: k + 1 for k, i in enumerate(m.I)}
    m.obj = pyo.Objective(
        expr=sum(weights[i] * m.x[i] for i in m.I) + 2.5 * m.y, sense=pyo.maximize
    )
    return m


def test_detects_pyomo_models_only() -> None:
    assert is_pyomo_model(production())
    assert not is_pyomo_model({"variables": {}}) and not is_pyomo_model("x")


def test_linear_model_becomes_a_matrix_named_by_pyomo() -> None:
    lf = from_pyomo(production()).form
    assert isinstance(lf, LinearForm)
    assert [(b.name, b.labels) for b in lf.columns] == [
        ("x", [(1, "a"), (2, "b"), (3, "a")]),
        ("y", None),
    ]
    assert [b.name for b in lf.rows] == ["cap", "each"]
    assert lf.sense == "max" and lf.c.tolist() == [1.0, 2.0, 3.0, 2.5]
    assert lf.row_ub.tolist() == [12.0, 2.0, 4.0, 6.0]  # p * i, the Param's current value
    assert lf.integrality.tolist() == [False, False, False, True]
    assert lf.col_lb[3] == 0 and lf.col_ub[3] == 7


@pytest.mark.parametrize("backend", ["auto", "highs", "balans", "pyomo", "scip"])
def test_milp_on_matrix_backends(backend: str) -> None:
    if backend != "auto" and backend not in backend_names():
        pytest.skip(f"{backend} is not registered in this checkout")
    if backend != "auto" and not availability(backend).ok:
        pytest.skip(f"{backend}: {availability(backend).reason}")
    m = production()
    r = workbench.solve(m, backend=backend, seed=0, time_limit=20)
    assert r.termination is Termination.OPTIMAL, r.diagnostics.message
    assert r.objective == pytest.approx(33.0)
    assert r.values["x"][(3, "a")] == pytest.approx(6.0, abs=1e-6)
    assert r.values["y"] == pytest.approx(6.0, abs=1e-6)
    assert r.load_into(m) == 4
    assert pyo.value(m.obj) == pytest.approx(33.0)
    assert m.x[2, "b"].value == pytest.approx(0.0, abs=1e-6)


def test_pure_integer_model_goes_to_cpsat() -> None:
    m = pyo.ConcreteModel()
    m.n = pyo.Var(["a", "b", "c"], domain=pyo.Integers, bounds=(0, 10))
    w = {"a": 2, "b": 3, "c": 1}
    m.lim = pyo.Constraint(expr=sum(w[i] * m.n[i] for i in m.n) <= 5)
    m.lim2 = pyo.Constraint(expr=4 * m.n["a"] + m.n["b"] + 2 * m.n["c"] <= 11)
    m.lim3 = pyo.Constraint(expr=3 * m.n["a"] + 4 * m.n["b"] + 2 * m.n["c"] <= 8)
    m.obj = pyo.Objective(expr=5 * m.n["a"] + 4 * m.n["b"] + 3 * m.n["c"], sense=pyo.maximize)
    r = workbench.solve(m, backend="cpsat", seed=1)
    assert r.termination is Termination.OPTIMAL
    assert r.objective == pytest.approx(13.0)  # (2, 0, 1), as in tests/test_pyomo.py
    assert r.values["n"] == pytest.approx({"a": 2.0, "b": 0.0, "c": 1.0})


def test_lp_duals_come_back_by_pyomo_index_and_into_the_suffix() -> None:
    m = production()
    m.y.domain = pyo.NonNegativeReals
    m.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    r = workbench.solve(m, backend="highs")
    # y = 7 now (2.5 > 0 per unit after x[3,'a'] is capped at 2p = 6 - wait: 3 > 2.5)
    # x[3, a] is worth 3 per unit against cap's 2.5: x[3,a] = 6, y = 6, cap binding.
    assert r.objective == pytest.approx(33.0)
    assert r.duals["cap"] == pytest.approx(2.5)
    assert r.duals["each"] == pytest.approx({(1, "a"): 0.0, (2, "b"): 0.0, (3, "a"): 0.5})
    r.load_into(m)
    assert m.dual[m.cap] == pytest.approx(2.5)
    assert m.dual[m.each[3, "a"]] == pytest.approx(0.5)


def test_quadratic_objective_keeps_the_half_convention() -> None:
    # x^2 + y^2 + xy - 3x - 4y with x + y <= 2: KKT gives (0.5, 1.5), -4.25.
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, None))
    m.y = pyo.Var(bounds=(0, None))
    m.budget = pyo.Constraint(expr=m.x + m.y <= 2)
    m.o = pyo.Objective(expr=m.x**2 + m.y**2 + m.x * m.y - 3 * m.x - 4 * m.y)
    lf = from_pyomo(m).form
    assert isinstance(lf, LinearForm) and lf.Q is not None
    np.testing.assert_allclose(lf.Q.toarray(), [[2.0, 1.0], [1.0, 2.0]])
    r = workbench.solve(m)
    assert r.termination is Termination.OPTIMAL and r.backend == "highs"
    assert r.objective == pytest.approx(-4.25)
    assert (r.values["x"], r.values["y"]) == pytest.approx((0.5, 1.5), abs=1e-6)


def nonlinear() -> object:
    """min exp(a) + (b - 2)^2 + (y - 1)^2 - sub.z, with a * b >= 1 and mixed index kinds."""
    m = pyo.ConcreteModel()
    m.I = pyo.Set(initialize=["a", "b", 3])
    m.x = pyo.Var(m.I, bounds=lambda m, i: (0.1, None if i == "b" else 5), initialize=1)
    m.y = pyo.Var()
    m.sub = pyo.Block()
    m.sub.z = pyo.Var(bounds=(0, 2))
    m.c = pyo.Constraint(expr=sum(m.x[i] for i in m.I) + m.sub.z >= 2)
    m.nl = pyo.Constraint(expr=m.x["a"] * m.x["b"] >= 1)
    m.o = pyo.Objective(
        expr=pyo.exp(m.x["a"])
        + (m.x["b"] - 2) ** 2
        + pyo.log10(1 + m.x[3])
        + (m.y - 1) ** 2
        - m.sub.z
    )
    return m


def test_nonlinear_model_goes_through_the_ir() -> None:
    read = from_pyomo(nonlinear())
    assert isinstance(read.form, Model)
    text = workbench.dump_model(read.form)
    assert "exp(x['a'])" in text and "log(" in text and "sub_z" in text
    # x['b'] has no upper bound: the finite ones become rows, not a fake big number
    assert read.form.variables["x"].ub is None


def test_nonlinear_solves_and_loads_back() -> None:
    m = nonlinear()
    r = workbench.solve(m, backend="scipy")
    assert r.termination.has_solution and r.backend == "scipy"
    assert set(r.values) == {"x", "y", "sub.z"}
    assert set(r.values["x"]) == {"a", "b", 3}  # the integer index is 3 again, not '3'
    a, b = r.values["x"]["a"], r.values["x"]["b"]
    assert a * b >= 1 - 1e-6 and r.values["sub.z"] == pytest.approx(2.0, abs=1e-6)
    assert r.values["x"][3] == pytest.approx(0.1, abs=1e-6)
    # stationarity of exp(a) + (1/a - 2)^2 on the active curve a * b = 1
    assert math.exp(a) - 2 * (1 / a - 2) / a**2 == pytest.approx(0.0, abs=1e-3)
    r.load_into(m)
    assert pyo.value(m.o) == pytest.approx(r.objective)
    assert m.sub.z.value == pytest.approx(2.0, abs=1e-6)


def test_linear_model_through_the_ir_for_a_backend_without_a_matrix_input() -> None:
    m = production()
    m.y.domain = pyo.NonNegativeReals
    r = workbench.solve(m, backend="scipy")
    assert r.termination.has_solution
    assert r.objective == pytest.approx(33.0, rel=1e-6)
    assert r.values["x"][(3, "a")] == pytest.approx(6.0, abs=1e-5)


def test_fixed_variables_are_constants_and_keep_their_value() -> None:
    m = production()
    m.y.fix(2)
    r = workbench.solve(m)
    assert r.objective == pytest.approx(3 * 6 + 2 * 4 + 2.5 * 2)  # x[3,a] = 6, x[2,b] = 4
    assert r.values["y"] == 2.0
    m.y.value = 2  # load_into must not touch a fixed variable
    r.values["y"] = 5.0
    assert r.load_into(m) == 3 and m.y.value == 2


def test_infeasible_and_deactivated() -> None:
    m = production()
    m.bad = pyo.Constraint(expr=m.y >= 9)
    assert workbench.solve(m).termination is Termination.INFEASIBLE
    m.bad.deactivate()
    assert workbench.solve(m).objective == pytest.approx(33.0)


def test_gdp_model_after_bigm_solves() -> None:
    from pyomo.gdp import Disjunct, Disjunction

    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 10))
    m.lo = Disjunct()
    m.lo.c = pyo.Constraint(expr=m.x <= 2)
    m.hi = Disjunct()
    m.hi.c = pyo.Constraint(expr=m.x >= 7)
    m.pick = Disjunction(expr=[m.lo, m.hi])
    m.floor = pyo.Constraint(expr=m.x >= 3)
    m.o = pyo.Objective(expr=m.x + 1)  # x >= 3 rules out the low side: x = 7
    with pytest.raises(ModelError, match=r"'lo' is a Disjunct.*gdp\.bigm"):
        workbench.solve(m)
    pyo.TransformationFactory("gdp.bigm").apply_to(m, bigM=20)
    r = workbench.solve(m)
    assert r.termination is Termination.OPTIMAL
    assert r.values["x"] == pytest.approx(7.0, abs=1e-6) and r.objective == pytest.approx(8.0)
    assert r.values["hi.binary_indicator_var"] == pytest.approx(1.0)
    r.load_into(m)
    assert m.hi.binary_indicator_var.value == pytest.approx(1.0)


# ------------------------------------------------------------------ bad input
def _base() -> object:
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2], bounds=(0, 4))
    m.o = pyo.Objective(expr=m.x[1] + m.x[2])
    return m


def _external(m: object) -> None:
    m.f = pyo.ExternalFunction(library="nowhere.so", function="f")  # type: ignore[attr-defined]
    m.c = pyo.Constraint(expr=m.f(m.x[1]) <= 1)  # type: ignore[attr-defined]


def _sub_objective(m: object) -> None:
    m.b = pyo.Block()  # type: ignore[attr-defined]
    m.b.o2 = pyo.Objective(expr=m.x[1])  # type: ignore[attr-defined]
    m.o.deactivate()  # type: ignore[attr-defined]


def _two_objectives(m: object) -> None:
    m.o2 = pyo.Objective(expr=m.x[2])  # type: ignore[attr-defined]


def _sos(m: object) -> None:
    m.s = pyo.SOSConstraint(var=m.x, sos=1)  # type: ignore[attr-defined]


def _logical(m: object) -> None:
    m.flag = pyo.BooleanVar()  # type: ignore[attr-defined]
    m.rule = pyo.LogicalConstraint(expr=m.flag.implies(m.flag))  # type: ignore[attr-defined]


def _atan(m: object) -> None:
    m.c = pyo.Constraint(expr=pyo.atan(m.x[1]) <= 1)  # type: ignore[attr-defined]


def _half_integer(m: object) -> None:
    m.h = pyo.Var(domain=pyo.RangeSet(0, 10, 2))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (_external, r"'f' is a ExternalFunction.*write it as a Pyomo expression"),
        (_sub_objective, r"objective 'b\.o2' sits on the sub-block 'b'.*top-level"),
        (_two_objectives, r"2 active objectives \('o', 'o2'\).*deactivate all but one"),
        (_sos, r"'s' is a SOSConstraint.*binary variables"),
        (_logical, r"'rule' is a LogicalConstraint.*logical_to_linear"),
        (_atan, r"constraint 'c'.*atan\(\) has no IR form"),
        (_half_integer, r"domain of 'h'.*not continuous or the integers"),
    ],
)
def test_unsupported_components_name_the_component_and_the_fix(build, match) -> None:
    m = _base()
    build(m)
    with pytest.raises(ModelError, match=match):
        workbench.solve(m)


def test_load_into_another_model_is_refused() -> None:
    r = workbench.solve(production())
    with pytest.raises(ModelError, match=r"'x' has no index \(1, 'a'\)"):
        r.load_into(_base())
    del r.values["x"]
    with pytest.raises(ModelError, match="no variable 'y'"):
        r.load_into(_base())


def test_a_family_mixing_domains_is_split_for_the_ir_and_merged_back() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2, 3], domain=lambda m, i: pyo.Binary if i == 1 else pyo.Reals)
    m.x[2].setlb(0)
    m.x[3].setub(2.5)
    m.c = pyo.Constraint(expr=m.x[1] + m.x[2] + m.x[3] <= 3.7)
    m.d = pyo.Constraint(expr=m.x[2] <= 0.6)
    m.o = pyo.Objective(expr=m.x[1] + m.x[2] + m.x[3], sense=pyo.maximize)
    read = from_pyomo(m, matrix=False)
    assert isinstance(read.form, Model)
    assert read.form.variables["x"].domain == "continuous"
    assert read.form.variables["x_int"].domain == "binary"
    r = read.translate(workbench.solve(read.form, backend="highs"))
    assert r.objective == pytest.approx(3.7)
    assert set(r.values) == {"x"} and set(r.values["x"]) == {1, 2, 3}
    assert r.values["x"][1] in (0.0, 1.0)
    direct = workbench.solve(m)  # the matrix form: the same optimum
    assert direct.objective == pytest.approx(3.7) and direct.values["x"][1] in (0.0, 1.0)


def _flat_point(read: object, m: object) -> tuple[np.ndarray, object]:
    """The IR's flat vector holding the Pyomo variables' current values, and its structure."""
    from workbench.compile.sets import LazyLabels
    from workbench.compile.structure import compile_structure

    cm = compile_structure(read.form)  # type: ignore[attr-defined]
    x = np.zeros(cm.num_vars)
    for name, vd in cm.ctx.vars.items():
        comp = m.find_component(read.var_names[name])  # type: ignore[attr-defined]
        back = read.var_labels.get(name, {})  # type: ignore[attr-defined]
        labels = LazyLabels(vd.index) if vd.index else [None]
        for k, lab in enumerate(labels):
            v = comp if lab is None else comp[back.get(lab, lab)]
            x[vd.offset + k] = v.value
    return x, cm


def test_long_expressions_keep_their_value_with_terms_as_data() -> None:
    from workbench.compile.numeric import evaluate

    n = 250
    m = pyo.ConcreteModel()
    m.x = pyo.Var(pyo.RangeSet(n), bounds=(-5, 5))
    m.y = pyo.Var([(i, c) for i in (1, 2) for c in "ab"], bounds=(0, 1))
    m.s = pyo.Var(bounds=(0, 10))
    m.tot = pyo.Constraint(expr=sum(m.x[i] for i in m.x) + 2 * m.y[1, "a"] + m.s >= 10)
    m.o = pyo.Objective(
        expr=sum((m.x[i] - 0.001 * i) ** 2 for i in m.x)
        + sum(i * m.x[i] * m.y[2, "b"] for i in (1, 2))
        + pyo.exp(m.s / 10)
        + m.s * m.s
    )
    read = from_pyomo(m, matrix=False)
    obj = read.form.objective.expr
    assert "for (k0, k1) in" in obj and "exp(" in obj and len(obj) < 1000  # terms as data
    rng = np.random.default_rng(7)
    for _ in range(3):
        for v in m.component_data_objects(pyo.Var):
            v.set_value(float(rng.uniform(-1, 1)) if v.lb < 0 else float(rng.uniform(0, 1)))
        x, cm = _flat_point(read, m)
        assert float(np.ravel(evaluate(cm.objective.plan, x))[0]) == pytest.approx(pyo.value(m.o))
        (fam,) = [f for f in cm.rows if f.name == "tot"]
        body = float(np.ravel(evaluate(fam.plan, x))[0])
        assert body - fam.lo[0] == pytest.approx(pyo.value(m.tot.body) - m.tot.lb)


@pytest.mark.parametrize("where", ["profit", "cap"])
def test_a_nan_coefficient_is_a_located_model_error(where: str) -> None:
    """A NaN in a Param reached the solver as 'the model is malformed' (termination error)."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.c = pyo.Param(initialize=float("nan"), mutable=True, within=pyo.Any)
    m.profit = pyo.Objective(expr=(m.c if where == "profit" else 1) * m.x)
    m.cap = pyo.Constraint(expr=(m.c if where == "cap" else 1) * m.x >= 0.5)
    with pytest.raises(ModelError, match=rf"^{where}: the coefficient of x is nan"):
        workbench.solve(m)
