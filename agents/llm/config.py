"""Where the OpenAI-compatible client finds its endpoint, model and key.

Precedence, highest first: constructor arguments; the environment
(``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``WORKBENCH_MODEL``); the config
file ``$WORKBENCH_HOME/config.toml`` (or ``~/.workbench/config.toml``)::

    [llm]
    base_url = "http://localhost:8000/v1"
    model = "qwen2.5-7b-instruct"
    api_key_env = "MY_SERVER_KEY"   # the *name* of a variable holding the key

The key itself is never read from the file and never printed.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from agents.llm.base import LLMConfigError

__all__ = ["HOW_TO_CONFIGURE", "LLMSettings", "default_config_path", "resolve_settings"]

HOW_TO_CONFIGURE = (
    "set OPENAI_BASE_URL and WORKBENCH_MODEL (and OPENAI_API_KEY if the server needs one), "
    "pass base_url=/model= to the client, or write an [llm] table with base_url, model and "
    "api_key_env to {path}"
)
NO_KEY = "EMPTY"
"""Sent as the bearer token when no key is configured (local servers ignore it)."""


def default_config_path() -> Path:
    """``$WORKBENCH_HOME/config.toml``, or ``~/.workbench/config.toml``."""
    home = os.environ.get("WORKBENCH_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".workbench"
    return base / "config.toml"


@dataclass(frozen=True)
class LLMSettings:
    """A resolved endpoint: where each value came from is kept for diagnostics.

    Attributes
    ----------
    base_url, model
        The endpoint (ending in ``/v1`` for most servers) and the model name.
    api_key
        The key, hidden from ``repr`` and ``str``.
    sources
        ``{"base_url": "argument" | "env" | "file", ...}``.
    """

    base_url: str
    model: str
    api_key: SecretStr = field(repr=False)
    sources: dict[str, str] = field(default_factory=dict)


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise LLMConfigError(f"cannot read LLM config {path}: {e}") from e
    table = data.get("llm", {})
    if not isinstance(table, dict):
        raise LLMConfigError(f"{path}: [llm] must be a table, got {type(table).__name__}")
    if "api_key" in table:
        raise LLMConfigError(
            f"{path}: do not store the key in the file; set api_key_env to the name of an "
            "environment variable that holds it"
        )
    return table


def resolve_settings(
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    config_path: str | Path | None = None,
) -> LLMSettings:
    """Resolve the endpoint from arguments, then the environment, then the config file.

    Raises
    ------
    LLMConfigError
        If no base URL or no model is configured anywhere (the message says how).
    """
    path = Path(config_path).expanduser() if config_path is not None else default_config_path()
    file = _read_file(path)
    sources: dict[str, str] = {}

    def pick(name: str, arg: str | None, env: str | None) -> str | None:
        for src, value in (("argument", arg), ("env", os.environ.get(env) if env else None),
                           ("file", file.get(name))):  # fmt: skip
            if value not in (None, ""):
                sources[name] = src
                return str(value)
        return None

    url = pick("base_url", base_url, "OPENAI_BASE_URL")
    name = pick("model", model, "WORKBENCH_MODEL")
    key = pick("api_key", api_key, "OPENAI_API_KEY")
    if key is None and file.get("api_key_env"):
        key = os.environ.get(str(file["api_key_env"])) or None
        if key is not None:
            sources["api_key"] = f"file (${file['api_key_env']})"
    missing = [n for n, v in (("base URL", url), ("model", name)) if v is None]
    if missing:
        raise LLMConfigError(
            f"no LLM {' and no '.join(missing)} configured: " + HOW_TO_CONFIGURE.format(path=path)
        )
    assert url is not None and name is not None
    sources.setdefault("api_key", "none")
    return LLMSettings(url.rstrip("/"), name, SecretStr(key or NO_KEY), sources)
