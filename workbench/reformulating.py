"""The reformulation pass of ``workbench.solve``: when to rewrite, and mapping results back.

``solve`` compiles the user's model (validation, class), then calls
:func:`prepare`: exact rewrites (``max``/``min``/``abs``, binary products,
indicators) run when the backend cannot take the original constructs, and the
backend sees the reformulated model.  :func:`map_back` drops the auxiliary
variables and rows from the result and records what was done.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from workbench.backends.registry import BACKENDS, availability
from workbench.classification import Classification, classify_structure, covers
from workbench.compile.reformulate import Reformulation, reformulate
from workbench.compile.reformulate.columns import columns, objective_quadratic
from workbench.compile.reformulate.perspective import perspective
from workbench.compile.structure import CompiledModel, compile_structure
from workbench.result import Result, Termination

__all__ = [
    "GLOBAL_BACKENDS",
    "Prepared",
    "global_available",
    "keep_native_indicators",
    "map_back",
    "native_indicators",
    "prepare",
    "strengthen",
]

GLOBAL_BACKENDS = ("scip",)
"""Backends that solve nonconvex and mixed-integer nonlinear models to proven global optimality."""

ReformulateOpt = bool | Literal["auto"]
"""The ``reformulate=`` option of ``solve``."""


@dataclass
class Prepared:
    """What the backend gets: the structure to solve, its class and the rewrite (if any)."""

    structure: CompiledModel
    cls: Classification
    reform: Reformulation | None = None
    objective_products: bool = True
    """Whether products in the objective were rewritten (``False``: left for the global solver)."""


def global_available() -> bool:
    """Whether a global solver backend is installed (cheap: the registry caches availability)."""
    for name in GLOBAL_BACKENDS:
        try:
            BACKENDS.load(name)
        except Exception:  # a backend that cannot be imported is not available
            continue
        if availability(name).ok:
            return True
    return False


def native_indicators(backend: str) -> bool:
    """Whether *backend* takes indicator constraints as they are (class attribute ``indicators``)."""
    try:
        return bool(getattr(BACKENDS.load(backend), "indicators", False))
    except Exception:
        return False


def _has_indicators(cm: CompiledModel) -> bool:
    return any(r.indicator is not None for r in cm.rows)


_CALLS = re.compile(r"\b(max|min|abs)\s*\(")


def _texts(cm: CompiledModel) -> list[str]:
    return [cm.model.objective.expr] + [c.expr for c in cm.model.constraints]


def _worth_trying(cm: CompiledModel, cls: Classification) -> bool:
    """Whether any rule can apply: skips the extra compile when none can.

    Plain LP/MILP, and models with no ``when``, no binary variable and no
    ``max``/``min``/``abs`` call (only the product rules need binaries) are left alone.
    """
    if _has_indicators(cm):
        return True
    if cls.objective_degree <= 1 and cls.constraint_degree <= 1:
        return False
    return bool(cls.num_bin_vars) or any(_CALLS.search(t) for t in _texts(cm))


def _rewrite(
    cm: CompiledModel,
    *,
    indicators: bool,
    allow_global: bool,
    objective_products: bool = True,
    rlt_rows: bool = True,
) -> Prepared | None:
    rf = reformulate(
        cm.model,
        indicators=indicators,
        allow_global=allow_global,
        objective_products=objective_products,
        rlt_rows=rlt_rows,
    )
    if not rf.changed:
        return None
    new = compile_structure(rf.model)
    return Prepared(new, classify_structure(new), rf, objective_products)


def _binary_products(cm: CompiledModel) -> bool:
    """Whether every quadratic term of the objective multiplies two binaries (QAP-like)."""
    p = objective_quadratic(cm)
    if p is None:
        return False
    binary = columns(cm.ctx).binary
    return bool(np.all(binary[p.qi]) and np.all(binary[p.qj]))


def _has_rlt(prep: Prepared) -> bool:
    return prep.reform is not None and any(r.method == "RLT rows" for r in prep.reform.records)


def prepare(
    cm: CompiledModel, cls: Classification, backend: str, option: ReformulateOpt
) -> Prepared:
    """Decide whether to reformulate for *backend* (``"auto"``: decided after reformulation).

    Parameters
    ----------
    cm, cls
        The user's compiled model and its class.
    backend
        A backend name, or ``"auto"``.
    option
        ``"auto"``: rewrite when the backend cannot take the original (always,
        for ``backend="auto"``, which then picks by the reformulated class;
        indicators stay for a backend that takes them natively); ``True``:
        always, every rule, indicators included; ``False``: never.

    Raises
    ------
    ModelError
        If a big-M needs a missing bound and no global solver can take the term.
    """
    original = Prepared(cm, cls)
    if option is False or cm.model.lower_level is not None or cm.model.robust is not None:
        return original
    if not _worth_trying(cm, cls):
        return original
    if backend == "auto":
        glob = global_available()
        miqp = glob and cls.objective_degree == 2 and cls.constraint_degree <= 1
        if miqp and _binary_products(cm):
            # binary products over assignment rows (QAP-like): linear with RLT rows, for
            # HiGHS (a 10-facility QAP: proved in 30 s; not in 300 s by SCIP as written)
            linear = _rewrite(cm, indicators=True, allow_global=glob)
            if linear is not None and _has_rlt(linear) and linear.cls.objective_degree <= 1:
                return linear
        # otherwise a quadratic objective over linear rows goes to the global solver as
        # written: measured faster than its McCormick linearisation on HiGHS
        out = _rewrite(cm, indicators=True, allow_global=glob, objective_products=not miqp)
        return out or original
    be = BACKENDS.load(backend)
    native = native_indicators(backend)
    takes = covers(be.capabilities, cls) and (native or not _has_indicators(cm))
    if option == "auto" and takes:
        return original
    allow = backend in GLOBAL_BACKENDS
    # True: the whole reformulated form (indicators too), as HiGHS would get it
    indicators = option is True or not native
    # CP-SAT takes only integer columns: no RLT rows (they make product auxiliaries continuous)
    rlt_rows = backend != "cpsat"
    return _rewrite(cm, indicators=indicators, allow_global=allow, rlt_rows=rlt_rows) or original


INDICATOR_BIG_M = 10.0
"""With ``backend="auto"``, a global solver gets indicator rows as big-M rows when no
big-M exceeds this (a row a binary switches off then leaks at most ``M`` times the
solver's integrality tolerance, 1e-5 at SCIP's 1e-6).  Native indicators add nothing
to the LP relaxation; small big-M rows tighten it: measured on the 50-asset cardinality
portfolio (M = 1), SCIP proved it in 1.4 s with big-M rows and 4.0 s with native
indicators (``benchmarks/reformulate.py --scale full``)."""


def keep_native_indicators(
    cm: CompiledModel, cls: Classification, prep: Prepared, backend: str
) -> Prepared:
    """Redo the rewrite of *cm* without the indicator rule when *backend* takes indicators natively.

    A global solver keeps the big-M rows when they are tight (:data:`INDICATOR_BIG_M`).
    """
    if prep.reform is None or not native_indicators(backend) or not _has_indicators(cm):
        return prep
    if backend in GLOBAL_BACKENDS and 0.0 < prep.reform.indicator_m <= INDICATOR_BIG_M:
        return prep
    redo = _rewrite(
        cm,
        indicators=False,
        allow_global=True,
        objective_products=prep.objective_products,
        rlt_rows=backend != "cpsat",
    )
    return redo or Prepared(cm, cls)


def strengthen(prep: Prepared, backend: str, option: ReformulateOpt) -> Prepared:
    """Add the perspective split (:mod:`~workbench.compile.reformulate.perspective`) for a global solver.

    Only for a backend in :data:`GLOBAL_BACKENDS` (it adds quadratic rows) and
    unless ``reformulate=False``; a model it does not fit is returned as it is.
    """
    cls = prep.cls
    if option is False or backend not in GLOBAL_BACKENDS:
        return prep
    if cls.objective_degree != 2 or not cls.num_bin_vars:
        return prep
    rf = perspective(prep.structure, prep.reform)
    if rf is None:
        return prep
    new = compile_structure(rf.model)
    return Prepared(new, classify_structure(new), rf, prep.objective_products)


def _fix_objective(result: Result, reform: Reformulation) -> None:
    """The user's objective at the point: undo the perspective split's tolerance in ``t``."""
    if not reform.objective_fix or result.objective is None or not result.values:
        return
    delta = 0.0
    for x, xl, t, tl, c in reform.objective_fix:
        xv, tv = result.values.get(x), result.values.get(t)
        xv = xv if xl is None or xv is None else xv.get(xl)
        tv = tv if tl is None or tv is None else tv.get(tl)
        if xv is None or tv is None:
            return
        delta += c * (float(xv) ** 2 - float(tv))
    result.objective += delta
    if result.bound is None:
        return
    result.gap = abs(result.objective - result.bound) / max(1.0, abs(result.objective))
    if result.termination is Termination.OPTIMAL and result.gap > 1e-6:
        result.termination = Termination.FEASIBLE
        result.diagnostics.message = (
            f"the solver's bound {result.bound:.10g} is this far from the point's objective "
            f"{result.objective:.10g} once the perspective split is undone: not proven optimal"
        )


def map_back(result: Result, reform: Reformulation | None) -> Result:
    """Drop auxiliary variables and rows from *result*; record the rewrites in its diagnostics."""
    if reform is None or not reform.changed:
        return result
    _fix_objective(result, reform)
    for name in reform.aux_variables:
        result.values.pop(name, None)
    if result.duals:
        for name in reform.aux_constraints:
            result.duals.pop(name, None)
    result.diagnostics.extra["reformulations"] = [r.as_dict() for r in reform.records]
    result.diagnostics.extra["reformulation"] = reform.summary()
    for note in reform.left:
        if note not in result.diagnostics.warnings:
            result.diagnostics.warnings.append(f"left for the global solver: {note}")
    return result
