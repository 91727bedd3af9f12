"""The ``bilevel_penalty`` and ``bilevel_kkt`` backends."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from workbench.backends.base import Availability, Capability, SolveOptions, module_availability
from workbench.errors import UnsupportedProblemError
from workbench.result import Result

if TYPE_CHECKING:
    from workbench.classification import Classification
    from workbench.compile.structure import CompiledModel
    from workbench.ir.model import Model

__all__ = ["BilevelKKTBackend", "BilevelPenaltyBackend"]


def _structure(model: Model, options: SolveOptions) -> CompiledModel:
    from workbench.compile.structure import CompiledModel, compile_structure

    s = options.structure
    return s if isinstance(s, CompiledModel) else compile_structure(model)


class BilevelPenaltyBackend:
    """First-order bilevel methods in torch: Kwon et al.'s penalty, V-PBGD, BOME.

    Options (``SolveOptions.extra``) are the fields of
    :class:`~solvers.bilevel.options.PenaltyOptions`.  The result is FEASIBLE
    (converged), ITERATION_LIMIT, TIME_LIMIT or ERROR (diverged), never OPTIMAL:
    the point is a stationary point of the penalty reformulation (the table is
    :data:`solvers.bilevel.api.STATUS`).
    """

    name: ClassVar[str] = "bilevel_penalty"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.BILEVEL})
    rank: ClassVar[int] = 20

    def available(self) -> Availability:
        """Whether torch is installed."""
        return module_availability("torch")

    def solve(self, model: Model, options: SolveOptions) -> Result:
        """Reduce the IR model to a :class:`BilevelProblem`, run the method, invert."""
        from solvers.bilevel.api import to_result
        from solvers.bilevel.baselines import make_method
        from solvers.bilevel.options import penalty_options
        from solvers.bilevel.penalty import run
        from solvers.bilevel.reduction import PenaltyReduction
        from workbench.compile.torch_form import TorchForm

        opts = penalty_options(options.extra, options.time_limit)
        t0 = time.perf_counter()
        cm = _structure(model, options)
        if cm.model.lower_level is None:
            raise UnsupportedProblemError(
                "bilevel_penalty needs a model with a lower_level section"
            )
        tf = TorchForm(cm, device=options.device)
        red = PenaltyReduction(opts)
        prob, inv = red.apply(cm, tf)
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        out = run(prob, make_method(opts), options.seed)
        values, objective = inv.invert(out.x, out.y)
        return to_result(opts.method, out, values, objective, time.perf_counter() - t1,
                         build, red.warnings, self.name)  # fmt: skip


class BilevelKKTBackend:
    """Exact linear bilevel problems: KKT single-level MILP with big-M, solved by HiGHS.

    Options are the fields of :class:`~solvers.bilevel.options.KKTOptions`.
    """

    name: ClassVar[str] = "bilevel_kkt"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.BILEVEL})
    rank: ClassVar[int] = 10

    @staticmethod
    def supports(cls: Classification) -> Availability:
        """Only bilevel problems whose inner class is LP (linear, continuous).

        Reads ``features['lower_degree']`` / ``features['lower_integer']`` when the
        classification records them (the follower's own degree and integrality).
        """
        if cls.inner != "LP":
            return Availability(
                False, f"bilevel_kkt takes linear bilevel problems only (inner class {cls.inner})"
            )
        if cls.features.get("lower_degree", 1) > 1 or cls.features.get("lower_integer", False):
            return Availability(False, "bilevel_kkt needs a linear, continuous follower")
        return Availability(True)

    def available(self) -> Availability:
        """Whether highspy imports."""
        try:
            import highspy  # noqa: F401
        except ImportError as e:
            return Availability(False, f"highspy is not installed ({e})")
        return Availability(True)

    def solve(self, model: Model, options: SolveOptions) -> Result:
        """Build the KKT MILP and solve it with HiGHS."""
        from solvers.bilevel.kkt import solve_kkt
        from solvers.bilevel.options import kkt_options

        opts = kkt_options(options.extra, options.time_limit)
        cm = _structure(model, options)
        if cm.model.lower_level is None:
            raise UnsupportedProblemError("bilevel_kkt needs a model with a lower_level section")
        return solve_kkt(cm, opts, options)
