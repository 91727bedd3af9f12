"""Compile-time symbol tables: sets, parameters and variables as numpy data.

Sets and parameters are materialised lazily and in dependency order, so a
derived set may use a parameter declared after it; a cycle is a located
:class:`~workbench.errors.ModelError`.
"""

from __future__ import annotations

import difflib
import keyword
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.compile.builder import Builder
from workbench.compile.sets import Interner, SetData
from workbench.errors import ModelError
from workbench.expr.parser import parse_expr, parse_for, parse_set_expr
from workbench.ir.model import Model

__all__ = ["Context", "ParamData", "VarData"]

RESERVED = frozenset(keyword.kwlist)
"""Names no declaration may take: Python's keywords (they cannot appear in expressions).
Function names are free: ``exp[i]`` or a bare ``exp`` is the declared symbol, ``exp(...)``
the function."""
_INF_WORDS = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})


@dataclass
class ParamData:
    """A parameter as a flat float array over the product of its index sets."""

    name: str
    index: tuple[SetData, ...]
    values: np.ndarray

    @property
    def is_scalar(self) -> bool:
        """True for an unindexed parameter."""
        return not self.index


@dataclass
class VarData:
    """A variable family's slice of the flat variable vector."""

    name: str
    index: tuple[SetData, ...]
    offset: int
    size: int
    domain: str
    lb: np.ndarray
    ub: np.ndarray
    init: np.ndarray | None = None

    @property
    def is_integer(self) -> bool:
        """True for integer and binary variables."""
        return self.domain != "continuous"


class Context:
    """Everything the expression builder needs to resolve names.

    Parameters
    ----------
    model
        The model to compile; it is never modified.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self.interner = Interner()
        self.sets: dict[str, SetData] = {}
        self.params: dict[str, ParamData] = {}
        self.vars: dict[str, VarData] = {}
        self.num_vars = 0
        self.warnings: list[str] = []
        self._building: list[str] = []
        self.kind_of: dict[str, str] = {}
        for section, names in (
            ("sets", model.sets),
            ("params", model.params),
            ("variables", model.variables),
        ):
            for name in names:
                where = f"{section}.{name}"
                if not name.isidentifier() or name.startswith("__"):
                    raise ModelError(
                        f"'{name}' is not a valid name (use letters, digits and _)", where
                    )
                if name in RESERVED:
                    raise ModelError(
                        f"'{name}' is reserved: Python's keywords (and, or, not, in, for, if, "
                        "lambda, None, True, False, ...) cannot be names; choose another name",
                        where,
                    )
                if name in self.kind_of:
                    raise ModelError(
                        f"'{name}' is already declared as a {self.kind_of[name]}; names must be unique",
                        where,
                    )
                self.kind_of[name] = {
                    "sets": "set",
                    "params": "parameter",
                    "variables": "variable",
                }[section]

    # ------------------------------------------------------------------ names
    def unknown(self, name: str, where: str | None, bound: list[str] | None = None) -> ModelError:
        """A located 'unknown symbol' error with a did-you-mean hint."""
        pool = list(self.kind_of) + list(bound or [])
        close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return ModelError(f"unknown symbol '{name}'{hint}", where)

    def warn(self, msg: str) -> None:
        """Record a warning once."""
        if msg not in self.warnings:
            self.warnings.append(msg)

    def builder(self, where: str | None) -> Builder:
        """A plan builder reporting errors at *where*."""
        return Builder(self, where)

    # ------------------------------------------------------------------- sets
    def get_set(self, name: str, where: str | None) -> SetData:
        """The compiled set *name* (built on first use)."""
        if name in self.sets:
            return self.sets[name]
        if name not in self.model.sets:
            if name in self.kind_of:
                raise ModelError(f"'{name}' is a {self.kind_of[name]}, not a set", where)
            raise self.unknown(name, where)
        self._enter(f"set {name}", f"sets.{name}")
        try:
            data = self._build_set(name)
        finally:
            self._building.pop()
        self.sets[name] = data
        return data

    def _enter(self, what: str, where: str) -> None:
        if what in self._building:
            chain = " -> ".join([*self._building[self._building.index(what) :], what])
            raise ModelError(f"circular definition: {chain}", where)
        self._building.append(what)

    def _atom_kind(self, v: Any, where: str) -> str:
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise ModelError(
                f"set members must be text or integers, got {v!r}"
                + (" (quote true/false in YAML)" if isinstance(v, bool) else ""),
                where,
            )
        return "int" if isinstance(v, int) else "str"

    def _build_set(self, name: str) -> SetData:
        sd = self.model.sets[name]
        where = f"sets.{name}"
        if sd.range is not None:
            first, last = sd.range[0], sd.range[1]
            step = sd.range[2] if len(sd.range) == 3 else 1
            vals = np.arange(first, last + (1 if step > 0 else -1), step, dtype=np.int64)
            start = first if step == 1 else None
            return SetData(name, ("int",), (vals,), self.interner, range_start=start)
        if sd.members is not None:
            return self._explicit_set(name, sd.members, where)
        assert sd.expr is not None
        return self._derived_set(name, sd.expr, f"{where}.expr")

    def _explicit_set(self, name: str, members: list[Any], where: str) -> SetData:
        if not members:
            self.warn(f"{where}: the set is empty")
            return SetData(name, ("str",), (np.zeros(0, dtype=np.int64),), self.interner)
        first = members[0]
        dim = len(first) if isinstance(first, list | tuple) else 1
        if dim == 0:
            raise ModelError("a tuple member must not be empty", f"{where}[0]")
        rows: list[tuple[Any, ...]] = []
        for k, m in enumerate(members):
            tup = tuple(m) if isinstance(m, list | tuple) else (m,)
            if len(tup) != dim:
                raise ModelError(
                    f"member {m!r} has {len(tup)} components but the first has {dim}",
                    f"{where}[{k}]",
                )
            rows.append(tup)
        kinds = tuple(self._atom_kind(rows[0][c], f"{where}[0]") for c in range(dim))
        cols = []
        for c in range(dim):
            vals = np.empty(len(rows), dtype=np.int64)
            for k, r in enumerate(rows):
                if self._atom_kind(r[c], f"{where}[{k}]") != kinds[c]:
                    raise ModelError(
                        f"member {members[k]!r} mixes text and integers in component {c + 1}; "
                        "use one kind per component",
                        f"{where}[{k}]",
                    )
                vals[k] = self.interner.code(r[c]) if kinds[c] == "str" else r[c]
            cols.append(vals)
        data = SetData(name, kinds, tuple(cols), self.interner)
        pos = data.positions(data.cols)
        dup = np.nonzero(pos != np.arange(data.size))[0]
        if dup.size:
            raise ModelError(
                f"duplicate member {members[int(dup[0])]!r}", f"{where}[{int(dup[0])}]"
            )
        if dim == 1 and kinds[0] == "int" and data.size:
            v = cols[0]
            if v[-1] - v[0] == data.size - 1 and np.all(np.diff(v) == 1):
                data.range_start = int(v[0])
        return data

    def _derived_set(self, name: str, text: str, where: str) -> SetData:
        item, gens = parse_set_expr(text, where)
        b = self.builder(where)
        frame, _ = b.expand_all(b.root(), gens)
        from workbench.expr.nodes import Tup

        items = item.items if isinstance(item, Tup) else (item,)
        cols = [b.member(it, frame) for it in items]
        origins = tuple(self.member_origin(c.src, c.comp) for c in cols)
        kinds = tuple(c.kind for c in cols)
        arrays = tuple(c.values for c in cols)
        tmp = SetData(name, kinds, arrays, self.interner)
        if frame.n:
            # keep the first occurrence of each member, in generation order
            pos = tmp.positions(arrays)
            keep = np.sort(np.unique(pos))
            if keep.size != frame.n:
                arrays = tuple(a[keep] for a in arrays)
        else:
            self.warn(f"{where}: the derived set is empty")
        return SetData(name, kinds, arrays, self.interner, origins=origins)

    def member_origin(self, src: str | None, comp: int) -> str | None:
        """The one-dimensional set whose order a member column follows (``None``: no order).

        A member bound by ``for i in S`` follows ``S``; a component of a
        derived tuple set follows the set its generator drew it from (``(i, j)
        for i in S for j in T`` gives ``S`` and ``T``); components of an
        explicit tuple set have no order of their own.
        """
        if src is None:
            return None
        s = self.sets.get(src)
        if s is None:
            return None
        if s.dim == 1:
            return s.name
        return s.origins[comp] if s.origins is not None else None

    # ------------------------------------------------------------- parameters
    def get_param(self, name: str, where: str | None) -> ParamData:
        """The compiled parameter *name* (built on first use)."""
        if name in self.params:
            return self.params[name]
        if name not in self.model.params:
            raise self.unknown(name, where)
        self._enter(f"parameter {name}", f"params.{name}")
        try:
            data = self._build_param(name)
        finally:
            self._building.pop()
        self.params[name] = data
        return data

    def index_sets(self, names: list[str], where: str) -> tuple[SetData, ...]:
        """Resolve an ``index:`` list."""
        return tuple(self.get_set(s, f"{where}.index[{k}]") for k, s in enumerate(names))

    def _build_param(self, name: str) -> ParamData:
        p = self.model.params[name]
        where = f"params.{name}"
        index = self.index_sets(p.index, where)
        size = int(np.prod([s.size for s in index], dtype=np.int64)) if index else 1
        given = [k for k in ("values", "rows", "expr") if getattr(p, k) is not None]
        if len(given) != 1:
            raise ModelError(
                "give exactly one of 'values', 'rows' or 'expr'"
                + (f"; got {', '.join(given)}" if given else ""),
                where,
            )
        fill = np.nan if p.default is None else float(p.default)
        if p.default is not None and not math.isfinite(p.default):
            raise ModelError("default must be a finite number", f"{where}.default")
        arr = np.full(size, fill)
        if p.expr is not None:
            self._param_from_expr(name, p.expr, p.for_, index, arr, where)
        elif p.rows is not None:
            self._param_from_rows(name, p.rows, index, arr, f"{where}.rows")
        else:
            self._param_from_values(name, p.values, index, arr, f"{where}.values")
        bad = np.nonzero(~np.isfinite(arr))[0]
        if bad.size:
            k = int(bad[0])
            lab = self._flat_label(index, k)
            if np.isnan(arr[k]) and p.expr is None:
                raise ModelError(f"no value for {name}{lab} (give it, or set 'default:')", where)
            raise ModelError(f"{name}{lab} is not a finite number ({arr[k]})", where)
        return ParamData(name, index, arr)

    def _flat_label(self, index: tuple[SetData, ...], k: int) -> str:
        if not index:
            return ""
        parts: list[str] = []
        for s in reversed(index):
            k, r = divmod(k, s.size)
            lab = s.label(r)
            parts[:0] = [str(x) for x in (lab if isinstance(lab, tuple) else (lab,))]
        return "[" + ", ".join(parts) + "]"

    def _number(self, v: Any, where: str, finite: bool = True) -> float:
        """*v* as a float; with ``finite=False`` (bounds) also +-inf and ``"inf"``."""
        if not finite and isinstance(v, str) and v.strip().lower() in _INF_WORDS:
            return -math.inf if v.strip().startswith("-") else math.inf
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ModelError(f"expected a number, got {v!r}", where)
        f = float(v)
        if math.isnan(f) or (finite and not math.isfinite(f)):
            raise ModelError(f"not a finite number ({v})", where)
        return f

    def _param_from_values(
        self,
        name: str,
        values: Any,
        index: tuple[SetData, ...],
        arr: np.ndarray,
        where: str,
        finite: bool = True,
    ) -> None:
        """Fill *arr* from a number, nested lists, a mapping or an array (``values:`` data).

        With ``finite=False`` (variable bounds) entries may be infinite; a
        mapping sets only the entries it names.
        """
        scalar = isinstance(values, int | float) and not isinstance(values, bool)
        if not index or scalar or (not finite and isinstance(values, str)):
            arr[:] = self._number(values, where, finite)
            return
        sizes = [s.size for s in index]
        if isinstance(values, np.ndarray):
            if values.shape != tuple(sizes) or values.dtype.kind not in "iuf":
                raise ModelError(
                    f"expected a numeric array of shape {tuple(sizes)} "
                    f"(sizes of {', '.join(s.name for s in index)}), got {values.dtype} {values.shape}",
                    where,
                )
            flat = values.astype(float, copy=False).ravel()
            bad = np.nonzero(~np.isfinite(flat))[0]
            if bad.size:
                raise ModelError(
                    f"not a finite number ({flat[int(bad[0])]}) at flat position {int(bad[0])}",
                    where,
                )
            arr[:] = flat
            return
        if isinstance(values, list):
            if self._fill_fast(values, sizes, arr, finite):
                return
            self._fill_nested(values, index, 0, arr, 0, sizes, where, finite)
            return
        if isinstance(values, dict):
            entries: list[tuple[tuple[Any, ...], Any, str]] = []
            total_dim = sum(s.dim for s in index)
            self._flatten_dict(values, total_dim, (), entries, where)
            self._assign_entries(name, entries, index, arr, finite)
            return
        raise ModelError(
            f"values must be a number, a list (in set order) or a dict keyed by member; got {type(values).__name__}",
            where,
        )

    @staticmethod
    def _fill_fast(
        values: list[Any], sizes: list[int], arr: np.ndarray, finite: bool = True
    ) -> bool:
        """Whole nested list at once when it is regular, numeric and has no booleans."""
        try:
            vals = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            return False
        ok = np.isfinite(vals) if finite else ~np.isnan(vals)
        if vals.shape != tuple(sizes) or not np.all(ok):
            return False
        rows: list[Any] = [values]
        for _ in range(len(sizes) - 1):
            rows = [r for block in rows for r in block]
        if any(bool in set(map(type, r)) for r in rows):
            return False
        arr[:] = vals.ravel()
        return True

    def _fill_nested(
        self,
        v: Any,
        index: tuple[SetData, ...],
        level: int,
        arr: np.ndarray,
        base: int,
        sizes: list[int],
        where: str,
        finite: bool = True,
    ) -> None:
        s = index[level]
        if not isinstance(v, list):
            raise ModelError(
                f"expected a list of {s.size} entries (one per member of {s.name}), got {v!r}",
                where,
            )
        if len(v) != s.size:
            raise ModelError(
                f"{len(v)} entries for the {s.size} members of {s.name} "
                "(give one per member, in set order)",
                where,
            )
        stride = int(np.prod(sizes[level + 1 :], dtype=np.int64)) if level + 1 < len(sizes) else 1
        if level == len(index) - 1:
            try:
                vals = np.asarray(v, dtype=float)
            except (TypeError, ValueError):
                vals = None
            if vals is None or vals.ndim != 1 or any(isinstance(x, bool) for x in v):
                for k, x in enumerate(v):
                    self._number(x, f"{where}[{k}]", finite)
                raise ModelError("expected numbers", where)
            bad = np.nonzero(~np.isfinite(vals) if finite else np.isnan(vals))[0]
            if bad.size:
                raise ModelError(
                    f"not a finite number ({v[int(bad[0])]})", f"{where}[{int(bad[0])}]"
                )
            arr[base : base + s.size] = vals
            return
        for k, sub in enumerate(v):
            self._fill_nested(
                sub, index, level + 1, arr, base + k * stride, sizes, f"{where}[{k}]", finite
            )

    def _flatten_dict(
        self,
        v: Any,
        depth: int,
        prefix: tuple[Any, ...],
        out: list[tuple[tuple[Any, ...], Any, str]],
        where: str,
    ) -> None:
        if len(prefix) >= depth:
            out.append((prefix, v, where))
            return
        if not isinstance(v, dict):
            raise ModelError(
                f"expected a mapping keyed by member (depth {depth}), got {v!r}", where
            )
        for key, sub in v.items():
            parts = tuple(key) if isinstance(key, tuple | list) else (key,)
            if isinstance(key, str) and "," in key and len(prefix) + 1 < depth:
                parts = tuple(p.strip() for p in key.split(","))
            self._flatten_dict(sub, depth, prefix + parts, out, f"{where}.{key}")

    def atom_code(self, s: SetData, comp: int, atom: Any, where: str) -> int:
        """The column value for *atom* in component *comp* of set *s* (``-1`` if impossible)."""
        if s.kinds[comp] == "str":
            return self.interner.lookup(str(atom))
        if isinstance(atom, bool):
            return -(2**62)
        if isinstance(atom, int):
            return atom
        if isinstance(atom, str) and atom.strip().lstrip("-").isdigit():
            return int(atom)
        if isinstance(atom, float) and atom.is_integer():
            return int(atom)
        return -(2**62)

    def _assign_entries(
        self,
        name: str,
        entries: list[tuple[tuple[Any, ...], Any, str]],
        index: tuple[SetData, ...],
        arr: np.ndarray,
        finite: bool = True,
    ) -> None:
        for key, val, where in entries:
            total_dim = sum(s.dim for s in index)
            if len(key) != total_dim:
                raise ModelError(f"key {key!r} needs {total_dim} parts", where)
            flat, k = 0, 0
            for s in index:
                codes = [self.atom_code(s, c, key[k + c], where) for c in range(s.dim)]
                pos = int(s.positions([np.array([c], dtype=np.int64) for c in codes])[0])
                if pos < 0:
                    member = key[k] if s.dim == 1 else tuple(key[k : k + s.dim])
                    raise ModelError(f"{member!r} is not a member of {s.name}", where)
                flat = flat * s.size + pos
                k += s.dim
            arr[flat] = self._number(val, where, finite)

    def _param_from_rows(
        self,
        name: str,
        rows: list[list[Any]],
        index: tuple[SetData, ...],
        arr: np.ndarray,
        where: str,
    ) -> None:
        total_dim = sum(s.dim for s in index)
        entries = []
        for k, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != total_dim + 1:
                raise ModelError(
                    f"each row is [member, ..., value] with {total_dim + 1} entries, got {row!r}",
                    f"{where}[{k}]",
                )
            entries.append((tuple(row[:-1]), row[-1], f"{where}[{k}]"))
        self._assign_entries(name, entries, index, arr)

    def _param_from_expr(
        self,
        name: str,
        text: str,
        for_: str | None,
        index: tuple[SetData, ...],
        arr: np.ndarray,
        where: str,
    ) -> None:
        from workbench.compile.plan import PConst
        from workbench.expr.nodes import Name

        b = self.builder(f"{where}.expr")
        node = parse_expr(text, f"{where}.expr")
        if not index:
            if for_:
                raise ModelError("a scalar parameter takes no 'for'", f"{where}.for")
            plan = b.value(node, b.root())
            if not isinstance(plan, PConst):
                raise ModelError(
                    "a parameter must be defined from data only, not variables", f"{where}.expr"
                )
            arr[0] = plan.array()[0]
            return
        if not for_:
            raise ModelError(
                f"an indexed parameter defined by an expression needs 'for', e.g. for: \"i in {index[0].name}\"",
                where,
            )
        gens = parse_for(for_, f"{where}.for")
        bf = self.builder(f"{where}.for")
        frame, _ = bf.expand_all(bf.root(), gens)
        targets = [Name(t) for g in gens for t in g.targets]
        flat = bf.lookup(name, index, tuple(targets), frame)
        plan = b.value(node, frame)
        if not isinstance(plan, PConst):
            raise ModelError(
                "a parameter must be defined from data only, not variables", f"{where}.expr"
            )
        arr[flat] = plan.array()

    # -------------------------------------------------------------- variables
    def build_variables(self) -> None:
        """Lay out every variable family in declaration order and evaluate bounds."""
        if self.vars:
            return
        offset = 0
        for name, v in self.model.variables.items():
            where = f"variables.{name}"
            index = self.index_sets(v.index, where)
            size = int(np.prod([s.size for s in index], dtype=np.int64)) if index else 1
            if size == 0:
                self.warn(f"{where}: indexed by an empty set, so it has no entries")
            data = VarData(
                name,
                index,
                offset,
                size,
                v.domain,
                np.full(size, -np.inf),
                np.full(size, np.inf),
            )
            self.vars[name] = data
            offset += size
        self.num_vars = offset
        for name, v in self.model.variables.items():
            data = self.vars[name]
            where = f"variables.{name}"
            gens = parse_for(v.for_, f"{where}.for") if v.for_ else None
            for attr in ("lb", "ub", "init"):
                spec = getattr(v, attr)
                if spec is None:
                    continue
                target = np.full(data.size, np.nan) if attr == "init" else getattr(data, attr)
                self._bound(data, spec, gens, target, f"{where}.{attr}", attr == "init")
                if attr == "init":
                    data.init = target
            if data.domain == "binary":
                data.lb = np.maximum(data.lb, 0.0)
                data.ub = np.minimum(data.ub, 1.0)
            if data.domain != "continuous":
                with np.errstate(invalid="ignore"):
                    data.lb = np.ceil(data.lb - 1e-9)
                    data.ub = np.floor(data.ub + 1e-9)

    def _bound(
        self, data: VarData, spec: Any, gens: Any, target: np.ndarray, where: str, finite: bool
    ) -> None:
        """Fill *target* from ``lb``/``ub``/``init`` data: parameter-value forms or an expression.

        *finite* is true for start values, which must be finite numbers.
        """
        from workbench.compile.plan import PConst
        from workbench.expr.nodes import Name

        if isinstance(spec, list | dict) and not data.index:
            raise ModelError(
                f"'{data.name}' is a scalar variable: give one number or an expression, "
                f"not a {'list' if isinstance(spec, list) else 'mapping'}",
                where,
            )
        if not isinstance(spec, str) or spec.strip().lower() in _INF_WORDS:
            self._param_from_values(data.name, spec, data.index, target, where, finite)
            return
        node = parse_expr(spec, where)
        b = self.builder(where)
        if gens is None:
            if isinstance(node, Name) and node.id in self.model.params:
                p = self.get_param(node.id, where)
                if [s.name for s in p.index] == [s.name for s in data.index]:
                    target[:] = p.values
                    return
                if p.index:
                    raise ModelError(
                        f"'{node.id}' is indexed by ({', '.join(s.name for s in p.index)}) but "
                        f"'{data.name}' by ({', '.join(s.name for s in data.index)}); "
                        "add 'for' to the variable, e.g. for: \"i in I\"",
                        where,
                    )
            plan = b.value(node, b.root())
            if not isinstance(plan, PConst):
                raise ModelError("a bound must be data, not a variable", where)
            target[:] = plan.array()[0]
            return
        frame, _ = self.builder(where.rsplit(".", 1)[0] + ".for").expand_all(b.root(), gens)
        targets = tuple(Name(t) for g in gens for t in g.targets)
        flat = b.lookup(data.name, data.index, targets, frame)
        plan = b.value(node, frame)
        if not isinstance(plan, PConst):
            raise ModelError("a bound must be data, not a variable", where)
        vals = plan.array()
        if np.isnan(vals).any():
            raise ModelError("a bound evaluates to NaN", where)
        target[flat] = vals
