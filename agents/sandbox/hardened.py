"""The ``unshare-hardened`` level: util-linux ``unshare`` + a mount stage + ``setpriv``.

For opted-in users on machines without a working bubblewrap. The command is

``unshare [--user --map-root-user] --pid --fork --kill-child --mount --mount-proc
--net --ipc --uts --cgroup -- python -I -S _stage.py SPEC``

and the stage (:mod:`agents.sandbox._stage`), still privileged inside the new
namespaces, remounts the whole system read-only and ``nosuid``, replaces
``/dev`` with a minimal one, covers
``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/home``, ``/root``, ``/run`` and the
parent's home with fresh size-limited tmpfs (binding the interpreter back),
mounts the work directory as a tmpfs with the run's files bound in, and
starts ``setpriv`` (staying on as the namespace's init), which drops
privileges before the runner starts:

* **Parent is root** (this machine, CI, most containers): no user namespace;
  ``setpriv`` switches to a fresh unprivileged uid/gid chosen per run (no
  supplementary groups, empty bounding set, ``no_new_privs``), so
  ``RLIMIT_NPROC`` holds (the kernel exempts only uid 0) and root-only files
  such as ``/etc/shadow`` are refused.
* **Parent is not root**: ``unshare --user --map-root-user`` (needs unprivileged
  user namespaces). Only one uid is mapped, so there is no distinct uid to drop
  to: the code runs as uid 0 *inside* (your uid outside) with every capability
  dropped (empty bounding set, ``noroot`` securebits, ``no_new_privs``), so it
  cannot undo the mounts. ``RLIMIT_NPROC`` is counted per user namespace
  (kernel 5.14 and later; measured on 6.18), so it bounds the sandbox's own
  processes, whatever else your uid runs; on older kernels it counts all of
  your uid's processes. The code can read whatever your uid can outside the
  covered directories, and it may signal the sandbox's own init (ending its
  own run).

Why this is still weaker than ``bwrap`` (and stays behind the opt-in): the
host file system is **read-only, not hidden** — everything outside the covered
directories (``/etc``, ``/opt``, ``/srv``, the project, ...) is readable as far
as file permissions allow an unprivileged uid; Unix sockets that live outside
the covered directories stay connectable (a read-only mount does not stop
``connect``); and the host's ``/sys`` is visible (read-only). ``/dev`` is a
minimal one (``null``, ``zero``, ``full``, ``random``,
``urandom``, ``tty``, a private ``/dev/shm``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from agents.sandbox.isolation import interpreter_roots

__all__ = ["HARDENED_DIR", "PRIVATE_DIRS", "STAGE", "hardened_command", "hardened_probe_command"]

HARDENED_DIR = "/tmp/sandbox"
"""Where the work directory (a tmpfs) appears inside the ``unshare-hardened`` level."""

PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/home", "/root", "/run")
"""Covered by a fresh tmpfs inside (with the parent's home directory)."""

_SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
STAGE = Path(__file__).with_name("_stage.py")
"""The mount stage's file, run by path (never imported)."""

_PROBE = """
import json, os, site, sys, encodings.idna
expect_uid = int(sys.argv[1])
problems = []
if not os.statvfs("/").f_flag & os.ST_RDONLY:
    problems.append("/ is writable")
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
if int(status["CapEff"].strip(), 16) or int(status["CapBnd"].strip(), 16):
    problems.append("capabilities kept: " + status["CapEff"].strip())
if expect_uid >= 0 and os.geteuid() != expect_uid:
    problems.append(f"runs as uid {os.geteuid()}, not {expect_uid}")
# Pid 1 is the sandbox's own init (the mount stage).
others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
if others:
    problems.append(f"{len(others)} other process(es) visible")
if problems:
    sys.exit("sandbox probe: " + "; ".join(problems))
"""


def _drop_args(drop_uid: int | None) -> list[str]:
    """``setpriv`` options: a fresh uid (parent is root), or no capabilities (user namespace)."""
    common = ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    if drop_uid is not None:
        return [f"--reuid={drop_uid}", f"--regid={drop_uid}", "--clear-groups", *common]
    securebits = "+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked,+keep_caps_locked"
    return [f"--securebits={securebits}", *common]


def hardened_command(
    inner: list[str],
    *,
    workdir: str,
    tmp_mb: int,
    drop_uid: int | None,
    read_only: Sequence[str] = (),
    writable: Sequence[str] = (),
    python: str | None = None,
) -> list[str]:
    """Build the ``unshare-hardened`` command line that runs *inner* in the sandbox.

    Parameters
    ----------
    inner
        The command to run inside, with paths as seen inside (the work
        directory is :data:`HARDENED_DIR`).
    workdir
        The host work directory; only its named files are bound in.
    tmp_mb
        Size of each private tmpfs in MiB (``/tmp``, the work directory, ...).
    drop_uid
        The fresh uid/gid to run *inner* as (the parent is root); ``None``
        creates a user namespace and drops every capability instead.
    read_only, writable
        Names of files in *workdir* bound read-only or read-write at the same
        name in :data:`HARDENED_DIR`.
    python
        The interpreter that runs the mount stage (default: this one).

    Returns
    -------
    list of str
        The argument vector, starting with the path of ``unshare``.

    Raises
    ------
    FileNotFoundError
        When ``unshare`` or ``setpriv`` is not installed.
    """
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    if unshare is None or setpriv is None:
        raise FileNotFoundError("unshare" if unshare is None else "setpriv")
    # Resolved: a link on PATH may live in a directory the stage covers (/tmp, home).
    setpriv = os.path.realpath(setpriv)
    home = os.path.expanduser("~")
    spec = {
        "workdir": workdir,
        "inside": HARDENED_DIR,
        "tmp_mb": tmp_mb,
        "owner": drop_uid,
        "cover": [*PRIVATE_DIRS, home],
        "world_writable": list(_SHARED_DIRS),
        "keep": list(interpreter_roots()),
        "read_only": list(read_only),
        "writable": list(writable),
        "exec": [setpriv, *_drop_args(drop_uid), "--", *inner],
    }
    cmd = [unshare]
    if drop_uid is None:
        cmd += ["--user", "--map-root-user"]
    cmd += ["--pid", "--fork", "--kill-child", "--mount", "--mount-proc"]
    cmd += ["--net", "--ipc", "--uts", "--cgroup", "--"]
    return [*cmd, python or sys.executable, "-I", "-S", str(STAGE), json.dumps(spec)]


def hardened_probe_command(workdir: str, probe_uid: int | None) -> list[str]:
    """The probe: this interpreter inside the level, checking what it promises.

    It fails (with a one-line reason on stderr) unless ``/`` is read-only, no
    capability is left, no process but the sandbox's own init is visible and,
    when the parent is root, the code runs as *probe_uid*.
    """
    inner = [sys.executable, "-I", "-c", _PROBE, str(-1 if probe_uid is None else probe_uid)]
    return hardened_command(inner, workdir=workdir, tmp_mb=1, drop_uid=probe_uid)
