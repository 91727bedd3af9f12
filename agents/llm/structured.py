"""Structured output: ask for JSON against a schema, parse it, validate it.

Servers differ in what they accept, so a requested ``response_format`` is
sent at one of three levels (see :data:`JSON_LEVELS`):

``json_schema``
    ``{"type": "json_schema", "json_schema": {...}}`` as given (OpenAI,
    vLLM, llama.cpp server, recent Ollama).
``json_object``
    ``{"type": "json_object"}`` plus a system message that states the schema.
``text``
    no ``response_format`` at all; the system message alone asks for JSON.

Replies are parsed with :func:`json.loads` and validated; a failure raises
:class:`workbench.errors.AgentOutputError` carrying the raw text.  Nothing
is salvaged: the forms accepted besides bare JSON are a reply that is
*entirely* one fenced block, as text-mode models often write it, and either
of those after one leading ``<think>...</think>`` block, as reasoning models
write it.  A reply cut at ``max_tokens`` (``finish_reason == "length"``) is
asked again with a larger budget before a repair try is spent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any, TypeVar, overload

from pydantic import BaseModel, ValidationError

from agents.llm.base import DEFAULT_MAX_TOKENS, LLM, Completion, Message, normalize_messages
from workbench.errors import AgentOutputError

__all__ = [
    "JSON_LEVELS",
    "complete_json",
    "degrade_response_format",
    "parse_json",
    "prompt",
    "schema_response_format",
    "strip_think",
]

LENGTH_RETRIES = 2
"""How many times a reply cut at ``max_tokens`` is asked again, each time with twice the budget."""

MAX_TOKENS_CAP = 131072
"""The largest ``max_tokens`` a length retry asks for."""

JSON_LEVELS = ("json_schema", "json_object", "text")
M = TypeVar("M", bound=BaseModel)
Schema = type[BaseModel] | Mapping[str, Any]


@cache
def prompt(name: str) -> str:
    """The text of ``agents/llm/prompts/<name>.md``."""
    return files("agents.llm").joinpath("prompts", f"{name}.md").read_text(encoding="utf-8")


def _schema_dict(schema: Schema) -> dict[str, Any]:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    if isinstance(schema, Mapping):
        return dict(schema)
    raise TypeError(f"schema must be a pydantic model class or a JSON schema dict, got {schema!r}")


def schema_response_format(schema: Schema, name: str | None = None) -> dict[str, Any]:
    """``{"type": "json_schema", "json_schema": {"name", "schema"}}`` for *schema*.

    ``strict`` is not set: it is an OpenAI-only flag with extra demands on the schema.
    """
    d = _schema_dict(schema)
    if name is None:
        name = schema.__name__ if isinstance(schema, type) else str(d.get("title") or "reply")
    safe = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name)[:64] or "reply"
    return {"type": "json_schema", "json_schema": {"name": safe, "schema": d}}


def degrade_response_format(
    response_format: Mapping[str, Any] | None, level: str
) -> tuple[dict[str, Any] | None, str | None]:
    """What to send at *level* for the requested *response_format*.

    Returns
    -------
    (response_format, system_note)
        The ``response_format`` to send (``None``: send none) and a system
        message to add (``None``: add none).
    """
    if level not in JSON_LEVELS:
        raise ValueError(f"json level must be one of {JSON_LEVELS}, got {level!r}")
    if response_format is None:
        return None, None
    kind = response_format.get("type")
    if kind == "text":
        return dict(response_format), None
    if kind not in ("json_schema", "json_object"):
        raise ValueError(f"unsupported response_format type {kind!r}")
    schema = None
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if level == "json_schema":
            return dict(response_format), None
    if schema is not None:
        note = prompt("json_schema").format(schema=json.dumps(schema, indent=2, sort_keys=True))
    else:
        note = prompt("json_object")
    if level == "text":
        return None, note
    return {"type": "json_object"}, note


def with_system_note(messages: list[Message], note: str | None) -> list[Message]:
    """*messages* with *note* appended to the leading system message (or as a new one)."""
    if not note:
        return messages
    if messages and messages[0]["role"] == "system":
        first = dict(messages[0])
        first["content"] = f"{first['content'].rstrip()}\n\n{note.strip()}"
        return [first, *messages[1:]]
    return [{"role": "system", "content": note.strip()}, *messages]


_THINK = re.compile(r"\A\s*<think>.*?</think>", re.DOTALL)


def strip_think(text: str) -> str:
    """*text* without one leading ``<think>...</think>`` block (reasoning models' thinking)."""
    return _THINK.sub("", text, count=1)


def _unfence(text: str) -> str:
    s = strip_think(text).strip()
    if s.startswith("```") and s.endswith("```") and s.count("```") == 2:
        first_newline = s.find("\n")
        if first_newline != -1 and s[3:first_newline].strip().lower() in ("", "json"):
            return s[first_newline + 1 : -3]
    return s


@overload
def parse_json(text: str, schema: type[M]) -> M: ...
@overload
def parse_json(text: str, schema: Mapping[str, Any] | None) -> Any: ...


def parse_json(text: str, schema: Schema | None) -> Any:
    """Parse *text* as JSON and validate it against *schema*.

    Returns a pydantic instance for a model class, the decoded value otherwise.

    Raises
    ------
    AgentOutputError
        If *text* is not one JSON value, or the value does not fit the schema.
    """
    body = _unfence(text)
    try:
        value = json.loads(body)
    except ValueError as e:
        what = "is empty" if not body.strip() else f"is not valid JSON ({e})"
        raise AgentOutputError(f"the reply {what}", raw=text) from e
    if schema is None:
        return value
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        try:
            return schema.model_validate(value)
        except ValidationError as e:
            raise AgentOutputError(
                f"the reply does not fit {schema.__name__}: {e}", raw=text
            ) from e
    import jsonschema

    try:
        jsonschema.validate(value, dict(schema))
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise AgentOutputError(
            f"the reply does not fit the schema at {where}: {e.message}", raw=text
        ) from e
    return value


@overload
def complete_json(
    llm: LLM,
    messages: Sequence[Mapping[str, Any]],
    schema: type[M],
    *,
    temperature: float = ...,
    max_tokens: int = ...,
    retries: int = ...,
    name: str | None = ...,
    length_retries: int = ...,
) -> tuple[M, Completion]: ...
@overload
def complete_json(
    llm: LLM,
    messages: Sequence[Mapping[str, Any]],
    schema: Mapping[str, Any],
    *,
    temperature: float = ...,
    max_tokens: int = ...,
    retries: int = ...,
    name: str | None = ...,
    length_retries: int = ...,
) -> tuple[Any, Completion]: ...


def complete_json(
    llm: LLM,
    messages: Sequence[Mapping[str, Any]],
    schema: Schema,
    *,
    temperature: float = 0.0,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    retries: int = 0,
    name: str | None = None,
    length_retries: int = LENGTH_RETRIES,
) -> tuple[Any, Completion]:
    """Ask *llm* for JSON that fits *schema*; parse and validate the reply.

    Parameters
    ----------
    llm
        Any client; it degrades the ``json_schema`` request as its server needs.
    messages
        The conversation.
    schema
        A pydantic model class (the result is an instance) or a JSON schema dict.
    retries
        How many times to show the model its unusable reply and the error, and
        ask again.  Every try is a logged call.
    name
        The schema's name in the request (default: the class name or title).
    length_retries
        How many times an unusable reply cut at ``max_tokens`` is asked again
        with twice the budget (up to :data:`MAX_TOKENS_CAP`) before it counts
        as a failed try.

    Returns
    -------
    (value, completion)
        The validated value and the completion it came from.

    Raises
    ------
    AgentOutputError
        If the last reply is not valid JSON for *schema*; ``raw`` holds its text.
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries!r}")
    rf = schema_response_format(schema, name)
    msgs = normalize_messages(messages)
    if length_retries < 0:
        raise ValueError(f"length_retries must be >= 0, got {length_retries!r}")
    for k in range(retries + 1):
        budget, grown = max_tokens, 0
        while True:
            completion = llm.complete(
                msgs, temperature=temperature, max_tokens=budget, response_format=rf
            )
            cut = completion.finish_reason == "length"
            if not cut or grown >= length_retries or budget >= MAX_TOKENS_CAP:
                break
            try:
                return parse_json(completion.text, schema), completion
            except AgentOutputError:  # cut short: the same request with a larger budget
                budget, grown = min(2 * budget, MAX_TOKENS_CAP), grown + 1
        try:
            return parse_json(completion.text, schema), completion
        except AgentOutputError as e:
            if completion.finish_reason == "length":
                e.args = (f"{e.args[0]} (cut at max_tokens={budget})",)
            if k == retries:
                raise
            msgs = [
                *msgs,
                {"role": "assistant", "content": completion.text},
                {"role": "user", "content": prompt("json_retry").format(error=e.args[0])},
            ]
    raise AssertionError("unreachable")  # pragma: no cover
