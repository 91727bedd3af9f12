"""The execute -> diagnose -> repair loop shared by the agents, with full transcripts."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from agents.common.evaluate import Candidate, Evaluation
from agents.llm.structured import complete_json
from workbench.errors import AgentOutputError
from workbench.formulation import Attempt, Formulation

__all__ = ["AGENT_MAX_TOKENS", "Conversation", "ask_json", "check_max_tokens", "finish"]

AGENT_MAX_TOKENS = 16384
"""The agents' default reply budget: room for a model whose data tables are written out."""


def check_max_tokens(max_tokens: int) -> int:
    """*max_tokens* as an int >= 256.

    Raises
    ------
    ValueError
        If it is not an integer >= 256 (the message quotes it).
    """
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 256:
        raise ValueError(f"max_tokens must be an integer >= 256, got {max_tokens!r}")
    return max_tokens


@dataclass
class Conversation:
    """Messages sent so far, plus the transcript (with prompt names and versions)."""

    llm: Any
    messages: list[dict[str, str]] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    start_calls: int = 0

    def __post_init__(self) -> None:
        self.start_calls = len(getattr(self.llm, "calls", []))

    def add(
        self, role: str, content: str, prompt: str | None = None, reasoning: str | None = None
    ) -> None:
        """Append a message (and its transcript entry, with a reasoning model's thinking)."""
        self.messages.append({"role": role, "content": content})
        entry: dict[str, Any] = {"role": role, "content": content}
        if prompt:
            entry["prompt"] = prompt
        if reasoning:
            entry["reasoning"] = reasoning
        self.transcript.append(entry)

    def calls(self) -> list[dict[str, Any]]:
        """The LLM calls made during this conversation."""
        return list(getattr(self.llm, "calls", []))[self.start_calls :]

    def attempt_scope(self, index: int) -> Any:
        """Tag the LLM calls made inside with the agent attempt index."""
        at = getattr(getattr(self.llm, "calls", None), "at_attempt", None)
        return at(index) if at is not None else nullcontext()


def ask_json(
    conv: Conversation, schema: type[Any], *, stage: str, max_tokens: int = AGENT_MAX_TOKENS
) -> Any:
    """Ask for JSON fitting *schema*; add the reply (or the failure) to the conversation.

    A reply cut at *max_tokens* is asked again with a larger budget first
    (see :func:`~agents.llm.structured.complete_json`).

    Returns the parsed value, or raises :class:`AgentOutputError` after logging the raw text.
    """
    try:
        value, completion = complete_json(conv.llm, conv.messages, schema, max_tokens=max_tokens)
    except AgentOutputError as e:
        conv.add("assistant", e.raw, prompt=f"reply:{stage}")
        raise
    conv.add("assistant", completion.text, prompt=f"reply:{stage}",
             reasoning=getattr(completion, "reasoning", None))  # fmt: skip
    return value


def finish(
    conv: Conversation,
    attempts: list[Attempt],
    best: Evaluation | None,
    candidate: Candidate | None,
) -> Formulation:
    """Assemble the :class:`Formulation` from the loop's state."""
    calls = conv.calls()
    return Formulation(
        model=best.model if best else None,
        code=candidate.code if candidate else None,
        result=best.result if best else None,
        attempts=attempts,
        transcript=conv.transcript,
        tokens=sum(
            int(c.get("prompt_tokens", 0)) + int(c.get("completion_tokens", 0)) for c in calls
        ),
        calls=len(calls),
    )


def better(a: Evaluation | None, b: Evaluation) -> Evaluation:
    """Prefer an accepted candidate, then one with a solution, then the newest."""
    if a is None:
        return b
    rank: Callable[[Evaluation], int] = lambda e: (  # noqa: E731
        2 if e.feedback is None and e.result is not None and e.result.ok
        else 1 if e.result is not None and e.result.ok else 0
    )  # fmt: skip
    return b if rank(b) >= rank(a) else a
