"""Scoring a result against a problem's reference, as the published papers do.

* strict accuracy: relative error ``<= 1e-6`` (relative to ``max(1, |ref|)``);
* the dataset's own rule, when it names one: ``abs<0.01`` (ORThought's
  benchmarks), ``rel<=1e-4`` (MAMO), ...;
* infeasible/unbounded labels count as correct only when the solver says so;
* for MIP instances: the primal gap to the reference value.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["RULES", "parse_rule", "primal_gap", "score"]

RULES = {
    "strict": ("rel", 1e-6),
    "orthought": ("abs", 0.01),
    "mamo": ("rel", 1e-4),
    "orlm": ("rounded-rel", 0.05),
}
REPORTED = ("strict", "mamo", "orthought", "orlm")
"""The rules every scored item reports (``score()["rules"]``), as the papers use them."""
_RULE = re.compile(r"^(abs|rel)\s*(<=|<)\s*([0-9.eE+-]+)$")


def parse_rule(rule: str) -> tuple[str, float, bool]:
    """Parse ``"abs<0.01"``, ``"rel<=1e-4"`` or a named rule; return (kind, tol, strict_less).

    Raises
    ------
    ValueError
        For an unknown rule, naming the accepted forms.
    """
    if rule in RULES:
        kind, tol = RULES[rule]
        return kind, tol, rule == "orthought"
    m = _RULE.match(rule.replace(" ", ""))
    if not m:
        raise ValueError(
            f"unknown scoring rule {rule!r}; use {', '.join(RULES)} or a form like 'abs<0.01' / 'rel<=1e-4'"
        )
    return m.group(1), float(m.group(3)), m.group(2) == "<"


def _within(obj: float, ref: float, rule: str) -> bool:
    kind, tol, less = parse_rule(rule)
    if kind == "rounded-rel":  # ORLM: both rounded to integers, then relative error
        o, r = round(obj), round(ref)
        return (o == r) if r == 0 else abs(o - r) / abs(r) <= tol
    err = abs(obj - ref) if kind == "abs" else abs(obj - ref) / max(1.0, abs(ref))
    return err < tol if less else err <= tol


def primal_gap(obj: float | None, ref: float | None) -> float | None:
    """Primal gap in [0, 1]: ``|obj - ref| / max(|obj|, |ref|)`` (0 when equal, 1 when no point)."""
    if ref is None:
        return None
    if obj is None or not math.isfinite(obj):
        return 1.0
    if obj == ref:
        return 0.0
    if obj * ref < 0:
        return 1.0
    return min(1.0, abs(obj - ref) / max(abs(obj), abs(ref)))


def score(
    result: dict[str, Any] | None,
    *,
    reference: float | None,
    status: str = "optimal",
    rule: str | None = None,
) -> dict[str, Any]:
    """Score one result (``Result.to_dict()``) against its reference.

    Parameters
    ----------
    result
        The result, or ``None`` when the job produced none.
    reference
        The known optimum (``None`` when unknown or when the label is infeasible).
    status
        The problem's label: ``optimal``, ``infeasible``, ``unbounded`` or ``unknown``
        (with ``unknown`` a reference is a best-known value: gaps are reported,
        correctness is not judged).
    rule
        The dataset's published rule (see :func:`parse_rule`), if any.

    Returns
    -------
    dict
        ``reference``, ``executed`` (a result came back), ``correct`` (strict),
        ``correct_rule`` (dataset rule), ``rules`` (every rule in :data:`REPORTED`),
        ``rel_error``, ``abs_error`` and ``primal_gap``.
    """
    out: dict[str, Any] = {"reference": reference, "label": status, "rule": rule}
    term = (result or {}).get("termination")
    obj = (result or {}).get("objective")
    out["executed"] = term is not None and term != "error"
    if status in ("infeasible", "unbounded", "no_optimum"):
        no_opt = ("infeasible", "unbounded", "infeasible_or_unbounded")
        ok = (
            term in no_opt
            if status == "no_optimum"
            else (term == status or (status == "unbounded" and term == "infeasible_or_unbounded"))
        )
        out.update(correct=ok, correct_rule=ok, rel_error=None, abs_error=None, primal_gap=None)
        out["rules"] = dict.fromkeys(REPORTED, ok)
        return out
    if reference is None:
        out.update(correct=None, correct_rule=None, rel_error=None, abs_error=None, primal_gap=None)
        out["rules"] = dict.fromkeys(REPORTED, None)
        return out
    proven = status == "optimal"  # a best-known value gives gaps, not a verdict
    if obj is None or term in ("infeasible", "unbounded", "error"):
        verdict = False if proven else None
        out.update(
            correct=verdict, correct_rule=verdict, rel_error=None, abs_error=None, primal_gap=1.0
        )
        out["rules"] = dict.fromkeys(REPORTED, verdict)
        return out
    abs_err = abs(obj - reference)
    out["abs_error"] = abs_err
    out["rel_error"] = abs_err / max(1.0, abs(reference))
    out["correct"] = _within(obj, reference, "strict") if proven else None
    out["correct_rule"] = (
        (_within(obj, reference, rule) if rule else out["correct"]) if proven else None
    )
    out["primal_gap"] = primal_gap(obj, reference)
    out["rules"] = {r: (_within(obj, reference, r) if proven else None) for r in REPORTED}
    return out
