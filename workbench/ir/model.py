"""The five-element IR: sets, parameters, variables, objective, constraints.

Plus the optional ``lower_level`` (bilevel) and ``robust`` (two-stage
robust) sections.  The schema is deliberately permissive about the shapes
people write in YAML (a bare list for an explicit set, a bare number for a
scalar parameter) and normalises them into one typed form.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Constraint",
    "LowerLevel",
    "Model",
    "Objective",
    "Param",
    "Robust",
    "SetDef",
    "UncertaintySet",
    "Variable",
]

Member = str | int | list[str | int]
Bound = Any
"""A bound or start value: a number, an expression, a list in set order, a mapping by member."""
_BOUND_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number"},
        {"type": "string"},
        {"type": "array"},
        {"type": "object"},
        {"type": "null"},
    ]
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SetDef(_Strict):
    """One set: explicit members, an integer range, or a derived expression.

    YAML accepts ``I: [a, b]`` (explicit), ``J: {range: [1, 4]}`` (1..4
    inclusive, optional third entry = step) and
    ``A: {expr: "(i, j) for i in I for j in J if d[i, j] <= 50"}``.
    """

    members: list[Member] | None = None
    range: list[int] | None = None
    expr: str | None = None
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: Any) -> Any:
        if isinstance(data, list | tuple):
            data = {"members": list(data)}
        if isinstance(data, dict) and isinstance(data.get("members"), list):
            for k, m in enumerate(data["members"]):
                parts = m if isinstance(m, list | tuple) else [m]
                if any(isinstance(p, bool) for p in parts):
                    raise ValueError(
                        f"member {k} is a boolean ({m!r}); members are text or integers "
                        "(quote true/false in YAML)"
                    )
                if any(isinstance(p, float) for p in parts):
                    raise ValueError(
                        f"member {k} is a decimal number ({m!r}); members are text or integers"
                    )
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SetDef:
        given = [k for k in ("members", "range", "expr") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'members' (a list), 'range' ([first, last]) or 'expr'"
                + (f"; got {', '.join(given)}" if given else "")
            )
        if self.range is not None and len(self.range) not in (2, 3):
            raise ValueError("range must be [first, last] or [first, last, step]")
        if self.range is not None and len(self.range) == 3 and self.range[2] == 0:
            raise ValueError("range step must not be 0")
        return self


class Param(_Strict):
    """A parameter: scalar or indexed, given as data or defined by an expression.

    ``values`` may be a number (scalar), nested lists in set order, or a dict
    keyed by member (nested dicts for several dimensions).  ``rows`` gives
    ``[member, ..., value]`` rows.  ``expr`` (with ``for`` when indexed)
    defines the parameter from other parameters.
    """

    index: list[str] = Field(default_factory=list)
    values: Any = None
    rows: list[list[Any]] | None = None
    default: float | None = None
    expr: str | None = None
    for_: str | None = Field(default=None, alias="for")
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_scalar(cls, data: Any) -> Any:
        if isinstance(data, bool):
            raise ValueError("a parameter must be a number, not a boolean")
        if isinstance(data, int | float):
            return {"values": data}
        if isinstance(data, list):
            raise ValueError(
                "an indexed parameter needs its index: write {index: [I], values: [...]}"
            )
        if isinstance(data, str):
            return {"expr": data}
        return data

    @field_validator("index", mode="before")
    @classmethod
    def _index_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class Variable(_Strict):
    """A decision variable (family).

    ``lb``, ``ub`` (``None``: unbounded) and ``init`` (start values for
    local NLP methods) take the same data forms as a parameter's
    ``values``: a number for every entry, nested lists in set order, a
    mapping keyed by member (entries left out keep no bound or no start
    value), or an expression.  When an expression refers to the variable's
    index, name the index with ``for`` (``for: "i in I"``); a bare indexed
    parameter with the same index sets (``ub: cap``) also applies
    elementwise.  Bounds may be infinite (``.inf`` in YAML, ``"inf"``).
    """

    index: list[str] = Field(default_factory=list)
    domain: Literal["continuous", "integer", "binary"] = "continuous"
    lb: Bound = Field(default=None, json_schema_extra=_BOUND_SCHEMA)
    ub: Bound = Field(default=None, json_schema_extra=_BOUND_SCHEMA)
    init: Bound = Field(default=None, json_schema_extra=_BOUND_SCHEMA)
    for_: str | None = Field(default=None, alias="for")
    description: str | None = None

    @field_validator("index", mode="before")
    @classmethod
    def _index_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("lb", "ub", "init", mode="before")
    @classmethod
    def _bound_form(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("expected a number, not a boolean")
        if v is None or isinstance(v, int | float | str | list | dict):
            return v
        if isinstance(v, tuple):
            return list(v)
        if hasattr(v, "tolist") and hasattr(v, "dtype"):  # a numpy array or scalar
            return v.tolist()
        raise ValueError(
            "expected a number, an expression, a list in set order or a mapping keyed by "
            f"member; got {type(v).__name__}"
        )

    @field_validator("domain", mode="before")
    @classmethod
    def _domain_alias(cls, v: Any) -> Any:
        aliases = {
            "real": "continuous",
            "reals": "continuous",
            "float": "continuous",
            "int": "integer",
            "integers": "integer",
            "bool": "binary",
            "boolean": "binary",
        }
        return aliases.get(v, v) if isinstance(v, str) else v


class Objective(_Strict):
    """The objective: a sense and an expression."""

    sense: Literal["min", "max"] = "min"
    expr: str

    @field_validator("sense", mode="before")
    @classmethod
    def _sense_alias(cls, v: Any) -> Any:
        aliases = {"minimize": "min", "minimise": "min", "maximize": "max", "maximise": "max"}
        return aliases.get(v, v) if isinstance(v, str) else v


class Constraint(_Strict):
    """A named constraint (family) with optional ``for`` quantifier and filters."""

    name: str | None = None
    for_: str | None = Field(default=None, alias="for")
    expr: str
    when: str | None = None
    """An indicator: a binary variable reference such as ``"y[i]"`` (in the ``for`` scope);
    the constraint holds only where that binary is 1."""
    description: str | None = None


class LowerLevel(_Strict):
    """The follower's problem of a bilevel model."""

    variables: list[str]
    objective: Objective
    constraints: list[Constraint] = Field(default_factory=list)


class UncertaintySet(_Strict):
    """Constraints on the uncertain variables of a two-stage robust model."""

    constraints: list[Constraint] = Field(default_factory=list)


class Robust(_Strict):
    """Two-stage robust structure: min_x c(x) + max_{xi in U} min_y q(x, xi, y)."""

    first_stage: list[str]
    second_stage: list[str]
    uncertain: list[str]
    uncertainty_set: UncertaintySet = Field(default_factory=UncertaintySet)


class Model(_Strict):
    """A whole optimisation model in the five-element IR."""

    name: str = "model"
    description: str | None = None
    sets: dict[str, SetDef] = Field(default_factory=dict)
    params: dict[str, Param] = Field(default_factory=dict)
    variables: dict[str, Variable]
    objective: Objective
    constraints: list[Constraint] = Field(default_factory=list)
    lower_level: LowerLevel | None = None
    robust: Robust | None = None

    @field_validator("constraints", mode="before")
    @classmethod
    def _constraints_from_dict(cls, v: Any) -> Any:
        # Accept {name: {expr: ...}} or {name: "expr"} as well as a list.
        if isinstance(v, dict):
            out = []
            for name, body in v.items():
                if isinstance(body, str):
                    out.append({"name": name, "expr": body})
                elif isinstance(body, dict):
                    out.append({"name": name, **body})
                else:
                    out.append(body)
            return out
        return v

    def constraint_names(self) -> list[str]:
        """Names of the constraints, with defaults ``c0``, ``c1``... filled in."""
        return [c.name or f"c{k}" for k, c in enumerate(self.constraints)]
