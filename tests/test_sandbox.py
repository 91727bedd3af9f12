"""The sandbox for generated code: every attack is shown contained.

The built-in attack suite (:mod:`agents.sandbox.attacks`) runs at every level
the machine has and allows by default (``bwrap``); the weaker levels are shown
refused without the opt-in. Where bubblewrap is installed but does not work,
the bwrap tests fail with the probe's stderr instead of skipping. A few
attacks are also checked in more detail, and at the weaker levels with the
explicit opt-in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

import agents.sandbox
from agents.sandbox import (
    ALLOW_WEAK_ENV,
    Isolation,
    LevelProbe,
    SandboxRefusedError,
    SandboxStatus,
    available_isolation,
    plan_isolation,
    probe_isolation,
    run_code,
    run_pyomo_model,
)
from agents.sandbox import core as sandbox_core
from agents.sandbox import isolation as sandbox_isolation
from agents.sandbox import policy as sandbox_policy
from agents.sandbox.attacks import ATTACKS, run_attacks
from workbench.errors import SandboxError

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sk-secret-test"


def _need(level: Isolation) -> None:
    """Skip where *level* cannot exist here; fail (with the probe's stderr) where it should."""
    probe = next(p for p in probe_isolation() if p.level is level)
    if probe.ok:
        return
    if level is Isolation.BWRAP and shutil.which("bwrap") is not None:
        pytest.fail(f"bubblewrap is installed but the bwrap level fails: {probe.reason}")
    pytest.skip(f"isolation level {level.value!r} is not available here: {probe.reason}")


@pytest.fixture
def bwrap() -> Isolation:
    """The bwrap level; skipped only where bubblewrap is not installed."""
    _need(Isolation.BWRAP)
    return Isolation.BWRAP


@pytest.fixture
def no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The opt-in for weak levels is not set (whatever the caller's environment says)."""
    monkeypatch.delenv(ALLOW_WEAK_ENV, raising=False)


def _live_processes_of(uid: int) -> list[int]:
    """Non-zombie processes whose real uid is *uid* (a /proc scan)."""
    return sandbox_core._uid_processes(uid)


# ---- the JSON convention -------------------------------------------------------------


class Point(BaseModel):
    x: float
    label: str


def test_good_code_returns_validated_json() -> None:
    code = "result = {'x': inputs['a'] * 2, 'label': 'double'}"
    res = run_code(code, schema=Point, inputs={"a": 1.5}, timeout=20)
    assert res.ok, res.error
    assert isinstance(res.value, Point)
    assert res.value == Point(x=3.0, label="double")
    assert res.isolation is available_isolation()[0]


def test_emit_wins_and_stdout_is_kept() -> None:
    code = "print('working')\nresult = 1\nemit({'x': 2, 'label': 'emitted'})"
    res = run_code(code, schema=Point, timeout=20)
    assert res.ok
    assert res.value.label == "emitted"
    assert "working" in res.stdout


def test_schema_mismatch_is_an_error_result() -> None:
    res = run_code("result = {'x': 'not a number'}", schema=Point, timeout=20)
    assert res.status is SandboxStatus.INVALID_OUTPUT
    assert res.error_type == "SchemaError"
    assert "Point" in (res.error or "")
    assert res.raw_value == {"x": "not a number"}
    assert res.value is None


@pytest.mark.parametrize(
    ("code", "status", "fragment"),
    [
        ("x = 1", SandboxStatus.ERROR, "neither assigned"),
        ("result = object()", SandboxStatus.ERROR, "not JSON-serialisable"),
        ("result = float('nan')", SandboxStatus.ERROR, "not JSON-serialisable"),
        ("result = 'y' * 5000", SandboxStatus.ERROR, "over the limit"),
        (
            "import os\nopen('_result.json', 'w').write('{not json')\nos._exit(0)",
            SandboxStatus.INVALID_OUTPUT,
            "not valid JSON",
        ),
        (
            "import os\nopen('_result.json', 'w').write('[1, 2]')\nos._exit(0)",
            SandboxStatus.INVALID_OUTPUT,
            "malformed",
        ),
        (
            "import os\nopen('_result.json', 'w').write('z' * 9000)\nos._exit(0)",
            SandboxStatus.INVALID_OUTPUT,
            "over the limit",
        ),
        ("import os\nos._exit(0)", SandboxStatus.INVALID_OUTPUT, "no result"),
        ("import os\nos._exit(3)", SandboxStatus.ERROR, "status 3"),
    ],
)
def test_bad_output_is_a_clear_error_result(
    code: str, status: SandboxStatus, fragment: str
) -> None:
    res = run_code("print('tail-marker')\n" + code, timeout=20, max_result_bytes=4096)
    assert res.status is status
    assert fragment in (res.error or "")
    assert "tail-marker" in res.stdout


def test_exception_is_reported_with_traceback_of_the_generated_code() -> None:
    res = run_code("def f():\n    return 1 / 0\nf()", timeout=20)
    assert res.status is SandboxStatus.ERROR
    assert res.error_type == "ZeroDivisionError"
    assert 'File "<generated>", line 2' in (res.traceback or "")
    assert "_runner" not in (res.traceback or "")


def test_work_dir_is_deleted_afterwards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "base"
    base.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    res = run_code("open('scratch.txt', 'w').write('x')\nresult = 'done'", timeout=20)
    assert res.ok
    assert list(base.iterdir()) == []


# ---- isolation levels -------------------------------------------------------------------


def test_isolation_level_here_is_bwrap(bwrap: Isolation) -> None:
    res = run_code("result = 1", timeout=20)
    assert res.isolation is Isolation.BWRAP
    assert res.limits.network_isolated
    assert res.limits.filesystem_isolated
    if os.geteuid() == 0:
        assert res.limits.uid != 0
    assert res.limits.max_procs_enforced


def test_forced_hardened_fallback_runs_only_with_the_opt_in(no_opt_in: None) -> None:
    _need(Isolation.UNSHARE_HARDENED)
    with pytest.raises(SandboxRefusedError, match=ALLOW_WEAK_ENV):
        run_code("result = 1", isolation="unshare-hardened")
    res = run_code(
        "result = inputs['v']", inputs={"v": [1, 2]}, isolation="unshare-hardened", allow_weak=True
    )
    assert res.ok
    assert res.value == [1, 2]
    assert res.isolation is Isolation.UNSHARE_HARDENED
    assert res.limits.network_isolated
    assert res.limits.filesystem_read_only
    assert not res.limits.filesystem_isolated


BWRAP_BROKEN = LevelProbe(
    Isolation.BWRAP, False, "exit status 1: bwrap: execvp /x/bin/python: No such file or directory"
)


@pytest.fixture
def only_none(monkeypatch: pytest.MonkeyPatch, no_opt_in: None) -> None:
    """A machine where bwrap fails (with that stderr) and unshare is missing."""
    probes = (
        BWRAP_BROKEN,
        LevelProbe(Isolation.UNSHARE_HARDENED, False, "unshare and setpriv are not installed"),
        LevelProbe(Isolation.NONE, True),
    )
    monkeypatch.setattr(sandbox_policy, "probe_isolation", lambda: probes)


def test_no_silent_downgrade_refuses_and_names_the_fix(
    only_none: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SandboxRefusedError) as info:
        run_code("result = 1", timeout=20)
    message = str(info.value)
    assert "install bubblewrap" in message.lower()
    assert f"{ALLOW_WEAK_ENV}=1" in message
    assert "execvp /x/bin/python: No such file or directory" in message
    assert "\n" not in message
    plan = plan_isolation()
    assert plan.level is None and plan.refusal == message
    assert plan.describe().startswith("sandbox: refused")
    # The explicit opt-in, by environment variable or argument, runs at the weak level.
    monkeypatch.setenv(ALLOW_WEAK_ENV, "1")
    res = run_code("result = 1", timeout=20)
    assert res.ok
    assert res.isolation is Isolation.NONE
    assert not res.limits.network_isolated
    assert "WEAK" in plan_isolation().describe()
    assert run_code("result = 2", timeout=20, allow_weak=True).value == 2
    with pytest.raises(SandboxRefusedError, match="require_isolation"):
        run_code("result = 1", require_isolation=True)
    with pytest.raises(SandboxError, match="not available"):
        run_code("result = 1", isolation="bwrap")
    monkeypatch.setenv(ALLOW_WEAK_ENV, "0")
    with pytest.raises(SandboxRefusedError):
        run_code("result = 1", allow_weak=None)


def test_a_failing_probe_keeps_its_stderr(tmp_path: Path) -> None:
    """The probe's own failure path, with a real bwrap that cannot bind a missing path."""
    bwrap_path = shutil.which("bwrap")
    if bwrap_path is None:
        pytest.skip("bubblewrap is not installed")
    missing = tmp_path / "missing"
    cmd = [bwrap_path, "--ro-bind", str(missing), "/x", "true"]
    probe = sandbox_isolation._probe(Isolation.BWRAP, cmd)
    assert not probe.ok
    assert probe.reason.startswith("exit status 1:")
    assert str(missing) in probe.reason


def test_level_in_use_is_described(bwrap: Isolation, no_opt_in: None) -> None:
    plan = plan_isolation()
    assert plan.level is Isolation.BWRAP
    assert plan.describe().startswith("sandbox: bwrap: host file system hidden")


VENV_SCRIPT = """
import json, sys
import agents.sandbox as sb
# The default level (no opt-in), or the weak level named on the command line (opted in).
level = sys.argv[1] if len(sys.argv) > 1 else None
code = "import sys, os\\nresult = [sys.prefix, os.getuid()]"
res = sb.run_code(code, timeout=30, isolation=level, allow_weak=level is not None or None)
print(json.dumps({
    "module": sb.__file__,
    "prefix": sys.prefix,
    "probes": [[p.level.value, p.ok, p.reason] for p in sb.probe_isolation()],
    "isolation": res.isolation.value,
    "status": res.status.value,
    "value": res.value,
    "error": res.error,
}))
"""


@pytest.mark.parametrize("level", [Isolation.BWRAP, Isolation.UNSHARE_HARDENED])
def test_venv_under_tmp_runs_in_the_sandbox(tmp_path: Path, level: Isolation) -> None:
    """An interpreter in a virtual environment under /tmp stays visible inside the sandbox.

    bwrap is the level chosen by default (no opt-in); ``unshare-hardened``,
    which covers /tmp with a tmpfs too, is asked for with the opt-in.
    """
    _need(level)
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
        check=True,
        timeout=60,
    )
    assert str(venv).startswith(tempfile.gettempdir())
    env = {k: v for k, v in os.environ.items() if k != ALLOW_WEAK_ENV}
    args = [] if level is Isolation.BWRAP else [level.value]
    # cwd first on sys.path: the venv imports this checkout's sandbox, not the installed one.
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", VENV_SCRIPT, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(report["module"]).resolve() == ROOT / "agents" / "sandbox" / "__init__.py"
    assert report["prefix"] == str(venv)
    probe = next(p for p in report["probes"] if p[0] == level.value)
    assert probe[1], probe[2]
    assert report["isolation"] == level.value
    assert report["status"] == "ok", report["error"]
    prefix_inside, uid_inside = report["value"]
    assert prefix_inside == str(venv)
    if os.geteuid() == 0:
        assert uid_inside != 0


def test_the_runner_is_this_checkouts_copy() -> None:
    """The runner goes to the sandbox by file path, so a worktree tests its own runner."""
    assert Path(agents.sandbox.__file__).resolve().is_relative_to(ROOT)
    res = run_code("result = open('_runner.py').read()", timeout=20)
    assert res.ok, res.error
    assert res.value == (ROOT / "agents" / "sandbox" / "_runner.py").read_text()


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": -1}, {"memory_mb": 0}, {"isolation": "chroot"}, {"inputs": {"f": object()}}],
)
def test_misuse_raises_sandbox_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(SandboxError):
        run_code("result = 1", **kwargs)  # type: ignore[arg-type]


# ---- attacks -----------------------------------------------------------------------------


WRITE_ATTACK = """
outcome = {}
for path in inputs["paths"]:
    try:
        with open(path, "w") as fh:
            fh.write("escaped")
        outcome[path] = "written"
    except OSError as e:
        outcome[path] = repr(e)
result = outcome
"""


def test_writes_outside_the_work_dir_are_contained(tmp_path: Path, bwrap: Isolation) -> None:
    outside = tmp_path / "outside.txt"
    etc = Path("/etc") / f"wb-sandbox-escape-{os.getpid()}"
    res = run_code(WRITE_ATTACK, inputs={"paths": [str(outside), str(etc)]}, isolation=bwrap)
    assert res.ok, res.error
    assert not outside.exists()
    assert not etc.exists()
    assert res.value[str(etc)] != "written"


ENV_ATTACK = """
import os
found = []
if any("sk-secret" in v for v in os.environ.values()):
    found.append("os.environ")
pids = {"1", str(os.getppid()), str(inputs["helper_pid"])}
pids |= {p for p in os.listdir("/proc") if p.isdigit()}
for pid in sorted(pids):
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            if b"sk-secret-test" in fh.read():
                found.append(f"/proc/{pid}/environ")
    except OSError:
        pass
result = {"found": found, "keys": sorted(os.environ)}
"""


@pytest.fixture
def secret_holder(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A process whose *initial* environment holds the secret (as a real server's would)."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    proc = subprocess.Popen(["sleep", "30"], env={**os.environ, "OPENAI_API_KEY": SECRET})
    try:
        # The probe would find the secret where it can read: check it is there.
        environ = Path(f"/proc/{proc.pid}/environ")
        deadline = time.monotonic() + 5
        while SECRET.encode() not in environ.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert SECRET.encode() in environ.read_bytes()
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_parent_environment_is_not_visible(secret_holder: int, bwrap: Isolation) -> None:
    res = run_code(ENV_ATTACK, inputs={"helper_pid": secret_holder}, isolation=bwrap)
    assert res.ok, res.error
    assert res.value["found"] == []
    assert "OPENAI_API_KEY" not in res.value["keys"]


@pytest.mark.parametrize("level", [Isolation.UNSHARE_HARDENED, Isolation.NONE])
def test_environment_is_empty_at_every_level(secret_holder: int, level: Isolation) -> None:
    _need(level)
    res = run_code(
        "import os\nresult = dict(os.environ)", isolation=level, timeout=20, allow_weak=True
    )
    assert res.ok
    assert "OPENAI_API_KEY" not in res.value
    assert SECRET not in repr(res.value)


COUNT_FORKS = """
import os, time
pids = []
error = None
for _ in range(200):
    try:
        pid = os.fork()
    except OSError as e:
        error = repr(e)
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    pids.append(pid)
result = {"forked": len(pids), "error": error}
"""


def test_process_limit_is_enforced(bwrap: Isolation) -> None:
    res = run_code(COUNT_FORKS, max_procs=16, isolation=bwrap, timeout=20)
    assert res.ok, res.error
    assert res.limits.max_procs_enforced
    assert res.value["forked"] < 16
    assert "Resource temporarily unavailable" in res.value["error"]
    # The sleeping children died with the sandbox.
    assert _live_processes_of(res.limits.uid) == []


@pytest.mark.parametrize(
    "code",
    [
        "x = bytearray(10 * 1024**3)",
        "chunks = []\nfor _ in range(200):\n    chunks.append(bytearray(64 * 1024**2))",
        "import numpy as np\nx = np.ones(10 * 1024**3 // 8)",
    ],
    ids=["one-block", "chunks", "numpy"],
)
def test_memory_bomb_is_contained(code: str) -> None:
    res = run_code(code, memory_mb=256, timeout=20)
    assert res.status in (SandboxStatus.ERROR, SandboxStatus.KILLED)
    assert "MemoryError" in (res.error or "") or res.status is SandboxStatus.KILLED
    # The parent is fine.
    assert len(bytearray(10 * 1024**2)) == 10 * 1024**2


def test_infinite_loop_is_killed_at_the_wall_clock_limit() -> None:
    started = time.monotonic()
    res = run_code("while True:\n    pass", timeout=2, cpu_s=60)
    assert res.status is SandboxStatus.TIMEOUT
    assert "wall-clock" in (res.error or "")
    assert time.monotonic() - started < 6


def test_cpu_limit_kills(bwrap: Isolation) -> None:
    res = run_code("while True:\n    pass", timeout=10, cpu_s=1, isolation=bwrap)
    assert res.status is SandboxStatus.KILLED
    assert "CPU-time limit" in (res.error or "")


def test_file_size_limit() -> None:
    code = "open('big.bin', 'wb').write(b'0' * (3 * 1024**2))\nresult = 'written'"
    res = run_code(code, files_mb=1, timeout=20)
    assert res.status is SandboxStatus.ERROR
    assert "File too large" in (res.error or "")


# ---- Pyomo ---------------------------------------------------------------------------------

PYOMO_MODEL = """
import pyomo.environ as pyo
model = pyo.ConcreteModel()
model.I = pyo.Set(initialize=[("a", 1), ("b", 2)])
model.x = pyo.Var(model.I, bounds=(0, 3))
model.y = pyo.Var(within=pyo.NonNegativeReals)
model.profit = pyo.Objective(
    expr=3 * model.x["a", 1] + 3 * model.x["b", 2] + 2 * model.y, sense=pyo.maximize
)
model.capacity = pyo.Constraint(expr=sum(model.x.values()) + model.y <= inputs["cap"])
"""


def test_pyomo_model_is_solved_in_the_sandbox() -> None:
    res = run_pyomo_model(PYOMO_MODEL, solver="appsi_highs", inputs={"cap": 4}, timeout=30)
    assert res.ok, (res.error, res.stderr)
    assert res.value["termination"] == "optimal"
    assert res.value["objective"] == pytest.approx(12.0)
    xs = res.value["values"]["x"]
    assert set(xs) == {"a,1", "b,2"}
    assert sum(xs.values()) == pytest.approx(4.0)
    assert res.value["values"]["y"] == pytest.approx(0.0)
    assert "HiGHS" in res.value["solver_log"]
    if Isolation.BWRAP in available_isolation():
        assert res.isolation is Isolation.BWRAP


def test_pyomo_infeasible_is_a_value() -> None:
    code = PYOMO_MODEL + "model.floor = pyo.Constraint(expr=model.y >= 10)\n"
    res = run_pyomo_model(code, inputs={"cap": 4}, timeout=30)
    assert res.ok
    assert res.value["termination"] == "infeasible"
    assert res.value["objective"] is None


def test_pyomo_without_model_is_an_error_result() -> None:
    res = run_pyomo_model("import pyomo.environ as pyo\nm = pyo.ConcreteModel()", timeout=30)
    assert res.status is SandboxStatus.ERROR
    assert "named `model`" in (res.error or "")


# ---- the built-in attack suite ---------------------------------------------------------------


def _default_levels() -> list[Isolation]:
    """Levels that run code without the opt-in (whether or not this machine has them)."""
    return [level for level in Isolation if level.contains_code]


@pytest.mark.parametrize("key", list(ATTACKS))
@pytest.mark.parametrize("level", _default_levels())
def test_attack_suite_is_contained(level: Isolation, key: str, no_opt_in: None) -> None:
    _need(level)
    used, outcomes = run_attacks(level, only=[key])
    assert used is level
    assert outcomes
    for outcome in outcomes:
        assert outcome.contained, f"{outcome.name}: {outcome.how}"
        assert outcome.how and "\n" not in outcome.how


@pytest.mark.parametrize("level", [lv for lv in Isolation if not lv.contains_code])
def test_weak_levels_refuse_the_attack_suite_by_default(level: Isolation, no_opt_in: None) -> None:
    _need(level)
    used, outcomes = run_attacks(level)
    assert used is None
    assert len(outcomes) == len(ATTACKS)
    assert all(o.contained and o.how.startswith("refused:") for o in outcomes)
    assert all(ALLOW_WEAK_ENV in o.how for o in outcomes)


def test_the_suite_reports_what_gets_through_at_a_weak_level(tmp_path: Path) -> None:
    """The checks can fail: at the opted-in ``none`` level the loopback server is reached."""
    used, outcomes = run_attacks(Isolation.NONE, allow_weak=True, only=["network", "orphan"])
    assert used is Isolation.NONE
    network, orphan = outcomes
    assert not network.contained and "accepted a connection" in network.how
    assert not orphan.contained and "outlived the run" in orphan.how


HOSTILE = {
    "exception": "raise RuntimeError('line one\\nline two')",
    "memory": "x = bytearray(8 * 1024**3)",
    "exit": "import os\nos._exit(7)",
    "loop": "while True:\n    pass",
    "schema": "result = {'x': 'no', 'label': 3}",
}


@pytest.mark.parametrize("key", list(HOSTILE))
def test_bad_input_is_a_one_line_non_ok_result(key: str, bwrap: Isolation) -> None:
    res = run_code(HOSTILE[key], schema=Point, timeout=1.5, memory_mb=256, cpu_s=30)
    assert res.status is not SandboxStatus.OK
    assert res.error and "\n" not in res.error
    assert res.isolation is bwrap


def test_pyomo_local_solver_optimum_is_only_local_on_nonlinear_code() -> None:
    from agents.sandbox.pyomo_run import sandbox_termination
    from workbench.result import Termination

    opt, loc = Termination.OPTIMAL, Termination.LOCALLY_OPTIMAL
    assert sandbox_termination("optimal", "ipopt", True) is loc
    assert sandbox_termination("optimal", "ipopt", False) is opt  # an LP: ipopt's optimum is global
    assert sandbox_termination("locallyOptimal", "couenne", True) is loc
    assert sandbox_termination("optimal", "couenne", True) is opt
    assert sandbox_termination("optimal", "my_solver", True) is loc  # unknown counts as local
    assert sandbox_termination("optimal", "highs", True) is opt  # refuses what it cannot prove
    assert sandbox_termination("infeasible", "ipopt", True) is Termination.INFEASIBLE


def test_pyomo_driver_reports_nonlinearity() -> None:
    code = PYOMO_MODEL.replace("+ 2 * model.y,", "+ 2 * model.y - model.y**2,")
    res = run_pyomo_model(code, solver="highs", inputs={"cap": 4}, timeout=60)
    assert res.ok, (res.error, res.stderr)
    assert res.value["nonlinear"] is True and res.value["termination"] == "optimal"
    lin = run_pyomo_model(PYOMO_MODEL, solver="appsi_highs", inputs={"cap": 4}, timeout=30)
    assert lin.value["nonlinear"] is False
