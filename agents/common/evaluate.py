"""Execute a candidate (an IR document or Pyomo code) and judge the outcome.

IR candidates are validated and solved through the ``solve`` callable the
agent was given; code candidates run only in the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents.common.feedback import diagnose
from workbench.errors import ModelError, UnsupportedProblemError, WorkbenchError
from workbench.ir.io import model_from_dict
from workbench.ir.model import Model
from workbench.result import Diagnostics, Result, Termination

__all__ = ["Candidate", "Evaluation", "evaluate_candidate", "result_from_sandbox"]


@dataclass
class Candidate:
    """What an agent produced: an IR document, or Pyomo code."""

    ir: dict[str, Any] | None = None
    code: str | None = None


@dataclass
class Evaluation:
    """The outcome of one candidate.

    Attributes
    ----------
    model
        The validated IR model (IR candidates that parsed).
    result
        The solve result, when it got that far.
    feedback
        What to tell the LLM, or ``None`` when the candidate is accepted.
    error
        A short error text for the attempt log (``None`` when it ran).
    """

    model: Model | None = None
    result: Result | None = None
    feedback: str | None = None
    error: str | None = None


_TERM = {t.value: t for t in Termination}


def result_from_sandbox(out: dict[str, Any]) -> Result:
    """Turn the sandbox's validated Pyomo outcome into a :class:`Result`."""
    term = _TERM.get(str(out.get("termination", "error")), Termination.ERROR)
    return Result(
        termination=term,
        objective=out.get("objective"),
        values=out.get("values") or {},
        diagnostics=Diagnostics(sandbox=out.get("isolation"), message=out.get("error")),
        log=str(out.get("log", "")),
        backend=f"pyomo/{out.get('solver', '?')} (sandbox)",
    )


SANDBOX_START_S = 30.0
"""Seconds the sandboxed process gets beyond the solver's time limit (start-up, Pyomo's import)."""


def sandbox_pyomo(code: str, time_limit: float | None = None) -> dict[str, Any]:
    """Run Pyomo code in the sandbox (network cut, limits applied); return a plain outcome dict.

    With *time_limit*, HiGHS gets it as its ``time_limit`` option and the
    sandboxed process is killed ``SANDBOX_START_S`` seconds after it.
    """
    from agents.sandbox import run_pyomo_model

    if time_limit is None:
        res = run_pyomo_model(code)
    else:
        res = run_pyomo_model(code, solver_options={"time_limit": float(time_limit)},
                              timeout=float(time_limit) + SANDBOX_START_S)  # fmt: skip
    out: dict[str, Any] = {"isolation": res.isolation.value, "solver": "appsi_highs"}
    if res.ok and isinstance(res.value, dict):
        v = res.value
        out.update(ok=True, termination=v.get("termination"), objective=v.get("objective"),
                   values=v.get("values"), log=v.get("solver_log", ""))  # fmt: skip
    else:
        tb = (res.traceback or "").strip().splitlines()[-6:]
        out.update(ok=False, error=f"{res.error}" + (("\n" + "\n".join(tb)) if tb else ""))
    return out


def evaluate_candidate(
    candidate: Candidate,
    *,
    text: str,
    solve: Callable[..., Result],
    run_code: Callable[[str], dict[str, Any]] | None = None,
) -> Evaluation:
    """Validate and solve *candidate*; return the result and any feedback.

    Parameters
    ----------
    candidate
        The IR document or code.
    text
        The problem description (for sense and plausibility checks).
    solve
        The solve function (``workbench.solve`` with the chosen backend).
    run_code
        Runs Pyomo code and returns its outcome dict (code mode; tests); default:
        :func:`sandbox_pyomo` with the solve function's time limit.
    """
    if candidate.ir is not None:
        try:
            model = model_from_dict(candidate.ir)
            result = solve(model)
        except ModelError as e:
            return Evaluation(
                feedback=f"The model is invalid: {e}. Fix exactly this and keep the rest.",
                error=str(e),
            )
        except UnsupportedProblemError as e:
            return Evaluation(
                feedback=f"The model cannot be solved as written: {e}. Reformulate it.",
                error=str(e),
            )
        except WorkbenchError as e:
            return Evaluation(feedback=f"The model could not be solved: {e}.", error=str(e))
        return Evaluation(
            model=model, result=result, feedback=diagnose(text, result, sense=model.objective.sense)
        )
    if candidate.code is not None:
        if run_code is not None:
            out = run_code(candidate.code)
        else:  # the same limit (and deadline) as an IR candidate's solve
            limit = solve.limit() if hasattr(solve, "limit") else getattr(solve, "time_limit", None)
            out = sandbox_pyomo(candidate.code, time_limit=limit)
        if not out.get("ok", False):
            err = str(out.get("error") or "the code failed")
            return Evaluation(
                feedback=f"Running the code failed: {err}. Fix the code.", error=err,
                result=result_from_sandbox(out) if out.get("termination") else None,
            )  # fmt: skip
        result = result_from_sandbox(out)
        return Evaluation(result=result, feedback=diagnose(text, result, sense=out.get("sense")))
    return Evaluation(feedback="The reply contained neither a model nor code.", error="empty reply")
