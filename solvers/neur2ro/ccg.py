"""ML-CCG over the embedded network, in the max form or the argmax form (Neur2RO's).

Argmax form (``main_form="argmax"``), over the ``scenarios`` found so far::

    min c x + theta
    s.t. a >= Q̂(x, xi_k)                    for every k   (a = max_k Q̂)
         a <= Q̂(x, xi_k) + M (1 - s_k),  sum_k s_k = 1     (s picks an argmax)
         theta >= f(x, y_k, xi_k) - M (1 - s_k)             (the exact recourse cost there)
         y_k in Y(x, xi_k)                   for every k,   first-stage rows,

so the network only ranks the scenarios: the cost charged is the exact
recourse cost in the scenario it predicts to be the worst (one copy of the
recourse per scenario; every copy must be feasible, which a robust x
satisfies anyway).  Max form (``main_form="max"``, the default: it gave the
better first stages on the knapsack family; also the fallback when the
recourse is not linear in x and y at a fixed scenario or has unbounded
columns)::

    min c x + theta   s.t.  theta >= Q̂(x, xi_k)  for every k,  first-stage rows.

The x-embedding is embedded once and the value head once per scenario (the
scenario embeddings are constants).  Adversarial problem at a fixed ``x̄``::

    max_{xi in U} Q̂(x̄, xi)

with the x-embedding a constant.  A scenario is added while the adversary's
value exceeds ``max_k Q̂(x̄, xi_k)`` by more than the tolerance.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from solvers.neur2ro.datagen import sample_scenarios
from solvers.neur2ro.embed import Aff, MilpBuilder, check_relu
from solvers.neur2ro.features import InstanceFeatures
from solvers.neur2ro.milp import MilpOut, MilpStatus, solve_milp
from solvers.neur2ro.network import NetWeights
from solvers.neur2ro.options import Neur2roOptions
from solvers.neur2ro.recourse import RobustSplit

__all__ = [
    "CcgOutcome",
    "CcgRun",
    "adversarial",
    "argmax_applicable",
    "main_problem",
    "run_ccg",
]


class CcgOutcome(enum.Enum):
    """How the ML-CCG loop ended."""

    CONVERGED = "converged"
    STALLED = "stalled"  # the adversary returned a scenario already in the main problem
    ITERATION_LIMIT = "iteration_limit"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    ERROR = "error"


@dataclass
class CcgRun:
    """The loop's outcome and what it found (predicted values are in the minimised sense)."""

    outcome: CcgOutcome
    x: np.ndarray | None
    predicted: float | None  # c x + max_xi Q̂(x, xi) of the returned x
    lower: float | None  # last main objective
    scenarios: list[np.ndarray]
    iterations: int
    history: list[tuple[float, float | None, float | None]] = field(default_factory=list)
    main_binaries: int = 0
    adversarial_binaries: int = 0
    message: str = ""
    form: str = "max"  # the main problem's form actually used


def _input_aff(
    b: MilpBuilder, cols: np.ndarray, pos: np.ndarray, lo: np.ndarray, span: np.ndarray
) -> Aff:
    """Normalised inputs ``(v[pos] - lo[pos]) / span[pos]`` as expressions over *cols*."""
    p = pos.reshape(-1)
    k = p.shape[0]
    M = sp.csr_matrix((1.0 / span[p], (np.arange(k), cols[p])), shape=(k, b.n))
    return Aff(M, -lo[p] / span[p], np.zeros(k), np.ones(k))


def _scale(a: Aff, s: float, n: int) -> Aff:
    return Aff(sp.csr_matrix(a.pad(n) * s), a.c * s, a.lo * s, a.hi * s)


def _out(q: Aff, scale: float, shift: float, n: int) -> Aff:
    """``scale * q + shift`` (bounds in the right order for either sign of *scale*)."""
    lo, hi = q.lo * scale + shift, q.hi * scale + shift
    return Aff(sp.csr_matrix(q.pad(n) * scale), q.c * scale + shift, np.minimum(lo, hi),
               np.maximum(lo, hi))  # fmt: skip


def main_problem(
    split: RobustSplit,
    f: InstanceFeatures,
    net: NetWeights,
    scenarios: list[np.ndarray],
    opts: Neur2roOptions,
    time_limit: float | None,
    seed: int = 0,
    x_start: np.ndarray | None = None,
    feasibility: bool = False,
    form: str = "max",
) -> tuple[MilpOut, int]:
    """Solve the main MILP; the point's first ``nx`` entries are x and entry ``nx`` is theta.

    *form* is ``"argmax"`` or ``"max"`` (see the module doc; check
    :func:`argmax_applicable` first).  *x_start* (e.g. the previous main
    solution) warm-starts HiGHS.  With *feasibility* (max form), every scenario
    also gets a copy of the recourse rows (no cost): x must leave a feasible
    recourse there, which the network, trained on feasible pairs only, cannot
    say.  The argmax form has those copies anyway.
    """
    b = MilpBuilder(loose_m=opts.loose_m if opts.embedding == "bigm_loose" else None)
    c_fs = split.first_stage_c()
    x = b.add_cols(split.x_lb, split.x_ub, split.x_integer, cost=c_fs)
    theta = b.add_cols(np.array([-np.inf]), np.array([np.inf]), False, cost=np.ones(1))
    B, blo, bhi = split.fs_rows
    if B.shape[0]:
        b.add_rows(sp.csr_matrix(B), blo, bhi)
    lay = net.layout
    inputs = _input_aff(b, x, f.x_pos, f.x_lo, f.x_span)
    shortcut = lay.kx == 1 and bool(np.all(split.x_integer & (split.x_lb == 0) & (split.x_ub == 1)))
    pooled = b.item_sum(
        net.phi_x, inputs, f.n_items, lay.kx, net.static(f), binary_shortcut=shortcut
    )
    ex = b.mlp(net.rho_x, _scale(pooled, 1.0 / net.pool, b.n))
    g = net.glob(f)
    preds: list[Aff] = []  # Q̂(x, xi_k) in the model's units
    for xi in scenarios:
        ez = net.embed_z(f, xi)
        h = ex.stack(Aff.const(np.concatenate([ez, g]), b.n), b.n)
        q = b.mlp(net.value, h, last_relu=False)
        preds.append(_out(q, net.out_scale, net.out_shift, b.n))
    extra_start: dict[int, float] = {}
    if form == "argmax":
        st = None
        if x_start is not None:
            xs0 = np.asarray(x_start, dtype=float)
            st = (xs0, [net.predict(f, xs0, xi) for xi in scenarios])
        extra_start = _argmax_rows(b, split, x, int(theta[0]), preds, scenarios, st)
    else:
        for pred in preds:  # theta - Q̂_k >= 0
            row = sp.csr_matrix(([1.0], ([0], [theta[0]])), shape=(1, b.n)) - pred.pad(b.n)
            b.add_rows(row, np.array([pred.c[0]]), np.array([np.inf]))
        if feasibility:
            _feasibility_rows(b, split, x, scenarios)
    c, A, rlo, rhi, clb, cub, integ = b.assemble()
    start = None
    if x_start is not None:
        xs = np.asarray(x_start, dtype=float)
        th = extra_start.pop(int(theta[0]), None)
        if th is None:
            th = max(net.predict(f, xs, xi) for xi in scenarios)
        full = b.complete(np.concatenate([x, theta]), np.concatenate([xs, [th]]))
        for j, v in extra_start.items():
            full[j] = v
        start = (np.arange(b.n), full)
    out = solve_milp(c, A, rlo, rhi, clb, cub, integ, offset=split.fs_const,
                     time_limit=time_limit, mip_rel_gap=opts.mip_rel_gap, seed=seed,
                     start=start)  # fmt: skip
    if out.x is not None:
        out.x = out.x[: split.nx + 1]
    return out, b.binaries


def argmax_applicable(split: RobustSplit) -> bool:
    """Whether the argmax form applies: recourse linear in (x, y) at a fixed scenario, y bounded."""
    from solvers.neur2ro.certify import _linear_in_x

    ylb, yub = split.col_lb[split.y_cols], split.col_ub[split.y_cols]
    if split.ny and not (np.all(np.isfinite(ylb)) and np.all(np.isfinite(yub))):
        return False
    xi = (split.z_lb + split.z_ub) / 2
    return all(_linear_in_x(split, part, xi) is not None for part in (split.obj, *split.rows))


def _interval(M: sp.csr_matrix, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``M v`` for ``lo <= v <= hi``."""
    Mp, Mn = M.maximum(0), M.minimum(0)
    return Mp @ lo + Mn @ hi, Mp @ hi + Mn @ lo


def _argmax_rows(
    b: MilpBuilder,
    split: RobustSplit,
    x: np.ndarray,
    theta: int,
    preds: list[Aff],
    scenarios: list[np.ndarray],
    start: tuple[np.ndarray, list[float]] | None,
) -> dict[int, float]:
    """Add the argmax-form rows (module doc); return start values of the new columns."""
    from solvers.neur2ro.certify import _linear_in_x

    K = len(preds)
    a = b.add_cols(np.array([-np.inf]), np.array([np.inf]), False)
    s = b.add_cols(np.zeros(K), np.ones(K), True)
    b.add_rows(sp.csr_matrix((np.ones(K), (np.zeros(K, int), s)), shape=(1, b.n)),
               np.ones(1), np.ones(1))  # fmt: skip
    p_lo = np.array([p.lo[0] for p in preds])
    p_hi = np.array([p.hi[0] for p in preds])
    a_hi = float(p_hi.max())
    e = sp.csr_matrix
    for k, pred in enumerate(preds):
        # a - Q̂_k >= 0  and  a - Q̂_k + (a_hi - lo_k) s_k <= a_hi - lo_k
        m = a_hi - p_lo[k]
        base = e(([1.0], ([0], [a[0]])), shape=(1, b.n)) - pred.pad(b.n)
        b.add_rows(base, np.array([pred.c[0]]), np.array([np.inf]))
        b.add_rows(base + e(([m], ([0], [s[k]])), shape=(1, b.n)), np.array([-np.inf]),
                   np.array([m + pred.c[0]]))  # fmt: skip
    ylb, yub = split.col_lb[split.y_cols], split.col_ub[split.y_cols]
    obj_rows: list[tuple[sp.csr_matrix, sp.csr_matrix, float, np.ndarray]] = []
    ys: list[np.ndarray] = []
    for xi in scenarios:
        y = _recourse_copy(b, split, x, xi)
        assert y is not None  # argmax_applicable
        ys.append(y)
        ob = _linear_in_x(split, split.obj, xi)
        assert ob is not None
        Dx, const, Ay = ob
        lo_x, hi_x = _interval(sp.csr_matrix(Dx), split.x_lb, split.x_ub)
        lo_y, hi_y = _interval(sp.csr_matrix(Ay), ylb, yub)
        obj_rows.append((sp.csr_matrix(Dx), sp.csr_matrix(Ay), float(const[0]),
                         np.array([lo_x[0] + lo_y[0], hi_x[0] + hi_y[0]]) + const[0]))  # fmt: skip
    low = min(r[3][0] for r in obj_rows)
    for k, (Dk, Ak, ck, (_, hi)) in enumerate(obj_rows):
        # theta - f_k(x, y_k) - M s_k >= const_k - M   (slack unless s_k = 1)
        m = float(hi - low)
        R = sp.lil_matrix((1, b.n))
        R[0, theta] = 1.0
        R[0, x] = -Dk
        R[0, ys[k]] = -Ak
        R[0, s[k]] = -m
        b.add_rows(sp.csr_matrix(R), np.array([ck - m]), np.array([np.inf]))
    if start is None:
        return {}
    # a start: every copy at its own best recourse, s at the predicted argmax
    xs, qv = start
    out: dict[int, float] = {}
    vals = []
    for k, xi in enumerate(scenarios):
        rv = split.recourse_value(xs, xi, time_limit=5.0)
        if not rv.feasible or rv.y is None:
            return {}  # x_start has no recourse there: HiGHS completes what it can
        vals.append(rv.value)
        out.update({int(j): float(v) for j, v in zip(ys[k], rv.y)})
    top = int(np.argmax(qv))
    out[int(a[0])] = float(qv[top])
    out.update({int(j): float(k == top) for k, j in enumerate(s)})
    out[theta] = float(vals[top])
    return out


def adversarial(
    split: RobustSplit,
    f: InstanceFeatures,
    net: NetWeights,
    x: np.ndarray,
    opts: Neur2roOptions,
    time_limit: float | None,
    seed: int = 0,
    candidates: list[np.ndarray] | None = None,
    beyond: float | None = None,
) -> tuple[MilpOut, int]:
    """Solve ``max_{xi in U} Q̂(x, xi)``; the point is xi and the objective ``Q̂`` (maximised).

    The best of *candidates* (scenarios in ``U``, by the network's value) warm-starts
    HiGHS; when the MILP ends without an incumbent it is returned instead
    (status FEASIBLE, native ``"candidate"``).  With *beyond* (``theta`` plus the
    tolerance) only scenarios with ``Q̂ > beyond`` are searched for: INFEASIBLE
    (native ``kInfeasible``, or the best candidate with ``native="none_beyond"``)
    proves there is none.
    """
    b = MilpBuilder(loose_m=opts.loose_m if opts.embedding == "bigm_loose" else None)
    z = b.add_cols(split.z_lb, split.z_ub, False)
    if split.U.shape[0]:
        b.add_rows(split.U, split.u_lo, split.u_hi)
    lay = net.layout
    ex = net.embed_x(f, x)
    if lay.z_mode == "contract" and f.z_map is not None and f.z_off is not None:
        # inputs[i * kz + k] = z_map[i, k] @ xi + z_off[i, k], bounded over the box
        A = sp.csr_matrix(f.z_map.reshape(f.n_items * lay.kz, split.nz))
        c0 = f.z_off.reshape(-1)
        lo, hi = _interval(A, split.z_lb, split.z_ub)
        sel = sp.csr_matrix((np.ones(split.nz), (np.arange(split.nz), z)), shape=(split.nz, b.n))
        inputs = Aff(sp.csr_matrix(A @ sel), c0, lo + c0, hi + c0)
    else:
        inputs = _input_aff(b, z, f.z_pos, f.z_lo, f.z_span)
    if lay.z_mode in ("item", "contract"):
        pooled = b.item_sum(
            net.phi_z, inputs, f.n_items, lay.kz, net.static(f), binary_shortcut=False
        )
        ez = b.mlp(net.rho_z, _scale(pooled, 1.0 / net.pool, b.n))
    else:
        ez = b.mlp(net.rho_z, inputs)
    h = Aff.const(ex, b.n).stack(ez, b.n).stack(Aff.const(net.glob(f), b.n), b.n)
    q = b.mlp(net.value, h, last_relu=False)
    c, A, rlo, rhi, clb, cub, integ = b.assemble()
    c = -net.out_scale * np.asarray(q.pad(b.n).toarray()).ravel()
    offset = -(net.out_scale * q.c[0] + net.out_shift)
    best: tuple[float, np.ndarray] | None = None
    for xi in candidates or []:
        v = net.head(f, ex, net.embed_z(f, xi))
        if best is None or v > best[0]:
            best = (v, np.asarray(xi, dtype=float))
    start = None if best is None else (np.arange(b.n), b.complete(z, best[1]))
    out = solve_milp(c, A, rlo, rhi, clb, cub, integ, offset=offset,
                     time_limit=time_limit, mip_rel_gap=opts.mip_rel_gap, seed=seed,
                     start=start, cutoff=None if beyond is None else -beyond)  # fmt: skip
    if beyond is not None and out.status is MilpStatus.INFEASIBLE and best is not None:
        return MilpOut(
            MilpStatus.FEASIBLE, "none_beyond", best[0], beyond, best[1].copy()
        ), b.binaries
    if out.x is not None:
        out.x = out.x[: split.nz]
        out.objective = -float(out.objective) if out.objective is not None else None
        out.bound = -float(out.bound) if out.bound is not None else None
    if (
        beyond is not None
        and out.status is MilpStatus.OPTIMAL
        and out.objective is not None
        and out.objective <= beyond
    ):
        out.native = "none_beyond"  # solved to optimality (an LP ignores the cut-off)
        return out, b.binaries
    if best is not None and (not out.ok or out.objective is None or out.objective < best[0]):
        out = MilpOut(MilpStatus.FEASIBLE, "candidate", best[0], out.bound, best[1].copy())
    return out, b.binaries


def _recourse_copy(
    b: MilpBuilder, split: RobustSplit, x: np.ndarray, xi: np.ndarray
) -> np.ndarray | None:
    """A fresh copy y of the recourse columns with its rows at *xi* (x the columns *x*).

    Returns the copy's columns, or ``None`` (nothing added) when a row is not
    linear in (x, y) at a fixed scenario.
    """
    from solvers.neur2ro.certify import _linear_in_x

    lins = [_linear_in_x(split, part, xi) for part in split.rows]
    if any(lin is None for lin in lins):
        return None
    y = b.add_cols(split.col_lb[split.y_cols], split.col_ub[split.y_cols],
                   split.integ[split.y_cols])  # fmt: skip
    for lin, plo, phi in zip(lins, split.row_lo, split.row_hi):
        assert lin is not None
        Dx, const, Ay = lin
        M = sp.lil_matrix((Dx.shape[0], b.n))
        M[:, x] = Dx
        M[:, y] = Ay
        b.add_rows(sp.csr_matrix(M), plo - const, phi - const)
    return y


def _feasibility_rows(
    b: MilpBuilder, split: RobustSplit, x: np.ndarray, scenarios: list[np.ndarray]
) -> None:
    """Recourse rows with a fresh copy of y per scenario (x the columns *x*)."""
    for xi in scenarios:
        if _recourse_copy(b, split, x, xi) is None:
            return


def may_be_infeasible(split: RobustSplit, seed: int, k: int = 16) -> bool:
    """Whether some of *k* sampled (x, xi) pairs leave no feasible recourse."""
    from solvers.neur2ro.datagen import sample_first_stage

    rng = np.random.default_rng(seed)
    xs = sample_first_stage(split, rng, k)
    zs = sample_scenarios(split, rng, k)
    return any(not split.recourse_value(x, z).feasible for x, z in zip(xs, zs))


def _initial_x(split: RobustSplit) -> np.ndarray:
    """``argmin c x`` over the first-stage rows (the first main problem has no scenario)."""
    B, blo, bhi = split.fs_rows
    out = solve_milp(split.first_stage_c(), sp.csr_matrix(B), blo, bhi, split.x_lb, split.x_ub,
                     split.x_integer, time_limit=10.0)  # fmt: skip
    if out.x is not None:
        return out.x
    return np.clip(np.zeros(split.nx), split.x_lb, split.x_ub)


def run_ccg(
    split: RobustSplit,
    f: InstanceFeatures,
    net: NetWeights,
    opts: Neur2roOptions,
    *,
    deadline: float | None = None,
    seed: int = 0,
) -> CcgRun:
    """Run ML-CCG until the gap closes, a limit is hit, or the adversary repeats itself."""
    check_relu(net.activation)
    t0 = time.perf_counter()

    def left() -> float:
        cap = opts.subproblem_time_limit
        return cap if deadline is None else min(cap, deadline - time.perf_counter())

    x0 = _initial_x(split)
    feas = may_be_infeasible(split, seed)
    form = opts.main_form if opts.main_form == "max" or argmax_applicable(split) else "max"
    pool = list(sample_scenarios(split, np.random.default_rng(seed), 32))
    adv, nb_adv = adversarial(split, f, net, x0, opts, left(), seed, pool)
    if not adv.ok or adv.x is None:
        return CcgRun(CcgOutcome.ERROR, None, None, None, [], 0,
                      message=f"adversarial problem: {adv.native}")  # fmt: skip
    scenarios = [adv.x]
    best_x: np.ndarray | None = None
    best_pred: float | None = None
    lower: float | None = None
    history: list[tuple[float, float | None, float | None]] = []
    outcome = CcgOutcome.ITERATION_LIMIT
    nb_main = 0
    it = 0
    for _ in range(opts.max_iterations):
        it += 1
        rem = left()
        if rem <= 0:
            outcome = CcgOutcome.TIME_LIMIT
            break
        main, nb_main = main_problem(split, f, net, scenarios, opts, rem, seed, x_start=best_x,
                                     feasibility=feas, form=form)  # fmt: skip
        if not main.ok or main.x is None or main.objective is None:
            outcome = CcgOutcome.INFEASIBLE if main.status.value == "infeasible" else (
                CcgOutcome.TIME_LIMIT if main.status.value == "limit" else CcgOutcome.ERROR)  # fmt: skip
            break
        x = np.where(split.x_integer, np.round(main.x[: split.nx]), main.x[: split.nx])
        theta = float(main.x[split.nx])
        lower = float(main.objective)
        # the predicted worst case over the scenarios so far (= theta in the max form)
        q_top = theta if form == "max" else max(net.predict(f, x, xi) for xi in scenarios)
        tol = opts.gap_tol * max(1.0, abs(q_top))
        adv, nb_adv = adversarial(split, f, net, x, opts, left(), seed, pool + scenarios,
                                  beyond=q_top + tol)  # fmt: skip
        if not adv.ok or adv.x is None or adv.objective is None:
            outcome = CcgOutcome.TIME_LIMIT if adv.status.value == "limit" else CcgOutcome.ERROR
            if best_x is None:
                best_x = x
            break
        if feas:  # a sampled scenario that leaves x no recourse is a feasibility cut
            bad = [xi for xi in pool if not split.recourse_value(x, xi).feasible]
            if bad:
                scenarios.append(bad[0])
                continue
        none_beyond = adv.native == "none_beyond" or float(adv.objective) - q_top <= tol
        if form == "max":
            q_x = q_top if adv.native == "none_beyond" else float(adv.objective)
        elif none_beyond:
            q_x = theta  # exact recourse cost in the predicted worst scenario
        else:  # the adversary's scenario is the new predicted worst: its exact cost
            rv = split.recourse_value(x, adv.x, time_limit=left())
            q_x = rv.value if rv.feasible else float("inf")
        pred = split.first_stage_cost(x) + q_x
        if best_pred is None or pred < best_pred - 1e-9:
            best_x, best_pred = x, pred
        history.append((time.perf_counter() - t0, best_pred, lower))
        if none_beyond:
            outcome = CcgOutcome.CONVERGED
            best_x, best_pred = x, pred  # the converged main solution
            break
        if any(np.allclose(adv.x, s, atol=1e-7) for s in scenarios):
            outcome = CcgOutcome.STALLED
            break
        scenarios.append(adv.x)
    return CcgRun(
        outcome=outcome,
        x=best_x,
        predicted=best_pred,
        lower=lower,
        scenarios=scenarios,
        iterations=it,
        history=history,
        main_binaries=nb_main,
        adversarial_binaries=nb_adv,
        form=form,
    )
