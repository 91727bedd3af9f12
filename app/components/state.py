"""Settings shared by every page, kept in ``st.session_state``.

The LLM endpoint comes from the Settings page (this session only), else from
the environment or the config file (:func:`agents.llm.resolve_settings`).
The key lives in the session state only; it is never written to a file,
logged or shown.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from agents.llm import LLMConfigError, OpenAIClient, default_config_path, resolve_settings

__all__ = [
    "HOW_TO_CONFIGURE",
    "LlmChoice",
    "backend_choices",
    "default_backend",
    "default_time_limit",
    "llm_choice",
    "make_client",
    "save_llm_config",
    "store_path",
]

HOW_TO_CONFIGURE = (
    "No LLM endpoint is configured. Open **Settings** and enter a base URL and model "
    "(any OpenAI-compatible server: vLLM, Ollama, llama.cpp, OpenAI), or start the app with "
    "`OPENAI_BASE_URL`, `WORKBENCH_MODEL` (and `OPENAI_API_KEY` if the server needs one) set, "
    "or write an `[llm]` table with `base_url` and `model` to `{path}`. "
    "Meanwhile, pick a catalogue example and use its reference model, or write one in the "
    "**Model editor**."
)

# Persistent keys (not widget keys: Streamlit drops the state of widgets on other pages).
K_URL, K_MODEL, K_KEY = "cfg_llm_base_url", "cfg_llm_model", "cfg_llm_api_key"
K_BACKEND, K_TIME, K_STORE = "cfg_default_backend", "cfg_time_limit", "cfg_store_path"


@dataclass(frozen=True)
class LlmChoice:
    """The endpoint the app would use, or why there is none.

    Attributes
    ----------
    base_url, model
        The endpoint, or ``None`` when not configured.
    source
        Where it came from: ``session``, ``env``, ``file`` or ``none``.
    problem
        The reason there is no endpoint (``None`` when there is one).
    """

    base_url: str | None
    model: str | None
    source: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Whether an endpoint is configured."""
        return self.problem is None


def llm_choice() -> LlmChoice:
    """The LLM endpoint: the Settings page's values first, then env and config file."""
    url = st.session_state.get(K_URL) or None
    model = st.session_state.get(K_MODEL) or None
    if url and model:
        return LlmChoice(url, model, "session")
    try:
        s = resolve_settings(base_url=url, model=model)
    except LLMConfigError:
        return LlmChoice(url, model, "none", HOW_TO_CONFIGURE.format(path=default_config_path()))
    source = "session" if url or model else s.sources.get("base_url", "env")
    return LlmChoice(s.base_url, s.model, source)


def make_client(*, timeout: float = 60.0, max_retries: int = 2) -> OpenAIClient:
    """An :class:`OpenAIClient` for the configured endpoint and the session's key.

    Raises
    ------
    LLMConfigError
        If no endpoint is configured.
    """
    choice = llm_choice()
    if not choice.ok:
        raise LLMConfigError(choice.problem or "no LLM endpoint")
    key = st.session_state.get(K_KEY) or None
    return OpenAIClient(
        model=choice.model,
        base_url=choice.base_url,
        api_key=key,
        timeout=timeout,
        max_retries=max_retries,
        backoff=(0.2, 2.0),
    )


def store_path() -> Path:
    """The run store file: the Settings page's, else ``$WORKBENCH_HOME/runs.db``."""
    from workbench.runs import default_store_path

    chosen = st.session_state.get(K_STORE)
    return Path(chosen).expanduser() if chosen else default_store_path()


def default_backend() -> str:
    """The backend pages preselect (``auto`` unless Settings says otherwise)."""
    return str(st.session_state.get(K_BACKEND) or "auto")


def default_time_limit() -> float:
    """The solver time limit pages preselect, in seconds."""
    return float(st.session_state.get(K_TIME) or 30.0)


@st.cache_data(show_spinner=False)
def _available() -> dict[str, tuple[bool, str]]:
    from workbench.backends.registry import available_backends

    return {name: (a.ok, a.reason) for name, a in available_backends().items()}


def backend_choices() -> list[str]:
    """``auto`` followed by the names of the available backends."""
    return ["auto", *[name for name, (ok, _) in _available().items() if ok]]


def backend_index(choices: list[str], wanted: str | None = None) -> int:
    """Index of *wanted* (default: the default backend) in *choices*, else 0."""
    wanted = wanted or default_backend()
    return choices.index(wanted) if wanted in choices else 0


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def save_llm_config(base_url: str, model: str, path: Path | None = None) -> Path:
    """Write ``[llm] base_url, model`` to the config file, keeping its other tables.

    The key is never written: the config file names an environment
    variable instead (``api_key_env``), which this function leaves as it was.

    Returns
    -------
    Path
        The file written.
    """
    path = path or default_config_path()
    data: dict[str, Any] = {}
    if path.is_file():
        with path.open("rb") as f:
            data = tomllib.load(f)
    table = dict(data.get("llm", {}))
    table.update({"base_url": base_url, "model": model})
    table.pop("api_key", None)
    data["llm"] = table
    lines: list[str] = []
    for name, body in data.items():
        if not isinstance(body, dict):
            lines.insert(0, f"{name} = {_toml_value(body)}")
            continue
        lines.append(f"\n[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in body.items() if not isinstance(v, dict)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).lstrip() + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    return path
