"""Classification from expressions, with sizes."""

from __future__ import annotations

import pytest

import workbench
from workbench.backends.base import Capability
from workbench.classification import classify, covers

HEAD = "sets: {I: [a, b, c]}\n"


def cls(variables: str, objective: str, constraints: str = "[]", extra: str = ""):
    m = workbench.load_model(
        HEAD
        + f"variables: {variables}\nobjective: {objective}\nconstraints: {constraints}\n{extra}"
    )
    return classify(m)


def test_lp_milp_pure_integer():
    lp = cls(
        "{x: {index: [I], lb: 0}}", "{expr: 'sum(x[i] for i in I)'}", "[{expr: \"x['a'] <= 3\"}]"
    )
    assert lp.problem_class is Capability.LP and lp.num_vars == 3 and lp.num_constraints == 1
    assert lp.num_terms == 1
    milp = cls("{x: {index: [I], lb: 0, domain: integer}, y: {lb: 0}}", "{expr: 'y'}")
    assert (
        milp.problem_class is Capability.MILP and not milp.pure_integer and milp.num_int_vars == 3
    )
    pure = cls("{x: {index: [I], domain: integer, lb: 0, ub: 9}}", "{expr: 'sum(x[i] for i in I)'}")
    assert pure.problem_class is Capability.MILP and pure.pure_integer
    unbounded_int = cls("{x: {index: [I], domain: integer, lb: 0}}", "{expr: \"x['a']\"}")
    assert not unbounded_int.pure_integer  # CP-SAT needs finite bounds
    assert "MILP (pure integer): 3 variables (3 integer)" in pure.summary()


def test_quadratic_convexity_and_nonlinear():
    qp = cls("{x: {index: [I]}}", "{expr: 'sum(x[i]**2 for i in I)'}")
    assert qp.problem_class is Capability.QP and qp.convex is True and qp.objective_degree == 2
    maxqp = cls("{x: {index: [I]}}", "{sense: max, expr: 'sum(x[i]**2 for i in I)'}")
    assert maxqp.convex is False and maxqp.problem_class is Capability.NLP
    miqp = cls("{x: {index: [I], domain: binary}}", "{expr: \"x['a'] * x['b'] + x['c']**2\"}")
    assert miqp.problem_class in (Capability.MIQP, Capability.MINLP)
    qc = cls("{x: {index: [I]}}", "{expr: \"x['a']\"}", "[{expr: \"x['a']**2 + x['b']**2 <= 1\"}]")
    assert qc.problem_class is Capability.NLP and qc.constraint_degree == 2
    nlp = cls("{x: {index: [I], lb: 1}}", "{expr: 'sum(log(x[i]) for i in I)'}")
    assert nlp.problem_class is Capability.NLP and nlp.nonlinear
    minlp = cls("{x: {index: [I], lb: 1, domain: integer}}", "{expr: \"exp(x['a'])\"}")
    assert minlp.problem_class is Capability.MINLP
    data_nl = cls("{x: {index: [I]}}", "{expr: \"exp(2) * x['a'] + sqrt(4)\"}")
    assert data_nl.problem_class is Capability.LP  # functions of data fold to numbers


def test_bilevel_and_robust():
    bl = cls(
        "{x: {lb: 0}, y: {lb: 0}}",
        "{expr: 'x + y'}",
        extra="lower_level: {variables: [y], objective: {expr: 'y'}, constraints: [{expr: 'y >= x'}]}",
    )
    assert bl.problem_class is Capability.BILEVEL and bl.inner == "LP"
    rb = cls(
        "{x: {lb: 0}, y: {lb: 0}, xi: {lb: 0, ub: 1}}",
        "{expr: 'x + y'}",
        "[{expr: 'y >= xi - x'}]",
        extra="robust: {first_stage: [x], second_stage: [y], uncertain: [xi]}",
    )
    assert rb.problem_class is Capability.ROBUST


def test_robust_roles_must_be_declared_and_distinct():
    with pytest.raises(
        workbench.ModelError, match=r"robust\.uncertain\[0\]: unknown symbol 'zeta'"
    ):
        cls(
            "{x: {lb: 0}}",
            "{expr: x}",
            extra="robust: {first_stage: [x], second_stage: [], uncertain: [zeta]}",
        )
    with pytest.raises(workbench.ModelError, match="listed in both"):
        cls(
            "{x: {lb: 0}}",
            "{expr: x}",
            extra="robust: {first_stage: [x], second_stage: [x], uncertain: []}",
        )


def test_coverage_rules():
    pure = cls("{x: {index: [I], domain: integer, lb: 0, ub: 9}}", "{expr: 'sum(x[i] for i in I)'}")
    lp = cls("{x: {lb: 0}}", "{expr: x}")
    assert covers(frozenset({Capability.PURE_INTEGER}), pure)
    assert not covers(frozenset({Capability.PURE_INTEGER}), lp)
    assert covers(frozenset({Capability.MILP}), lp)
    assert covers(frozenset({Capability.NLP}), lp)
    assert not covers(frozenset({Capability.LP}), pure)
