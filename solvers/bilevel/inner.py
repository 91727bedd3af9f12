"""Inner solvers: min over y ∈ Y(x) of ``w_f·f(x, y) + g(x, y)``, warm-started.

Two strategies, each a small class: projected gradient (:class:`ProjectedGradient`)
and accelerated projected gradient with adaptive restart (:class:`AcceleratedGradient`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from solvers.bilevel.problem import BilevelProblem

__all__ = ["AcceleratedGradient", "InnerResult", "InnerSolver", "ProjectedGradient", "make_inner"]


@dataclass
class InnerResult:
    """The inner point, the inner objective's y-gradient there, and the steps taken."""

    y: Any
    grad_y: Any
    steps: int


class InnerSolver:
    """Minimise ``w_f·f + g`` over y for fixed x.

    Parameters
    ----------
    lr
        Step size.
    iters
        Maximum steps.
    tol
        Stop when the gradient mapping ``‖y − P(y − lr∇)‖/lr`` is below this.
    """

    def __init__(self, lr: float, iters: int, tol: float) -> None:
        self.lr = lr
        self.iters = iters
        self.tol = tol

    def grad(self, p: BilevelProblem, x: Any, y: Any, wf: float, batches: tuple[Any, Any]) -> Any:
        """y-gradient of ``wf·f + g`` (one or two oracle calls)."""
        _, gy = p.grads("g", x, y, batches[1], wrt="y")
        if wf:
            _, fy = p.grads("f", x, y, batches[0], wrt="y")
            gy = gy + wf * fy
        return gy

    def solve(
        self,
        p: BilevelProblem,
        x: Any,
        y: Any,
        wf: float,
        batches: tuple[Any, Any],
        iters: int | None = None,
    ) -> InnerResult:
        """Run from the warm start *y*."""
        raise NotImplementedError


class ProjectedGradient(InnerSolver):
    """Plain projected gradient steps."""

    def solve(self, p, x, y, wf, batches, iters=None):  # type: ignore[no-untyped-def]
        import torch

        gy = self.grad(p, x, y, wf, batches)
        n = iters or self.iters
        k = 0
        for k in range(1, n + 1):  # noqa: B007
            y_new = p.project_y(y - self.lr * gy, x)
            step = float(torch.linalg.vector_norm(y_new - y)) / self.lr
            y = y_new
            gy = self.grad(p, x, y, wf, batches)
            if step < self.tol:
                break
        return InnerResult(y.detach(), gy.detach(), k)


class AcceleratedGradient(InnerSolver):
    """FISTA-style accelerated projected gradient with gradient-based restart."""

    def solve(self, p, x, y, wf, batches, iters=None):  # type: ignore[no-untyped-def]
        import torch

        n = iters or self.iters
        z, t = y, 1.0
        k = 0
        for k in range(1, n + 1):  # noqa: B007
            gz = self.grad(p, x, z, wf, batches)
            y_new = p.project_y(z - self.lr * gz, x)
            step = float(torch.linalg.vector_norm(y_new - z)) / self.lr
            if step < self.tol:
                y = y_new
                break
            if float(torch.dot(z - y_new, y_new - y)) > 0:  # restart
                t = 1.0
            t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
            z = y_new + ((t - 1.0) / t_new) * (y_new - y)
            y, t = y_new, t_new
        gy = self.grad(p, x, y, wf, batches)
        return InnerResult(y.detach(), gy.detach(), k)


def make_inner(kind: str, lr: float, iters: int, tol: float) -> InnerSolver:
    """The inner solver named *kind* (``"pgd"`` or ``"apgd"``)."""
    return (AcceleratedGradient if kind == "apgd" else ProjectedGradient)(lr, iters, tol)
