"""LinearForm compilation: exact matrices, joins, quadratic objectives, labels."""

from __future__ import annotations

import numpy as np
import pytest

import workbench
from workbench.compile.linear import compile_linear, csr_from_triplets
from workbench.errors import UnsupportedProblemError

TRANSPORT = """
name: transport
sets:
  I: [plant_a, plant_b]
  J: {range: [1, 4]}
  A: {expr: "(i, j) for i in I for j in J if dist[i, j] <= 50"}
params:
  supply: {index: [I], values: {plant_a: 20, plant_b: 30}}
  dist:   {index: [I, J], values: [[10, 60, 20, 30], [40, 15, 35, 70]]}
  demand: {index: [J], rows: [[1, 10], [2, 10], [3, 10], [4, 5]]}
variables:
  x: {index: [A], domain: continuous, lb: 0}
objective: {sense: min, expr: "sum(dist[i, j] * x[i, j] for (i, j) in A)"}
constraints:
  - name: supply_limit
    for: "i in I"
    expr: "sum(x[k, j] for (k, j) in A if k == i) <= supply[i]"
  - name: meet
    for: "j in J"
    expr: "sum(x[i, k] for (i, k) in A if k == j) >= demand[j]"
"""


def test_transport_matrix_is_exact():
    lf = compile_linear(workbench.load_model(TRANSPORT))
    assert lf.col_names() == [
        "x[plant_a,1]",
        "x[plant_a,3]",
        "x[plant_a,4]",
        "x[plant_b,1]",
        "x[plant_b,2]",
        "x[plant_b,3]",
    ]
    assert lf.row_names() == [
        "supply_limit[plant_a]",
        "supply_limit[plant_b]",
        "meet[1]",
        "meet[2]",
        "meet[3]",
        "meet[4]",
    ]
    expected = np.array(
        [
            [1, 1, 1, 0, 0, 0],
            [0, 0, 0, 1, 1, 1],
            [1, 0, 0, 1, 0, 0],
            [0, 0, 0, 0, 1, 0],
            [0, 1, 0, 0, 0, 1],
            [0, 0, 1, 0, 0, 0],
        ]
    )
    np.testing.assert_array_equal(lf.A.toarray(), expected)
    np.testing.assert_array_equal(lf.c, [10, 20, 30, 40, 15, 35])
    np.testing.assert_array_equal(lf.row_ub[:2], [20, 30])
    np.testing.assert_array_equal(lf.row_lb[2:], [10, 10, 10, 5])
    assert lf.A.has_canonical_format and lf.sense == "min" and lf.Q is None


def test_join_and_product_paths_agree():
    """'if k == i' uses a sort-join; rewriting the filter defeats it and must give the same rows."""
    joined = compile_linear(workbench.load_model(TRANSPORT))
    product = compile_linear(
        workbench.load_model(
            TRANSPORT.replace("if k == i", "if i == k and 1 == 1").replace(
                "if k == j", "if not (k != j)"
            )
        )
    )
    assert (joined.A != product.A).nnz == 0
    np.testing.assert_array_equal(joined.row_lb, product.row_lb)


MODEL = """
name: mixed
sets:
  T: {range: [1, 4]}
  P: [p, q]
params:
  dem: {index: [T], values: [3, 0, 4, 2]}
  h: 0.5
  cap: {index: [P], values: {p: 5, q: 2}}
  tot: {expr: "sum(dem[t] for t in T)"}
  w: {index: [P, T], for: "p in P, t in T", expr: "cap[p] * t"}
variables:
  inv: {index: [T], lb: 0, ub: "tot"}
  make: {index: [P, T], domain: integer, lb: 0, ub: "cap[p] + t", for: "p in P, t in T"}
  z: {lb: -1, ub: 1}
objective: {sense: max, expr: "-h * sum(inv[t] for t in T) + 3 * z - 2 + sum(w[p, t] * make[p, t] for p in P for t in T) / 10"}
constraints:
  - name: first
    expr: "inv[1] == sum(make[p, 1] for p in P) - dem[1]"
  - name: flow
    for: "t in T if t > 1"
    expr: "inv[t] == inv[t-1] + sum(make[p, t] for p in P) - dem[t]"
  - name: band
    expr: "1 <= z + inv[4] <= 2 * h + 1"
  - name: rev
    expr: "2 >= z"
"""


def test_bounds_ranges_offsets_and_integer_rounding():
    lf = compile_linear(workbench.load_model(MODEL))
    names = lf.col_names()
    assert names[:4] == ["inv[1]", "inv[2]", "inv[3]", "inv[4]"] and names[-1] == "z"
    np.testing.assert_array_equal(lf.col_ub[:4], [9, 9, 9, 9])
    # make[p, t] ub = cap[p] + t
    np.testing.assert_array_equal(lf.col_ub[4:12], [6, 7, 8, 9, 3, 4, 5, 6])
    assert lf.integrality[4:12].all() and not lf.integrality[:4].any()
    assert lf.sense == "max" and lf.offset == -2.0
    np.testing.assert_allclose(lf.c[:4], -0.5)
    np.testing.assert_allclose(lf.c[4:8], [0.5, 1.0, 1.5, 2.0])
    rows = lf.row_names()
    assert rows == ["first", "flow[2]", "flow[3]", "flow[4]", "band", "rev"]
    # flow[2]: inv2 - inv1 - make[p,2] - make[q,2] == -dem[2] = 0
    r = lf.A[1].toarray().ravel()
    assert r[1] == 1 and r[0] == -1 and r[5] == -1 and r[9] == -1
    assert lf.row_lb[1] == lf.row_ub[1] == 0
    assert lf.row_lb[4] == 1 and lf.row_ub[4] == 2  # 1 <= z + inv4 <= 2
    assert lf.row_lb[5] == -np.inf and lf.row_ub[5] == 2


def test_quadratic_objective_and_nonlinear_constraint():
    qp = workbench.load_model(
        "variables: {x: {lb: 0}, y: {lb: 0}}\n"
        "objective: {expr: 'x**2 + 3*x*y + 2*(y - 1)**2 + x'}\n"
        "constraints: [{name: s, expr: 'x + y >= 1'}]\n"
    )
    lf = compile_linear(qp)
    # 0.5 x'Qx with Q = [[2, 3], [3, 4]]; linear: x - 4y; offset 2
    np.testing.assert_allclose(lf.Q.toarray(), [[2, 3], [3, 4]])
    np.testing.assert_allclose(lf.c, [1, -4])
    assert lf.offset == 2
    x = np.array([0.3, 0.9])
    direct = x[0] ** 2 + 3 * x[0] * x[1] + 2 * (x[1] - 1) ** 2 + x[0]
    assert lf.objective_value(x) == pytest.approx(direct)
    nl = workbench.load_model(
        "variables: {x: {lb: 0}}\nobjective: {expr: x}\nconstraints: [{name: circle, expr: 'x**2 <= 4'}]"
    )
    with pytest.raises(
        UnsupportedProblemError, match=r"constraints\[0\]\.expr: constraint 'circle' is not linear"
    ):
        compile_linear(nl)


def test_duplicate_terms_are_merged_and_zeros_dropped():
    m = workbench.load_model(
        "sets: {I: [a, b]}\nvariables: {x: {index: [I]}}\nobjective: {expr: \"x['a']\"}\n"
        "constraints: [{name: r, expr: \"x['a'] + x['b'] + 2 * x['a'] - x['b'] <= 1\"}]"
    )
    lf = compile_linear(m)
    assert lf.A.nnz == 1 and lf.A[0, 0] == 3


def test_csr_from_triplets_slow_path_matches_scipy():
    rng = np.random.default_rng(0)
    r = rng.integers(0, 30, 400)
    c = rng.integers(0, 20, 400)
    v = rng.normal(size=400)
    import scipy.sparse as sp

    ours = csr_from_triplets(r, c, v, (30, 20))
    ref = sp.coo_matrix((v, (r, c)), shape=(30, 20)).tocsr()
    np.testing.assert_allclose(ours.toarray(), ref.toarray())
    assert ours.has_sorted_indices


def test_values_and_labels_map_back():
    lf = compile_linear(workbench.load_model(MODEL))
    x = np.arange(lf.num_cols, dtype=float)
    vals = lf.values_by_variable(x)
    assert vals["inv"] == {1: 0.0, 2: 1.0, 3: 2.0, 4: 3.0}
    assert vals["make"][("q", 2)] == 9.0
    assert vals["z"] == float(lf.num_cols - 1)
