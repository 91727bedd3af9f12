"""The ``ray`` executor: the same :func:`~workbench.runs.jobs.run_job` as a Ray task.

Each job becomes one task, ``ray.remote(ray_job)`` (``run_job`` with the task's CPU
share in ``WORKBENCH_CPUS``) with per-job options:

* torch backends (``neur2ro``, ``bilevel_penalty``, ``bcd``, ``alsketch``)
  ask for ``num_gpus`` when the cluster has GPUs, and for none otherwise;
* formulate jobs ask for one unit of the custom ``llm`` resource, which caps
  how many LLM conversations run at once (a local cluster started here
  declares ``llm_concurrency`` units), and no CPU: as with the local
  executor, up to ``llm_concurrency`` of them are in flight besides the
  ``workers`` solve jobs;
* no task is retried by Ray: a task whose worker dies is recorded as
  ``crashed``, one past its ``timeout`` is cancelled with
  ``ray.cancel(force=True)`` (which kills its worker) and recorded as
  ``timeout``.

At most ``workers`` solve tasks are in flight (plus the LLM ones), and a job is only submitted when
its resources are free, so the timeout clock starts when the task can
actually run.  The parent stays the only writer of the run store: outcomes
come back to it and ``on_done`` records them.

Ray is an optional extra (``pip install '.[ray]'``) and is imported only
inside the functions that use it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from workbench.cpus import CPU_SHARE_ENV
from workbench.registry import PLUGINS_ENV
from workbench.runs.jobs import TORCH_BACKENDS, Job, job_kind, run_job
from workbench.runs.store import Outcome

__all__ = ["TORCH_BACKENDS", "RayExecutor", "job_kind", "task_options"]

LLM_RESOURCE = "llm"
"""The custom Ray resource that caps concurrent LLM conversations."""


def task_options(
    job: Job, *, cluster_gpus: float, num_gpus_per_torch_job: float, llm_resource: bool
) -> dict[str, Any]:
    """The ``.options(...)`` of one job's Ray task.

    Parameters
    ----------
    job
        The job.
    cluster_gpus
        GPUs in the cluster (0 when it has none: then no task asks for one).
    num_gpus_per_torch_job
        GPUs (or a fraction) a torch-backend job asks for.
    llm_resource
        Whether the cluster declares the ``llm`` resource.

    Returns
    -------
    dict
        ``num_cpus`` (0 for a formulate job), ``max_retries`` and, where they
        apply, ``num_gpus`` and ``resources``.
    """
    opts: dict[str, Any] = {"num_cpus": 1, "max_retries": 0, "name": f"workbench:{job.key}"}
    kind = job_kind(job)
    if kind == "torch" and cluster_gpus > 0 and num_gpus_per_torch_job > 0:
        opts["num_gpus"] = min(num_gpus_per_torch_job, cluster_gpus)
    if kind == "llm":
        opts["num_cpus"] = 0  # it mostly waits on the LLM: ``llm_concurrency``, not CPUs, caps it
        if llm_resource:
            opts["resources"] = {LLM_RESOURCE: 1}
    return opts


def ray_job(job: Job, cpus: int) -> Outcome:
    """:func:`~workbench.runs.jobs.run_job` in a Ray worker that was given *cpus* CPUs.

    The worker's share goes to ``WORKBENCH_CPUS`` first (a worker process runs many
    tasks, of any size), so a solve races two solvers only on a task given two CPUs.
    """
    os.environ[CPU_SHARE_ENV] = str(max(1, int(cpus)))
    return run_job(job)


class RayExecutor:
    """Run jobs as Ray tasks on a local or remote Ray cluster.

    Parameters
    ----------
    workers
        Solve tasks in flight at most (and the CPUs of a local cluster started here).
    address
        A cluster to connect to (``"auto"``, ``"ray://host:10001"``, ...);
        ``None`` starts a local one when Ray is not initialised yet.
    llm_concurrency
        Formulate jobs (LLM conversations) running at once: the ``llm``
        resource of a local cluster started here, and a cap here too.
    num_gpus_per_torch_job
        GPUs a torch-backend job asks for when the cluster has GPUs
        (a fraction lets several share one device).
    poll
        Seconds between timeout checks while nothing finishes.
    """

    name = "ray"

    def __init__(
        self,
        workers: int = 1,
        *,
        address: str | None = None,
        llm_concurrency: int = 32,
        num_gpus_per_torch_job: float = 1.0,
        poll: float = 1.0,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if llm_concurrency < 1:
            raise ValueError(f"llm_concurrency must be >= 1, got {llm_concurrency}")
        if num_gpus_per_torch_job < 0:
            raise ValueError(f"num_gpus_per_torch_job must be >= 0, got {num_gpus_per_torch_job}")
        self.workers = workers
        self.address = address
        self.llm_concurrency = llm_concurrency
        self.num_gpus_per_torch_job = num_gpus_per_torch_job
        self.poll = poll

    # ------------------------------------------------------------- cluster
    def _connect(self) -> bool:
        """Initialise Ray if needed; return whether this call started it."""
        try:
            import ray
        except ImportError as e:
            raise ImportError(
                "the ray executor needs Ray: pip install 'optimization-workbench[ray]'"
            ) from e
        if ray.is_initialized():
            return False
        if self.address is not None:
            # A remote cluster's workers do not inherit this process's environment.
            env = {
                k: v
                for k, v in os.environ.items()
                if k == PLUGINS_ENV or k.startswith("WORKBENCH_")
            }
            ray.init(address=self.address, runtime_env={"env_vars": env} if env else None,
                     log_to_driver=False)  # fmt: skip
        else:
            ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False,
                     resources={LLM_RESOURCE: self.llm_concurrency})  # fmt: skip
        return True

    def _capacity(self, resources: dict[str, float]) -> dict[str, int]:
        """How many jobs of each kind may be in flight at once."""
        gpus = float(resources.get("GPU", 0.0))
        torch_cap = self.workers
        if gpus > 0 and self.num_gpus_per_torch_job > 0:
            per = min(self.num_gpus_per_torch_job, gpus)
            torch_cap = max(1, int(gpus / per + 1e-9))
        llm_cap = self.llm_concurrency
        if LLM_RESOURCE in resources:
            llm_cap = min(llm_cap, int(resources[LLM_RESOURCE]))
        return {"cpu": self.workers, "torch": torch_cap, "llm": max(1, llm_cap)}

    # ----------------------------------------------------------------- run
    def run(
        self,
        jobs: Iterable[Job],
        *,
        on_start: Callable[[Job], None] | None = None,
        on_done: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Run every job as a Ray task; call ``on_start``/``on_done`` here as they go.

        Returns
        -------
        list[Outcome]
            One outcome per job, in completion order.
        """
        import ray

        queues: dict[str, deque[tuple[int, Job]]] = {
            "cpu": deque(),
            "torch": deque(),
            "llm": deque(),
        }
        for k, job in enumerate(jobs):
            queues[job_kind(job)].append((k, job))
        outcomes: list[Outcome] = []
        if not any(queues.values()):
            return outcomes
        started_here = self._connect()
        inflight: dict[Any, tuple[Job, float]] = {}
        try:
            resources: dict[str, float] = dict(ray.cluster_resources())  # type: ignore[no-untyped-call]
            cap = self._capacity(resources)
            gpus = float(resources.get("GPU", 0.0))
            has_llm = LLM_RESOURCE in resources
            task = ray.remote(ray_job)

            def finish(out: Outcome) -> None:
                outcomes.append(out)
                if on_done is not None:
                    on_done(out)

            while inflight or any(queues.values()):
                submitted = self._submit(queues, inflight, cap, task, gpus, has_llm)
                if on_start is not None:
                    for job in submitted:
                        on_start(job)
                if not inflight:
                    continue
                now = time.monotonic()
                deadline = min(t0 + job.timeout for job, t0 in inflight.values())
                ready, _ = ray.wait(
                    list(inflight),
                    num_returns=1,
                    timeout=max(0.0, min(deadline - now, self.poll)),
                )
                if ready and len(inflight) > 1:  # collect every other task done by now too
                    rest = [r for r in inflight if r not in ready]
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                    ready = list(ready) + list(more)
                for ref in ready:
                    job, t0 = inflight.pop(ref)
                    finish(self._collect(ref, job, t0))
                now = time.monotonic()
                for ref, (job, t0) in list(inflight.items()):
                    if now - t0 >= job.timeout:
                        del inflight[ref]
                        ray.cancel(ref, force=True)
                        finish(Outcome(job.key, "timeout", job.timeout,
                                       error=f"killed after its {job.timeout:g} s wall-clock limit"))  # fmt: skip
        finally:
            for ref in inflight:  # interrupted: stop what still runs (best effort)
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            if started_here:
                ray.shutdown()
        return outcomes

    def _submit(
        self,
        queues: dict[str, deque[tuple[int, Job]]],
        inflight: dict[Any, tuple[Job, float]],
        cap: dict[str, int],
        task: Any,
        gpus: float,
        has_llm: bool,
    ) -> list[Job]:
        """Submit jobs, in their order, while a slot of their kind is free; return them."""
        running = dict.fromkeys(queues, 0)
        for job, _ in inflight.values():
            running[job_kind(job)] += 1
        submitted: list[Job] = []
        while True:
            solving = running["cpu"] + running["torch"]
            free = [
                k
                for k, q in queues.items()
                if q and running[k] < cap[k] and (k == "llm" or solving < self.workers)
            ]
            if not free:
                break
            kind = min(free, key=lambda k: queues[k][0][0])
            _, job = queues[kind].popleft()
            opts = task_options(job, cluster_gpus=gpus, llm_resource=has_llm,
                                num_gpus_per_torch_job=self.num_gpus_per_torch_job)  # fmt: skip
            ref = task.options(**opts).remote(job, max(1, int(opts["num_cpus"])))
            inflight[ref] = (job, time.monotonic())
            running[kind] += 1
            submitted.append(job)
        return submitted

    @staticmethod
    def _collect(ref: Any, job: Job, t0: float) -> Outcome:
        """The outcome of a finished task; a dead worker becomes ``crashed``."""
        import ray
        from ray import exceptions as rex

        try:
            out = ray.get(ref)
        except rex.TaskCancelledError:
            return Outcome(job.key, "timeout", time.monotonic() - t0, error="task cancelled")
        except rex.RayTaskError as e:  # run_job never raises; this is Ray's own failure
            return Outcome(job.key, "error", time.monotonic() - t0,
                           error=f"Ray task failed: {str(e).strip().splitlines()[-1]}")  # fmt: skip
        except rex.RayError as e:  # WorkerCrashedError, NodeDiedError, ObjectLostError, ...
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            return Outcome(job.key, "crashed", time.monotonic() - t0,
                           error=f"worker died ({type(e).__name__}: {first}) while running {job.key}")  # fmt: skip
        if not isinstance(out, Outcome):
            return Outcome(job.key, "error", time.monotonic() - t0,
                           error=f"the task returned {type(out).__name__}, not an Outcome")  # fmt: skip
        return out
