"""What a reformulation did: one record per rewritten construct, and the inverse data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.ir.model import Model

__all__ = ["AUX_PREFIX", "Record", "Reformulation"]

AUX_PREFIX = "_rf_"
"""Names the reformulation adds (variables, parameters, sets, constraints) start with this."""


@dataclass(frozen=True)
class Record:
    """One rewritten construct.

    Attributes
    ----------
    where
        The place in the user's model, such as ``objective`` or ``constraints[2]``.
    construct
        What was found: ``max``, ``min``, ``abs``, ``binary product``,
        ``binary x variable``, ``binary squared``, ``indicator``, ``assignment
        row x binary product``, ``the same product twice`` or ``quadratic over
        on/off variables``.
    method
        How it was rewritten: ``epigraph``, ``hypograph``, ``big-M selectors``,
        ``split``, ``linear``, ``McCormick``, ``big-M``, ``RLT rows``, ``tied``,
        ``perspective``...
    variables, rows
        Auxiliary variables and rows added (counted over the index sets).
    """

    where: str
    construct: str
    method: str
    variables: int
    rows: int

    def text(self) -> str:
        """``objective: max -> epigraph, 1 variable, 2 rows``."""
        v = "variable" if self.variables == 1 else "variables"
        r = "row" if self.rows == 1 else "rows"
        return f"{self.where}: {self.construct} -> {self.method}, {self.variables} {v}, {self.rows} {r}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "where": self.where,
            "construct": self.construct,
            "method": self.method,
            "variables": self.variables,
            "rows": self.rows,
        }


@dataclass
class Reformulation:
    """The reformulated model and the data to map a result back (the inverse).

    Attributes
    ----------
    model
        The rewritten model (the user's model is never changed).
    records
        One entry per rewritten construct, in order.
    aux_variables, aux_constraints
        Names added by the rewrite; dropped when a result is mapped back.
    """

    model: Model
    records: list[Record] = field(default_factory=list)
    aux_variables: set[str] = field(default_factory=set)
    aux_constraints: set[str] = field(default_factory=set)
    binary_valued: set[str] = field(default_factory=set)
    """Auxiliaries that take only 0/1 values (products of binaries)."""
    left: list[str] = field(default_factory=list)
    """Terms left as written because a big-M bound is missing (for a global solver)."""
    objective_fix: list[tuple[str, Any, str, Any, float]] = field(default_factory=list)
    """``(x, x_label, t, t_label, c)``: the user's objective is the solver's plus
    ``c * (x[x_label] ** 2 - t[t_label])`` summed (the perspective split, whose ``t``
    equals ``x ** 2`` only up to the solver's tolerance)."""

    feas_tol: float | None = None
    """A feasibility tolerance the rewritten model needs (``None``: the solver's default)."""
    indicator_m: float = 0.0
    """The largest big-M of the rows written for indicators (0: none written)."""

    @property
    def changed(self) -> bool:
        """True when anything was rewritten."""
        return bool(self.records)

    def summary(self) -> str:
        """One short line for the user, such as ``reformulated: objective max -> epigraph; ...``."""
        left = f"; left as written for a global solver: {'; '.join(self.left)}" if self.left else ""
        if not self.records:
            return "no reformulation" + left
        return "reformulated: " + "; ".join(r.text() for r in self.records) + left
