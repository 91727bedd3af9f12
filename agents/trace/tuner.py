"""The ``optoprime`` tuner of the batch ``tune`` pipeline (``workbench.tuners`` registry).

Runs use case (a), :class:`~agents.trace.formulation.OptoPrimeAgent`, on the
item's text with the LLM built from ``job.options["llm"]``.  Options:
``budget`` (OptoPrime steps, default 3), ``memory`` (default 5) and
``remark`` (a user's remark on the first model).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from agents.trace.formulation import OptoPrimeAgent
from workbench.ir.io import dump_model
from workbench.llm_factory import make_llm
from workbench.solving import solve

__all__ = ["tune"]


def tune(problem: Any, job: Any) -> dict[str, Any]:
    """Refine a formulation of ``problem.text`` with OptoPrime.

    Parameters
    ----------
    problem
        A dataset item with ``text``.
    job
        The :class:`workbench.runs.jobs.Job` (``backend``, ``time_limit``, ``seed``, ``options``).

    Returns
    -------
    dict
        ``{"result", "attempts", "llm_calls", "artifacts"}`` as the registry expects.
    """
    if not getattr(problem, "text", None):
        raise ValueError(f"item {getattr(problem, 'id', '?')!r} has no text to formulate")
    opts = dict(job.options)
    llm = make_llm(dict(opts.get("llm", {})))
    solver = functools.partial(
        solve, backend=job.backend or "auto", time_limit=job.time_limit, seed=job.seed
    )
    agent = OptoPrimeAgent(memory=int(opts.get("memory", 5)))
    form = agent.formulate(
        problem.text, llm=llm, solve=solver, budget=int(opts.get("budget", 3)),
        remark=opts.get("remark"),
    )  # fmt: skip
    attempts = [
        {"index": a.index, "status": "ok" if a.error is None else "error", "error": a.error,
         "feedback": a.feedback, "code": None,
         "model": dump_model(a.model) if a.model is not None else None}
        for a in form.attempts
    ]  # fmt: skip
    artifacts = [{"name": "transcript", "kind": "json", "content": json.dumps(form.transcript)}]
    if form.model is not None:
        artifacts.append({"name": "model.yaml", "kind": "yaml", "content": dump_model(form.model)})
    return {
        "result": form.result.to_dict() if form.result is not None else None,
        "attempts": attempts,
        "llm_calls": list(getattr(llm, "calls", [])),
        "artifacts": artifacts,
    }
