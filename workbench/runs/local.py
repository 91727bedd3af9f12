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
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from workbench.runs.jobs import Job, run_job
from workbench.runs.store import Outcome

__all__ = ["LocalExecutor"]


def _worker_main(conn: Connection) -> None:
    # Workers ignore Ctrl-C; the parent decides what happens to a batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import workbench.solving  # noqa: F401  (warm the imports before the first job's clock starts)

    try:
        conn.send(_READY)  # the parent starts the first job's clock now
    except (BrokenPipeError, OSError):
        return
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


_READY = "ready"
"""The message a worker sends once its imports are done."""

STARTUP_TIMEOUT = 120.0
"""Seconds a new worker may take to import before it counts as crashed."""


@dataclass
class _Slot:
    proc: Any
    conn: Connection
    ready: bool = False
    """Whether the worker has finished starting (until then no job's clock runs)."""
    spawned: float = field(default_factory=time.monotonic)
    sent: deque[Job] = field(default_factory=deque)
    """Jobs handed to this worker, in order: ``sent[0]`` runs, the rest wait in its pipe."""
    started: float = 0.0

    @property
    def job(self) -> Job | None:
        """The job running now."""
        return self.sent[0] if self.sent else None


class LocalExecutor:
    """Run jobs on ``workers`` local processes.

    Parameters
    ----------
    workers
        Number of worker processes (at least 1).
    start_method
        ``spawn`` (default: safe with threaded solver libraries), ``forkserver`` or ``fork``.
    prefetch
        Jobs queued in each worker's pipe beyond the running one, so a worker
        starts its next job without waiting for the parent (which meanwhile
        writes the store).  Only while the queue holds more jobs than there
        are workers, so the tail of a batch is still balanced; a queued job
        whose worker dies or is killed goes back to the queue, unstarted.
    """

    name = "local"

    def __init__(self, workers: int = 1, start_method: str = "spawn", prefetch: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        self.workers = workers
        self.prefetch = prefetch
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

        ``on_start`` is called when a job starts running in its worker (not
        when it is queued there), ``on_done`` once per job with its outcome.
        Workers get their next job before the parent runs these callbacks.

        Returns
        -------
        list[Outcome]
            One outcome per job, in completion order.
        """
        queue = deque(jobs)
        outcomes: list[Outcome] = []
        if not queue:
            return outcomes
        slots = [self._spawn() for _ in range(min(self.workers, len(queue)))]
        started: list[Job] = []  # reported after every idle worker got its next job
        finished: list[Outcome] = []

        def feed(slot: _Slot) -> None:
            depth = 1 + (self.prefetch if len(queue) > len(slots) else 0)
            while queue and len(slot.sent) < depth:
                nxt = queue.popleft()
                slot.conn.send(nxt)
                slot.sent.append(nxt)
                if len(slot.sent) == 1:
                    slot.started = time.monotonic()
                    started.append(nxt)

        def complete(slot: _Slot, out: Outcome) -> None:
            slot.sent.popleft()
            outcomes.append(out)
            finished.append(out)
            if slot.sent:  # the worker went straight on to its queued job
                slot.started = time.monotonic()
                started.append(slot.sent[0])

        def replace(k: int, out: Outcome) -> None:
            slot = slots[k]
            self._kill(slot)
            slot.sent.popleft()
            queue.extendleft(reversed(slot.sent))  # queued there, never started
            slots[k] = self._spawn()
            outcomes.append(out)
            finished.append(out)

        try:
            while True:
                for slot in slots:
                    feed(slot)
                for begun in started:
                    if on_start is not None:
                        on_start(begun)
                started.clear()
                while finished:
                    out = finished.pop(0)
                    if on_done is not None:
                        on_done(out)
                busy = [s for s in slots if s.sent]
                if not busy:
                    break
                deadline = min(
                    s.started + s.sent[0].timeout if s.ready else s.spawned + STARTUP_TIMEOUT
                    for s in busy
                )
                ready = wait(
                    [s.conn for s in busy] + [s.proc.sentinel for s in busy],
                    timeout=max(0.0, deadline - time.monotonic()),
                )
                for k, slot in enumerate(slots):
                    job = slot.job
                    if job is None:
                        continue
                    if slot.conn in ready:
                        try:
                            got = slot.conn.recv()
                        except (EOFError, OSError):
                            got = None
                        if isinstance(got, Outcome):
                            complete(slot, got)
                            continue
                        if got == _READY:
                            slot.ready, slot.started = True, time.monotonic()
                            continue
                    if slot.conn in ready or slot.proc.sentinel in ready:
                        slot.proc.join(timeout=5)
                        code = slot.proc.exitcode
                        why = (
                            f"worker died with signal {-code}"
                            if code is not None and code < 0
                            else f"worker exited with code {code}"
                        )
                        replace(k, Outcome(job.key, "crashed", time.monotonic() - slot.started,
                                           error=f"{why} while running {job.key}"))  # fmt: skip
                        continue
                    if not slot.ready:
                        if time.monotonic() - slot.spawned >= STARTUP_TIMEOUT:
                            replace(k, Outcome(job.key, "crashed", None, error=(
                                f"the worker did not start within {STARTUP_TIMEOUT:g} s")))  # fmt: skip
                        continue
                    if time.monotonic() - slot.started >= job.timeout:
                        replace(k, Outcome(job.key, "timeout", job.timeout,
                                           error=f"killed after its {job.timeout:g} s wall-clock limit"))  # fmt: skip
        finally:
            for slot in slots:
                if not slot.sent and slot.proc.is_alive():
                    with contextlib.suppress(OSError):
                        slot.conn.send(None)
            for slot in slots:
                slot.proc.join(timeout=2 if not slot.sent else 0)
                if slot.proc.is_alive():
                    self._kill(slot)
        return outcomes


def default_workers() -> int:
    """One worker per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)
