"""A simulated LLM for the tuning examples, benchmark and tests (offline, deterministic).

It stands in for three roles, told apart by the request:

* the optimiser (OptoPrime's ``#Variables`` prompt): suggests the next
  instruction text from a fixed list;
* POLCA's summarizer (the ``meta-optimiser`` system prompt): fixed guidance;
* the agent (ORThought/LLMOPT): answers each catalogue problem with its
  reference model when the system prompt's extra instructions carry the
  integrality advice (the marker ``are integer variables``, which the
  agents' own prompts never contain), and with the model's continuous relaxation otherwise,
  which is wrong for most integer programs.

It is a stand-in with a known answer, not a language model: the figures it
gives measure the optimisers' plumbing and bookkeeping, not LLM quality.
"""

from __future__ import annotations

import copy
import json
from typing import Any

__all__ = ["PROPOSALS", "build_script", "relaxed"]

PROPOSALS = [
    "Read the problem statement carefully before modelling.",
    "Read the problem statement carefully before you model it.",
    "Counts of indivisible things (items, vehicles, people, machines) are integer variables; "
    "yes/no choices are binary variables.",
    "Counts of indivisible things such as items, vehicles or people are integer variables, and "
    "yes/no decisions are binary.",
    "State the unit of every parameter and check that each constraint is dimensionally consistent.",
]
"""The optimiser's suggestions, in order (2 and 4 paraphrase 1 and 3: ε-net fodder)."""

INTEGRALITY_MARKER = "are integer variables"
"""What the simulated agent looks for in the instructions (proposals 3 and 4 carry it).

Not just "integer variables" (the agents' IR reference uses those words) nor "Counts of
indivisible things" (ORThought's system prompt does)."""


def relaxed(model: dict[str, Any]) -> dict[str, Any]:
    """*model* with every integer/binary variable made continuous (binary -> [0, 1])."""
    out = copy.deepcopy(model)
    for var in out.get("variables", {}).values():
        if var.get("domain") == "binary":
            var.update(domain="continuous", lb=0, ub=1)
        elif var.get("domain") == "integer":
            var["domain"] = "continuous"
    return out


def build_script(problems: list[Any], proposals: list[str] | None = None,
                 param: str = "instructions0") -> dict[str, Any]:  # fmt: skip
    """A ``workbench tune --llm scripted`` rule script for *problems* (catalogue rows)."""
    from workbench.ir import model_to_dict

    suggestions = [{"reasoning": "the feedback lists wrong objectives", "answer": "new guidance",
                    "suggestion": {param: p}} for p in (proposals or PROPOSALS)]  # fmt: skip
    rules: list[dict[str, Any]] = [
        {"contains": ["#Variables", "#Feedback"], "reply": suggestions},
        {"contains": ["meta-optimiser"], "reply": {
            "analysis": "the best candidates talk about variable domains",
            "guidance": "Keep advice on variable domains; avoid generic advice."}},
    ]  # fmt: skip
    for p in problems:
        ref = model_to_dict(p.model)
        key = p.text.strip()[:80]

        def reply(m: dict[str, Any]) -> dict[str, Any]:
            return {"understanding": "u", "steps": "s", "model": m,
                    "sets": "", "parameters": "", "variables": "", "objective": "",
                    "constraints": ""}  # fmt: skip

        rules.append(
            {"contains": [key, "Additional instructions", INTEGRALITY_MARKER], "reply": reply(ref)}
        )
        rules.append({"contains": [key], "reply": reply(relaxed(ref))})
    return {"rules": rules, "default": json.dumps({"reasoning": "?", "suggestion": {}})}
