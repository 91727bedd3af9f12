"""The safe expression language: whitelist, locations, and fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.errors import ModelError
from workbench.expr.nodes import BinOp, Call, Compare, In, Index, Name, Num, Reduce, Str, Tup
from workbench.expr.parser import parse_expr, parse_for, parse_set_expr


def test_allowed_constructs_parse_to_typed_nodes():
    node = parse_expr(
        "sum(c[i, j] * x[i, j] for i in I for j in J if i != j) <= cap['north'] + 2**3"
    )
    assert isinstance(node, Compare) and node.ops == ("<=",)
    lhs, rhs = node.operands
    assert isinstance(lhs, Reduce) and lhs.func == "sum" and [g.set for g in lhs.gens] == ["I", "J"]
    assert isinstance(lhs.gens[1].conds[0], Compare)
    assert isinstance(rhs, BinOp) and isinstance(rhs.left, Index)
    assert rhs.left.args == (Str("north"),)
    assert parse_expr("-3") == Num(-3)
    assert isinstance(parse_expr("max(x, y, 2)"), Call)
    assert isinstance(parse_expr("x[t-1]").args[0], BinOp)  # type: ignore[union-attr]
    chained = parse_expr("1 <= x + y <= 4")
    assert isinstance(chained, Compare) and chained.ops == ("<=", "<=")


def test_membership_and_tuple_targets():
    node = parse_expr("sum(x[i, j] for (i, j) in A if (j, i) in A)")
    assert isinstance(node, Reduce)
    gen = node.gens[0]
    assert gen.targets == ("i", "j") and gen.tuple_target
    cond = gen.conds[0]
    assert isinstance(cond, In) and isinstance(cond.item, Tup) and cond.set == "A"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os')", "'__import__' is not allowed"),
        ("x.real", "attribute access"),
        ("lambda: 1", "lambda is not allowed"),
        ("open('f')", "'open' is not allowed"),
        ("[x for x in I]", "list comprehension"),
        ("x if y else z", "conditional expression"),
        ("x[1:2]", "slices are not allowed"),
        ("x % 2", "'%' is not allowed"),
        ("x // 2", "'//' is not allowed"),
        ("f'{x}'", "f-string"),
        ("sum(x)", "sum() needs a generator"),
        ("exp(x, y)", "exactly one argument"),
        ("min(x)", "two or more arguments"),
        ("sum(x[i] for i in range(3))", "declared set name"),
        ("x is y", "'is' is not allowed"),
        ("1 +", "syntax error"),
        ("", "empty expression"),
        ("True", "not allowed"),
        ("y.__class__", "attribute access"),
        ("(lambda: 0)()", "only the functions"),
        ("ord()", "ord() takes a member"),
        ("ord(i, S, T)", "ord() takes a member"),
        ("ord(i, 'S')", "ord() takes a member"),
        ("ord(i, S[1])", "ord() takes a member"),
        ("ord(i for i in S)", "ord() cannot take a generator"),
        ("chr(i)", "the functions are abs, cos, exp, log, max, min, ord, sin, sqrt, sum"),
    ],
)
def test_disallowed_constructs_raise_located_model_error(text, fragment):
    with pytest.raises(ModelError) as exc:
        parse_expr(text, "constraints[2].expr")
    assert str(exc.value).startswith("constraints[2].expr: ")
    assert fragment in str(exc.value)


def test_for_quantifier_forms_are_equivalent():
    a = parse_for("i in I for j in J if i != j")
    b = parse_for("i in I, j in J if i != j")
    assert a == b
    assert [g.targets for g in parse_for("(i, j) in A")] == [("i", "j")]
    with pytest.raises(ModelError, match="quantifier"):
        parse_for("i of I", "constraints[0].for")


def test_set_expression():
    item, gens = parse_set_expr("(i, j) for i in I for j in J if d[i, j] <= 50")
    assert isinstance(item, Tup) and len(gens) == 2
    item, gens = parse_set_expr("i for i in I")
    assert item == Name("i")
    with pytest.raises(ModelError, match="derived set"):
        parse_set_expr("I + J", "sets.A.expr")


def test_very_long_or_deep_input_is_refused_cleanly():
    with pytest.raises(ModelError):
        parse_expr("x" + "+x" * 20000)
    with pytest.raises(ModelError, match="deep"):
        parse_expr("(" * 150 + "x" + ")" * 150 + "+" + "-" * 500 + "y")


_TOKENS = [
    "x",
    "y",
    "I",
    "[",
    "]",
    "(",
    ")",
    ",",
    "+",
    "-",
    "*",
    "/",
    "**",
    "<=",
    ">=",
    "==",
    "<",
    " for ",
    " in ",
    " if ",
    "sum",
    "exp",
    "1",
    "2.5",
    "'a'",
    ".",
    "lambda",
    ":",
    "__import__",
    "not ",
    " and ",
    "{",
    "}",
    "@",
    "%",
    "=",
    ";",
    "\\",
    "\n",
    "'",
    '"',
    "#",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=25).map("".join))
def test_token_soup_only_ever_raises_model_error(text):
    try:
        parse_expr(text, "objective.expr")
    except ModelError as e:
        assert str(e).startswith("objective.expr: ")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_random_text_only_ever_raises_model_error(text):
    for fn in (parse_expr, parse_for, parse_set_expr):
        with contextlib.suppress(ModelError):
            fn(text, "x")


def test_function_names_parse_by_form_subscript_name_or_call():
    assert parse_expr("exp[i]") == Index("exp", (Name("i"),))
    assert parse_expr("exp") == Name("exp")
    assert parse_expr("exp(x)") == Call("exp", (Name("x"),))
    assert parse_expr("sum * 2") == BinOp("*", Name("sum"), Num(2))
    node = parse_expr("sum(sum[i] for i in I)")
    assert isinstance(node, Reduce) and node.body == Index("sum", (Name("i"),))


def test_ord_parses_with_a_member_and_an_optional_set():
    assert parse_expr("ord(i)") == Call("ord", (Name("i"),))
    assert parse_expr("ord('b', S)") == Call("ord", (Str("b"), Name("S")))
    node = parse_expr("sum(x[i, j] for i in S for j in S if ord(i) < ord(j))")
    assert isinstance(node, Reduce) and isinstance(node.gens[1].conds[0], Compare)
