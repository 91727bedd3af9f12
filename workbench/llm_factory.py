"""Build an LLM client for batch jobs through the ``workbench.llms`` registry.

The agents package registers its OpenAI-compatible client (and replay
clients) under this entry-point group; ``workbench`` never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workbench.errors import WorkbenchError
from workbench.registry import LazyRegistry

__all__ = ["LLMS", "make_llm"]

LLMS: LazyRegistry[Callable[..., Any]] = LazyRegistry("workbench.llms")


def make_llm(config: dict[str, Any]) -> Any:
    """An LLM client from a config such as ``{"kind": "openai", "model": ...}``.

    Raises
    ------
    WorkbenchError
        If no client of that kind is registered.
    """
    kind = str(config.get("kind", "openai"))
    try:
        factory = LLMS.load(kind)
    except KeyError:
        known = ", ".join(LLMS.names()) or "none are installed"
        raise WorkbenchError(f"no LLM client {kind!r} is registered; registered: {known}") from None
    return factory(**{k: v for k, v in config.items() if k != "kind"})
