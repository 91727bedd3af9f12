"""Settings: the LLM endpoint (with a connection test), defaults, the run store, the device."""

from __future__ import annotations

import streamlit as st

from app.components import state

st.title("Settings")


def _keep(widget: str, target: str) -> None:
    st.session_state[target] = st.session_state.get(widget)


def _field(label: str, target: str, widget: str, **kw: object) -> str:
    """A text input whose value outlives the page (copied to a persistent key)."""
    if widget not in st.session_state:
        st.session_state[widget] = st.session_state.get(target) or ""
    return str(st.text_input(label, key=widget, on_change=_keep, args=(widget, target), **kw))


st.header("LLM endpoint")
choice = state.llm_choice()
if choice.ok:
    st.caption(f"In use: `{choice.model}` at `{choice.base_url}` (from {choice.source}).")
else:
    st.caption("Nothing configured yet: the environment and the config file have no endpoint.")
_field(
    "Base URL", state.K_URL, "set_url", placeholder=choice.base_url or "http://localhost:8000/v1"
)
_field("Model", state.K_MODEL, "set_model", placeholder=choice.model or "qwen2.5-7b-instruct")
_field("API key (kept in this browser session only)", state.K_KEY, "set_key", type="password",
       placeholder="leave empty to use OPENAI_API_KEY or none")  # fmt: skip

c1, c2 = st.columns(2)
if c1.button("Test connection", type="primary", key="set_test"):
    try:
        client = state.make_client(timeout=5.0, max_retries=0)
        models = client.list_models()
        client.close()
    except Exception as e:  # every failure is shown, none raised (the key is scrubbed)
        st.session_state["set_test_result"] = (False, str(e))
    else:
        st.session_state["set_test_result"] = (True, ", ".join(models[:10]) or "no models listed")
if c2.button("Save URL and model to the config file (never the key)", key="set_save"):
    now = state.llm_choice()
    if now.base_url and now.model:
        path = state.save_llm_config(now.base_url, now.model)
        st.success(f"Saved to {path}.")
    else:
        st.error("Enter a base URL and a model first.")
outcome = st.session_state.get("set_test_result")
if outcome is not None:
    ok, message = outcome
    if ok:
        st.success(f"Connection OK. Models: {message}")
    else:
        st.error(f"Connection failed: {message}")

st.header("Defaults")
backends = state.backend_choices()
if "set_backend" not in st.session_state:
    st.session_state["set_backend"] = state.default_backend()
st.selectbox("Default backend", backends, key="set_backend", on_change=_keep,
             args=("set_backend", state.K_BACKEND))  # fmt: skip
if "set_time" not in st.session_state:
    st.session_state["set_time"] = state.default_time_limit()
st.number_input("Default time limit (s)", 0.1, 3600.0, key="set_time", on_change=_keep,
                args=("set_time", state.K_TIME))  # fmt: skip
_field("Run store file", state.K_STORE, "set_store", placeholder=str(state.store_path()))

st.header("Device")


@st.cache_resource(show_spinner="Asking torch for the device...")
def _device() -> str:
    try:
        from workbench.devices import resolve_device

        return resolve_device("auto")
    except Exception as e:  # torch missing or broken: say so
        return f"unknown ({type(e).__name__}: {e})"


st.write(f"Torch device in use: **{_device()}**")
