"""The exact reformulation layer: each rule against brute-force enumeration, on HiGHS.

The small models enumerate every integer point of their box with numpy, so
the optimum each test compares with is computed independently of the solvers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import workbench
from workbench.cli.main import app
from workbench.compile.reformulate import AUX_PREFIX, reformulate
from workbench.errors import ModelError
from workbench.ir import dump_model, load_model, model_from_dict
from workbench.result import Termination


def _model(objective: str, sense: str = "min", constraints: list | None = None, **variables):
    return model_from_dict(
        {
            "variables": variables,
            "objective": {"sense": sense, "expr": objective},
            "constraints": constraints or [],
        }
    )


def _brute(
    boxes: dict[str, range],
    f: Callable[..., float],
    sense: str,
    feasible: Callable[..., bool] = lambda **_: True,
) -> float:
    names = list(boxes)
    vals = [
        f(**dict(zip(names, p)))
        for p in itertools.product(*boxes.values())
        if feasible(**dict(zip(names, p)))
    ]
    return min(vals) if sense == "min" else max(vals)


def _highs(model, **kw):
    res = workbench.solve(model, backend="highs", **kw)
    assert res.termination is Termination.OPTIMAL, res.diagnostics.message
    return res


INT = {"domain": "integer", "lb": -3, "ub": 4}
BIN = {"domain": "binary"}


@pytest.mark.parametrize(
    ("expr", "sense", "f", "method"),
    [
        ("max(x - y, 2*y - x, 1)", "min", lambda x, y: max(x - y, 2 * y - x, 1), "epigraph"),
        ("max(x - y, 2*y - x, 1)", "max", lambda x, y: max(x - y, 2 * y - x, 1), "big-M"),
        ("min(x + y, 3 - x)", "max", lambda x, y: min(x + y, 3 - x), "hypograph"),
        ("min(x + y, 3 - x)", "min", lambda x, y: min(x + y, 3 - x), "big-M"),
        ("-max(x, y) + 0.5*x", "max", lambda x, y: -max(x, y) + 0.5 * x, "epigraph"),
        ("2 - 3*min(x, -y)", "min", lambda x, y: 2 - 3 * min(x, -y), "hypograph"),
        ("abs(x - 2*y + 1)", "min", lambda x, y: abs(x - 2 * y + 1), "epigraph"),
        ("abs(x - 2*y + 1) - x", "max", lambda x, y: abs(x - 2 * y + 1) - x, "split"),
        ("x - abs(y - 1)", "min", lambda x, y: x - abs(y - 1), "split"),
    ],
)
def test_minmax_abs_rules_match_enumeration(expr, sense, f, method):
    m = _model(expr, sense, x=INT, y=INT)
    rf = reformulate(m)
    assert any(method in r.method for r in rf.records), rf.summary()
    res = _highs(m)
    assert res.objective == pytest.approx(_brute({"x": range(-3, 5), "y": range(-3, 5)}, f, sense))
    assert set(res.values) == {"x", "y"}  # auxiliaries are dropped when mapping back


def test_max_in_constraints_both_sides():
    # max(...) <= 3 is convex (epigraph); max(...) >= 3 needs selectors
    cons = [{"expr": "max(x, y) <= 3"}, {"expr": "max(x - 1, 2 - y) >= 2"}]
    m = _model("x + 2*y", "max", cons, x=INT, y=INT)
    rf = reformulate(m)
    methods = [r.method for r in rf.records]
    assert "epigraph" in methods and "big-M selectors" in methods
    want = _brute(
        {"x": range(-3, 5), "y": range(-3, 5)},
        lambda x, y: x + 2 * y,
        "max",
        lambda x, y: max(x, y) <= 3 and max(x - 1, 2 - y) >= 2,
    )
    assert _highs(m).objective == pytest.approx(want)


def test_generator_max_over_an_indexed_family():
    # makespan on 2 machines: max over m of the load; filtered generator in the min form
    data = {
        "sets": {"J": {"range": [1, 4]}, "M": ["a", "b"]},
        "params": {"p": {"index": ["J"], "values": [3, 5, 2, 6]}},
        "variables": {"x": {"index": ["J", "M"], "domain": "binary"}},
        "objective": {"sense": "min", "expr": "max(sum(p[j] * x[j, m] for j in J) for m in M)"},
        "constraints": [{"for": "j in J", "expr": "sum(x[j, m] for m in M) == 1"}],
    }
    res = _highs(model_from_dict(data))
    assert res.objective == pytest.approx(8)  # {3, 5} / {2, 6}
    data["objective"] = {
        "sense": "max",
        "expr": "min(sum(p[j] * x[j, m] for j in J) for m in M if m != 'c')",
    }
    res = _highs(model_from_dict(data))
    assert res.objective == pytest.approx(8)
    assert res.diagnostics.extra["reformulations"][0]["method"] == "hypograph"


def test_max_inside_a_constraint_family_with_per_row_big_m():
    data = {
        "sets": {"I": [1, 2, 3]},
        "params": {"c": {"index": ["I"], "values": [1, -2, 3]}},
        "variables": {"x": {"index": ["I"], "domain": "integer", "lb": -2, "ub": 2}},
        "objective": {"sense": "min", "expr": "sum(x[i] for i in I)"},
        "constraints": [{"for": "i in I", "expr": "max(x[i], c[i] - x[i]) >= 2"}],
    }
    m = model_from_dict(data)
    rf = reformulate(m)
    assert any(p.startswith(AUX_PREFIX) for p in rf.model.params)  # per-row M as data
    c = [1, -2, 3]
    want = sum(
        min(v for v in range(-2, 3) if max(v, c[k] - v) >= 2) for k in range(3)
    )  # rows are independent
    assert _highs(m).objective == pytest.approx(want)


@pytest.mark.parametrize(
    ("expr", "f"),
    [
        ("3*a*b - 2*a - b*c + a*b*c", lambda a, b, c: 3 * a * b - 2 * a - b * c + a * b * c),
        ("a**2 - 2*a*a + b*b*c", lambda a, b, c: a - 2 * a + b * c),
    ],
)
@pytest.mark.parametrize("sense", ["min", "max"])
def test_binary_products_match_enumeration(expr, f, sense):
    m = _model(expr, sense, a=BIN, b=BIN, c=BIN)
    res = _highs(m)
    want = _brute({"a": range(2), "b": range(2), "c": range(2)}, f, sense)
    assert res.objective == pytest.approx(want)


@pytest.mark.parametrize("sense", ["min", "max"])
def test_binary_times_bounded_variable_mccormick(sense):
    m = _model(
        "3*b*x - 2*b - x + b*c*y",
        sense,
        [{"expr": "x + y <= 5"}],
        b=BIN,
        c=BIN,
        x={"domain": "integer", "lb": -2, "ub": 4},
        y={"domain": "integer", "lb": -3, "ub": 3},
    )
    rf = reformulate(m)
    assert "McCormick" in [r.method for r in rf.records]
    want = _brute(
        {"b": range(2), "c": range(2), "x": range(-2, 5), "y": range(-3, 4)},
        lambda b, c, x, y: 3 * b * x - 2 * b - x + b * c * y,
        sense,
        lambda b, c, x, y: x + y <= 5,
    )
    assert _highs(m).objective == pytest.approx(want)


def test_continuous_products_and_functions_stay_for_a_global_solver():
    m = _model("x*y + exp(x)", x={"lb": 0, "ub": 1}, y={"lb": 0, "ub": 1})
    rf = reformulate(m)
    assert not rf.changed
    assert rf.model.objective.expr == m.objective.expr


def test_diagnostics_record_each_rewrite_in_words():
    m = _model("max(x, y)", x=INT, y=INT)
    res = _highs(m)
    recs = res.diagnostics.extra["reformulations"]
    assert recs == [
        {"where": "objective", "construct": "max", "method": "epigraph", "variables": 1, "rows": 2}
    ]
    assert res.diagnostics.extra["reformulation"] == (
        "reformulated: objective: max -> epigraph, 1 variable, 2 rows"
    )


def test_missing_bound_for_big_m_names_the_variable_and_fix():
    m = _model("max(x, y)", "max", [{"expr": "x + y <= 3"}], x={"lb": 0}, y=INT)
    with pytest.raises(ModelError) as e:
        reformulate(m)
    assert "objective.expr" in str(e.value)
    assert "give `x` an upper bound" in str(e.value)
    # with a global solver allowed, the term is left as written and noted
    rf = reformulate(m, allow_global=True)
    assert "max(x, y)" in rf.model.objective.expr and rf.left
    # and the one-line summary (what `workbench reformulate` prints) says so, not just "no reformulation"
    assert "left as written for a global solver" in rf.summary() and "`x`" in rf.summary()


def test_names_are_reserved_and_do_not_clash():
    m = _model("max(_rf_t1, y)", _rf_t1=INT, y=INT)
    rf = reformulate(m)
    assert "_rf_t1" in rf.model.variables and rf.model.variables["_rf_t1"].domain == "integer"
    assert len(rf.aux_variables) == 1 and "_rf_t1" not in rf.aux_variables
    res = _highs(m)
    assert set(res.values) == {"_rf_t1", "y"}
    assert res.objective == pytest.approx(-3)


def test_reformulated_model_is_plain_ir_that_reloads():
    m = _model("max(x, y) + abs(x - y)", "max", x=INT, y=INT)
    text = dump_model(reformulate(m).model)
    again = load_model(text)
    res = workbench.solve(again, backend="highs", reformulate=False)
    assert res.objective == pytest.approx(4 + 7)


def test_explicit_backend_without_reformulation_is_refused():
    m = _model("max(x, y)", x=INT, y=INT)
    with pytest.raises(workbench.UnsupportedProblemError):
        workbench.solve(m, backend="highs", reformulate=False)


def _cli(tmp_path, command: str, *flags: str) -> str:
    """Run ``workbench COMMAND m.yaml FLAGS`` on a small max model; its output."""
    path = tmp_path / "m.yaml"
    path.write_text(dump_model(_model("max(x, y)", x=INT, y=INT)), encoding="utf-8")
    out = CliRunner().invoke(app, [command, str(path), *flags])
    assert out.exit_code == 0, out.output
    return out.output


def test_cli_prints_the_reformulated_model(tmp_path):
    out = _cli(tmp_path, "reformulate")
    assert "objective: max -> epigraph" in out
    assert "_rf_t" in out and "expr: _rf_t" in out
    out = _cli(tmp_path, "solve", "--show-reformulated")
    assert "_rf_t" in out and "reformulated" in out


# --------------------------------------------------------------- property test
_TERM = st.tuples(st.integers(-3, 3), st.integers(-3, 3), st.integers(-4, 4))


@st.composite
def _pieces(draw):
    """A random sum of weighted max/min/abs of affine terms and binary products."""
    parts: list[tuple[str, Callable[..., float]]] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["max", "min", "abs", "prod", "mc"]))
        w = draw(st.sampled_from([-2, -1, 1, 3]))
        if kind in ("max", "min"):
            terms = draw(st.lists(_TERM, min_size=2, max_size=3))
            text = f"{kind}(" + ", ".join(f"{a}*x + {b}*y + {c}" for a, b, c in terms) + ")"
            fn = max if kind == "max" else min

            def f(x, y, b1, b2, terms=terms, fn=fn):
                return fn(a * x + b * y + c for a, b, c in terms)
        elif kind == "abs":
            a, b, c = draw(_TERM)
            text = f"abs({a}*x + {b}*y + {c})"

            def f(x, y, b1, b2, a=a, b=b, c=c):
                return abs(a * x + b * y + c)
        elif kind == "prod":
            text = "b1*b2"

            def f(x, y, b1, b2):
                return b1 * b2
        else:
            text = "b1*x"

            def f(x, y, b1, b2):
                return b1 * x

        parts.append((f"{w}*{text}", lambda x, y, b1, b2, f=f, w=w: w * f(x, y, b1, b2)))
    return parts


@st.composite
def _random_model(draw):
    """An objective of pieces, and maybe a constraint of pieces on a random side."""
    objective = draw(_pieces())
    sense = draw(st.sampled_from(["min", "max"]))
    con = None
    if draw(st.booleans()):
        con = (draw(_pieces()), draw(st.sampled_from(["<=", ">=", "=="])), draw(st.integers(-6, 6)))
    return objective, sense, con


def _value(parts, v) -> float:
    return sum(p[1](**v) for p in parts)


@settings(max_examples=40, deadline=None)
@given(_random_model())
def test_random_models_match_enumeration(drawn):
    objective, sense, con = drawn
    expr = " + ".join(p[0] for p in objective)
    cons = []
    ok = lambda **v: True  # noqa: E731
    if con is not None:
        parts, op, rhs = con
        cons = [{"expr": f"{' + '.join(p[0] for p in parts)} {op} {rhs}"}]
        ops = {"<=": lambda a: a <= rhs, ">=": lambda a: a >= rhs, "==": lambda a: a == rhs}

        def ok(**v):
            return ops[op](_value(parts, v))

    m = _model(
        expr,
        sense,
        cons,
        x={"domain": "integer", "lb": -2, "ub": 3},
        y={"domain": "integer", "lb": -1, "ub": 2},
        b1=BIN,
        b2=BIN,
    )
    box = {"x": range(-2, 4), "y": range(-1, 3), "b1": range(2), "b2": range(2)}
    names = list(box)
    feasible = [dict(zip(names, p)) for p in itertools.product(*box.values())]
    feasible = [v for v in feasible if ok(**v)]
    res = workbench.solve(m, backend="highs")
    if not feasible:
        assert res.termination is Termination.INFEASIBLE, (expr, cons)
        return
    vals = [_value(objective, v) for v in feasible]
    want = min(vals) if sense == "min" else max(vals)
    assert res.termination is Termination.OPTIMAL, (expr, cons)
    assert math.isclose(res.objective, want, abs_tol=1e-6), (expr, sense, cons)


def test_missing_bound_on_a_linear_backend_is_a_located_error():
    m = _model("max(x, y)", "max", [{"expr": "x + y <= 3"}], x={"lb": 0}, y=INT)
    with pytest.raises(ModelError, match="give `x` an upper bound"):
        workbench.solve(m, backend="highs")


def test_plain_linear_models_skip_the_pass():
    m = _model("x + 2*y", "max", [{"expr": "x + y <= 3"}], x=INT, y=INT)
    res = _highs(m)
    assert "reformulations" not in res.diagnostics.extra and res.objective == pytest.approx(7)


def test_validate_prints_the_class_after_reformulation(tmp_path):
    assert "after reformulation: MILP" in _cli(tmp_path, "validate")


@pytest.mark.parametrize(("c", "method"), [([2, 1], "epigraph"), ([2, -1], "big-M selectors")])
def test_data_coefficients_decide_the_side_per_model(c, method):
    # sum(c[k] * max(x[k], y)) in a minimised objective: convex only when every c[k] >= 0
    data = {
        "sets": {"K": [1, 2]},
        "params": {"c": {"index": ["K"], "values": c}},
        "variables": {
            "x": {"index": ["K"], "domain": "integer", "lb": -2, "ub": 2},
            "y": {"domain": "integer", "lb": -1, "ub": 1},
        },
        "objective": {"sense": "min", "expr": "sum(c[k] * max(x[k], y) - x[k] for k in K)"},
    }
    m = model_from_dict(data)
    assert [r.method for r in reformulate(m).records] == [method]
    want = _brute(
        {"x1": range(-2, 3), "x2": range(-2, 3), "y": range(-1, 2)},
        lambda x1, x2, y: c[0] * max(x1, y) - x1 + c[1] * max(x2, y) - x2,
        "min",
    )
    assert _highs(m).objective == pytest.approx(want)


def test_the_users_model_is_never_changed():
    m = _model(
        "max(x, y) + abs(x - y) + 2*b*x",
        "max",
        [{"expr": "x <= 3", "when": "b"}],
        x=INT,
        y=INT,
        b=BIN,
    )
    before = dump_model(m)
    reformulate(m)
    _highs(m)
    assert dump_model(m) == before


def test_objective_products_can_be_left_for_a_global_solver():
    m = _model("a*b - c", "max", [{"expr": "a*c + b <= 1"}], a=BIN, b=BIN, c=BIN)
    rf = reformulate(m, objective_products=False)
    assert rf.model.objective.expr == "a * b - c"
    assert [r.where for r in rf.records] == ["constraints[0]"]


def test_generator_max_with_a_filter_on_its_large_side():
    # for each i: max over j != i of (x[i, j] - x[j, i]) >= 1 (selectors over a filtered set)
    c = [[0, 3, 1], [2, 0, 4], [1, 5, 0]]
    data = {
        "sets": {"I": [1, 2, 3]},
        "params": {"c": {"index": ["I", "I"], "values": c}},
        "variables": {"x": {"index": ["I", "I"], "domain": "binary"}},
        "objective": {"sense": "min", "expr": "sum(c[i, j] * x[i, j] for i in I for j in I)"},
        "constraints": [
            {"for": "i in I", "expr": "max(x[i, j] - x[j, i] for j in I if j != i) >= 1"}
        ],
    }
    m = model_from_dict(data)
    assert [r.method for r in reformulate(m).records] == ["big-M selectors"]
    best = math.inf
    for bits in itertools.product(range(2), repeat=9):
        x = [bits[0:3], bits[3:6], bits[6:9]]
        if all(max(x[i][j] - x[j][i] for j in range(3) if j != i) >= 1 for i in range(3)):
            best = min(best, sum(c[i][j] * x[i][j] for i in range(3) for j in range(3)))
    assert _highs(m).objective == pytest.approx(best)


@pytest.mark.parametrize(("convex", "first"), [(True, "scipy"), (None, "scip"), (False, "scip")])
def test_continuous_nlp_goes_global_unless_proven_convex(convex, first):
    from workbench.backends.base import Capability
    from workbench.classification import Classification
    from workbench.solving import _nlp_rank

    cls = Classification(problem_class=Capability.NLP, convex=convex)
    ranks = {"scip": _nlp_rank(cls, "scip", 22), "scipy": _nlp_rank(cls, "scipy", 25)}
    assert min(ranks, key=ranks.get) == first
    milp = Classification(problem_class=Capability.MILP)
    assert _nlp_rank(milp, "scip", 22) == 22  # other classes keep the backends' ranks
