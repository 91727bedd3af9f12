"""Launch ``workbench bench`` in a separate process and find its run in the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["Launch", "bench_command", "find_run", "launch", "save_upload"]


def bench_command(
    *,
    suite: str,
    backends: list[str],
    workers: int,
    time_limit: float,
    store: Path,
    name: str,
    limit: int | None = None,
    pipeline: str = "solve",
    agents: list[str] | None = None,
    llm: dict[str, str] | None = None,
    path: Path | None = None,
    llm_concurrency: int | None = None,
) -> list[str]:
    """The ``workbench bench`` command line (run with this Python).

    *path* is the suite's file (``suite="nl"``: a user's JSONL file of problems).

    With ``pipeline="formulate"`` the *agents* formulate each item's text and
    *llm* (``base_url``, ``model``) become ``--llm-option``s; the API key is
    never put on the command line (pass it in the environment).

    Returns
    -------
    list[str]
        Arguments for :class:`subprocess.Popen`.
    """
    cmd = [sys.executable, "-m", "workbench.cli", "bench", "--suite", suite,
           "--backend", ",".join(backends) or "auto", "--workers", str(workers),
           "--time-limit", f"{time_limit:g}", "--store", str(store), "--name", name, "--json"]  # fmt: skip
    if limit:
        cmd += ["--limit", str(limit)]
    if path is not None:
        cmd += ["--path", str(path)]
    if llm_concurrency:
        cmd += ["--llm-concurrency", str(llm_concurrency)]
    if pipeline == "formulate":
        cmd += ["--pipeline", "formulate", "--agent", ",".join(agents or ["orthought"])]
        for k, v in (llm or {}).items():
            if v and k != "api_key":
                cmd += ["--llm-option", f"{k}={v}"]
    return cmd


@dataclass
class Launch:
    """A batch started from the app.

    Attributes
    ----------
    name
        The unique run name the app gave it (to find its run id).
    proc
        The worker process.
    log
        Where its stdout and stderr go.
    """

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    cmd: list[str] = field(default_factory=list)
    cancelled: bool = False
    _out: IO[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.proc.poll() is None

    def cancel(self, grace: float = 10.0) -> None:
        """Interrupt the batch (SIGINT to its process group, as Ctrl-C would).

        ``workbench bench`` then marks the run ``interrupted`` (resumable with
        ``--resume``); after *grace* seconds the group is killed.
        """
        self.cancelled = True
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            self.proc.send_signal(signal.SIGINT)
        end = time.monotonic() + grace
        while self.proc.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, n: int = 2000) -> str:
        """The last *n* characters of the process output."""
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""


def launch(store: Path, *, api_key: str | None = None, **kwargs: Any) -> Launch:
    """Start a batch writing to *store*; keyword arguments as :func:`bench_command`.

    *api_key* goes to the child's ``OPENAI_API_KEY`` only (never the command line).

    Returns
    -------
    Launch
    """
    name = f"app-{uuid.uuid4().hex[:8]}"
    store.parent.mkdir(parents=True, exist_ok=True)
    log = store.parent / f"{name}.log"
    cmd = bench_command(store=store, name=name, **kwargs)
    out = log.open("wb")
    env = dict(os.environ)
    if api_key:
        env["OPENAI_API_KEY"] = api_key
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env)  # fmt: skip
    return Launch(name, proc, log, cmd, out)


def find_run(store: Path, name: str) -> dict[str, Any] | None:
    """The newest run called *name* in *store* (read-only), or ``None`` before it exists."""
    if not store.exists():
        return None
    from workbench.runs import RunStore

    try:
        with RunStore(store, readonly=True) as rs:
            for r in rs.runs(limit=200):
                if r.get("name") == name:
                    return r
    except Exception:  # the writer may be creating the schema right now: try again later
        return None
    return None


def save_upload(store: Path, name: str, data: bytes) -> Path:
    """Keep an uploaded JSONL file of problems next to the run store and check it.

    The file is named by its content's hash, so a resumed run finds the same
    problems.

    Raises
    ------
    WorkbenchError
        If a row is malformed: the message names the file, the line and the field
        (the file is removed again).
    """
    import hashlib

    from workbench.eval.nl import load_jsonl

    folder = store.parent / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in Path(name).stem)[:40]
    file = folder / f"{stem or 'problems'}-{hashlib.sha256(data).hexdigest()[:12]}.jsonl"
    file.write_bytes(data)
    try:
        load_jsonl(file)
    except Exception:
        file.unlink(missing_ok=True)
        raise
    return file
