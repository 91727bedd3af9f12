"""The built-in attack suite: hostile code sent through :func:`run_code`.

``workbench sandbox check`` runs it at the level that would be used, and the
tests run it at every level the machine has and allows by default. Each
attack says whether it was contained and how; an attack that got through is
cleaned up (files removed, processes killed) before the suite goes on.

Every attack uses short limits so that the whole suite takes seconds; the
fork bomb, the infinite loop and the memory bomb are stopped by the sandbox's
own limits, never by the suite.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.sandbox.core import TAIL_CHARS, SandboxResult, SandboxStatus, proc_files, run_code
from agents.sandbox.isolation import Isolation, interpreter_roots
from agents.sandbox.policy import SandboxRefusedError, choose_isolation

__all__ = ["ATTACKS", "AttackOutcome", "run_attacks"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout the sandbox module lives in (the "project" the write attack targets)."""
FORK_LIMIT = 32
"""``max_procs`` of the fork bomb."""
_MARK = "wb-sandbox-attack"


@dataclass(frozen=True)
class AttackOutcome:
    """What one attack achieved.

    Attributes
    ----------
    name
        The attack, e.g. ``"read /etc/shadow"``.
    contained
        Whether the sandbox held (or refused to run the code).
    how
        One line: how it was contained, or what got through.
    """

    name: str
    contained: bool
    how: str


@dataclass(frozen=True)
class _Context:
    level: Isolation
    allow_weak: bool

    def run(self, code: str, **kwargs: Any) -> SandboxResult:
        kwargs.setdefault("timeout", 15)
        return run_code(code, isolation=self.level, allow_weak=self.allow_weak, **kwargs)


def _failed_run(res: SandboxResult) -> str:
    return f"the run ended {res.status.value}: {res.error}"


def _unexpected(name: str, res: SandboxResult) -> AttackOutcome:
    """An attack whose code did not run to its end: contained only if the sandbox stopped it."""
    stopped = res.status in (SandboxStatus.TIMEOUT, SandboxStatus.KILLED)
    how = _failed_run(res) if stopped else f"the attack did not run to its end: {res.error}"
    return AttackOutcome(name, stopped, how)


# ---- the file system ------------------------------------------------------------------

_READ = """
import os
out = {}
for path in inputs["paths"]:
    try:
        with open(path, "rb") as fh:
            out[path] = "read %d bytes" % len(fh.read(4096))
    except OSError as e:
        out[path] = "refused: " + (e.strerror or repr(e))
result = out
"""


def _read_file(ctx: _Context, name: str, path: str, visible: str = "") -> list[AttackOutcome]:
    """Read *path* inside; contained when the read is refused (*visible* explains a success)."""
    res = ctx.run(_READ, inputs={"paths": [path]})
    if not res.ok:
        return [_unexpected(name, res)]
    got = res.value[path]
    escaped = got.startswith("read")
    return [AttackOutcome(name, not escaped, f"{got}{visible}" if escaped else got)]


def _read_shadow(ctx: _Context) -> list[AttackOutcome]:
    return _read_file(ctx, "read /etc/shadow", "/etc/shadow")


def _read_system(ctx: _Context) -> list[AttackOutcome]:
    """A world-readable system file: only a level that hides the host file system refuses it."""
    name = "read /etc/passwd (host file system hidden?)"
    return _read_file(ctx, name, "/etc/passwd", ": the host file system is visible (read-only)")


_LIST_HOME = """
import os
home = inputs["home"]
try:
    entries = sorted(os.listdir(home))
except OSError as e:
    result = {"entries": None, "error": e.strerror or repr(e), "read": []}
else:
    read = []
    for entry in entries:
        path = os.path.join(home, entry)
        try:
            if os.path.isfile(path):
                with open(path, "rb") as fh:
                    fh.read(64)
                read.append(entry)
        except OSError:
            pass
    result = {"entries": entries, "error": None, "read": read}
"""


def _read_home(ctx: _Context) -> list[AttackOutcome]:
    name = "read the home directory"
    home = Path.home()
    res = ctx.run(_LIST_HOME, inputs={"home": str(home)})
    if not res.ok:
        return [_unexpected(name, res)]
    if res.value["entries"] is None:
        return [AttackOutcome(name, True, f"home not visible: {res.value['error']}")]
    # The interpreter's own directories may be bound under home (a ~/.venv).
    scaffold = {
        Path(root).relative_to(home).parts[0]
        for root in interpreter_roots()
        if Path(root).is_relative_to(home) and Path(root) != home
    }
    extra = sorted(set(res.value["entries"]) - scaffold)
    if res.value["read"] or extra:
        shown = ", ".join(extra[:5]) + ("..." if len(extra) > 5 else "")
        return [
            AttackOutcome(
                name,
                False,
                f"saw {len(extra)} host entries ({shown}); read {len(res.value['read'])} file(s)",
            )
        ]
    kept = f" (only the interpreter's bind: {', '.join(sorted(scaffold))})" if scaffold else ""
    return [AttackOutcome(name, True, f"home shows no host file{kept}")]


_WRITE = """
out = {}
for key, path in inputs["paths"].items():
    try:
        with open(path, "x") as fh:
            fh.write("escaped")
        out[key] = "written"
    except OSError as e:
        out[key] = "refused: " + (e.strerror or repr(e))
result = out
"""


def _writes(ctx: _Context) -> list[AttackOutcome]:
    token = secrets.token_hex(6)
    targets = {
        "home directory": Path.home(),
        "project": PROJECT_ROOT,
        "current directory": Path.cwd(),
    }
    paths = {key: str(d / f".{_MARK}-{key.split()[0]}-{token}") for key, d in targets.items()}
    res = ctx.run(_WRITE, inputs={"paths": paths})
    outcomes = []
    for key, path in paths.items():
        name = f"write to the {key}"
        escaped = Path(path).exists()
        if escaped:
            Path(path).unlink()
            outcomes.append(AttackOutcome(name, False, f"{path} was written on the host"))
        elif not res.ok:
            outcomes.append(_unexpected(name, res))
        else:
            outcomes.append(AttackOutcome(name, True, str(res.value[key])))
    return outcomes


# ---- other processes, the network, the uid -----------------------------------------------

_ENVIRON = """
import os
token = inputs["token"].encode()
me = os.getpid()
visible = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != me]
found, readable = [], []
for pid in sorted(set(visible) | {str(inputs["parent"]), str(inputs["holder"])}):
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            data = fh.read()
    except OSError:
        continue
    if data:
        readable.append(pid)
    if token in data:
        found.append(pid)
if any(inputs["token"] in v for v in os.environ.values()):
    found.append("os.environ")
names = []
for pid in sorted(visible, key=int)[:5]:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            names.append(f"{pid} {fh.read().strip()}")
    except OSError:
        names.append(pid)
result = {"visible": len(visible), "names": names, "readable": readable, "found": found}
"""


@contextlib.contextmanager
def _secret_holder(token: str) -> Iterator[int]:
    """A process whose initial environment holds *token*, as an API server's would."""
    env = {**os.environ, "OPENAI_API_KEY": token}
    proc = subprocess.Popen(["sleep", "60"], env=env, stdin=subprocess.DEVNULL)
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _environ(ctx: _Context) -> list[AttackOutcome]:
    name = "read a secret in another process's /proc/<pid>/environ"
    token = f"sk-{_MARK}-{secrets.token_hex(8)}"
    with _secret_holder(token) as holder:
        inputs = {"token": token, "parent": os.getpid(), "holder": holder}
        res = ctx.run(_ENVIRON, inputs=inputs)
    if not res.ok:
        return [_unexpected(name, res)]
    v = res.value
    shown = f" ({', '.join(v['names'])}{', ...' if v['visible'] > 5 else ''})" if v["names"] else ""
    how = f"{v['visible']} other process(es) visible{shown}, {len(v['readable'])} environ readable"
    if v["found"]:
        return [AttackOutcome(name, False, f"{how}; the secret was found in {v['found']}")]
    return [AttackOutcome(name, True, f"{how}; the secret was not found")]


_CONNECT = """
import socket
try:
    conn = socket.create_connection(("127.0.0.1", inputs["port"]), timeout=2)
    conn.sendall(b"leak")
    result = {"connected": True, "error": None}
except OSError as e:
    result = {"connected": False, "error": e.strerror or repr(e)}
"""


def _network(ctx: _Context) -> list[AttackOutcome]:
    name = "connect to a loopback server"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        server.setblocking(False)
        res = ctx.run(_CONNECT, inputs={"port": server.getsockname()[1]})
        ready, _, _ = select.select([server], [], [], 0.2)
    if ready:
        return [AttackOutcome(name, False, "the server accepted a connection from the sandbox")]
    if not res.ok:
        return [_unexpected(name, res)]
    if res.value["connected"]:
        return [AttackOutcome(name, False, "the code connected")]
    return [
        AttackOutcome(name, True, f"the server saw nothing; the code got: {res.value['error']}")
    ]


_UID = """
import os
try:
    os.setuid(0)
    regain = "setuid(0) succeeded"
except OSError as e:
    regain = "setuid(0): " + (e.strerror or repr(e))
result = {"uid": os.getuid(), "euid": os.geteuid(), "regain": regain}
"""


def _uid(ctx: _Context) -> list[AttackOutcome]:
    name = "run as uid 0"
    res = ctx.run(_UID)
    if not res.ok:
        return [_unexpected(name, res)]
    v = res.value
    root = v["uid"] == 0 or v["euid"] == 0
    return [AttackOutcome(name, not root, f"uid {v['uid']}, euid {v['euid']}; {v['regain']}")]


# ---- resources ------------------------------------------------------------------------------


def _descendants(root: int) -> int:
    """How many live processes descend from *root* (a /proc scan)."""
    children: dict[int, list[int]] = {}
    for pid, stat in proc_files("stat"):
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] in (b"Z", b"X"):
            continue
        children.setdefault(int(fields[1]), []).append(pid)
    count, todo = 0, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        count += 1
        todo += children.get(pid, [])
    return count


class _ProcessSampler:
    """Samples the number of this process's descendants in a thread; keeps the peak."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="wb-sampler")

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _descendants(os.getpid()))
            self._stop.wait(0.02)

    def __enter__(self) -> _ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


_FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


def _fork_bomb(ctx: _Context) -> list[AttackOutcome]:
    name = "fork bomb"
    before = _descendants(os.getpid())
    with _ProcessSampler() as sampler:
        res = ctx.run(_FORK_BOMB, timeout=2, max_procs=FORK_LIMIT)
    peak = sampler.peak - before
    left = _descendants(os.getpid()) - before
    bounded = peak <= FORK_LIMIT + 8 and left <= 0 and not res.ok
    how = (
        f"{res.status.value}; at most {peak} sandbox processes on the host "
        f"(limit {FORK_LIMIT}), {max(left, 0)} left after the run"
    )
    return [AttackOutcome(name, bounded, how)]


_MEMORY_BOMB = """
chunks = []
while True:
    chunks.append(bytearray(64 * 1024 * 1024))
"""


def _memory_bomb(ctx: _Context) -> list[AttackOutcome]:
    res = ctx.run(_MEMORY_BOMB, memory_mb=256, timeout=10)
    stopped = res.status is SandboxStatus.KILLED or res.error_type == "MemoryError"
    return [AttackOutcome("memory bomb", stopped, _failed_run(res))]


_DISK_FILLER = """
import os, tempfile
cap = inputs["cap_mb"]
block = b"0" * (1024 * 1024)
report, total = {}, 0
for d in dict.fromkeys([os.getcwd(), tempfile.gettempdir()]):
    error = None
    try:
        for i in range(cap):
            with open(os.path.join(d, f"fill-{i}.bin"), "wb") as fh:
                fh.write(block)
            total += 1
            if total >= cap:
                break
    except OSError as e:
        error = e.strerror or repr(e)
    report[d] = error
result = {"mb": total, "errors": report}
"""


def _disk_filler(ctx: _Context) -> list[AttackOutcome]:
    name = "disk filler"
    files_mb, cap = 8, 128
    res = ctx.run(_DISK_FILLER, files_mb=files_mb, inputs={"cap_mb": cap}, timeout=15)
    if not res.ok:
        return [_unexpected(name, res)]
    v = res.value
    stopped = all(v["errors"].values()) and v["mb"] < cap
    errors = "; ".join(f"{d}: {e}" for d, e in v["errors"].items())
    how = f"wrote {v['mb']} MiB in all (tmpfs of {files_mb} MiB each) before: {errors}"
    if not stopped:
        how = f"wrote {v['mb']} MiB unchecked (stopped by the attack's own cap of {cap} MiB)"
    return [AttackOutcome(name, stopped, how)]


def _infinite_loop(ctx: _Context) -> list[AttackOutcome]:
    res = ctx.run("while True:\n    pass", timeout=1.5, cpu_s=60)
    return [AttackOutcome("infinite loop", res.status is SandboxStatus.TIMEOUT, _failed_run(res))]


_ORPHAN = """
import subprocess, sys
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)", inputs["marker"]],
    start_new_session=True,
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
result = child.pid
"""


def _marked_processes(marker: str) -> list[int]:
    return [pid for pid, cmdline in proc_files("cmdline") if marker.encode() in cmdline]


def _orphan(ctx: _Context) -> list[AttackOutcome]:
    name = "orphan in a new session"
    marker = f"{_MARK}-orphan-{secrets.token_hex(6)}"
    res = ctx.run(_ORPHAN, inputs={"marker": marker})
    deadline = time.monotonic() + 1.0
    alive = _marked_processes(marker)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = _marked_processes(marker)
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    if alive:
        return [AttackOutcome(name, False, f"outlived the run (host pid {alive[0]}; killed now)")]
    if not res.ok:
        return [_unexpected(name, res)]
    return [AttackOutcome(name, True, f"started (pid {res.value} inside), gone after the run")]


_STDOUT = """
import sys
line = "x" * (1024 * 1024 - 1) + "\\n"
for _ in range(50):
    sys.stdout.write(line)
result = "printed"
"""


def _stdout_flood(ctx: _Context) -> list[AttackOutcome]:
    name = "50 MB of stdout"
    res = ctx.run(_STDOUT, timeout=15)
    if res.status not in (SandboxStatus.OK, SandboxStatus.KILLED):
        return [_unexpected(name, res)]
    kept = len(res.stdout)
    how = f"{res.status.value}; the parent kept the last {kept} characters of 50 MB"
    return [AttackOutcome(name, kept <= TAIL_CHARS, how)]


ATTACKS: dict[str, Callable[[_Context], list[AttackOutcome]]] = {
    "read-shadow": _read_shadow,
    "read-passwd": _read_system,
    "read-home": _read_home,
    "writes": _writes,
    "environ": _environ,
    "network": _network,
    "uid": _uid,
    "fork-bomb": _fork_bomb,
    "memory-bomb": _memory_bomb,
    "disk-filler": _disk_filler,
    "infinite-loop": _infinite_loop,
    "orphan": _orphan,
    "stdout": _stdout_flood,
}
"""The attacks by key; each yields one or more outcomes (``writes`` yields three)."""


def run_attacks(
    level: Isolation | str | None = None,
    *,
    allow_weak: bool | None = None,
    only: list[str] | None = None,
) -> tuple[Isolation | None, list[AttackOutcome]]:
    """Run the attack suite through :func:`~agents.sandbox.core.run_code`.

    Parameters
    ----------
    level
        The isolation level; ``None`` uses the level run_code would choose.
    allow_weak
        As for :func:`~agents.sandbox.core.run_code`.
    only
        Keys of :data:`ATTACKS` to run (default: all).

    Returns
    -------
    tuple
        The level the attacks ran at (``None`` when the sandbox refused, and
        then every outcome is "refused") and the outcomes in order.
    """
    keys = list(ATTACKS) if only is None else only
    unknown = [k for k in keys if k not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; choose from {list(ATTACKS)}")
    try:
        chosen = choose_isolation(level, allow_weak=allow_weak)
    except SandboxRefusedError as e:
        return None, [AttackOutcome(k, True, f"refused: {e}") for k in keys]
    ctx = _Context(chosen, allow_weak=not chosen.contains_code)
    outcomes: list[AttackOutcome] = []
    for key in keys:
        outcomes += ATTACKS[key](ctx)
    return chosen, outcomes
