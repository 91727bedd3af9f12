"""Convexity by composition rules (workbench.convexity): one table of expressions, each rule
shown both proving and failing, then whole models (rows, senses, integers, the Hessian fallback)."""

from __future__ import annotations

import numpy as np
import pytest

import workbench
import workbench.convexity as convexity
from workbench.classification import classify
from workbench.compile.structure import compile_structure

HEAD = """
sets: {I: [a, b, c]}
params:
  pos: {index: [I], values: [1, 2, 3]}
  mixed: {index: [I], values: [1, -2, 3]}
"""

VARS = {
    "x": "{lb: 1, ub: 4}",  # strictly positive
    "n": "{lb: -4, ub: -1}",  # strictly negative
    "f": "{}",  # free
    "y": "{lb: 0}",  # nonnegative
    "z": "{index: [I]}",  # free vector
}


def _model(obj: str, sense: str = "min", constraints: str = "[]", domain: str = "") -> str:
    variables = ", ".join(f"{k}: {v}" for k, v in VARS.items())
    if domain:
        variables += f", k: {{domain: {domain}, lb: 0, ub: 3}}"
    return (
        HEAD
        + f"variables: {{{variables}}}\nobjective: {{sense: {sense}, expr: '{obj}'}}\n"
        + f"constraints: {constraints}\n"
    )


def curvature(expr: str) -> str:
    """'affine', 'convex', 'concave' or 'unknown' for the one-row objective *expr*."""
    cm = compile_structure(workbench.load_model(_model(expr)))
    lb = np.concatenate([v.lb for v in cm.ctx.vars.values()])
    ub = np.concatenate([v.ub for v in cm.ctx.vars.values()])
    s = convexity.shape(cm.objective.plan, lb, ub)
    cvx, ccv = bool(s.cvx[0]), bool(s.ccv[0])
    return {(True, True): "affine", (True, False): "convex", (False, True): "concave"}.get(
        (cvx, ccv), "unknown"
    )


TABLE = [
    # sums and scalar multiples
    ("3*x + 2*y - f / 4", "affine"),
    ("x**2 + 3*y", "convex"),
    ("-x**2", "concave"),
    ("(-2)*f**2 + y", "concave"),
    ("f**2 - y**2", "unknown"),  # convex minus convex
    ("f**2 / -2", "concave"),
    ("sum(pos[i] * z[i]**2 for i in I)", "convex"),
    ("sum(mixed[i] * z[i]**2 for i in I)", "unknown"),  # one negative weight
    # powers, by the exponent and the sign of the base's range
    ("(f + 2*y - 1)**2", "convex"),  # even power of affine
    ("(x**2)**2", "convex"),  # even power, increasing on a nonnegative convex base
    ("(f**2 - 1)**2", "unknown"),  # base convex but its range crosses zero
    ("(-x**2)**2", "convex"),  # even power, decreasing on a nonpositive concave base
    ("x**3", "convex"),
    ("n**3", "concave"),
    ("f**3", "unknown"),
    ("y**0.5", "concave"),
    ("f**0.5", "unknown"),  # not defined below zero
    ("y**1.5", "convex"),
    ("f**1.5", "unknown"),
    ("x**-1", "convex"),
    ("n**-1", "concave"),
    ("n**-2", "convex"),
    ("f**-1", "unknown"),
    ("1 / x", "convex"),
    ("-3 / x", "concave"),
    ("1 / f", "unknown"),
    ("x / y", "unknown"),
    ("2**f", "convex"),
    ("0.5**f", "convex"),
    ("2**(f**2)", "convex"),
    ("0.5**(f**2)", "unknown"),  # exp of a concave argument
    ("(-2)**f", "unknown"),
    ("f**f", "unknown"),
    # exp (convex increasing), log and sqrt (concave increasing)
    ("exp(f)", "convex"),
    ("exp(f**2)", "convex"),
    ("exp(-f**2)", "unknown"),
    ("exp(log(x))", "unknown"),
    ("log(x)", "concave"),
    ("log(sqrt(x))", "concave"),
    ("log(x**2)", "unknown"),
    ("sqrt(y)", "concave"),
    ("sqrt(f**2 + 1)", "unknown"),
    ("-sqrt(y) + exp(f)", "convex"),
    # abs: convex; increasing on a nonnegative range, decreasing on a nonpositive one
    ("abs(f - y)", "convex"),
    ("abs(f**2)", "convex"),
    ("abs(f**2 - 1)", "unknown"),
    ("abs(sqrt(y))", "concave"),  # the identity on a nonnegative range
    ("abs(-sqrt(y))", "concave"),  # -g on a nonpositive range
    ("-abs(f)", "concave"),
    # max convex, min concave (nondecreasing in each argument)
    ("max(f, y)", "convex"),
    ("max(f**2, y, 3)", "convex"),
    ("max(-f**2, y)", "unknown"),
    ("min(f, y)", "concave"),
    ("min(f**2, y)", "unknown"),
    ("-max(f, y)", "concave"),
    ("max(z[i] for i in I)", "convex"),
    ("max(z[i]**2 for i in I)", "convex"),
    ("min(z[i] for i in I)", "concave"),
    ("min(z[i]**2 for i in I)", "unknown"),
    # products of variables and trigonometry: unknown to the rules
    ("f * y", "unknown"),
    ("f * f", "unknown"),  # the Hessian test proves this one (see below)
    ("sin(f)", "unknown"),
    ("cos(x)", "unknown"),
]


@pytest.mark.parametrize(("expr", "want"), TABLE, ids=[e for e, _ in TABLE])
def test_composition_rules(expr: str, want: str) -> None:
    assert curvature(expr) == want


def test_table_exercises_every_verdict() -> None:
    assert {w for _, w in TABLE} == {"affine", "convex", "concave", "unknown"}


def test_intervals_enclose_sampled_values() -> None:
    """The ranges the sign rules rely on enclose the values at random points of the box."""
    rng = np.random.default_rng(0)
    exprs = ["x**-1 + n**3", "exp(x) - log(x)", "abs(n + x)", "max(x, n**2)", "sqrt(x) * n"]
    for e in exprs:
        cm = compile_structure(workbench.load_model(_model(e)))
        lb = np.concatenate([v.lb for v in cm.ctx.vars.values()])
        ub = np.concatenate([v.ub for v in cm.ctx.vars.values()])
        s = convexity.shape(cm.objective.plan, lb, ub)
        for _ in range(50):
            xv, nv = rng.uniform(1, 4), rng.uniform(-4, -1)
            val = {
                exprs[0]: 1 / xv + nv**3,
                exprs[1]: np.exp(xv) - np.log(xv),
                exprs[2]: abs(nv + xv),
                exprs[3]: max(xv, nv**2),
                exprs[4]: np.sqrt(xv) * nv,
            }[e]
            assert s.lo[0] - 1e-9 <= val <= s.hi[0] + 1e-9, (e, val, s.lo[0], s.hi[0])


def cls(obj: str, sense: str = "min", constraints: str = "[]", domain: str = ""):
    return classify(workbench.load_model(_model(obj, sense, constraints, domain)))


@pytest.mark.parametrize(
    ("obj", "sense", "constraints", "want"),
    [
        ("(f - 2)**2 + (y - 1)**2", "min", "[{expr: 'f**2 + y**2 <= 2'}]", True),
        ("(f - 2)**2", "max", "[]", False),  # a convex objective maximised: Hessian proves it
        ("log(x) + sqrt(y)", "max", "[]", True),
        ("log(x) + sqrt(y)", "min", "[]", None),  # concave minimised: the rules cannot say
        ("f", "min", "[{expr: 'exp(f) + y**2 <= 4'}]", True),
        ("f", "min", "[{expr: 'exp(f) >= 4'}]", None),  # convex >= const
        ("f", "min", "[{expr: 'log(x) >= 0.5'}]", True),  # concave >= const
        ("f", "min", "[{expr: '4 >= exp(f)'}]", True),  # swapped sides
        ("f", "min", "[{expr: 'f**2 + y == 1'}]", False),  # an equality must be affine
        ("f", "min", "[{expr: '1 <= f**2 <= 4'}]", False),  # a ranged row too
        ("f", "min", "[{expr: 'f**2 + f*y + y**2 <= 1'}]", True),  # Hessian fallback: PSD
        ("f", "min", "[{expr: 'f*y <= 1'}]", False),  # Hessian fallback: indefinite
        ("f * f", "min", "[]", True),
        ("f", "min", "[{for: 'i in I', expr: 'pos[i] * z[i]**2 <= 1'}]", True),
        ("f", "min", "[{for: 'i in I', expr: 'mixed[i] * z[i]**2 <= 1'}]", False),
        ("f", "min", "[{expr: 'sin(f) <= 0.5'}]", None),
    ],
)
def test_model_verdict(obj: str, sense: str, constraints: str, want: bool | None) -> None:
    c = cls(obj, sense, constraints)
    assert c.convex is want, c.convexity_reason
    assert (c.convexity_reason is None) == (want is True)


def test_reason_names_the_constraint() -> None:
    c = cls("f", "min", "[{name: bal, expr: 'f*y == 1'}]")
    assert c.convex is False and "'bal'" in c.convexity_reason


def test_integer_variables_make_it_nonconvex_but_keep_the_relaxation() -> None:
    c = cls("(k - 1.5)**2 + f**2", domain="integer")
    assert c.convex is False and c.relaxation_convex is True
    assert "integer" in c.convexity_reason
    assert "(convex relaxation)" in c.summary()


def test_smoothness_and_proven_convex() -> None:
    kink = cls("abs(f - 1) + y")
    assert kink.convex is True and not kink.smooth and not kink.proven_convex
    assert "nonsmooth" in kink.summary()
    signed = cls("abs(x) + y")  # x >= 1: abs is the identity, no kink
    assert signed.smooth and signed.proven_convex
    assert cls("exp(f)").proven_convex


def test_summary_words() -> None:
    assert "NLP (convex)" in cls("exp(f)").summary()
    assert "(nonconvex)" in cls("f", constraints="[{expr: 'f*y == 1'}]").summary()
    assert "(convexity unknown)" in cls("sin(f)").summary()
    assert "(" not in cls("f + y").summary().split(":")[0]  # LP: nothing to say


def test_linear_models_are_convex_and_cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(convexity, "shape", lambda *a: calls.append(a))
    c = cls("f + y", constraints="[{for: 'i in I', expr: 'z[i] + f <= pos[i]'}]")
    assert c.convex is True and calls == []  # affine rows need no tree walk


def test_each_family_is_analysed_once_not_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    counts: list[int] = []
    real = convexity.shape

    def counting(*a):  # type: ignore[no-untyped-def]
        counts[-1] += 1
        return real(*a)

    monkeypatch.setattr(convexity, "shape", counting)
    for n in (3, 300):
        counts.append(0)
        m = workbench.load_model(
            f"sets: {{I: {{range: [1, {n}]}}}}\nvariables: {{z: {{index: [I]}}}}\n"
            "objective: {expr: 'sum(z[i] for i in I)'}\n"
            "constraints: [{for: 'i in I', expr: 'exp(z[i]) + z[i]**2 <= 5'}]\n"
        )
        assert classify(m).convex is True
    assert counts[0] == counts[1] > 0


def test_matrix_models() -> None:
    lf = workbench.compile_linear(workbench.load_model(_model("f**2 + y")))
    assert classify(lf).convex is True
    lf = workbench.compile_linear(workbench.load_model(_model("f + k", domain="binary")))
    c = classify(lf)
    assert c.convex is False and c.relaxation_convex is True
