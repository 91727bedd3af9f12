"""One result type for every backend.

A non-optimal outcome (infeasible, unbounded, a time limit) is a value of
:class:`Termination`, never an exception.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Diagnostics", "Label", "Result", "Termination", "Timings", "label_key"]

Label = str | int | tuple[str | int, ...]
"""An index label: one set member, or a tuple of members."""


class Termination(enum.Enum):
    """How a solve ended."""

    OPTIMAL = "optimal"
    """Proven globally optimal (to the solver's tolerances)."""
    LOCALLY_OPTIMAL = "locally_optimal"
    """A local method converged, but the model is not proven convex: maybe not the global optimum."""
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    TIME_LIMIT = "time_limit"
    ITERATION_LIMIT = "iteration_limit"
    INTERRUPTED = "interrupted"
    ERROR = "error"

    @property
    def has_solution(self) -> bool:
        """Whether this termination usually comes with a primal point."""
        return self in (Termination.OPTIMAL, Termination.LOCALLY_OPTIMAL, Termination.FEASIBLE)


@dataclass
class Timings:
    """Wall-clock seconds, split as the DESIGN asks."""

    build: float = 0.0
    load: float = 0.0
    solve: float = 0.0

    @property
    def total(self) -> float:
        """Sum of the three phases."""
        return self.build + self.load + self.solve


@dataclass
class Diagnostics:
    """What a backend found out besides the numbers."""

    iis: list[str] | None = None
    sandbox: str | None = None
    warnings: list[str] = field(default_factory=list)
    native_status: str | None = None
    message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Backend-specific structured facts, JSON-ready (e.g. Balans's ``arm_counts``)."""


def label_key(label: Label) -> str:
    """Render an index label as a JSON object key (``'a,1'`` for a tuple)."""
    if isinstance(label, tuple):
        return ",".join(str(p) for p in label)
    return str(label)


@dataclass
class Result:
    """The outcome of :func:`workbench.solve`.

    Attributes
    ----------
    termination
        How the solve ended.
    objective
        Objective value of the returned point, in the model's own sense.
    bound
        Best proven bound on the optimum (for MIP), or ``None``.
    gap
        Relative gap between objective and bound, or ``None``.
    values
        Variable values: a float for a scalar variable, a dict keyed by
        index label for an indexed one.
    duals
        Constraint duals (LP only): by constraint name, then by label.
    timings
        Build, load and solve seconds.
    iterations
        Solver iterations, where the solver reports them.
    history
        ``(seconds, primal, dual)`` points for anytime plots.
    diagnostics
        IIS names, sandbox level, warnings and the native status.
    log
        The solver's log.
    backend
        Name of the backend that produced this result.
    """

    termination: Termination
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    values: dict[str, Any] = field(default_factory=dict)
    duals: dict[str, Any] | None = None
    timings: Timings = field(default_factory=Timings)
    iterations: int | None = None
    history: list[tuple[float, float | None, float | None]] = field(default_factory=list)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    log: str = ""
    backend: str = ""

    @property
    def ok(self) -> bool:
        """True when the result carries a feasible point."""
        return self.termination.has_solution and self.objective is not None

    def value(self, name: str, label: Label | None = None) -> float:
        """Return one variable value, by name and (for indexed variables) label."""
        v = self.values[name]
        if label is None:
            if isinstance(v, dict):
                raise KeyError(f"variable '{name}' is indexed; give a label")
            return float(v)
        return float(v[label])

    def load_into(self, model: Any) -> int:
        """Write the values into a Pyomo model's variables (the one this result solved).

        Duals go into the model's ``dual`` Suffix when it declares an
        import Suffix of that name and the result has duals.  Fixed
        variables keep their values.

        Parameters
        ----------
        model
            The Pyomo ``ConcreteModel`` passed to :func:`workbench.solve`.

        Returns
        -------
        int
            How many variable values were written (0 for a result without a point).

        Raises
        ------
        ModelError
            If a variable of this result is not in *model*.
        """
        from workbench.compile.from_pyomo import load_into_pyomo

        return load_into_pyomo(self, model)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the keys the CLI's ``--json`` promises."""

        def num(x: float | None) -> float | None:
            if x is None or not math.isfinite(float(x)):
                return None  # JSON has no inf/nan; absent means 'none proven'
            return float(x)

        def vals(d: dict[str, Any] | None) -> dict[str, Any] | None:
            if d is None:
                return None
            out: dict[str, Any] = {}
            for k, v in d.items():
                if isinstance(v, dict):
                    out[k] = {label_key(lab): float(x) for lab, x in v.items()}
                else:
                    out[k] = float(v)
            return out

        return {
            "termination": self.termination.value,
            "objective": num(self.objective),
            "bound": num(self.bound),
            "gap": num(self.gap),
            "values": vals(self.values),
            "duals": vals(self.duals),
            "timings": {
                "build": self.timings.build,
                "load": self.timings.load,
                "solve": self.timings.solve,
                "total": self.timings.total,
            },
            "iterations": self.iterations,
            "history": [list(h) for h in self.history],
            "diagnostics": {
                "iis": self.diagnostics.iis,
                "sandbox": self.diagnostics.sandbox,
                "warnings": list(self.diagnostics.warnings),
                "native_status": self.diagnostics.native_status,
                "message": self.diagnostics.message,
                "extra": dict(self.diagnostics.extra),
            },
            "backend": self.backend,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """Rebuild a result from :meth:`to_dict`'s output (or its JSON).

        Index labels come back as the JSON keys (``'a,1'`` for a tuple), and
        a missing objective or bound stays ``None``.

        Raises
        ------
        ValueError
            If ``termination`` is not a known :class:`Termination` value; the
            message lists the known ones.
        """
        raw = data.get("termination")
        try:
            term = Termination(raw)
        except ValueError:
            known = ", ".join(t.value for t in Termination)
            raise ValueError(f"unknown termination {raw!r}; known: {known}") from None
        t = data.get("timings") or {}
        d = data.get("diagnostics") or {}
        return cls(
            termination=term,
            objective=data.get("objective"),
            bound=data.get("bound"),
            gap=data.get("gap"),
            values=dict(data.get("values") or {}),
            duals=data.get("duals"),
            timings=Timings(
                float(t.get("build", 0.0)), float(t.get("load", 0.0)), float(t.get("solve", 0.0))
            ),
            iterations=data.get("iterations"),
            history=[(h[0], h[1], h[2]) for h in data.get("history") or []],
            diagnostics=Diagnostics(
                iis=d.get("iis"),
                sandbox=d.get("sandbox"),
                warnings=list(d.get("warnings") or []),
                native_status=d.get("native_status"),
                message=d.get("message"),
                extra=dict(d.get("extra") or {}),
            ),
            log=str(data.get("log", "")),
            backend=str(data.get("backend", "")),
        )
