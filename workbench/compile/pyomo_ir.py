"""Translate a Pyomo model into the IR: expression trees become IR expression text.

Each Pyomo ``Var`` component becomes an IR variable family indexed by a set
of its Pyomo indices (tuples for several dimensions); each active
``ConstraintData`` becomes one IR constraint.  Numbers (parameters, fixed
variables, constant subexpressions) are written as literals; ``Expression``
components are expanded.  Sums are written as balanced trees so that the
IR's nesting limit holds for long sums, and a long expression has its
linear and quadratic terms written as data (a parameter over a set of
labels, :class:`_Compact`) so that it fits the IR's length limit.

Used by :func:`workbench.compile.from_pyomo.from_pyomo` for nonlinear
models and for backends that take no matrix.  Pyomo is imported only inside
the functions here.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import ModelError
from workbench.expr.parser import MAX_LENGTH
from workbench.ir.io import model_from_dict

if TYPE_CHECKING:
    from workbench.compile.from_pyomo import PyomoInput, _Columns

__all__ = ["pyomo_to_ir"]

_RESERVED = frozenset(
    {"abs", "exp", "log", "sqrt", "sin", "cos", "min", "max", "sum", "in", "for", "if"}
    | {"and", "or", "not", "ord", "inf", "infinity"}
)
_LONG = 4000
"""Expressions longer than this (characters) get their linear and quadratic terms as data."""
_UNARY = {"exp": "exp({})", "log": "log({})", "sqrt": "sqrt({})", "sin": "sin({})"}
_UNARY |= {
    "cos": "cos({})",
    "abs": "abs({})",
    "log10": "(log({}) / " + repr(math.log(10.0)) + ")",
    "tan": "(sin({0}) / cos({0}))",
}


class _Names:
    """Unique IR identifiers for Pyomo names (``b[1].x`` -> ``b_1_x``)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, name: str) -> str:
        base = re.sub(r"\W+", "_", name).strip("_") or "v"
        if base[0].isdigit():
            base = "v_" + base
        if base in _RESERVED or base.startswith("__"):
            base = base.strip("_") + "_"
        out, k = base, 1
        while out in self.used:
            k += 1
            out = f"{base}_{k}"
        self.used.add(out)
        return out


def _num(x: float, where: str) -> str:
    f = float(x)
    if not math.isfinite(f):
        raise ModelError(f"the expression holds the number {f}, which the IR cannot take", where)
    text = repr(f)
    return f"({text})" if f < 0 else text


def _member(p: Any) -> str:
    return repr(p) if isinstance(p, str) else str(int(p))


class _Writer:
    """Pyomo expression -> IR text, with variables named by their family and label."""

    def __init__(self, refs: dict[int, str]) -> None:
        self.refs = refs
        self.where = "pyomo model"

    def text(self, e: Any) -> str:
        from pyomo.core.expr.numvalue import is_fixed, value

        if isinstance(e, int | float) and not isinstance(e, bool):
            return _num(e, self.where)
        if not e.is_expression_type() and not e.is_variable_type():
            return _num(value(e), self.where)  # a parameter or a numeric constant
        if e.is_variable_type():
            if e.fixed:
                return _num(value(e), self.where)
            return self.refs[id(e)]
        if e.is_named_expression_type():
            return self.text(e.expr)
        if is_fixed(e):
            return _num(value(e), self.where)
        return self._node(e)

    def _node(self, e: Any) -> str:
        import pyomo.core.expr.numeric_expr as ne

        args = [self.text(a) for a in e.args]
        if isinstance(e, ne.SumExpression):
            return self._balanced(args)
        if isinstance(e, ne.NegationExpression):
            return f"(-{args[0]})"
        if isinstance(e, ne.ProductExpression):
            return f"({args[0]} * {args[1]})"
        if isinstance(e, ne.DivisionExpression):
            return f"({args[0]} / {args[1]})"
        if isinstance(e, ne.PowExpression):
            return f"({args[0]} ** {args[1]})"
        if isinstance(e, ne.UnaryFunctionExpression):
            fmt = _UNARY.get(e.getname())
            if fmt is None:
                raise ModelError(
                    f"the function {e.getname()}() has no IR form; the IR has "
                    "exp, log, sqrt, sin, cos and abs",
                    self.where,
                )
            return fmt.format(args[0])
        for cls, fn in (("MaxExpression", "max"), ("MinExpression", "min")):
            if isinstance(e, getattr(ne, cls, ())):
                return f"{fn}({', '.join(args)})"
        raise ModelError(
            f"a {type(e).__name__} has no IR form (in {e}); rewrite it with "
            "+ - * / **, exp, log, sqrt, sin, cos, abs, min and max",
            self.where,
        )

    @staticmethod
    def _balanced(args: list[str]) -> str:
        if not args:
            return "0"
        while len(args) > 1:
            args = [
                f"({args[k]} + {args[k + 1]})" if k + 1 < len(args) else args[k]
                for k in range(0, len(args), 2)
            ]
        return args[0]


def _ir_labels(keys: list[Any], where: str) -> tuple[list[Any], dict[Any, Any]]:
    """IR members for Pyomo indices, and IR label -> Pyomo index where they differ."""
    tuples = [k if isinstance(k, tuple) else (k,) for k in keys]
    dims = {len(t) for t in tuples}
    if len(dims) != 1:
        raise ModelError("its indices have different lengths; the IR needs one", where)
    columns = list(zip(*tuples)) if tuples else []
    fixed: list[list[Any]] = []
    for col in columns:
        ints = all(isinstance(p, int | np.integer) and not isinstance(p, bool) for p in col)
        fixed.append([int(p) for p in col] if ints else [str(p) for p in col])
    members = [list(row) for row in zip(*fixed)] if fixed else []
    labels = [tuple(m) if len(m) > 1 else m[0] for m in members]
    if len(set(labels)) != len(labels):
        raise ModelError("two of its indices read the same as text; rename them", where)
    back = {lab: k for lab, k in zip(labels, keys) if lab != k}
    return [m if len(m) > 1 else m[0] for m in members], back


def _add_bounds(
    var: dict[str, Any],
    name: str,
    set_name: str | None,
    dim: int,
    members: list[Any],
    arrays: dict[str, np.ndarray],
    params: dict[str, Any],
    sets: dict[str, Any],
    constraints: list[dict[str, Any]],
) -> None:
    """Bounds and start values: a number, a parameter over the family's set, or rows."""
    for side, arr in arrays.items():
        fin = np.isfinite(arr)
        if not fin.any():
            continue
        if set_name is None or (fin.all() and np.all(arr == arr[0])):
            var[side] = float(arr[0])  # a scalar has one entry, and it is finite here
        elif fin.all():
            params[f"{name}_{side}"] = {"index": [set_name], "values": arr.tolist()}
            var[side] = f"{name}_{side}"
        else:  # some entries unbounded: bound rows over the finite ones
            sub = f"{name}_{side}_set"
            sets[sub] = [members[k] for k in np.flatnonzero(fin)]
            params[f"{name}_{side}"] = {"index": [sub], "values": arr[fin].tolist()}
            idx = ", ".join(f"i_{d}" for d in range(dim))
            tgt = f"({idx})" if dim > 1 else idx
            op = ">=" if side == "lb" else "<="
            constraints.append(
                {
                    "name": sub,
                    "for": f"{tgt} in {sub}",
                    "expr": f"{name}[{idx}] {op} {name}_{side}[{idx}]",
                }
            )


def _family(
    name: str,
    pname: str,
    group: list[tuple[Any, Any]],
    scalar: bool,
    out: PyomoInput,
    refs: dict[int, str],
    names: _Names,
    slots: dict[int, tuple[str, list[Any]]],
) -> tuple[dict[str, Any], str | None, list[Any], int]:
    """One IR variable family: its dict, index set name, members and dimension; refs filled."""
    out.var_names[name] = pname
    var: dict[str, Any] = {}
    if scalar:
        refs[id(group[0][1])] = name
        slots[id(group[0][1])] = (name, [])
        return var, None, [], 1
    keys = [k for k, _ in group]
    members, back = _ir_labels(keys, f"pyomo model: variable '{pname}'")
    if back:
        out.var_labels[name] = back
    set_name = names.make(f"I_{name}")
    var["index"] = [set_name]
    for m, (_, v) in zip(members, group):
        parts = m if isinstance(m, list) else [m]
        refs[id(v)] = f"{name}[{', '.join(_member(p) for p in parts)}]"
        slots[id(v)] = (name, parts)
    return var, set_name, members, len(keys[0]) if isinstance(keys[0], tuple) else 1


def pyomo_to_ir(model: Any, objectives: list[Any], cols: _Columns) -> PyomoInput:
    """Build the IR model for a checked Pyomo model (see :func:`from_pyomo`).

    Raises
    ------
    ModelError
        For an expression or index the IR cannot hold, naming the Pyomo component.
    """
    from pyomo.core.expr.visitor import identify_variables

    from workbench.compile.from_pyomo import PyomoInput, _column_bounds, _constraints

    names = _Names()
    refs: dict[int, str] = {}
    slots: dict[int, tuple[str, list[Any]]] = {}
    writer = _Writer(refs)
    # constraints first: they may use variables of inactive blocks (added to cols)
    cons_raw: list[tuple[Any, Any]] = []
    for _comp, rows in _constraints(model):
        cons_raw += [(con, con.body) for con in rows]
    for _con, body in cons_raw:
        for v in identify_variables(body, include_fixed=False):
            cols.add(v)
    for obj in objectives:
        for v in identify_variables(obj.expr, include_fixed=False):
            cols.add(v)

    out = PyomoInput(form=None)  # type: ignore[arg-type]
    sets: dict[str, Any] = {}
    params: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    bound_rows: list[dict[str, Any]] = []
    for pname, whole in cols.groups.items():
        lb_all, ub_all, int_all = _column_bounds([v for _, v in whole])
        kinds = [bool(b) for b in np.unique(int_all)]  # a family may mix: split it in two
        for integer in kinds:
            keep = np.flatnonzero(int_all == integer)
            group = [whole[k] for k in keep]
            lb, ub = lb_all[keep], ub_all[keep]
            name = names.make(pname if len(kinds) == 1 or not integer else f"{pname}_int")
            var, set_name, members, dim = _family(
                name, pname, group, cols.scalar[pname], out, refs, names, slots
            )
            binary = integer and bool(np.all(lb >= 0) and np.all(ub <= 1))
            var["domain"] = "binary" if binary else "integer" if integer else "continuous"
            if set_name is not None:
                sets[set_name] = members
            datas = [v for _, v in group]
            arrays = {"lb": lb, "ub": ub}
            if any(v.value is not None for v in datas):
                start = np.array([0.0 if v.value is None else float(v.value) for v in datas])
                arrays["init"] = np.clip(start, lb, ub)
            _add_bounds(var, name, set_name, dim, members, arrays, params, sets, bound_rows)
            variables[name] = var

    compact = _Compact(writer, slots, names, sets, params)
    constraints: list[dict[str, Any]] = []
    for con, body in cons_raw:
        lo, hi = con.lb, con.ub
        if lo is None and hi is None:
            continue
        writer.where = f"pyomo model: constraint '{con.name}'"
        text = compact.text(body)
        if lo is not None and hi is not None and lo == hi:
            expr = f"{text} == {_num(lo, writer.where)}"
        elif lo is not None and hi is not None:
            expr = f"{_num(lo, writer.where)} <= {text} <= {_num(hi, writer.where)}"
        elif hi is not None:
            expr = f"{text} <= {_num(hi, writer.where)}"
        else:
            expr = f"{text} >= {_num(lo, writer.where)}"
        _check_length(expr, writer.where)
        cname = names.make(con.name)
        index = con.index() if con.parent_component().is_indexed() else None
        out.con_rows[cname] = (con.parent_component().name, index)
        constraints.append({"name": cname, "expr": expr})
    sense, obj_text = "min", "0"
    if objectives:
        writer.where = f"pyomo model: objective '{objectives[0].name}'"
        sense = "min" if objectives[0].is_minimizing() else "max"
        obj_text = compact.text(objectives[0].expr)
        _check_length(obj_text, writer.where)
    data = {
        "name": re.sub(r"\W+", "_", str(model.name or "model")),
        "sets": sets,
        "params": params,
        "variables": variables,
        "objective": {"sense": sense, "expr": obj_text},
        "constraints": constraints + bound_rows,
    }
    out.form = model_from_dict(data)
    return out


class _Compact:
    """Long expressions with their linear and quadratic terms as data.

    Each group of terms over the same variable families becomes a parameter
    over a set of labels, ``sum(a[k] * x[k] for k in T)``; what is left
    (the nonlinear part) is written out.
    """

    def __init__(
        self,
        writer: _Writer,
        slots: dict[int, tuple[str, list[Any]]],
        names: _Names,
        sets: dict[str, Any],
        params: dict[str, Any],
    ) -> None:
        self.writer, self.slots, self.names = writer, slots, names
        self.sets, self.params = sets, params
        self.dims = {fam: len(parts) for fam, parts in slots.values()}

    def text(self, e: Any) -> str:
        from pyomo.repn import generate_standard_repn

        plain = self.writer.text(e)
        if len(plain) <= _LONG:
            return plain
        repn = generate_standard_repn(e, compute_values=True, quadratic=True)
        groups: dict[tuple[str, ...], dict[tuple[Any, ...], float]] = {}
        terms = [((v,), a) for v, a in zip(repn.linear_vars, repn.linear_coefs)]
        terms += list(zip(repn.quadratic_vars or (), repn.quadratic_coefs or ()))
        for vs, a in terms:
            fams = tuple(self.slots[id(v)][0] for v in vs)
            label = tuple(p for v in vs for p in self.slots[id(v)][1])
            group = groups.setdefault(fams, {})
            group[label] = group.get(label, 0.0) + float(a)
        parts = [self._sum(fams, group) for fams, group in groups.items()]
        if repn.constant:
            parts.append(_num(repn.constant, self.writer.where))
        if repn.nonlinear_expr is not None:
            parts.append(self.writer.text(repn.nonlinear_expr))
        return " + ".join(parts) or "0"

    def _sum(self, fams: tuple[str, ...], group: dict[tuple[Any, ...], float]) -> str:
        where = self.writer.where
        dims = [self.dims[f] for f in fams]
        if not any(dims):  # scalar variables only: one term
            return f"({_num(next(iter(group.values())), where)} * {' * '.join(fams)})"
        tset = self.names.make("T_" + "_".join(fams))
        pname = self.names.make("a_" + "_".join(fams))
        labels = list(group)
        self.sets[tset] = [list(lab) if len(lab) > 1 else lab[0] for lab in labels]
        self.params[pname] = {"index": [tset], "values": [group[lab] for lab in labels]}
        ks = [f"k{d}" for d in range(sum(dims))]
        factors, at = [], 0
        for f, d in zip(fams, dims):
            factors.append(f"{f}[{', '.join(ks[at : at + d])}]" if d else f)
            at += d
        target = f"({', '.join(ks)})" if len(ks) > 1 else ks[0]
        return f"sum({pname}[{', '.join(ks)}] * {' * '.join(factors)} for {target} in {tset})"


def _check_length(text: str, where: str) -> None:
    if len(text) > MAX_LENGTH:
        raise ModelError(
            f"its nonlinear part has {len(text)} characters of IR text, more than the IR's "
            f"{MAX_LENGTH}; split it with auxiliary variables and constraints (or solve a "
            "linear or quadratic model through the matrix form, with highs or scip)",
            where,
        )
