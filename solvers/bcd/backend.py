"""The ``bcd`` backend: block coordinate descent on smooth, unconstrained or box-constrained IR models."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, ClassVar

from solvers.bcd.engine import BcdStatus
from workbench.backends.base import Availability, Capability, SolveOptions, module_availability
from workbench.errors import UnsupportedProblemError
from workbench.result import Diagnostics, Result, Termination, Timings

if TYPE_CHECKING:
    from workbench.classification import Classification
    from workbench.ir.model import Model

__all__ = ["STATUS_MAP", "BcdBackend", "termination"]

STATUS_MAP: dict[BcdStatus, Termination] = {
    BcdStatus.CONVERGED: Termination.OPTIMAL,  # stationary (a local optimum for nonconvex models)
    BcdStatus.ITERATION_LIMIT: Termination.ITERATION_LIMIT,
    BcdStatus.TIME_LIMIT: Termination.TIME_LIMIT,
    BcdStatus.DIVERGED: Termination.ERROR,  # the last finite iterate is returned with the message
    BcdStatus.UNBOUNDED: Termination.UNBOUNDED,
}
"""The one table from the BCD loop's statuses to :class:`Termination`."""


def termination(status: BcdStatus) -> Termination:
    """Look *status* up in :data:`STATUS_MAP`."""
    return STATUS_MAP[status]


class BcdBackend:
    """Block coordinate descent (Nutini, Laradji & Schmidt 2022) on smooth IR models.

    Takes LP/QP/NLP models whose only constraints are variable bounds; the
    objective must be smooth (no ``abs``/``min``/``max`` of variables).
    Options are the fields of :class:`~solvers.bcd.options.BcdOptions`.  Its
    high ``rank`` keeps ``auto`` on scipy/HiGHS: ask for it by name.
    """

    name: ClassVar[str] = "bcd"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.NLP})
    rank: ClassVar[int] = 90

    @staticmethod
    def supports(cls: Classification) -> Availability:
        """Only models without general constraints (bounds are fine)."""
        if cls.num_constraints:
            return Availability(
                False,
                f"bcd takes unconstrained or box-constrained models only; this one has "
                f"{cls.num_constraints} constraint rows (use scipy or highs)",
            )
        return Availability(True)

    def available(self) -> Availability:
        """Whether torch is installed (the IR path evaluates the model with ``TorchForm``)."""
        return module_availability("torch")

    def solve(self, model: Model, options: SolveOptions) -> Result:
        """Compile to ``TorchForm`` and run :func:`~solvers.bcd.engine.minimize`.

        Raises
        ------
        OptionsError
            For an unknown or bad option.
        UnsupportedProblemError
            For constraints other than bounds, integer variables, bilevel or
            robust structure, or a non-smooth objective (naming why).
        """
        from solvers.bcd.engine import minimize
        from solvers.bcd.options import bcd_options
        from solvers.bcd.torch_problem import TorchProblem, nonsmooth_reason
        from workbench.classification import classify_structure, local_optimum
        from workbench.compile.structure import CompiledModel, compile_structure
        from workbench.compile.torch_form import TorchForm

        opts = bcd_options(options.extra)
        t0 = time.perf_counter()
        cm = (
            options.structure
            if isinstance(options.structure, CompiledModel)
            else compile_structure(model)
        )
        if cm.model.lower_level is not None or cm.model.robust is not None:
            raise UnsupportedProblemError("bcd takes no bilevel or robust structure")
        ints = [n for n, v in cm.ctx.vars.items() if v.is_integer]
        if ints:
            raise UnsupportedProblemError(
                f"bcd solves continuous models only; integer/binary variables: {', '.join(ints[:5])}"
            )
        if cm.num_rows:
            raise UnsupportedProblemError(
                f"bcd takes unconstrained or box-constrained models only; this one has {cm.num_rows} "
                "constraint rows (write bounds as variable lb/ub, or use backend='scipy')"
            )
        why = nonsmooth_reason(cm.objective.plan)
        if why is not None:
            raise UnsupportedProblemError(
                f"bcd needs a smooth objective, but {cm.objective.where}: {why}; "
                "use backend='scipy' or reformulate with extra variables and constraints"
            )
        tf = TorchForm(cm, device=options.device)
        prob = TorchProblem(tf)
        x0 = prob.reg.prox(tf.x0.detach().cpu().numpy().astype(float), 1.0, slice(None))
        build = time.perf_counter() - t0
        out = minimize(prob, opts.partition, opts.selection, opts.update,
                       block_size=min(opts.block_size, max(1, prob.n)), x0=x0, seed=options.seed,
                       max_iter=opts.max_iter, tol=opts.tol, time_limit=options.time_limit,
                       active_set=opts.active_set, check_every=opts.check_every,
                       record_every=max(1, opts.max_iter // 500))  # fmt: skip
        sign = -1.0 if tf.sense == "max" else 1.0
        term = termination(out.status)
        note = ""
        if term is Termination.OPTIMAL:  # stationary: global only on a proven convex model
            term, why = local_optimum(classify_structure(cm))
            note = f"; {why}"
        diag = Diagnostics(
            warnings=list(cm.warnings),
            native_status=out.status.value,
            message=out.message + note,
            extra={
                "partition": opts.partition,
                "selection": opts.selection,
                "update": opts.update,
                "block_size": opts.block_size,
                "newton_steps": out.newton_steps,
                "active_set_identified_at": out.identified_at,
            },  # fmt: skip
        )
        res = Result(term, timings=Timings(build=build, solve=out.seconds + out.setup_seconds),
                     iterations=out.iterations, diagnostics=diag, backend=self.name,
                     log=f"bcd {opts.partition}/{opts.selection}/{opts.update}: {out.message}")  # fmt: skip
        res.history = [(t, sign * f, None) for _, t, f in out.trace if math.isfinite(f)]
        if term is not Termination.UNBOUNDED:
            res.values = tf.values_by_variable(out.x + 0.0)
            obj = sign * out.objective
            res.objective = obj if math.isfinite(obj) else None
        return res
