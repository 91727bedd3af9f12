"""The ``balans`` backend: bandit-driven ALNS for MIP on HiGHS (or SCIP).

Options (``workbench.solve(..., backend="balans", **options)``) are listed
in :data:`solvers.balans.settings.KNOWN_OPTIONS`; ``preset`` picks
``"balans22"``, ``"balans22_highs"``, ``"balans22_scip"`` or ``"ijcai25"``
(default: ``"balans22_highs"`` on HiGHS, ``"balans22_scip"`` on SCIP; see
:data:`solvers.balans.settings.PRESETS`).  ``time_limit`` is the whole
budget (``default_budget`` when absent).

Result conventions
------------------
- ``history`` holds ``(seconds, incumbent, bound)``; the bound is the LP
  relaxation's or a solver's global dual bound.
- ``termination`` is OPTIMAL only when optimality is proven (the first solve
  or an unrestricted one finished, or the incumbent meets the bound),
  otherwise FEASIBLE; INFEASIBLE when the relaxation or the first solve
  proves it; TIME_LIMIT when no incumbent was found.
- ``diagnostics.message`` ends with ``arms: name=count, ...`` (how often the
  bandit chose each destroy operator) and names dropped arms.
- A model without integer columns is delegated to the ``highs`` backend
  (``diagnostics.message`` says so).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from solvers._linear import LinearFormBackend, relative_gap
from workbench.backends.base import Availability, Capability, SolveOptions
from workbench.compile.linear_form import LinearForm
from workbench.errors import BackendUnavailableError, OptionsError
from workbench.result import Diagnostics, Result, Termination, Timings

__all__ = ["BalansBackend"]


def _format_arms(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in counts.items())


class BalansBackend(LinearFormBackend):
    """Balans (Cai, Kadıoğlu, Dilkina, IJCAI-25) on HiGHS or SCIP, built on ``alns`` + ``mabwiser``."""

    name: ClassVar[str] = "balans"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.MILP, Capability.PURE_INTEGER}
    )
    rank: ClassVar[int] = 50

    def available(self) -> Availability:
        """Whether ``alns``, ``mabwiser`` and ``highspy`` import."""
        from importlib.util import find_spec

        missing = [m for m in ("alns", "mabwiser", "highspy") if find_spec(m) is None]
        if missing:
            return Availability(
                False,
                f"missing {', '.join(missing)}; fix: pip install 'optimization-workbench[balans]'",
            )
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("alns")
        except PackageNotFoundError:  # pragma: no cover
            v = None
        return Availability(True, version=f"alns {v}" if v else None)

    def solve_linear(
        self, lf: LinearForm, options: SolveOptions, *, build_time: float = 0.0
    ) -> Result:
        """Run Balans on a LinearForm.

        Raises
        ------
        OptionsError
            For an unknown or badly valued option (before any work).
        BackendUnavailableError
            When ``alns``/``mabwiser`` (or pyscipopt for ``mip_solver="scip"``) is missing.
        """
        from solvers.balans.settings import settings_from_options

        settings = settings_from_options(dict(options.extra))
        if not self.available():
            raise BackendUnavailableError(f"balans is not available: {self.available().reason}")
        if settings.mip_solver == "scip":
            try:
                import pyscipopt  # noqa: F401
            except ImportError as e:
                raise BackendUnavailableError(
                    f"mip_solver='scip' needs pyscipopt ({e}); fix: pip install pyscipopt"
                ) from e
        if lf.Q is not None and lf.Q.nnz:
            raise OptionsError(
                "balans solves linear MIPs only; this model has a quadratic objective"
            )
        if not lf.is_mip:
            return self._delegate(lf, options, build_time)
        timings = Timings(build=build_time)
        t0 = time.perf_counter()
        try:
            from solvers.balans.engine import run_balans

            run = run_balans(
                lf,
                settings,
                time_limit=options.time_limit,
                seed=options.seed,
                threads=options.threads,
                rel_gap=options.rel_gap,
                verbose=options.verbose,
            )
        except Exception as e:  # a crash inside a solver is a value
            timings.solve = time.perf_counter() - t0
            return Result(
                Termination.ERROR,
                timings=timings,
                diagnostics=Diagnostics(message=f"Balans failed: {type(e).__name__}: {e}"),
                backend=self.name,
            )
        timings.solve = time.perf_counter() - t0
        msg = f"Balans on {settings.mip_solver}: {run.iterations} ALNS iterations"
        if run.arm_counts:
            msg += f"; arms: {_format_arms(run.arm_counts)}"
        if run.dropped:
            msg += f"; dropped (no matching columns): {', '.join(run.dropped)}"
        res = Result(
            run.termination,
            objective=run.objective,
            bound=run.bound,
            gap=relative_gap(run.objective, run.bound),
            timings=timings,
            iterations=run.iterations,
            history=run.history,
            diagnostics=Diagnostics(
                warnings=list(lf.warnings),
                native_status=run.native_status,
                message=msg,
                extra={
                    "arm_counts": dict(run.arm_counts),
                    "dropped_arms": list(run.dropped),
                    "size_factors": dict(run.size_factors),
                },
            ),
            log="\n".join(run.notes),
            backend=self.name,
        )
        if run.x is not None:
            res.values = lf.values_by_variable(run.x + 0.0)
        return res

    def _delegate(self, lf: LinearForm, options: SolveOptions, build_time: float) -> Result:
        from solvers.highs import HighsBackend

        plain = SolveOptions(
            time_limit=options.time_limit,
            seed=options.seed,
            threads=options.threads,
            rel_gap=options.rel_gap,
            verbose=options.verbose,
        )
        res = HighsBackend().solve_linear(lf, plain, build_time=build_time)
        note = "no integer variables: delegated to plain HiGHS (Balans needs a MIP)"
        res.diagnostics.message = note + (
            f"; {res.diagnostics.message}" if res.diagnostics.message else ""
        )
        res.backend = self.name
        return res

    @staticmethod
    def describe(result: Result) -> dict[str, Any]:
        """The arm counts (``diagnostics.extra["arm_counts"]``, else parsed from the message)."""
        if "arm_counts" in result.diagnostics.extra:
            return dict(result.diagnostics.extra["arm_counts"])
        msg = result.diagnostics.message or ""
        if "arms: " not in msg:
            return {}
        part = msg.split("arms: ", 1)[1].split(";", 1)[0]
        out: dict[str, Any] = {}
        for item in part.split(", "):
            k, _, v = item.partition("=")
            if v.isdigit():
                out[k] = int(v)
        return out
