"""Objective and constraints of a continuous model as numpy callables for SciPy.

Private helper of :mod:`solvers.scipy_nlp`: exact derivatives through torch
(:class:`~workbench.compile.torch_form.TorchForm`) or plain numpy values for
finite differences, and an exact feasibility check of linear constraints.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Problem", "linear_infeasible", "torch_installed"]

_SMALL = 64  # up to this many rows/variables, derivatives loop instead of using torch.func


def torch_installed() -> bool:
    """Whether torch is installed (found without importing it: importing takes seconds)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


class Problem:
    """Minimisation-form objective and constraints as numpy callables."""

    def __init__(self, cm: Any, use_torch: bool) -> None:
        from workbench.compile.torch_form import RowSet

        self.cm = cm
        self.use_torch = use_torch
        ctx = cm.ctx
        cat = (lambda xs: np.concatenate(xs)) if ctx.vars else (lambda xs: np.zeros(0))
        self.lb = cat([v.lb for v in ctx.vars.values()]).astype(float)
        self.ub = cat([v.ub for v in ctx.vars.values()]).astype(float)
        init = cat(
            [v.init if v.init is not None else np.full(v.size, np.nan) for v in ctx.vars.values()]
        )
        self.x0 = np.where(np.isnan(init), np.clip(0.0, self.lb, self.ub), init).astype(float)
        self.n = int(self.x0.shape[0])
        self.sense = cm.objective.sense
        self.rows = RowSet(cm.rows)
        self.num_eq, self.num_ineq = self.rows.num_eq, self.rows.num_ineq
        self._cache: dict[str, tuple[bytes, Any]] = {}
        self.tf: Any = None
        self.exact_hessians = False
        if use_torch:
            from workbench.compile.torch_form import TorchForm

            self.tf = TorchForm(cm, device="cpu")
            # Fill TorchOps' tensor cache outside any torch.func transform: tensors
            # first created inside jacrev/hessian would escape their transform.
            t = self._tensor(self.x0)
            self.tf.f(t)
            self.tf.c_eq(t)
            self.tf.c_ineq(t)

    # -------------------------------------------------------------- numpy
    def _np_rows(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from workbench.compile.numeric import evaluate

        vals: dict[int, np.ndarray] = {}

        def fam(k: int) -> np.ndarray:
            if k not in vals:
                v = evaluate(self.rows.families[k].plan, x)
                vals[k] = np.broadcast_to(np.asarray(v, dtype=float), (self.rows.families[k].n,))
            return vals[k]

        eq = [fam(k)[i] - b for k, i, b in self.rows.eq]
        ineq = [fam(k)[i] - b for k, i, b in self.rows.hi] + [
            b - fam(k)[i] for k, i, b in self.rows.lo
        ]
        return (
            np.concatenate(eq) if eq else np.zeros(0),
            np.concatenate(ineq) if ineq else np.zeros(0),
        )

    def _memo(self, key: str, x: np.ndarray, compute: Callable[[], Any]) -> Any:
        b = x.tobytes()
        hit = self._cache.get(key)
        if hit is not None and hit[0] == b:
            return hit[1]
        val = compute()
        self._cache[key] = (b, val)
        return val

    # -------------------------------------------------------------- public
    def fun(self, x: np.ndarray) -> float:
        """Objective in minimisation form."""
        return (
            float(self._fg(x)[0])
            if self.use_torch
            else float(self._memo("f", x, lambda: self._np_f(x)))
        )

    def grad(self, x: np.ndarray) -> np.ndarray:
        """Gradient of :meth:`fun` (torch only)."""
        return np.asarray(self._fg(x)[1])

    def _np_f(self, x: np.ndarray) -> float:
        from workbench.compile.numeric import evaluate

        v = float(np.asarray(evaluate(self.cm.objective.plan, x), dtype=float).reshape(-1)[0])
        return -v if self.sense == "max" else v

    def _tensor(self, x: np.ndarray, grad: bool = False) -> Any:
        import torch

        return torch.tensor(x, dtype=torch.float64, requires_grad=grad)

    def _fg(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        def compute() -> tuple[float, np.ndarray]:
            import torch

            t = self._tensor(x, grad=True)
            f = self.tf.f(t)
            (g,) = torch.autograd.grad(f, t, allow_unused=True) if f.requires_grad else (None,)
            gv = np.zeros(self.n) if g is None else g.detach().numpy().copy()
            return float(f.detach()), gv

        return self._memo("fg", x, compute)  # type: ignore[no-any-return]

    def constraints(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(c_eq(x), c_ineq(x))`` with ``c_eq == 0`` and ``c_ineq <= 0`` when feasible."""
        if not self.use_torch:
            return self._memo("c", x, lambda: self._np_rows(x))  # type: ignore[no-any-return]

        def compute() -> tuple[np.ndarray, np.ndarray]:
            t = self._tensor(x)
            return self.tf.c_eq(t).detach().numpy(), self.tf.c_ineq(t).detach().numpy()

        return self._memo("c", x, compute)  # type: ignore[no-any-return]

    def jacobian(self, which: str, x: np.ndarray) -> np.ndarray:
        """Dense Jacobian of ``c_eq`` or ``c_ineq`` (torch only)."""

        def compute() -> np.ndarray:
            import torch

            fn = self.tf.c_eq if which == "eq" else self.tf.c_ineq
            t = self._tensor(x)
            rows = self.num_eq if which == "eq" else self.num_ineq
            jac = None
            if rows > _SMALL:  # vectorised; its first call costs about a second
                try:
                    jac = torch.func.jacrev(fn)(t)
                except Exception:
                    jac = None
            if jac is None:
                jac = torch.autograd.functional.jacobian(fn, t)  # type: ignore[no-untyped-call]
            return np.asarray(jac.detach().numpy(), dtype=float).reshape(-1, self.n)

        return self._memo(f"j{which}", x, compute)  # type: ignore[no-any-return]

    def setup_hessians(self) -> bool:
        """Whether exact Hessians through ``torch.func.hessian`` work on this model."""
        if not self.use_torch or self.n > 3000:
            return False
        try:
            self.hess(self.x0)
            if self.num_eq:
                self.con_hess("eq", self.x0, np.ones(self.num_eq))
            if self.num_ineq:
                self.con_hess("ineq", self.x0, np.ones(self.num_ineq))
        except Exception:
            return False
        self.exact_hessians = True
        return True

    def hess(self, x: np.ndarray) -> np.ndarray:
        """Hessian of :meth:`fun`."""
        import torch

        t = self._tensor(x)
        if self.n > _SMALL:
            h = torch.func.hessian(self.tf.f)(t)
        else:
            h = torch.autograd.functional.hessian(self.tf.f, t)  # type: ignore[no-untyped-call]
        return np.asarray(h.detach().numpy(), dtype=float).reshape(self.n, self.n)

    def con_hess(self, which: str, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Hessian of ``v @ c(x)`` for ``c_eq`` or ``c_ineq``."""
        import torch

        fn = self.tf.c_eq if which == "eq" else self.tf.c_ineq
        vt = torch.as_tensor(np.asarray(v, dtype=float))

        def lag(z: Any) -> Any:
            return (vt * fn(z)).sum()

        t = self._tensor(x)
        h = (
            torch.func.hessian(lag)(t)
            if self.n > _SMALL
            else torch.autograd.functional.hessian(lag, t)  # type: ignore[no-untyped-call]
        )
        return np.asarray(h.detach().numpy(), dtype=float).reshape(self.n, self.n)

    def violation(self, x: np.ndarray) -> float:
        """Largest violation of a constraint or bound at *x* (``inf`` if not finite)."""
        ceq, cin = self.constraints(x)
        parts = [0.0]
        if ceq.size:
            parts.append(float(np.max(np.abs(ceq))))
        if cin.size:
            parts.append(float(np.max(cin)))
        if self.n:
            parts.append(float(np.max(np.maximum(self.lb - x, 0.0), initial=0.0)))
            parts.append(float(np.max(np.maximum(x - self.ub, 0.0), initial=0.0)))
        v = max(parts)
        return v if math.isfinite(v) else math.inf

    def objective(self, x: np.ndarray) -> float:
        """The objective in the model's own sense."""
        f = self.fun(x)
        return -f if self.sense == "max" else f

    def evaluates(self, x: np.ndarray) -> bool:
        """Whether objective and constraints are finite at *x*."""
        try:
            ceq, cin = self.constraints(x)
            return (
                math.isfinite(self.fun(x))
                and bool(np.all(np.isfinite(ceq)))
                and bool(np.all(np.isfinite(cin)))
            )
        except (ValueError, ZeroDivisionError, FloatingPointError):
            return False


def linear_infeasible(cm: Any) -> bool | None:
    """Whether the rows and bounds are affine and provably have no common point.

    Decided by ``scipy.optimize.linprog`` (HiGHS) on a zero objective:
    ``True`` when it proves the polyhedron empty, ``False`` when it finds a
    point, ``None`` when a row is nonlinear or the check is inconclusive.
    """
    import scipy.sparse as sp
    from scipy.optimize import linprog

    from workbench.compile.affine import NonlinearError, poly

    n = cm.num_vars
    blocks: list[Any] = []
    lo_all: list[np.ndarray] = []
    hi_all: list[np.ndarray] = []
    for fam in cm.rows:
        try:
            p = poly(fam.plan, quadratic=False)
        except NonlinearError:
            return None
        const = np.broadcast_to(np.asarray(p.const, dtype=float), (fam.n,))
        blocks.append(sp.csr_matrix((p.coefs, (p.rows, p.cols)), shape=(fam.n, n)))
        lo_all.append(np.asarray(fam.lo, dtype=float) - const)
        hi_all.append(np.asarray(fam.hi, dtype=float) - const)
    ctx = cm.ctx
    lb = np.concatenate([v.lb for v in ctx.vars.values()]) if ctx.vars else np.zeros(0)
    ub = np.concatenate([v.ub for v in ctx.vars.values()]) if ctx.vars else np.zeros(0)
    if not blocks:
        return bool(np.any(lb > ub))
    a = sp.vstack(blocks).tocsr()
    lo, hi = np.concatenate(lo_all), np.concatenate(hi_all)
    eq = np.isfinite(lo) & (lo == hi)
    up = np.isfinite(hi) & ~eq
    dn = np.isfinite(lo) & ~eq
    a_ub = sp.vstack([a[up], -a[dn]]).tocsr()
    b_ub = np.concatenate([hi[up], -lo[dn]])
    bounds = [
        (a if math.isfinite(a) else None, b if math.isfinite(b) else None)
        for a, b in zip(lb.tolist(), ub.tolist())
    ]
    res = linprog(
        np.zeros(n),
        A_ub=a_ub if a_ub.shape[0] else None,
        b_ub=b_ub if a_ub.shape[0] else None,
        A_eq=a[eq] if eq.any() else None,
        b_eq=lo[eq] if eq.any() else None,
        bounds=bounds,
        method="highs",
    )
    if res.status == 2:
        return True
    return False if res.status == 0 else None
