"""Turn what happened to a candidate model into feedback an LLM can act on.

Beyond crashes: validation errors with their locations, infeasibility with
the IIS constraint names, unboundedness, a sense that contradicts the text,
suspicious solutions (everything zero), a local optimum of a nonconvex model
(not proven global), and a local solver that found no feasible point (not a
proof of infeasibility).
"""

from __future__ import annotations

import re
from typing import Any

from workbench.result import Result, Termination

__all__ = ["diagnose", "sense_from_text"]

# Objective verbs only: "at least"/"minimum of" describe constraints, not the goal.
_MAX_WORDS = re.compile(
    r"\b(maximi[sz](e|es|ing|ation)|as (much|many|large|high) as possible)\b", re.I
)
_MIN_WORDS = re.compile(
    r"\b(minimi[sz](e|es|ing|ation)|as (little|few|small|low|cheap) as possible)\b", re.I
)


def sense_from_text(text: str) -> str | None:
    """``"max"``/``"min"`` when the description clearly asks for one, else ``None``."""
    mx, mn = len(_MAX_WORDS.findall(text)), len(_MIN_WORDS.findall(text))
    if mx and not mn:
        return "max"
    if mn and not mx:
        return "min"
    return None


def _flat_values(values: dict[str, Any]) -> list[float]:
    out: list[float] = []
    for v in values.values():
        if isinstance(v, dict):
            out.extend(float(x) for x in v.values())
        else:
            out.append(float(v))
    return out


def diagnose(text: str, result: Result | None, *, sense: str | None = None) -> str | None:
    """Feedback for a solved candidate, or ``None`` when nothing looks wrong.

    Parameters
    ----------
    text
        The problem description (used to check the objective's sense).
    result
        The solve result.
    sense
        The candidate's objective sense (``min``/``max``), when known.
    """
    if result is None:
        return "The model could not be solved. Fix the model."
    term = result.termination
    if term is Termination.INFEASIBLE:
        iis = result.diagnostics.iis
        core = (
            f" An irreducible infeasible set of constraints is: {', '.join(iis[:20])}."
            if iis
            else ""
        )
        return (
            "The model is infeasible: no point satisfies all constraints." + core
            + " Check these constraints against the description (directions of inequalities,"
            " right-hand sides, units) and fix the model."
        )  # fmt: skip
    if term in (Termination.UNBOUNDED, Termination.INFEASIBLE_OR_UNBOUNDED):
        return (
            "The model is unbounded (or infeasible-or-unbounded): the objective can improve without"
            " limit. A constraint or a variable bound from the description is probably missing,"
            " or the objective sense is wrong."
        )
    if term is Termination.ERROR and "max_violation" in result.diagnostics.extra:
        return (
            "A local solver stopped without a feasible point (largest violation "
            f"{result.diagnostics.extra['max_violation']:.3g}). This does not prove that the model"
            " is infeasible. Check the constraints against the description; if they are right,"
            " keep the model as written: do not relax integer variables, drop constraints or"
            " rescale the objective to make a local solver converge."
        )
    if term is Termination.ERROR:
        return f"Solving failed: {result.diagnostics.message}. Fix the model."
    if not result.ok:
        return None  # a limit: not the model's fault
    local = term is Termination.LOCALLY_OPTIMAL
    wanted = sense_from_text(text)
    if sense is not None and wanted is not None and sense != wanted:
        return (
            f"The objective sense is '{sense}' but the description asks to "
            f"{'maximise' if wanted == 'max' else 'minimise'}. Fix the objective."
        )
    vals = _flat_values(result.values)
    if vals and all(abs(v) < 1e-9 for v in vals) and (result.objective or 0.0) == 0.0:
        return (
            "Every variable is zero and the objective is 0: the model probably misses a"
            " requirement from the description (a demand, a minimum, a 'must'). Check it."
        )
    if local:
        return (
            "The solver returned a local optimum of a nonconvex model: it is not proven to be"
            f" the global optimum ({result.diagnostics.message or 'no proof of convexity'})."
            " If the model matches the description, keep it as written: max, min, abs, products"
            " and nonlinear functions are solved as written; do not linearise or relax it by hand."
        )
    return None
