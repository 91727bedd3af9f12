"""Read a Pyomo ``ConcreteModel``: the matrix form for linear and quadratic models, the IR otherwise.

:func:`from_pyomo` checks the model's components, gathers its variables
(one column block per ``Var`` component, labelled by the Pyomo indices) and
reads every active constraint and the objective with
:func:`pyomo.repn.generate_standard_repn`.  A model whose constraints are
linear and whose objective is at most quadratic becomes a
:class:`~workbench.compile.linear_form.LinearForm` whose blocks carry the
Pyomo component names, so a result's values come back as
``values["x"][(1, "a")]``.  Anything else becomes an IR model
(:mod:`workbench.compile.pyomo_ir`), and :class:`PyomoInput` maps the
IR's names back to Pyomo's.

Fixed variables become columns fixed at their value; mutable parameters and
``Expression`` components are expanded to their current values.

Pyomo is imported only inside the functions here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from workbench.compile.linear_form import Block, LinearForm
from workbench.errors import ModelError
from workbench.ir.model import Model
from workbench.result import Result

__all__ = ["PyomoInput", "from_pyomo", "is_pyomo_model", "load_into_pyomo", "read_pyomo"]


def is_pyomo_model(obj: Any) -> bool:
    """True when *obj* is a Pyomo block (a ``ConcreteModel``); never imports Pyomo."""
    block = sys.modules.get("pyomo.core.base.block")
    return block is not None and isinstance(obj, block.BlockData)


# --------------------------------------------------------------- components
_FIXES = {
    "Disjunct": "it is a GDP disjunct: transform the model first, for example "
    "TransformationFactory('gdp.bigm').apply_to(model) (or 'gdp.hull')",
    "Disjunction": "it is a GDP disjunction: transform the model first, for example "
    "TransformationFactory('gdp.bigm').apply_to(model) (or 'gdp.hull')",
    "ExternalFunction": "workbench cannot see inside an external function: write it as a "
    "Pyomo expression (exp, log, sqrt, sin, cos, abs, powers)",
    "SOSConstraint": "SOS constraints are not read: model them with binary variables and "
    "linking constraints",
    "LogicalConstraint": "logical constraints are not read: transform them first with "
    "TransformationFactory('core.logical_to_linear').apply_to(model)",
    "Complementarity": "complementarity conditions are not read: reformulate them "
    "(for example TransformationFactory('mpec.simple_nonlinear').apply_to(model))",
}
_READ = frozenset({"Var", "Constraint", "Objective", "Expression", "Param", "Block", "Suffix"})
_IGNORED = frozenset({"Set", "RangeSet", "SetOf", "BooleanVar"})


def _check_components(model: Any) -> list[Any]:
    """The model's active objectives, after refusing components workbench cannot read.

    Raises
    ------
    ModelError
        Naming the component and what to do.
    """
    objectives: list[Any] = []
    for comp in model.component_objects(active=True, descend_into=True):
        kind = comp.ctype.__name__
        if kind in _FIXES:
            hint = ""
            if kind == "SOSConstraint" and "Piecewise" in type(comp.parent_block()).__name__:
                hint = " (for a Piecewise, pass pw_repn='INC', 'DCC', 'LOG' or 'DLOG')"
            raise ModelError(f"'{comp.name}' is a {kind}; {_FIXES[kind]}{hint}", "pyomo model")
        if kind == "Objective":
            objectives.append(comp)
        elif kind not in _READ and kind not in _IGNORED:
            raise ModelError(
                f"'{comp.name}' is a {kind}, which workbench does not read: "
                "deactivate it or express it with variables, constraints and one objective",
                "pyomo model",
            )
    datas = [(comp, d) for comp in objectives for d in comp.values() if d.active]
    if len(datas) > 1:
        names = ", ".join(f"'{d.name}'" for _, d in datas)
        raise ModelError(
            f"the model has {len(datas)} active objectives ({names}); deactivate all but one, "
            f"for example model.{datas[-1][1].name}.deactivate()",
            "pyomo model",
        )
    for comp, d in datas:
        if comp.parent_block() is not model:
            raise ModelError(
                f"objective '{d.name}' sits on the sub-block '{comp.parent_block().name}'; "
                "move it to the top-level model (or deactivate it and add one there)",
                "pyomo model",
            )
    return [d for _, d in datas]


# ---------------------------------------------------------------- variables
@dataclass
class _Columns:
    """Variables grouped by their Pyomo component, in a stable order."""

    groups: dict[str, list[tuple[Any, Any]]] = field(default_factory=dict)
    scalar: dict[str, bool] = field(default_factory=dict)
    position: dict[int, int] = field(default_factory=dict)
    datas: list[Any] = field(default_factory=list)

    def add_component(self, comp: Any) -> None:
        """All the data of one ``Var`` component, as one group."""
        items = list(comp.items())
        start = len(self.datas)
        self.groups[comp.name] = items
        self.scalar[comp.name] = not comp.is_indexed()
        self.datas.extend(v for _, v in items)
        self.position.update(zip(map(id, self.datas[start:]), range(start, len(self.datas))))

    def add(self, v: Any) -> int:
        """The position of *v*, added to its component's group if not seen yet."""
        pos = self.position.get(id(v))
        if pos is not None:
            return pos
        comp = v.parent_component()
        self.groups.setdefault(comp.name, []).append((v.index(), v))
        self.scalar[comp.name] = not comp.is_indexed()
        pos = len(self.datas)
        self.position[id(v)] = pos
        self.datas.append(v)
        return pos

    def positions(self, variables: Iterable[Any]) -> np.ndarray:
        """Positions of *variables* (a dictionary lookup each; unseen ones are added)."""
        get = self.position.get
        found = [get(id(v)) for v in variables]
        if None in found:
            found = [self.add(v) for v in variables]
        return np.asarray(found, dtype=np.int64)

    def ordered(self) -> list[Any]:
        """Variable data grouped by component (each group contiguous)."""
        return [v for g in self.groups.values() for _, v in g]


def _gather_variables(model: Any) -> _Columns:
    import pyomo.environ as pyo

    cols = _Columns()
    for comp in model.component_objects(pyo.Var, active=True, descend_into=True):
        if not comp.is_reference():  # a Reference's data belong to another component
            cols.add_component(comp)
    return cols


def _column_bounds(datas: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lb, ub, integer)`` arrays; fixed variables are fixed at their value."""
    n = len(datas)
    lb, ub = np.full(n, -np.inf), np.full(n, np.inf)
    integer = np.zeros(n, dtype=bool)
    steps: dict[int, Any] = {}  # domains are shared objects: ask each once
    for k, v in enumerate(datas):
        dom = v.domain
        step = steps.get(id(dom))
        if step is None:
            step = steps[id(dom)] = dom.get_interval()[2]
            if step not in (0, 1):
                raise ModelError(
                    f"the domain of '{v.name}' ({dom}) is not continuous or the integers",
                    "pyomo model",
                )
        integer[k] = step == 1
        if v.fixed:
            if v.value is None:
                raise ModelError(
                    f"'{v.name}' is fixed but has no value; give it one", "pyomo model"
                )
            lb[k] = ub[k] = float(v.value)
            continue
        lo, hi = v.bounds
        if lo is not None:
            lb[k] = lo
        if hi is not None:
            ub[k] = hi
    return lb, ub, integer


def _labels(group: list[tuple[Any, Any]], scalar: bool) -> list[Any] | None:
    return None if scalar else [k for k, _ in group]


# ------------------------------------------------------------------- result
@dataclass
class PyomoInput:
    """A Pyomo model read for solving, and how to name the answer in Pyomo's terms.

    Attributes
    ----------
    form
        The matrix form (linear constraints, at most quadratic objective) or
        an IR model (anything else, or on request).
    seconds
        Time spent reading the Pyomo model (added to ``timings.build``).
    var_names
        IR variable name -> Pyomo component name (empty for the matrix form,
        whose blocks carry the Pyomo names).
    var_labels
        IR variable name -> {IR label: Pyomo index}, where they differ.
    con_rows
        IR constraint name -> ``(Pyomo component name, Pyomo index or None)``.
    """

    form: LinearForm | Model
    seconds: float = 0.0
    var_names: dict[str, str] = field(default_factory=dict)
    var_labels: dict[str, dict[Any, Any]] = field(default_factory=dict)
    con_rows: dict[str, tuple[str, Any]] = field(default_factory=dict)

    def translate(self, result: Result) -> Result:
        """Rename *result*'s values and duals from IR names to Pyomo names (in place).

        The seconds spent reading the Pyomo model are added to ``timings.build``.
        """
        result.timings.build += self.seconds
        if isinstance(self.form, LinearForm):
            return result
        values: dict[str, Any] = {}
        for name, v in result.values.items():
            pname = self.var_names.get(name, name)
            if isinstance(v, dict):  # a family split by domain merges again
                back = self.var_labels.get(name, {})
                values.setdefault(pname, {}).update((back.get(k, k), x) for k, x in v.items())
            else:
                values[pname] = v
        result.values = values
        if result.duals:
            duals: dict[str, Any] = {}
            for name, d in result.duals.items():
                if name not in self.con_rows:
                    continue  # a bound row added by the translation
                comp, index = self.con_rows[name]
                if index is None:
                    duals[comp] = d
                else:
                    duals.setdefault(comp, {})[index] = d
            result.duals = duals
        return result


def read_pyomo(model: Any, backend: str = "auto") -> PyomoInput:
    """Read a Pyomo model for *backend*: the matrix form where it fits and the backend takes one.

    A named backend without ``solve_linear`` gets the IR; ``"auto"`` and
    backends that take a matrix get the matrix form of a linear or quadratic
    model.  See :func:`from_pyomo` for the errors.
    """
    from workbench.backends.registry import BACKENDS, backend_names

    matrix: bool | None = None
    if backend != "auto" and backend in backend_names():
        try:
            takes_matrix = hasattr(BACKENDS.load(backend), "solve_linear")
        except Exception:  # solve() reports a backend that cannot be imported
            takes_matrix = True
        matrix = None if takes_matrix else False
    return from_pyomo(model, matrix=matrix)


def from_pyomo(model: Any, *, matrix: bool | None = None) -> PyomoInput:
    """Read a Pyomo ``ConcreteModel`` into a LinearForm or an IR model.

    Parameters
    ----------
    model
        The Pyomo model (not modified).
    matrix
        ``None``: the matrix form when the model is linear or has only a
        quadratic objective, the IR otherwise; ``False``: always the IR
        (for backends that take no matrix); ``True``: the matrix form or a
        ``ModelError``.

    Returns
    -------
    PyomoInput

    Raises
    ------
    ModelError
        For a component workbench does not read (a GDP ``Disjunct``, an
        ``ExternalFunction``, an SOS constraint, an objective on a sub-block,
        several active objectives, ...), naming the component and the fix.
    """
    t0 = time.perf_counter()
    objectives = _check_components(model)
    cols = _gather_variables(model)
    lf = None if matrix is False else _linear_form(model, objectives, cols)
    if lf is not None:
        return PyomoInput(lf, seconds=time.perf_counter() - t0)
    if matrix:
        raise ModelError(
            "the model is nonlinear (or has quadratic constraints); it has no matrix form",
            "pyomo model",
        )
    from workbench.compile.pyomo_ir import pyomo_to_ir

    read = pyomo_to_ir(model, objectives, cols)
    read.seconds = time.perf_counter() - t0
    return read


def _constraints(model: Any) -> Iterable[tuple[Any, list[Any]]]:
    import pyomo.environ as pyo

    for comp in model.component_objects(pyo.Constraint, active=True, descend_into=True):
        rows = [d for d in comp.values() if d.active]
        if rows:
            yield comp, rows


def _linear_form(model: Any, objectives: list[Any], cols: _Columns) -> LinearForm | None:
    """The matrix form, or ``None`` when a constraint is not linear or the objective not quadratic."""
    from pyomo.repn import generate_standard_repn

    row_parts: list[np.ndarray] = []
    col_parts: list[np.ndarray] = []
    val_parts: list[np.ndarray] = []
    lbs: list[float] = []
    ubs: list[float] = []
    row_blocks: list[Block] = []
    r = 0
    for comp, rows in _constraints(model):
        start = r
        for con in rows:
            repn = generate_standard_repn(con.body, compute_values=True, quadratic=False)
            if not repn.is_linear():
                return None
            idx = cols.positions(repn.linear_vars)
            col_parts.append(idx)
            val_parts.append(_finite(repn.linear_coefs, repn.linear_vars, con.name))
            row_parts.append(np.full(idx.size, r, dtype=np.int64))
            const = float(_finite([repn.constant], ["the constant term"], con.name)[0])
            lo, hi = con.lb, con.ub
            if any(b is not None and np.isnan(float(b)) for b in (lo, hi)):
                raise ModelError("a bound of this constraint is NaN; give a number", con.name)
            lbs.append(-np.inf if lo is None else float(lo) - const)
            ubs.append(np.inf if hi is None else float(hi) - const)
            r += 1
        scalar = not comp.is_indexed()
        row_blocks.append(
            Block(comp.name, start, r - start, None if scalar else [d.index() for d in rows])
        )
    offset, c_terms, q_terms, sense = 0.0, None, None, "min"
    if objectives:
        obj = objectives[0]
        sense = "min" if obj.is_minimizing() else "max"
        repn = generate_standard_repn(obj.expr, compute_values=True, quadratic=True)
        if repn.nonlinear_expr is not None:
            return None
        offset = float(_finite([repn.constant], ["the constant term"], obj.name)[0])
        c_terms = (
            cols.positions(repn.linear_vars),
            list(_finite(repn.linear_coefs, repn.linear_vars, obj.name)),
        )
        if repn.quadratic_vars:
            q_terms = (
                cols.positions([a for a, _ in repn.quadratic_vars]),
                cols.positions([b for _, b in repn.quadratic_vars]),
                list(_finite(repn.quadratic_coefs, repn.quadratic_vars, obj.name)),
            )
    return _assemble(
        model, cols, (row_parts, col_parts, val_parts, lbs, ubs), row_blocks,
        c_terms, q_terms, offset, sense,
    )  # fmt: skip


def _finite(values: Any, terms: Any, where: str) -> np.ndarray:
    """*values* as floats; a NaN or infinite one is a ModelError naming its term and component."""
    out = np.asarray(values, dtype=float)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        k = int(bad[0])
        term = terms[k]
        name = (
            term
            if isinstance(term, str)
            else getattr(term, "name", None) or " * ".join(getattr(v, "name", str(v)) for v in term)
        )
        raise ModelError(
            f"the coefficient of {name} is {out[k]} (a Param or data value that is not a "
            "finite number); give a finite value",
            where,
        )
    return out


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


def _assemble(
    model: Any,
    cols: _Columns,
    rows: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[float], list[float]],
    row_blocks: list[Block],
    c_terms: tuple[np.ndarray, list[float]] | None,
    q_terms: tuple[np.ndarray, np.ndarray, list[float]] | None,
    offset: float,
    sense: str,
) -> LinearForm:
    """Put the pieces into a LinearForm whose columns are grouped by Pyomo component."""
    order = cols.ordered()  # grouped; 'position' is first-seen order
    n = len(order)
    perm = np.fromiter((cols.position[id(v)] for v in order), dtype=np.int64, count=n)
    new_of_old = np.empty(n, dtype=np.int64)
    new_of_old[perm] = np.arange(n, dtype=np.int64)
    row_parts, col_parts, val_parts, lbs, ubs = rows
    m = len(lbs)
    A = sp.csr_matrix(
        (_cat(val_parts, float), (_cat(row_parts, int), new_of_old[_cat(col_parts, int)])),
        shape=(m, n),
    )
    A.sum_duplicates()
    c = np.zeros(n)
    if c_terms is not None and c_terms[0].size:
        np.add.at(c, new_of_old[c_terms[0]], c_terms[1])
    Q = None
    if q_terms is not None:
        i, j = new_of_old[q_terms[0]], new_of_old[q_terms[1]]
        q = np.asarray(q_terms[2], dtype=float)
        # objective term q x_i x_j is 0.5 (Q_ij + Q_ji) x_i x_j: both triangles get q
        Q = sp.csr_matrix(
            (np.concatenate([q, q]), (np.concatenate([i, j]), np.concatenate([j, i]))),
            shape=(n, n),
        )
        Q.sum_duplicates()
        Q.eliminate_zeros()
        if not Q.nnz:
            Q = None
    col_lb, col_ub, integrality = _column_bounds(order)
    blocks: list[Block] = []
    start = 0
    for name, group in cols.groups.items():
        blocks.append(Block(name, start, len(group), _labels(group, cols.scalar[name])))
        start += len(group)
    return LinearForm(
        c=c,
        A=A,
        row_lb=np.asarray(lbs, dtype=float),
        row_ub=np.asarray(ubs, dtype=float),
        col_lb=col_lb,
        col_ub=col_ub,
        integrality=integrality,
        sense="max" if sense == "max" else "min",
        offset=offset,
        Q=Q,
        columns=blocks,
        rows=row_blocks,
        name=str(model.name or "model"),
    )


# ------------------------------------------------------------ write it back
def load_into_pyomo(result: Result, model: Any) -> int:
    """Write *result*'s values into *model*'s variables, and duals into its ``dual`` Suffix.

    Fixed variables keep their values.  Duals are written only when the
    model declares an import ``Suffix`` named ``dual`` and the result has
    duals.

    Returns
    -------
    int
        The number of variable values written.

    Raises
    ------
    ModelError
        If a variable of the result is not in *model* (a different model).
    """
    import pyomo.environ as pyo

    written = 0
    for name, v in result.values.items():
        comp = model.find_component(name)
        if comp is None or comp.ctype is not pyo.Var:
            raise ModelError(f"the model has no variable '{name}'; was it solved from this model?")
        items = v.items() if isinstance(v, dict) else [(None, v)]
        for index, x in items:
            if index is not None and index not in comp:
                raise ModelError(f"the model's variable '{name}' has no index {index!r}")
            data = comp if index is None else comp[index]
            if not data.fixed:
                data.set_value(float(x), skip_validation=True)
                written += 1
    suffix = model.component("dual")
    if result.duals and isinstance(suffix, pyo.Suffix) and suffix.import_enabled():
        for name, d in result.duals.items():
            comp = model.find_component(name)
            if comp is None:
                continue
            items = d.items() if isinstance(d, dict) else [(None, d)]
            for index, y in items:
                suffix[comp if index is None else comp[index]] = float(y)
    return written
