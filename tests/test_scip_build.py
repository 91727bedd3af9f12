"""The scip backend's bulk build (rows through SCIP's C functions) against pyscipopt's path.

Both paths build the same model from the same input; the tests read the SCIP
constraints back (names, coefficients, sides, order) and compare, and solve
with the real SCIP.  Expected optima come from HiGHS on the same matrix or by
hand, as each docstring says.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from workbench.backends.base import SolveOptions
from workbench.compile.linear_form import Block, LinearForm
from workbench.result import Termination

ps = pytest.importorskip("pyscipopt")

from solvers.scip import ScipBackend  # noqa: E402
from solvers.scip.build import build_linear, build_structure  # noqa: E402
from solvers.scip.capi import bulk_rows, constraints_at, new_model  # noqa: E402


def _model() -> Any:
    m = ps.Model()
    m.hideOutput()
    return m


def _conss(m: Any) -> list[tuple[str, str, Any, float, float]]:
    """Every original constraint: name, handler, linear coefficients (by variable name), sides."""
    out = []
    for c in m.getConss(False):
        kind = c.getConshdlrName()
        vals = m.getValsLinear(c) if kind == "linear" else None
        lhs = m.getLhs(c) if kind == "linear" else math.nan
        rhs = m.getRhs(c) if kind == "linear" else math.nan
        out.append((c.name, kind, vals, lhs, rhs))
    return out


def _awkward_lf() -> LinearForm:
    """Two row families (tuple labels, a scalar), duplicates, explicit zeros, a free row,
    empty rows (one violated), a range, an equality and an indicator row."""
    cols = [0, 0, 1, 2, 1, 0, 3, 0, 1]
    vals = [1.0, 2.0, 0.0, 1.0, -1.0, 4.0, 1.0, 2.0, 1.0]
    indptr = [0, 3, 5, 6, 6, 6, 8, 9]  # rows 3 and 4 are empty
    a = sp.csr_matrix((np.array(vals), np.array(cols), np.array(indptr)), shape=(7, 4))
    inf = math.inf
    return LinearForm(
        c=np.array([-1.0, -2.0, 1.0, -3.0]),
        A=a,
        row_lb=np.array([-inf, 1.0, -inf, -inf, 0.5, 0.0, -inf]),  # row 4: 0 >= 0.5 fails
        row_ub=np.array([4.0, 1.0, inf, 2.0, 3.0, 5.0, 1.5]),
        col_lb=np.zeros(4),
        col_ub=np.array([3.0, 3.0, 3.0, 1.0]),
        integrality=np.array([False, True, False, True]),
        columns=[Block("x", 0, 3, [("a", 1), ("b", 2), ("c", 3)]), Block("on", 3, 1, None)],
        rows=[Block("r", 0, 6, [("p", k) for k in range(6)]), Block("s", 6, 1, None)],
        row_indicator=np.array([-1, -1, -1, -1, -1, -1, 3]),
    )


def test_bulk_is_available_here() -> None:
    """The installed pyscipopt bundles a SCIP whose C functions the bulk path uses."""
    assert bulk_rows(_model()) is not None


def test_bulk_and_pyscipopt_build_the_same_constraints() -> None:
    lf = _awkward_lf()
    fast, slow = _model(), _model()
    f1 = build_linear(fast, lf)
    f2 = build_linear(slow, lf, bulk=False)
    assert f1.bulk is not None and f2.bulk is None
    got, want = _conss(fast), _conss(slow)
    assert got == want
    names = [c[0] for c in got]
    # the free row (2) and the empty rows (3: 0 <= 2 holds; 4: 0 >= 0.5 fails) are left out
    assert names == ["r[p,0]", "r[p,1]", "r[p,5]", "indlin_s", "s"]  # SCIP adds indlin_s
    assert got[0][2] == {"x[a,1]": 3.0}  # 1 + 2 summed, the explicit zero dropped
    assert got[1][2] == {"x[c,3]": 1.0, "x[b,2]": -1.0} and got[1][3:] == (1.0, 1.0)
    assert got[2][2] == {"on": 1.0, "x[a,1]": 2.0} and got[2][3:] == (0.0, 5.0)
    assert got[4][1] == "indicator"
    assert f1.infeasible_rows == f2.infeasible_rows == ["r[p,4]"]
    assert [v.name for v in f1.variables] == ["x[a,1]", "x[b,2]", "x[c,3]", "on"]
    assert [v.vtype() for v in f1.variables] == ["CONTINUOUS", "INTEGER", "CONTINUOUS", "BINARY"]
    objective = {str(t): a for t, a in fast.getObjective().terms.items()}
    assert objective == {str(t): a for t, a in slow.getObjective().terms.items()}
    assert objective == {"Term(x[a,1])": -1.0, "Term(x[b,2])": -2.0, "Term(x[c,3])": 1.0,
                         "Term(on)": -3.0}  # fmt: skip


def test_row_constraints_look_up_bulk_rows_by_position() -> None:
    lf = _awkward_lf()
    form = build_linear(_model(), lf)
    assert any(isinstance(c, int) for _, conss in form.rows for c in conss)
    rows = form.row_constraints()
    seen = [(b.entry_name(k), c.name) for b, conss in rows for k, c in enumerate(conss) if c]
    assert seen == [("r[p,0]", "r[p,0]"), ("r[p,1]", "r[p,1]"), ("r[p,5]", "r[p,5]"), ("s", "s")]


def test_constraints_at_refuses_a_model_that_changed() -> None:
    m = _model()
    x = m.addVar("x")
    m.addCons(x <= 1, name="first")
    m.addCons(x <= 2, name="second")
    assert [c.name for c in constraints_at(m, [1], lambda k: "second")] == ["second"]
    with pytest.raises(RuntimeError, match="'second', not 'first'"):
        constraints_at(m, [1], lambda k: "first")


def _random_lp(seed: int, m: int = 60, n: int = 40) -> LinearForm:
    rng = np.random.default_rng(seed)
    a = sp.random(m, n, density=0.15, random_state=rng, format="csr")
    a.data = rng.uniform(0.5, 5.0, a.nnz).round(2)
    rhs = a @ rng.uniform(0, 1, n) + 1.0
    lo = np.where(rng.random(m) < 0.3, rhs - 3.0, -np.inf)
    return LinearForm(
        c=-rng.uniform(0.1, 1.0, n), A=a, row_lb=lo, row_ub=rhs,
        col_lb=np.zeros(n), col_ub=np.full(n, 5.0), integrality=np.zeros(n, dtype=bool),
    )  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1])
def test_lp_on_the_bulk_path_matches_highs_with_checked_duals(seed: int) -> None:
    """The optimum agrees with HiGHS on the same matrix; the duals are returned only after
    passing the LP optimality check, and their objective (b'y with bounds) matches too."""
    import highspy

    from workbench.compile.mps import load_into_highs

    lf = _random_lp(seed)
    r = ScipBackend().solve_linear(lf, SolveOptions(seed=0))
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    load_into_highs(h, lf)
    h.run()
    want = h.getInfo().objective_function_value
    assert r.termination is Termination.OPTIMAL
    assert r.objective == pytest.approx(want, rel=1e-7, abs=1e-7)
    assert r.duals is not None
    y = np.array([r.duals["r"][k] for k in range(lf.num_rows)])
    hy = np.array(h.getSolution().row_dual)
    assert y == pytest.approx(hy, abs=1e-6)


MIXED = {
    "name": "mixed",
    "sets": {"I": {"range": [1, 24]}},
    "params": {"w": {"index": ["I"], "values": [1.0 + (i % 5) for i in range(24)]}},
    "variables": {
        "x": {"index": ["I"], "lb": 0, "ub": 2},
        "y": {"domain": "binary"},
        "z": {"lb": -10, "ub": 10},
    },
    "objective": {"sense": "min", "expr": "z - sum(w[i] * x[i] for i in I) + 3 * y"},
    "constraints": [
        {"name": "budget", "expr": "sum(w[i] * x[i] for i in I) <= 30"},
        {"name": "curve", "expr": "exp(0.05 * sum(x[i] for i in I)) <= 2 + 8 * y"},
        {"name": "floor", "expr": "z >= -3"},
        {"name": "lift", "expr": "z <= -6", "when": "y"},
    ],
}


def _mixed() -> Any:
    from workbench.ir import model_from_dict

    return model_from_dict(MIXED)


def test_linear_nonlinear_and_indicator_rows_on_both_paths() -> None:
    """min z - w'x + 3y over a budget, exp(0.05 sum x) <= 2 + 8y, z >= -3, y => z <= -6.

    By hand: with y = 1 the indicator forces z <= -6 < -3, so y = 0; then
    sum x <= 20 ln 2 = 13.86, and w'x <= 30; the best is z = -3 and the LP
    max w'x with x <= 2, sum x <= 13.86, w'x <= 30: weight 5 (four x[i]) gives 8 units
    worth 40 > 30, so w'x = 30 and the optimum is -3 - 30 = -33.
    """
    from workbench.compile.structure import compile_structure

    cm = compile_structure(_mixed())
    fast, slow = _model(), _model()
    f1 = build_structure(fast, cm)
    f2 = build_structure(slow, cm, bulk=False)
    assert f1.bulk is not None
    assert [c[:2] for c in _conss(fast)] == [c[:2] for c in _conss(slow)]
    assert {"budget", "floor", "lift"} <= {c.name for c in fast.getConss(False)}
    assert any(c.getConshdlrName() == "indicator" for c in fast.getConss(False))
    r = ScipBackend().solve(cm.model, SolveOptions(structure=cm, seed=0))
    assert r.termination is Termination.OPTIMAL
    assert r.objective == pytest.approx(-33.0, abs=1e-6)
    assert r.values["y"] == 0.0 and r.values["z"] == pytest.approx(-3.0, abs=1e-6)
    del f2


def test_a_long_sum_inside_exp_goes_through_an_auxiliary_variable() -> None:
    """exp(sum of 40 terms) would be a quadratic-time conversion in pyscipopt 6; the sum
    becomes one variable.  max s - 0.001 exp(0.05 s) with s = sum x, exp(0.1 s) <= e^2:
    increasing in s up to 20, so s = 20 and the optimum is 20 - 0.001 e (by hand)."""
    from workbench.compile.structure import compile_structure
    from workbench.ir import model_from_dict

    model = model_from_dict(
        {
            "sets": {"I": {"range": [1, 40]}},
            "variables": {"x": {"index": ["I"], "lb": 0, "ub": 1}},
            "objective": {"sense": "max", "expr": "sum(x[i] for i in I) - 0.001 * exp(0.05 * sum(x[i] for i in I))"},
            "constraints": [{"name": "c", "expr": "exp(0.1 * sum(x[i] for i in I)) <= 7.38905609893065"}],
        }
    )  # fmt: skip
    cm = compile_structure(model)
    m = _model()
    build_structure(m, cm)
    aux = [v.name for v in m.getVars() if v.name.startswith("_aux")]
    # the row's sum in exp, the objective's sum in exp, the objective's sum added to exp(...)
    assert len(aux) == 3
    r = ScipBackend().solve(cm.model, SolveOptions(structure=cm, seed=0))
    assert r.termination is Termination.OPTIMAL
    assert r.objective == pytest.approx(20.0 - 0.001 * math.e, abs=1e-6)


def test_a_sum_of_many_nonlinear_terms_is_exact() -> None:
    """min sum_i (exp(x_i) - 2 x_i) over 0 <= x <= 3: each term is smallest at ln 2,
    worth 2 - 2 ln 2; 30 of them (by hand)."""
    from workbench.ir import model_from_dict

    model = model_from_dict(
        {
            "sets": {"I": {"range": [1, 30]}},
            "variables": {"x": {"index": ["I"], "lb": 0, "ub": 3}},
            "objective": {"sense": "min", "expr": "sum(exp(x[i]) - 2 * x[i] for i in I)"},
        }
    )
    from workbench.compile.structure import compile_structure

    cm = compile_structure(model)
    r = ScipBackend().solve(cm.model, SolveOptions(structure=cm, seed=0))
    assert r.termination is Termination.OPTIMAL
    assert r.objective == pytest.approx(30 * (2 - 2 * math.log(2)), abs=1e-5)


def _small_miqp() -> LinearForm:
    """min 0.5 x'Qx + c'x over x in {0, 1, 2}^4 and x1 + x2 + x3 + x4 >= 3 (Q seeded, PSD)."""
    rng = np.random.default_rng(7)
    f = rng.normal(size=(4, 4))
    q = f @ f.T + 0.5 * np.eye(4)
    q[0, 3] = q[3, 0] = 0.0  # explicit zeros in the stored matrix
    return LinearForm(
        c=rng.normal(size=4) * 3, A=sp.csr_matrix(np.ones((1, 4))),
        row_lb=np.array([3.0]), row_ub=np.array([np.inf]),
        col_lb=np.zeros(4), col_ub=np.full(4, 2.0), integrality=np.ones(4, dtype=bool),
        Q=sp.csr_matrix(q),
    )  # fmt: skip


def test_quadratic_objective_row_in_one_call_matches_enumeration_and_the_other_path() -> None:
    """The epigraph row of 0.5 x'Qx goes to SCIP in one call on the bulk path; both paths
    reach the optimum found by enumerating the 81 integer points."""
    import itertools

    lf = _small_miqp()
    q = lf.Q.toarray()
    best = min(
        0.5 * x @ q @ x + lf.c @ x
        for x in (np.array(p, dtype=float) for p in itertools.product(range(3), repeat=4))
        if x.sum() >= 3
    )
    m = _model()
    build_linear(m, lf)
    epi = [c for c in m.getConss(False) if c.name == "_objective_epigraph"]
    assert len(epi) == 1 and epi[0].getConshdlrName() == "nonlinear"
    b = ScipBackend()
    for bulk in (True, False):
        r = b._solve(lambda m, bulk=bulk: build_linear(m, lf, bulk=bulk),
                     SolveOptions(seed=0), {}, 0.0, [], lp=False)  # fmt: skip
        assert r.termination is Termination.OPTIMAL
        assert r.objective == pytest.approx(best, abs=1e-6)


def test_a_model_made_without_the_gil_is_a_full_scip_model(monkeypatch: pytest.MonkeyPatch) -> None:
    m = new_model()
    assert m is not None
    plain = ps.Model()
    # the same default plugins as pyscipopt.Model(): its parameters are all there
    assert set(m.getParams()) == set(plain.getParams())
    x = m.addVar("x", vtype="I", lb=0, ub=7, obj=-1.0)
    m.addCons(2 * x <= 9)
    m.hideOutput()
    m.optimize()
    assert m.getStatus() == "optimal" and m.getVal(x) == pytest.approx(4.0)
    # where SCIP's functions cannot be reached, the backend makes its models as usual
    import solvers.scip.capi as capi

    monkeypatch.setattr(capi, "_creator", lambda: None)
    assert capi.new_model() is None
    res = ScipBackend().solve_linear(
        LinearForm(
            c=np.array([-1.0]),
            A=sp.csr_matrix([[2.0]]),
            row_lb=np.array([-math.inf]),
            row_ub=np.array([9.0]),
            col_lb=np.array([0.0]),
            col_ub=np.array([7.0]),
            integrality=np.array([1], dtype=np.uint8),
        ),
        SolveOptions(),
    )
    assert res.termination is Termination.OPTIMAL and res.objective == pytest.approx(-4.0)
