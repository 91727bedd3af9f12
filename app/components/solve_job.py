"""A solve in a child process, so the app can show progress and cancel it.

The target (an IR model or a matrix read from MPS/LP) and the options are
pickled to a temporary folder; ``python -m app.components.solve_job IN OUT``
solves and pickles the :class:`~workbench.result.Result` (or the error) to
``OUT``.  :meth:`SolveJob.cancel` kills the child (and anything it started).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SolveJob", "start_solve"]

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SolveJob:
    """A running (or finished) solve.

    Attributes
    ----------
    backend, time_limit
        What was asked for (for the progress display).
    proc
        The child process.
    folder
        Its temporary folder (input, output and log).
    started
        ``time.monotonic()`` at start.
    """

    backend: str
    time_limit: float
    proc: subprocess.Popen[bytes]
    folder: Path
    started: float = field(default_factory=time.monotonic)
    cancelled: bool = False

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.started

    @property
    def done(self) -> bool:
        """Whether the child has exited."""
        return self.proc.poll() is not None

    def cancel(self) -> None:
        """Kill the child and its process group; the job then has no result."""
        self.cancelled = True
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
            self.proc.wait(timeout=10)
        self.cleanup()

    def outcome(self) -> tuple[Any | None, str | None]:
        """``(result, None)`` or ``(None, error message)`` once :attr:`done`."""
        if self.cancelled:
            return None, "Cancelled."
        out = self.folder / "out.pkl"
        try:
            kind, payload = pickle.loads(out.read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError, ValueError):
            log = ""
            with contextlib.suppress(OSError):
                log = (self.folder / "log.txt").read_text(errors="replace")[-1500:]
            return None, f"The solver process exited with status {self.proc.returncode}. {log}"
        finally:
            self.cleanup()
        return (payload, None) if kind == "ok" else (None, str(payload))

    def cleanup(self) -> None:
        """Remove the temporary folder."""
        shutil.rmtree(self.folder, ignore_errors=True)


def start_solve(target: Any, backend: str, time_limit: float, options: dict[str, Any]) -> SolveJob:
    """Start solving *target* in a child process.

    Raises
    ------
    pickle.PicklingError, TypeError
        If *target* cannot be sent to the child (the caller solves in-process then).
    """
    folder = Path(tempfile.mkdtemp(prefix="wb-solve-"))
    payload = pickle.dumps((target, backend, float(time_limit), dict(options)))
    (folder / "in.pkl").write_bytes(payload)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    log = (folder / "log.txt").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.components.solve_job", str(folder / "in.pkl"),
         str(folder / "out.pkl")],
        cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    log.close()
    return SolveJob(backend, float(time_limit), proc, folder)


def _main(argv: list[str]) -> int:
    src, dst = Path(argv[0]), Path(argv[1])
    target, backend, limit, options = pickle.loads(src.read_bytes())
    from workbench import solve
    from workbench.errors import WorkbenchError

    try:
        res: tuple[str, Any] = ("ok", solve(target, backend, time_limit=limit, **options))
    except WorkbenchError as e:
        res = ("error", f"{type(e).__name__}: {e}")
    tmp = dst.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(res))
    tmp.replace(dst)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
