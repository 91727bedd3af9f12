"""`workbench sandbox check` and the sandbox line of `workbench formulate` (code mode).

"No bubblewrap" is real, not simulated: PATH is pointed at a folder that holds
only ``unshare``, so the probe itself finds no ``bwrap``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from models import BAKERY_PYOMO as CODE
from typer.testing import CliRunner

from agents.sandbox import ALLOW_WEAK_ENV, Isolation, probe_isolation
from agents.sandbox import isolation as sandbox_isolation
from workbench.cli import app
from workbench.runs import RunStore

runner = CliRunner(env={"COLUMNS": "250"})  # tables unwrapped, whatever the terminal

TEXT = "A bakery sells bread for 3 and cake for 5; bread takes 1 oven hour, cake 2; 8 hours."


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test probes afresh (the probe is cached per interpreter), with no opt-in."""
    monkeypatch.delenv(ALLOW_WEAK_ENV, raising=False)
    sandbox_isolation._probe_all.cache_clear()
    yield
    sandbox_isolation._probe_all.cache_clear()


@pytest.fixture
def without_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH on which bubblewrap is not installed (``unshare``, ``setpriv`` and ``sleep`` are)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("unshare", "setpriv", "sleep"):
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed")
        (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))


def _bwrap_works() -> None:
    probe = probe_isolation()[0]
    if not probe.ok:
        if shutil.which("bwrap"):
            pytest.fail(f"bubblewrap is installed but fails: {probe.reason}")
        pytest.skip("bubblewrap is not installed")


def test_check_prints_levels_and_the_attack_table() -> None:
    _bwrap_works()
    res = runner.invoke(app, ["sandbox", "check", "--attack", "uid", "--attack", "read-shadow"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "isolation levels" in out and "unshare-hardened" in out
    assert "sandbox: bwrap: host file system hidden" in out
    assert "attack suite at bwrap" in out
    attacks = out.split("attack suite at bwrap", 1)[1]
    assert "run as uid 0" in attacks and "read /etc/shadow" in attacks
    assert "NO" not in attacks


def test_check_without_bwrap_refuses_with_exit_2(without_bwrap: None) -> None:
    res = runner.invoke(app, ["sandbox", "check"])
    assert res.exit_code == 2, res.output
    assert "bwrap is not installed" in res.stdout  # the levels table says why
    err = res.stderr.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "bubblewrap" in err and f"{ALLOW_WEAK_ENV}=1" in err
    assert "Traceback" not in res.output


def test_check_at_an_opted_in_weak_level_shows_what_gets_through(
    without_bwrap: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if Isolation.UNSHARE_HARDENED not in [p.level for p in probe_isolation() if p.ok]:
        pytest.skip("unshare-hardened does not work here")
    monkeypatch.setenv(ALLOW_WEAK_ENV, "1")
    res = runner.invoke(app, ["sandbox", "check", "--attack", "writes", "--attack", "read-passwd"])
    assert res.exit_code == 1, res.output
    assert "sandbox: unshare-hardened (opted in with" in res.stdout
    assert "read-only but NOT hidden" in res.stdout
    # The writes are refused (a read-only view); the visible host file system is reported.
    assert "Read-only file system" in res.stdout
    assert "the host file system is visible" in res.stdout
    assert "got through: read /etc/passwd" in " ".join(res.stderr.split())
    assert not list(Path.cwd().glob(".wb-sandbox-attack-*"))


def test_check_at_a_chosen_level_needs_the_opt_in_for_a_weak_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if Isolation.UNSHARE_HARDENED not in [p.level for p in probe_isolation() if p.ok]:
        pytest.skip("unshare-hardened does not work here")
    args = ["sandbox", "check", "--level", "unshare-hardened", "--attack", "read-passwd"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2, refused.output
    assert ALLOW_WEAK_ENV in refused.stderr and "Traceback" not in refused.output
    monkeypatch.setenv(ALLOW_WEAK_ENV, "1")
    res = runner.invoke(app, [*args, "--attack", "uid"])
    assert res.exit_code == 1, res.output
    assert "attack suite at unshare-hardened" in res.stdout
    assert "sandbox: unshare-hardened: WEAK" in res.stdout
    assert "the host file system is visible" in res.stdout
    unknown = runner.invoke(app, ["sandbox", "check", "--level", "nope"])
    assert unknown.exit_code == 2 and "unknown isolation" in unknown.stderr


def test_check_rejects_an_unknown_attack() -> None:
    res = runner.invoke(app, ["sandbox", "check", "--attack", "nope"])
    assert res.exit_code == 2
    assert "unknown attack" in res.stderr


def _stub_env(llm_stub: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llm_stub.url)  # type: ignore[attr-defined]
    monkeypatch.setenv("WORKBENCH_MODEL", "stub")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


CODE_MODE = ["formulate", TEXT, "--agent", "orthought", "--agent-option", "mode=code", "--json"]


def test_formulate_code_mode_shows_the_level_before_running(
    llm_stub: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bwrap_works()
    llm_stub.reply(json.dumps({"understanding": "u", "steps": "s", "code": CODE}))  # type: ignore[attr-defined]
    _stub_env(llm_stub, monkeypatch)
    res = runner.invoke(app, CODE_MODE)
    assert res.exit_code == 0, res.output
    assert res.stderr.startswith("sandbox: bwrap: host file system hidden")
    data = json.loads(res.stdout)
    assert data["result"]["objective"] == pytest.approx(24.0)
    assert data["result"]["diagnostics"]["sandbox"] == "bwrap"


def test_formulate_code_mode_refuses_without_bwrap_before_any_llm_call(
    llm_stub: object, monkeypatch: pytest.MonkeyPatch, without_bwrap: None
) -> None:
    _stub_env(llm_stub, monkeypatch)
    res = runner.invoke(app, CODE_MODE)
    assert res.exit_code == 2, res.output
    assert "bubblewrap" in res.stderr and ALLOW_WEAK_ENV in res.stderr
    assert llm_stub.chat_requests == []  # type: ignore[attr-defined]
    assert res.stdout == ""


def test_bench_in_code_mode_refuses_before_creating_a_run(
    llm_stub: object, monkeypatch: pytest.MonkeyPatch, without_bwrap: None, tmp_path: Path
) -> None:
    _stub_env(llm_stub, monkeypatch)
    store = tmp_path / "runs.db"
    args = ["bench", "--suite", "catalog", "--pipeline", "formulate", "--agent", "orthought",
            "--ids", "knapsack_01", "--store", str(store), "--agent-option", "mode=code"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "bubblewrap" in res.stderr and ALLOW_WEAK_ENV in res.stderr
    assert llm_stub.chat_requests == []  # type: ignore[attr-defined]
    assert not store.exists() or RunStore(store, readonly=True).runs() == []
