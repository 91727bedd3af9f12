"""The ``neur2ro`` backend: learned recourse values inside column-and-constraint generation."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from solvers.neur2ro.ccg import CcgOutcome
from workbench.backends.base import Availability, Capability, SolveOptions, module_availability
from workbench.result import Diagnostics, Result, Termination, Timings

if TYPE_CHECKING:
    from workbench.compile.structure import CompiledModel
    from workbench.ir.model import Model

__all__ = ["OUTCOME_TERMINATION", "Neur2roBackend", "get_network"]

OUTCOME_TERMINATION: dict[CcgOutcome, Termination] = {
    CcgOutcome.CONVERGED: Termination.FEASIBLE,
    CcgOutcome.STALLED: Termination.FEASIBLE,
    CcgOutcome.ITERATION_LIMIT: Termination.ITERATION_LIMIT,
    CcgOutcome.TIME_LIMIT: Termination.TIME_LIMIT,
    CcgOutcome.INFEASIBLE: Termination.INFEASIBLE,
    CcgOutcome.ERROR: Termination.ERROR,
}
"""The one status table: how an ML-CCG outcome reads as a :class:`Termination`.

A converged run is FEASIBLE, never OPTIMAL: the network only approximates the recourse."""

GLOBAL_SHARE = 0.3
"""The share of ``certify_time_limit`` the global scenario master may use before local polishing."""


@dataclass
class _Eval:
    """An evaluated first stage: value (model sense), proven?, method, worst xi, values."""

    objective: float
    exact: bool
    method: str
    scenario: np.ndarray | None
    values: dict[str, Any]
    cut_off: bool = False


def _structure(model: Model, options: SolveOptions) -> CompiledModel:
    from workbench.compile.structure import CompiledModel, compile_structure

    s = options.structure
    return s if isinstance(s, CompiledModel) else compile_structure(model)


def _summary(run: Any, exact: bool, objective: float | None, extra: dict[str, Any]) -> str:
    """One line for ``Diagnostics.message``: how ML-CCG ended and what the objective is."""
    head = f"ML-CCG {run.outcome.value} after {run.iterations} iteration(s)"
    if objective is None:
        return f"{head}; the chosen first stage has no feasible recourse in some scenario"
    if not exact:
        return (f"{head}; the exact evaluation of the chosen x did not finish in the time limit: "
                "the objective is a conservative bound on its worst case (raise time_limit)")  # fmt: skip
    improved = int(extra.get("certify_improved") or 0)
    polish = f", improved {improved} time(s) by exact polishing" if improved else ""
    return f"{head}; worst case of the chosen x proven{polish}"


def get_network(
    model: Model,
    opts: Any,
    *,
    seed: int | None,
    device: str,
    verbose: bool = False,
    time_limit: float | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The family's trained network: ``model_path``, the cache, the shipped one, or train now.

    Returns
    -------
    (NetWeights, info)
        ``info`` says where the network came from and, when trained here, the
        data-generation and training seconds.  With a *time_limit* (the solve's)
        the labelling stops after a sixth of it (the pairs labelled by then are
        kept) and, with no ``train_time_limit``, training stops after a third
        of it in all.
    """
    from solvers.neur2ro import store

    key = store.family_key(model)
    info: dict[str, Any] = {"family": key}
    if opts.model_path is not None:
        net, _ = store.load_model(opts.model_path)
        info["model_source"] = str(opts.model_path)
        return net, info
    path = None if opts.retrain else store.find_model(key)
    if path is not None:
        net, _ = store.load_model(path)
        info["model_source"] = str(path)
        return net, info
    from solvers.neur2ro.datagen import generate
    from solvers.neur2ro.train import train

    t_start = time.perf_counter()
    # under a time limit the labelling gets a sixth of it (the pairs labelled by then, in
    # chunks of 25 so that the limit is kept to within a chunk),
    # training what is left of a third: at n = 50 (capital budgeting, 60 s) labelling
    # all pairs took 34 s and left training 1 s
    data = generate([model], samples_per_instance=opts.samples_per_instance, seed=seed,
                    workers=opts.workers, chunk=200 if time_limit is None else 25,
                    time_limit=None if time_limit is None else time_limit / 6.0)  # fmt: skip
    if data.labels.size < 4:
        from workbench.errors import UnsupportedProblemError

        raise UnsupportedProblemError(
            f"neur2ro: only {data.labels.size} of {opts.samples_per_instance} sampled (x, xi) "
            "pairs have a feasible recourse; the network cannot be trained"
        )
    if opts.train_time_limit is None and time_limit is not None:
        # on-the-fly training gets at most a third of the solve's time limit
        left = time_limit / 3.0 - (time.perf_counter() - t_start)
        opts = dataclasses.replace(opts, train_time_limit=max(1.0, left))
    net, stats = train(data, opts, seed=seed, device=device, verbose=verbose)
    info.update(
        model_source="trained",
        datagen_s=data.seconds,
        train_s=stats.seconds,
        train_device=stats.device,
        val_mae=stats.val_mae,
        samples=int(data.labels.size),
        infeasible_samples=int(data.infeasible),
    )
    if opts.save:
        p = store.save_model(net, store.cache_dir() / f"{key}.npz", family=key)
        info["saved_to"] = str(p)
    return net, info


class Neur2roBackend:
    """Neur2RO (Dumouchelle, Julien, Kurtz & Khalil, ICLR 2024) for two-stage robust models.

    Options are the fields of :class:`~solvers.neur2ro.options.Neur2roOptions`.
    The result's objective is the exact worst case of the chosen first stage
    (``diagnostics.extra['exact_eval']`` says whether it is proven; ``ml_objective``
    is the learned x's value before certification).  The bound comes from the
    exact scenario master over the scenarios found (:mod:`solvers.neur2ro.certify`);
    the result is OPTIMAL only when that bound meets the exact value, else FEASIBLE.
    """

    name: ClassVar[str] = "neur2ro"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ROBUST})
    rank: ClassVar[int] = 60  # after the exact ccg: auto prefers a proof to a learned heuristic

    def available(self) -> Availability:
        """Whether highspy imports (torch is needed only to train a new family)."""
        return module_availability("highspy")

    def solve(self, model: Model, options: SolveOptions) -> Result:
        """Load (or train) the family's network, run ML-CCG, evaluate the chosen x exactly."""
        from solvers.neur2ro.ccg import run_ccg
        from solvers.neur2ro.embed import check_relu
        from solvers.neur2ro.features import instance_features
        from solvers.neur2ro.options import neur2ro_options
        from solvers.neur2ro.recourse import RobustSplit
        from workbench.robust import robust_structure

        opts = neur2ro_options(options.extra)
        t0 = time.perf_counter()
        deadline = None if options.time_limit is None else t0 + float(options.time_limit)
        cm = _structure(model, options)
        rs = robust_structure(cm)  # the shared checks: roles, bounded and non-empty uncertainty set
        split = RobustSplit(cm)
        seed = 0 if options.seed is None else int(options.seed)
        net, info = get_network(cm.model, opts, seed=seed, device=options.device,
                                verbose=options.verbose, time_limit=options.time_limit)  # fmt: skip
        check_relu(net.activation)
        feats = instance_features(split, net.layout)
        t_ml = time.perf_counter()
        run = run_ccg(split, feats, net, opts, deadline=deadline, seed=seed)
        ml_s = time.perf_counter() - t_ml
        extra: dict[str, Any] = dict(info)
        extra.update(
            outcome=run.outcome.value,
            ccg_iterations=run.iterations,
            scenarios_added=max(0, len(run.scenarios) - 1),
            predicted_objective=None,
            ml_time_s=ml_s,
            embedding=opts.embedding,
            main_form=run.form,
            scenarios=[[float(v) for v in xi] for xi in run.scenarios],
            main_binaries=run.main_binaries,
            adversarial_binaries=run.adversarial_binaries,
        )
        sign = -1.0 if split.sense == "max" else 1.0
        if run.predicted is not None:
            extra["predicted_objective"] = sign * run.predicted
        term = OUTCOME_TERMINATION[run.outcome]
        if run.x is None:
            return Result(
                termination=term,
                timings=Timings(solve=time.perf_counter() - t0),
                diagnostics=Diagnostics(message=run.message or run.outcome.value, extra=extra),
                backend=self.name,
            )
        x_best = run.x
        t_ev = time.perf_counter()
        ev = self._evaluate(rs, split, run, x_best, opts, deadline, seed)
        objective: float | None = ev.objective
        exact = ev.exact
        extra.update(eval_time_s=time.perf_counter() - t_ev, exact_eval=exact,
                     eval_method=ev.method, ml_objective=objective)  # fmt: skip
        bound: float | None = None
        if opts.exact_eval and opts.certify_rounds > 0 and ev.scenario is not None:
            x_best, ev, bound, cert = self._certify(split, rs, run, x_best, ev, opts, deadline,
                                                    seed)  # fmt: skip
            objective, exact = ev.objective, ev.exact
            extra.update(cert)
        values: dict[str, Any] = dict(split.values_dict(x_best))
        values.update(ev.values)
        if term is Termination.INFEASIBLE:
            term = Termination.ERROR
        gap = None
        if objective is None or not np.isfinite(objective):
            extra["x_infeasible"] = True
            if term.has_solution:
                term = Termination.INFEASIBLE
            objective, values, bound = None, {}, None
        elif bound is not None:
            gap = abs(objective - bound) / max(1.0, abs(objective))
            if exact and gap <= opts.gap_tol:
                term = Termination.OPTIMAL
        extra["exact_eval"] = exact
        history: list[tuple[float, float | None, float | None]] = [
            (t, None if p is None else sign * p, None) for t, p, _ in run.history
        ]
        total = time.perf_counter() - t0
        history.append((total, objective, bound))
        return Result(
            termination=term,
            objective=objective,
            bound=bound,
            gap=gap,
            values=values,
            timings=Timings(solve=total),
            iterations=run.iterations,
            history=history,
            diagnostics=Diagnostics(
                native_status=run.outcome.value,
                extra=extra,
                message=_summary(run, exact, objective, extra),
            ),  # fmt: skip
            backend=self.name,
        )

    @staticmethod
    def _certify(
        split: Any,
        rs: Any,
        run: Any,
        x: np.ndarray,
        ev: _Eval,
        opts: Any,
        deadline: float | None,
        seed: int,
    ) -> tuple[np.ndarray, _Eval, float | None, dict[str, Any]]:
        """Exact polishing: the scenario master's bound, then local-branching rounds.

        Round one solves the exact scenario master (:mod:`solvers.neur2ro.certify`)
        over every scenario found: a valid bound.  Each later round solves it
        restricted to the first stages within ``polish_radius`` flips of the
        incumbent (local branching), evaluates that ``x`` exactly, keeps it when
        better (the neighbourhood moves with it) and adds its worst scenario.
        When the restricted master cannot beat the incumbent, the radius grows
        by one.  All rounds share ``certify_time_limit``; the global master may
        use :data:`GLOBAL_SHARE` of it (without a bound in that time the
        rounds go local all the same).  A candidate is evaluated with the
        incumbent as a cut-off: once it is proven no better, its evaluation
        stops and the worst scenario found so far joins the master.
        Polishing stops after ``polish_patience`` rounds in a row without a
        better ``x``.
        """
        from solvers.neur2ro.certify import local_branching_row, scenario_master

        t0 = time.perf_counter()
        stop = t0 + opts.certify_time_limit
        if deadline is not None:
            stop = min(stop, deadline)
        sign = -1.0 if split.sense == "max" else 1.0
        scen = [*run.scenarios, ev.scenario]
        bound: float | None = None
        rounds = 0
        improved = 0
        evaluations = 0
        cutoffs = 0
        message = ""
        radius = opts.polish_radius
        stale = 0
        local = local_branching_row(split, x, radius) is not None

        def met(value: float, b: float) -> bool:
            return bool(abs(value - b) <= opts.gap_tol * max(1.0, abs(value)))

        global_done = False
        for _ in range(opts.certify_rounds):
            left = stop - time.perf_counter()
            if left <= 0.05:
                message = "certification time limit"
                break
            if stale >= opts.polish_patience:
                message = f"no better first stage in {stale} rounds"
                break
            rounds += 1
            if global_done:
                stale += 1  # reset below when the round finds a better x
            glob = not global_done or not local
            tol = opts.gap_tol * max(1.0, abs(ev.objective))
            cut = None if glob or not np.isfinite(ev.objective) else sign * ev.objective - tol
            # the global master gets a share of the budget when local rounds can follow
            # (at n >= 60 it alone used to take all of it, and nothing was polished)
            limit = min(left, GLOBAL_SHARE * opts.certify_time_limit) if glob and local else left
            mb = scenario_master(split, scen, time_limit=limit, seed=seed, start=x,
                                 center=None if glob else x, radius=None if glob else radius,
                                 cutoff=cut)  # fmt: skip
            global_done = True
            if mb.bound is None or (mb.x is None and cut is None):
                message = mb.message
                if glob and local:
                    continue  # no bound in its share of the time: polish locally all the same
                break
            lb = sign * mb.bound
            if glob:
                bound = lb if bound is None else (max(bound, lb) if sign > 0 else min(bound, lb))
                if ev.exact and np.isfinite(ev.objective) and met(ev.objective, bound):
                    message = "the bound meets the incumbent"
                    break
            if mb.x is None or sign * lb >= sign * ev.objective - tol:
                # no better x in the neighbourhood (over these scenarios): widen it
                if not local or radius >= split.nx:
                    message = "no better first stage in reach"
                    break
                radius += 1
                continue
            if np.allclose(mb.x, x):
                continue  # a global master stopped at its limit with the incumbent: go local
            left = stop - time.perf_counter()
            if left <= 0.05:
                message = "certification time limit"
                break
            # mb.x is set here
            # a candidate proven no better than the incumbent is cut off early; its
            # worst scenario found so far still makes a valid master cut
            ev2 = Neur2roBackend._exact(rs, split, mb.x, left, seed, opts.gap_tol,
                                        cutoff=ev.objective if ev.exact else None)  # fmt: skip
            evaluations += 1
            cutoffs += int(ev2.cut_off)
            if ev2.scenario is None:
                message = "the master's x has no worst scenario (it breaks a first-stage row)"
                break
            if ev2.exact and sign * ev2.objective < sign * ev.objective - 1e-9:
                x, ev = mb.x, ev2
                improved += 1
                stale = 0
            if any(np.allclose(ev2.scenario, s, atol=1e-7) for s in scen):
                if not local or radius >= split.nx:
                    message = "the master's worst case is already a scenario"
                    break
                radius += 1
                continue
            scen.append(ev2.scenario)
        info = {
            "certify_rounds": rounds,
            "certify_improved": improved,
            "certify_evaluations": evaluations,
            "certify_cutoffs": cutoffs,
            "certify_bound": bound,
            "certify_radius": radius if local else None,
            "certify_time_s": time.perf_counter() - t0,
            "certify_message": message,
        }
        return x, ev, bound, info

    @staticmethod
    def _exact(
        rs: Any,
        split: Any,
        x: np.ndarray,
        left: float | None,
        seed: int,
        tol: float,
        cutoff: float | None = None,
    ) -> _Eval:
        """The worst case of *x*, proven to the relative *tol* (its conservative side).

        With *cutoff* (model sense) the evaluation stops once *x* is proven no
        better than it (``_Eval.cut_off``; ``exact`` is then False).
        """
        from workbench.robust import evaluate_first_stage

        ev = evaluate_first_stage(rs, split.values_dict(x), time_limit=left, seed=seed, tol=tol,
                                  cutoff=cutoff)  # fmt: skip
        full = np.asarray(ev.xi, dtype=float)
        scenario = full[split.z_cols] if full.size == split.stage.size else None
        values = {**ev.worst_scenario, **ev.recourse_values}
        return _Eval(float(ev.objective), bool(ev.exact), str(ev.method), scenario, values,
                     bool(ev.cut_off))  # fmt: skip

    @staticmethod
    def _evaluate(
        rs: Any,
        split: Any,
        run: Any,
        x: np.ndarray,
        opts: Any,
        deadline: float | None,
        seed: int,
    ) -> _Eval:
        """The worst case of the chosen x, in the model's sense."""
        sign = -1.0 if split.sense == "max" else 1.0
        if opts.exact_eval:
            left = None if deadline is None else max(1.0, deadline - time.perf_counter())
            return Neur2roBackend._exact(rs, split, x, left, seed, opts.gap_tol)
        worst = -np.inf
        for xi in run.scenarios:
            rv = split.recourse_value(x, xi)
            worst = max(worst, rv.value if rv.feasible else np.inf)
        return _Eval(sign * (split.first_stage_cost(x) + worst), False, "scenarios_found", None, {})
