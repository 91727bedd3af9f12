"""Agents replayed on the built-in catalogue with a scripted LLM that returns each reference model.

What it measures (printed, never asserted):

* accuracy of the whole pipeline (parse -> validate -> compile -> solve -> score): it must be
  100%, since the "LLM" answers with the reference models; any miss is a bug in our code;
* the median time per problem spent outside the LLM (the scripted LLM answers in microseconds);
* LLM calls and (estimated) tokens per problem, per agent;
* code mode: one Pyomo program through the sandbox, to show its cost per attempt.

The scripted replies are simulated LLM output; no model was called.

Run: ``python benchmarks/agents_replay.py``
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any


def catalogue_llm(problems: list[Any], agent: str) -> Any:
    from agents.llm import ScriptedLLM
    from workbench.ir import model_to_dict

    five = json.dumps(
        {
            k: "as in the text"
            for k in ("sets", "parameters", "variables", "objective", "constraints")
        }
    )
    by_text = {p.text.strip(): p for p in problems}

    def answer(messages: list[dict[str, str]]) -> str:
        blob = "\n".join(m["content"] for m in messages)
        p = next(p for t, p in by_text.items() if t in blob)
        model = model_to_dict(p.model)
        last = messages[-1]["content"]
        if agent == "orthought":
            return json.dumps(
                {"understanding": p.title, "steps": "reference model", "model": model}
            )
        if "fields `verdict`" in last:
            return json.dumps({"verdict": "correct", "reason": "matches the text"})
        if last.startswith("Read the optimisation problem below"):
            return five
        return json.dumps({"model": model})

    return ScriptedLLM(answer)


def main() -> None:
    import workbench
    from workbench.datasets import get_dataset
    from workbench.scoring import score

    problems = [p for p in get_dataset("catalog") if p.status == "optimal"]
    print(
        f"{len(problems)} catalogue problems with a stored optimum; scripted LLM (simulated replies)"
    )
    print(f"{'agent':>10} {'accuracy':>9} {'median s':>9} {'calls/pb':>9} {'tokens/pb':>10}")
    for agent in ("orthought", "llmopt"):
        llm = catalogue_llm(problems, agent)
        times, calls, tokens, correct = [], [], [], 0
        for p in problems:
            t0 = time.perf_counter()
            form = workbench.formulate(p.text, agent, llm=llm, budget=1)
            times.append(time.perf_counter() - t0)
            calls.append(form.calls)
            tokens.append(form.tokens)
            s = score(
                form.result.to_dict() if form.result else None, reference=p.optimum, status=p.status
            )
            correct += bool(s["correct"])
        print(
            f"{agent:>10} {correct / len(problems):>8.1%} {statistics.median(times):>9.3f} "
            f"{statistics.mean(calls):>9.2f} {statistics.mean(tokens):>10.0f}"
        )

    from agents.llm import ScriptedLLM
    from agents.orthought import OrThought

    code = (
        "import pyomo.environ as pyo\nmodel = pyo.ConcreteModel()\n"
        "model.x = pyo.Var(within=pyo.NonNegativeIntegers)\nmodel.y = pyo.Var(within=pyo.NonNegativeIntegers)\n"
        "model.c = pyo.Constraint(expr=model.x + 2 * model.y <= 8)\n"
        "model.obj = pyo.Objective(expr=3 * model.x + 5 * model.y, sense=pyo.maximize)\n"
    )
    reply = json.dumps({"understanding": "u", "steps": "s", "code": code})
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        form = OrThought(mode="code").formulate(
            "maximise 3x + 5y with x + 2y <= 8", llm=ScriptedLLM([reply]), solve=workbench.solve
        )
        times.append(time.perf_counter() - t0)
    r = form.result
    print(
        f"code mode (sandbox {r.diagnostics.sandbox if r else '?'}): objective {r.objective if r else None}, "
        f"median {statistics.median(times):.3f} s per attempt (mostly the Pyomo import inside the sandbox)"
    )


if __name__ == "__main__":
    main()
