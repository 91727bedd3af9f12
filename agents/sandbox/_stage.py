"""The mount stage of the ``unshare-hardened`` level (run inside the new namespaces).

``unshare`` starts this file as ``python -I -S _stage.py SPEC`` in fresh
mount, PID (with its own ``/proc``), network, IPC and UTS namespaces (and a
user namespace when the parent is not root). Still privileged inside, it

1. makes every mount private, then remounts every mount read-only (a per-mount
   flag: the host's mounts are untouched) and ``nosuid``;
2. replaces ``/dev`` with a minimal one (``null``, ``zero``, ``full``,
   ``random``, ``urandom``, ``tty`` bound from the host, and ``/dev/shm``);
3. mounts fresh, size-limited tmpfs over the directories that hold user data
   or are world-writable (``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/home``,
   ``/root``, ``/run`` and the parent's home), binding the interpreter's
   directories that live under them back, read-only; only the world-writable
   ones stay writable (empty), the others are remounted read-only;
4. mounts the work directory, a tmpfs, and binds the run's named input files
   read-only and its output files read-write into it;
5. changes into the work directory and forks the given command (``setpriv``,
   which drops the uid or the capabilities, then ``exec``s the runner); it
   stays as the namespace's init, reaping orphans, and exits with the
   command's status, which ends every process left in the namespace.

It uses the standard library only and prints one line to stderr on failure
(exit status 1).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import sys
from typing import Any

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
# statvfs f_flag bits that differ from the MS_ ones.
_ST_RELATIME = 4096

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]


class StageError(Exception):
    """A mount step failed; the sandbox must not start."""


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """``mount(2)``; raise :class:`StageError` naming the target on failure."""

    def enc(s: str | None) -> bytes | None:
        return None if s is None else os.fsencode(s)

    if _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data) if data else None) != 0:
        err = ctypes.get_errno()
        raise StageError(f"mount {target} failed: {os.strerror(err)} (errno {err})")


def _kept_flags(path: str) -> int:
    """The flags a bind remount must keep (a user namespace locks them)."""
    f = os.statvfs(path).f_flag
    flags = f & (MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    if f & _ST_RELATIME:
        flags |= MS_RELATIME
    return flags


def remount(path: str, *, read_only: bool) -> None:
    """Set the read-only (or read-write) and ``nosuid`` flags of the mount at *path*."""
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | _kept_flags(path)
    mount(None, path, None, flags | (MS_RDONLY if read_only else 0))


def _unescape(field: str) -> str:
    """Decode the octal escapes (``\\040``) of a mountinfo path."""
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points() -> list[str]:
    """Every mount point of this mount namespace, outermost first, each once."""
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        points = [_unescape(line.split()[4]) for line in fh if line.strip()]
    return sorted(dict.fromkeys(points), key=lambda p: (p.count("/"), p))


def read_only_everything() -> None:
    """Remount every mount read-only and ``nosuid`` (this namespace only)."""
    for point in mount_points():
        try:
            remount(point, read_only=True)
        except StageError as e:
            # A mount point hidden under another mount cannot be reached (nor written).
            if not os.path.exists(point):
                continue
            raise StageError(f"could not make {point} read-only: {e}") from e


def _makedirs(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _covering(path: str, covers: list[str]) -> bool:
    return any(path == c or path.startswith(c.rstrip("/") + "/") for c in covers)


def cover(spec: dict[str, Any]) -> None:
    """Fresh tmpfs over the private directories; the interpreter's roots bound back."""
    size = int(spec["tmp_mb"]) * 1024 * 1024
    covers = [
        os.path.realpath(d)
        for d in spec["cover"]
        if os.path.isdir(d) and os.path.realpath(d) != "/"
    ]
    covers = sorted(dict.fromkeys(covers), key=len)
    shared = {os.path.realpath(d) for d in spec["world_writable"]}
    keep = [r for r in spec["keep"] if _covering(r, covers) and os.path.isdir(r)]
    fds = {root: os.open(root, os.O_PATH | os.O_DIRECTORY) for root in keep}
    for d in covers:
        mode = "1777" if d in shared else "0755"
        mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode={mode}")
    for root, fd in fds.items():
        _makedirs(root)
        mount(f"/proc/self/fd/{fd}", root, None, MS_BIND | MS_REC)
        remount(root, read_only=True)
        os.close(fd)
    # Only the shared scratch directories stay writable; the others are empty and read-only.
    for d in covers:
        if d not in shared:
            remount(d, read_only=True)


def work_dir(spec: dict[str, Any], host_fd: int) -> str:
    """Mount the work directory (a tmpfs) and bind the run's named files into it."""
    inside = str(spec["inside"])
    size = int(spec["tmp_mb"]) * 1024 * 1024
    owner = spec["owner"]
    _makedirs(inside)
    ids = f",uid={owner},gid={owner}" if owner is not None else ""
    mount("tmpfs", inside, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=0700{ids}")
    for name, read_only in [(n, True) for n in spec["read_only"]] + [
        (n, False) for n in spec["writable"]
    ]:
        target = os.path.join(inside, name)
        with open(target, "x"):
            pass
        mount(f"/proc/self/fd/{host_fd}/{name}", target, None, MS_BIND)
        remount(target, read_only=read_only)
    return inside


_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}


def minimal_dev() -> None:
    """A fresh ``/dev`` with only the harmless devices (bound from the host) and ``/dev/shm``."""
    fds = {
        name: os.open(f"/dev/{name}", os.O_PATH)
        for name in _DEVICES
        if os.path.exists(f"/dev/{name}")
    }
    mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=65536,mode=0755")
    for name, fd in fds.items():
        target = f"/dev/{name}"
        with open(target, "x"):
            pass
        mount(f"/proc/self/fd/{fd}", target, None, MS_BIND)
        remount(target, read_only=True)
        os.close(fd)
    for name, link in _DEV_LINKS.items():
        os.symlink(link, f"/dev/{name}")
    os.mkdir("/dev/shm", 0o755)
    remount("/dev", read_only=True)


def main(spec_text: str) -> None:
    """Set up the mounts described by *spec_text* (JSON) and exec its command."""
    spec = json.loads(spec_text)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    host_fd = os.open(spec["workdir"], os.O_PATH | os.O_DIRECTORY)
    read_only_everything()
    minimal_dev()
    cover(spec)
    inside = work_dir(spec, host_fd)
    os.close(host_fd)
    os.chdir(inside)
    argv = spec["exec"]
    child = os.fork()
    if child == 0:
        try:
            os.execv(argv[0], argv)
        finally:
            sys.stderr.write(f"sandbox stage: could not exec {argv[0]}\n")
            os._exit(127)
    os._exit(reap_until(child))


def reap_until(child: int) -> int:
    """As the namespace's init: reap every process until *child* ends; its exit status.

    A signal that ended *child* becomes ``128 + signal`` (as with bwrap); when
    this process exits, the kernel kills whatever is left in the namespace.
    """
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except (StageError, OSError, ValueError, KeyError) as exc:
        code = getattr(exc, "errno", None)
        detail = f" ({errno.errorcode.get(code, code)})" if isinstance(code, int) else ""
        sys.stderr.write(f"sandbox stage: {exc}{detail}\n")
        sys.exit(1)
