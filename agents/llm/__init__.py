"""The LLM layer: one protocol, an OpenAI-compatible client, replay, scripts and a cache.

Agents receive an object with ``complete(messages, *, temperature,
max_tokens, response_format=None) -> Completion`` and a ``calls`` log; they
never choose the backend themselves.  Build one with :class:`OpenAIClient`,
:class:`ReplayClient`, :class:`ScriptedLLM` or, in batch jobs, with
:func:`workbench.llm_factory.make_llm` (entry-point group ``workbench.llms``).
"""

from agents.llm.base import (
    LLM,
    BaseLLM,
    CallLog,
    Completion,
    LLMConfigError,
    LLMError,
    Message,
    Usage,
    estimate_tokens,
    request_key,
)
from agents.llm.config import LLMSettings, default_config_path, resolve_settings
from agents.llm.openai_client import OpenAIClient
from agents.llm.replay import CachedLLM, ReplayClient, ScriptedLLM
from agents.llm.retry import RetryPolicy
from agents.llm.structured import complete_json, parse_json, schema_response_format

__all__ = [
    "LLM",
    "BaseLLM",
    "CachedLLM",
    "CallLog",
    "Completion",
    "LLMConfigError",
    "LLMError",
    "LLMSettings",
    "Message",
    "OpenAIClient",
    "ReplayClient",
    "RetryPolicy",
    "ScriptedLLM",
    "Usage",
    "complete_json",
    "default_config_path",
    "estimate_tokens",
    "parse_json",
    "request_key",
    "resolve_settings",
    "schema_response_format",
]
