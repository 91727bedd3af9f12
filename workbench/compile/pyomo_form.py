"""Compile a model into a Pyomo ``ConcreteModel``: the input of the ``pyomo`` backend.

One Pyomo ``Var`` per variable family (indexed by its labels, or scalar), one
``Objective`` and one ``Constraint`` per row family (indexed by its row
labels, or scalar).  Affine and quadratic expressions are built term by term
from :func:`~workbench.compile.affine.poly`; anything else is evaluated over a
numpy object array of Pyomo variables with
:class:`~workbench.compile.numeric.ObjectOps`.

Pyomo is imported only inside the functions here: importing this module is
cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.compile.affine import NonlinearError, Poly, poly
from workbench.compile.linear import refuse_structured
from workbench.compile.linear_form import Block, LinearForm, split_blocks
from workbench.compile.numeric import ObjectOps, evaluate
from workbench.compile.plan import Plan
from workbench.compile.sets import LazyLabels
from workbench.compile.structure import CompiledModel, RowFamily, compile_structure
from workbench.errors import UnsupportedProblemError
from workbench.ir.model import Model
from workbench.result import Label

__all__ = ["PyomoForm", "compile_pyomo", "compile_pyomo_linear"]

_DOMAINS = {"continuous": "Reals", "integer": "Integers", "binary": "Binary"}
_FEAS_TOL = 1e-9


class _ScalarKey:
    """Stands for the (absent) index of a scalar constraint."""

    def __repr__(self) -> str:
        return "<scalar>"


_SCALAR = _ScalarKey()


def _get(comp: Any, key: Any) -> Any:
    return comp if key is _SCALAR else comp[key]


@dataclass
class PyomoForm:
    """A Pyomo model built from an IR model, and the maps to read it back.

    Attributes
    ----------
    model
        The ``pyomo.environ.ConcreteModel``.
    structure
        The compiled structure it came from (``None`` for a LinearForm).
    variables
        The flat list of Pyomo ``VarData``: position ``k`` of the flat
        variable vector is ``variables[k]``.
    var_components, con_components
        Variable and constraint family name -> Pyomo component (a
        constraint's component name differs from the family name only if
        it would clash with another component).
    objective
        The Pyomo ``Objective`` component.
    columns
        Blocks mapping variable families to flat positions and labels.
    skipped
        Rows with no finite bound (free rows), as ``(family, row)``; they
        are left out of the Pyomo model.
    infeasible_rows
        Rows without variables whose constant lies outside their bounds,
        such as ``name[label]``; the model is infeasible as written.
    """

    model: Any
    structure: CompiledModel | None
    variables: list[Any]
    var_components: dict[str, Any]
    con_components: dict[str, Any]
    objective: Any
    columns: list[Block]
    skipped: list[tuple[str, int]] = field(default_factory=list)
    infeasible_rows: list[str] = field(default_factory=list)
    row_blocks: list[tuple[str, Sequence[Label] | None]] = field(default_factory=list)
    _row_keys: dict[str, list[Any]] = field(default_factory=dict)

    def flat_values(self) -> np.ndarray:
        """Current variable values as a flat float array (``nan`` where unset)."""
        out = np.full(len(self.variables), np.nan)
        for k, v in enumerate(self.variables):
            val = v.value
            if val is not None:
                out[k] = float(val)
        return out

    def values_by_variable(self) -> dict[str, Any]:
        """Variable values as ``{name: value}`` or ``{name: {label: value}}``."""
        return split_blocks(self.flat_values() + 0.0, self.columns)  # + 0.0: no -0.0

    def row_data(self, family: str, row: int) -> Any:
        """The Pyomo ``ConstraintData`` of row *row* of *family* (``None`` if left out)."""
        key = self._row_keys[family][row]
        return None if key is None else _get(self.con_components[family], key)

    def duals_by_constraint(self) -> dict[str, Any] | None:
        """Row duals from the model's ``dual`` Suffix, by family and label.

        Returns ``None`` when the model has no dual Suffix or it holds no
        values.  Rows left out of the Pyomo model (free rows) get 0.
        """
        import pyomo.environ as pyo

        suffix = self.model.component("dual")
        if not isinstance(suffix, pyo.Suffix) or len(suffix) == 0:
            return None
        out: dict[str, Any] = {}
        for name, labels in self.row_blocks:
            comp = self.con_components[name]
            keys = self._row_keys[name]
            vals = [
                float(suffix.get(_get(comp, key)) or 0.0) + 0.0 if key is not None else 0.0
                for key in keys
            ]
            if labels is None:
                out[name] = vals[0] if vals else 0.0
            else:
                out[name] = dict(zip(labels, vals))
        return out


def _unique(m: Any, base: str) -> str:
    name = base
    while m.component(name) is not None:
        name += "_"
    return name


def _labels_unique(labels: Sequence[Label]) -> bool:
    seen = list(labels)
    try:
        return len(set(seen)) == len(seen)
    except TypeError:
        return False


def _add_variables(m: Any, cm: CompiledModel) -> tuple[list[Any], dict[str, Any], list[Block]]:
    import pyomo.environ as pyo

    flat: list[Any] = [None] * cm.num_vars
    comps: dict[str, Any] = {}
    blocks: list[Block] = []
    for name, vd in cm.ctx.vars.items():
        domain = getattr(pyo, _DOMAINS.get(vd.domain, "Reals"))
        labels: Sequence[Label] | None = LazyLabels(vd.index) if vd.index else None
        if labels is None:
            comp = pyo.Var(domain=domain)
            m.add_component(name, comp)
            datas = [comp]
        else:
            keys = list(labels)
            comp = pyo.Var(keys, domain=domain, dense=True)
            m.add_component(name, comp)
            datas = [comp[k] for k in keys]
        for k, d in enumerate(datas):
            lb, ub = float(vd.lb[k]), float(vd.ub[k])
            d.setlb(lb if np.isfinite(lb) else None)
            d.setub(ub if np.isfinite(ub) else None)
            if vd.init is not None and np.isfinite(vd.init[k]):
                d.set_value(float(vd.init[k]), skip_validation=True)
            flat[vd.offset + k] = d
        comps[name] = comp
        blocks.append(Block(name, vd.offset, vd.size, labels))
    return flat, comps, blocks


def _merge(p: Poly, n_vars: int) -> Poly:
    """Sum duplicate ``(row, col)`` and ``(row, i, j)`` terms; drop zeros."""
    key = p.rows.astype(np.int64) * max(n_vars, 1) + p.cols
    uk, inv = np.unique(key, return_inverse=True)
    coefs = np.bincount(inv, weights=p.coefs, minlength=uk.size) if uk.size else p.coefs
    keep = coefs != 0.0
    rows, cols = uk // max(n_vars, 1), uk % max(n_vars, 1)
    out = Poly(p.n, p.const, rows[keep], cols[keep], coefs[keep])
    if p.has_quad:
        lo, hi = np.minimum(p.qi, p.qj), np.maximum(p.qi, p.qj)
        qk = np.stack([p.qrows, lo, hi], axis=1)
        uq, qinv = np.unique(qk, axis=0, return_inverse=True)
        qc = np.bincount(qinv.reshape(-1), weights=p.qcoef, minlength=uq.shape[0])
        qkeep = qc != 0.0
        out.qrows, out.qi, out.qj, out.qcoef = (
            uq[qkeep, 0],
            uq[qkeep, 1],
            uq[qkeep, 2],
            qc[qkeep],
        )
    return out


def _poly_exprs(p: Poly, flat: list[Any], with_const: bool) -> list[Any]:
    """One Pyomo expression per row of *p* (constants included when *with_const*)."""
    from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression

    n = p.n
    terms: list[list[Any]] = [[] for _ in range(n)]
    for r, c, a in zip(p.rows.tolist(), p.cols.tolist(), p.coefs.tolist()):
        terms[r].append(MonomialTermExpression((a, flat[c])))
    out: list[Any] = []
    for r in range(n):
        args = terms[r]
        const = float(p.const[r]) if with_const else 0.0
        if const != 0.0:
            args = [const, *args]
        out.append(LinearExpression(args) if args else 0.0)
    if p.has_quad:
        quads: list[list[Any]] = [[] for _ in range(n)]
        for r, i, j, a in zip(p.qrows.tolist(), p.qi.tolist(), p.qj.tolist(), p.qcoef.tolist()):
            quads[r].append(a * flat[i] * flat[j])
        for r in range(n):
            if quads[r]:
                out[r] = out[r] + sum(quads[r][1:], quads[r][0])
    return out


def _object_ops() -> ObjectOps:
    import pyomo.environ as pyo

    return ObjectOps(
        {
            "exp": pyo.exp,
            "log": pyo.log,
            "sqrt": pyo.sqrt,
            "sin": pyo.sin,
            "cos": pyo.cos,
            "abs": abs,
        }
    )


def _nonlinear_exprs(plan: Plan, flat: list[Any], n: int, where: str) -> list[Any]:
    x = np.empty(len(flat), dtype=object)
    x[:] = flat
    try:
        v = evaluate(plan, x, _object_ops())
    except NotImplementedError as e:
        raise UnsupportedProblemError(f"{where}: {e}; reformulate it without min/max") from e
    if isinstance(v, np.ndarray):
        vals = v.reshape(-1).tolist()
        if len(vals) == 1 and n != 1:
            vals = vals * n
        return vals
    return [v] * n


def _expressions(plan: Plan, flat: list[Any], n: int, where: str) -> tuple[list[Any], np.ndarray]:
    """Row expressions without their constants, and those constants (``(n,)``)."""
    try:
        p = _merge(poly(plan), len(flat))
    except NonlinearError:
        return _nonlinear_exprs(plan, flat, n, where), np.zeros(n)
    const = np.broadcast_to(np.asarray(p.const, dtype=float), (n,)).copy()
    return _poly_exprs(p, flat, with_const=False), const


def _is_constant(e: Any) -> bool:
    from pyomo.core.expr.numvalue import is_constant

    return isinstance(e, int | float) or bool(is_constant(e))


def _add_family(m: Any, form: PyomoForm, fam: RowFamily) -> None:
    exprs, const = _expressions(fam.plan, form.variables, fam.n, fam.where)
    lo = np.asarray(fam.lo, dtype=float) - const
    hi = np.asarray(fam.hi, dtype=float) - const
    _add_rows(m, form, fam.name, fam.labels, exprs, lo, hi)


def _add_rows(
    m: Any,
    form: PyomoForm,
    name: str,
    labels: Sequence[Label] | None,
    exprs: list[Any],
    lo: np.ndarray,
    hi: np.ndarray,
) -> None:
    """One (indexed) Constraint ``lo <= expr <= hi`` named *name*."""
    import pyomo.environ as pyo
    from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression

    n = len(exprs)
    indexed = labels is not None
    keys: list[Any]
    if labels is not None:
        labs = list(labels)
        keys = labs if _labels_unique(labs) else list(range(n))
        comp = pyo.Constraint(keys)
    else:
        keys = [None]
        comp = pyo.Constraint()
    form.row_blocks.append((name, labels))
    m.add_component(_unique(m, name), comp)
    form.con_components[name] = comp
    row_keys: list[Any] = []
    for r in range(n):
        key = keys[r] if indexed else _SCALAR
        e, a, b = exprs[r], float(lo[r]), float(hi[r])
        if _is_constant(e):
            val = float(pyo.value(e))
            feasible = a - _FEAS_TOL <= val <= b + _FEAS_TOL
            if not feasible:
                form.infeasible_rows.append(f"{name}[{keys[r]}]" if indexed else name)
            if feasible or not form.variables:
                form.skipped.append((name, r))
                row_keys.append(None)
                continue
            # keep it, so the Pyomo model alone is infeasible too (a bare number is no constraint)
            e = LinearExpression([val, MonomialTermExpression((0.0, form.variables[0]))])
        if not (np.isfinite(a) or np.isfinite(b)):
            form.skipped.append((name, r))
            row_keys.append(None)
            continue
        if a == b:
            rel = e == a
        elif np.isfinite(a) and np.isfinite(b):
            rel = pyo.inequality(a, e, b)
        elif np.isfinite(b):
            rel = e <= b
        else:
            rel = e >= a
        if indexed:
            comp[key] = rel
        else:
            comp.set_value(rel)
        row_keys.append(key)
    form._row_keys[name] = row_keys


def compile_pyomo(model: Model | CompiledModel, *, duals: bool = False) -> PyomoForm:
    """Build a Pyomo ``ConcreteModel`` for *model*.

    Parameters
    ----------
    model
        The IR model or its compiled structure (never modified).
    duals
        Add an import ``Suffix`` named ``dual`` so a solver can return row duals.

    Returns
    -------
    PyomoForm

    Raises
    ------
    ModelError
        If the model does not compile.
    UnsupportedProblemError
        If an expression uses ``min``/``max`` of variables (not smooth; Pyomo
        cannot take it directly).
    """
    import pyomo.environ as pyo

    cm = model if isinstance(model, CompiledModel) else compile_structure(model)
    refuse_structured(cm.model, "Pyomo")
    ind = next((f for f in cm.rows if f.indicator is not None), None)
    if ind is not None:  # dropping 'when' would enforce the row everywhere: another problem
        raise UnsupportedProblemError(
            f"{ind.where}.when: constraint '{ind.name}' is an indicator constraint, which this "
            "Pyomo form does not carry; rewrite it first (workbench.reformulate writes big-M "
            "rows from the bounds) or solve with a backend that takes indicators (scip, cpsat)"
        )
    m = pyo.ConcreteModel(name=cm.model.name or "model")
    flat, var_comps, blocks = _add_variables(m, cm)
    obj_plan = cm.objective
    try:
        p = _merge(poly(obj_plan.plan), len(flat))
        obj_expr = _poly_exprs(p, flat, with_const=True)[0]
    except NonlinearError:
        obj_expr = _nonlinear_exprs(obj_plan.plan, flat, 1, obj_plan.where)[0]
    sense = pyo.maximize if obj_plan.sense == "max" else pyo.minimize
    obj = pyo.Objective(expr=obj_expr, sense=sense)
    m.add_component(_unique(m, "objective"), obj)
    form = PyomoForm(m, cm, flat, var_comps, {}, obj, blocks)
    for fam in cm.rows:
        _add_family(m, form, fam)
    if duals and m.component("dual") is None:  # solvers look for a Suffix named 'dual'
        m.add_component("dual", pyo.Suffix(direction=pyo.Suffix.IMPORT))
    return form


def compile_pyomo_linear(lf: LinearForm, *, duals: bool = False) -> PyomoForm:
    """Build a Pyomo ``ConcreteModel`` from a matrix-form model (MPS/LP import).

    Variable and constraint components follow ``lf.columns`` and ``lf.rows``
    (one Pyomo component per block, indexed by its labels).

    Parameters
    ----------
    lf
        The matrix-form model (not modified).
    duals
        Add an import ``Suffix`` named ``dual``.

    Returns
    -------
    PyomoForm
        With ``structure=None``.
    """
    import pyomo.environ as pyo

    m = pyo.ConcreteModel(name=lf.name or "model")
    n = lf.num_cols
    flat: list[Any] = [None] * n
    var_comps: dict[str, Any] = {}
    columns = lf.columns or [Block("x", 0, n, list(range(n)))]
    for b in columns:
        comp = pyo.Var() if b.labels is None else pyo.Var(list(b.labels), dense=True)
        m.add_component(_unique(m, b.name), comp)  # constructs it: index it only after
        datas = [comp] if b.labels is None else [comp[k] for k in b.labels]
        var_comps[b.name] = comp
        for k, d in enumerate(datas):
            j = b.start + k
            if lf.integrality[j]:
                d.domain = pyo.Integers
            lb, ub = float(lf.col_lb[j]), float(lf.col_ub[j])
            d.setlb(lb if np.isfinite(lb) else None)
            d.setub(ub if np.isfinite(ub) else None)
            flat[j] = d
    c = np.asarray(lf.c, dtype=float)
    nz = np.nonzero(c)[0]
    obj_poly = Poly(1, np.array([float(lf.offset)]), np.zeros(nz.size, dtype=np.int64), nz, c[nz])
    if lf.Q is not None and lf.Q.nnz:
        q = lf.Q.tocoo()
        obj_poly.qrows = np.zeros(q.nnz, dtype=np.int64)
        obj_poly.qi, obj_poly.qj = q.row.astype(np.int64), q.col.astype(np.int64)
        obj_poly.qcoef = 0.5 * q.data
    obj_expr = _poly_exprs(_merge(obj_poly, n), flat, with_const=True)[0]
    sense = pyo.maximize if lf.sense == "max" else pyo.minimize
    obj = pyo.Objective(expr=obj_expr, sense=sense)
    m.add_component(_unique(m, "objective"), obj)
    form = PyomoForm(m, None, flat, var_comps, {}, obj, list(columns))
    a = lf.A.tocsr()
    rows = np.repeat(np.arange(a.shape[0], dtype=np.int64), np.diff(a.indptr))
    exprs = _poly_exprs(
        _merge(Poly(a.shape[0], np.zeros(a.shape[0]), rows, a.indices.astype(np.int64), a.data), n),
        flat,
        with_const=False,
    )
    row_blocks = lf.rows or (
        [Block("r", 0, a.shape[0], list(range(a.shape[0])))] if a.shape[0] else []
    )
    for b in row_blocks:
        sl = slice(b.start, b.stop)
        _add_rows(m, form, b.name, b.labels, exprs[sl], lf.row_lb[sl], lf.row_ub[sl])
    if duals and m.component("dual") is None:
        m.add_component("dual", pyo.Suffix(direction=pyo.Suffix.IMPORT))
    return form
