"""``TorchForm``: objective and constraints as differentiable torch functions of one flat tensor.

Constraint convention: ``c_eq(x) == 0`` and ``c_ineq(x) <= 0``.  Works on
any device; ``device="auto"`` picks CUDA when present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.compile.linear_form import Block
from workbench.compile.numeric import Ops, evaluate
from workbench.compile.plan import PBin, PConst, PFunc, Plan, PNeg, PReduce, PVar, PVarMinMax
from workbench.compile.sets import LazyLabels
from workbench.compile.structure import CompiledModel, ObjectivePlan, RowFamily, compile_structure
from workbench.devices import resolve_device
from workbench.ir.model import Model

__all__ = ["RowSet", "TorchForm", "TorchOps", "compile_torch"]


class TorchOps(Ops):
    """Torch tensor operations; index arrays are moved to the device once and cached."""

    def __init__(self, device: str, dtype: Any) -> None:
        import torch

        self.torch = torch
        self.device = device
        self.dtype = dtype
        self._cache: dict[int, Any] = {}
        self._keep: list[Any] = []

    def _tensor(self, arr: np.ndarray, long: bool) -> Any:
        key = id(arr)
        t = self._cache.get(key)
        if t is None:
            t = self.torch.as_tensor(
                arr, dtype=self.torch.long if long else self.dtype, device=self.device
            )
            self._cache[key] = t
            self._keep.append(arr)  # keep ids stable
        return t

    def const(self, value: np.ndarray | float, n: int) -> Any:
        """Data as a tensor (scalars stay Python floats and broadcast)."""
        if isinstance(value, np.ndarray):
            return self._tensor(value, long=False)
        return float(value)

    def gather(self, x: Any, idx: np.ndarray) -> Any:
        """``x[idx]`` on the device."""
        return x[self._tensor(idx, long=True)]

    def func(self, name: str, a: Any) -> Any:
        """Elementwise function."""
        return getattr(self.torch, name)(a)

    def minmax(self, name: str, args: list[Any]) -> Any:
        """Elementwise min/max."""
        fn = self.torch.minimum if name == "min" else self.torch.maximum
        out = args[0]
        for a in args[1:]:
            out = fn(self._as_t(out), self._as_t(a))
        return out

    def _as_t(self, a: Any) -> Any:
        if isinstance(a, float | int):
            return self.torch.tensor(float(a), dtype=self.dtype, device=self.device)
        return a

    def reduce(self, name: str, child: Any, parent: np.ndarray, n: int) -> Any:
        """Segment reduction with ``index_add``/``scatter_reduce``."""
        p = self._tensor(parent, long=True)
        c = self._as_t(child)
        if c.dim() == 0:
            c = c.expand(p.shape[0])
        out = self.torch.zeros(n, dtype=c.dtype, device=self.device)
        if name == "sum":
            return out.index_add(0, p, c)
        return out.scatter_reduce(
            0, p, c, reduce="amin" if name == "min" else "amax", include_self=False
        )


@dataclass
class RowSet:
    """Families turned into ``c_eq(x) == 0`` and ``c_ineq(x) <= 0`` pieces."""

    families: list[RowFamily]

    def __post_init__(self) -> None:
        self.eq: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.hi: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.lo: list[tuple[int, np.ndarray, np.ndarray]] = []
        for k, f in enumerate(self.families):
            eq = np.isfinite(f.lo) & (f.lo == f.hi)
            hi = np.isfinite(f.hi) & ~eq
            lo = np.isfinite(f.lo) & ~eq
            for sel, out, bound in ((eq, self.eq, f.lo), (hi, self.hi, f.hi), (lo, self.lo, f.lo)):
                idx = np.nonzero(sel)[0]
                if idx.size:
                    out.append((k, idx, bound[idx].astype(float)))

    @property
    def num_eq(self) -> int:
        """Number of equality rows."""
        return sum(i.size for _, i, _ in self.eq)

    @property
    def num_ineq(self) -> int:
        """Number of inequality rows (a range row counts twice)."""
        return sum(i.size for _, i, _ in self.hi) + sum(i.size for _, i, _ in self.lo)


class TorchForm:
    """Differentiable objective and constraints over one flat tensor.

    Parameters
    ----------
    structure
        The compiled model.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    dtype
        A torch dtype; float64 by default.

    Attributes
    ----------
    n
        Length of the flat variable vector.
    lb, ub
        Variable bounds as tensors (``-inf``/``inf`` where absent).
    integer
        Boolean tensor, true for integer variables.
    x0
        A start point: ``init`` where given, else 0 clipped into the bounds.
    sense
        The objective's sense as written.
    """

    def __init__(self, structure: CompiledModel, device: str = "auto", dtype: Any = None) -> None:
        import torch

        self.torch = torch
        self.structure = structure
        self.device = resolve_device(device)
        self.dtype = dtype or torch.float64
        self.ops = TorchOps(self.device, self.dtype)
        ctx = structure.ctx
        self.n = ctx.num_vars
        cat = (lambda xs: np.concatenate(xs)) if ctx.vars else (lambda xs: np.zeros(0))
        lb = cat([v.lb for v in ctx.vars.values()])
        ub = cat([v.ub for v in ctx.vars.values()])
        init = cat(
            [v.init if v.init is not None else np.full(v.size, np.nan) for v in ctx.vars.values()]
        )
        x0 = np.where(np.isnan(init), np.clip(0.0, lb, ub), init)
        self.lb = torch.as_tensor(lb, dtype=self.dtype, device=self.device)
        self.ub = torch.as_tensor(ub, dtype=self.dtype, device=self.device)
        self.x0 = torch.as_tensor(x0, dtype=self.dtype, device=self.device)
        self.integer = torch.as_tensor(
            cat([np.full(v.size, v.is_integer) for v in ctx.vars.values()]).astype(bool),
            device=self.device,
        )
        self.sense = structure.objective.sense
        self.rows = RowSet(structure.rows)
        self.lower_rows = RowSet(structure.lower_rows)
        self.uncertainty_rows = RowSet(structure.uncertainty_rows)
        self.columns = [
            Block(v.name, v.offset, v.size, LazyLabels(v.index) if v.index else None)
            for v in ctx.vars.values()
        ]
        self._prime()

    def _prime(self) -> None:
        """Move every index and data array to the device now, outside any autograd transform.

        Tensors first created inside ``torch.func.jacrev``/``hessian`` would be
        tied to that transform and break later calls; creating them all here
        keeps every evaluation transform-safe.
        """
        plans: list[Plan] = [self.structure.objective.plan]
        if self.structure.lower_objective is not None:
            plans.append(self.structure.lower_objective.plan)
        for rs in (self.rows, self.lower_rows, self.uncertainty_rows):
            plans.extend(f.plan for f in rs.families)
            for part in (rs.eq, rs.hi, rs.lo):
                for _, idx, bound in part:
                    self.ops._tensor(idx, long=True)
                    self.ops._tensor(bound, long=False)
        stack = plans
        while stack:
            p = stack.pop()
            if isinstance(p, PConst) and isinstance(p.value, np.ndarray):
                self.ops._tensor(p.value, long=False)
            elif isinstance(p, PVar):
                self.ops._tensor(p.cols, long=True)
            elif isinstance(p, PReduce):
                self.ops._tensor(p.parent, long=True)
                stack.append(p.child)
            elif isinstance(p, PBin):
                stack.extend((p.left, p.right))
            elif isinstance(p, PNeg):
                stack.append(p.operand)
            elif isinstance(p, PFunc):
                stack.append(p.arg)
            elif isinstance(p, PVarMinMax):
                stack.extend(p.args)

    # -------------------------------------------------------------- helpers
    def mask(self, names: list[str]) -> Any:
        """Boolean tensor selecting the given variable families."""
        m = np.zeros(self.n, dtype=bool)
        for name in names:
            m[self.structure.var_slice(name)] = True
        return self.torch.as_tensor(m, device=self.device)

    def _scalar(self, obj: ObjectivePlan, x: Any) -> Any:
        v = evaluate(obj.plan, x, self.ops)
        if isinstance(v, float | int):
            return self.torch.tensor(float(v), dtype=self.dtype, device=self.device)
        return v.reshape(-1)[0]

    def _rows(self, rs: RowSet, x: Any) -> tuple[Any, Any]:
        vals = {}

        def fam(k: int) -> Any:
            if k not in vals:
                v = evaluate(rs.families[k].plan, x, self.ops)
                if isinstance(v, float | int):
                    v = self.torch.full(
                        (rs.families[k].n,), float(v), dtype=self.dtype, device=self.device
                    )
                vals[k] = v
            return vals[k]

        t = self.torch
        eq = [fam(k)[self.ops._tensor(i, True)] - self.ops._tensor(b, False) for k, i, b in rs.eq]
        ineq = [fam(k)[self.ops._tensor(i, True)] - self.ops._tensor(b, False) for k, i, b in rs.hi]
        ineq += [
            self.ops._tensor(b, False) - fam(k)[self.ops._tensor(i, True)] for k, i, b in rs.lo
        ]
        empty = t.zeros(0, dtype=self.dtype, device=self.device)
        return (t.cat(eq) if eq else empty, t.cat(ineq) if ineq else empty)

    # ------------------------------------------------------------ functions
    def objective(self, x: Any) -> Any:
        """The objective as written (its own sense)."""
        return self._scalar(self.structure.objective, x)

    def f(self, x: Any) -> Any:
        """The objective in minimisation form (negated for ``max``)."""
        v = self.objective(x)
        return -v if self.sense == "max" else v

    def c_eq(self, x: Any) -> Any:
        """Equality residuals, ``== 0`` when feasible."""
        return self._rows(self.rows, x)[0]

    def c_ineq(self, x: Any) -> Any:
        """Inequality residuals, ``<= 0`` when feasible (a range row gives two)."""
        return self._rows(self.rows, x)[1]

    def g(self, x: Any) -> Any:
        """The follower's objective in minimisation form (bilevel models)."""
        lo = self.structure.lower_objective
        if lo is None:
            raise ValueError("this model has no lower_level section")
        v = self._scalar(lo, x)
        return -v if lo.sense == "max" else v

    def lower_c_eq(self, x: Any) -> Any:
        """The follower's equality residuals."""
        return self._rows(self.lower_rows, x)[0]

    def lower_c_ineq(self, x: Any) -> Any:
        """The follower's inequality residuals (``<= 0``)."""
        return self._rows(self.lower_rows, x)[1]

    def uncertainty_c_ineq(self, x: Any) -> Any:
        """Residuals of the uncertainty set's inequalities (two-stage robust models)."""
        return self._rows(self.uncertainty_rows, x)[1]

    def values_by_variable(self, x: Any) -> dict[str, Any]:
        """Split a flat tensor into ``{name: value or {label: value}}``."""
        arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
        out: dict[str, Any] = {}
        for b in self.columns:
            part = arr[b.start : b.stop]
            out[b.name] = float(part[0]) if b.labels is None else dict(zip(b.labels, part.tolist()))
        return out


def compile_torch(
    model: Model | CompiledModel, device: str = "auto", dtype: Any = None
) -> TorchForm:
    """Compile a model into a :class:`TorchForm`.

    Parameters
    ----------
    model
        The IR model or its compiled structure.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    dtype
        Torch dtype (default float64).

    Returns
    -------
    TorchForm
    """
    cm = model if isinstance(model, CompiledModel) else compile_structure(model)
    return TorchForm(cm, device=device, dtype=dtype)
