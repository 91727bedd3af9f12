"""Solve generated Pyomo code inside the sandbox.

:func:`run_pyomo_model` is what the agents' code mode calls: the generated code
must define a ``pyomo.environ.ConcreteModel`` named ``model``; a fixed driver,
appended to it and run in the same sandboxed process, solves the model with
the named Pyomo solver and reports a JSON document that the parent validates.
Pyomo's termination conditions are mapped to
:class:`workbench.result.Termination` here, so they never leave this module.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from agents.sandbox.core import SandboxResult, SandboxStatus, run_code
from agents.sandbox.isolation import Isolation
from workbench.convexity import EXACT_SOLVERS
from workbench.errors import SandboxError
from workbench.result import Termination

__all__ = ["PYOMO_TERMINATION", "PyomoSolution", "run_pyomo_model", "sandbox_termination"]

LOG_TAIL_CHARS = 4000
"""How much of the end of the solver log is kept."""

PYOMO_TERMINATION: dict[str, Termination] = {
    "optimal": Termination.OPTIMAL,
    "globallyOptimal": Termination.OPTIMAL,
    "locallyOptimal": Termination.LOCALLY_OPTIMAL,
    "feasible": Termination.FEASIBLE,
    "infeasible": Termination.INFEASIBLE,
    "unbounded": Termination.UNBOUNDED,
    "infeasibleOrUnbounded": Termination.INFEASIBLE_OR_UNBOUNDED,
    "maxTimeLimit": Termination.TIME_LIMIT,
    "maxIterations": Termination.ITERATION_LIMIT,
    "maxEvaluations": Termination.ITERATION_LIMIT,
    "userInterrupt": Termination.INTERRUPTED,
    "resourceInterrupt": Termination.INTERRUPTED,
}
"""Pyomo ``TerminationCondition`` names to workbench terminations; others are ``ERROR``.

An ``optimal`` from a solver that is not known to prove it
(:data:`workbench.convexity.EXACT_SOLVERS`) on a model with a nonlinear
objective or constraint becomes ``LOCALLY_OPTIMAL``: generated code is not
classified, so its convexity is never proven (:func:`sandbox_termination`)."""


def sandbox_termination(native_status: str, solver: str, nonlinear: bool) -> Termination:
    """The honest termination of a sandboxed Pyomo solve."""
    term = PYOMO_TERMINATION.get(native_status, Termination.ERROR)
    if term is Termination.OPTIMAL and nonlinear and solver.lower() not in EXACT_SOLVERS:
        return Termination.LOCALLY_OPTIMAL
    return term


_DRIVER = """

# ---- workbench sandbox driver (appended to the generated code) ----
def __wb_solve(model_obj, spec):
    import math

    import pyomo.environ as pyo
    from pyomo.common.tee import capture_output

    if not isinstance(model_obj, pyo.ConcreteModel):
        raise TypeError(
            "the generated code must define a pyomo ConcreteModel named `model`, "
            f"found {type(model_obj).__name__}"
        )
    opt = pyo.SolverFactory(spec["solver"])
    if not opt.available(exception_flag=False):
        raise RuntimeError(f"solver {spec['solver']!r} is not available in the sandbox")
    for key, val in spec["options"].items():
        opt.options[key] = val
    with capture_output(capture_fd=True) as out:
        res = opt.solve(model_obj, tee=True, load_solutions=False)
    log = out.getvalue()
    from pyomo.core.expr.visitor import polynomial_degree

    nonlinear = False
    for comp in model_obj.component_data_objects((pyo.Objective, pyo.Constraint), active=True):
        deg = polynomial_degree(comp.expr if comp.ctype is pyo.Objective else comp.body)
        if deg is None or deg > 1:
            nonlinear = True
            break
    loaded = False
    if len(getattr(res, "solution", ())) > 0:
        model_obj.solutions.load_from(res)
        loaded = True

    def num(x):
        return float(x) if x is not None and math.isfinite(x) else None

    def key(idx):
        return ",".join(str(p) for p in idx) if isinstance(idx, tuple) else str(idx)

    objectives = list(model_obj.component_data_objects(pyo.Objective, active=True))
    objective = None
    if loaded and len(objectives) == 1:
        objective = num(pyo.value(objectives[0], exception=False))
    values = {}
    for var in model_obj.component_objects(pyo.Var, descend_into=True):
        if var.is_indexed():
            values[var.name] = {key(i): (num(v.value) if loaded else None) for i, v in var.items()}
        else:
            values[var.name] = num(var.value) if loaded else None
    return {
        "native_status": str(res.solver.termination_condition),
        "objective": objective,
        "values": values,
        "solver_log": log[-spec["log_chars"]:],
        "nonlinear": nonlinear,
    }


emit(__wb_solve(globals().get("model"), __import__("json").loads(%r)))
"""


class PyomoSolution(BaseModel):
    """What the driver reports from inside the sandbox.

    Attributes
    ----------
    native_status
        Pyomo's termination condition, as its string value.
    objective
        Value of the single active objective, or ``None`` (no solution
        loaded, several objectives, or not finite).
    values
        By Pyomo component name: a float for a scalar variable, a dict keyed
        by index label (``'a,1'`` for a tuple) for an indexed one.
    solver_log
        The end of the solver's log.
    nonlinear
        Some active objective or constraint is not affine.
    """

    model_config = ConfigDict(extra="forbid")

    native_status: str
    objective: float | None
    values: dict[str, float | None | dict[str, float | None]]
    solver_log: str
    nonlinear: bool = False


def run_pyomo_model(
    code: str,
    *,
    solver: str = "appsi_highs",
    solver_options: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    memory_mb: int | None = None,
    inputs: Mapping[str, Any] | None = None,
    require_isolation: bool = False,
    isolation: Isolation | str | None = None,
    allow_weak: bool | None = None,
) -> SandboxResult:
    """Run generated Pyomo code in the sandbox and solve its ``model`` there.

    Parameters
    ----------
    code
        Python source that builds a ``ConcreteModel`` named ``model`` (it may
        read ``inputs``). It must not solve the model itself.
    solver
        A ``pyo.SolverFactory`` name available inside the sandbox.
    solver_options
        Set one by one on ``opt.options`` (JSON-serialisable values).
    timeout, memory_mb, inputs, require_isolation, isolation, allow_weak
        As for :func:`~agents.sandbox.core.run_code`.

    Returns
    -------
    SandboxResult
        When ``ok``, ``value`` is a validated, JSON-safe dict with keys
        ``termination`` (a :class:`~workbench.result.Termination` value),
        ``native_status``, ``objective``, ``values`` and ``solver_log``.
        Errors in the code, timeouts and bad output are results, not
        exceptions.

    Raises
    ------
    SandboxError
        For misuse (bad solver name or options) or a sandbox that cannot start;
        :class:`~agents.sandbox.policy.SandboxRefusedError` where no level
        that contains the code works and no opt-in was given.
    """
    if not isinstance(solver, str) or not solver.replace("_", "").isalnum():
        raise SandboxError(f"solver must be a Pyomo solver name, got {solver!r}")
    try:
        spec = json.dumps(
            {"solver": solver, "options": dict(solver_options or {}), "log_chars": LOG_TAIL_CHARS}
        )
    except (TypeError, ValueError) as e:
        raise SandboxError(f"solver_options must be JSON-serialisable: {e}") from e
    result = run_code(
        code + (_DRIVER % spec),
        schema=PyomoSolution,
        timeout=timeout,
        memory_mb=memory_mb,
        inputs=inputs,
        require_isolation=require_isolation,
        isolation=isolation,
        allow_weak=allow_weak,
    )
    if result.status is not SandboxStatus.OK:
        return result
    solution: PyomoSolution = result.value
    termination = sandbox_termination(solution.native_status, solver, solution.nonlinear)
    value: dict[str, Any] = {"termination": termination.value, **solution.model_dump()}
    return dataclasses.replace(result, value=value)
