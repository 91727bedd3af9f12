"""RLT rows for binary products over assignment rows, against enumeration of every assignment."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import workbench
from workbench.compile.reformulate import AUX_PREFIX, reformulate
from workbench.ir import dump_model, load_model, model_from_dict
from workbench.result import Termination


def _qap(flow: np.ndarray, dist: np.ndarray, *, filtered: bool = True) -> workbench.Model:
    n = flow.shape[0]
    cond = " if i != j and F[i, j] != 0" if filtered else ""
    return model_from_dict(
        {
            "sets": {"I": {"range": [1, n]}, "P": {"range": [1, n]}},
            "params": {
                "F": {"index": ["I", "I"], "values": flow.tolist()},
                "D": {"index": ["P", "P"], "values": dist.tolist()},
            },
            "variables": {"x": {"index": ["I", "P"], "domain": "binary"}},
            "objective": {
                "sense": "min",
                "expr": f"sum(F[i, j] * D[p, q] * x[i, p] * x[j, q] for i in I for j in I{cond} "
                "for p in P for q in P if p != q)",
            },
            "constraints": [
                {"name": "one_place", "for": "i in I", "expr": "sum(x[i, p] for p in P) == 1"},
                {"name": "one_item", "for": "p in P", "expr": "sum(x[i, p] for i in I) == 1"},
            ],
        }
    )


def _brute_qap(flow: np.ndarray, dist: np.ndarray) -> float:
    n = flow.shape[0]
    return min(
        float(sum(flow[i, j] * dist[p[i], p[j]] for i in range(n) for j in range(n) if i != j))
        for p in itertools.permutations(range(n))
    )


def _data(n: int, seed: int, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flow = rng.integers(-4 if signed else 0, 6, (n, n))
    flow[rng.random((n, n)) < 0.3] = 0  # sparse: some pairs have no product at all
    np.fill_diagonal(flow, 0)
    pts = rng.integers(0, 6, (n, 2))
    dist = np.abs(pts[:, None, :] - pts[None, :, :]).sum(-1)
    return flow, dist


@pytest.mark.parametrize(("seed", "signed"), [(0, False), (1, False), (2, True), (3, True)])
def test_qap_with_rlt_rows_matches_enumeration(seed, signed):
    flow, dist = _data(5, seed, signed)
    res = workbench.solve(_qap(flow, dist), time_limit=60)
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(_brute_qap(flow, dist), abs=1e-6)
    assert not any(k.startswith(AUX_PREFIX) for k in res.values)
    x = res.values["x"]
    perm = {i: p for (i, p), v in x.items() if v > 0.5}
    assert sorted(perm) == list(range(1, 6)) and sorted(perm.values()) == list(range(1, 6))


def test_auto_sends_the_linearised_qap_to_a_linear_solver_and_says_so():
    flow, dist = _data(5, 0, False)
    res = workbench.solve(_qap(flow, dist), time_limit=60, threads=1)  # one solver: no race
    assert res.backend == "highs"
    raced = workbench.solve(_qap(flow, dist), time_limit=60)
    assert raced.diagnostics.extra["race"]["entrants"] == ["highs", "scip"]
    assert raced.objective == pytest.approx(res.objective, abs=1e-6)
    text = res.diagnostics.extra["reformulation"]
    assert "assignment row x binary product -> RLT rows" in text
    assert "the same product twice -> tied" in text


def test_rlt_rows_hold_at_every_assignment_and_the_model_reloads():
    """Each RLT row, evaluated at every permutation with exact products, holds."""
    flow, dist = _data(4, 5, True)
    rf = reformulate(_qap(flow, dist))
    assert any(r.method == "RLT rows" for r in rf.records)
    again = load_model_text(dump_model(rf.model, "yaml"))
    # fix x to each permutation: the reformulated model must stay feasible with the exact cost
    for perm in itertools.permutations(range(1, 5)):
        fixed = [
            {"expr": f"x[{i}, {p}] == {1 if perm[i - 1] == p else 0}"}
            for i in range(1, 5)
            for p in range(1, 5)
        ]
        m = again.model_copy(update={"constraints": list(again.constraints) + [*map(_con, fixed)]})
        res = workbench.solve(m, backend="highs", reformulate=False, time_limit=30)
        assert res.termination is Termination.OPTIMAL, perm
        want = sum(
            flow[i, j] * dist[perm[i] - 1, perm[j] - 1]
            for i in range(4)
            for j in range(4)
            if i != j
        )
        assert res.objective == pytest.approx(float(want), abs=1e-6)


def load_model_text(text: str) -> workbench.Model:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.yaml"
        path.write_text(text)
        return load_model(path)


def _con(d: dict) -> object:
    from workbench.ir.model import Constraint

    return Constraint(**d)


def test_no_rlt_rows_without_an_assignment_row_or_with_an_unpaired_partner():
    # products but only a packing row (<= 1): nothing to multiply exactly
    m = model_from_dict(
        {
            "variables": {
                "a": {"domain": "binary"},
                "b": {"domain": "binary"},
                "c": {"domain": "binary"},
            },
            "objective": {"sense": "max", "expr": "3 * a * b + 2 * a * c - a"},
            "constraints": [{"expr": "b + c <= 1"}],
        }
    )
    assert not any(r.method == "RLT rows" for r in reformulate(m).records)
    # an assignment row b + c + d == 1 where a*d has no product and a, d share no packing row
    m2 = model_from_dict(
        {
            "variables": {k: {"domain": "binary"} for k in "abcd"},
            "objective": {"sense": "max", "expr": "3 * a * b + 2 * a * c - a"},
            "constraints": [{"expr": "b + c + d == 1"}],
        }
    )
    assert not any(r.method == "RLT rows" for r in reformulate(m2).records)
    # ... and with a and d in one packing row, a*d is 0: the row is written and exact
    m3 = m2.model_copy(update={"constraints": [*m2.constraints, _con({"expr": "a + d <= 1"})]})
    rf = reformulate(m3)
    assert any(r.method == "RLT rows" for r in rf.records)
    best = max(
        3 * a * b + 2 * a * c - a
        for a, b, c, d in itertools.product([0, 1], repeat=4)
        if b + c + d == 1 and a + d <= 1
    )
    res = workbench.solve(m3, time_limit=30)
    assert res.termination is Termination.OPTIMAL and res.objective == pytest.approx(best)


def test_cpsat_keeps_a_pure_integer_linearisation():
    pytest.importorskip("ortools")
    flow, dist = _data(4, 1, False)
    res = workbench.solve(_qap(flow, dist), backend="cpsat", reformulate=True, time_limit=30)
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(_brute_qap(flow, dist), abs=1e-6)
    assert "RLT" not in res.diagnostics.extra["reformulation"]


def test_a_user_row_shaped_like_a_product_row_is_not_taken_for_one():
    """``a*b - c - d >= -1`` in the user's rows reads ``w - c - d >= -1`` after the product
    rule, the shape of the rule's own lifting row for ``c*d``; only the rule's rows count."""
    names = "abcde"
    m = model_from_dict(
        {
            "variables": {k: {"domain": "binary"} for k in names},
            "objective": {"sense": "max", "expr": "4 * a * b + 3 * a * c + 2 * a * d - 2 * a - e"},
            "constraints": [
                {"expr": "b + c + d == 1"},
                {"expr": "a + e <= 1"},
                {"expr": "a * b - c - d >= -1"},
                {"expr": "b + b + e >= 1"},
            ],
        }
    )

    def f(a, b, c, d, e):
        return 4 * a * b + 3 * a * c + 2 * a * d - 2 * a - e

    def ok(a, b, c, d, e):
        return b + c + d == 1 and a + e <= 1 and a * b - c - d >= -1 and 2 * b + e >= 1

    best = max(f(*p) for p in itertools.product([0, 1], repeat=5) if ok(*p))
    rf = reformulate(m)
    assert any(r.method == "RLT rows" for r in rf.records)
    res = workbench.solve(m, time_limit=30)
    assert res.termination is Termination.OPTIMAL and res.objective == pytest.approx(best)


@st.composite
def _binary_model(draw):
    """Six binaries; one or two assignment rows, maybe a packing row; signed pair products."""
    n = 6
    rows = []
    for _ in range(draw(st.integers(1, 2))):
        members = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=4, unique=True))
        rows.append(("==", sorted(members)))
    if draw(st.booleans()):
        members = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=3, unique=True))
        rows.append(("<=", sorted(members)))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1]),
            min_size=1,
            max_size=10,
        )
    )
    coefs = draw(st.lists(st.integers(-5, 5), min_size=len(pairs), max_size=len(pairs)))
    linear = draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n))
    sense = draw(st.sampled_from(["min", "max"]))
    return n, rows, list(zip(pairs, coefs)), linear, sense


@settings(max_examples=60, deadline=None)  # about one in five draws gets RLT rows
@given(_binary_model())
def test_random_assignment_products_match_enumeration(drawn):
    n, rows, terms, linear, sense = drawn
    expr = " + ".join(f"{c} * b[{i}] * b[{j}]" for (i, j), c in terms)
    expr += " + " + " + ".join(f"{c} * b[{k}]" for k, c in enumerate(linear))
    cons = [{"expr": f"{' + '.join(f'b[{k}]' for k in members)} {op} 1"} for op, members in rows]
    m = model_from_dict(
        {
            "sets": {"K": {"range": [0, n - 1]}},
            "variables": {"b": {"index": ["K"], "domain": "binary"}},
            "objective": {"sense": sense, "expr": expr},
            "constraints": cons,
        }
    )

    def value(b):
        return sum(c * b[i] * b[j] for (i, j), c in terms) + sum(
            c * b[k] for k, c in enumerate(linear)
        )

    def ok(b):
        return all(
            (sum(b[k] for k in mem) == 1) if op == "==" else (sum(b[k] for k in mem) <= 1)
            for op, mem in rows
        )

    points = [p for p in itertools.product([0, 1], repeat=n) if ok(p)]
    res = workbench.solve(m, backend="highs", reformulate=True, time_limit=30)
    if not points:
        assert res.termination is Termination.INFEASIBLE
        return
    vals = [value(p) for p in points]
    assert res.termination is Termination.OPTIMAL, (expr, cons)
    assert res.objective == pytest.approx(min(vals) if sense == "min" else max(vals), abs=1e-6)
