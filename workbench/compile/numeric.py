"""Evaluate plans numerically with pluggable array operations.

The same plan runs on numpy arrays (SciPy), on torch tensors (``TorchForm``,
differentiable, on any device) and on numpy object arrays of Pyomo
variables (the Pyomo compiler).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.compile.plan import PBin, PConst, PFunc, Plan, PNeg, PReduce, PVar, PVarMinMax

__all__ = ["NumpyOps", "ObjectOps", "Ops", "evaluate"]


class Ops:
    """Array operations a numeric back-end provides (numpy by default)."""

    def const(self, value: np.ndarray | float, n: int) -> Any:
        """Data as an ``(n,)`` array (a scalar may stay a scalar)."""
        return value

    def gather(self, x: Any, idx: np.ndarray) -> Any:
        """``x[idx]``."""
        return x[idx]

    def binop(self, op: str, a: Any, b: Any) -> Any:
        """``a op b`` elementwise."""
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        return a**b

    def func(self, name: str, a: Any) -> Any:
        """``abs exp log sqrt sin cos`` elementwise."""
        return getattr(np, name)(a)

    def minmax(self, name: str, args: list[Any]) -> Any:
        """Elementwise min/max of several arrays."""
        fn = np.minimum if name == "min" else np.maximum
        out = args[0]
        for a in args[1:]:
            out = fn(out, a)
        return out

    def reduce(self, name: str, child: Any, parent: np.ndarray, n: int) -> Any:
        """Segment reduction of *child* rows into *n* parent rows."""
        child = np.broadcast_to(np.asarray(child, dtype=float), parent.shape)
        if name == "sum":
            return np.bincount(parent, weights=child, minlength=n)
        out = np.full(n, np.inf if name == "min" else -np.inf)
        (np.minimum if name == "min" else np.maximum).at(out, parent, child)
        return out


class NumpyOps(Ops):
    """Plain numpy evaluation."""


class ObjectOps(Ops):
    """Numpy object arrays of modelling-library expressions (Pyomo).

    Parameters
    ----------
    funcs
        Maps ``exp``, ``log``... to the library's own functions.
    """

    def __init__(self, funcs: dict[str, Any]) -> None:
        self.funcs = funcs

    def func(self, name: str, a: Any) -> Any:
        """Apply the library's function elementwise."""
        f = np.frompyfunc(self.funcs[name], 1, 1)
        return f(a)

    def minmax(self, name: str, args: list[Any]) -> Any:
        """Not expressible smoothly; refuse clearly."""
        raise NotImplementedError(f"{name}() of variables cannot be given to Pyomo directly")

    def reduce(self, name: str, child: Any, parent: np.ndarray, n: int) -> Any:
        """Python-level segment sum (Pyomo builds expressions one by one anyway)."""
        if name != "sum":
            raise NotImplementedError(f"{name}() over variables cannot be given to Pyomo directly")
        out = np.empty(n, dtype=object)
        out[:] = [0.0] * n
        child_arr = np.broadcast_to(np.asarray(child, dtype=object), parent.shape)
        order = np.argsort(parent, kind="stable")
        bounds = np.searchsorted(parent[order], np.arange(n + 1))
        for r in range(n):
            lo, hi = bounds[r], bounds[r + 1]
            if hi > lo:
                terms = child_arr[order[lo:hi]]
                acc = terms[0]
                for t in terms[1:]:
                    acc = acc + t
                out[r] = acc
        return out


def evaluate(plan: Plan, x: Any, ops: Ops | None = None) -> Any:
    """Evaluate *plan* at the flat variable vector *x*.

    Parameters
    ----------
    plan
        A plan from :func:`~workbench.compile.structure.compile_structure`.
    x
        The flat variable vector (numpy array, torch tensor or object array).
    ops
        The array operations; numpy by default.

    Returns
    -------
    array-like
        One value per row of the plan (or a broadcastable scalar).
    """
    ops = ops or NumpyOps()
    return _eval(plan, x, ops)


def _eval(p: Plan, x: Any, ops: Ops) -> Any:
    if isinstance(p, PConst):
        return ops.const(p.value, p.n)
    if isinstance(p, PVar):
        return ops.gather(x, p.cols)
    if isinstance(p, PBin):
        return ops.binop(p.op, _eval(p.left, x, ops), _eval(p.right, x, ops))
    if isinstance(p, PNeg):
        return -_eval(p.operand, x, ops)
    if isinstance(p, PFunc):
        return ops.func(p.func, _eval(p.arg, x, ops))
    if isinstance(p, PVarMinMax):
        return ops.minmax(p.func, [_eval(a, x, ops) for a in p.args])
    if isinstance(p, PReduce):
        return ops.reduce(p.func, _eval(p.child, x, ops), p.parent, p.n)
    raise TypeError(f"unknown plan node {type(p).__name__}")
