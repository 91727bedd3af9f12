"""OptoPrime (Cheng et al., 2024): one LLM call per step over the traced subgraph.

The prompt lays out the subgraph in the paper's sections (``prompts/optoprime.md``);
the reply is JSON ``{"reasoning", "answer", "suggestion": {param: value}}``
parsed against :class:`OptoPrimeReply`.  A reply that does not parse, and a
suggestion that cannot be converted to its parameter's type, are not
salvaged: they go back as feedback on the next step.  The last *memory*
(variables, feedback) pairs are shown to later steps.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agents.common.prompts import load_prompt
from agents.llm.structured import complete_json
from agents.trace.graph import Subgraph, backward
from agents.trace.nodes import Node
from workbench.errors import AgentOutputError

__all__ = ["OptoPrime", "OptoPrimeReply", "StepRecord", "convert_like", "render_value"]

HERE = Path(__file__).parent
DEFAULT_INSTRUCTION = (
    "You need to change the values of the variables in #Variables to improve the output "
    "in accordance with #Feedback."
)
MAX_VALUE_CHARS = 2000


class OptoPrimeReply(BaseModel):
    """The reply of one OptoPrime step."""

    reasoning: str
    answer: str = ""
    suggestion: dict[str, Any] = Field(default_factory=dict)


@dataclass
class StepRecord:
    """One step: the prompt, the reply and what was applied or rejected."""

    index: int
    messages: list[dict[str, str]]
    response: str | None = None
    reasoning: str = ""
    answer: str = ""
    applied: dict[str, Any] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def render_value(value: Any, limit: int | None = MAX_VALUE_CHARS) -> str:
    """*value* as prompt text: JSON for JSON-able data, else ``repr`` (cut at *limit*, if any)."""
    if isinstance(value, str):
        text = value
    elif callable(value):
        text = f"<function {getattr(value, '__name__', type(value).__name__)}>"
    else:
        try:
            text = json.dumps(value, sort_keys=False)
        except (TypeError, ValueError):
            text = repr(value)
    return text if limit is None or len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def convert_like(value: Any, current: Any) -> Any:
    """*value* converted to the type of *current* (the type-preserving update).

    ``str`` stays ``str`` (JSON for containers), ``int`` accepts integral numbers
    and numeric strings, ``float`` accepts numbers and numeric strings, ``dict``
    and ``list`` accept the value or a JSON string of that type.

    Raises
    ------
    ValueError
        If *value* cannot be converted.
    """
    kind = type(current)
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
    elif isinstance(current, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
    elif isinstance(current, str):
        if isinstance(value, str):
            return value
        if isinstance(value, int | float | bool | dict | list):
            return json.dumps(value)
    elif isinstance(current, dict | list):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as e:
                raise ValueError(
                    f"expected {kind.__name__} (as JSON), got unparsable text: {e}"
                ) from e
        if isinstance(value, kind):
            return value
    elif isinstance(value, kind):
        return value
    raise ValueError(
        f"expected {kind.__name__}, got {type(value).__name__} {render_value(value, 80)}"
    )


def _lines(items: list[str]) -> str:
    return "\n".join(items) if items else "(none)"


def _typed(n: Node) -> str:
    limit = None if n.trainable else MAX_VALUE_CHARS  # parameters are shown whole
    return f"({type(n.value).__name__}) {n.name} = {render_value(n.value, limit)}"


class OptoPrime:
    """The OptoPrime optimiser over the trainable *params*.

    Parameters
    ----------
    params
        The trainable nodes it may change (by name).
    llm
        The client (``complete`` and a ``calls`` log); every prompt and reply is logged there.
    memory
        How many past (variables, feedback) pairs to show.
    instruction
        The #Instruction text.
    max_tokens
        The reply budget of each call.
    """

    def __init__(
        self, params: list[Node], llm: Any, *, memory: int = 5,
        instruction: str = DEFAULT_INSTRUCTION, max_tokens: int = 4096,
    ) -> None:  # fmt: skip
        bad = [p.name for p in params if not p.trainable]
        if bad:
            raise ValueError(f"not trainable: {bad}")
        self.params = list(params)
        self.llm = llm
        self.memory = memory
        self.instruction = instruction
        self.max_tokens = max_tokens
        self.system = load_prompt(HERE, "system")
        self.template = load_prompt(HERE, "optoprime")
        self.memory_prompt = load_prompt(HERE, "memory")
        self.past: list[tuple[str, str]] = []
        self.pending: list[str] = []
        self.steps: list[StepRecord] = []
        self.subgraph: Subgraph | None = None

    @property
    def prompt_tag(self) -> str:
        """``trace/optoprime@<version>`` for transcripts."""
        return f"trace/optoprime@{self.template.version}"

    def zero_feedback(self) -> None:
        """Forget the feedback attached to the parameters."""
        for p in self.params:
            p.feedback.clear()

    def backward(self, output: Node, feedback: str) -> Subgraph:
        """Propagate *feedback* from *output*; the next :meth:`step` uses this subgraph."""
        self.subgraph = backward(output, feedback)
        return self.subgraph

    def _variables(self, sub: Subgraph) -> list[Node]:
        mine = {id(p) for p in self.params}
        return [p for p in sub.params if id(p) in mine] or self.params

    def messages(self, sub: Subgraph) -> list[dict[str, str]]:
        """The system and user messages for one step over *sub*."""
        variables = self._variables(sub)
        code = [op.call_line() for op in sub.ops]
        defs: dict[str, str] = {op.function: op.code for op in sub.ops if op.code}
        docs = {op.function: op.doc for op in sub.ops}
        feedback = sub.feedback
        if self.pending:
            notes = "\n".join(f"- {x}" for x in self.pending)
            feedback = f"{feedback}\n\nYour previous reply could not be used:\n{notes}"
        memory = ""
        if self.memory > 0 and self.past:
            past = "\n\n".join(
                f"#Variables\n{v}\n#Feedback\n{f}" for v, f in self.past[-self.memory :]
            )
            memory = self.memory_prompt.render(past=past)
        user = self.template.render(
            instruction=self.instruction,
            code=_lines(code) + ("\n\n" + "\n\n".join(defs.values()) if defs else ""),
            documentation=_lines([f"[{k}] {v or '(no documentation)'}" for k, v in docs.items()]),
            variables=_lines([_typed(p) for p in variables]),
            constraints=_lines([f"({p.name}) {p.description}" for p in variables if p.description]),
            inputs=_lines([_typed(n) for n in sub.inputs]),
            others=_lines([_typed(n) for n in sub.others]),
            outputs=_typed(sub.output),
            feedback=feedback,
            memory=memory,
        )
        return [{"role": "system", "content": self.system.text}, {"role": "user", "content": user}]

    def step(self, subgraph: Subgraph | None = None) -> StepRecord:
        """One LLM call: propose new values and apply the convertible ones.

        Parameters
        ----------
        subgraph
            What :func:`~agents.trace.graph.backward` collected (default: the last
            :meth:`backward`).

        Returns
        -------
        StepRecord
            The prompt, reply, applied values and rejections (or the parse error).
        """
        sub = subgraph or self.subgraph
        if sub is None:
            raise ValueError("step() needs a subgraph: call backward(output, feedback) first")
        msgs = self.messages(sub)
        rec = StepRecord(index=len(self.steps), messages=msgs)
        self.steps.append(rec)
        variables = self._variables(sub)
        self.past.append(("\n".join(_typed(p) for p in variables), sub.feedback))
        self.pending = []
        at = getattr(getattr(self.llm, "calls", None), "at_attempt", None)
        with at(rec.index) if at is not None else nullcontext():
            try:
                reply, completion = complete_json(
                    self.llm, msgs, OptoPrimeReply, max_tokens=self.max_tokens
                )
            except AgentOutputError as e:
                rec.response, rec.error = e.raw, str(e)
                self.pending.append(f"it was not a valid JSON object of the required form: {e}")
                return rec
        rec.response, rec.reasoning, rec.answer = completion.text, reply.reasoning, reply.answer
        by_name = {p.name: p for p in variables}
        for key, value in reply.suggestion.items():
            target = by_name.get(key)
            if target is None:
                rec.rejected[key] = f"there is no trainable variable named {key!r}"
                continue
            try:
                new = convert_like(value, target.value)
            except ValueError as e:
                rec.rejected[key] = f"the suggested value for {key!r} was not applied: {e}"
                continue
            target.value = new
            rec.applied[key] = new
        self.pending.extend(rec.rejected.values())
        return rec
