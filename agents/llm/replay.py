"""Clients that answer without a server: recorded transcripts, scripts and a cache wrapper.

* :class:`ReplayClient` plays recorded replies in order, optionally checking
  that each request matches the recorded prompt (golden transcripts).
* :class:`ScriptedLLM` answers from a list of replies or a callable (tests,
  reference models).
* :class:`CachedLLM` puts the run store's request cache in front of any client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.llm.base import (
    LLM,
    BaseLLM,
    Completion,
    LLMError,
    Message,
    Usage,
    estimate_tokens,
)

if TYPE_CHECKING:
    from workbench.runs.store import RunStore

__all__ = ["CachedLLM", "ReplayClient", "ScriptedLLM"]


def _estimated(messages: list[Message], text: str, model: str) -> Usage:
    return Usage(
        prompt_tokens=sum(estimate_tokens(m["content"]) for m in messages),
        completion_tokens=estimate_tokens(text),
        model=model,
        estimated=True,
    )


def _turn(entry: Any, where: str) -> dict[str, Any]:
    if isinstance(entry, str):
        return {"messages": None, "response": entry}
    if isinstance(entry, Mapping):
        response = entry.get("response")
        if not isinstance(response, str):
            raise LLMError(
                f"{where}: a recorded turn needs a string 'response', got {entry!r:.120}"
            )
        prompt = entry.get("messages", entry.get("prompt"))
        if isinstance(prompt, str):  # a run-store row keeps the prompt as JSON text
            prompt = json.loads(prompt)
        return {
            "messages": prompt,
            "response": response,
            "model": entry.get("model"),
            "prompt_tokens": entry.get("prompt_tokens"),
            "completion_tokens": entry.get("completion_tokens"),
        }
    raise LLMError(f"{where}: a recorded turn must be a string or a dict, got {entry!r:.120}")


class ReplayClient(BaseLLM):
    """Plays recorded replies in order.

    Parameters
    ----------
    transcript
        A list of replies (strings) or turns (``{"messages": [...], "response": str}``;
        run-store rows with ``prompt`` also work), or the path of a JSONL file of turns.
    strict
        Check that each request's messages equal the recorded ones; a mismatch
        raises :class:`LLMError` naming the turn and the first differing message.
    model
        The model name to report (default: the recorded one, else ``"replay"``).

    Raises
    ------
    LLMError
        When the transcript is exhausted, or on a strict mismatch.
    """

    def __init__(
        self,
        transcript: Sequence[str | Mapping[str, Any]] | str | Path,
        *,
        strict: bool = False,
        model: str | None = None,
        cache: RunStore | None = None,
    ) -> None:
        where = "transcript"
        if isinstance(transcript, str | Path):
            where = str(transcript)
            entries: Sequence[Any] = _read_jsonl(Path(transcript))
        else:
            entries = transcript
        self.turns = [_turn(e, f"{where}[{i}]") for i, e in enumerate(entries)]
        recorded = next((t["model"] for t in self.turns if t.get("model")), None)
        super().__init__(model or recorded or "replay", cache=cache)
        self.strict = strict
        self.source = where
        self.position = 0

    @classmethod
    def from_store(
        cls, store: RunStore, run_id: str, key: str, *, strict: bool = False
    ) -> ReplayClient:
        """Replay the LLM calls recorded for item *key* of run *run_id*."""
        rows = store.llm_calls(run_id, key)
        if not rows:
            raise LLMError(f"run {run_id!r} item {key!r} has no recorded LLM calls")
        client = cls(rows, strict=strict)
        client.source = f"run {run_id} item {key}"
        return client

    def _request(
        self,
        messages: list[Message],
        *,
        temperature: float,
        max_tokens: int,
        response_format: Mapping[str, Any] | None,
    ) -> Completion:
        i = self.position
        if i >= len(self.turns):
            raise LLMError(
                f"replay of {self.source}: transcript exhausted after {len(self.turns)} turn(s); "
                f"turn {i} was requested"
            )
        turn = self.turns[i]
        if self.strict and turn["messages"] is not None:
            _check_same(turn["messages"], messages, f"replay of {self.source}: turn {i}")
        self.position += 1
        text = turn["response"]
        usage = _estimated(messages, text, turn.get("model") or self.model)
        if turn.get("prompt_tokens") is not None and turn.get("completion_tokens") is not None:
            usage = Usage(
                prompt_tokens=int(turn["prompt_tokens"]),
                completion_tokens=int(turn["completion_tokens"]),
                model=usage.model,
            )
        return Completion(text, usage, "stop")


def _read_jsonl(path: Path) -> list[Any]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise LLMError(f"cannot read transcript {path}: {e}") from e
    out = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError as e:
                raise LLMError(f"{path}:{n}: not a JSON line ({e})") from e
    return out


def _check_same(recorded: Any, got: list[Message], where: str) -> None:
    rec = [{"role": m.get("role"), "content": m.get("content")} for m in recorded]
    new = [{"role": m["role"], "content": m["content"]} for m in got]
    if rec == new:
        return
    for j, (a, b) in enumerate(zip(rec, new)):
        if a != b:
            raise LLMError(
                f"{where}: messages[{j}] differs from the recording: "
                f"recorded {a['role']}: {a['content']!r:.200}, got {b['role']}: {b['content']!r:.200}"
            )
    raise LLMError(f"{where}: {len(new)} message(s) sent, {len(rec)} recorded")


class ScriptedLLM(BaseLLM):
    """Answers from a script: a list of replies in order, or a callable.

    Parameters
    ----------
    replies
        Strings (or exceptions, which are raised at their turn), or a callable
        ``f(messages) -> str`` that sees every request.
    model
        The model name to report.
    """

    def __init__(
        self,
        replies: Iterable[str | BaseException] | Callable[[list[Message]], str],
        *,
        model: str = "scripted",
        cache: RunStore | None = None,
        prices: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        super().__init__(model, cache=cache, prices=prices)
        self.fn: Callable[[list[Message]], str] | None = None
        self.replies: list[str | BaseException] = []
        if callable(replies):
            self.fn = replies
        else:
            self.replies = list(replies)
        self.position = 0
        self.requests: list[dict[str, Any]] = []

    def _request(
        self,
        messages: list[Message],
        *,
        temperature: float,
        max_tokens: int,
        response_format: Mapping[str, Any] | None,
    ) -> Completion:
        self.requests.append(
            {"messages": messages, "temperature": temperature, "max_tokens": max_tokens,
             "response_format": response_format}
        )  # fmt: skip
        if self.fn is not None:
            text = self.fn(messages)
        else:
            if self.position >= len(self.replies):
                raise LLMError(
                    f"scripted LLM: no reply left for call {self.position} "
                    f"(the script has {len(self.replies)})"
                )
            item = self.replies[self.position]
            self.position += 1
            if isinstance(item, BaseException):
                raise item
            text = item
        if not isinstance(text, str):
            raise LLMError(f"scripted LLM: a reply must be a string, got {type(text).__name__}")
        return Completion(text, _estimated(messages, text, self.model), "stop")


class CachedLLM(BaseLLM):
    """The run store's request cache in front of *inner*.

    A hit returns the stored reply with ``usage.cached=True``, zero latency and
    zero cost; a miss calls *inner* and stores its reply.  Both are logged in
    this wrapper's ``calls`` with their ``cache_key``.
    """

    def __init__(self, inner: LLM, store: RunStore) -> None:
        super().__init__(inner.model, cache=store)
        self.inner = inner

    def _request(
        self,
        messages: list[Message],
        *,
        temperature: float,
        max_tokens: int,
        response_format: Mapping[str, Any] | None,
    ) -> Completion:
        return self.inner.complete(
            messages, temperature=temperature, max_tokens=max_tokens,
            response_format=response_format,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"CachedLLM({self.inner!r}, calls={len(self.calls)})"
