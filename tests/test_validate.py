"""Bad input gets a located ModelError before any solver runs; empty sets only warn."""

from __future__ import annotations

import pytest

import workbench
from workbench.errors import ModelError

BASE = """
name: t
sets:
  I: [a, b, c]
  T: {range: [1, 3]}
params:
  cap: {index: [I], values: {a: 5, b: 6, c: 7}}
  d: {index: [T], values: [1, 2, 3]}
variables:
  x: {index: [I], lb: 0}
  s: {index: [T], lb: 0}
objective: {sense: min, expr: "sum(x[i] for i in I)"}
constraints:
  - {name: c0, for: "i in I", expr: "x[i] <= cap[i]"}
"""


def model_with(**patch: str) -> str:
    text = BASE
    for old, new in patch.items():
        text = text.replace(old.replace("__", " "), new)
    return text


def err(text: str) -> str:
    with pytest.raises(ModelError) as exc:
        workbench.validate(workbench.load_model(text))
    return str(exc.value)


def add_constraint(expr: str, for_: str | None = None) -> str:
    f = f', for: "{for_}"' if for_ else ""
    return BASE + f'  - {{name: extra{f}, expr: "{expr}"}}\n'


def test_valid_model_validates_without_warnings():
    assert workbench.validate(workbench.load_model(BASE)) == []


def test_unknown_symbol_names_location_and_suggests():
    msg = err(add_constraint("sum(y[i] for i in I) <= 3"))
    assert msg == "constraints[1].expr: unknown symbol 'y' (did you mean 's'?)" or msg.startswith(
        "constraints[1].expr: unknown symbol 'y'"
    )
    msg = err(add_constraint("sum(x[i] for i in I) <= capp"))
    assert msg == "constraints[1].expr: unknown symbol 'capp' (did you mean 'cap'?)"


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("__import__('os') <= 1", "'__import__' is not allowed"),
        ("x.real <= 1", "attribute access"),
        ("(lambda: 1)() <= 1", "only the functions"),
    ],
)
def test_disallowed_expressions(expr, fragment):
    msg = err(add_constraint(expr.replace('"', "'")))
    assert msg.startswith("constraints[1].expr: ") and fragment in msg


def test_nan_and_inf_data():
    msg = err(BASE.replace("values: [1, 2, 3]", "values: [1, .nan, 3]"))
    assert msg.startswith("params.d.values[1]: not a finite number")
    msg = err(BASE.replace("{a: 5, b: 6, c: 7}", "{a: 5, b: .inf, c: 7}"))
    assert msg.startswith("params.cap.values.b: not a finite number")


def test_missing_index_value_and_unknown_member():
    msg = err(BASE.replace("{a: 5, b: 6, c: 7}", "{a: 5, b: 6}"))
    assert msg == "params.cap: no value for cap[c] (give it, or set 'default:')"
    ok = BASE.replace("{a: 5, b: 6, c: 7}}", "{a: 5, b: 6}, default: 0}")
    assert workbench.validate(workbench.load_model(ok)) == []
    msg = err(BASE.replace("{a: 5, b: 6, c: 7}", "{a: 5, b: 6, z: 7}"))
    assert msg == "params.cap.values.z: 'z' is not a member of I"


def test_mismatched_dimensions():
    msg = err(BASE.replace("values: [1, 2, 3]", "values: [1, 2]"))
    assert msg == (
        "params.d.values: 2 entries for the 3 members of T (give one per member, in set order)"
    )
    msg = err(add_constraint("x[i, i] <= 1", "i in I"))
    assert msg == "constraints[1].expr: 'x' takes 1 index(es) (I), got 2"
    msg = err(add_constraint("x <= 1"))
    assert "'x' is indexed by (I); write x[...]" in msg


def test_index_out_of_range_names_binding_and_hint():
    msg = err(add_constraint("s[t] >= s[t-1]", "t in T"))
    assert msg.startswith("constraints[1].expr: s[0] is outside the index set T of 's'")
    assert "filter the quantifier" in msg and "(when t=1)" in msg
    ok = add_constraint("s[t] >= s[t-1]", "t in T if t > 1")
    assert workbench.validate(workbench.load_model(ok)) == []


def test_wrong_member_kind_in_index():
    msg = err(add_constraint("x[1] <= 1"))
    assert "index 1 of 'x' must be text (a member of I)" in msg


def test_empty_sum_and_empty_family_warn_not_fail():
    text = BASE.replace("I: [a, b, c]", "I: [a, b, c]\n  E: []").replace(
        "constraints:\n",
        'constraints:\n  - {name: e1, expr: "sum(x[i] for i in I if cap[i] > 100) <= 3"}\n'
        '  - {name: e2, for: "i in I if cap[i] > 100", expr: "x[i] <= 1"}\n',
    )
    warnings = workbench.validate(workbench.load_model(text))
    assert any(
        "sum() over an empty set (taken as 0)" in w and w.startswith("constraints[0].expr")
        for w in warnings
    )
    assert any(w.startswith("constraints[1]: 'for' runs over an empty set") for w in warnings)
    assert any(w.startswith("sets.E") for w in warnings)


def test_schema_errors_are_located():
    with pytest.raises(ModelError, match=r"^objective: this field is required"):
        workbench.load_model("variables: {x: {}}")
    with pytest.raises(ModelError, match=r"^variables\.x\.domian: unknown field"):
        workbench.load_model("variables: {x: {domian: integer}}\nobjective: {expr: x}")
    with pytest.raises(ModelError, match=r"^variables\.x\.domain: "):
        workbench.load_model("variables: {x: {domain: complex}}\nobjective: {expr: x}")
    with pytest.raises(ModelError, match="YAML reads true/false as booleans"):
        workbench.load_model("variables: {true: {}}\nobjective: {expr: x}")
    with pytest.raises(ModelError, match="line 2"):
        workbench.load_model("variables:\n  x: {lb: [}\nobjective: {expr: x}")


def test_name_clashes_and_cycles():
    msg = err(BASE.replace("  s: {index: [T], lb: 0}", "  cap: {lb: 0}"))
    assert "already declared" in msg
    cyc = BASE.replace("params:\n", 'params:\n  p: {expr: "q + 1"}\n  q: {expr: "p * 2"}\n')
    msg = err(cyc)
    assert "circular definition" in msg


def test_constraint_form_errors():
    assert "strict '<' is not allowed" in err(add_constraint("x['a'] < 1"))
    assert "must be a comparison" in err(add_constraint("x['a'] + 1"))
    assert "outer sides must be data" in err(add_constraint("x['a'] <= x['b'] <= 3"))
    assert "filter may use data only" in err(add_constraint("x[i] <= 1", "i in I if x[i] >= 0"))
    assert "division by zero" in err(add_constraint("x['a'] <= 1 / (cap['a'] - 5)"))
    assert "log of a number <= 0" in err(add_constraint("x['a'] <= log(cap['a'] - 5)"))


def test_rebinding_and_shadowing_are_refused():
    assert "already bound" in err(add_constraint("sum(x[i] for i in I) <= 1", "i in I"))
    assert "name of a declared" in err(add_constraint("sum(x[cap] for cap in I) <= 1"))


def test_duplicate_members_and_mixed_kinds():
    assert "duplicate member 'a'" in err(BASE.replace("I: [a, b, c]", "I: [a, b, a]"))
    assert "mixes text and integers" in err(BASE.replace("I: [a, b, c]", "I: [a, 1, c]"))
    assert "quote true/false" in err(BASE.replace("I: [a, b, c]", "I: [a, false, c]"))


@pytest.mark.parametrize("expr", ["x", "2 * x['a']", "sum(x[i] for i in I)"])
def test_parameter_defined_from_a_variable_is_a_located_error(expr):
    # found by the hypothesis mutation test: variables are compiled after parameters,
    # so a variable inside a parameter's expression used to end in a KeyError
    text = BASE.replace("params:\n", f'params:\n  q: {{expr: "{expr}"}}\n')
    msg = err(text)
    assert "params.q.expr" in msg and "'x' is a variable" in msg
    assert "data only" in msg


@pytest.mark.parametrize("expr", ["1e308 for i in I", "1099511627776 * 1099511627776 for i in I"])
def test_huge_integer_member_is_a_located_error(expr):
    # found by the hypothesis mutation test: int(1e308) overflowed int64 with a traceback
    text = BASE.replace("sets:\n", f'sets:\n  B: {{expr: "{expr}"}}\n')
    msg = err(text)
    assert "sets.B.expr" in msg and "out of range" in msg
