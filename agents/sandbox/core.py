"""Run generated Python code in a sandboxed subprocess and validate its JSON.

Generated code never runs in-process. :func:`run_code` starts a fresh
``python -I -B -u`` (``sys.executable``) with

* an empty environment (a minimal ``PATH``/``LANG``/``HOME``, nothing of the
  parent's, so no API keys);
* a temporary work directory, deleted afterwards;
* CPU-time, address-space, file-size and core-size limits (``setrlimit`` in
  the child before ``exec``) and a process-count limit (set by the runner, and
  enforced because the runner drops to a fresh unprivileged uid when the
  parent is root);
* a wall-clock kill of the whole process group (and, where the runner dropped
  privileges, of every process left with the sandbox uid);
* no network: the best level of :class:`~agents.sandbox.isolation.Isolation`
  that works here.

The code communicates by assigning a global ``result`` or calling
``emit(obj)`` (see :mod:`agents.sandbox._runner`). The parent reads the
runner's JSON envelope and validates the value against the caller's pydantic
model. Every failure of the *code* (an exception, a timeout, a kill, bad or
missing or oversized JSON, a schema mismatch) is a :class:`SandboxResult`
value; :class:`~workbench.errors.SandboxError` is raised only for misuse and
for a sandbox that could not be started.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agents.sandbox.hardened import HARDENED_DIR, hardened_command
from agents.sandbox.isolation import (
    SANDBOX_DIR,
    Isolation,
    bwrap_command,
    interpreter_world_readable,
)
from agents.sandbox.policy import choose_isolation
from workbench.errors import SandboxError

__all__ = [
    "DEFAULT_FILES_MB",
    "DEFAULT_MAX_PROCS",
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT_S",
    "SandboxLimits",
    "SandboxResult",
    "SandboxStatus",
    "run_code",
]

DEFAULT_TIMEOUT_S = 30.0
"""Wall-clock limit of one run, in seconds."""
DEFAULT_MEMORY_MB = 2048
"""Address-space limit of each sandboxed process, in MiB."""
DEFAULT_FILES_MB = 64
"""Largest file the code may write, in MiB (also the private ``/tmp`` size)."""
DEFAULT_MAX_PROCS = 64
"""Most processes and threads the sandbox uid may have at once."""
DEFAULT_MAX_RESULT_BYTES = 8 * 1024 * 1024
"""Largest accepted result document, in bytes."""
TAIL_CHARS = 8000
"""How much of the end of stdout and stderr a result keeps."""

_UID_BASE = 2_000_000_000
_UID_SPAN = 100_000_000
_RUNNER = Path(__file__).with_name("_runner.py")
_FILES = {
    "runner": "_runner.py",
    "config": "_config.json",
    "code_file": "generated.py",
    "inputs_file": "inputs.json",
    "result_file": "_result.json",
    "started_file": "_started",
}
_INPUT_FILES = ("runner", "config", "code_file", "inputs_file")
_OUTPUT_FILES = ("result_file", "started_file")
_PRIVATE = ("code_file", "inputs_file", *_OUTPUT_FILES)


class SandboxStatus(enum.StrEnum):
    """How a sandboxed run ended."""

    OK = "ok"
    """The code ran and its result validated."""
    ERROR = "error"
    """The code raised (including ``MemoryError``) or exited without a result."""
    INVALID_OUTPUT = "invalid_output"
    """The result document is missing, malformed, oversized or fails the schema."""
    TIMEOUT = "timeout"
    """The wall-clock limit was hit; the process group was killed."""
    KILLED = "killed"
    """A signal (CPU-time limit, memory, file size) ended the run."""


@dataclass(frozen=True)
class SandboxLimits:
    """The limits and isolation that applied to one run.

    Attributes
    ----------
    timeout_s, cpu_s, memory_mb, files_mb, max_procs
        The wall-clock, CPU-time, address-space, file-size and process limits.
    network_isolated
        Whether the code ran without network access.
    filesystem_isolated
        Whether the host file system was hidden (``bwrap`` only).
    uid
        The host uid that ran the generated code.
    max_procs_enforced
        Whether the kernel enforces ``max_procs`` (not for uid 0).
    filesystem_read_only
        Whether the code saw the host file system read-only at most (``bwrap``
        hides it; ``unshare-hardened`` shows it read-only).
    """

    timeout_s: float
    cpu_s: int
    memory_mb: int
    files_mb: int
    max_procs: int
    network_isolated: bool
    filesystem_isolated: bool
    uid: int
    max_procs_enforced: bool
    filesystem_read_only: bool = False


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of :func:`run_code`; failures of the code are values.

    Attributes
    ----------
    status
        How the run ended.
    value
        The validated value: an instance of the caller's schema, or the plain
        JSON value when no schema was given; ``None`` unless ``status`` is OK.
    error
        A one-line explanation when ``status`` is not OK.
    error_type
        The exception class name raised by the code, or a sandbox tag such as
        ``"Timeout"``, ``"SchemaError"`` or ``"OutputTooLarge"``.
    traceback
        The code's traceback, when it raised.
    stdout, stderr
        The last :data:`TAIL_CHARS` characters of each stream.
    returncode
        The exit status of the sandbox process (negative: killed by a signal).
    isolation
        The isolation level that applied.
    limits
        The limits that applied.
    wall_time_s
        Wall-clock seconds of the run, sandbox start-up included.
    raw_value
        The JSON value before schema validation (for feedback to an agent).
    """

    status: SandboxStatus
    value: Any
    error: str | None
    error_type: str | None
    traceback: str | None
    stdout: str
    stderr: str
    returncode: int | None
    isolation: Isolation
    limits: SandboxLimits
    wall_time_s: float
    raw_value: Any = None

    @property
    def ok(self) -> bool:
        """Whether the code ran and returned a valid result."""
        return self.status is SandboxStatus.OK

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly summary (the value dumped when it is a model)."""
        value = (
            self.value.model_dump(mode="json") if isinstance(self.value, BaseModel) else self.value
        )
        return {
            "status": self.status.value,
            "value": value,
            "error": self.error,
            "error_type": self.error_type,
            "traceback": self.traceback,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "returncode": self.returncode,
            "isolation": self.isolation.value,
            "limits": asdict(self.limits),
            "wall_time_s": self.wall_time_s,
        }


class _Envelope(BaseModel):
    """The document the runner writes."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    value: Any = None
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None


def _positive(name: str, value: float | None, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise SandboxError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _preexec(cpu_s: int, memory_mb: int, files_mb: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        size = files_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _tail(path: Path, chars: int = TAIL_CHARS) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4 * chars))
            data = fh.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")[-chars:]


def proc_files(name: str) -> Iterator[tuple[int, bytes]]:
    """Yield ``(pid, content)`` of ``/proc/<pid>/<name>`` for every process still readable."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                yield int(entry), Path(f"/proc/{entry}/{name}").read_bytes()
            except OSError:
                continue


def _uid_processes(uid: int) -> list[int]:
    """Pids of live (non-zombie) processes whose real uid is *uid*."""
    pids: list[int] = []
    for pid, data in proc_files("status"):
        text = data.decode("utf-8", errors="replace")
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith(("Z", "X")):
            continue
        uids = fields.get("Uid", "").split()
        if uids and int(uids[0]) == uid:
            pids.append(pid)
    return pids


def _kill_uid(uid: int, deadline_s: float = 2.0) -> None:
    """SIGKILL every process left with the sandbox uid, until none is left."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        pids = _uid_processes(uid)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _read_document(path: Path, max_bytes: int) -> tuple[Any, str | None]:
    """Read the result file without following links; return (document, error)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, "the code wrote no result document"
    except OSError as e:
        return None, f"the result document could not be opened: {e}"
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return None, "the result document is not a plain file"
        if st.st_size == 0:
            return None, "the code wrote no result document"
        if st.st_size > max_bytes:
            return None, f"the result document is {st.st_size} bytes, over the limit of {max_bytes}"
        data = fh.read(max_bytes + 1)
    try:
        return json.loads(data.decode("utf-8")), None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"the result document is not valid JSON: {e}"


def _one_line(text: str | None) -> str | None:
    """The reason as one line (pydantic and exception messages may span several)."""
    if text is None:
        return None
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _nonempty(path: Path) -> bool:
    try:
        return os.lstat(path).st_size > 0
    except OSError:
        return False


def _signal_of(returncode: int | None, isolation: Isolation) -> int | None:
    if returncode is None:
        return None
    if returncode < 0:
        return -returncode
    if isolation is not Isolation.NONE and returncode > 128:
        return returncode - 128
    return None


def _signal_message(sig: int, cpu_s: int, memory_mb: int, files_mb: int) -> str:
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    hints: dict[int, str] = {
        signal.SIGXCPU: f" (CPU-time limit of {cpu_s} s)",
        signal.SIGXFSZ: f" (file-size limit of {files_mb} MiB)",
        signal.SIGKILL: f" (CPU-time limit of {cpu_s} s, or memory limit of {memory_mb} MiB)",
        signal.SIGSEGV: f" (possibly the memory limit of {memory_mb} MiB)",
    }
    hint = hints.get(sig, "")
    return f"the sandboxed process was killed by {name}{hint}"


def _write_inputs(
    workdir: Path, code: str, inputs: Mapping[str, Any] | None, config: dict[str, Any]
) -> None:
    try:
        inputs_text = json.dumps(dict(inputs or {}), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise SandboxError(f"inputs must be JSON-serialisable: {e}") from e
    (workdir / _FILES["inputs_file"]).write_text(inputs_text, encoding="utf-8")
    (workdir / _FILES["code_file"]).write_text(code, encoding="utf-8")
    (workdir / _FILES["config"]).write_text(json.dumps(config), encoding="utf-8")
    shutil.copyfile(_RUNNER, workdir / _FILES["runner"])
    # Created empty here: under bwrap they are the only host files the code can write.
    for key in _OUTPUT_FILES:
        (workdir / _FILES[key]).touch()


def _rmtree(path: Path) -> None:
    def retry(func: Callable[..., Any], p: str, _exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(p), 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=retry)


def run_code(
    code: str,
    *,
    schema: type[BaseModel] | None = None,
    timeout: float | None = None,
    memory_mb: int | None = None,
    cpu_s: int | None = None,
    files_mb: int | None = None,
    max_procs: int | None = None,
    inputs: Mapping[str, Any] | None = None,
    network: bool = False,
    require_isolation: bool = False,
    isolation: Isolation | str | None = None,
    max_result_bytes: int | None = None,
    allow_weak: bool | None = None,
) -> SandboxResult:
    """Run generated Python *code* in the sandbox and validate what it returns.

    Parameters
    ----------
    code
        Python source. It sees a global ``inputs`` and reports its answer by
        assigning a global ``result`` or calling ``emit(obj)``; the answer must
        be JSON-serialisable.
    schema
        A pydantic model the answer must validate against; ``None`` keeps the
        plain JSON value.
    timeout
        Wall-clock limit in seconds (default :data:`DEFAULT_TIMEOUT_S`), after
        which the whole process group is killed.
    memory_mb
        Address-space limit per process in MiB (default :data:`DEFAULT_MEMORY_MB`).
    cpu_s
        CPU-time limit per process in seconds (default: the timeout, rounded up).
    files_mb
        Largest file the code may write, in MiB (default :data:`DEFAULT_FILES_MB`).
    max_procs
        Most processes and threads at once (default :data:`DEFAULT_MAX_PROCS`).
    inputs
        JSON-serialisable data given to the code as ``inputs`` (and as the file
        ``inputs.json`` in its working directory).
    network
        Allow network access (off by default). Only ``bwrap`` can then still
        isolate the file system; the ``unshare-hardened`` level is skipped.
    require_isolation
        Raise :class:`~workbench.errors.SandboxError` instead of running at
        the ``none`` level, even with the opt-in for weak levels.
    isolation
        Force a level (``"bwrap"``, ``"unshare-hardened"``, ``"none"``); ``None``
        picks the best available one. A level weaker than ``bwrap`` needs the
        opt-in, forced or not.
    max_result_bytes
        Largest accepted result document (default 8 MiB).
    allow_weak
        Accept a level weaker than ``bwrap`` (see
        :mod:`agents.sandbox.policy`); ``None`` reads the environment variable
        ``WORKBENCH_SANDBOX_ALLOW_WEAK``.

    Returns
    -------
    SandboxResult
        The status, the validated value, output tails, the isolation level
        and the limits that applied.

    Raises
    ------
    SandboxRefusedError
        When no level that contains the code works here and no opt-in was
        given (the message names bubblewrap and the opt-in).
    SandboxError
        For bad arguments, a forced or required level that is not available,
        or a sandbox that could not be started.
    """
    if not isinstance(code, str):
        raise SandboxError(f"code must be a str, got {type(code).__name__}")
    timeout_s = _positive("timeout", timeout, DEFAULT_TIMEOUT_S)
    mem = int(_positive("memory_mb", memory_mb, DEFAULT_MEMORY_MB))
    cpu = int(_positive("cpu_s", cpu_s, float(int(timeout_s + 0.999))))
    fmb = int(_positive("files_mb", files_mb, DEFAULT_FILES_MB))
    nproc = int(_positive("max_procs", max_procs, DEFAULT_MAX_PROCS))
    max_bytes = int(_positive("max_result_bytes", max_result_bytes, DEFAULT_MAX_RESULT_BYTES))
    level = choose_isolation(
        isolation, network=network, require_isolation=require_isolation, allow_weak=allow_weak
    )

    as_root = os.geteuid() == 0
    drop_uid: int | None = None
    own_fs = level in (Isolation.BWRAP, Isolation.UNSHARE_HARDENED)
    if as_root and (own_fs or interpreter_world_readable()):
        drop_uid = _UID_BASE + secrets.randbelow(_UID_SPAN)
    limits = SandboxLimits(
        timeout_s=timeout_s,
        cpu_s=cpu,
        memory_mb=mem,
        files_mb=fmb,
        max_procs=nproc,
        network_isolated=level is not Isolation.NONE and not network,
        filesystem_isolated=level is Isolation.BWRAP,
        filesystem_read_only=own_fs,
        uid=drop_uid if drop_uid is not None else os.geteuid(),
        max_procs_enforced=not as_root or drop_uid is not None,
    )

    workdir = Path(tempfile.mkdtemp(prefix="wb-sandbox-"))
    private = Path(tempfile.mkdtemp(prefix="wb-sandbox-io-"))
    try:
        config: dict[str, Any] = {k: v for k, v in _FILES.items() if k not in ("runner", "config")}
        config |= {"max_procs": nproc, "drop_uid": drop_uid, "max_result_bytes": max_bytes}
        _write_inputs(workdir, code, inputs, config)
        if drop_uid is not None:
            # Owned by the sandbox uid; 0711 so that bwrap (root without
            # CAP_DAC_OVERRIDE) can still enter it.
            os.chown(workdir, drop_uid, drop_uid)
            os.chmod(workdir, 0o711)
            # The code and inputs are read, and the outputs written, after the
            # drop; keep them private to the sandbox uid.
            for key in _PRIVATE:
                os.chown(workdir / _FILES[key], drop_uid, drop_uid)
                os.chmod(workdir / _FILES[key], 0o600)
        inside = {Isolation.BWRAP: SANDBOX_DIR, Isolation.UNSHARE_HARDENED: HARDENED_DIR}.get(
            level, str(workdir)
        )
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": inside,
            "TMPDIR": "/tmp" if own_fs else inside,
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        # The runner goes by file path (this checkout's copy), never by import.
        inner = [
            sys.executable,
            "-I",
            "-B",
            "-u",
            f"{inside}/{_FILES['runner']}",
            f"{inside}/{_FILES['config']}",
        ]
        # Only the named files of the work directory appear inside (a tmpfs otherwise).
        files: dict[str, Any] = {
            "workdir": str(workdir),
            "tmp_mb": fmb,
            "read_only": [_FILES[k] for k in _INPUT_FILES],
            "writable": [_FILES[k] for k in _OUTPUT_FILES],
        }
        if level is Isolation.BWRAP:
            cmd = bwrap_command(inner, env=env, network=network, as_root=as_root, **files)
        elif level is Isolation.UNSHARE_HARDENED:
            cmd = hardened_command(inner, drop_uid=drop_uid, **files)
        else:
            cmd = inner
        return _execute(cmd, env, workdir, private, level, limits, schema, drop_uid, max_bytes)
    finally:
        _rmtree(workdir)
        _rmtree(private)


def _execute(
    cmd: list[str],
    env: dict[str, str],
    workdir: Path,
    private: Path,
    level: Isolation,
    limits: SandboxLimits,
    schema: type[BaseModel] | None,
    drop_uid: int | None,
    max_bytes: int,
) -> SandboxResult:
    out_path, err_path = private / "stdout", private / "stderr"
    started = time.monotonic()
    timed_out = False
    with out_path.open("wb") as out, err_path.open("wb") as err:
        try:
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
                preexec_fn=_preexec(limits.cpu_s, limits.memory_mb, limits.files_mb),  # noqa: PLW1509
            )
        except OSError as e:
            raise SandboxError(f"could not start the sandbox ({cmd[0]}): {e}") from e
        try:
            returncode: int | None = proc.wait(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _killpg(proc.pid)
            returncode = proc.wait()
        finally:
            _killpg(proc.pid)
            if drop_uid is not None:
                _kill_uid(drop_uid)
    wall = time.monotonic() - started
    stdout, stderr = _tail(out_path), _tail(err_path)

    def result(
        status: SandboxStatus,
        error: str | None,
        error_type: str | None,
        *,
        value: Any = None,
        raw: Any = None,
        tb: str | None = None,
    ) -> SandboxResult:
        return SandboxResult(
            status=status,
            value=value,
            error=_one_line(error),
            error_type=error_type,
            traceback=tb,
            stdout=stdout,
            stderr=stderr,
            returncode=returncode,
            isolation=level,
            limits=limits,
            wall_time_s=wall,
            raw_value=raw,
        )

    if timed_out:
        message = f"the code ran past the wall-clock limit of {limits.timeout_s:g} s and was killed"
        return result(SandboxStatus.TIMEOUT, message, "Timeout")
    if not _nonempty(workdir / _FILES["started_file"]):
        raise SandboxError(
            f"the sandbox ({level.value}) failed to start (exit status {returncode}): {stderr[-2000:]}"
        )
    document, problem = _read_document(workdir / _FILES["result_file"], max_bytes)
    if problem is not None:
        sig = _signal_of(returncode, level)
        if sig is not None:
            message = _signal_message(sig, limits.cpu_s, limits.memory_mb, limits.files_mb)
            return result(SandboxStatus.KILLED, message, "Killed")
        if returncode:
            message = (
                f"the code exited with status {returncode} without a result ({problem}); "
                f"limits: CPU time {limits.cpu_s} s, memory {limits.memory_mb} MiB"
            )
            return result(SandboxStatus.ERROR, message, "Exit")
        return result(SandboxStatus.INVALID_OUTPUT, problem, "InvalidOutput")
    try:
        envelope = _Envelope.model_validate(document)
    except ValidationError as e:
        return result(
            SandboxStatus.INVALID_OUTPUT, f"the result document is malformed: {e}", "InvalidOutput"
        )
    if not envelope.ok:
        error = envelope.error or "the code failed"
        if envelope.error_type == "MemoryError":
            error += f" (memory limit of {limits.memory_mb} MiB)"
        return result(
            SandboxStatus.ERROR,
            error,
            envelope.error_type,
            tb=envelope.traceback,
        )
    if schema is None:
        return result(SandboxStatus.OK, None, None, value=envelope.value, raw=envelope.value)
    try:
        value = schema.model_validate(envelope.value)
    except ValidationError as e:
        message = f"the result does not match {schema.__name__}: {e}"
        return result(SandboxStatus.INVALID_OUTPUT, message, "SchemaError", raw=envelope.value)
    return result(SandboxStatus.OK, None, None, value=value, raw=envelope.value)
