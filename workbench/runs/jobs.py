"""The job function shared by every executor: one item through one pipeline.

A :class:`Job` is plain data (picklable, JSON-able); :func:`run_job` loads the
problem from its dataset (cached per process), runs the pipeline and scores
the outcome.  It never raises: failures become ``status='error'`` outcomes.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.registry import LazyRegistry
from workbench.runs.store import Outcome

__all__ = ["Job", "job_key", "run_job"]


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


def _formulate_pipeline(job: Job, problem: Any) -> dict[str, Any]:
    import json

    from workbench.formulation import formulate
    from workbench.ir.io import dump_model
    from workbench.llm_factory import make_llm

    llm = make_llm(dict(job.options.get("llm", {})))
    form = formulate(
        problem.text, job.agent, llm=llm, backend=job.backend or "auto",
        budget=int(job.options.get("budget", 3)), **dict(job.options.get("agent_options", {})),
    )  # fmt: skip
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


def run_job(job: Job) -> Outcome:
    """Run *job* to an :class:`~workbench.runs.store.Outcome`; never raises."""
    from workbench.scoring import score

    t0 = time.perf_counter()
    try:
        problem = _problem(job)
        if job.pipeline == "solve":
            out = _solve_pipeline(job, problem)
        elif job.pipeline == "formulate":
            out = _formulate_pipeline(job, problem)
        elif job.pipeline == "tune":
            out = _tune_pipeline(job, problem)
        else:
            raise ValueError(
                f"unknown pipeline {job.pipeline!r}; use 'solve', 'formulate' or 'tune'"
            )
        reference = problem.optimum
        if reference is None and problem.status == "unknown":
            reference = problem.meta.get("reference")  # best known: primal gaps only
        sc = score(
            out.get("result"), reference=reference, status=problem.status,
            rule=problem.meta.get("rule"),
        )  # fmt: skip
        return Outcome(
            key=job.key, status="done", elapsed=time.perf_counter() - t0,
            result=out.get("result"), score=sc, attempts=out.get("attempts", []),
            llm_calls=out.get("llm_calls", []), artifacts=out.get("artifacts", []),
        )  # fmt: skip
    except Exception as e:
        return Outcome(
            key=job.key, status="error", elapsed=time.perf_counter() - t0,
            error=f"{type(e).__name__}: {e}",
            artifacts=[{"name": "traceback", "kind": "text", "content": traceback.format_exc()}],
        )  # fmt: skip
