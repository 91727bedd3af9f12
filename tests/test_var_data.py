"""Variables' lb, ub and init take a parameter's data forms: scalar, list, mapping, expression."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import workbench
from workbench.compile.context import Context
from workbench.errors import ModelError

ONE_D = """
sets: {I: [a, b]}
params: {p: {index: [I], values: [1.5, -2]}}
variables:
  x: {index: [I], %s}
objective: {expr: "sum(x[i] for i in I)"}
"""

TWO_D = """
sets: {I: [a, b], T: {range: [1, 3]}}
variables:
  y: {index: [I, T], %s}
objective: {expr: "sum(y[i, t] for i in I for t in T)"}
"""


def compiled(text: str, name: str = "x") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    ctx = Context(workbench.load_model(text))
    ctx.build_variables()
    v = ctx.vars[name]
    return v.lb, v.ub, v.init


def err(text: str) -> str:
    with pytest.raises(ModelError) as exc:
        workbench.validate(workbench.load_model(text))
    return str(exc.value)


@pytest.mark.parametrize(
    "spec",
    [
        "init: [1.5, -2]",
        "init: {a: 1.5, b: -2}",
        "init: p",
        'init: "p[i]", for: "i in I"',
        'init: "3 * p[i] / 3", for: "i in I"',
    ],
)
def test_init_forms_agree(spec: str) -> None:
    _, _, init = compiled(ONE_D % spec)
    assert init is not None and init.tolist() == [1.5, -2.0]


@pytest.mark.parametrize("attr", ["lb", "ub"])
def test_bound_forms_agree(attr: str) -> None:
    for spec in (f"{attr}: [1.5, -2]", f"{attr}: {{b: -2, a: 1.5}}", f"{attr}: p"):
        lb, ub, _ = compiled(ONE_D % spec)
        assert (lb if attr == "lb" else ub).tolist() == [1.5, -2.0], spec


def test_two_dimensional_list_and_mapping_forms() -> None:
    want = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    _, _, init = compiled(TWO_D % "init: [[1, 2, 3], [4, 5, 6]]", "y")
    assert init is not None and init.tolist() == want
    _, _, init = compiled(TWO_D % "init: {a: {1: 1, 2: 2, 3: 3}, b: {1: 4, 2: 5, 3: 6}}", "y")
    assert init is not None and init.tolist() == want
    lb, _, _ = compiled(TWO_D % "lb: {'a, 1': 1, 'b, 3': 6}", "y")
    assert lb.tolist() == [1.0, -math.inf, -math.inf, -math.inf, -math.inf, 6.0]
    model = workbench.load_model(TWO_D % "lb: 0")
    model.variables["y"].ub = {("a", 2): 7, ("b", 1): 8}  # tuple keys from Python
    ctx = Context(model)
    ctx.build_variables()
    assert ctx.vars["y"].ub.tolist() == [math.inf, 7, math.inf, 8, math.inf, math.inf]


def test_a_mapping_sets_only_the_members_it_names() -> None:
    lb, ub, init = compiled(ONE_D % "lb: {b: 0}, ub: {a: 4}, init: {b: 1}")
    assert lb.tolist() == [-math.inf, 0.0] and ub.tolist() == [4.0, math.inf]
    assert init is not None and math.isnan(init[0]) and init[1] == 1.0


def test_infinite_bounds_in_data_forms() -> None:
    lb, ub, _ = compiled(ONE_D % "lb: [-.inf, 0], ub: [3, inf]")
    assert lb.tolist() == [-math.inf, 0.0] and ub.tolist() == [3.0, math.inf]
    lb, _, _ = compiled(ONE_D % "lb: {a: '-inf', b: 2}")
    assert lb.tolist() == [-math.inf, 2.0]


def test_numpy_arrays_are_accepted_from_python() -> None:
    data = workbench.ir.model_to_dict(workbench.load_model(TWO_D % "lb: 0"))
    data["variables"]["y"]["init"] = np.arange(6.0).reshape(2, 3)
    model = workbench.ir.model_from_dict(data)
    assert model.variables["y"].init == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    ctx = Context(model)
    ctx.build_variables()
    assert ctx.vars["y"].init is not None and ctx.vars["y"].init.tolist() == list(range(6))


def test_list_start_values_reach_a_local_solver() -> None:
    # Hock-Schittkowski 71 as plain IR, start values as a list in set order
    # (the form that failed with "Input should be a valid number").
    text = """
name: hs071
sets: {N: {range: [1, 4]}}
variables:
  x: {index: [N], lb: 1, ub: [5, 5, 5, 5], init: [1, 5, 5, 1]}
objective: {expr: "x[1] * x[4] * (x[1] + x[2] + x[3]) + x[3]"}
constraints:
  - {name: prod, expr: "x[1] * x[2] * x[3] * x[4] >= 25"}
  - {name: norm, expr: "sum(x[i]**2 for i in N) == 40"}
"""
    res = workbench.solve(workbench.load_model(text), backend="scipy", seed=0)
    assert res.termination.value in ("optimal", "locally_optimal")
    assert res.objective == pytest.approx(17.0140173, rel=1e-6)  # the published optimum
    x = res.values["x"]
    assert x[1] * x[2] * x[3] * x[4] >= 25 - 1e-6
    assert sum(v**2 for v in x.values()) == pytest.approx(40, abs=1e-6)


def test_a_list_bound_is_applied_by_a_linear_solver() -> None:
    text = """
sets: {I: [a, b, c]}
variables:
  x: {index: [I], lb: [1, 2, 3], ub: {c: 10}}
objective: {expr: "sum(x[i] for i in I)"}
"""
    res = workbench.solve(workbench.load_model(text), backend="highs")
    assert res.objective == pytest.approx(6.0)
    assert res.values["x"] == {"a": 1.0, "b": 2.0, "c": 3.0}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "init: [1, 2, 3]",
            "variables.x.init: 3 entries for the 2 members of I (give one per member, "
            "in set order)",
        ),
        ("lb: [0]", "variables.x.lb: 1 entries for the 2 members of I"),
        ("init: {a: 1, z: 2}", "variables.x.init.z: 'z' is not a member of I"),
        ("ub: {a: 1, c: 2}", "variables.x.ub.c: 'c' is not a member of I"),
        ("init: [1, .inf]", "variables.x.init[1]: not a finite number"),
        ("init: .inf", "variables.x.init: not a finite number"),
        ("lb: [0, .nan]", "variables.x.lb[1]: not a finite number (nan)"),
        ("init: [1, true]", "variables.x.init[1]: expected a number, got True"),
        ("init: [1, two]", "variables.x.init[1]: expected a number, got 'two'"),
        ("ub: [[1], [2]]", "variables.x.ub[0]: expected a number, got [1]"),
        ("lb: true", "variables.x.lb: expected a number, not a boolean"),
        ("init: {a: {b: 1}}", "variables.x.init.a: expected a number"),
    ],
)
def test_bad_data_forms_are_located(spec: str, message: str) -> None:
    assert err(ONE_D % spec).startswith(message)


def test_wrong_shapes_in_two_dimensions_are_located() -> None:
    msg = err(TWO_D % "init: [[1, 2, 3], [4, 5]]")
    assert msg.startswith("variables.y.init[1]: 2 entries for the 3 members of T")
    assert err(TWO_D % "ub: {a: {4: 1}}").startswith("variables.y.ub.a.4: 4 is not a member of T")


def test_a_scalar_variable_refuses_a_list_or_mapping() -> None:
    text = "variables: {z: {init: [1, 2]}}\nobjective: {expr: z}"
    assert err(text) == (
        "variables.z.init: 'z' is a scalar variable: give one number or an expression, not a list"
    )
    assert "not a mapping" in err(text.replace("[1, 2]", "{a: 1}"))


def test_data_forms_survive_a_yaml_round_trip() -> None:
    model = workbench.load_model(ONE_D % "lb: {a: 0}, ub: [3, .inf], init: [1, 2]")
    text = workbench.dump_model(model)
    assert "lb:\n      a: 0" in text
    for got, want in zip(
        compiled(text), compiled(ONE_D % "lb: {a: 0}, ub: [3, .inf], init: [1, 2]")
    ):
        assert got is not None and want is not None
        np.testing.assert_array_equal(got, want)
    json_back = workbench.load_model(workbench.dump_model(model, "json"))
    assert json_back.variables["x"].ub == [3, "inf"]  # JSON has no infinity: the word stands in


# ---------------------------------------------------------------- property
sizes = st.tuples(st.integers(1, 3), st.integers(1, 3))
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=sizes, attr=st.sampled_from(["lb", "ub", "init"]))
def test_list_mapping_and_scalar_forms_agree(data, shape, attr) -> None:
    """The list, mapping and (for constant data) scalar forms give the same entries."""
    n, m = shape
    rows = [[data.draw(finite) for _ in range(m)] for _ in range(n)]
    members = [f"r{k}" for k in range(n)]

    def model(spec: object) -> workbench.Model:
        return workbench.ir.model_from_dict(
            {
                "sets": {"R": members, "C": {"range": [1, m]}},
                "variables": {"v": {"index": ["R", "C"], attr: spec}},
                "objective": {"expr": "sum(v[r, c] for r in R for c in C)"},
            }
        )

    def entries(spec: object) -> list[float]:
        ctx = Context(model(spec))
        ctx.build_variables()
        v = ctx.vars["v"]
        arr = v.init if attr == "init" else getattr(v, attr)
        assert arr is not None
        return [float(a) for a in arr]

    as_list = entries(rows)
    as_mapping = entries({r: {c + 1: rows[k][c] for c in range(m)} for k, r in enumerate(members)})
    as_pairs = entries({(r, c + 1): rows[k][c] for k, r in enumerate(members) for c in range(m)})
    assert as_list == as_mapping == as_pairs == [x for row in rows for x in row]
    const = data.draw(finite)
    assert entries(const) == entries([[const] * m] * n) == [const] * (n * m)


def test_the_app_renders_data_bounds() -> None:
    from app.components.latex import variable_latex

    model = workbench.load_model(ONE_D % "lb: [0, 1], ub: {a: 4}")
    tex = variable_latex("x", model.variables["x"])
    assert tex.startswith(r"\texttt{[0, 1]} \le x_{\cdot} \le \texttt{\{'a': 4\}}")
    model.variables["x"].lb = list(range(100))
    assert variable_latex("x", model.variables["x"]).startswith(r"\text{(data)} \le")


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_tuple_keys_from_python_are_written_as_nested_mappings(fmt: str) -> None:
    model = workbench.load_model(TWO_D % "lb: 0")
    model.variables["y"].ub = {("a", 2): 7, ("b", 3): 8}
    text = workbench.dump_model(model, fmt)
    back = workbench.load_model(text)
    assert back.variables["y"].ub in ({"a": {2: 7}, "b": {3: 8}}, {"a": {"2": 7}, "b": {"3": 8}})
    ctx = Context(back)
    ctx.build_variables()
    assert ctx.vars["y"].ub.tolist() == [math.inf, 7, math.inf, math.inf, math.inf, 8]
