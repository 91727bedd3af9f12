"""Plan and run a batch: dataset items x backends (x agents) -> jobs -> executor -> store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from workbench.runs.jobs import Job, job_key
from workbench.runs.store import ItemSpec, Outcome, RunStore

__all__ = ["Executor", "make_executor", "plan_jobs", "run_batch"]


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

    ``timeout`` (the wall-clock kill) defaults to ``2 * time_limit + 30`` s,
    or 600 s without a time limit.
    """
    if timeout is None:
        timeout = 2 * time_limit + 30 if time_limit else 600.0
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
        store.record(rid, out)
        if on_done is not None:
            on_done(out)

    try:
        executor.run(run_jobs, on_start=start, on_done=done)
    except BaseException:
        store.finish_run(rid, "interrupted")
        raise
    store.finish_run(rid, "done")
    return rid
