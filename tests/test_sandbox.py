"""The sandbox for generated code: every attack is shown contained.

Most attacks are checked at the ``bwrap`` level (skipped where bubblewrap does
not work); the network attack is also checked at the forced ``unshare-net``
fallback.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from agents.sandbox import (
    Isolation,
    SandboxStatus,
    available_isolation,
    run_code,
    run_pyomo_model,
)
from agents.sandbox import core as sandbox_core
from workbench.errors import SandboxError

SECRET = "sk-secret-test"


def _need(level: Isolation) -> None:
    if level not in available_isolation():
        pytest.skip(f"isolation level {level.value!r} is not available here")


@pytest.fixture
def bwrap() -> Isolation:
    """The bwrap level, or skip."""
    _need(Isolation.BWRAP)
    return Isolation.BWRAP


def _live_processes_of(uid: int) -> list[int]:
    """Non-zombie processes whose real uid is *uid* (a /proc scan)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith(("Z", "X")):
            continue
        if int(fields["Uid"].split()[0]) == uid:
            found.append(int(entry))
    return found


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


def test_forced_unshare_fallback_runs_and_is_recorded() -> None:
    _need(Isolation.UNSHARE_NET)
    res = run_code("result = inputs['v']", inputs={"v": [1, 2]}, isolation="unshare-net")
    assert res.ok
    assert res.value == [1, 2]
    assert res.isolation is Isolation.UNSHARE_NET
    assert res.limits.network_isolated
    assert not res.limits.filesystem_isolated


def test_require_isolation_refuses_the_none_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_core, "available_isolation", lambda: (Isolation.NONE,))
    with pytest.raises(SandboxError, match="require_isolation"):
        run_code("result = 1", require_isolation=True)
    with pytest.raises(SandboxError, match="not available"):
        run_code("result = 1", isolation="bwrap")
    res = run_code("result = 1", timeout=20)
    assert res.ok
    assert res.isolation is Isolation.NONE
    assert not res.limits.network_isolated


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": -1}, {"memory_mb": 0}, {"isolation": "chroot"}, {"inputs": {"f": object()}}],
)
def test_misuse_raises_sandbox_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(SandboxError):
        run_code("result = 1", **kwargs)  # type: ignore[arg-type]


# ---- attacks -----------------------------------------------------------------------------

NET_ATTACK = """
import socket
try:
    conn = socket.create_connection(("127.0.0.1", inputs["port"]), timeout=2)
    conn.sendall(b"leak")
    result = {"connected": True, "error": None}
except OSError as e:
    result = {"connected": False, "error": repr(e)}
"""


@pytest.mark.parametrize("level", [Isolation.BWRAP, Isolation.UNSHARE_NET])
def test_network_is_contained(level: Isolation) -> None:
    _need(level)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        server.setblocking(False)
        port = server.getsockname()[1]
        res = run_code(NET_ATTACK, inputs={"port": port}, isolation=level, timeout=20)
        ready, _, _ = select.select([server], [], [], 0.3)
    assert res.ok, res.error
    assert res.value["connected"] is False
    assert res.value["error"]
    assert ready == [], "the parent's server saw a connection from the sandbox"


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


@pytest.mark.parametrize("level", [Isolation.UNSHARE_NET, Isolation.NONE])
def test_environment_is_empty_at_every_level(secret_holder: int, level: Isolation) -> None:
    _need(level)
    res = run_code("import os\nresult = dict(os.environ)", isolation=level, timeout=20)
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


FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


def test_fork_bomb_is_contained(bwrap: Isolation) -> None:
    started = time.monotonic()
    res = run_code(FORK_BOMB, timeout=2, max_procs=32, isolation=bwrap)
    elapsed = time.monotonic() - started
    assert res.status is SandboxStatus.TIMEOUT
    assert elapsed < 8
    deadline = time.monotonic() + 3
    while _live_processes_of(res.limits.uid) and time.monotonic() < deadline:
        time.sleep(0.05)
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
