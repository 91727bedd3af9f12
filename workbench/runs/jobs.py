"""The job function shared by every executor: one item through one pipeline.

A :class:`Job` is plain data (picklable, JSON-able); :func:`run_job` loads the
problem from its dataset (cached per process), runs the pipeline and scores
the outcome.  It never raises: failures become ``status='error'`` outcomes.

A formulate job's agent solves every candidate with the job's time limit and
seed, and within the job's deadline (its start plus ``timeout``): when too
little time is left for another solve, the job ends as ``timeout`` keeping
the latest model, its result and the LLM calls so far.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.registry import LazyRegistry
from workbench.runs.store import Outcome

__all__ = [
    "TORCH_BACKENDS",
    "Job",
    "JobProgress",
    "job_key",
    "job_kind",
    "partial_outcome",
    "run_job",
]

TORCH_BACKENDS = frozenset({"neur2ro", "bilevel_penalty", "bcd", "alsketch"})
"""Backends that run on PyTorch and can use a GPU."""


@dataclass
class Job:
    """One item run through one pipeline.

    Attributes
    ----------
    key
        Unique within the run: ``item|backend|agent``.
    item_id, dataset, dataset_args
        Which problem: ``get_dataset(dataset, **dataset_args)`` then the row with this id.
    pipeline
        ``solve`` (the reference model or file, with ``backend``),
        ``formulate`` (the text, with ``agent``, then solve) or ``tune`` (the
        tuner named by ``agent``, from the ``workbench.tuners`` registry).
    backend, agent
        Names from the registries (``auto`` allowed for backend).
    time_limit, seed, options
        Passed to ``solve`` (options are backend-specific).
    timeout
        Wall-clock seconds after which the executor kills the job.
    """

    key: str
    item_id: str
    dataset: str
    dataset_args: dict[str, Any] = field(default_factory=dict)
    pipeline: str = "solve"
    backend: str = "auto"
    agent: str = ""
    time_limit: float | None = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    timeout: float = 600.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as stored with the item."""
        return asdict(self)


def job_key(item_id: str, backend: str = "", agent: str = "") -> str:
    """The item key ``item|backend|agent``."""
    return f"{item_id}|{backend}|{agent}"


def job_kind(job: Job) -> str:
    """``llm`` (a formulate job: mostly waiting on an LLM), ``torch`` (a torch backend) or ``cpu``."""
    if job.pipeline == "formulate":
        return "llm"
    if job.backend in TORCH_BACKENDS:
        return "torch"
    return "cpu"


@dataclass
class JobProgress:
    """What a running formulate job knows so far (kept when it times out).

    Attributes
    ----------
    model, result
        The latest candidate model solved and its result.
    llm
        The job's LLM client (its ``calls`` log).
    cancelled
        Set by an executor that gave up on the job: its next solve raises.
    """

    model: Any = None
    result: Any = None
    llm: Any = None
    cancelled: threading.Event = field(default_factory=threading.Event)


_DATASETS: dict[str, dict[str, Any]] = {}


def _problem(job: Job) -> Any:
    from workbench.datasets import get_dataset

    cache_key = f"{job.dataset}:{sorted(job.dataset_args.items())!r}"
    table = _DATASETS.get(cache_key)
    if table is None:
        table = {p.id: p for p in get_dataset(job.dataset, **job.dataset_args)}
        _DATASETS[cache_key] = table
    try:
        return table[job.item_id]
    except KeyError:
        raise KeyError(f"dataset {job.dataset!r} has no item {job.item_id!r}") from None


def _solve_pipeline(job: Job, problem: Any) -> dict[str, Any]:
    from workbench.solving import solve

    source = (
        problem.model
        if problem.model is not None
        else (problem.linear_form if problem.linear_form is not None else problem.path)
    )
    if source is None:
        raise ValueError(f"item {job.item_id!r} has no model or file to solve")
    result = solve(
        source, job.backend or "auto", time_limit=job.time_limit, seed=job.seed, **job.options
    )
    return {"result": result.to_dict()}


SolveFn = Callable[..., Any]
"""``solve(model, backend, *, time_limit, seed, **options) -> Result``."""


def _formulate_pipeline(
    job: Job, problem: Any, solve: SolveFn | None, progress: JobProgress, t0: float
) -> dict[str, Any]:
    import json

    from workbench.formulation import DeadlineExceeded, formulate
    from workbench.ir.io import dump_model
    from workbench.llm_factory import make_llm

    if solve is None:
        from workbench.solving import solve as solve_here

        solve = solve_here
    backend = job.backend or "auto"
    run_solve: SolveFn = solve

    def tracked(model: Any, **kw: Any) -> Any:
        if progress.cancelled.is_set():
            raise DeadlineExceeded("the executor gave up on this job")
        result = run_solve(model, backend, **kw)
        progress.model, progress.result = model, result
        return result

    llm = progress.llm = make_llm(dict(job.options.get("llm", {})))
    margin = min(30.0, 0.1 * job.timeout)  # kept in hand before the executor's kill
    try:
        form = formulate(
            problem.text, job.agent, llm=llm, budget=int(job.options.get("budget", 3)),
            time_limit=job.time_limit, seed=job.seed, solve=tracked,
            deadline=t0 + job.timeout - margin, **dict(job.options.get("agent_options", {})),
        )  # fmt: skip
    finally:
        close = getattr(llm, "close", None)
        if callable(close):
            close()
    attempts = [
        {"index": a.index, "status": "ok" if a.error is None else "error", "error": a.error,
         "feedback": a.feedback, "code": a.code,
         "model": dump_model(a.model) if a.model is not None else None}
        for a in form.attempts
    ]  # fmt: skip
    artifacts = [{"name": "transcript", "kind": "json", "content": json.dumps(form.transcript)}]
    if form.model is not None:
        artifacts.append({"name": "model.yaml", "kind": "yaml", "content": dump_model(form.model)})
    if form.code is not None:
        artifacts.append({"name": "model.py", "kind": "python", "content": form.code})
    return {
        "result": form.result.to_dict() if form.result is not None else None,
        "attempts": attempts,
        "llm_calls": list(getattr(llm, "calls", [])),
        "artifacts": artifacts,
    }


TUNERS: LazyRegistry[Callable[..., dict[str, Any]]] = LazyRegistry("workbench.tuners")
"""Tuners (LLM optimisers over the workflow) register here by name, like backends and agents.

A tuner is ``f(problem, job) -> {"result": Result.to_dict() | None, "attempts": [...],
"llm_calls": [...], "artifacts": [...]}``; ``job.agent`` names it and ``job.options`` configures it.
"""


def _tune_pipeline(job: Job, problem: Any) -> dict[str, Any]:
    try:
        tuner = TUNERS.load(job.agent)
    except KeyError:
        known = ", ".join(TUNERS.names()) or "none are installed"
        raise ValueError(
            f"no tuner {job.agent!r} is registered; registered tuners: {known}"
        ) from None
    return tuner(problem, job)


def _score(job: Job, result: dict[str, Any] | None) -> dict[str, Any]:
    from workbench.scoring import score

    problem = _problem(job)
    reference = problem.optimum
    if reference is None and problem.status == "unknown":
        reference = problem.meta.get("reference")  # best known: primal gaps only
    return score(result, reference=reference, status=problem.status, rule=problem.meta.get("rule"))


def partial_outcome(job: Job, progress: JobProgress, elapsed: float, why: str) -> Outcome:
    """A ``timeout`` outcome keeping what a formulate job knew: the latest model and result.

    Parameters
    ----------
    job
        The job.
    progress
        What it recorded as it went.
    elapsed
        Seconds it ran.
    why
        The reason, stored as the item's error.
    """
    from workbench.ir.io import dump_model

    result = progress.result.to_dict() if progress.result is not None else None
    artifacts: list[dict[str, Any]] = []
    if progress.model is not None:
        with contextlib.suppress(Exception):  # a model that cannot be dumped is left out
            artifacts.append({"name": "model.yaml", "kind": "yaml",
                              "content": dump_model(progress.model)})  # fmt: skip
    try:
        sc = _score(job, result)
    except Exception:  # noqa: BLE001 - scoring a partial outcome is best effort
        sc = {}
    calls = list(getattr(progress.llm, "calls", []) or [])
    return Outcome(key=job.key, status="timeout", elapsed=elapsed, error=why, result=result,
                   score=sc, llm_calls=calls, artifacts=artifacts)  # fmt: skip


def run_job(
    job: Job, *, solve: SolveFn | None = None, progress: JobProgress | None = None
) -> Outcome:
    """Run *job* to an :class:`~workbench.runs.store.Outcome`; never raises.

    Parameters
    ----------
    job
        The job.
    solve
        How a formulate job's agent solves its candidates (default: in this
        process); the local executor passes its solver processes here.
    progress
        Filled as a formulate job goes (an executor keeps it for a timeout).
    """
    from workbench.formulation import DeadlineExceeded

    t0 = time.perf_counter()
    progress = progress if progress is not None else JobProgress()
    try:
        problem = _problem(job)
        if job.pipeline == "solve":
            out = _solve_pipeline(job, problem)
        elif job.pipeline == "formulate":
            out = _formulate_pipeline(job, problem, solve, progress, time.monotonic())
        elif job.pipeline == "tune":
            out = _tune_pipeline(job, problem)
        else:
            raise ValueError(
                f"unknown pipeline {job.pipeline!r}; use 'solve', 'formulate' or 'tune'"
            )
        sc = _score(job, out.get("result"))
        return Outcome(
            key=job.key, status="done", elapsed=time.perf_counter() - t0,
            result=out.get("result"), score=sc, attempts=out.get("attempts", []),
            llm_calls=out.get("llm_calls", []), artifacts=out.get("artifacts", []),
        )  # fmt: skip
    except DeadlineExceeded as e:
        return partial_outcome(
            job, progress, time.perf_counter() - t0, f"stopped at its deadline: {e}"
        )
    except Exception as e:
        return Outcome(
            key=job.key, status="error", elapsed=time.perf_counter() - t0,
            error=f"{type(e).__name__}: {e}",
            artifacts=[{"name": "traceback", "kind": "text", "content": traceback.format_exc()}],
        )  # fmt: skip
