"""Models are read with the YAML 1.2 core schema and written so YAML 1.1 tools agree."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import workbench
from workbench.errors import ModelError
from workbench.ir.yaml12 import dump_yaml, load_yaml

LOT_SIZING = """
name: lot_sizing
sets:
  T: {range: [1, 3]}
  mode: [on, off, yes, no, y, n]
params:
  demand: {index: [T], values: [3, 0, 4]}
  setup: 10
variables:
  make: {index: [T], lb: 0, ub: 10}
  on: {index: [T], domain: binary}
  stock: {index: [T], lb: 0}
  no: {lb: 0, ub: 1}
objective: {expr: "sum(setup * on[t] + stock[t] for t in T) + no"}
constraints:
  - {name: setup_link, for: "t in T", expr: "make[t] <= 10 * on[t]"}
  - {name: first, expr: "make[1] - stock[1] == demand[1]"}
  - {name: flow, for: "t in T if t > 1", expr: "stock[t-1] + make[t] - stock[t] == demand[t]"}
"""


def test_on_off_yes_no_are_names() -> None:
    model = workbench.load_model(LOT_SIZING)
    assert list(model.variables) == ["make", "on", "stock", "no"]
    assert model.sets["mode"].members == ["on", "off", "yes", "no", "y", "n"]
    res = workbench.solve(model, backend="highs")
    # one setup in period 1 and 4 units carried through periods 1 and 2 (10 + 8) beat two setups
    assert res.objective == pytest.approx(18.0)
    assert res.values["on"] == {1: 1.0, 2: 0.0, 3: 0.0}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("tRuE", True),
        ("on", "on"),
        ("Off", "Off"),
        ("yes", "yes"),
        ("NO", "NO"),
        ("y", "y"),
        ("n", "n"),
        ("017", 17),
        ("0o17", 15),
        ("0x1F", 31),
        ("-12", -12),
        ("1e5", 100000.0),
        ("-2.5E-3", -0.0025),
        (".5", 0.5),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("null", None),
        ("~", None),
        ("12:30", "12:30"),
        ("1_000", "1_000"),
        ("2026-12-06", "2026-12-06"),
    ],
)
def test_core_schema_scalars(text: str, value: object) -> None:
    assert load_yaml(f"v: {text}")["v"] == value
    assert type(load_yaml(f"v: {text}")["v"]) is type(value)


def test_nan_and_merge_keys() -> None:
    assert math.isnan(load_yaml("v: .nan")["v"])
    assert load_yaml("a: &x {p: 1}\nb: {<<: *x, q: 2}")["b"] == {"p": 1, "q": 2}


def test_dump_quotes_words_that_yaml_1_1_or_1_2_reads_as_something_else() -> None:
    words = ["on", "off", "yes", "no", "y", "n", "Y", "N", "true", "True", "1e5", "017",
             "12:30", "0o17", "plain"]  # fmt: skip
    text = dump_yaml({w: w for w in words})
    for w in words[:-1]:
        assert f"'{w}': '{w}'" in text, w
    assert "plain: plain" in text
    assert yaml.safe_load(text) == {w: w for w in words}  # a YAML 1.1 reader agrees
    assert load_yaml(text) == {w: w for w in words}


def test_dumped_model_reads_back_with_yaml_1_1_and_1_2() -> None:
    model = workbench.load_model(LOT_SIZING)
    text = workbench.dump_model(model)
    assert "'on':" in text and "'no':" in text and "- 'y'" in text
    assert workbench.ir.model_from_dict(yaml.safe_load(text)) == model
    assert workbench.load_model(text) == model


def test_real_booleans_keep_the_helpful_messages() -> None:
    with pytest.raises(ModelError, match=r"^sets\.S: member 1 is a boolean \(True\).*quote"):
        workbench.load_model("sets: {S: [a, true]}\nvariables: {x: {}}\nobjective: {expr: x}")
    with pytest.raises(ModelError, match=r"^variables: the name False must be text.*quote"):
        workbench.load_model("variables: {false: {}}\nobjective: {expr: x}")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(alphabet="onfyesNOY01e5.:x-+_ ", min_size=1, max_size=6), min_size=1, max_size=6
    )
)
def test_any_short_string_round_trips_through_both_readers(words: list[str]) -> None:
    text = dump_yaml({"m": words})
    assert load_yaml(text) == {"m": words}
    assert yaml.safe_load(text) == {"m": words}
