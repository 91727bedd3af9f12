"""LLMOPT: five-element formulation -> model (IR or code) -> judged self-correction.

Multi-instruction prompting: one prompt writes the five elements (sets,
parameters, variables, objective, constraints) in mathematical prose, a
second turns them into the five-element IR (or Pyomo code).  The result is
executed; a judge prompt then says which stage is wrong (the formulation or
the code) and only that stage is redone, within the budget.  Execution
feedback (validation errors, IIS, unboundedness) is shown to the judge.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from agents.common.evaluate import Candidate, Evaluation, evaluate_candidate
from agents.common.loop import (
    AGENT_MAX_TOKENS,
    Conversation,
    ask_json,
    better,
    check_max_tokens,
    finish,
)
from agents.common.prompts import load_prompt
from workbench.errors import AgentOutputError
from workbench.formulation import Attempt, Formulation
from workbench.result import Result

__all__ = ["Llmopt"]

HERE = Path(__file__).parent
COMMON = HERE.parent / "common"


class FiveElements(BaseModel):
    """The five-element formulation, in mathematical prose."""

    sets: str
    parameters: str
    variables: str
    objective: str
    constraints: str

    def text(self) -> str:
        """Rendered for the next prompts."""
        return "\n".join(
            f"{k.capitalize()}:\n{getattr(self, k)}"
            for k in ("sets", "parameters", "variables", "objective", "constraints")
        )


class ModelReply(BaseModel):
    """Stage two in IR mode."""

    model: dict[str, Any]


class CodeReply(BaseModel):
    """Stage two in code mode."""

    code: str


class Verdict(BaseModel):
    """The judge's answer."""

    verdict: Literal["formulation", "code", "correct"]
    reason: str


def _execution_text(ev: Evaluation) -> str:
    if ev.error and ev.result is None:
        return f"error: {ev.error}"
    r = ev.result
    if r is None:
        return "not run"
    parts = [f"termination: {r.termination.value}", f"objective: {r.objective}"]
    if r.diagnostics.iis:
        parts.append(f"infeasible set: {', '.join(r.diagnostics.iis[:20])}")
    if ev.feedback:
        parts.append(f"automatic check: {ev.feedback}")
    vals = json.dumps(r.to_dict()["values"], default=str)
    parts.append(f"values: {vals[:2000]}")
    return "\n".join(parts)


class Llmopt:
    """The LLMOPT agent.

    Parameters
    ----------
    mode
        ``"ir"`` (default) or ``"code"`` (Pyomo code run in the sandbox).
    judge
        Ask the judge even when execution raised no automatic flag (the
        paper's self-correction); with ``False`` the judge runs only on flagged results.
    run_code
        Override for running code (tests); default: the sandbox.
    instructions
        Extra instruction text sent as a system message first (what Trace/POLCA tune);
        ``None`` (default) sends the published prompts only.
    max_tokens
        The reply budget of each call (a cut reply is asked again with more first).
    """

    name: ClassVar[str] = "llmopt"

    def __init__(
        self, mode: Literal["ir", "code"] = "ir", judge: bool = True, run_code: Any = None,
        instructions: str | None = None, max_tokens: int = AGENT_MAX_TOKENS,
    ) -> None:  # fmt: skip
        if mode not in ("ir", "code"):
            raise ValueError(f"mode must be 'ir' or 'code', got {mode!r}")
        self.max_tokens = check_max_tokens(max_tokens)
        self.mode = mode
        self.judge = judge
        self.run_code = run_code
        self.instructions = instructions

    def _generate(self, conv: Conversation, formulation: FiveElements, k: int) -> Candidate:
        gen = load_prompt(HERE, "generate")
        if self.mode == "ir":
            spec = load_prompt(COMMON, "ir_reference")
            target, key, tag = (
                "the five-element IR model described below",
                "`model`",
                f"ir_reference@{spec.version}",
            )
            spec_text = spec.text
        else:
            spec = load_prompt(HERE.parent / "orthought", "code_spec")
            target, key, tag = "Pyomo code", "`code`", f"code_spec@{spec.version}"
            spec_text = spec.text
        conv.add(
            "user",
            gen.render(
                target=target, spec=spec_text, formulation=formulation.text(), output_key=key
            ),
            prompt=f"llmopt/generate@{gen.version}+{tag}",
        )
        return self._ask_artifact(conv, k)

    def _ask_artifact(self, conv: Conversation, k: int) -> Candidate:
        if self.mode == "ir":
            reply = ask_json(conv, ModelReply, stage=f"generate{k}", max_tokens=self.max_tokens)
            return Candidate(ir=reply.model)
        reply_c = ask_json(conv, CodeReply, stage=f"generate{k}", max_tokens=self.max_tokens)
        return Candidate(code=reply_c.code)

    def formulate(
        self, text: str, *, llm: Any, solve: Callable[..., Result], budget: int = 3
    ) -> Formulation:
        """Five elements, then the model, then judged self-correction (at most *budget* redos)."""
        conv = Conversation(llm)
        first = load_prompt(HERE, "formulation")
        judge_p = load_prompt(HERE, "judge")
        revise = load_prompt(HERE, "revise")
        attempts: list[Attempt] = []
        best: Evaluation | None = None
        candidate: Candidate | None = None
        if self.instructions:
            conv.add("system", self.instructions, prompt="llmopt/instructions")
        conv.add("user", first.render(problem=text), prompt=f"llmopt/formulation@{first.version}")
        formulation: FiveElements | None = None
        redo = "formulation"
        for k in range(budget + 1):
            with conv.attempt_scope(k):
                try:
                    if redo == "formulation" or formulation is None:
                        formulation = ask_json(
                            conv, FiveElements, stage=f"formulation{k}", max_tokens=self.max_tokens
                        )
                        redo = "generate"
                    if redo == "generate":
                        candidate = self._generate(conv, formulation, k)
                    else:  # the revise request for the code is already the last message
                        candidate = self._ask_artifact(conv, k)
                except AgentOutputError as e:
                    # retry the stage that failed: the format error answers the last request
                    redo = "code" if redo == "generate" else redo
                    attempts.append(
                        Attempt(index=k, feedback="reply was not valid JSON", error=str(e))
                    )
                    conv.add("user", f"Your reply was not a valid JSON object of the required form: {e}. "
                                     "Answer the last request again.", prompt="llmopt/format-error")  # fmt: skip
                    continue
                ev = evaluate_candidate(candidate, text=text, solve=solve, run_code=self.run_code)
                best = better(best, ev)
                attempt = Attempt(index=k, model=ev.model, code=candidate.code, result=ev.result,
                                  feedback=ev.feedback or "", error=ev.error)  # fmt: skip
                attempts.append(attempt)
                if ev.feedback is None and not self.judge:
                    break
                if k == budget:
                    break
                artifact = "model" if self.mode == "ir" else "code"
                conv.add(
                    "user",
                    judge_p.render(
                        problem=text, formulation=formulation.text(), artifact=artifact,
                        artifact_title="Model (five-element IR)" if self.mode == "ir" else "Code",
                        artifact_text=json.dumps(candidate.ir, indent=1) if candidate.ir else str(candidate.code),
                        execution=_execution_text(ev),
                    ),
                    prompt=f"llmopt/judge@{judge_p.version}",
                )  # fmt: skip
                try:
                    verdict = ask_json(conv, Verdict, stage=f"judge{k}", max_tokens=self.max_tokens)
                except AgentOutputError as e:
                    attempt.feedback += f" (judge reply unusable: {e})"
                    if ev.feedback is None:
                        break
                    verdict = Verdict(verdict="code", reason=ev.feedback)
                if verdict.verdict == "correct" and ev.feedback is None:
                    break
                if verdict.verdict == "correct":  # the judge missed an automatic flag
                    verdict = Verdict(verdict="code", reason=ev.feedback or "")
                attempt.feedback = f"{verdict.verdict}: {verdict.reason}"
                redo = verdict.verdict
                conv.add(
                    "user",
                    revise.render(stage="five-element formulation" if redo == "formulation" else artifact,
                                  reason=verdict.reason),
                    prompt=f"llmopt/revise@{revise.version}",
                )  # fmt: skip
        return finish(conv, attempts, best, candidate)
