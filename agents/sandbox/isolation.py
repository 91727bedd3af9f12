"""Isolation levels of the sandbox: detection and command lines.

Three levels, best first:

``bwrap``
    Bubblewrap: new PID, IPC, UTS, cgroup and (unless the network is asked for)
    network namespaces, a read-only view of ``/usr``, ``/lib*`` and the
    interpreter's prefix, a private ``/tmp``, a fresh ``/proc`` and a minimal
    ``/dev``. The host file system is otherwise invisible. When the parent is
    root, bwrap runs without a user namespace and the runner drops to a fresh
    unprivileged uid before the generated code starts, so that
    ``RLIMIT_NPROC`` is enforced (the kernel exempts uid 0, also inside a user
    namespace that maps to it). When the parent is not root, bwrap creates a
    user namespace.
``unshare-net``
    ``unshare --net --pid --fork --kill-child``: no network and a PID namespace,
    but the host file system is visible (protected only by file permissions,
    when the runner can drop to an unprivileged uid).
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
from pathlib import Path

__all__ = [
    "SANDBOX_DIR",
    "Isolation",
    "available_isolation",
    "interpreter_roots",
    "interpreter_world_readable",
]

SANDBOX_DIR = "/sandbox"
"""Where the work directory appears inside a bwrap sandbox."""

_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
_NET_ETC_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl")


class Isolation(enum.StrEnum):
    """The isolation level that applied to a sandboxed run."""

    BWRAP = "bwrap"
    UNSHARE_NET = "unshare-net"
    NONE = "none"

    @property
    def isolates_network(self) -> bool:
        """Whether this level can cut the network (``none`` cannot)."""
        return self is not Isolation.NONE


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
    (``o+x``). Used by the ``unshare-net`` and ``none`` levels, which see the
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
) -> list[str]:
    """Build the bubblewrap command line that runs *inner* in the sandbox.

    Parameters
    ----------
    inner
        The command to run inside, with paths as seen inside.
    workdir
        The host work directory, bound read-write at :data:`SANDBOX_DIR`.
    env
        The complete environment inside (bwrap clears its own first).
    network
        Share the host network instead of a new, empty network namespace.
    tmp_mb
        Size of the private ``/tmp`` tmpfs in MiB.
    as_root
        The parent is root: run without a user namespace, drop all
        capabilities but ``CAP_SETUID``/``CAP_SETGID`` (for the runner to drop
        to the sandbox uid). Otherwise create a user namespace.

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
    for f in _ETC_FILES + (_NET_ETC_FILES if network else ()):
        cmd += ["--ro-bind-try", f, f]
    made: set[str] = set()
    for root in interpreter_roots():
        cmd += _bind_parents(root, made)
        cmd += ["--ro-bind", root, root]
        made.add(root)
    cmd += ["--perms", "1777", "--size", str(tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    cmd += ["--bind", workdir, SANDBOX_DIR, "--chdir", SANDBOX_DIR, "--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return [*cmd, "--", *inner]


def unshare_command(inner: list[str], *, as_root: bool) -> list[str]:
    """Build the ``unshare`` command line (new network and PID namespaces) around *inner*."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise FileNotFoundError("unshare")
    cmd = [unshare]
    if not as_root:
        cmd.append("--map-root-user")
    return [*cmd, "--net", "--pid", "--fork", "--kill-child", "--", *inner]


def _probe(cmd: list[str]) -> bool:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=20, env={}, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


@functools.cache
def available_isolation() -> tuple[Isolation, ...]:
    """Return the isolation levels that work here, best first (cached).

    Each candidate is probed once by running the interpreter inside it.
    ``Isolation.NONE`` is always available.

    Returns
    -------
    tuple of Isolation
        For example ``(Isolation.BWRAP, Isolation.UNSHARE_NET, Isolation.NONE)``.
    """
    as_root = os.geteuid() == 0
    probe = [sys.executable, "-I", "-S", "-c", "pass"]
    levels: list[Isolation] = []
    if shutil.which("bwrap"):
        with tempfile.TemporaryDirectory(prefix="wb-sandbox-probe-") as workdir:
            cmd = bwrap_command(
                probe, workdir=workdir, env={}, network=False, tmp_mb=1, as_root=as_root
            )
            if _probe(cmd):
                levels.append(Isolation.BWRAP)
    if shutil.which("unshare") and _probe(unshare_command(probe, as_root=as_root)):
        levels.append(Isolation.UNSHARE_NET)
    levels.append(Isolation.NONE)
    return tuple(levels)
