"""The ``local`` executor: persistent worker processes, a wall-clock limit per job, crash isolation.

Each worker runs :func:`~workbench.runs.jobs.run_job` on the jobs the parent
hands it, one at a time, over a pipe.  A job past its ``timeout`` gets its
worker killed; a worker that dies (a segfault, an out-of-memory kill) is
replaced.  Either way the job is recorded as ``timeout``/``crashed`` and
the batch goes on.  The parent is the only writer to the run store.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from workbench.runs.jobs import Job, run_job
from workbench.runs.store import Outcome

__all__ = ["LocalExecutor"]


def _worker_main(conn: Connection) -> None:
    # Workers ignore Ctrl-C; the parent decides what happens to a batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import workbench.solving  # noqa: F401  (warm the imports before the first job's clock starts)

    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # parent gone
            return
        if job is None:
            return
        out = run_job(job)
        try:
            conn.send(out)
        except (BrokenPipeError, OSError):
            return


@dataclass
class _Slot:
    proc: Any
    conn: Connection
    job: Job | None = None
    started: float = 0.0


class LocalExecutor:
    """Run jobs on ``workers`` local processes.

    Parameters
    ----------
    workers
        Number of worker processes (at least 1).
    start_method
        ``spawn`` (default: safe with threaded solver libraries), ``forkserver`` or ``fork``.
    """

    name = "local"

    def __init__(self, workers: int = 1, start_method: str = "spawn") -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.ctx = mp.get_context(start_method)

    def _spawn(self) -> _Slot:
        parent, child = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(target=_worker_main, args=(child,), daemon=True)  # type: ignore[attr-defined]
        proc.start()
        child.close()
        return _Slot(proc, parent)

    @staticmethod
    def _kill(slot: _Slot) -> None:
        with contextlib.suppress(OSError, AttributeError):
            slot.proc.kill()
        slot.proc.join(timeout=5)
        slot.conn.close()

    def run(
        self,
        jobs: Iterable[Job],
        *,
        on_start: Callable[[Job], None] | None = None,
        on_done: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Run every job; call ``on_start``/``on_done`` in this process as they go.

        Returns
        -------
        list[Outcome]
            One outcome per job, in completion order.
        """
        queue = deque(jobs)
        outcomes: list[Outcome] = []
        slots = [self._spawn() for _ in range(min(self.workers, max(len(queue), 1)))]

        def finish(slot: _Slot, out: Outcome) -> None:
            slot.job = None
            outcomes.append(out)
            if on_done is not None:
                on_done(out)

        try:
            while queue or any(s.job is not None for s in slots):
                for slot in slots:
                    if slot.job is None and queue:
                        nxt = queue.popleft()
                        if on_start is not None:
                            on_start(nxt)
                        slot.job, slot.started = nxt, time.monotonic()
                        slot.conn.send(nxt)
                busy = [s for s in slots if s.job is not None]
                now = time.monotonic()
                deadline = min(s.started + s.job.timeout for s in busy if s.job is not None)
                ready = wait(
                    [s.conn for s in busy] + [s.proc.sentinel for s in busy],
                    timeout=max(0.0, deadline - now),
                )
                for k, slot in enumerate(slots):
                    if slot.job is None:
                        continue
                    job: Job = slot.job
                    if slot.conn in ready:
                        try:
                            out = slot.conn.recv()
                        except (EOFError, OSError):
                            out = None
                        if isinstance(out, Outcome):
                            finish(slot, out)
                            continue
                    if slot.conn in ready or slot.proc.sentinel in ready:
                        slot.proc.join(timeout=5)
                        code = slot.proc.exitcode
                        why = (
                            f"worker died with signal {-code}"
                            if code is not None and code < 0
                            else f"worker exited with code {code}"
                        )
                        self._kill(slot)
                        slots[k] = self._spawn()
                        finish(slots[k], Outcome(job.key, "crashed", time.monotonic() - slot.started,
                                                 error=f"{why} while running {job.key}"))  # fmt: skip
                        continue
                    if time.monotonic() - slot.started >= job.timeout:
                        self._kill(slot)
                        slots[k] = self._spawn()
                        finish(slots[k], Outcome(job.key, "timeout", job.timeout,
                                                 error=f"killed after its {job.timeout:g} s wall-clock limit"))  # fmt: skip
        finally:
            for slot in slots:
                if slot.job is None and slot.proc.is_alive():
                    with contextlib.suppress(OSError):
                        slot.conn.send(None)
            for slot in slots:
                slot.proc.join(timeout=2 if slot.job is None else 0)
                if slot.proc.is_alive():
                    self._kill(slot)
        return outcomes


def default_workers() -> int:
    """One worker per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)
