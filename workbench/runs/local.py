"""The ``local`` executor: persistent worker processes, a wall-clock limit per job, crash isolation.

Each worker runs :func:`~workbench.runs.jobs.run_job` on the jobs the parent
hands it, one at a time, over a pipe.  A job past its ``timeout`` gets its
worker killed; a worker that dies (a segfault, an out-of-memory kill) is
replaced.  Either way the job is recorded as ``timeout``/``crashed`` and
the batch goes on.  The parent is the only writer to the run store.

Formulate jobs (LLM-bound) run instead on up to ``llm_concurrency`` threads
of the parent (see :mod:`workbench.runs.llm_lane`); every candidate solve
their agents make goes to the same worker processes, with its own kill.
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
from queue import Empty
from typing import Any

from workbench.cpus import CPU_SHARE_ENV, cpu_count
from workbench.runs.jobs import Job, job_kind, run_job
from workbench.runs.llm_lane import (
    LLMLane,
    SolveReply,
    SolveRequest,
    drain,
    run_solve_request,
    wake_pipe,
)
from workbench.runs.store import Outcome

DEFAULT_LLM_CONCURRENCY = 32
"""LLM conversations in flight by default: enough for an API endpoint, cheap on a laptop."""

__all__ = ["LocalExecutor"]


def _worker_main(conn: Connection, cpus: int = 0) -> None:
    # Workers ignore Ctrl-C; the parent decides what happens to a batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if cpus > 0:  # this worker's share of the machine: a solve races two solvers only if >= 2
        os.environ[CPU_SHARE_ENV] = str(cpus)
    _warm()  # before the first job's clock starts

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
        out = run_solve_request(job) if isinstance(job, SolveRequest) else run_job(job)
        try:
            conn.send(out)
        except (BrokenPipeError, OSError):
            return


_WARM_MODEL = {
    "name": "warm",
    "variables": {"x": {"lb": 0, "ub": 1}},
    "objective": {"sense": "max", "expr": "x"},
}


def _warm() -> None:
    """Import the solve path, and solve one tiny LP so the default backend is loaded too."""
    import workbench.solving

    with contextlib.suppress(Exception):  # no default backend: the first job finds out
        from workbench.ir.io import model_from_dict

        workbench.solving.solve(model_from_dict(_WARM_MODEL), "auto", time_limit=5)


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
    sent: deque[Any] = field(default_factory=deque)
    """Jobs (or solve requests) handed to this worker, in order: ``sent[0]`` runs, the rest
    wait in its pipe."""
    started: float = 0.0

    @property
    def job(self) -> Any:
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
    llm_concurrency
        Formulate jobs run on this many threads of this process, their solves
        on the workers; ``0`` runs them in the worker processes, one per worker
        at a time.
    """

    name = "local"

    def __init__(
        self,
        workers: int = 1,
        start_method: str = "spawn",
        prefetch: int = 1,
        llm_concurrency: int = DEFAULT_LLM_CONCURRENCY,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        if llm_concurrency < 0:
            raise ValueError(f"llm_concurrency must be >= 0, got {llm_concurrency}")
        self.workers = workers
        self.prefetch = prefetch
        self.llm_concurrency = llm_concurrency
        self.ctx = mp.get_context(start_method)

    def _spawn(self) -> _Slot:
        parent, child = self.ctx.Pipe(duplex=True)
        share = max(1, cpu_count() // max(1, self.workers))
        proc = self.ctx.Process(target=_worker_main, args=(child, share), daemon=True)  # type: ignore[attr-defined]
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
        queue: deque[Job] = deque()
        wake_fd, wake = wake_pipe()
        lane = LLMLane(self.llm_concurrency, wake)
        for job in jobs:
            if self.llm_concurrency > 0 and job_kind(job) == "llm":
                lane.submit(job)
            else:
                queue.append(job)
        outcomes: list[Outcome] = []
        solves: deque[SolveRequest] = deque()
        n_slots = self.workers if lane.pending else min(self.workers, len(queue))
        slots = [self._spawn() for _ in range(n_slots)]
        started: list[Job] = []  # reported after every idle worker got its next job
        finished: list[Outcome] = []

        def feed(slot: _Slot) -> None:
            while solves and not slot.sent:  # an agent waits: only to an idle worker
                req = solves.popleft()
                if lane.wanted(req):
                    slot.conn.send(req)
                    slot.sent.append(req)
                    slot.started = time.monotonic()
            depth = 1 + (self.prefetch if len(queue) > len(slots) else 0)
            while queue and len(slot.sent) < depth:
                nxt = queue.popleft()
                slot.conn.send(nxt)
                slot.sent.append(nxt)
                if len(slot.sent) == 1:
                    slot.started = time.monotonic()
                    started.append(nxt)

        def settle(task: Any, out: Outcome) -> None:
            if isinstance(task, SolveRequest):
                lane.fail(task.id, out.error or out.status)
            else:
                outcomes.append(out)
                finished.append(out)

        def complete(slot: _Slot, got: Any) -> None:
            slot.sent.popleft()
            if isinstance(got, SolveReply):
                lane.answer(got)
            else:
                outcomes.append(got)
                finished.append(got)
            if slot.sent:  # the worker went straight on to its queued job
                slot.started = time.monotonic()
                if isinstance(slot.sent[0], Job):
                    started.append(slot.sent[0])

        def replace(k: int, out: Outcome) -> None:
            slot = slots[k]
            self._kill(slot)
            task = slot.sent.popleft()
            queue.extendleft(reversed([j for j in slot.sent if isinstance(j, Job)]))
            slots[k] = self._spawn()
            settle(task, out)

        try:
            while True:
                drain(wake_fd)
                while True:
                    try:
                        solves.append(lane.requests.get_nowait())
                    except Empty:
                        break
                begun, ended = lane.poll()
                started.extend(begun)
                finished.extend(ended)
                outcomes.extend(ended)
                for out, key in lane.expire(time.monotonic()):
                    outcomes.append(out)
                    finished.append(out)
                    for k, slot in enumerate(slots):  # its running solve goes too
                        if isinstance(slot.job, SolveRequest) and slot.job.key == key:
                            replace(k, Outcome(key, "timeout", None, error="its job timed out"))
                for slot in slots:
                    feed(slot)
                for begun_job in started:
                    if on_start is not None:
                        on_start(begun_job)
                started.clear()
                while finished:
                    out = finished.pop(0)
                    if on_done is not None:
                        on_done(out)
                busy = [s for s in slots if s.sent]
                if not busy and not lane.pending and not queue and not solves:
                    break
                limits = [
                    s.started + s.sent[0].timeout if s.ready else s.spawned + STARTUP_TIMEOUT
                    for s in busy
                ]
                lane_deadline = lane.deadline()
                if lane_deadline is not None:
                    limits.append(lane_deadline)
                timeout = max(0.0, min(limits) - time.monotonic()) if limits else None
                ready = wait(
                    [s.conn for s in busy] + [s.proc.sentinel for s in busy] + [wake_fd],
                    timeout=timeout,
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
                        if isinstance(got, Outcome | SolveReply):
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
                        what = "solve" if isinstance(job, SolveRequest) else "wall-clock"
                        replace(k, Outcome(job.key, "timeout", job.timeout,
                                           error=f"killed after its {job.timeout:g} s {what} limit"))  # fmt: skip
        finally:
            lane.stop()
            for slot in slots:
                if not slot.sent and slot.proc.is_alive():
                    with contextlib.suppress(OSError):
                        slot.conn.send(None)
            for slot in slots:
                slot.proc.join(timeout=2 if not slot.sent else 0)
                if slot.proc.is_alive():
                    self._kill(slot)
            for fd in getattr(wake, "fds", ()):
                with contextlib.suppress(OSError):
                    os.close(fd)
        return outcomes


def default_workers() -> int:
    """One worker per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)
