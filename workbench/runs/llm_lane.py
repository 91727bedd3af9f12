"""LLM-bound jobs on threads: many conversations in flight, their solves in worker processes.

A formulate job spends most of its time waiting for an LLM.  The local
executor runs such jobs on the threads of an :class:`LLMLane` in its own
process (``llm_concurrency`` of them at once), and each candidate solve an
agent makes goes, as a :class:`SolveRequest`, to the executor's worker
processes, which keep the per-solve wall-clock kill.  Sandboxed code runs in
its own subprocess as always.

Threads cannot be killed: a lane job past its ``timeout`` is recorded as
``timeout`` with what it knew (its latest model and result), its running
solve is killed, and its next solve raises, so the thread ends soon after.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import BackendError
from workbench.runs.jobs import Job, JobProgress, partial_outcome, run_job
from workbench.runs.store import Outcome

__all__ = ["LLMLane", "SolveReply", "SolveRequest", "run_solve_request", "solve_timeout"]


def solve_timeout(time_limit: float | None) -> float:
    """The wall-clock kill of one candidate solve: ``2 * limit + 30`` s, or 600 s without a limit."""
    return 2 * time_limit + 30 if time_limit else 600.0


@dataclass
class SolveRequest:
    """One candidate solve that an agent on a lane thread asks a worker process for."""

    id: int
    key: str
    """The key of the job that asked (for its kill)."""
    model: Any
    backend: str
    kwargs: dict[str, Any]
    timeout: float


@dataclass
class SolveReply:
    """A worker's answer: the ``Result``, or the exception the solve raised."""

    id: int
    result: Any = None
    error: BaseException | None = None


def run_solve_request(req: SolveRequest) -> SolveReply:
    """Solve *req* in this (worker) process; never raises."""
    from workbench.solving import solve

    try:
        return SolveReply(req.id, result=solve(req.model, req.backend, **req.kwargs))
    except Exception as e:
        try:
            pickle.loads(pickle.dumps(e))  # it must survive the pipe
            err: BaseException = e
        except Exception:
            err = BackendError(f"{type(e).__name__}: {e}")
        return SolveReply(req.id, error=err)


@dataclass
class _Running:
    job: Job
    started: float
    progress: JobProgress


@dataclass
class LLMLane:
    """Threads that run LLM-bound jobs, with their solves sent to the executor.

    Parameters
    ----------
    size
        Threads, i.e. jobs in flight at most (``llm_concurrency``).
    wake
        Called (from any thread) after an event or a solve request is queued,
        so that the executor's loop looks at them.
    """

    size: int
    wake: Any
    events: queue.SimpleQueue[tuple[str, Any]] = field(default_factory=queue.SimpleQueue)
    requests: queue.SimpleQueue[SolveRequest] = field(default_factory=queue.SimpleQueue)
    running: dict[str, _Running] = field(default_factory=dict)
    """Started and not yet reported, by job key (the executor's thread only)."""
    abandoned: set[str] = field(default_factory=set)
    pending: int = 0
    """Jobs handed to the lane and not yet reported."""
    _jobs: queue.Queue[Job | None] = field(default_factory=queue.Queue)
    _futures: dict[int, tuple[str, Future[Any]]] = field(default_factory=dict)
    _ids: Any = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    # ------------------------------------------------------- lane threads
    def submit(self, job: Job) -> None:
        """Queue *job*; a free thread starts it."""
        self.pending += 1
        if len(self._threads) < min(self.size, self.pending):
            t = threading.Thread(target=self._loop, name=f"wb-llm-{len(self._threads)}",
                                 daemon=True)  # fmt: skip
            self._threads.append(t)
            t.start()
        self._jobs.put(job)

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self._jobs.get()
            if job is None or self._stop.is_set():
                return
            progress = JobProgress()
            self._emit("start", (job, time.monotonic(), progress))

            def solve(model: Any, backend: str, _job: Job = job, **kw: Any) -> Any:
                return self._solve(_job, model, backend, kw)

            out = run_job(job, solve=solve, progress=progress)
            self._emit("done", (job, out))

    def _emit(self, kind: str, payload: Any) -> None:
        self.events.put((kind, payload))
        self.wake()

    def _solve(self, job: Job, model: Any, backend: str, kwargs: dict[str, Any]) -> Any:
        """Runs on a lane thread: send one solve to the workers and wait for it."""
        if self._stop.is_set():
            raise BackendError("the batch is stopping")
        fut: Future[Any] = Future()
        req = SolveRequest(next(self._ids), job.key, model, backend, dict(kwargs),
                           solve_timeout(kwargs.get("time_limit")))  # fmt: skip
        with self._lock:
            self._futures[req.id] = (job.key, fut)
        self.requests.put(req)
        self.wake()
        return fut.result()

    # ------------------------------------------------- the executor's side
    def answer(self, reply: SolveReply) -> None:
        """Hand a worker's reply to the waiting thread."""
        with self._lock:
            entry = self._futures.pop(reply.id, None)
        if entry is None:
            return
        if reply.error is not None:
            entry[1].set_exception(reply.error)
        else:
            entry[1].set_result(reply.result)

    def fail(self, req_id: int, why: str) -> None:
        """The solve *req_id* was killed or its worker died: the thread gets a ``BackendError``."""
        with self._lock:
            entry = self._futures.pop(req_id, None)
        if entry is not None:
            entry[1].set_exception(BackendError(why))

    def wanted(self, req: SolveRequest) -> bool:
        """Whether someone still waits for *req* (its job was not given up)."""
        with self._lock:
            return req.id in self._futures

    def poll(self) -> tuple[list[Job], list[Outcome]]:
        """Jobs that started and outcomes that finished since the last poll."""
        started: list[Job] = []
        finished: list[Outcome] = []
        while True:
            try:
                kind, payload = self.events.get_nowait()
            except queue.Empty:
                break
            if kind == "start":
                job, t0, progress = payload
                self.running[job.key] = _Running(job, t0, progress)
                started.append(job)
            else:
                job, out = payload
                self.running.pop(job.key, None)
                if job.key in self.abandoned:
                    self.abandoned.discard(job.key)
                    continue  # already recorded as a timeout
                self.pending -= 1
                finished.append(out)
        return started, finished

    def deadline(self) -> float | None:
        """The earliest job-timeout instant of the running jobs."""
        live = [
            r.started + r.job.timeout for k, r in self.running.items() if k not in self.abandoned
        ]
        return min(live) if live else None

    def expire(self, now: float) -> list[tuple[Outcome, str]]:
        """Give up on jobs past their timeout: their outcomes (what they knew) and keys."""
        out: list[tuple[Outcome, str]] = []
        for key, r in list(self.running.items()):
            if key in self.abandoned or now - r.started < r.job.timeout:
                continue
            r.progress.cancelled.set()
            self.abandoned.add(key)
            self.pending -= 1
            why = f"killed after its {r.job.timeout:g} s wall-clock limit"
            out.append((partial_outcome(r.job, r.progress, now - r.started, why), key))
            with self._lock:
                mine = [i for i, (k, _) in self._futures.items() if k == key]
            for i in mine:
                self.fail(i, why)
        return out

    def stop(self) -> None:
        """Stop: waiting threads get an error, idle ones exit (all are daemons)."""
        self._stop.set()
        with self._lock:
            ids = list(self._futures)
        for i in ids:
            self.fail(i, "the batch stopped")
        for _ in self._threads:
            self._jobs.put(None)


def wake_pipe() -> tuple[int, Any]:
    """A non-blocking self-pipe: the read end (for ``wait``) and a thread-safe ``wake()``."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)

    def wake() -> None:
        with contextlib.suppress(OSError):  # full (a wake-up is pending anyway) or closed
            os.write(w, b"x")

    wake.fds = (r, w)  # type: ignore[attr-defined]
    return r, wake


def drain(fd: int) -> None:
    """Empty the read end of a wake pipe."""
    with contextlib.suppress(OSError):  # BlockingIOError: it is empty
        while os.read(fd, 4096):
            pass
