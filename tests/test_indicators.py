"""Indicator constraints (``when: "y[i]"``): compiled per row, big-M on HiGHS, checked by enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import workbench
from workbench.backends.registry import availability
from workbench.compile.reformulate import reformulate
from workbench.compile.structure import compile_structure
from workbench.errors import ModelError
from workbench.ir import model_from_dict
from workbench.result import Termination


def _facility(when: str = "y[i]", ydomain: str = "binary") -> dict:
    # open facility i (cost f[i]) to serve up to cap[i]; demand 5 must be met
    return {
        "sets": {"I": [1, 2, 3]},
        "params": {
            "f": {"index": ["I"], "values": [4, 3, 6]},
            "cap": {"index": ["I"], "values": [3, 2, 5]},
        },
        "variables": {
            "x": {"index": ["I"], "domain": "integer", "lb": 0, "ub": 5},
            "y": {"index": ["I"], "domain": ydomain, "lb": 0, "ub": 1},
        },
        "objective": {"sense": "min", "expr": "sum(f[i] * y[i] + x[i] for i in I)"},
        "constraints": [
            {"name": "demand", "expr": "sum(x[i] for i in I) >= 5"},
            {"name": "closed", "for": "i in I", "expr": "x[i] <= 0", "when": "1 - y[i]"}
            if when == "neg"
            else {"name": "closed", "for": "i in I", "expr": "x[i] == 0", "when": when},
            {"name": "cap", "for": "i in I", "expr": "x[i] <= cap[i]"},
        ],
    }


def _brute_facility(on_means_closed: bool) -> float:
    f, cap = [4, 3, 6], [3, 2, 5]
    best = np.inf
    for y in itertools.product(range(2), repeat=3):
        for x in itertools.product(range(6), repeat=3):
            if sum(x) < 5 or any(x[i] > cap[i] for i in range(3)):
                continue
            # the indicator row x[i] == 0 holds where its binary is 1
            if any(x[i] != 0 for i in range(3) if y[i] == (1 if on_means_closed else 0)):
                continue
            best = min(best, sum(f[i] * y[i] + x[i] for i in range(3)))
    return float(best)


def test_indicator_compiles_to_a_binary_column_per_row():
    cm = compile_structure(model_from_dict(_facility()))
    fam = next(r for r in cm.rows if r.name == "closed")
    y = cm.ctx.vars["y"]
    assert fam.indicator is not None
    assert list(fam.indicator) == list(range(y.offset, y.offset + 3))
    assert all(r.indicator is None for r in cm.rows if r.name != "closed")


@pytest.mark.parametrize("backend", ["highs", "cpsat", "auto"])
def test_indicator_big_m_matches_enumeration(backend):
    # 'when: y[i]' with x[i] == 0: where y is 1 the facility carries nothing
    res = workbench.solve(model_from_dict(_facility()), backend=backend)
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(_brute_facility(on_means_closed=True))
    assert set(res.values) == {"x", "y"}
    records = res.diagnostics.extra.get("reformulations", [])
    # CP-SAT takes the indicator natively (OnlyEnforceIf); the others get big-M rows
    assert any(r["construct"] == "indicator" for r in records) == (res.backend != "cpsat")


def test_cpsat_native_indicator_sees_the_binary_column():
    from workbench.compile.linear import compile_linear

    m = model_from_dict(_facility())
    lf = compile_linear(m, indicators=True)
    assert lf.row_indicator is not None
    assert (lf.row_indicator >= 0).sum() == 3
    with pytest.raises(workbench.UnsupportedProblemError, match="indicator"):
        compile_linear(m)  # a consumer that ignored 'when' would solve another problem


def test_backend_without_native_indicators_refuses_them_unreformulated():
    with pytest.raises(workbench.UnsupportedProblemError, match="constraints\\[1\\].when"):
        workbench.solve(model_from_dict(_facility()), backend="highs", reformulate=False)


def test_indicator_rows_keep_the_constraint_name():
    rf = reformulate(model_from_dict(_facility()))
    names = rf.model.constraint_names()
    assert "closed" in names and all(c.when is None for c in rf.model.constraints)


@pytest.mark.parametrize(
    ("when", "ydomain", "msg"),
    [
        ("neg", "binary", "must name a binary variable"),
        ("y[i]", "integer", "'y' is integer"),
        ("z[i]", "binary", "unknown symbol 'z'"),
    ],
)
def test_bad_indicator_is_a_located_error(when, ydomain, msg):
    with pytest.raises(ModelError) as e:
        compile_structure(model_from_dict(_facility(when, ydomain)))
    assert "constraints[1].when" in str(e.value)
    assert msg in str(e.value)


def test_indicator_without_a_bound_names_the_variable():
    data = _facility()
    data["variables"]["x"] = {"index": ["I"], "domain": "integer", "lb": 0}
    data["constraints"] = [data["constraints"][0], data["constraints"][1]]
    with pytest.raises(ModelError) as e:
        workbench.solve(model_from_dict(data), backend="highs")
    assert "give `x` an upper bound" in str(e.value)
    assert "constraints[1]" in str(e.value)


def test_indicator_on_a_max_without_bounds_points_inside_the_max():
    m = model_from_dict(
        {
            "variables": {
                "x": {"lb": 0},
                "y": {"domain": "integer", "lb": 0, "ub": 3},
                "b": {"domain": "binary"},
            },
            "objective": {"sense": "max", "expr": "y"},
            "constraints": [{"expr": "max(x, y) <= 2", "when": "b"}, {"expr": "b >= 1"}],
        }
    )
    with pytest.raises(ModelError, match="inside the max/min/abs") as e:
        workbench.solve(m, backend="highs")
    assert "constraints[0]" in str(e.value)
    m.variables["x"].ub = 5  # with the bound the epigraph row gets its big-M
    assert workbench.solve(m, backend="highs").objective == pytest.approx(2)


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.integers(-3, 3), min_size=8, max_size=8),
    st.sampled_from(["<=", ">=", "=="]),
    st.sampled_from(["min", "max"]),
    st.booleans(),
)
def test_random_indicator_models_match_enumeration(coefs, op, sense, generator_max):
    # for i in I: a[i] * x[i] + b[i] OP 0 when y[i]; objective with a generator max or a sum
    a, b, w, v = coefs[0:2], coefs[2:4], coefs[4:6], coefs[6:8]
    obj = (
        "max(w[i] * x[i] - v[i] * y[i] for i in I)"
        if generator_max
        else ("sum(w[i] * x[i] - v[i] * y[i] for i in I)")
    )
    data = {
        "sets": {"I": [1, 2]},
        "params": {k: {"index": ["I"], "values": val} for k, val in zip("abwv", (a, b, w, v))},
        "variables": {
            "x": {"index": ["I"], "domain": "integer", "lb": -2, "ub": 2},
            "y": {"index": ["I"], "domain": "binary"},
        },
        "objective": {"sense": sense, "expr": obj},
        "constraints": [
            {"for": "i in I", "expr": f"a[i] * x[i] + b[i] {op} 0", "when": "y[i]"},
            {"expr": "sum(y[i] for i in I) >= 1"},
        ],
    }
    holds = {"<=": lambda e: e <= 0, ">=": lambda e: e >= 0, "==": lambda e: e == 0}[op]
    vals = []
    for x in itertools.product(range(-2, 3), repeat=2):
        for y in itertools.product(range(2), repeat=2):
            if sum(y) < 1 or any(y[i] and not holds(a[i] * x[i] + b[i]) for i in range(2)):
                continue
            terms = [w[i] * x[i] - v[i] * y[i] for i in range(2)]
            vals.append(max(terms) if generator_max else sum(terms))
    for backend in ("highs", "cpsat"):
        res = workbench.solve(model_from_dict(data), backend=backend)
        if not vals:
            assert res.termination is Termination.INFEASIBLE, backend
            continue
        assert res.termination is Termination.OPTIMAL, backend
        assert res.objective == pytest.approx(min(vals) if sense == "min" else max(vals)), backend


def _switch_off(ub: float) -> dict:
    """min sum (x_i - t_i)^2 with two x switched off by indicators: a convex MIQP for scip."""
    return {
        "sets": {"I": {"range": [1, 4]}},
        "params": {"t": {"index": ["I"], "values": [3.0, 1.0, 2.0, 4.0]}},
        "variables": {
            "x": {"index": ["I"], "lb": 0, "ub": ub},
            "off": {"index": ["I"], "domain": "binary"},
        },
        "objective": {"sense": "min", "expr": "sum((x[i] - t[i]) ** 2 for i in I)"},
        "constraints": [
            {"name": "zero", "for": "i in I", "expr": "x[i] <= 0", "when": "off[i]"},
            {"name": "two_off", "expr": "sum(off[i] for i in I) >= 2"},
        ],
    }


@pytest.mark.skipif(not availability("scip").ok, reason="needs scip")
@pytest.mark.parametrize(("ub", "big_m"), [(5.0, True), (500.0, False)])
def test_auto_gives_scip_tight_big_m_rows_and_keeps_loose_ones_native(ub, big_m):
    from workbench.reformulating import INDICATOR_BIG_M
    from workbench.solving import route

    model = model_from_dict(_switch_off(ub))
    name, prep = route(model, "auto")
    methods = {r.method for r in prep.reform.records} if prep.reform else set()
    assert name == "scip"
    assert ("big-M" in methods) is big_m and (ub <= INDICATOR_BIG_M) is big_m
    assert any(c.when for c in prep.structure.model.constraints) is not big_m
    res = workbench.solve(model, time_limit=30)
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(1.0 + 4.0, abs=1e-6)  # t = 1 and 2 switched off
    named = workbench.solve(model, backend="scip", time_limit=30)  # named: native, as asked
    assert named.objective == pytest.approx(5.0, abs=1e-6)
    assert not any(
        r["construct"] == "indicator" for r in named.diagnostics.extra.get("reformulations", [])
    )
