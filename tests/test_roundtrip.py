"""Property tests: random valid models round-trip and compile; random junk only raises ModelError."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workbench
from workbench.compile.linear import compile_linear
from workbench.errors import ModelError, UnsupportedProblemError
from workbench.ir import dump_model, load_model, model_from_dict

finite = st.floats(min_value=-100, max_value=100, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def valid_models(draw):
    n_i = draw(st.integers(1, 4))
    n_t = draw(st.integers(1, 4))
    members = [f"m{k}" for k in range(n_i)]
    t0 = draw(st.integers(-2, 3))
    sets = {"I": members, "T": {"range": [t0, t0 + n_t - 1]}}
    params = {
        "c": {"index": ["I"], "values": {m: draw(finite) for m in members}},
        "d": {"index": ["I", "T"], "values": [[draw(finite) for _ in range(n_t)] for _ in members]},
        "k": draw(finite),
    }
    dense = draw(st.booleans())
    if dense:
        sets["A"] = {"expr": "(i, t) for i in I for t in T if d[i, t] >= 0"}
    domain = draw(st.sampled_from(["continuous", "integer", "binary"]))
    variables = {
        "x": {"index": ["I"], "domain": domain, "lb": 0, "ub": draw(st.integers(1, 20))},
        "y": {"index": ["I", "T"], "lb": draw(st.sampled_from([0, -5])), "ub": "k + 200"},
    }
    objective = {
        "sense": draw(st.sampled_from(["min", "max"])),
        "expr": draw(
            st.sampled_from(
                [
                    "sum(c[i] * x[i] for i in I) + sum(d[i, t] * y[i, t] for i in I for t in T)",
                    "sum(x[i] for i in I) - k",
                    "sum(y[i, t] for (i, t) in A) + 1"
                    if dense
                    else "sum(y[i, t] for i in I for t in T)",
                ]
            )
        ),
    }
    constraints = [
        {
            "name": "cap",
            "for": "i in I",
            "expr": "sum(y[i, t] for t in T) <= 10 * x[i] + c[i] ** 2",
        },
        {
            "name": "link",
            "for": "i in I, t in T if t > T_first",
            "expr": "y[i, t] - y[i, t - 1] <= k ** 2 + 1",
        },
        {"name": "rng", "expr": "-50 <= sum(x[i] for i in I) <= 50"},
    ]
    params["T_first"] = t0
    if draw(st.booleans()):
        constraints.append({"name": "pick", "for": "i in I if c[i] > 0", "expr": "x[i] >= 0"})
    return model_from_dict(
        {
            "name": "rand",
            "sets": sets,
            "params": params,
            "variables": variables,
            "objective": objective,
            "constraints": constraints,
        }
    )


def same_form(a, b) -> None:
    assert a.A.shape == b.A.shape
    assert (a.A != b.A).nnz == 0
    for attr in ("c", "row_lb", "row_ub", "col_lb", "col_ub", "integrality"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    assert a.offset == b.offset and a.sense == b.sense
    assert a.row_names() == b.row_names() and a.col_names() == b.col_names()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_models(), st.sampled_from(["yaml", "json"]))
def test_random_valid_models_round_trip_and_compile(model, fmt):
    text = dump_model(model, fmt)
    if fmt == "json":
        json.loads(text)
    again = load_model(text)
    assert again.model_dump() == model.model_dump()
    workbench.validate(again)  # a model that validates...
    same_form(compile_linear(model), compile_linear(again))  # ...compiles, identically


junk_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["x", "I", "sum(x[i] for i in I)", "x[i] <= 1", "i in I", "__import__('os')"]),
)
junk = st.recursive(
    junk_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "sets",
                    "params",
                    "variables",
                    "objective",
                    "constraints",
                    "expr",
                    "index",
                    "values",
                    "for",
                    "name",
                    "lb",
                    "ub",
                    "sense",
                    "x",
                    "I",
                    "range",
                    "members",
                    "domain",
                    "rows",
                    "default",
                    "lower_level",
                    "robust",
                ]
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk)
def test_random_junk_only_raises_model_error(doc):
    try:
        m = model_from_dict(doc)
        workbench.validate(m)
        compile_linear(m)
    except (ModelError, UnsupportedProblemError):
        pass


@st.composite
def mutated(draw):
    model = draw(valid_models())
    data = json.loads(dump_model(model, "json"))
    soup = draw(
        st.lists(
            st.sampled_from(
                [
                    "x",
                    "y",
                    "[i]",
                    "[i, t]",
                    "+",
                    "*",
                    "<=",
                    "==",
                    " for i in I",
                    "sum(",
                    ")",
                    "c[i]",
                    "t-1",
                    "k",
                    "'m0'",
                    "T",
                    "A",
                    "(",
                    "**",
                    "exp(",
                    "1e308",
                    "/0",
                    "if",
                    "log(",
                    "-",
                ]
            ),
            max_size=12,
        ).map("".join)
    )
    where = draw(st.sampled_from(["objective", "c0", "c1", "for", "param", "set", "bound"]))
    if where == "objective":
        data["objective"]["expr"] = soup
    elif where in ("c0", "c1"):
        data["constraints"][int(where[1])]["expr"] = soup
    elif where == "for":
        data["constraints"][0]["for"] = soup
    elif where == "param":
        data["params"]["q"] = {"expr": soup}
    elif where == "set":
        data["sets"]["B"] = {"expr": soup}
    else:
        data["variables"]["x"]["ub"] = soup
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_models_only_raise_model_error(doc):
    try:
        m = model_from_dict(doc)
        workbench.validate(m)
        compile_linear(m)
    except (ModelError, UnsupportedProblemError):
        pass
