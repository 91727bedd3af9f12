"""Plan and run a batch: dataset items x backends (x agents) -> jobs -> executor -> store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from workbench.runs.jobs import Job, job_key
from workbench.runs.store import ItemSpec, Outcome, RunStore

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "Executor",
    "default_timeout",
    "make_executor",
    "plan_jobs",
    "record_or_fail",
    "run_batch",
]

DEFAULT_TIME_LIMIT = 60.0
"""Solver seconds per solve in a batch when none is given, so that no worker can hang."""


class Executor(Protocol):
    """Runs jobs and reports each outcome as it finishes."""

    name: str

    def run(
        self,
        jobs: Sequence[Job],
        *,
        on_start: Callable[[Job], None] | None = None,
        on_done: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Run every job."""
        ...


def make_executor(name: str, workers: int, **kwargs: Any) -> Executor:
    """``local`` (worker processes) or ``ray`` (the optional ``ray`` extra).

    Keyword arguments go to the executor (``llm_concurrency`` for both).

    Raises
    ------
    ValueError
        For an unknown executor name.
    """
    if name == "local":
        from workbench.runs.local import LocalExecutor

        return LocalExecutor(workers=workers, **kwargs)
    if name == "ray":
        from workbench.runs.ray_executor import RayExecutor

        ray_executor: Executor = RayExecutor(workers=workers, **kwargs)
        return ray_executor
    raise ValueError(f"unknown executor {name!r}; use 'local' or 'ray'")


def default_timeout(time_limit: float | None, *, pipeline: str = "solve", budget: int = 3) -> float:
    """The default wall-clock kill of a job.

    ``2 * time_limit + 30`` s for one solve (600 s without a limit); a
    formulate job makes up to ``budget + 1`` attempts, each with LLM calls
    and a solve, so it gets ``(budget + 1) * (2 * time_limit + 120)`` s
    (``(budget + 1) * 600`` without a limit).  A formulate job stops by
    itself before its kill when too little time is left for another solve.
    """
    if pipeline == "formulate":
        per = 2 * time_limit + 120 if time_limit else 600.0
        return (max(0, budget) + 1) * per
    return 2 * time_limit + 30 if time_limit else 600.0


def plan_jobs(
    problems: Sequence[Any],
    *,
    dataset: str,
    dataset_args: dict[str, Any] | None = None,
    pipeline: str = "solve",
    backends: Sequence[str] = ("auto",),
    agents: Sequence[str] = ("",),
    time_limit: float | None = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> list[Job]:
    """One job per (problem, backend, agent).

    ``timeout`` (the wall-clock kill) defaults to :func:`default_timeout`.
    """
    if timeout is None:
        budget = int((options or {}).get("budget", 3))
        timeout = default_timeout(time_limit, pipeline=pipeline, budget=budget)
    jobs = []
    for p in problems:
        for backend in backends:
            for agent in agents:
                jobs.append(
                    Job(
                        key=job_key(p.id, backend, agent), item_id=p.id, dataset=dataset,
                        dataset_args=dict(dataset_args or {}), pipeline=pipeline, backend=backend,
                        agent=agent, time_limit=time_limit, seed=seed, options=dict(options or {}),
                        timeout=timeout,
                    )
                )  # fmt: skip
    return jobs


def record_or_fail(store: RunStore, run_id: str, out: Outcome) -> Outcome:
    """Record *out*; if that fails, record the item as ``error`` with the reason instead.

    One item that cannot be written (a value the store cannot hold, a broken
    artifact) never stops the batch.  Only a store that cannot record even
    the failure (a full disk, a lost file) raises.

    Returns
    -------
    Outcome
        What was recorded.
    """
    try:
        store.record(run_id, out)
        return out
    except Exception as e:
        why = f"the outcome could not be recorded ({type(e).__name__}: {e})"
        if out.error:
            why += f"; the job had reported: {out.error}"
        failed = Outcome(out.key, "error", out.elapsed, error=why)
        store.record(run_id, failed)
        return failed


def run_batch(
    store: RunStore,
    jobs: Sequence[Job] | None = None,
    *,
    resume: str | None = None,
    executor: Executor,
    name: str = "",
    suite: str = "",
    config: dict[str, Any] | None = None,
    on_start: Callable[[Job], None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
) -> str:
    """Create (or resume) a run and execute its jobs, recording each as it finishes.

    Parameters
    ----------
    store
        The run store (this process is its only writer for the run).
    jobs
        The jobs of a new run; ignored when resuming.
    resume
        A run id: run only its missing and failed items.
    executor
        Where jobs run.

    Returns
    -------
    str
        The run id.
    """
    if resume is not None:
        run = store.run(resume)
        todo = set(store.reopen_run(resume))
        by_key = {it["key"]: Job(**it["job"]) for it in store.items(resume)}
        run_jobs = [by_key[k] for k in by_key if k in todo]
        rid = str(run["id"])
    else:
        if not jobs:
            raise ValueError("a batch needs at least one job")
        specs = [
            ItemSpec(j.key, j.item_id, j.dataset, j.backend, j.agent, j.to_dict()) for j in jobs
        ]
        pipeline = jobs[0].pipeline
        rid = store.create_run(specs, name=name, suite=suite, pipeline=pipeline, config=config)
        run_jobs = list(jobs)

    def start(job: Job) -> None:
        store.mark_running(rid, job.key)
        if on_start is not None:
            on_start(job)

    def done(out: Outcome) -> None:
        out = record_or_fail(store, rid, out)
        if on_done is not None:
            on_done(out)

    try:
        executor.run(run_jobs, on_start=start, on_done=done)
    except BaseException:
        store.finish_run(rid, "interrupted")
        raise
    store.finish_run(rid, "done")
    return rid
