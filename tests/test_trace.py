"""Trace core and OptoPrime with scripted LLMs (and once through the real openai client)."""

from __future__ import annotations

import json

import pytest
from models import BAKERY_MODEL as GOOD
from models import BAKERY_TEXT as TEXT

import workbench
from agents.llm import OpenAIClient, ScriptedLLM
from agents.trace import Graph, OptoPrime, OptoPrimeAgent, backward, bundle, convert_like, node
from workbench.ir import model_to_dict
from workbench.result import Termination

SECTIONS = ["#Instruction", "#Code", "#Documentation", "#Variables", "#Constraints",
            "#Inputs", "#Others", "#Outputs", "#Feedback"]  # fmt: skip


def suggest(**values: object) -> str:
    return json.dumps({"reasoning": "because", "answer": "fix", "suggestion": values})


def variant(path: str, value: object) -> dict:
    m = json.loads(json.dumps(GOOD))
    i, key = path.split(".")
    m["constraints"][int(i)][key] = value
    return m


def _double_graph() -> tuple[Graph, object, object]:
    g = Graph()
    x = node(3, trainable=True, description="a small integer", graph=g, name="x")

    @bundle(graph=g)
    def double(v: int) -> int:
        """Twice the value."""
        return 2 * v

    return g, x, double


def test_bundle_records_inputs_output_doc_and_code():
    g, x, double = _double_graph()
    k = node(1, graph=g, name="k")
    add = g.bundle(lambda a, b: a + b, name="add")
    y = add(double(x), k)
    assert y.value == 7 and not y.is_error
    op = g.ops[0]
    assert op.function == "double" and op.doc == "Twice the value." and "return 2 * v" in op.code
    assert op.inputs == {"v": x} and op.output.value == 6
    assert y.op.inputs["b"] is k and y.parents[0] is op.output
    assert op.call_line() == "double0 = double(v=x0)"


def test_graphs_are_independent():
    g1, x1, double1 = _double_graph()
    g2, x2, double2 = _double_graph()
    double1(x1)
    assert len(g1.ops) == 1 and g2.ops == [] and g2.nodes == [x2]
    with pytest.raises(ValueError, match="another graph"):
        double2(x1)


def test_an_exception_becomes_an_error_node_and_skips_later_ops():
    g = Graph()

    @g.bundle
    def boom(v: int) -> int:
        raise KeyError("no such thing")

    out = boom(node(1, graph=g))
    assert out.is_error and out.error == "KeyError: 'no such thing'"
    later = g.bundle(lambda v: v + 1, name="inc")(out)
    assert later.is_error and "not run" in later.error and "no such thing" in later.error


def test_backward_reaches_only_the_trainable_params_in_the_subgraph():
    g, x, double = _double_graph()
    unused = node(5, trainable=True, graph=g, name="unused")
    const = node(4, graph=g, name="c")
    y = g.bundle(lambda a, b: a + b, name="add")(double(x), const)
    sub = backward(y, "too small")
    assert sub.params == [x] and unused.feedback == [] and x.feedback == ["too small"]
    assert [op.function for op in sub.ops] == ["double", "add"]
    assert sub.inputs == [const] and [n.name for n in sub.others] == ["double0"]


def test_prompt_sections_in_order_and_parse_failure_becomes_feedback():
    g, x, double = _double_graph()
    llm = ScriptedLLM(["this is not JSON", suggest(x0=10)])
    opt = OptoPrime([x], llm, memory=2)
    first = opt.step(opt.backward(double(x), "the output must be 20"))
    assert first.error and "not valid JSON" in first.error and x.value == 3
    user = first.messages[1]["content"]
    where = [user.index(s + "\n") for s in SECTIONS]
    assert where == sorted(where)
    assert "(int) x0 = 3" in user and "(x0) a small integer" in user and "Twice the value." in user
    second = opt.step(opt.backward(double(x), "the output must be 20"))
    assert second.applied == {"x0": 10} and x.value == 10
    user2 = second.messages[1]["content"]
    assert "could not be used" in user2 and "not valid JSON" in user2
    assert "earlier steps" in user2  # memory of the first step
    assert len(llm.calls) == 2 and "this is not JSON" in llm.calls[0]["response"]
    assert (
        "#Feedback" in llm.calls[1]["prompt"][-1]["content"]
    )  # every prompt and reply is in the call log


def test_type_preserving_update_and_rejected_suggestion():
    assert convert_like("7", 1) == 7 and convert_like(2.0, 1) == 2 and convert_like(3, 1.5) == 3.0
    assert convert_like('{"a": 1}', {}) == {"a": 1} and convert_like([1], []) == [1]
    assert convert_like(5, "s") == "5" and convert_like("true", False) is True
    for bad, like in [("seven", 1), (2.5, 1), ("[1]", {}), ("{", {})]:
        with pytest.raises(ValueError):
            convert_like(bad, like)
    g = Graph()
    n, text = node(2, trainable=True, graph=g, name="n"), node("a", trainable=True, graph=g)
    out = g.bundle(lambda k, s: s * k, name="rep")(n, text)
    llm = ScriptedLLM([suggest(n0="many", str0="b", zz=1), suggest(n0=3)])
    opt = OptoPrime([n, text], llm)
    rec = opt.step(opt.backward(out, "make it longer"))
    assert rec.applied == {"str0": "b"} and n.value == 2 and set(rec.rejected) == {"n0", "zz"}
    rec2 = opt.step(opt.backward(out, "make it longer"))
    assert "expected int" in rec2.messages[1]["content"] and n.value == 3


def test_a_typo_is_repaired_through_the_real_client(llm_stub):
    typo = variant("0.expr", "bred + 2 * cake <= 8")
    llm_stub.reply(json.dumps({"model": typo}))
    llm_stub.reply(suggest(model_ir0=GOOD))
    llm = OpenAIClient(model="stub", base_url=llm_stub.url, api_key="k", backoff=(0.01, 1.0))
    form = OptoPrimeAgent().formulate(TEXT, llm=llm, solve=workbench.solve, budget=3)
    assert form.result.objective == 24.0 and len(form.attempts) == 2 and form.calls == 2
    fb = form.attempts[0].feedback
    assert "constraints[0].expr: unknown symbol 'bred'" in fb
    step = llm_stub.chat_requests[1].body["messages"][-1]["content"]
    assert fb in step and "bred + 2 * cake" in step and TEXT in step
    assert [t.get("prompt", "")[:15] for t in form.transcript][-2:] == [
        "trace/optoprime",
        "reply:step0",
    ]


def test_an_infeasible_model_is_repaired_after_iis_feedback():
    bad = variant("1.expr", "bread >= 20")
    llm = ScriptedLLM([json.dumps({"model": bad}), suggest(model_ir0=json.dumps(GOOD))])
    form = OptoPrimeAgent().formulate(TEXT, llm=llm, solve=workbench.solve)
    first = form.attempts[0]
    assert first.result.termination is Termination.INFEASIBLE
    assert "min_bread" in first.feedback and "oven" in first.feedback
    assert "min_bread" in llm.calls[1]["prompt"][-1]["content"]
    assert form.result.objective == 24.0 and form.attempts[-1].feedback == ""


def test_a_users_remark_is_feedback_even_for_an_accepted_model():
    lower = variant("0.expr", "bread + 2 * cake <= 6")
    llm = ScriptedLLM([json.dumps({"model": lower}), suggest(model_ir0=GOOD)])
    form = OptoPrimeAgent().formulate(
        TEXT, llm=llm, solve=workbench.solve, remark="the oven has 8 hours"
    )
    assert "A user's remark: the oven has 8 hours" in form.attempts[0].feedback
    assert form.result.objective == 24.0 and form.calls == 2


def test_tune_pipeline_scores_a_catalogue_problem_correct():
    from workbench.datasets import get_dataset
    from workbench.runs.jobs import TUNERS, Job, run_job

    if "optoprime" not in TUNERS.names():
        from agents.trace.tuner import tune

        TUNERS.register("optoprime", tune)
    p = next(p for p in get_dataset("catalog") if p.status == "optimal" and p.text)
    reference = model_to_dict(p.model)
    llm = {"kind": "scripted", "replies": lambda msgs: json.dumps({"model": reference})}
    job = Job(key="k", item_id=p.id, dataset="catalog", pipeline="tune", agent="optoprime",
              options={"llm": llm, "budget": 1})  # fmt: skip
    out = run_job(job)
    assert out.status == "done", out
    assert out.score["correct"] and len(out.llm_calls) == 1
    assert [a["status"] for a in out.attempts] == ["ok"]


def test_an_unparsable_first_reply_becomes_feedback_on_an_empty_model():
    llm = ScriptedLLM(["not json at all", suggest(model_ir0=GOOD)])
    form = OptoPrimeAgent().formulate(TEXT, llm=llm, solve=workbench.solve)
    assert form.attempts[0].error and "workflow failed in compile_ir" in form.attempts[0].feedback
    assert "not a valid JSON object" in llm.calls[1]["prompt"][-1]["content"]
    assert form.result.objective == 24.0
