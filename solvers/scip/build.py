"""Build a SCIP model from a :class:`LinearForm` or a compiled IR structure.

Linear and quadratic rows come from :func:`~workbench.compile.affine.poly`
(or the LinearForm's CSR matrix) as triplets and become ``pyscipopt.Expr``
objects in one pass; rows with other functions are evaluated over a numpy
object array of SCIP variables with :class:`ScipOps`, a
:class:`~workbench.compile.numeric.ObjectOps` whose ``min``/``max`` (and
``min``/``max`` reductions) are exact: ``max(a, b) = (a + b + |a - b|) / 2``
with SCIP's own ``abs``, chained through auxiliary variables for more than
two arguments (no big-M, no bounds needed), and whose power with a variable
exponent is ``a ** b = exp(b * log(a))`` (defined for ``a > 0``, as in numpy).

SCIP takes only a linear objective: a quadratic or nonlinear one goes into an
epigraph row ``t >= f(x)`` (``t <= f(x)`` when maximising) with ``t`` free.

pyscipopt is imported only inside the functions here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.scip.capi import BulkRows, bulk_rows
from solvers.scip.form import ScipForm, entry_names, scip_bound
from solvers.scip.quadratic import convex_squares
from solvers.scip.rows import add_indicator, add_linear_rows, add_rows, triplet_exprs
from workbench.compile.affine import NonlinearError, Poly, poly
from workbench.compile.linear_form import Block, LinearForm
from workbench.compile.numeric import NumpyOps, ObjectOps, evaluate
from workbench.compile.plan import Plan
from workbench.compile.sets import LazyLabels
from workbench.compile.structure import CompiledModel, RowFamily
from workbench.errors import ModelError

__all__ = ["ScipForm", "ScipOps", "add_indicator", "build_linear", "build_structure"]

_EMPTY_I = np.zeros(0, dtype=np.int64)
_BIG = 16
"""A polynomial of more terms enters a general expression as an auxiliary variable."""


def _add_columns(
    m: Any,
    blocks: Sequence[Block],
    lb: np.ndarray,
    ub: np.ndarray,
    integer: np.ndarray,
    obj: np.ndarray | None = None,
) -> list[Any]:
    """One SCIP variable per flat position, with its objective coefficient *obj*."""
    out: list[Any] = []
    lbs, ubs, ints = lb.tolist(), ub.tolist(), integer.tolist()
    objs = [0.0] * len(lbs) if obj is None else np.asarray(obj, dtype=float).tolist()
    for b in blocks:
        names = entry_names(b, range(b.size))
        for j, name in zip(range(b.start, b.stop), names, strict=True):
            lo, hi = lbs[j], ubs[j]
            vtype = "C"
            if ints[j]:
                vtype = "B" if lo >= 0.0 and hi <= 1.0 else "I"
            out.append(
                m.addVar(name, vtype=vtype, lb=scip_bound(lo), ub=scip_bound(hi), obj=objs[j])
            )
    return out


def _poly_exprs(p: Poly, variables: list[Any]) -> list[Any]:
    rows = np.arange(p.n, dtype=np.int64) if p.ident else p.rows
    quad = (p.qrows, p.qi, p.qj, p.qcoef) if p.has_quad else None
    return triplet_exprs(p.n, variables, rows, p.cols, p.coefs, quad)


class ScipOps(ObjectOps):
    """Evaluate plans into SCIP expressions, with exact ``min``/``max``.

    Parameters
    ----------
    model
        The ``pyscipopt.Model`` that receives the auxiliary variables and rows.
    """

    def __init__(self, model: Any) -> None:
        import pyscipopt as ps

        super().__init__(
            {
                "exp": ps.exp,
                "log": ps.log,
                "sqrt": ps.sqrt,
                "sin": ps.sin,
                "cos": ps.cos,
                "abs": abs,
            }
        )
        self.model = model
        self.num_aux = 0

    def binop(self, op: str, a: Any, b: Any) -> Any:
        """``a op b`` elementwise; a power with a variable exponent is ``exp(b * log(a))``.

        Where the result is a general (non-polynomial) expression, a polynomial
        operand of more than :data:`_BIG` terms goes in as an auxiliary variable.
        """
        if _general_result(op, a, b):
            a, b = self._shrink(a), self._shrink(b)
        if op == "**" and _has_expr(b):
            return np.frompyfunc(_power, 2, 1)(a, b)
        return super().binop(op, a, b)

    def func(self, name: str, a: Any) -> Any:
        """SCIP's ``exp``, ``log``... elementwise, of small arguments (:meth:`binop`)."""
        return super().func(name, self._shrink(a))

    def _shrink(self, v: Any) -> Any:
        """*v* with each polynomial of more than :data:`_BIG` terms replaced by a variable.

        pyscipopt 6 turns a polynomial into a general expression, and sums
        general expressions, in time quadratic in the number of terms
        (``exp`` of a 20,000-term sum: 1.3 s; of 40,000: 6.4 s).
        """
        if isinstance(v, np.ndarray) and v.dtype == object:
            return np.frompyfunc(self._small, 1, 1)(v)
        return self._small(v)

    def _small(self, e: Any) -> Any:
        from pyscipopt import Expr

        if isinstance(e, Expr) and len(e.terms) > _BIG:
            return self._aux(e)
        return e

    def _aux(self, e: Any) -> Any:
        """A free variable ``w`` with the row ``w == e``."""
        from pyscipopt import ExprCons

        self.num_aux += 1
        w = self.model.addVar(f"_aux{self.num_aux}", lb=None, ub=None)
        self.model.addCons(ExprCons(e - w, 0.0, 0.0), name=f"_aux{self.num_aux}")
        return w

    def _atom(self, e: Any) -> Any:
        """*e* itself when it is small enough to repeat, else an auxiliary variable for it."""
        from pyscipopt import Expr

        if isinstance(e, int | float) or (isinstance(e, Expr) and len(e.terms) <= 2):
            return e
        return self._aux(e)

    def _fold(self, name: str, items: list[Any]) -> Any:
        """``min``/``max`` of *items* (numbers or SCIP expressions), exactly."""
        pick = min if name == "min" else max
        numbers = [e for e in items if isinstance(e, int | float)]
        exprs = [e for e in items if not isinstance(e, int | float)]
        if not exprs:
            return pick(numbers)
        if numbers:
            exprs.append(pick(numbers))
        if len(exprs) == 1:
            return exprs[0]
        sign = 1.0 if name == "max" else -1.0
        acc = self._atom(exprs[0])
        for k, item in enumerate(exprs[1:], start=2):
            b = self._atom(item)
            pair = 0.5 * (acc + b) + (0.5 * sign) * abs(acc - b)
            acc = pair if k == len(exprs) else self._aux(pair)
        return acc

    def minmax(self, name: str, args: list[Any]) -> Any:
        """Elementwise ``min``/``max`` of several rows of expressions."""
        arrays = np.broadcast_arrays(*[np.asarray(a, dtype=object) for a in args])
        out = np.empty(arrays[0].shape, dtype=object)
        for k in np.ndindex(out.shape):
            out[k] = self._fold(name, [_plain(a[k]) for a in arrays])
        return out

    def reduce(self, name: str, child: Any, parent: np.ndarray, n: int) -> Any:
        """Segment ``sum`` (``quicksum``), ``min`` or ``max`` of child rows."""
        from pyscipopt import quicksum

        empty = 0.0 if name == "sum" else (np.inf if name == "min" else -np.inf)
        items = np.broadcast_to(np.asarray(child, dtype=object), parent.shape)
        order = np.argsort(parent, kind="stable")
        groups = np.split(order, np.searchsorted(parent[order], np.arange(1, n)))
        out = np.empty(n, dtype=object)
        for r, group in enumerate(groups):
            terms = [_plain(e) for e in items[group]]
            if not terms:
                out[r] = empty
            elif name != "sum":
                out[r] = self._fold(name, terms)
            elif any(_is_general(e) for e in terms):
                out[r] = self._general_sum(terms)
            else:
                out[r] = quicksum(terms)
        return out

    def _general_sum(self, terms: list[Any]) -> Any:
        """The sum of general expressions (and polynomials), in one pass.

        Adding general expressions one by one copies the sum each time
        (quadratic); here their children go into one ``SumExpr``.
        """
        from pyscipopt import quicksum
        from pyscipopt.scip import Constant, SumExpr

        total = SumExpr()
        plain = []
        for e in terms:
            if not _is_general(e):
                plain.append(e)
            elif type(e) is SumExpr:
                total.children.extend(e.children)
                total.constant += e.constant
            elif type(e) is Constant:
                total.constant += e.number
            else:
                total.children.append(e)
        return total + self._small(quicksum(plain)) if plain else total


@functools.cache
def _plain_types() -> tuple[type, ...]:
    from pyscipopt import Expr

    return (int, float, np.generic, Expr)  # a Variable is an Expr


def _is_general(e: Any) -> bool:
    """Whether *e* is a general SCIP expression (not a number, variable or polynomial)."""
    return not isinstance(e, _plain_types())


def _has_general(v: Any) -> bool:
    """Whether *v* (an expression or an object array of them) holds a general expression."""
    if isinstance(v, np.ndarray):
        return v.dtype == object and any(_is_general(e) for e in v.flat)
    return _is_general(v)


def _general_result(op: str, a: Any, b: Any) -> bool:
    """Whether ``a op b`` is a general expression (pyscipopt keeps polynomials polynomial:
    a sum, a product, a division by a number, a power with a non-negative integer exponent)."""
    if _has_general(a) or _has_general(b):
        return True
    if op == "/":
        return _has_expr(b)
    if op == "**":
        if _has_expr(b):
            return True
        e = np.asarray(b, dtype=float)
        return bool(np.any((e < 0) | (e != np.round(e))))
    return False


def _has_expr(v: Any) -> bool:
    """Whether *v* (a number, an expression or an array of them) holds a SCIP expression."""
    if isinstance(v, np.ndarray):
        return v.dtype == object and any(not isinstance(e, int | float) for e in v.flat)
    return not isinstance(v, int | float | np.generic)


def _power(a: Any, b: Any) -> Any:
    """``a ** b`` for SCIP; with *b* an expression, ``exp(b * log(a))`` (defined for ``a > 0``)."""
    import pyscipopt as ps

    a, b = _plain(a), _plain(b)
    if isinstance(b, int | float):
        return a**b
    if isinstance(a, int | float):
        if a <= 0:
            raise ValueError(
                f"{a} ** (an expression with variables) is defined only for a base > 0"
            )
        return ps.exp(b * math.log(a))
    return ps.exp(b * ps.log(a))


def _plain(e: Any) -> Any:
    """numpy scalars as Python floats (SCIP expressions stay as they are)."""
    return float(e) if isinstance(e, np.generic) else e


def _nonlinear_exprs(plan: Plan, variables: list[Any], n: int, ops: ScipOps) -> list[Any]:
    x = np.empty(len(variables), dtype=object)
    x[:] = variables
    v = evaluate(plan, x, ops)
    if isinstance(v, np.ndarray):
        vals = [_plain(e) for e in v.reshape(-1).tolist()]
        return vals * n if len(vals) == 1 and n != 1 else vals
    return [_plain(v)] * n


def _set_objective(
    form: ScipForm,
    sense: str,
    linear: Any,
    rest: Any | None,
    where: str = "objective",
    *,
    clear: bool = True,
) -> None:
    """Objective ``linear (+ t)``; with *rest*, the epigraph row ``t >= rest`` (``<=`` for max).

    Without *clear*, *linear* adds to the coefficients the variables were created with.
    """
    from pyscipopt import ExprCons

    m = form.model
    obj = linear
    if rest is not None:
        t = m.addVar("_objective", lb=None, ub=None)
        body = rest - t
        m.addCons(ExprCons(body, None, 0.0) if sense == "min" else ExprCons(body, 0.0, None),
                  name=f"_{where}_epigraph")  # fmt: skip
        form.epigraph = t
        obj = obj + t
    m.setObjective(obj, "maximize" if sense == "max" else "minimize", clear=clear)


def _quadratic_objective(
    form: ScipForm,
    sense: str,
    lin: np.ndarray,
    offset: float,
    quad: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Objective ``offset + lin'x + q(x)`` through epigraph rows.

    When a variable of *q* is unbounded and *q* has the right curvature, one
    row ``t_k >= (c_k'x + d_k)^2`` per completed square (see
    :mod:`solvers.scip.quadratic`): SCIP's LP relaxation then stays bounded.
    Otherwise a single row takes *q*: with bounded variables it is faster
    (a 6-asset cardinality portfolio: 0.4-0.8 s against 1.8 s) and tighter
    (each row may use SCIP's feasibility tolerance).
    """
    from pyscipopt import ExprCons

    qi, qj, qcoef = quad
    vars_ = form.variables
    squares = None
    if _any_unbounded(form.model, [vars_[j] for j in np.unique(np.r_[qi, qj]).tolist()]):
        squares = convex_squares(qi, qj, qcoef, lin, sense)  # else one row is faster and tighter
    if squares is None and form.bulk is not None:
        _bulk_epigraph(form, form.bulk, sense, lin, offset, quad)
        return
    if squares is None:
        zeros = np.zeros(qcoef.shape[0], dtype=np.int64)
        (rest,) = triplet_exprs(1, vars_, _EMPTY_I, _EMPTY_I, np.zeros(0), (zeros, qi, qj, qcoef))
        _set_objective(form, sense, _linear_expr(vars_, lin) + offset, rest)
        return
    m = form.model
    obj = _linear_expr(vars_, squares.linear) + (offset + squares.constant)
    sign = -1.0 if sense == "max" else 1.0
    for k, (cols, coefs, shift) in enumerate(squares.terms):
        body = _linear_expr(vars_, coefs, cols) + shift
        t = m.addVar(f"_objective_sq{k}", lb=0.0, ub=None)
        m.addCons(ExprCons(body * body - t, None, 0.0), name=f"_objective_sq{k}")
        obj = obj + sign * t
    m.setObjective(obj, "maximize" if sense == "max" else "minimize")


def _bulk_epigraph(
    form: ScipForm,
    bulk: BulkRows,
    sense: str,
    lin: np.ndarray,
    offset: float,
    quad: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """:func:`_set_objective`'s epigraph row ``q(x) - t <= 0`` (``>= 0`` for max) in one
    SCIP call, each product once (``x_i x_j`` and ``x_j x_i`` summed, zeros dropped)."""
    qi, qj, qcoef = quad
    n = len(form.variables)
    lo_, hi_ = np.minimum(qi, qj), np.maximum(qi, qj)
    pairs = sp.coo_matrix((np.asarray(qcoef, dtype=float), (lo_, hi_)), shape=(n, n)).tocsr()
    pairs.sum_duplicates()
    pairs.eliminate_zeros()
    pairs = pairs.tocoo()
    m = form.model
    t = m.addVar("_objective", lb=None, ub=None)
    ptrs = form.var_ptrs()
    bounds = (-math.inf, 0.0) if sense == "min" else (0.0, math.inf)
    bulk.add_quadratic(
        "_objective_epigraph",
        (np.array([t.ptr()], dtype=np.uintp), np.array([-1.0])),
        (ptrs[pairs.row], ptrs[pairs.col], pairs.data),
        *bounds,
    )
    form.epigraph = t
    obj = _linear_expr(form.variables, lin) + offset + t
    m.setObjective(obj, "maximize" if sense == "max" else "minimize")


def _any_unbounded(m: Any, variables: list[Any]) -> bool:
    """Whether any of *variables* has an infinite bound."""
    return any(
        m.isInfinity(-v.getLbOriginal()) or m.isInfinity(v.getUbOriginal()) for v in variables
    )


def _linear_expr(variables: list[Any], coefs: np.ndarray, cols: np.ndarray | None = None) -> Any:
    """``sum coefs[k] * x[cols[k]]`` (``cols`` defaults to every variable; zeros skipped)."""
    coefs = np.asarray(coefs, dtype=float)
    if cols is None:
        cols = np.flatnonzero(coefs)
        coefs = coefs[cols]
    (e,) = triplet_exprs(1, variables, np.zeros(cols.size, dtype=np.int64), cols, coefs)
    return e


def build_linear(m: Any, lf: LinearForm, *, bulk: bool = True) -> ScipForm:
    """Load a matrix-form model (LP/MILP/QP from MPS, LP files or the compiler) into *m*.

    The quadratic part ``0.5 x'Qx`` of the objective goes into an epigraph row.
    With *bulk* (the default) the rows go to SCIP through its C functions
    where they are usable (:mod:`solvers.scip.capi`); without, through
    pyscipopt's expressions (same constraints, about 3x slower).
    """
    n = lf.num_cols
    columns = lf.columns or [Block("x", 0, n, list(range(n)))]
    integer = np.asarray(lf.integrality, dtype=bool)
    c = np.asarray(lf.c, dtype=float)
    quadratic = lf.Q is not None and lf.Q.nnz > 0
    obj = None if quadratic else c  # a linear objective goes in with the variables
    variables = _add_columns(m, columns, lf.col_lb, lf.col_ub, integer, obj)
    form = ScipForm(m, variables, list(columns), integer, lf.objective_value, linear_form=lf)
    form.bulk = bulk_rows(m) if bulk else None
    a = lf.A.tocsr()
    row_blocks = lf.rows or (
        [Block("r", 0, a.shape[0], list(range(a.shape[0])))] if a.shape[0] else []
    )
    ind = lf.row_indicator  # per row: the binary switching it on, or -1
    for b in row_blocks:
        sl = slice(b.start, b.stop)
        on = None if ind is None else np.asarray(ind)[sl]
        add_linear_rows(form, b.name, b.labels, a[sl], lf.row_lb[sl], lf.row_ub[sl], on)
    if lf.Q is not None and quadratic:
        q = (sp.triu(lf.Q) + sp.tril(lf.Q, -1).T).tocoo()  # x'Qx with each pair once
        quad = (q.row.astype(np.int64), q.col.astype(np.int64), 0.5 * q.data)
        _quadratic_objective(form, lf.sense, c, float(lf.offset), quad)
    else:
        _set_objective(form, lf.sense, float(lf.offset), None, clear=False)
    return form


def _structure_columns(cm: CompiledModel) -> tuple[list[Block], np.ndarray, np.ndarray, np.ndarray]:
    vds = list(cm.ctx.vars.values())
    blocks = [
        Block(v.name, v.offset, v.size, LazyLabels(v.index) if v.index else None) for v in vds
    ]
    if not vds:
        return blocks, np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    lb = np.concatenate([v.lb for v in vds]).astype(float)
    ub = np.concatenate([v.ub for v in vds]).astype(float)
    integer = np.concatenate([np.full(v.size, v.is_integer) for v in vds])
    return blocks, lb, ub, integer


def _located(plan: Plan, variables: list[Any], n: int, ops: ScipOps, where: str) -> list[Any]:
    """:func:`_nonlinear_exprs`, with a value SCIP cannot take reported at *where*."""
    try:
        return _nonlinear_exprs(plan, variables, n, ops)
    except ValueError as e:
        raise ModelError(str(e), where) from e


def _add_family(form: ScipForm, fam: RowFamily, ops: ScipOps) -> None:
    """One constraint family: linear rows in bulk, the others as SCIP expressions."""
    where = f"{fam.where}.expr"
    try:
        p = poly(fam.plan)
    except NonlinearError:
        exprs = _located(fam.plan, form.variables, fam.n, ops, where)
        add_rows(form, fam.name, fam.labels, exprs, fam.lo, fam.hi, fam.indicator, fam.where)
        return
    const = np.broadcast_to(np.asarray(p.const, dtype=float), (fam.n,))
    lo, hi = fam.lo - const, fam.hi - const
    if p.has_quad:
        exprs = _poly_exprs(p, form.variables)
        add_rows(form, fam.name, fam.labels, exprs, lo, hi, fam.indicator, fam.where)
        return
    rows = np.arange(p.n, dtype=np.int64) if p.ident else p.rows
    a = sp.csr_matrix((p.coefs, (rows, p.cols)), shape=(p.n, len(form.variables)))
    add_linear_rows(form, fam.name, fam.labels, a, lo, hi, fam.indicator)


def _relative(excess: np.ndarray, value: np.ndarray) -> float:
    worst = excess / (1.0 + np.abs(value))
    worst = np.where(np.isnan(worst), np.inf, worst)
    return float(worst.max(initial=0.0))


def _violation(cm: CompiledModel, lb: np.ndarray, ub: np.ndarray) -> Callable[[np.ndarray], float]:
    """Largest relative violation of *cm*'s rows and column bounds at a flat point."""

    def violation(x: np.ndarray) -> float:
        worst = _relative(np.maximum(lb - x, x - ub), x)
        with np.errstate(all="ignore"):
            for fam in cm.rows:
                v = np.asarray(evaluate(fam.plan, x, NumpyOps()), dtype=float).reshape(-1)
                v = np.broadcast_to(v, (fam.n,))
                excess = np.maximum(fam.lo - v, v - fam.hi)
                on = fam.indicator
                if on is not None:  # an indicator row binds only where its binary is 1
                    excess = np.where(x[np.maximum(on, 0)] > 0.5, excess, 0.0)
                worst = max(worst, _relative(excess, v))
        return worst

    return violation


def build_structure(m: Any, cm: CompiledModel, *, bulk: bool = True) -> ScipForm:
    """Load a compiled IR model (any class the expression language writes) into *m*.

    Linear row families go in bulk as in :func:`build_linear` (*bulk*).
    """
    blocks, lb, ub, integer = _structure_columns(cm)
    plan = cm.objective.plan
    n = lb.shape[0]
    try:
        p: Poly | None = poly(plan)
    except NonlinearError:
        p = None
    lin = np.zeros(n)
    offset = 0.0
    if p is not None:
        lin = np.bincount(p.cols, weights=p.coefs, minlength=n).astype(float) if n else lin
        offset = float(np.asarray(p.const, dtype=float).reshape(-1)[0]) if np.size(p.const) else 0.0
    linear = p is not None and not p.has_quad
    variables = _add_columns(m, blocks, lb, ub, integer, lin if linear else None)

    def objective_value(x: np.ndarray) -> float:
        v = np.asarray(evaluate(plan, np.asarray(x, dtype=float), NumpyOps()), dtype=float)
        return float(v.reshape(-1)[0])

    form = ScipForm(m, variables, blocks, integer, objective_value)
    form.violation = _violation(cm, lb, ub)
    form.bulk = bulk_rows(m) if bulk else None
    ops = ScipOps(m)
    for fam in cm.rows:
        _add_family(form, fam, ops)
    if p is None:
        (rest,) = _located(plan, variables, 1, ops, cm.objective.where)
        _set_objective(form, cm.objective.sense, 0.0, rest)
    elif p.has_quad:
        _quadratic_objective(form, cm.objective.sense, lin, offset, (p.qi, p.qj, p.qcoef))
    else:
        _set_objective(form, cm.objective.sense, offset, None, clear=False)
    return form
