"""The ``scipy`` NLP backend, against the real ``scipy.optimize.minimize``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from models import RANGE_LP, UNBOUNDED

import workbench
from workbench.backends.base import SolveOptions
from workbench.errors import OptionsError, UnsupportedProblemError
from workbench.result import Termination

pytest.importorskip("scipy.optimize")

from solvers.scipy_nlp import (  # noqa: E402
    METHODS,
    STATUS_MAP,
    ScipyBackend,
    termination,
)

try:  # import once at collection, so no single test pays for it
    import torch  # noqa: F401

    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False

DERIVATIVES = ["torch", "finite"] if HAVE_TORCH else ["finite"]

# Projection of (1, 2) onto x + y <= 2: (0.5, 1.5), objective 0.5.
PROJECTION = """
name: projection
variables:
  x: {}
  y: {}
objective: {sense: min, expr: "(x - 1)**2 + (y - 2)**2"}
constraints:
  - name: budget
    expr: "x + y <= 2"
"""

# Separable: exp(x) - 2x -> x = log 2; y - log(y) -> y = 1; (sqrt(z) - 2)^2 -> z = 4.
# The constraints are inactive at that point, so the optimum is 3 - 2 log 2.
EXP_LOG_SQRT = """
name: exp_log_sqrt
variables:
  x: {}
  y: {lb: 0.1, init: 2}
  z: {lb: 0.01, ub: 100, init: 1}
objective: {sense: min, expr: "exp(x) - 2 * x + y - log(y) + (sqrt(z) - 2)**2"}
constraints:
  - name: root
    expr: "sqrt(z) >= 1"
  - name: logcap
    expr: "log(y) <= 1"
"""

# max log x + log y on x + y <= 4: x = y = 2, objective 2 log 2.
MAX_NLP = """
name: max_nlp
variables:
  x: {lb: 0.01, init: 1}
  y: {lb: 0.01, init: 1}
objective: {sense: max, expr: "log(x) + log(y)"}
constraints:
  - name: total
    expr: "x + y <= 4"
"""

# min 2x + 3y: optimum 9 at (3, 1).
LP = """
name: lp
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

# x + y = 3, 1 <= x - y <= 2: min x + 2y = 6 - x -> 3.5 at (2.5, 0.5).

# Many local minima on [-6, 6]; from x = 5 the local solver stops near 5.63 (2.244),
# the global minimum is at x = -0.512214 (-0.9731805, found by a fine grid).
WIGGLY = """
name: wiggly
variables:
  x: {lb: -6, ub: 6, init: 5}
objective: {sense: min, expr: "sin(3 * x) + 0.1 * x**2"}
"""

INTEGER = """
name: integer
variables:
  n: {domain: integer, lb: 0, ub: 5}
objective: {sense: max, expr: "n"}
"""

INFEASIBLE = """
name: infeasible
variables:
  x: {lb: 0, ub: 1}
  y: {lb: 0, ub: 1}
objective: {sense: min, expr: "x + y"}
constraints:
  - name: need
    expr: "x + y >= 3"
"""


def solve(text: str, **kw):
    return workbench.solve(workbench.load_model(text), backend="scipy", **kw)


def test_available():
    av = ScipyBackend().available()
    assert av.ok and av.version
    assert ("torch" in av.reason) == HAVE_TORCH or "finite" in av.reason


@pytest.mark.parametrize("derivatives", DERIVATIVES)
def test_projection_nlp(derivatives):
    r = solve(PROJECTION, derivatives=derivatives)
    assert r.termination is Termination.OPTIMAL, r.diagnostics.message
    assert r.objective == pytest.approx(0.5, abs=1e-7)
    assert r.values == pytest.approx({"x": 0.5, "y": 1.5}, abs=1e-5)
    assert "convex, so this local optimum is global" in r.diagnostics.message
    assert r.diagnostics.native_status.startswith("SLSQP")
    assert r.history and r.iterations


@pytest.mark.parametrize("method", ["SLSQP", "trust-constr"])
def test_exp_log_sqrt(method):
    r = solve(EXP_LOG_SQRT, method=method)
    # (sqrt(z) - 2)**2 is convex, but no composition rule proves it (a square of a concave
    # argument whose range crosses 0), and 'log(y) <= 1' has a concave left side: not proven
    assert r.termination is Termination.LOCALLY_OPTIMAL, r.diagnostics.message
    assert "nonconvex model" in r.diagnostics.message and "'scip'" in r.diagnostics.message
    tol = 1e-6 if method == "SLSQP" else 1e-3  # trust-constr's barrier stops early
    assert r.objective == pytest.approx(3 - 2 * math.log(2), abs=tol)
    assert r.values["x"] == pytest.approx(math.log(2), abs=10 * tol)
    assert r.values["z"] == pytest.approx(4.0, abs=100 * tol)


def test_bounds_only_uses_lbfgsb():
    text = EXP_LOG_SQRT.split("constraints:")[0]
    r = solve(text)
    assert r.diagnostics.native_status.startswith("L-BFGS-B")
    assert r.objective == pytest.approx(3 - 2 * math.log(2), abs=1e-6)
    with pytest.raises(OptionsError, match="bounds only"):
        solve(PROJECTION, method="L-BFGS-B")


@pytest.mark.parametrize("derivatives", DERIVATIVES)
def test_maximisation(derivatives):
    r = solve(MAX_NLP, derivatives=derivatives)
    assert r.termination is Termination.OPTIMAL
    assert r.objective == pytest.approx(2 * math.log(2), abs=1e-6)
    assert r.values == pytest.approx({"x": 2.0, "y": 2.0}, abs=1e-4)


def test_lp_and_range_rows():
    r = solve(LP)
    assert r.termination is Termination.OPTIMAL
    assert r.objective == pytest.approx(9.0, abs=1e-7)
    assert r.values == pytest.approx({"x": 3.0, "y": 1.0}, abs=1e-6)
    r = solve(RANGE_LP)
    assert r.objective == pytest.approx(3.5, abs=1e-7)
    assert r.values == pytest.approx({"x": 2.5, "y": 0.5}, abs=1e-6)


def test_multistart_reproducible_and_no_worse():
    one = solve(WIGGLY)
    assert one.termination is Termination.LOCALLY_OPTIMAL  # sin: never proven convex
    assert one.objective == pytest.approx(2.2443028, abs=1e-6)
    a = solve(WIGGLY, multistart=8, seed=7)
    b = solve(WIGGLY, multistart=8, seed=7)
    assert a.values == b.values and a.objective == b.objective
    assert a.objective == pytest.approx(-0.9731805, abs=1e-6)
    assert a.values["x"] == pytest.approx(-0.512214, abs=1e-4)
    assert "best of 8 starts" in a.diagnostics.message
    assert sum(line.startswith("start") for line in a.log.splitlines()) >= 8


def test_integer_model_rejected():
    model = workbench.load_model(INTEGER)
    with pytest.raises(UnsupportedProblemError, match="continuous"):
        ScipyBackend().solve(model, SolveOptions())
    with pytest.raises(UnsupportedProblemError):
        workbench.solve(model, backend="scipy")


def test_linear_infeasibility_is_proven_by_linprog():
    r = solve(INFEASIBLE)
    assert r.termination is Termination.INFEASIBLE
    assert "linprog" in r.diagnostics.message


def test_nonlinear_infeasibility_is_never_claimed():
    text = INFEASIBLE.replace('"x + y >= 3"', '"x**2 + y**2 >= 3"')
    r = solve(text)
    assert r.termination is not Termination.INFEASIBLE
    assert r.termination in (Termination.ERROR, Termination.ITERATION_LIMIT)
    assert "no feasible point found" in r.diagnostics.message
    assert "not a proof that the model is infeasible" in r.diagnostics.message
    assert r.diagnostics.extra["max_violation"] > 1e-6


def test_unbounded():
    r = solve(UNBOUNDED)
    assert r.termination is Termination.UNBOUNDED
    assert r.objective is None


def test_time_limit_stops_new_starts():
    r = solve(WIGGLY, multistart=4, seed=0, time_limit=0.0)
    assert r.termination in (Termination.TIME_LIMIT, Termination.FEASIBLE)
    assert "not run" in r.log


def test_bad_options():
    for kw in (
        {"method": "nelder-mead"},
        {"multistart": 0},
        {"maxiter": 1.5},
        {"tol": -1},
        {"derivatives": "exact"},
        {"colour": "red"},
    ):
        with pytest.raises(OptionsError):
            solve(PROJECTION, **kw)


def test_iteration_limit_reported():
    r = solve(EXP_LOG_SQRT, maxiter=1)
    assert r.termination in (Termination.FEASIBLE, Termination.ITERATION_LIMIT)
    assert "9" in r.diagnostics.native_status  # SLSQP exit mode 9: iteration limit


def test_status_table_is_exhaustive():
    from scipy.optimize._trustregion_constr.minimize_trustregion_constr import (
        TERMINATION_MESSAGES,
    )

    codes = {
        "trust-constr": set(TERMINATION_MESSAGES) | {99},
        "SLSQP": set(range(-1, 10)) | {99},
        "L-BFGS-B": {0, 1, 2, 99},
    }
    assert set(codes) == set(METHODS)
    for method, found in codes.items():
        for code in found:
            assert isinstance(STATUS_MAP[(method, code)], Termination), (method, code)
    assert set(STATUS_MAP) == {(m, c) for m, cs in codes.items() for c in cs}
    assert Termination.INFEASIBLE not in STATUS_MAP.values()
    assert termination("SLSQP", 12345) is Termination.ERROR
    assert termination("SLSQP", 0) is Termination.OPTIMAL


def test_model_untouched_and_structure_reused():
    from workbench.compile.structure import compile_structure

    model = workbench.load_model(PROJECTION)
    before = model.model_dump()
    r = ScipyBackend().solve(model, SolveOptions(structure=compile_structure(model)))
    assert r.objective == pytest.approx(0.5, abs=1e-7)
    assert model.model_dump() == before
    assert np.isfinite(r.timings.solve)
