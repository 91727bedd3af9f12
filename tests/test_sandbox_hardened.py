"""The opted-in ``unshare-hardened`` level: the attack suite, and its user-namespace form.

The suite runs through :func:`run_code` with the opt-in given, so each attack
is really sent. The level is weaker than bwrap in one way the suite shows: the
host file system is read-only but visible (``/etc/passwd`` is read). Every
other attack must be contained. When the parent is not root there is no
distinct uid to drop to and the code runs as uid 0 of a user namespace (your
uid outside), which the ``uid`` attack reports.

The user-namespace form is checked for real as well: the tests here run as
root, so the mount stage is started as ``nobody`` (via ``setpriv``) with the
system interpreter, and hostile code inside tries to undo the mounts, write
to the host, see other processes, reach the network and fork past its limit.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.sandbox import ALLOW_WEAK_ENV, Isolation, SandboxRefusedError, probe_isolation, run_code
from agents.sandbox.attacks import ATTACKS, run_attacks
from agents.sandbox.hardened import HARDENED_DIR, STAGE, hardened_command
from agents.sandbox.policy import plan_isolation

HARDENED = Isolation.UNSHARE_HARDENED
NOBODY = 65534
MINIMAL_DEV = {
    "fd",
    "full",
    "null",
    "random",
    "shm",
    "stderr",
    "stdin",
    "stdout",
    "tty",
    "urandom",
    "zero",
}
SYSTEM_PYTHON = "/usr/bin/python3"

# What gets through at this level, by design (the suite must say so, not hide it).
GETS_THROUGH = {"read-passwd"} | (set() if os.geteuid() == 0 else {"uid"})


@pytest.fixture
def hardened(monkeypatch: pytest.MonkeyPatch) -> Isolation:
    """The hardened level with the opt-in set; skipped where unshare or setpriv fail here."""
    probe = next(p for p in probe_isolation() if p.level is HARDENED)
    if not probe.ok:
        if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("setpriv"):
            pytest.fail(f"unshare and setpriv are installed but the level fails: {probe.reason}")
        pytest.skip(f"unshare-hardened is not available here: {probe.reason}")
    monkeypatch.setenv(ALLOW_WEAK_ENV, "1")
    return HARDENED


@pytest.mark.parametrize("key", list(ATTACKS))
def test_attack_suite_at_the_hardened_level(hardened: Isolation, key: str) -> None:
    used, outcomes = run_attacks(hardened, only=[key])
    assert used is hardened
    assert outcomes
    for outcome in outcomes:
        assert outcome.how and "\n" not in outcome.how
        if key in GETS_THROUGH:
            assert not outcome.contained, (
                f"{outcome.name} is expected to get through: {outcome.how}"
            )
        else:
            assert outcome.contained, f"{outcome.name}: {outcome.how}"


def test_hardened_level_needs_the_opt_in(
    hardened: Isolation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_WEAK_ENV)
    with pytest.raises(SandboxRefusedError, match=ALLOW_WEAK_ENV):
        run_code("result = 1", isolation=hardened)
    used, outcomes = run_attacks(hardened, only=["uid"])
    assert used is None and outcomes[0].how.startswith("refused:")


def test_hardened_run_reports_its_limits(hardened: Isolation) -> None:
    code = "import os, tempfile\nresult = [os.getcwd(), tempfile.gettempdir(), sorted(os.listdir('.'))]"
    res = run_code(code, isolation=hardened, timeout=20)
    assert res.ok, res.error
    cwd, tmp, entries = res.value
    assert (cwd, tmp) == (HARDENED_DIR, "/tmp")
    assert "generated.py" in entries and "_result.json" in entries
    assert res.limits.network_isolated and res.limits.filesystem_read_only
    assert not res.limits.filesystem_isolated
    assert res.limits.max_procs_enforced
    if os.geteuid() == 0:
        assert res.limits.uid >= 2_000_000_000
    assert plan_isolation(allow_weak=True).level in (Isolation.BWRAP, hardened)


def test_dev_is_minimal_and_works(hardened: Isolation) -> None:
    code = (
        "import os, subprocess\n"
        "open('/dev/shm/x', 'w').write('ok')\n"
        "rc = subprocess.run(['true'], stdout=subprocess.DEVNULL).returncode\n"
        "result = [sorted(os.listdir('/dev')), rc, len(os.urandom(8))]"
    )
    res = run_code(code, isolation=hardened, timeout=20)
    assert res.ok, res.error
    names, rc, random_bytes = res.value
    assert set(names) <= MINIMAL_DEV and "null" in names
    assert (rc, random_bytes) == (0, 8)


def test_cpu_limit_kills_at_the_hardened_level(hardened: Isolation) -> None:
    res = run_code("while True:\n    pass", timeout=10, cpu_s=1, isolation=hardened)
    assert res.error and "CPU-time limit" in res.error, (res.status, res.error)


def test_network_is_refused_at_the_hardened_level(hardened: Isolation) -> None:
    with pytest.raises(Exception, match="cannot be combined with network=True"):
        run_code("result = 1", isolation=hardened, network=True)


# ---- the user-namespace form (parent not root) ------------------------------------------

USERNS_ATTACKS = r"""
import ctypes, json, os, resource, socket, time
inputs = json.load(open("inputs.json"))
out = {"uid": os.getuid()}
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
out["cap_eff"] = status["CapEff"].strip()
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(rc):
    return "succeeded" if rc == 0 else os.strerror(ctypes.get_errno())
out["umount /root"] = errno_of(libc.umount2(b"/root", 2))
out["remount / rw"] = errno_of(libc.mount(None, b"/", None, 32 | 4096, None))
for key, path in inputs["writes"].items():
    try:
        open(path, "x").write("escaped")
        out[key] = "written"
    except OSError as e:
        out[key] = e.strerror
out["root entries"] = os.listdir("/root")
out["dev"] = sorted(os.listdir("/dev"))
out["others"] = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
try:
    socket.create_connection(("127.0.0.1", inputs["port"]), timeout=2)
    out["connect"] = "connected"
except OSError as e:
    out["connect"] = e.strerror
resource.setrlimit(resource.RLIMIT_NPROC, (inputs["nproc"], inputs["nproc"]))
forked, error = 0, None
for _ in range(200):
    try:
        pid = os.fork()
    except OSError as e:
        error = e.strerror
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    forked += 1
out["forked"], out["fork error"] = forked, error
open("out.json", "w").write(json.dumps(out))
"""


def _world_readable(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in path.parents) and bool(
        path.stat().st_mode & stat.S_IROTH
    )


@pytest.fixture
def nobody_workdir() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("starting the stage as another uid needs root")
    if not Path(SYSTEM_PYTHON).exists() or not (
        shutil.which("unshare") and shutil.which("setpriv")
    ):
        pytest.skip("needs the system python3, unshare and setpriv")
    if not _world_readable(STAGE):
        pytest.skip(f"{STAGE} is not readable by other users")
    workdir = Path(tempfile.mkdtemp(prefix="wb-userns-"))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir)


def test_user_namespace_form_holds_against_hostile_code(nobody_workdir: Path) -> None:
    """As ``nobody``: uid 0 inside with no capability, the mounts stay, host writes refused."""
    home_target = Path.home() / f".wb-userns-{os.getpid()}"
    etc_target = Path("/etc") / f"wb-userns-{os.getpid()}"
    # A directory nobody may write on the host: only a broken read-only view lets it through.
    open_dir = Path(tempfile.mkdtemp(prefix="wb-userns-open-", dir="/"))
    open_dir.chmod(0o777)
    writes = {"home": str(home_target), "etc": str(etc_target), "host dir": str(open_dir / "x")}
    nproc = 12
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        inputs = {"writes": writes, "port": server.getsockname()[1], "nproc": nproc}
        (nobody_workdir / "attack.py").write_text(USERNS_ATTACKS)
        (nobody_workdir / "inputs.json").write_text(json.dumps(inputs))
        (nobody_workdir / "out.json").touch()
        for path in [nobody_workdir, *nobody_workdir.iterdir()]:
            os.chown(path, NOBODY, NOBODY)
        inner = [SYSTEM_PYTHON, "-I", "-S", f"{HARDENED_DIR}/attack.py"]
        cmd = hardened_command(
            inner,
            workdir=str(nobody_workdir),
            tmp_mb=8,
            drop_uid=None,
            read_only=["attack.py", "inputs.json"],
            writable=["out.json"],
            python=SYSTEM_PYTHON,
        )
        as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
        proc = subprocess.run(
            as_nobody + cmd, capture_output=True, text=True, timeout=60, env={}, check=False
        )
    try:
        if proc.returncode != 0 and "unshare failed" in proc.stderr:
            pytest.skip(f"unprivileged user namespaces are not available: {proc.stderr.strip()}")
        assert proc.returncode == 0, proc.stderr
        out = json.loads((nobody_workdir / "out.json").read_text())
        assert out["uid"] == 0  # uid 0 inside the user namespace (nobody outside) ...
        assert int(out["cap_eff"], 16) == 0  # ... with no capability left, so:
        assert out["umount /root"] == "Operation not permitted"
        assert out["remount / rw"] == "Operation not permitted"
        assert out["home"] == "Read-only file system"
        assert out["etc"] == "Read-only file system"
        assert out["host dir"] == "Read-only file system"
        assert out["root entries"] == []
        assert set(out["dev"]) <= MINIMAL_DEV, out["dev"]
        assert out["others"] == []
        assert out["connect"] == "Network is unreachable"
        # RLIMIT_NPROC counts the namespace's processes (unshare and the stage included).
        assert out["forked"] < nproc
        assert out["fork error"] == "Resource temporarily unavailable"
    finally:
        escaped = [p for p in (home_target, etc_target, open_dir / "x") if p.exists()]
        for path in escaped:
            path.unlink()
        shutil.rmtree(open_dir)
        assert escaped == []
