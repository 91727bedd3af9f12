"""ORThought and LLMOPT with scripted LLMs and with the real openai client against the loopback stub."""

from __future__ import annotations

import json

import pytest
from models import BAKERY_MODEL as GOOD
from models import BAKERY_TEXT as TEXT

import workbench
from agents.llm import OpenAIClient, ScriptedLLM
from agents.llmopt import Llmopt
from agents.orthought import OrThought
from workbench.ir import model_to_dict
from workbench.result import Termination


def reply(model: dict, note: str = "") -> str:
    return json.dumps(
        {"understanding": f"bakery {note}", "steps": "two integer variables", "model": model}
    )


def stub_llm(stub, replies: list[str]) -> OpenAIClient:
    """The real openai client against the loopback stub, which serves *replies* in order."""
    for r in replies:
        stub.reply(r)
    return OpenAIClient(model="stub", base_url=stub.url, api_key="test-key", backoff=(0.01, 1.0))


def sent(stub, k: int) -> list[dict]:
    """The messages of the k-th chat request the stub received."""
    return stub.chat_requests[k].body["messages"]


def optimum() -> float:
    return workbench.solve(workbench.ir.model_from_dict(GOOD)).objective


def test_reference_optimum_is_what_the_text_says():
    assert optimum() == 24.0  # eight batches of bread use the 8 hours


def test_orthought_accepts_a_correct_model_first_time(llm_stub):
    llm = stub_llm(llm_stub, [reply(GOOD)])
    form = OrThought().formulate(TEXT, llm=llm, solve=workbench.solve, budget=3)
    assert form.result.termination is Termination.OPTIMAL and form.result.objective == 24.0
    assert len(form.attempts) == 1 and form.attempts[0].feedback == "" and form.calls == 1
    assert form.model is not None and form.model.objective.sense == "max"
    prompts = [t.get("prompt") for t in form.transcript]
    assert prompts[0] == "orthought/system@1" and prompts[1].startswith(
        "orthought/formulate@1+ir_reference@3"
    )
    assert TEXT in form.transcript[1]["content"]


def test_orthought_repairs_a_typo_with_the_located_error(llm_stub):
    typo = json.loads(json.dumps(GOOD))
    typo["constraints"][0]["expr"] = "bred + 2 * cake <= 8"
    llm = stub_llm(llm_stub, [reply(typo), reply(GOOD, "fixed")])
    form = OrThought().formulate(TEXT, llm=llm, solve=workbench.solve)
    assert form.result.objective == 24.0 and len(form.attempts) == 2
    fb = form.attempts[0].feedback
    assert "constraints[0].expr: unknown symbol 'bred' (did you mean 'bread'?)" in fb
    assert fb in sent(llm_stub, 1)[-1]["content"]
    assert sent(llm_stub, 1)[-2]["role"] == "assistant"  # the faulty reply is part of the context


def test_orthought_repairs_infeasibility_with_iis_names(llm_stub):
    bad = json.loads(json.dumps(GOOD))
    bad["constraints"][1]["expr"] = "bread >= 20"
    llm = stub_llm(llm_stub, [reply(bad), reply(GOOD)])
    form = OrThought().formulate(TEXT, llm=llm, solve=workbench.solve)
    first = form.attempts[0]
    assert first.result.termination is Termination.INFEASIBLE
    assert (
        "infeasible" in first.feedback
        and "min_bread" in first.feedback
        and "oven" in first.feedback
    )
    assert form.result.objective == 24.0


def test_orthought_flags_wrong_sense_and_unboundedness():
    wrong = json.loads(json.dumps(GOOD))
    wrong["objective"]["sense"] = "min"
    unb = json.loads(json.dumps(GOOD))
    unb["constraints"] = []
    llm = ScriptedLLM([reply(wrong), reply(unb), reply(GOOD)])
    form = OrThought().formulate(TEXT, llm=llm, solve=workbench.solve)
    assert "sense is 'min'" in form.attempts[0].feedback
    assert "unbounded" in form.attempts[1].feedback
    assert form.result.objective == 24.0 and len(form.attempts) == 3


def test_orthought_budget_is_respected_and_best_result_kept():
    bad = json.loads(json.dumps(GOOD))
    bad["objective"]["sense"] = "min"
    llm = ScriptedLLM([reply(bad)] * 3)
    form = OrThought().formulate(TEXT, llm=llm, solve=workbench.solve, budget=2)
    assert len(form.attempts) == 3 and form.calls == 3
    assert (
        form.result is not None and form.result.ok
    )  # the (flagged) solved model is still reported


def test_garbage_and_truncated_json_then_valid_reply(llm_stub):
    truncated = reply(GOOD)[:60]
    llm = stub_llm(llm_stub, ["this is not json at all", truncated, reply(GOOD)])
    form = OrThought().formulate(TEXT, llm=llm, solve=workbench.solve)
    assert form.result.objective == 24.0
    assert form.attempts[0].error and form.attempts[1].error and form.attempts[2].error is None
    assert "not a valid JSON object" in sent(llm_stub, 1)[-1]["content"]
    assert form.calls == 3 and form.tokens > 0


def test_real_openai_client_against_stub_with_429_and_500(llm_stub):
    llm_stub.error(429, retry_after=0.01).error(500, "boom").reply(reply(GOOD))
    llm = OpenAIClient(model="stub", base_url=llm_stub.url, api_key="test-key", backoff=(0.01, 1.0))
    form = workbench.formulate(TEXT, "orthought", llm=llm)
    assert form.result.objective == 24.0 and form.calls == 1
    assert len(llm_stub.chat_requests) == 3
    sent = llm_stub.chat_requests[-1].body
    assert f'"""\n{TEXT}\n"""' in sent["messages"][1]["content"]


def test_code_mode_runs_in_the_sandbox():
    code = (
        "import pyomo.environ as pyo\n"
        "model = pyo.ConcreteModel()\n"
        "model.bread = pyo.Var(within=pyo.NonNegativeIntegers)\n"
        "model.cake = pyo.Var(within=pyo.NonNegativeIntegers)\n"
        "model.oven = pyo.Constraint(expr=model.bread + 2 * model.cake <= 8)\n"
        "model.min_bread = pyo.Constraint(expr=model.bread >= 2)\n"
        "model.obj = pyo.Objective(expr=3 * model.bread + 5 * model.cake, sense=pyo.maximize)\n"
    )
    broken = "import pyomo.environ as pyo\nmodel = pyo.ConcreteModel()\nmodel.x = pyo.Var(\n"
    llm = ScriptedLLM(
        [json.dumps({"understanding": "u", "steps": "s", "code": c}) for c in (broken, code)]
    )
    form = OrThought(mode="code").formulate(TEXT, llm=llm, solve=workbench.solve)
    assert "SyntaxError" in form.attempts[0].feedback
    assert form.result.objective == pytest.approx(24.0)
    assert form.result.diagnostics.sandbox in ("bwrap", "unshare-hardened", "none")
    assert form.code == code


FIVE = json.dumps(
    {
        "sets": "none",
        "parameters": "profits 3, 5; hours 1, 2; oven 8; min bread 2",
        "variables": "bread, cake >= 0 integer",
        "objective": "max 3 bread + 5 cake",
        "constraints": "bread + 2 cake <= 8; bread >= 2",
    }
)


def test_llmopt_judge_says_correct():
    llm = ScriptedLLM(
        [FIVE, json.dumps({"model": GOOD}), json.dumps({"verdict": "correct", "reason": "ok"})]
    )
    form = Llmopt().formulate(TEXT, llm=llm, solve=workbench.solve)
    assert form.result.objective == 24.0 and form.calls == 3 and len(form.attempts) == 1
    stages = [t["prompt"] for t in form.transcript if t["role"] == "user"]
    assert stages[0] == "llmopt/formulation@1" and stages[1].startswith("llmopt/generate@1")
    assert stages[2] == "llmopt/judge@1"


def test_llmopt_redoes_only_the_stage_the_judge_blames():
    wrong = json.loads(json.dumps(GOOD))
    wrong["constraints"] = wrong["constraints"][:1]
    wrong["constraints"][0]["expr"] = "bread + 2 * cake <= 80"
    llm = ScriptedLLM(
        [
            FIVE,
            json.dumps({"model": wrong}),
            json.dumps(
                {"verdict": "code", "reason": "oven is 8 hours, not 80, and min_bread is missing"}
            ),
            json.dumps({"model": GOOD}),
            json.dumps({"verdict": "correct", "reason": "ok"}),
        ]
    )
    form = Llmopt().formulate(TEXT, llm=llm, solve=workbench.solve)
    assert form.result.objective == 24.0 and len(form.attempts) == 2
    assert form.attempts[0].feedback.startswith("code: oven is 8 hours")
    # the five elements were not asked for again: one formulation request, two generations
    lasts = [r["messages"][-1]["content"] for r in llm.requests]
    assert sum(t.startswith("Read the optimisation problem below") for t in lasts) == 1
    assert sum(t.startswith("Turn the five-element formulation") for t in lasts) == 1
    assert sum(t.startswith("A reviewer found this problem with the model") for t in lasts) == 1


def test_llmopt_redoes_formulation_when_blamed():
    llm = ScriptedLLM(
        [
            FIVE,
            json.dumps({"model": GOOD}),
            json.dumps({"verdict": "formulation", "reason": "re-check the data"}),
            FIVE,
            json.dumps({"model": GOOD}),
            json.dumps({"verdict": "correct", "reason": "ok"}),
        ]
    )
    form = Llmopt().formulate(TEXT, llm=llm, solve=workbench.solve)
    assert form.calls == 6 and len(form.attempts) == 2
    assert "five-element formulation" in llm.requests[3]["messages"][-1]["content"]


def _catalogue_llm(problems, style: str):
    by_text = {p.text.strip(): p for p in problems}

    def answer(messages):
        blob = "\n".join(m["content"] for m in messages)
        p = next(p for t, p in by_text.items() if t in blob)
        model = model_to_dict(p.model)
        last = messages[-1]["content"]
        if style == "orthought":
            return json.dumps({"understanding": p.title, "steps": "reference", "model": model})
        if "Reply with one JSON object with the fields `verdict`" in last:
            return json.dumps({"verdict": "correct", "reason": "matches"})
        if "five-element formulation" in last and "Problem:" in last:
            return FIVE
        return json.dumps({"model": model})

    return answer


@pytest.mark.parametrize("agent", ["orthought", "llmopt"])
def test_replayed_reference_models_score_100_percent_on_the_catalogue(agent):
    """A scripted LLM returning each reference model: any failure is a bug in compile/solve/score."""
    from workbench.datasets import get_dataset
    from workbench.scoring import score

    problems = [p for p in get_dataset("catalog") if p.status == "optimal"]
    llm = ScriptedLLM(_catalogue_llm(problems, agent))
    wrong = []
    for p in problems:
        form = workbench.formulate(p.text, agent, llm=llm, budget=1)
        s = score(
            form.result.to_dict() if form.result else None, reference=p.optimum, status=p.status
        )
        if not s["correct"]:
            wrong.append(
                (p.id, form.result and form.result.objective, p.optimum, form.attempts[-1].feedback)
            )
    assert wrong == []


def test_formulate_command_line(llm_stub, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from workbench.cli.main import app

    llm_stub.reply(reply(GOOD))
    monkeypatch.setenv("OPENAI_BASE_URL", llm_stub.url)
    monkeypatch.setenv("WORKBENCH_MODEL", "stub")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    out = tmp_path / "bakery.yaml"
    res = CliRunner().invoke(
        app, ["formulate", TEXT, "--agent", "orthought", "--json", "--save", str(out)]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["result"]["objective"] == 24.0 and data["calls"] == 1
    assert workbench.solve(workbench.load_model(out)).objective == 24.0
    bad = CliRunner().invoke(app, ["formulate", TEXT, "--llm-option", "api_key=sk-x"])
    assert bad.exit_code == 2 and "OPENAI_API_KEY" in bad.output
