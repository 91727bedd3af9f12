"""Bilevel and two-stage robust models have no single-level matrix or Pyomo form.

Writing one silently dropped the follower's problem or the uncertainty:
``robust_lp_small`` solved through MPS or Pyomo gave 4.0 where its robust
optimum is 10.0.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import workbench
from workbench.compile.linear import compile_linear
from workbench.compile.pyomo_form import compile_pyomo
from workbench.errors import UnsupportedProblemError

ROBUST_FILE = Path(__file__).parents[1] / "problems" / "conformance" / "robust_lp_small.yaml"
ROBUST = yaml.safe_load(ROBUST_FILE.read_text())["model"]

BILEVEL = {
    "variables": {"x": {"lb": 0, "ub": 4}, "y": {"lb": 0, "ub": 4}},
    "objective": {"sense": "min", "expr": "x - 2*y"},
    "constraints": [{"expr": "x + y <= 5"}],
    "lower_level": {
        "variables": ["y"],
        "objective": {"sense": "min", "expr": "y"},
        "constraints": [{"expr": "y >= x - 1"}],
    },
}


@pytest.mark.parametrize("compiler", [compile_linear, compile_pyomo])
def test_robust_model_is_refused_with_the_backends_that_take_it(compiler):
    model = workbench.load_model(ROBUST)
    with pytest.raises(UnsupportedProblemError, match=r"robust.*'ccg' or 'neur2ro'"):
        compiler(model)


@pytest.mark.parametrize("compiler", [compile_linear, compile_pyomo])
def test_bilevel_model_is_refused_with_the_backends_that_take_it(compiler):
    model = workbench.load_model(BILEVEL)
    with pytest.raises(UnsupportedProblemError, match=r"lower_level.*'bilevel_kkt'"):
        compiler(model)


def test_the_robust_model_still_solves_as_robust():
    result = workbench.solve(ROBUST, backend="ccg", time_limit=60, seed=0)
    assert result.termination.value == "optimal"
    assert result.objective == pytest.approx(10.0, abs=1e-6)


def test_indicator_rows_are_refused_by_the_pyomo_form_and_solve_after_reformulation():
    """Dropping 'when' would enforce the row everywhere (the round trip found it infeasible)."""
    model = workbench.load_model(
        {
            "variables": {"y": {"domain": "binary"}, "x": {"lb": 0, "ub": 10}},
            "objective": {"sense": "max", "expr": "x + 3 * y"},
            "constraints": [{"name": "cap", "expr": "x <= 2", "when": "y"}],
        }
    )
    with pytest.raises(UnsupportedProblemError, match=r"constraints\[0\]\.when.*reformulate"):
        compile_pyomo(model)
    pyomo_model = compile_pyomo(workbench.reformulate(model).model).model
    got = workbench.solve(pyomo_model, backend="highs")
    assert got.objective == pytest.approx(10.0)  # y = 0 frees x: 10 beats 2 + 3
    assert workbench.solve(model).objective == pytest.approx(10.0)
