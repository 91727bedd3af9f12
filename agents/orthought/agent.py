"""ORThought: expert-guided chain-of-thought, then execute -> diagnose -> repair.

One call walks through understanding, a step-by-step build and the model
(the five-element IR as JSON, or Pyomo code in code mode).  The model is
then validated and solved; feedback goes back to the LLM until the model
is accepted or the repair budget is spent.  Beyond the original, which
repairs only crashes, the feedback covers validation errors with their
locations, infeasibility with the IIS names, unboundedness, a sense that
contradicts the text and suspicious (all-zero) solutions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

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

__all__ = ["OrThought"]

HERE = Path(__file__).parent
COMMON = HERE.parent / "common"


class IRReply(BaseModel):
    """The reply in IR mode."""

    understanding: str
    steps: str
    model: dict[str, Any] = Field(description="the five-element IR model")


class CodeReply(BaseModel):
    """The reply in code mode."""

    understanding: str
    steps: str
    code: str = Field(description="Python code that builds a Pyomo ConcreteModel named `model`")


class OrThought:
    """The ORThought agent.

    Parameters
    ----------
    mode
        ``"ir"`` (the five-element IR, default) or ``"code"`` (Pyomo code run in the sandbox).
    run_code
        Override for running code (tests); default: the sandbox.
    instructions
        Extra instruction text appended to the system prompt (what Trace/POLCA tune);
        ``None`` (default) leaves the prompt as published.
    max_tokens
        The reply budget of each call (a cut reply is asked again with more first).
    """

    name: ClassVar[str] = "orthought"

    def __init__(
        self, mode: Literal["ir", "code"] = "ir", run_code: Any = None,
        instructions: str | None = None, max_tokens: int = AGENT_MAX_TOKENS,
    ) -> None:  # fmt: skip
        if mode not in ("ir", "code"):
            raise ValueError(f"mode must be 'ir' or 'code', got {mode!r}")
        self.max_tokens = check_max_tokens(max_tokens)
        self.mode = mode
        self.run_code = run_code
        self.instructions = instructions

    def _first_messages(self, conv: Conversation, text: str) -> None:
        system = load_prompt(HERE, "system")
        form = load_prompt(HERE, "formulate")
        if self.mode == "ir":
            spec = load_prompt(COMMON, "ir_reference")
            field_text = "`model`: the complete model in the five-element IR described below."
            key, spec_text, spec_tag = "`model`", spec.text, f"ir_reference@{spec.version}"
        else:
            spec = load_prompt(HERE, "code_spec")
            field_text = spec.text
            key, spec_text, spec_tag = "`code`", "", f"code_spec@{spec.version}"
        sys_text, tag = system.text, f"orthought/system@{system.version}"
        if self.instructions:
            sys_text = f"{sys_text.rstrip()}\n\nAdditional instructions:\n{self.instructions}"
            tag += "+instructions"
        conv.add("system", sys_text, prompt=tag)
        conv.add(
            "user",
            form.render(
                problem=text, output_field=field_text, output_spec=spec_text, output_key=key
            ),
            prompt=f"orthought/formulate@{form.version}+{spec_tag}",
        )

    def formulate(
        self, text: str, *, llm: Any, solve: Callable[..., Result], budget: int = 3
    ) -> Formulation:
        """Formulate, solve and repair (at most *budget* repairs)."""
        conv = Conversation(llm)
        self._first_messages(conv, text)
        repair = load_prompt(HERE, "repair")
        schema = IRReply if self.mode == "ir" else CodeReply
        attempts: list[Attempt] = []
        best: Evaluation | None = None
        candidate: Candidate | None = None
        for k in range(budget + 1):
            with conv.attempt_scope(k):
                try:
                    reply = ask_json(conv, schema, stage=f"attempt{k}", max_tokens=self.max_tokens)
                except AgentOutputError as e:
                    feedback = f"Your reply was not a valid JSON object of the required form: {e}"
                    attempts.append(Attempt(index=k, feedback=feedback, error=str(e)))
                    ev = None
                else:
                    candidate = (
                        Candidate(ir=reply.model)
                        if self.mode == "ir"
                        else Candidate(code=reply.code)
                    )
                    ev = evaluate_candidate(
                        candidate, text=text, solve=solve, run_code=self.run_code
                    )
                    best = better(best, ev)
                    attempts.append(
                        Attempt(index=k, model=ev.model, code=candidate.code, result=ev.result,
                                feedback=ev.feedback or "", error=ev.error)
                    )  # fmt: skip
                    if ev.feedback is None:
                        break
                    feedback = ev.feedback
            if k < budget:
                conv.add(
                    "user",
                    repair.render(
                        feedback=feedback,
                        artifact="model" if self.mode == "ir" else "code",
                        output_key="`model`" if self.mode == "ir" else "`code`",
                    ),
                    prompt=f"orthought/repair@{repair.version}",
                )
        return finish(conv, attempts, best, candidate)
