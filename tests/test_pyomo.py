"""The Pyomo compiler and the ``pyomo`` backend, against real HiGHS through Pyomo."""

from __future__ import annotations

import math

import pytest
from models import RANGE_LP, TINY_LP, TRANSPORT, UNBOUNDED

import workbench
from workbench.backends.base import SolveOptions
from workbench.errors import BackendUnavailableError, OptionsError, UnsupportedProblemError
from workbench.result import Termination

pyo = pytest.importorskip("pyomo.environ")

from solvers.pyomo_backend import (  # noqa: E402
    STATUS_MAP,
    PyomoBackend,
    installed_solvers,
    solver_availability,
    status_map,
    termination,
)
from workbench.compile.pyomo_form import compile_pyomo  # noqa: E402

# min 2x + 3y: binding rows cover_a, cover_b; duals solve y1 + y2 = 2, y1 + 3 y2 = 3.
DUAL_LP = """
name: dual_lp
variables:
  x: {lb: 0}
  y: {lb: 0}
objective: {sense: min, expr: "2 * x + 3 * y"}
constraints:
  - name: cover_a
    expr: "x + y >= 4"
  - name: cover_b
    expr: "x + 3 * y >= 6"
  - name: spread
    expr: "x - y <= 5"
"""

# x + y = 3 and x - y <= 2 give x <= 2.5; min x + 2y = 6 - x -> 3.5 at (2.5, 0.5).


# max 5a + 4b + 3c, integers in [0, 10]: optimum 13 at (2, 0, 1).
KNAPSACK = """
name: knap
sets:
  I: [a, b, c]
  R: [r1, r2, r3]
params:
  v: {index: [I], values: [5, 4, 3]}
  w: {index: [R, I], values: [[2, 3, 1], [4, 1, 2], [3, 4, 2]]}
  cap: {index: [R], values: [5, 11, 8]}
variables:
  n: {index: [I], domain: integer, lb: 0, ub: 10}
objective: {sense: max, expr: "sum(v[i] * n[i] for i in I)"}
constraints:
  - name: limit
    for: "r in R"
    expr: "sum(w[r, i] * n[i] for i in I) <= cap[r]"
"""

# x^2 + y^2 + xy - 3x - 4y with x + y <= 2: KKT gives (0.5, 1.5), -4.25.
QP = """
name: qp
variables:
  x: {lb: 0}
  y: {lb: 0}
objective: {sense: min, expr: "x**2 + y**2 + x * y - 3 * x - 4 * y"}
constraints:
  - name: budget
    expr: "x + y <= 2"
"""

NLP = """
name: nlp
variables:
  x: {lb: 0.1, init: 1}
  y: {lb: 0.1, init: 1}
objective: {sense: min, expr: "exp(x) - log(y) + sqrt(x + y)"}
constraints:
  - name: total
    expr: "x + y >= 1"
"""

INFEASIBLE = """
name: infeasible
variables:
  x: {lb: 0, ub: 1}
objective: {sense: min, expr: "x"}
constraints:
  - name: need
    expr: "x >= 2"
"""


def solve(text: str, **kw):
    return workbench.solve(workbench.load_model(text), backend="pyomo", **kw)


# ----------------------------------------------------------------- compiler
def test_compile_pyomo_named_components():
    form = compile_pyomo(workbench.load_model(TRANSPORT))
    m = form.model
    assert isinstance(m, pyo.ConcreteModel)
    assert m.x["plant_a", 1].lb == 0 and m.x["plant_a", 1].ub is None
    assert len(m.x) == 6 and len(form.variables) == 6
    assert m.supply_limit["plant_a"].upper == 20
    assert m.meet_demand[3].lower == 15
    assert isinstance(m.component("objective"), pyo.Objective)
    assert form.objective.sense == pyo.minimize
    assert form.row_data("meet_demand", 0) is m.meet_demand[1]
    for v in form.variables:
        v.set_value(1.0)
    vals = form.values_by_variable()
    assert vals["x"][("plant_b", 2)] == 1.0
    assert form.duals_by_constraint() is None  # no dual Suffix asked for


def test_compile_pyomo_domains_scalars_and_init():
    form = compile_pyomo(
        workbench.load_model(KNAPSACK + "  - name: one\n    expr: 'n[\"a\"] >= 1'\n")
    )
    m = form.model
    assert m.n["a"].domain is pyo.Integers and m.n["a"].ub == 10
    assert m.one.lower == 1 and m.one.upper is None
    assert form.objective.sense == pyo.maximize
    nlp = compile_pyomo(workbench.load_model(NLP))
    assert nlp.model.x.value == 1 and nlp.model.x.lb == 0.1
    text = str(nlp.objective.expr)
    assert "exp(x)" in text and "log(y)" in text and "sqrt" in text
    nlp.model.x.set_value(0.5)
    nlp.model.y.set_value(1.0)
    assert pyo.value(nlp.objective) == pytest.approx(math.exp(0.5) + math.sqrt(1.5))


def test_compile_pyomo_range_and_equality_rows():
    form = compile_pyomo(workbench.load_model(RANGE_LP))
    m = form.model
    assert m.total.equality and m.total.upper == 3
    assert (m.spread.lower, m.spread.upper) == (1, 2)


# ------------------------------------------------------------------ backend
def test_available_and_probe():
    av = PyomoBackend().available()
    assert av.ok and "pyomo" in (av.version or "")
    found = installed_solvers()
    assert set(found) >= {"appsi_highs", "ipopt", "cbc", "glpk"}
    assert found["appsi_highs"].ok
    if not found["ipopt"].ok:
        # pip users get advice they can follow: no conda, and the backends that need no binary
        assert "conda" not in found["ipopt"].reason
        assert "backend 'scipy'" in found["ipopt"].reason


def test_lp_max_values():
    r = solve(TINY_LP)
    assert r.termination is Termination.OPTIMAL and r.backend == "pyomo"
    assert r.objective == pytest.approx(11.0)
    assert r.values == pytest.approx({"x": 3.0, "y": 1.0})
    assert r.bound == pytest.approx(11.0)
    assert r.diagnostics.native_status.startswith("optimal")
    assert r.timings.build > 0 and r.timings.solve > 0
    assert "HiGHS" in r.log


@pytest.mark.parametrize("solver", [None, "highs"])
def test_lp_duals_match_hand_computed(solver):
    kw = {} if solver is None else {"solver": solver}
    r = solve(DUAL_LP, **kw)
    assert r.objective == pytest.approx(9.0)
    assert r.values == pytest.approx({"x": 3.0, "y": 1.0})
    assert r.duals == pytest.approx({"cover_a": 1.5, "cover_b": 0.5, "spread": 0.0}, abs=1e-9)


def test_equality_and_range_rows():
    r = solve(RANGE_LP)
    assert r.objective == pytest.approx(3.5)
    assert r.values == pytest.approx({"x": 2.5, "y": 0.5})


def test_indexed_transport():
    r = solve(TRANSPORT)
    assert r.termination is Termination.OPTIMAL
    assert r.objective == pytest.approx(1075.0)
    assert sum(r.values["x"].values()) == pytest.approx(45.0)
    assert set(r.duals) == {"supply_limit", "meet_demand"}
    assert set(r.duals["meet_demand"]) == {1, 2, 3, 4}


@pytest.mark.parametrize("solver", [None, "highs"])
def test_milp(solver):
    kw = {} if solver is None else {"solver": solver}
    r = solve(KNAPSACK, **kw)
    assert r.termination is Termination.OPTIMAL
    assert r.objective == pytest.approx(13.0)
    assert r.values["n"] == pytest.approx({"a": 2.0, "b": 0.0, "c": 1.0})
    assert r.bound == pytest.approx(13.0) and r.duals is None


def test_qp_goes_to_highs_with_quadratic_support():
    r = solve(QP, time_limit=10, threads=1, seed=3)
    assert r.termination is Termination.OPTIMAL
    assert r.objective == pytest.approx(-4.25)
    assert r.values == pytest.approx({"x": 0.5, "y": 1.5}, abs=1e-6)


def test_infeasible_and_unbounded():
    assert solve(INFEASIBLE).termination is Termination.INFEASIBLE
    assert solve(INFEASIBLE, solver="highs").termination is Termination.INFEASIBLE
    r = solve(UNBOUNDED)
    assert r.termination is Termination.UNBOUNDED and r.objective is None


def test_constant_row_out_of_bounds_is_infeasible():
    text = INFEASIBLE.replace(
        'expr: "x >= 2"', 'expr: "x >= 0"\n  - name: never\n    expr: "0 >= 1"'
    )
    r = solve(text)
    assert r.termination is Termination.INFEASIBLE
    assert "never" in (r.diagnostics.message or "")


def test_nlp_rejected_with_install_hint():
    if solver_availability("ipopt").ok:
        pytest.skip("ipopt is installed here")
    with pytest.raises(UnsupportedProblemError, match="ipopt"):
        solve(NLP)
    with pytest.raises(UnsupportedProblemError, match="HiGHS"):
        solve(NLP, solver="appsi_highs")


def test_missing_solver_is_unavailable():
    if solver_availability("cbc").ok:
        pytest.skip("cbc is installed here")
    with pytest.raises(BackendUnavailableError, match="apt-get install coinor-cbc"):
        solve(TINY_LP, solver="cbc")


def test_options_validated_and_passed_through():
    r = solve(DUAL_LP, presolve="off", time_limit=5.0, rel_gap=1e-6)
    assert r.termination is Termination.OPTIMAL and r.objective == pytest.approx(9.0)
    with pytest.raises(OptionsError, match="presolv"):
        solve(DUAL_LP, presolv="off")
    with pytest.raises(OptionsError, match="bad value"):
        solve(DUAL_LP, presolve="sometimes")
    with pytest.raises(OptionsError, match="solver"):
        solve(DUAL_LP, solver=3)
    with pytest.raises(OptionsError):
        solve(DUAL_LP, presolve=["off"])


def test_structure_reused_and_model_untouched():
    from workbench.compile.structure import compile_structure

    model = workbench.load_model(TINY_LP)
    before = model.model_dump()
    cm = compile_structure(model)
    r = PyomoBackend().solve(model, SolveOptions(structure=cm))
    assert r.objective == pytest.approx(11.0)
    assert model.model_dump() == before


# ------------------------------------------------------------- status table
def test_status_table_is_exhaustive():
    from pyomo.contrib.appsi.base import TerminationCondition as AppsiTC
    from pyomo.opt import TerminationCondition as LegacyTC

    table = status_map()
    for member in [*LegacyTC, *AppsiTC]:
        assert isinstance(table[member], Termination), member
        assert termination(member) is table[member]
    assert table == STATUS_MAP
    assert termination("not a condition") is Termination.ERROR
    assert table[LegacyTC.locallyOptimal] is Termination.LOCALLY_OPTIMAL
    assert table[LegacyTC.infeasible] is Termination.INFEASIBLE
    assert table[AppsiTC.infeasibleOrUnbounded] is Termination.INFEASIBLE_OR_UNBOUNDED
    assert table[AppsiTC.maxTimeLimit] is Termination.TIME_LIMIT


def test_matrix_model_through_pyomo():
    lf = workbench.compile_linear(workbench.load_model(DUAL_LP))
    r = PyomoBackend().solve_linear(lf, SolveOptions())
    assert r.termination is Termination.OPTIMAL
    assert r.objective == pytest.approx(9.0)
    assert r.duals == pytest.approx({"cover_a": 1.5, "cover_b": 0.5, "spread": 0.0}, abs=1e-9)
    lf = workbench.compile_linear(workbench.load_model(QP))
    r = PyomoBackend().solve_linear(lf, SolveOptions())
    assert r.objective == pytest.approx(-4.25)


def test_supports_hook():
    from workbench.classification import classify

    assert PyomoBackend.supports(classify(workbench.load_model(TINY_LP))).ok
    nlp = PyomoBackend.supports(classify(workbench.load_model(NLP)))
    assert nlp.ok == any(solver_availability(s).ok for s in ("ipopt", "bonmin", "couenne", "scip"))
    if not nlp.ok:
        assert "ipopt" in nlp.reason


def _classified(variables: str, objective: str, constraints: str = "[]"):
    from workbench.classification import classify

    return classify(
        workbench.load_model(
            f"variables: {variables}\nobjective: {objective}\nconstraints: {constraints}\n"
        )
    )


def test_verdict_local_and_global_solvers():
    """A local solver's optimum is OPTIMAL only on a proven convex model; global solvers keep it."""
    from solvers.pyomo_backend import GLOBAL_SOLVERS, LOCAL_SOLVERS, verdict

    assert "ipopt" in LOCAL_SOLVERS and "bonmin" in LOCAL_SOLVERS and "couenne" in GLOBAL_SOLVERS
    opt, loc = Termination.OPTIMAL, Termination.LOCALLY_OPTIMAL
    convex = _classified(
        "{x: {lb: 0.1}, y: {}}", "{expr: 'exp(y) - log(x)'}", "[{expr: 'x + y <= 3'}]"
    )
    bilinear = _classified(
        "{x: {lb: 0, ub: 4}, y: {lb: 0, ub: 4}}",
        "{sense: max, expr: 'x + y'}",
        "[{expr: 'x * y == 2'}]",
    )
    cminlp = _classified(
        "{k: {domain: integer, lb: 0, ub: 5}, y: {}}", "{expr: '(k - 2.5)**2 + exp(y)'}"
    )
    ncminlp = _classified("{k: {domain: integer, lb: 0, ub: 5}}", "{expr: 'sin(k)'}")
    lp = _classified("{x: {lb: 0}}", "{expr: 'x'}")
    assert verdict("ipopt", convex, opt)[0] is opt
    assert verdict("ipopt", convex, loc)[0] is opt  # ipopt's locallyOptimal on a convex model
    term, note = verdict("ipopt", bilinear, opt)
    assert term is loc and "nonconvex" in note and "'scip'" in note
    assert verdict("couenne", bilinear, opt) == (opt, None)
    assert verdict("gurobi_persistent", bilinear, opt) == (opt, None)
    assert verdict("some_new_solver", bilinear, opt)[0] is loc  # unknown counts as local
    assert verdict("bonmin", cminlp, opt)[0] is opt  # exact on a convex MINLP
    assert verdict("bonmin", ncminlp, opt)[0] is loc
    assert verdict("ipopt", lp, opt) == (opt, None)
    assert verdict("ipopt", bilinear, Termination.INFEASIBLE) == (Termination.INFEASIBLE, None)
