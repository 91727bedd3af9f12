"""Launch ``workbench bench`` in a separate process and find its run in the store."""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["Launch", "bench_command", "find_run", "launch"]


def bench_command(
    *,
    suite: str,
    backends: list[str],
    workers: int,
    time_limit: float,
    store: Path,
    name: str,
    limit: int | None = None,
) -> list[str]:
    """The ``workbench bench`` command line (run with this Python).

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
    _out: IO[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.proc.poll() is None

    def log_tail(self, n: int = 2000) -> str:
        """The last *n* characters of the process output."""
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""


def launch(store: Path, **kwargs: Any) -> Launch:
    """Start a batch writing to *store*; keyword arguments as :func:`bench_command`.

    Returns
    -------
    Launch
    """
    name = f"app-{uuid.uuid4().hex[:8]}"
    store.parent.mkdir(parents=True, exist_ok=True)
    log = store.parent / f"{name}.log"
    cmd = bench_command(store=store, name=name, **kwargs)
    out = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
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
