"""The Streamlit app in headless Chromium, as a person would click through it.

The LLM endpoint is the loopback stub (``OPENAI_BASE_URL``), the run store a
temporary ``WORKBENCH_HOME``.  Screenshots: ``artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import pytest
from conftest import BAKERY_TEXT, ROOT, record_timing, shot

pytestmark = pytest.mark.browser

SMALL_MPS = ROOT / "problems" / "conformance" / "small.mps"


def metric(page, value: str):
    """The metric value element showing exactly *value*."""
    return (
        page.locator('[data-testid="stMetricValue"]')
        .filter(has_text=re.compile(rf"^\s*{re.escape(value)}\s*$"))
        .first
    )


def commit(locator) -> None:
    """Commit a text area's value (Streamlit applies it on Ctrl+Enter or blur)."""
    locator.press("Control+Enter")


def test_cold_start_serves_the_formulate_page(page, app_url):
    page.goto(app_url)
    page.get_by_role("heading", name="Formulate & Solve").wait_for()
    t0 = float(os.environ["_WB_APP_T0"])
    record_timing("cold_start_first_page_s", time.monotonic() - t0)
    page.get_by_text("LLM: ").first.wait_for()  # the stub endpoint, from the environment
    shot(page, "01_formulate_empty")


def test_formulate_then_edit_and_resolve(page, app_url, stub):
    page.goto(app_url)
    box = page.get_by_label("Describe the problem")
    box.fill(BAKERY_TEXT)
    commit(box)
    button = page.get_by_role("button", name="Formulate", exact=True)
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some("
        "b => b.innerText.trim() === 'Formulate' && !b.disabled)"
    )
    n_before = len(stub.chat_requests)
    t_click = time.monotonic()
    button.click()
    page.get_by_text("LLM reply 1").first.wait_for(state="attached")
    record_timing("formulate_click_to_first_transcript_line_s", time.monotonic() - t_click)
    page.get_by_role("heading", name="Solution", exact=True).first.wait_for()
    assert len(stub.chat_requests) > n_before
    page.locator(".katex").first.wait_for()  # the model, rendered as LaTeX
    metric(page, "24").wait_for()  # bread = 8: 3 * 8
    page.locator('[data-testid="stDataFrame"]').first.wait_for()  # the solution table (waits)
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    page.get_by_role("heading", name="Model", exact=True).scroll_into_view_if_needed()
    shot(page, "02_formulate_solved")

    yaml_box = page.get_by_label("Model (YAML)")
    text = yaml_box.input_value()
    assert "3 * bread + 5 * cake" in text
    yaml_box.fill(text.replace("3 * bread + 5 * cake", "4 * bread + 5 * cake"))
    commit(yaml_box)
    page.get_by_role("button", name="Re-solve with my edits").click()
    metric(page, "32").wait_for()  # bread = 8: 4 * 8
    page.get_by_role("heading", name="Solution", exact=True).first.scroll_into_view_if_needed()
    shot(page, "03_formulate_resolved")


def test_editor_shows_located_error_then_solves_an_uploaded_mps(page, app_url):
    page.goto(app_url + "/editor")
    box = page.get_by_label("Model (YAML)")
    good = box.input_value()
    box.fill(good.replace('"bread >= 2"', '"bred >= 2"'))
    commit(box)
    page.get_by_text(re.compile(r"line \d+ \(constraints\[1\]\.expr\)")).wait_for()
    shot(page, "04_editor_error")

    page.get_by_text("Upload MPS/LP/YAML file").click()
    page.locator('input[type="file"]').set_input_files(str(SMALL_MPS))
    page.get_by_text("Read small.mps").wait_for()
    page.get_by_role("button", name="Solve", exact=True).click()
    metric(page, "optimal").wait_for()
    metric(page, "19").wait_for()
    shot(page, "05_editor_mps_solved")


def test_benchmark_reaches_100_percent_and_charts(page, app_url):
    page.goto(app_url + "/benchmarks")
    items = page.get_by_label("Items (0 = all)")
    items.fill("3")
    page.get_by_role("button", name="Launch").click()
    page.get_by_text(re.compile(r"3/3 items \(100%\)")).wait_for(timeout=90_000)
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    page.get_by_role("heading", name="Results").scroll_into_view_if_needed()
    shot(page, "06_benchmarks_done")

    page.goto(app_url + "/runs")
    page.get_by_role("heading", name="Runs").wait_for()
    page.get_by_role("button", name="Export CSV").wait_for()
    shot(page, "07_runs")


def test_settings_connection_success_then_failure(page, app_url, stub):
    page.goto(app_url + "/settings")
    page.get_by_role("button", name="Test connection").click()
    page.get_by_text("Connection OK").wait_for()
    assert "stub-model" in page.get_by_text("Connection OK").inner_text()
    shot(page, "08_settings_ok")

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    url = page.get_by_label("Base URL")
    url.fill(f"http://127.0.0.1:{closed}/v1")
    url.press("Enter")
    page.wait_for_timeout(300)
    page.get_by_role("button", name="Test connection").click()
    page.get_by_text("Connection failed").wait_for()
    assert "test" not in page.get_by_text("Connection failed").inner_text().split("127.0.0.1")[0]
    shot(page, "09_settings_failed")


def test_screenshots_exist():
    shots = sorted(p.name for p in (ROOT / "artifacts" / "screenshots").glob("*.png"))
    assert len(shots) >= 5, shots
    assert all(Path(ROOT / "artifacts" / "screenshots" / s).stat().st_size > 5000 for s in shots)


def test_editor_solves_min_cost_flow_and_draws_the_network(page, app_url):
    from workbench import dump_model
    from workbench.datasets import get_dataset

    model = next(p for p in get_dataset("catalog") if p.id == "min_cost_flow").model
    page.goto(app_url + "/editor")
    box = page.get_by_label("Model (YAML)")
    box.fill(dump_model(model))
    commit(box)
    page.get_by_text("Valid model.").wait_for()
    page.get_by_role("button", name="Solve", exact=True).click()
    metric(page, "360").wait_for(timeout=60_000)
    page.get_by_text("Network: flow").first.wait_for(timeout=30_000)
    page.get_by_text("Network: flow").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    shot(page, "10_editor_network")
