"""The LLM protocol, its value types and the call log every client keeps.

A client is anything with ``complete(messages, *, temperature, max_tokens,
response_format=None) -> Completion`` plus a ``model`` name and a ``calls``
log.  :class:`BaseLLM` implements the shared parts (message checks, the
request cache, accounting and logging) so that a concrete client only sends
one request in :meth:`BaseLLM._request`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.runs.store import RunStore

__all__ = [
    "LLM",
    "BaseLLM",
    "CallLog",
    "Completion",
    "LLMConfigError",
    "LLMError",
    "Message",
    "Usage",
    "estimate_tokens",
    "normalize_messages",
    "request_key",
]

Message = dict[str, Any]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": str}``."""

DEFAULT_MAX_TOKENS = 2048
ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})


class LLMError(WorkbenchError):
    """An LLM endpoint failed (an HTTP error, a timeout, an exhausted transcript).

    Parameters
    ----------
    message
        What failed; never contains an API key.
    status
        The HTTP status code, when there was a response.
    attempts
        How many requests were sent before giving up.
    detail
        The server's own error message, when there was one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, attempts: int = 1, detail: str = ""
    ) -> None:
        self.status = status
        self.attempts = attempts
        self.detail = detail
        self.message = message
        super().__init__(message)


class LLMConfigError(LLMError):
    """No model or endpoint is configured (the message says how to configure one)."""


@dataclass(frozen=True)
class Usage:
    """Accounting for one call.

    Attributes
    ----------
    prompt_tokens, completion_tokens
        Token counts reported by the server (or estimated, see *estimated*).
    latency_s
        Wall-clock seconds of the call, retries and back-off included (0 on a cache hit).
    cost
        US dollars, from the client's price table; 0 when the price is unknown.
    model
        The model that answered.
    cached
        The reply came from the request cache.
    attempts
        Requests sent for this call (1 without retries, 0 on a cache hit).
    estimated
        The server reported no usage, so tokens are ``len(text) // 4`` estimates.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost: float = 0.0
    model: str = ""
    cached: bool = False
    attempts: int = 1
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    """A reply: its text, its accounting and why generation stopped.

    ``finish_reason == "length"`` means the reply was cut at ``max_tokens``.
    ``reasoning`` is a reasoning model's separate chain of thought (the
    ``reasoning_content`` or ``reasoning`` field some servers send next to
    the answer); it is kept for the transcript and never parsed as the answer.
    """

    text: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    reasoning: str | None = None


@runtime_checkable
class LLM(Protocol):
    """What agents are given: ``complete`` plus a model name and a call log."""

    model: str
    calls: CallLog

    def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        temperature: float = 0.0,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        """Send *messages* and return the reply."""
        ...


class CallLog(list[dict[str, Any]]):
    """Every call a client made, as rows with the run store's ``llm_calls`` columns.

    Each row has exactly ``model, prompt, response, prompt_tokens,
    completion_tokens, latency, cost, cache_key, attempt``; the batch job
    copies ``list(llm.calls)`` into the store.  ``attempt`` is the agent's
    attempt index (``attempts.idx``) current when the call was made: an
    agent sets it with :meth:`at_attempt` (``None`` when never set).
    """

    def __init__(self) -> None:
        super().__init__()
        self.attempt: int | None = None

    @contextmanager
    def at_attempt(self, index: int | None) -> Iterator[None]:
        """Tag the calls made inside the block with the agent attempt *index*."""
        previous, self.attempt = self.attempt, index
        try:
            yield
        finally:
            self.attempt = previous

    def record(
        self, messages: list[Message], completion: Completion, cache_key: str | None = None
    ) -> dict[str, Any]:
        """Append one row for a finished call and return it."""
        u = completion.usage
        row = {
            "model": u.model,
            "prompt": messages,
            "response": completion.text,
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "latency": u.latency_s,
            "cost": u.cost,
            "cache_key": cache_key,
            "attempt": self.attempt,
        }
        self.append(row)
        return row

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens over all calls."""
        return sum(int(r["prompt_tokens"]) + int(r["completion_tokens"]) for r in self)

    @property
    def cost(self) -> float:
        """Total cost in US dollars."""
        return float(sum(float(r["cost"]) for r in self))


def estimate_tokens(text: str) -> int:
    """A rough token count, ``len(text) // 4``, for servers that report no usage."""
    return len(text) // 4


def normalize_messages(messages: Sequence[Mapping[str, Any]]) -> list[Message]:
    """Check *messages* and return plain-dict copies.

    Raises
    ------
    LLMError
        If *messages* is empty, or a message lacks a known ``role`` or a string ``content``.
    """
    if isinstance(messages, str | bytes) or not messages:
        raise LLMError(f"messages must be a non-empty list of dicts, got {messages!r:.80}")
    out: list[Message] = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or m.get("role") not in ROLES:
            raise LLMError(f"messages[{i}] needs a role in {sorted(ROLES)}, got {m!r:.80}")
        if not isinstance(m.get("content"), str):
            raise LLMError(f"messages[{i}].content must be a string, got {m.get('content')!r:.80}")
        out.append(dict(m))
    return out


def request_key(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    temperature: float,
    max_tokens: int,
    response_format: Mapping[str, Any] | None,
) -> str:
    """The cache key: sha256 of the canonical JSON of the request."""
    payload = {
        "model": model,
        "messages": [dict(m) for m in messages],
        "temperature": float(temperature),
        "max_tokens": int(max_tokens),
        "response_format": dict(response_format) if response_format is not None else None,
    }
    canon = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def _encode_cached(c: Completion) -> str:
    u = c.usage
    return json.dumps(
        {
            "v": 1,
            "text": c.text,
            "finish_reason": c.finish_reason,
            "model": u.model,
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "estimated": u.estimated,
        }
    )


def _decode_cached(raw: str, model: str) -> Completion:
    try:
        d = json.loads(raw)
    except ValueError:
        d = None
    if not (isinstance(d, dict) and d.get("v") == 1 and isinstance(d.get("text"), str)):
        # a bare response string (written by something else): keep it as the text
        return Completion(raw, Usage(model=model, cached=True, attempts=0))
    usage = Usage(
        prompt_tokens=int(d.get("prompt_tokens", 0)),
        completion_tokens=int(d.get("completion_tokens", 0)),
        model=str(d.get("model") or model),
        cached=True,
        attempts=0,
        estimated=bool(d.get("estimated", False)),
    )
    return Completion(d["text"], usage, d.get("finish_reason"))


class BaseLLM:
    """Shared machinery of the clients: checks, cache, accounting and the call log.

    Parameters
    ----------
    model
        The model name (recorded with every call and part of the cache key).
    cache
        A run store whose ``llm_cache`` table holds replies by request hash;
        ``None`` for no caching.
    prices
        ``{model: (usd_per_1k_prompt, usd_per_1k_completion)}``; unknown models cost 0.
    """

    def __init__(
        self,
        model: str,
        *,
        cache: RunStore | None = None,
        prices: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        self.model = model
        self.cache = cache
        self.prices = dict(prices or {})
        self.calls = CallLog()

    def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        temperature: float = 0.0,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        """Send *messages* (or answer from the cache) and log the call.

        Parameters
        ----------
        messages
            ``[{"role": ..., "content": ...}, ...]``.
        temperature, max_tokens
            Sampling settings, passed to the server.
        response_format
            ``{"type": "json_schema", "json_schema": {...}}`` or
            ``{"type": "json_object"}``; the client degrades it when the server
            does not support it (see :class:`agents.llm.OpenAIClient`).

        Raises
        ------
        LLMError
            If the endpoint fails for good.
        """
        msgs = normalize_messages(messages)
        key = None
        if self.cache is not None:
            key = request_key(self.model, msgs, temperature, max_tokens, response_format)
            hit = self.cache.cache_get(key)
            if hit is not None:
                completion = _decode_cached(hit, self.model)
                self.calls.record(msgs, completion, key)
                return completion
        t0 = time.perf_counter()
        completion = self._request(
            msgs, temperature=temperature, max_tokens=max_tokens, response_format=response_format
        )
        usage = completion.usage
        if usage.latency_s == 0.0:
            usage = replace(usage, latency_s=time.perf_counter() - t0)
        usage = replace(usage, model=usage.model or self.model)
        usage = replace(usage, cost=usage.cost or self.cost(usage))
        completion = replace(completion, usage=usage)
        if self.cache is not None and key is not None:
            self.cache.cache_put(key, _encode_cached(completion))
        self.calls.record(msgs, completion, key)
        return completion

    def cost(self, usage: Usage) -> float:
        """US dollars for *usage* from the price table (0 when the model is not in it)."""
        price = self.prices.get(usage.model) or self.prices.get(self.model)
        if price is None:
            return 0.0
        p_in, p_out = price
        return (usage.prompt_tokens * p_in + usage.completion_tokens * p_out) / 1000.0

    def _request(
        self,
        messages: list[Message],
        *,
        temperature: float,
        max_tokens: int,
        response_format: Mapping[str, Any] | None,
    ) -> Completion:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, calls={len(self.calls)})"
