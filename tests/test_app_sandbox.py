"""The Formulate page's code mode: the sandbox level is shown before running, or code mode is refused.

"No bubblewrap" is real: PATH points at a folder with only ``unshare``, so the
sandbox's own probe finds no ``bwrap``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from models import BAKERY_PYOMO as CODE
from streamlit.testing.v1 import AppTest  # noqa: E402

from agents.sandbox import ALLOW_WEAK_ENV, probe_isolation  # noqa: E402
from agents.sandbox import isolation as sandbox_isolation  # noqa: E402

PAGE = Path(__file__).resolve().parents[1] / "app" / "app_pages" / "formulate.py"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("OPENAI_BASE_URL", "WORKBENCH_MODEL", "OPENAI_API_KEY", ALLOW_WEAK_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    sandbox_isolation._probe_all.cache_clear()
    yield
    sandbox_isolation._probe_all.cache_clear()


def _page() -> AppTest:
    return AppTest.from_file(str(PAGE), default_timeout=60)


def _no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _need_bwrap() -> None:
    if not probe_isolation()[0].ok:
        if shutil.which("bwrap"):
            pytest.fail(f"bubblewrap is installed but fails: {probe_isolation()[0].reason}")
        pytest.skip("bubblewrap is not installed")


def test_code_mode_shows_the_level_before_running() -> None:
    _need_bwrap()
    at = _page().run()
    assert not any("sandbox:" in c.value for c in at.caption)  # IR mode: no generated code
    at.selectbox(key="fs_mode").select("code").run()
    _no_exceptions(at)
    assert any(c.value.startswith("sandbox: bwrap: host file system hidden") for c in at.caption)
    assert not at.error and not at.warning


@pytest.mark.slow
def test_code_mode_shows_the_level_then_runs_in_the_sandbox(
    llm_stub: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_bwrap()
    monkeypatch.setenv("OPENAI_BASE_URL", llm_stub.url)  # type: ignore[attr-defined]
    monkeypatch.setenv("WORKBENCH_MODEL", "stub-model")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    llm_stub.reply(json.dumps({"understanding": "u", "steps": "s", "code": CODE}))  # type: ignore[attr-defined]
    at = _page().run()
    assert not any("sandbox:" in c.value for c in at.caption)  # IR mode: no generated code
    at.text_area(key="fs_text").set_value("A bakery makes bread and cake...").run()
    at.selectbox(key="fs_mode").select("code").run()
    _no_exceptions(at)
    assert any(c.value.startswith("sandbox: bwrap: host file system hidden") for c in at.caption)
    next(b for b in at.button if b.label == "Formulate").click().run()
    _no_exceptions(at)
    result = at.session_state["fs_result"]
    assert result.objective == pytest.approx(24.0)
    assert result.diagnostics.sandbox == "bwrap"
    assert any(c.value == "Ran in the sandbox at level bwrap" for c in at.caption)


def test_code_mode_is_refused_without_bwrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm_stub: object
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "unshare").symlink_to(shutil.which("unshare") or "/usr/bin/unshare")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("OPENAI_BASE_URL", llm_stub.url)  # type: ignore[attr-defined]
    monkeypatch.setenv("WORKBENCH_MODEL", "stub-model")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    at = _page().run()
    at.text_area(key="fs_text").set_value("A bakery makes bread and cake...").run()
    at.selectbox(key="fs_mode").select("code").run()
    _no_exceptions(at)
    assert at.error and at.error[0].value.startswith("Code mode is refused here")
    assert "bubblewrap" in at.error[0].value and ALLOW_WEAK_ENV in at.error[0].value
    assert next(b for b in at.button if b.label == "Formulate").disabled
    # With the explicit opt-in the weak level is shown as a warning and code mode is allowed.
    monkeypatch.setenv(ALLOW_WEAK_ENV, "1")
    at.run()
    assert at.warning and "WEAK" in at.warning[0].value
    assert not next(b for b in at.button if b.label == "Formulate").disabled
