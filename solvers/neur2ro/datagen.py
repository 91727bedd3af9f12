"""Data generation: sample (x, xi) pairs of robust instances and label them with HiGHS.

First-stage decisions are sampled per entry (binary: Bernoulli with a random
density per sample; otherwise uniform in the bounds, rounded when integer),
and rejected when they break a first-stage-only constraint.  Scenarios are
half extreme points of the uncertainty set (an LP with a random direction)
and half random points on rays from an interior point towards uniform box
points.  Each pair is labelled by solving the recourse problem with HiGHS,
in parallel over worker processes.

``strategy="targeted"`` concentrates the pairs where ML-CCG needs accuracy:
half of the first-stage decisions are bit-flip perturbations of good
decisions (exact scenario-master solutions for the nominal scenario and a few
random extreme scenarios), and most scenarios are extreme points of the
uncertainty set in a direction that weights the items *chosen* by that pair's
``x`` (so the budget is spent where ``x`` is exposed, as the worst case does).
The rest follow the uniform scheme, so the network still sees the whole box.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field

import numpy as np

from solvers.neur2ro.recourse import RobustSplit
from workbench.ir.model import Model

__all__ = [
    "STRATEGIES",
    "LabelledData",
    "generate",
    "sample_first_stage",
    "sample_good_first_stage",
    "sample_scenarios",
    "sample_targeted_scenarios",
]

STRATEGIES = ("uniform", "targeted")


@dataclass
class LabelledData:
    """Samples of one or more instances: ``Q(xs[k], zs[k]) = labels[k]`` for ``models[inst[k]]``."""

    models: list[Model]
    inst: np.ndarray
    xs: list[np.ndarray]
    zs: list[np.ndarray]
    labels: np.ndarray
    infeasible: int = 0
    seconds: float = 0.0
    workers: int = 1
    extra: dict[str, float] = field(default_factory=dict)


def sample_first_stage(split: RobustSplit, rng: np.random.Generator, k: int) -> np.ndarray:
    """*k* first-stage vectors, ``(k, nx)``, satisfying the first-stage-only rows where possible."""
    lo, hi = split.x_lb, split.x_ub
    binary = split.x_integer & (lo == 0) & (hi == 1)
    B, blo, bhi = split.fs_rows
    out = np.empty((k, split.nx))
    for s in range(k):
        for _ in range(50):
            p = rng.uniform(0.05, 0.95)
            x = lo + rng.random(split.nx) * (hi - lo)
            x = np.where(split.x_integer, np.round(x), x)
            x = np.where(binary, (rng.random(split.nx) < p).astype(float), x)
            if B.shape[0] == 0:
                break
            ax = B @ x
            if np.all(ax >= blo - 1e-9) and np.all(ax <= bhi + 1e-9):
                break
        out[s] = x
    return out


def _interior(split: RobustSplit, rng: np.random.Generator) -> np.ndarray:
    vs = [_vertex(split, rng.standard_normal(split.nz)) for _ in range(4)]
    good = [v for v in vs if v is not None]
    if not good:
        return split.z_lb.copy()
    return np.asarray(np.mean(good, axis=0))


def _vertex(split: RobustSplit, d: np.ndarray) -> np.ndarray | None:
    from solvers.neur2ro.milp import solve_milp

    out = solve_milp(
        -d,
        split.U,
        split.u_lo,
        split.u_hi,
        split.z_lb,
        split.z_ub,
        np.zeros(split.nz, dtype=bool),
    )
    return out.x if out.ok else None


def _feasible_ray(split: RobustSplit, c0: np.ndarray, u: np.ndarray) -> float:
    """The largest t in [0, 1] with ``c0 + t (u - c0)`` in the uncertainty set."""
    if split.U.shape[0] == 0:
        return 1.0
    a = split.U @ c0
    d = split.U @ (u - c0)
    t = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(d > 1e-12, (split.u_hi - a) / d, np.inf)
        dn = np.where(d < -1e-12, (split.u_lo - a) / d, np.inf)
    t = min(t, float(np.min(up, initial=np.inf)), float(np.min(dn, initial=np.inf)))
    return max(0.0, t)


def sample_scenarios(split: RobustSplit, rng: np.random.Generator, k: int) -> np.ndarray:
    """*k* scenarios in the uncertainty set, ``(k, nz)``: half vertices, half ray points."""
    c0 = _interior(split, rng)
    out = np.empty((k, split.nz))
    for s in range(k):
        v = _vertex(split, rng.standard_normal(split.nz)) if rng.random() < 0.5 else None
        if v is None:
            u = split.z_lb + rng.random(split.nz) * (split.z_ub - split.z_lb)
            t = _feasible_ray(split, c0, u) * rng.uniform(0.5, 1.0)
            v = c0 + t * (u - c0)
        out[s] = np.clip(v, split.z_lb, split.z_ub)
    return out


def _fs_ok(split: RobustSplit, x: np.ndarray) -> bool:
    B, blo, bhi = split.fs_rows
    if B.shape[0] == 0:
        return True
    ax = B @ x
    return bool(np.all(ax >= blo - 1e-9) and np.all(ax <= bhi + 1e-9))


def sample_good_first_stage(
    split: RobustSplit, rng: np.random.Generator, k: int, *, anchors: int = 4
) -> np.ndarray:
    """*k* first-stage vectors near good decisions, ``(k, nx)``.

    The anchors are exact scenario-master solutions for the nominal (lower-bound)
    scenario and ``anchors - 1`` random extreme scenarios; each sample flips every
    binary entry of a random anchor with a small random probability (other entries
    get a small uniform perturbation) and keeps the anchor when the flip breaks a
    first-stage-only row.  Falls back to :func:`sample_first_stage` when no master
    is solvable (e.g. a bilinear recourse).
    """
    from solvers.neur2ro.certify import scenario_master

    scen = [split.z_lb.copy()]
    for _ in range(max(0, anchors - 1)):
        v = _vertex(split, rng.standard_normal(split.nz))
        if v is not None:
            scen.append(np.clip(v, split.z_lb, split.z_ub))
    good: list[np.ndarray] = []
    for xi in scen:
        mb = scenario_master(split, [xi], time_limit=5.0, seed=int(rng.integers(1 << 30)))
        if mb.x is not None:
            good.append(np.clip(mb.x, split.x_lb, split.x_ub))
    if not good:
        return sample_first_stage(split, rng, k)
    lo, hi = split.x_lb, split.x_ub
    binary = split.x_integer & (lo == 0) & (hi == 1)
    out = np.empty((k, split.nx))
    for s in range(k):
        a = good[int(rng.integers(len(good)))]
        q = rng.uniform(0.0, 0.2)
        x = a.copy()
        for _ in range(20):
            flip = binary & (rng.random(split.nx) < q)
            x = np.where(flip, 1.0 - a, a)
            cont = ~binary
            if np.any(cont):
                step = (hi - lo) * q * rng.standard_normal(split.nx)
                step = np.where(np.isfinite(step), step, 0.0)
                x = np.where(cont, np.clip(a + step, lo, hi), x)
                x = np.where(split.x_integer, np.round(x), x)
            if _fs_ok(split, x):
                break
            x = a.copy()
        out[s] = x
    return out


def _item_maps(split: RobustSplit) -> tuple[np.ndarray, np.ndarray] | None:
    """``(x_pos, z_pos)`` item maps when x and xi share one item index, else ``None``.

    The contract mode (xi global, contracted per item) has no per-item xi entries
    to aim at: ``None``, so its scenarios are random directions as in the global mode.
    """
    from solvers.neur2ro.features import instance_features

    try:
        f = instance_features(split)
    except Exception:  # noqa: BLE001 - a family without item structure: no targeting
        return None
    if f.layout.z_mode != "item" or f.layout.kz == 0:
        return None
    return f.x_pos, f.z_pos


def sample_targeted_scenarios(
    split: RobustSplit, rng: np.random.Generator, xs: np.ndarray
) -> np.ndarray:
    """One scenario per row of *xs*: an extreme point aimed at the items that x uses.

    The LP direction is ``u_i * (w + x_i)`` on every uncertain entry of item ``i``
    (``u ~ U(0, 1)``, ``w ~ U(0, 0.3)`` per sample, ``x_i`` the item's normalised
    first-stage entries summed), so the budget lands mostly on chosen items, in a
    random subset; a quarter of the points are pulled back towards the interior.
    Without a shared item index the directions are random (as in
    :func:`sample_scenarios`).
    """
    maps = _item_maps(split)
    k = xs.shape[0]
    out = np.empty((k, split.nz))
    c0 = _interior(split, rng)
    span = np.where(split.x_ub > split.x_lb, split.x_ub - split.x_lb, 1.0)
    for s in range(k):
        if maps is None:
            d = rng.standard_normal(split.nz)
        else:
            xpos, zpos = maps
            xn = ((xs[s] - split.x_lb) / span)[xpos].sum(axis=1)  # (n_items,)
            w = rng.uniform(0.0, 0.3)
            u = rng.random(xn.shape[0]) * (w + xn)
            d = np.zeros(split.nz)
            for j in range(zpos.shape[1]):
                d[zpos[:, j]] = u
        v = _vertex(split, d)
        if v is None:
            v = c0
        elif rng.random() < 0.25:
            v = c0 + rng.uniform(0.6, 1.0) * (v - c0)
        out[s] = np.clip(v, split.z_lb, split.z_ub)
    return out


def _label_all(
    tasks: list[tuple[Model, np.ndarray, np.ndarray]], workers: int, deadline: float | None
) -> list[np.ndarray]:
    """Labels of the tasks, in order; with a *deadline*, those of the first tasks done by it."""
    out: list[np.ndarray] = []
    if workers == 1:
        for t in tasks:
            if out and deadline is not None and time.perf_counter() >= deadline:
                break
            out.append(_label(t))
        return out
    ex = ProcessPoolExecutor(max_workers=workers)
    try:
        futures = [ex.submit(_label, t) for t in tasks]
        for f in futures:
            if deadline is None:
                out.append(f.result())
                continue
            try:
                out.append(f.result(timeout=max(0.0, deadline - time.perf_counter())))
            except FuturesTimeout:
                if out:
                    break
                out.append(f.result())  # at least one chunk
        return out
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _label(args: tuple[Model, np.ndarray, np.ndarray]) -> np.ndarray:
    """Worker: recourse values of pairs of one instance (``nan`` when infeasible)."""
    from workbench.compile.structure import compile_structure

    model, xs, zs = args
    split = RobustSplit(compile_structure(model))
    out = np.empty(xs.shape[0])
    for k in range(xs.shape[0]):
        rv = split.recourse_value(xs[k], zs[k])
        out[k] = rv.value if rv.feasible else np.nan
    return out


def generate(
    models: list[Model],
    *,
    samples_per_instance: int,
    seed: int | np.random.Generator | None = 0,
    workers: int | None = None,
    chunk: int = 200,
    strategy: str = "uniform",
    targeted_fraction: float = 0.7,
    time_limit: float | None = None,
) -> LabelledData:
    """Sample and label pairs for every instance in *models*.

    Parameters
    ----------
    models
        Instances of one family.
    samples_per_instance
        Pairs per instance (one x and one scenario each).
    seed
        Seeds the sampling (labels are deterministic).
    workers
        Worker processes for the labelling (``None``: the CPU count; 1: in-process).
    chunk
        Pairs per worker task.
    strategy
        ``"uniform"`` (module doc) or ``"targeted"``: half the decisions near good
        ones and *targeted_fraction* of the scenarios aimed at the chosen items.
    targeted_fraction
        Share of targeted scenarios under ``strategy="targeted"``.
    time_limit
        Seconds for the labelling: chunks are labelled in order and those not
        done by then are dropped (at least one chunk is always labelled; the
        data then depend on the machine's speed).  ``None``: every pair.

    Returns
    -------
    LabelledData
        Infeasible pairs are dropped and counted.
    """
    from workbench.compile.structure import compile_structure

    if strategy not in STRATEGIES:
        raise ValueError(f"datagen strategy must be one of {STRATEGIES}, got {strategy!r}")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    tasks: list[tuple[Model, np.ndarray, np.ndarray]] = []
    owner: list[int] = []
    for i, m in enumerate(models):
        split = RobustSplit(compile_structure(m))
        if strategy == "targeted":
            kg = samples_per_instance // 2
            xs = np.concatenate(
                [
                    sample_good_first_stage(split, rng, kg),
                    sample_first_stage(split, rng, samples_per_instance - kg),
                ]
            )
            xs = xs[rng.permutation(samples_per_instance)]
            kt = int(round(targeted_fraction * samples_per_instance))
            zs = np.concatenate(
                [
                    sample_targeted_scenarios(split, rng, xs[:kt]),
                    sample_scenarios(split, rng, samples_per_instance - kt),
                ]
            )
        else:
            xs = sample_first_stage(split, rng, samples_per_instance)
            zs = sample_scenarios(split, rng, samples_per_instance)
        for a in range(0, samples_per_instance, chunk):
            tasks.append((m, xs[a : a + chunk], zs[a : a + chunk]))
            owner.append(i)
    t_sample = time.perf_counter() - t0
    nw = workers if workers is not None else (os.cpu_count() or 1)
    nw = max(1, min(nw, len(tasks)))
    deadline = None if time_limit is None else t0 + float(time_limit)
    labelled = _label_all(tasks, nw, deadline)
    tasks, owner = tasks[: len(labelled)], owner[: len(labelled)]
    inst, xs_all, zs_all, labs = [], [], [], []
    infeasible = 0
    for (_, xs, zs), i, lab in zip(tasks, owner, labelled):
        for k in range(lab.shape[0]):
            if not np.isfinite(lab[k]):
                infeasible += 1
                continue
            inst.append(i)
            xs_all.append(xs[k])
            zs_all.append(zs[k])
            labs.append(lab[k])
    return LabelledData(
        models=list(models),
        inst=np.asarray(inst, dtype=np.int64),
        xs=xs_all,
        zs=zs_all,
        labels=np.asarray(labs, dtype=float),
        infeasible=infeasible,
        seconds=time.perf_counter() - t0,
        workers=nw,
        extra={"sampling_s": t_sample},
    )
