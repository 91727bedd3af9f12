"""Inner solvers: min over y ∈ Y(x) of ``w_f·f(x, y) + g(x, y)``, warm-started.

Two strategies, each a small class: projected gradient (:class:`ProjectedGradient`)
and accelerated projected gradient with adaptive restart (:class:`AcceleratedGradient`).
"""

from __future__ import annotations

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
    check_every
        The stop test reads a device scalar (a GPU sync) only every this many
        steps (``None``: every step on the CPU, where a read costs nothing, and
        every 10 steps on an accelerator); in between, the iterate is frozen on the device once the test
        holds, so the returned point is the one a per-step test would return
        (the frozen steps cost oracle calls but do not move y).
    """

    def __init__(self, lr: float, iters: int, tol: float, check_every: int | None = None) -> None:
        self.lr = lr
        self.iters = iters
        self.tol = tol
        self.check_every = check_every

    def grad(self, p: BilevelProblem, x: Any, y: Any, wf: float, batches: tuple[Any, Any]) -> Any:
        """y-gradient of ``wf·f + g`` (one or two oracle calls)."""
        _, gy = p.grads("g", x, y, batches[1], wrt="y")
        if wf:
            _, fy = p.grads("f", x, y, batches[0], wrt="y")
            gy = gy + wf * fy
        return gy

    def _check(self, k: int, n: int, done: Any) -> bool:
        """Whether to stop after step *k* (reads *done* only every ``check_every`` steps)."""
        every = self.check_every or (1 if done.device.type == "cpu" else 10)
        return k < n and k % every == 0 and bool(done)

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
        done = torch.zeros((), dtype=torch.bool, device=y.device)
        steps = torch.zeros((), dtype=torch.int64, device=y.device)
        for k in range(1, n + 1):
            y_new = p.project_y(y - self.lr * gy, x)
            step = torch.linalg.vector_norm(y_new - y) / self.lr
            steps = steps + (~done).to(torch.int64)
            y = torch.where(done, y, y_new)
            gy = self.grad(p, x, y, wf, batches)
            done = done | (step < self.tol)
            if self._check(k, n, done):
                break
        return InnerResult(y.detach(), gy.detach(), int(steps))


class AcceleratedGradient(InnerSolver):
    """FISTA-style accelerated projected gradient with gradient-based restart."""

    def solve(self, p, x, y, wf, batches, iters=None):  # type: ignore[no-untyped-def]
        import torch

        n = iters or self.iters
        z = y
        t = torch.ones((), dtype=y.dtype, device=y.device)
        done = torch.zeros((), dtype=torch.bool, device=y.device)
        steps = torch.zeros((), dtype=torch.int64, device=y.device)
        for k in range(1, n + 1):
            gz = self.grad(p, x, z, wf, batches)
            y_new = p.project_y(z - self.lr * gz, x)
            step = torch.linalg.vector_norm(y_new - z) / self.lr
            steps = steps + (~done).to(torch.int64)
            stop = step < self.tol
            active = ~(done | stop)
            t = torch.where(torch.dot(z - y_new, y_new - y) > 0, torch.ones_like(t), t)  # restart
            t_new = (1.0 + torch.sqrt(1.0 + 4.0 * t * t)) / 2.0
            z_new = y_new + ((t - 1.0) / t_new) * (y_new - y)
            z = torch.where(active, z_new, z)
            t = torch.where(active, t_new, t)
            y = torch.where(done, y, y_new)
            done = done | stop
            if self._check(k, n, done):
                break
        gy = self.grad(p, x, y, wf, batches)
        return InnerResult(y.detach(), gy.detach(), int(steps))


def make_inner(
    kind: str, lr: float, iters: int, tol: float, check_every: int | None = None
) -> InnerSolver:
    """The inner solver named *kind* (``"pgd"`` or ``"apgd"``)."""
    cls = AcceleratedGradient if kind == "apgd" else ProjectedGradient
    return cls(lr, iters, tol, check_every)
