"""Fixtures for the browser tests: the LLM stub, ``streamlit run`` on a free port, Chromium.

Screenshots go to ``artifacts/screenshots/`` (ignored by git), timings to
``artifacts/app_timings.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llm_stub import LLMStub, StubRequest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
SHOTS = ARTIFACTS / "screenshots"
CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

BAKERY_TEXT = (
    "A bakery makes bread and cake. Bread earns 3 dollars and cake 5 dollars per batch. "
    "Each batch of bread needs 1 hour of oven time and each batch of cake needs 2 hours; "
    "the oven is available for at most 8 hours. At least 2 batches of bread must be made."
)
BAKERY_MODEL = {
    "name": "bakery",
    "variables": {"bread": {"domain": "integer", "lb": 0}, "cake": {"domain": "integer", "lb": 0}},
    "objective": {"sense": "max", "expr": "3 * bread + 5 * cake"},
    "constraints": [
        {"name": "oven", "expr": "bread + 2 * cake <= 8"},
        {"name": "min_bread", "expr": "bread >= 2"},
    ],
}
TIMINGS: dict[str, float] = {}


def record_timing(name: str, seconds: float) -> None:
    """Keep a measured time; all of them are written to artifacts/app_timings.json."""
    TIMINGS[name] = round(seconds, 3)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "app_timings.json").write_text(json.dumps(TIMINGS, indent=2))


def _orthought_reply(req: StubRequest) -> str:
    return json.dumps({"understanding": "bakery: maximise profit under the oven hours",
                       "steps": "two integer variables, two constraints",
                       "model": BAKERY_MODEL})  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip (do not fail) when Chromium or Playwright is missing on this machine."""
    why = None
    if not Path(CHROMIUM).exists():
        why = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "Playwright is not installed (pip install playwright)"
    if why:
        for item in items:
            if "browser" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def stub() -> Iterator[LLMStub]:
    """The OpenAI-compatible stub answering every chat request with the bakery model."""
    with LLMStub() as s:
        s.respond_with(_orthought_reply)
        yield s


@pytest.fixture(scope="session")
def app_url(stub: LLMStub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run app/main.py`` on a free port, its LLM pointed at the stub."""
    home = tmp_path_factory.mktemp("wbhome")
    port = _free_port()
    env = {**os.environ, "WORKBENCH_HOME": str(home), "OPENAI_BASE_URL": stub.url,
           "WORKBENCH_MODEL": "stub-model", "OPENAI_API_KEY": "test",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}  # fmt: skip
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"),
           "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"]  # fmt: skip
    log = (home / "streamlit.log").open("wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((home / "streamlit.log").read_text()[-3000:])
            time.sleep(0.1)
        record_timing("server_health_s", time.monotonic() - t0)
        os.environ["_WB_APP_T0"] = str(t0)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if (home / "streamlit.log").exists():
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copy(home / "streamlit.log", ARTIFACTS / "streamlit.log")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, app_url: str) -> Iterator[Any]:
    """A fresh browser page (its own Streamlit session)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1800})
    p = ctx.new_page()
    p.set_default_timeout(30_000)
    yield p
    ctx.close()


def shot(page: Any, name: str) -> Path:
    """Save a full-page PNG screenshot to artifacts/screenshots/NAME.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
