"""Isolation levels of the sandbox: detection and command lines.

Three levels, best first. Only ``bwrap`` meets the contract for generated
code (host file system hidden, unprivileged uid, no other process visible);
the two weaker ones run code only with an explicit opt-in
(:mod:`agents.sandbox.policy`), never as a silent fallback.

``bwrap``
    Bubblewrap: new PID, IPC, UTS, cgroup and (unless the network is asked for)
    network namespaces, a read-only view of ``/usr``, ``/lib*`` and the
    interpreter's prefix, a private ``/tmp`` and work directory (size-limited
    tmpfs), a fresh ``/proc`` and a minimal ``/dev``. The host file system is
    otherwise invisible. When the parent is
    root, bwrap runs without a user namespace and the runner drops to a fresh
    unprivileged uid before the generated code starts, so that
    ``RLIMIT_NPROC`` is enforced (the kernel exempts uid 0, also inside a user
    namespace that maps to it). When the parent is not root, bwrap creates a
    user namespace.
``unshare-hardened``
    util-linux ``unshare`` (new mount, PID with its own ``/proc``, network,
    IPC and UTS namespaces; a user namespace when the parent is not root), a
    mount stage that makes the whole system read-only and covers ``/tmp``,
    ``/home``, ``/root``, ``/run`` (and more) with fresh tmpfs, and ``setpriv``,
    which drops to a fresh unprivileged uid (parent is root) or drops every
    capability (user namespace). The host file system is read-only but *not
    hidden*, so it needs the opt-in; see :mod:`agents.sandbox.hardened` for
    what it does and does not contain.
``none``
    Only the resource limits, the empty environment, the temporary directory
    and the wall-clock kill. The network is *not* isolated.

Availability is probed lazily (on first use) and cached; nothing is probed at
import time.
"""

from __future__ import annotations

import enum
import functools
import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SANDBOX_DIR",
    "Isolation",
    "LevelProbe",
    "available_isolation",
    "interpreter_roots",
    "interpreter_world_readable",
    "probe_isolation",
]

SANDBOX_DIR = "/sandbox"
"""Where the work directory appears inside a bwrap sandbox."""

_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
_NET_ETC_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl")


class Isolation(enum.StrEnum):
    """The isolation level that applied to a sandboxed run."""

    BWRAP = "bwrap"
    UNSHARE_HARDENED = "unshare-hardened"
    NONE = "none"

    @property
    def isolates_network(self) -> bool:
        """Whether this level can cut the network (``none`` cannot)."""
        return self is not Isolation.NONE

    @property
    def contains_code(self) -> bool:
        """Whether this level meets the contract for generated code by itself.

        It must hide the host file system, run the code as an unprivileged
        uid and show it no other process: only ``bwrap`` does. The others run
        only with the explicit opt-in of :mod:`agents.sandbox.policy`.
        """
        return self is Isolation.BWRAP


def interpreter_roots() -> tuple[str, ...]:
    """Return the directories the interpreter needs, outermost first.

    These are ``sys.base_prefix``, ``sys.prefix``, the directory of the real
    ``sys.executable`` and the site-packages directories, with entries nested
    in another entry (or in ``/usr``) removed.

    Returns
    -------
    tuple of str
        Absolute, resolved, existing directories.
    """
    candidates = [sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parent.parent)]
    candidates += site.getsitepackages()
    resolved = sorted(
        {str(Path(p).resolve()) for p in candidates if p and Path(p).is_dir()}, key=len
    )
    roots: list[str] = []
    for path in resolved:
        covered = [*roots, *_SYSTEM_DIRS]
        if any(path == r or path.startswith(r.rstrip("/") + "/") for r in covered):
            continue
        roots.append(path)
    return tuple(roots)


def interpreter_world_readable() -> bool:
    """Whether an unprivileged uid can run this interpreter from the host file system.

    Every ancestor of every interpreter root must be searchable by others
    (``o+x``). Used by the ``none`` level, which sees the
    host file system, to decide whether the runner can drop privileges.
    """
    paths = [*interpreter_roots(), str(Path(sys.executable).resolve())]
    for path in paths:
        p = Path(path)
        for parent in [p, *p.parents]:
            try:
                mode = parent.stat().st_mode
            except OSError:
                return False
            if parent.is_dir() and not mode & 0o001:
                return False
    return True


def _bind_parents(path: str, made: set[str]) -> list[str]:
    """``--dir`` arguments (mode 0755) for the ancestors of *path* not yet made."""
    args: list[str] = []
    for parent in reversed(Path(path).parents):
        p = str(parent)
        if p == "/" or p in made or p in _SYSTEM_DIRS:
            continue
        made.add(p)
        args += ["--perms", "0755", "--dir", p]
    return args


def bwrap_command(
    inner: list[str],
    *,
    workdir: str,
    env: dict[str, str],
    network: bool,
    tmp_mb: int,
    as_root: bool,
    read_only: Sequence[str] = (),
    writable: Sequence[str] = (),
) -> list[str]:
    """Build the bubblewrap command line that runs *inner* in the sandbox.

    The mount order matters: the private ``/tmp`` is mounted before the
    interpreter's directories are bound, so that an interpreter or virtual
    environment that lives under ``/tmp`` stays visible.

    Parameters
    ----------
    inner
        The command to run inside, with paths as seen inside.
    workdir
        The host work directory. :data:`SANDBOX_DIR` inside is a fresh tmpfs
        of *tmp_mb* MiB (the code's scratch space, so it cannot fill the host
        disk); only the named files of *workdir* are bound into it.
    env
        The complete environment inside (bwrap clears its own first).
    network
        Share the host network instead of a new, empty network namespace.
    tmp_mb
        Size of the private ``/tmp`` and :data:`SANDBOX_DIR` tmpfs in MiB.
    as_root
        The parent is root: run without a user namespace, drop all
        capabilities but ``CAP_SETUID``/``CAP_SETGID`` (for the runner to drop
        to the sandbox uid). Otherwise create a user namespace.
    read_only, writable
        Names of files in *workdir* bound read-only or read-write at the same
        name in :data:`SANDBOX_DIR`.

    Returns
    -------
    list of str
        The argument vector, starting with the path of ``bwrap``.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise FileNotFoundError("bwrap")
    cmd = [bwrap]
    if not as_root:
        cmd.append("--unshare-user")
    cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    if not network:
        cmd.append("--unshare-net")
    cmd += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if as_root:
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    for d in _SYSTEM_DIRS:
        if os.path.islink(d):
            cmd += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            cmd += ["--ro-bind", d, d]
    cmd += ["--perms", "0755", "--dir", "/etc"]
    for f in _ETC_FILES + (_NET_ETC_FILES if network else ()):
        cmd += ["--ro-bind-try", f, f]
    size = str(tmp_mb * 1024 * 1024)
    # The private /tmp first: the interpreter binds below may live under /tmp.
    cmd += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
    made: set[str] = {"/tmp"}
    for root in interpreter_roots():
        cmd += _bind_parents(root, made)
        cmd += ["--ro-bind", root, root]
        made.add(root)
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    cmd += ["--perms", "1777", "--size", size, "--tmpfs", SANDBOX_DIR]
    for name in read_only:
        cmd += ["--ro-bind", os.path.join(workdir, name), f"{SANDBOX_DIR}/{name}"]
    for name in writable:
        cmd += ["--bind", os.path.join(workdir, name), f"{SANDBOX_DIR}/{name}"]
    cmd += ["--chdir", SANDBOX_DIR, "--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return [*cmd, "--", *inner]


PROBE_UID = 1_999_999_999
"""The unprivileged uid the probe drops to when the parent is root."""

_PROBE = (
    "import os, sys\n"
    "uid = int(sys.argv[1])\n"
    "if uid >= 0 and os.geteuid() == 0:\n"
    "    os.setgroups([]); os.setresgid(uid, uid, uid); os.setresuid(uid, uid, uid)\n"
    "os.execv(sys.executable, [sys.executable, '-I', '-c', 'import json, site, encodings.idna'])\n"
)


@dataclass(frozen=True)
class LevelProbe:
    """Whether one isolation level works here, and why not.

    Attributes
    ----------
    level
        The level probed.
    ok
        Whether the interpreter ran inside it (as the unprivileged uid the
        runner would use, when the parent is root and the level drops).
    reason
        Why it failed: the missing tool, or the exit status and the probe's
        stderr. Empty when ``ok``.
    """

    level: Isolation
    ok: bool
    reason: str = ""


def _probe(level: Isolation, cmd: list[str]) -> LevelProbe:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=20, env={}, check=False)
    except subprocess.TimeoutExpired:
        return LevelProbe(level, False, "the probe did not finish within 20 s")
    except OSError as e:
        return LevelProbe(level, False, f"could not start {cmd[0]}: {e}")
    if proc.returncode == 0:
        return LevelProbe(level, True)
    stderr = proc.stderr.decode("utf-8", errors="replace").strip()
    return LevelProbe(
        level, False, f"exit status {proc.returncode}: {stderr[-2000:] or '(no stderr)'}"
    )


@functools.cache
def _probe_all(executable: str, euid: int) -> tuple[LevelProbe, ...]:
    as_root = euid == 0
    probes: list[LevelProbe] = []
    bwrap_uid = PROBE_UID if as_root else -1
    if shutil.which("bwrap") is None:
        probes.append(LevelProbe(Isolation.BWRAP, False, "bwrap is not installed"))
    else:
        with tempfile.TemporaryDirectory(prefix="wb-sandbox-probe-") as workdir:
            inner = [executable, "-I", "-S", "-c", _PROBE, str(bwrap_uid)]
            cmd = bwrap_command(
                inner, workdir=workdir, env={}, network=False, tmp_mb=1, as_root=as_root
            )
            probes.append(_probe(Isolation.BWRAP, cmd))
    missing = [tool for tool in ("unshare", "setpriv") if shutil.which(tool) is None]
    if missing:
        why = f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed"
        probes.append(LevelProbe(Isolation.UNSHARE_HARDENED, False, why))
    else:
        from agents.sandbox.hardened import hardened_probe_command

        with tempfile.TemporaryDirectory(prefix="wb-sandbox-probe-") as workdir:
            cmd = hardened_probe_command(workdir, PROBE_UID if as_root else None)
            probes.append(_probe(Isolation.UNSHARE_HARDENED, cmd))
    probes.append(LevelProbe(Isolation.NONE, True))
    return tuple(probes)


def probe_isolation() -> tuple[LevelProbe, ...]:
    """Probe every isolation level once (cached per interpreter and uid).

    Each candidate is probed by running this interpreter inside it, as the
    unprivileged uid the runner would use when the parent is root. The
    ``unshare-hardened`` probe also checks what that level promises (``/``
    read-only, no capability left, no other process visible, the uid) and
    fails with the reason when one does not hold. A failure keeps the probe's
    stderr.

    Returns
    -------
    tuple of LevelProbe
        One per level, best first.
    """
    return _probe_all(sys.executable, os.geteuid())


def available_isolation() -> tuple[Isolation, ...]:
    """Return the isolation levels that work here, best first (cached).

    ``Isolation.NONE`` is always available. Use :func:`probe_isolation` for
    the reasons the others fail.

    Returns
    -------
    tuple of Isolation
        For example ``(Isolation.BWRAP, Isolation.UNSHARE_HARDENED, Isolation.NONE)``.
    """
    return tuple(p.level for p in probe_isolation() if p.ok)
