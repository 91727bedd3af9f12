"""A client for any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp).

Built on the ``openai`` package with its own retries switched off
(``max_retries=0``): the loop here decides what is retried and how long to
wait (see :mod:`agents.llm.retry`), so the behaviour is explicit and tested.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.llm.base import (
    BaseLLM,
    Completion,
    LLMError,
    Message,
    Usage,
    estimate_tokens,
)
from agents.llm.config import resolve_settings
from agents.llm.retry import RetryPolicy, is_retryable, parse_retry_after
from agents.llm.structured import JSON_LEVELS, degrade_response_format, with_system_note

if TYPE_CHECKING:
    from workbench.runs.store import RunStore

__all__ = ["JSON_MODES", "OpenAIClient"]

JSON_MODES = ("auto", *JSON_LEVELS)
_SHARED: dict[tuple[str, str, float], Any] = {}
"""``openai.OpenAI`` instances by (base URL, key, timeout): building one costs ~45 ms of CPU."""
_SHARED_LOCK = threading.Lock()
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "guided_json", "grammar")
_KEYLIKE = re.compile(r"\b(sk|key|token)[-_][A-Za-z0-9*._\-]{6,}", re.IGNORECASE)


class OpenAIClient(BaseLLM):
    """An OpenAI-compatible chat client with retries, JSON fallbacks, accounting and a cache.

    Parameters
    ----------
    model, base_url, api_key
        Override the environment (``WORKBENCH_MODEL``, ``OPENAI_BASE_URL``,
        ``OPENAI_API_KEY``) and the config file; see :mod:`agents.llm.config`.
    timeout
        Seconds per request.
    max_retries
        Retries after the first request (429, 5xx, timeouts and connection errors only).
    backoff
        ``(initial, factor)``: the first wait and its growth per retry, in seconds.
    seed
        Seed of the back-off jitter.
    config_path
        A config file instead of ``$WORKBENCH_HOME/config.toml``.
    prices
        ``{model: (usd_per_1k_prompt, usd_per_1k_completion)}``.
    cache
        A run store (or its path) whose request cache answers repeated requests.
    json_mode
        ``"auto"`` sends ``json_schema`` and falls back to ``json_object`` and then
        to plain text when the server rejects it (remembered by this client);
        ``"json_schema"``, ``"json_object"`` or ``"text"`` fix the level.

    Notes
    -----
    Only what every OpenAI-compatible server understands is sent: ``model``,
    ``messages``, ``temperature``, ``max_tokens`` and, when asked for,
    ``response_format``.  A server that refuses ``max_tokens`` in favour of
    ``max_completion_tokens`` (newer OpenAI models) gets the latter from then on.

    Raises
    ------
    LLMConfigError
        If no base URL or model is configured.
    """

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: tuple[float, float] = (0.5, 2.0),
        seed: int | None = None,
        config_path: str | Path | None = None,
        prices: Mapping[str, tuple[float, float]] | None = None,
        cache: RunStore | str | Path | None = None,
        json_mode: str = "auto",
    ) -> None:
        if json_mode not in JSON_MODES:
            raise ValueError(f"json_mode must be one of {JSON_MODES}, got {json_mode!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        settings = resolve_settings(
            model=model, base_url=base_url, api_key=api_key, config_path=config_path
        )
        if isinstance(cache, str | Path):
            from workbench.runs.store import RunStore

            cache = RunStore(cache)
        super().__init__(settings.model, cache=cache, prices=prices)
        self.base_url = settings.base_url
        self.sources = settings.sources
        self.timeout = float(timeout)
        self.retry = RetryPolicy(
            max_retries=max_retries, initial=backoff[0], factor=backoff[1], seed=seed
        )
        self.json_mode = json_mode
        self.json_level = "json_schema" if json_mode == "auto" else json_mode
        self.token_param = "max_tokens"
        self.sleep: Callable[[float], None] = time.sleep
        self._key = settings.api_key
        self._lock = threading.Lock()
        self._client: Any = None

    # ------------------------------------------------------------------ plumbing
    def _openai(self) -> Any:
        if self._client is None:
            try:
                import openai
            except ImportError as e:  # pragma: no cover - the llm extra is missing
                raise LLMError(
                    "the OpenAI client needs the 'openai' package: "
                    "pip install 'optimization-workbench[llm]'"
                ) from e
            key = (self.base_url, self._key.get_secret_value(), self.timeout)
            with _SHARED_LOCK:  # one connection pool per endpoint, shared by every client
                shared = _SHARED.get(key)
                if shared is None:
                    shared = _SHARED[key] = openai.OpenAI(
                        api_key=key[1], base_url=self.base_url, timeout=self.timeout,
                        max_retries=0,
                    )  # fmt: skip
            self._client = shared
        return self._client

    def _scrub(self, text: str) -> str:
        key = self._key.get_secret_value()
        if key:
            text = text.replace(key, "[redacted]")
        return _KEYLIKE.sub("[redacted]", text)

    def close(self) -> None:
        """Let go of the HTTP connection pool (shared by the clients of one endpoint, so that
        a batch's many conversations reuse its connections; it closes with the process)."""
        self._client = None

    def __repr__(self) -> str:
        return (
            f"OpenAIClient(model={self.model!r}, base_url={self.base_url!r}, "
            f"json_level={self.json_level!r}, calls={len(self.calls)})"
        )

    def list_models(self) -> list[str]:
        """The model ids the server offers (``GET /models``): a connection test, no retries.

        Raises
        ------
        LLMError
            If the server cannot be reached or refuses.
        """
        import openai

        try:
            return [m.id for m in self._openai().models.list()]
        except openai.APIStatusError as e:
            msg = f"{self.base_url}: HTTP {e.status_code}: {_detail(e)}"
            raise LLMError(self._scrub(msg), status=e.status_code) from None
        except openai.OpenAIError as e:
            raise LLMError(self._scrub(f"{self.base_url}: {type(e).__name__}: {e}")) from None

    # ------------------------------------------------------------------ requests
    def _request(
        self,
        messages: list[Message],
        *,
        temperature: float,
        max_tokens: int,
        response_format: Mapping[str, Any] | None,
    ) -> Completion:
        t0 = time.perf_counter()
        sent = 0
        while True:
            level = self.json_level
            rf, note = degrade_response_format(response_format, level)
            kwargs: dict[str, Any] = {
                "model": self.model,
                "messages": with_system_note(messages, note),
                "temperature": temperature,
                self.token_param: max_tokens,
            }
            if rf is not None:
                kwargs["response_format"] = rf
            try:
                raw, tries = self._send(kwargs)
            except LLMError as e:
                sent += e.attempts
                if self._should_degrade(e, response_format, level):
                    continue
                if (
                    e.status == 400
                    and self.token_param == "max_tokens"
                    and "max_completion_tokens" in e.detail
                ):  # newer OpenAI models refuse max_tokens
                    self.token_param = "max_completion_tokens"
                    continue
                e.attempts = sent
                raise
            sent += tries
            return self._completion(raw, messages, sent, time.perf_counter() - t0)

    def _should_degrade(
        self, e: LLMError, response_format: Mapping[str, Any] | None, level: str
    ) -> bool:
        if response_format is None or self.json_mode != "auto" or e.status not in (400, 422):
            return False
        if not any(w in e.detail.lower() for w in _FORMAT_WORDS):
            return False
        i = JSON_LEVELS.index(level)
        if i + 1 >= len(JSON_LEVELS):
            return False
        with self._lock:  # another thread may have degraded already
            if JSON_LEVELS.index(self.json_level) <= i:
                self.json_level = JSON_LEVELS[i + 1]
        return True

    def _send(self, kwargs: dict[str, Any]) -> tuple[Any, int]:
        """One call with retries: the raw ``ChatCompletion`` and the requests sent."""
        import openai

        client = self._openai()
        for k in range(self.retry.max_retries + 1):
            retry_after: float | None = None
            try:
                return client.chat.completions.create(**kwargs), k + 1
            except openai.APIStatusError as e:
                status = e.status_code
                if not is_retryable(status) or k == self.retry.max_retries:
                    hint = ""
                    if status in (401, 403):
                        hint = f" (check the API key; it came from: {self.sources['api_key']})"
                    if k > 0:
                        hint += f" (after {k + 1} requests)"
                    detail = self._scrub(_detail(e))
                    msg = f"{self.model} at {self.base_url}: HTTP {status}: {detail}{hint}"
                    raise LLMError(
                        self._scrub(msg), status=status, attempts=k + 1, detail=detail
                    ) from None
                retry_after = parse_retry_after(e.response.headers)
            except openai.APIConnectionError as e:
                kind = "timed out" if isinstance(e, openai.APITimeoutError) else "connection failed"
                if k == self.retry.max_retries:
                    raise LLMError(
                        self._scrub(
                            f"{self.model} at {self.base_url}: {kind} after {k + 1} request(s)"
                            + (f" (timeout {self.timeout:g} s)" if kind == "timed out" else "")
                        ),
                        attempts=k + 1,
                    ) from e
            except openai.OpenAIError as e:
                raise LLMError(self._scrub(f"{self.model}: {type(e).__name__}: {e}")) from None
            self.sleep(self.retry.wait(k, retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    def _completion(
        self, raw: Any, messages: list[Message], attempts: int, latency: float
    ) -> Completion:
        choices = getattr(raw, "choices", None) or []
        if not choices:
            raise LLMError(f"{self.model} at {self.base_url}: the reply has no choices")
        choice = choices[0]
        text = getattr(choice.message, "content", None) or ""
        reasoning = _reasoning(choice.message)
        usage = getattr(raw, "usage", None)
        pt: int | None = getattr(usage, "prompt_tokens", None)
        ct: int | None = getattr(usage, "completion_tokens", None)
        estimated = pt is None or ct is None
        if pt is None:
            pt = sum(estimate_tokens(m["content"]) for m in messages)
        if ct is None:
            ct = estimate_tokens(text)
        return Completion(
            text,
            Usage(
                prompt_tokens=int(pt),
                completion_tokens=int(ct),
                latency_s=latency,
                model=str(getattr(raw, "model", None) or self.model),
                attempts=attempts,
                estimated=estimated,
            ),
            getattr(choice, "finish_reason", None),
            reasoning,
        )


REASONING_FIELDS = ("reasoning_content", "reasoning")
"""Message fields in which reasoning models' servers (vLLM, DeepSeek, Ollama...) send the thinking."""


def _reasoning(message: Any) -> str | None:
    """The separate reasoning text of a reply message, when the server sent one."""
    extra = getattr(message, "model_extra", None) or {}
    for name in REASONING_FIELDS:
        value = getattr(message, name, None) if hasattr(message, name) else extra.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _detail(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message") if isinstance(inner, dict) else inner
        if msg:
            return str(msg)[:500]
    return str(getattr(e, "message", "") or e)[:500]
