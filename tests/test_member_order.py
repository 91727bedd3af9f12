"""Order comparisons of set members, ord(), and declared names that coincide with functions."""

from __future__ import annotations

import itertools

import pytest

import workbench
from workbench.errors import ModelError

BASE = """
sets:
  S: [c, a, b, d]
  T: [3, 1, 2]
  P: [p, q]
  A: {expr: "(i, j) for i in S for j in S if i < j"}
  B: {expr: "(i, p) for i in S for p in P"}
  E: [[a, b], [b, c], [d, a]]
variables:
  x: {index: [S, S], lb: 0, ub: 1}
  z: {index: [T], lb: 0, ub: 1}
objective: {sense: max, expr: "%s"}
"""
S = ["c", "a", "b", "d"]


def optimum(expr: str) -> float:
    res = workbench.solve(workbench.load_model(BASE % expr), backend="highs")
    assert res.objective is not None, res.termination
    return res.objective


def err(expr: str) -> str:
    with pytest.raises(ModelError) as exc:
        workbench.validate(workbench.load_model(BASE % expr))
    return str(exc.value)


def count(pred) -> int:
    return sum(1 for i, j in itertools.product(S, S) if pred(S.index(i), S.index(j)))


@pytest.mark.parametrize(
    ("op", "pred"),
    [
        ("<", lambda a, b: a < b),
        ("<=", lambda a, b: a <= b),
        (">", lambda a, b: a > b),
        (">=", lambda a, b: a >= b),
    ],
)
def test_text_members_compare_by_position_in_their_set(op, pred) -> None:
    # S = [c, a, b, d]: position order, not alphabetical ('c' < 'a' here)
    assert optimum(f"sum(x[i, j] for i in S for j in S if i {op} j)") == count(pred)
    # the common quantifier form: forbid those pairs and count what is left
    text = BASE % "sum(x[i, j] for i in S for j in S)"
    text += f'constraints:\n  - {{for: "i in S, j in S if i {op} j", expr: "x[i, j] <= 0"}}\n'
    res = workbench.solve(workbench.load_model(text), backend="highs")
    assert res.objective == 16 - count(pred)


def test_unordered_pairs_in_a_derived_set_and_a_tuple_for() -> None:
    assert workbench.load_model(BASE % "x['a', 'b']")
    pairs = sum(1 for a, b in itertools.combinations(range(4), 2))
    assert optimum("sum(x[i, j] for (i, j) in A)") == pairs
    # components of a derived tuple set follow the set their generator drew them from
    assert optimum("sum(x[i, j] for (i, j) in A if j > i)") == pairs
    assert optimum("sum(x[i, j] for (i, j) in A if i < 'b')") == 3 + 2  # i = c or a
    # 'c' is first in S, so (c, j) pairs are weighted 1, (a, j) 2, (b, d) 3
    assert optimum("sum(ord(i) * x[i, j] for (i, j) in A)") == 1 * 3 + 2 * 2 + 3 * 1


def test_comparison_with_a_literal_member() -> None:
    assert optimum("sum(x[i, i] for i in S if i < 'b')") == 2  # c, a
    assert optimum("sum(x[i, i] for i in S if 'a' <= i)") == 3  # a, b, d
    assert optimum("sum(x[i, i] for i in S if 'c' < i < 'd')") == 2  # a, b (chained)


def test_ord_gives_the_one_based_position() -> None:
    assert optimum("sum(ord(i) * x[i, i] for i in S)") == 1 + 2 + 3 + 4
    assert optimum("sum(x[i, i] for i in S if ord(i) > 2)") == 2
    assert optimum("ord('b', S) * x['a', 'a']") == 3
    assert optimum("sum(x[i, j] for (i, j) in E if ord(i, S) < ord(j, S))") == 1  # (a, b)
    # integer members: ord is the position, the member itself its value (T = [3, 1, 2])
    assert optimum("sum(ord(t) * z[t] for t in T)") == 6
    assert optimum("sum(ord(t) * z[t] for t in T if t > 1)") == 1 + 3
    assert optimum("sum(z[t] for t in T if ord(t) > 1)") == 2


def test_integer_members_compare_by_value_even_when_listed_unsorted() -> None:
    # T = [3, 1, 2]: 't < u' compares the numbers, so the pairs are (1,2), (1,3), (2,3)
    text = BASE.replace("variables:\n", "variables:\n  w: {index: [T, T], lb: 0, ub: 1}\n")
    obj = "sum(w[t, u] * (10 * t + u) for t in T for u in T if t < u)"
    res = workbench.solve(workbench.load_model(text % obj), backend="highs")
    assert res.objective == 12 + 13 + 23
    obj = "sum(w[t, u] * (10 * t + u) for t in T for u in T if ord(t) < ord(u))"
    res = workbench.solve(workbench.load_model(text % obj), backend="highs")
    assert res.objective == 31 + 32 + 12  # positions: 3 before 1 before 2


def test_ord_works_as_an_index() -> None:
    text = BASE.replace("variables:\n", "variables:\n  y: {index: [T], lb: 0, ub: 5}\n")
    res = workbench.solve(workbench.load_model(text % "sum(y[ord(i)] for i in P)"), backend="highs")
    assert res.objective == 10.0  # y[1] and y[2]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (
            "sum(x[i, i] for i in S for p in P if i < p)",
            "objective.expr: order comparison '<' of members of different sets (S and P); "
            "compare positions in one set with ord(..., S)",
        ),
        (
            "sum(x[i, j] for (i, j) in E if i < j)",
            "objective.expr: 'i' is a component of the tuple set E, which has no order of its "
            "own; name the set whose order to use: ord(i, S)",
        ),
        (
            "sum(x[i, i] for (i, p) in B if i < p)",
            "objective.expr: order comparison '<' of members of different sets (S and P)",
        ),
        ("sum(x[i, i] for i in S if i < 2)", "objective.expr: comparing text with a number"),
        ("sum(x[i, i] for i in S if 'a' < 'b')", "needs a member bound by 'for'"),
        ("sum(x[i, i] for i in S if i < 'zz')", "'zz' is not a member of S (when i=c)"),
        ("ord('b') * x['a', 'a']", "ord() needs a member bound by 'for'"),
        ("sum(ord(i, P) * x[i, i] for i in S)", "'c' is not a member of P (when i=c)"),
        ("sum(ord(t, P) * z[t] for t in T)", "the members of P are text"),
        ("sum(ord(i, A) * x[i, i] for i in S)", "'A' has 2 components"),
        ("sum(ord(i, S, S) * x[i, i] for i in S)", "ord() takes a member"),
        ("sum(ord(i, 'S') * x[i, i] for i in S)", "ord() takes a member"),
        ("ord(i for i in S)", "ord() cannot take a generator"),
    ],
)
def test_bad_order_comparisons_are_located(expr: str, message: str) -> None:
    assert message in err(expr)
    assert err(expr).startswith("objective.expr: ")


# ------------------------------------------------------------------ names
NAMED = """
sets: {I: [a, b], sum: [u, v]}
params:
  exp: {index: [I], values: [1, 2]}
  log: 3
  max: {expr: "exp(0) + log"}
variables:
  min: {lb: 0, ub: 2}
  sqrt: {index: [sum], lb: 0, ub: 1}
objective: {sense: max, expr: "sum(exp[i] for i in I) * min + log + max + sum(sqrt[s] for s in sum)"}
constraints:
  - {name: cap, expr: "min + sqrt['u'] <= exp['b'] + abs(-0.5)"}
"""


def test_declared_names_may_coincide_with_function_names() -> None:
    model = workbench.load_model(NAMED)
    warnings = workbench.validate(model)
    want = "params.max.expr: 'exp(...)' calls the function exp(), not the declared parameter 'exp'"
    assert any(w.startswith(want) for w in warnings)
    res = workbench.solve(model, backend="highs")
    # exp[a] + exp[b] = 3; min <= 2; min + sqrt[u] <= 2.5; max = 1 + 3; sqrt[v] <= 1
    assert res.objective == pytest.approx(3 * 2 + 3 + 4 + 0.5 + 1)
    assert res.values["min"] == pytest.approx(2.0)


def test_a_call_never_reads_the_declared_symbol() -> None:
    text = NAMED.replace('expr: "exp(0) + log"', 'expr: "exp(log)"')
    import math

    res = workbench.solve(workbench.load_model(text), backend="highs")
    assert res.objective == pytest.approx(3 * 2 + 3 + math.exp(3) + 0.5 + 1)


@pytest.mark.parametrize("name", ["for", "if", "lambda", "None", "True", "in", "and"])
def test_python_keywords_stay_reserved(name: str) -> None:
    text = f"params: {{'{name}': 1}}\nvariables: {{x: {{}}}}\nobjective: {{expr: x}}"
    with pytest.raises(ModelError) as exc:
        workbench.validate(workbench.load_model(text))
    msg = str(exc.value)
    assert msg.startswith(f"params.{name}: '{name}' is reserved: Python's keywords")
    assert "choose another name" in msg
