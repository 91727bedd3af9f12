"""Balans vs plain solvers under an equal wall-clock budget (a script that prints a table).

Methods: plain HiGHS, our Balans on HiGHS, our Balans on SCIP, plain SCIP
(the last two when pyscipopt imports), and the ``balans`` package on SCIP
when it is installed (the ``peers`` extra).  For each instance: the primal
gap against the best value any method found and against the MIPLIB
reference where HiGHS verified it, the primal integral, and the arm counts.

Example (a short run)::

    python benchmarks/balans.py --budget 10 --seeds 0 --instances neos5,mas76,pg5_34
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import workbench
from workbench.compile.mps import read_mps

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mip"
DEFAULT_INSTANCES = "neos5,mas76,pg5_34,ran14x18-disj-8,gen-ip002,assign1-5-8"


def primal_gap(v: float | None, best: float | None) -> float:
    """Berthold's primal gap in [0, 1] (1 without a value)."""
    if v is None or best is None:
        return 1.0
    if abs(v - best) < 1e-9:
        return 0.0
    if v * best < 0:
        return 1.0
    return abs(v - best) / max(abs(v), abs(best))


def primal_integral(
    history: list[tuple[float, Any, Any]], best: float | None, budget: float
) -> float:
    """Integral of the primal gap over time, divided by the budget (1 = never a solution)."""
    total, t_prev, g_prev = 0.0, 0.0, 1.0
    for t, p, _ in history:
        t = min(float(t), budget)
        total += g_prev * (t - t_prev)
        t_prev, g_prev = t, primal_gap(p, best)
    total += g_prev * max(0.0, budget - t_prev)
    return total / budget


def run_plain_scip(path: Path, budget: float, seed: int) -> dict[str, Any]:
    from solvers.balans.adapter import to_minimisation
    from solvers.balans.scip_adapter import ScipAdapter

    lf = read_mps(path)
    t0 = time.perf_counter()
    ad = ScipAdapter(to_minimisation(lf), seed=seed)
    res = ad.solve(max(0.1, budget - (time.perf_counter() - t0)))
    sign = -1.0 if lf.sense == "max" else 1.0
    obj = None if res.objective is None else sign * res.objective
    return {"objective": obj, "history": [(time.perf_counter() - t0, obj, None)], "arms": {}}


def run_method(method: str, path: Path, budget: float, seed: int) -> dict[str, Any]:
    """One run; returns objective (model sense), history and arm counts."""
    if method == "scip":
        return run_plain_scip(path, budget, seed)
    if method == "balans-pkg":
        raise RuntimeError("the balans package runner is not wired in this script")
    from solvers.balans.backend import BalansBackend
    from solvers.balans.settings import PRESETS

    opts: dict[str, Any] = {}
    backend = "highs"
    if method.startswith("balans"):
        backend = "balans"
        t = PRESETS["balans22"].times.scaled(budget / 60.0)
        opts = {
            "mip_solver": "scip" if method.endswith("scip") else "highs",
            "time_first_solution": t.first_solution,
            "time_iteration": t.iteration,
            "time_local_branching": t.local_branching,
            "time_crossover": t.crossover,
        }
    r = workbench.solve(path, backend=backend, time_limit=budget, seed=seed, threads=1, **opts)
    hist = r.history
    if backend == "highs":  # HiGHS's clock starts at its run; shift by build/load
        hist = [(t + r.timings.build + r.timings.load, p, d) for t, p, d in hist]
    return {"objective": r.objective, "history": hist, "arms": BalansBackend.describe(r)}


def _reference() -> dict[str, float]:
    refs: dict[str, float] = {}
    with open(DATA / "miplib_small_reference.csv") as f:
        for row in csv.DictReader(f):
            if row["highs_agrees"] == "yes" and row["miplib2017_ref_value"]:
                refs[row["instance"]] = float(row["miplib2017_ref_value"])
    return refs


def main(argv: list[str] | None = None) -> None:
    """Parse options, run every method x instance x seed, print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per run (default 60)")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    ap.add_argument("--instances", default=DEFAULT_INSTANCES, help="comma-separated names")
    ap.add_argument("--methods", default="highs,balans-highs,balans-scip,scip,balans-pkg")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    try:
        import pyscipopt  # noqa: F401
    except ImportError:
        methods = [m for m in methods if "scip" not in m]
        print("pyscipopt missing: SCIP methods skipped")
    from importlib.metadata import PackageNotFoundError, version

    try:  # not "import balans": this script's own name would shadow the package
        version("balans")
    except PackageNotFoundError:
        if "balans-pkg" in methods:
            print("the balans package is not installed (pip install '.[peers]'): skipped")
    else:
        print("the balans package is installed but not wired into this script yet: skipped")
    methods = [m for m in methods if m != "balans-pkg"]
    refs = _reference()
    rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for name in args.instances.split(","):
        path = DATA / "instances" / f"{name}.mps.gz"
        for seed in seeds:
            for m in methods:
                try:
                    rows[name, m].append(run_method(m, path, args.budget, seed))
                except Exception as e:  # a failed run counts as "no solution"
                    print(f"{name} {m} seed {seed}: {type(e).__name__}: {e}")
                    rows[name, m].append({"objective": None, "history": [], "arms": {}})
    print(f"\nbudget {args.budget:g} s, 1 thread, seeds {seeds}")
    head = f"{'instance':<18}{'method':<14}{'mean obj':>14}{'gap best':>10}{'gap ref':>9}{'integral':>10}"
    print(head)
    print("-" * len(head))
    wins = diffs = 0
    for name in args.instances.split(","):
        sense_min = read_mps(DATA / "instances" / f"{name}.mps.gz").sense == "min"
        vals = [
            r["objective"] for m in methods for r in rows[name, m] if r["objective"] is not None
        ]
        best = (min(vals) if sense_min else max(vals)) if vals else None
        mean_gap: dict[str, float] = {}
        for m in methods:
            rs = rows[name, m]
            objs = [r["objective"] for r in rs if r["objective"] is not None]
            g = sum(primal_gap(r["objective"], best) for r in rs) / len(rs)
            gr = (
                sum(primal_gap(r["objective"], refs[name]) for r in rs) / len(rs)
                if name in refs
                else math.nan
            )
            pi = sum(primal_integral(r["history"], best, args.budget) for r in rs) / len(rs)
            mean = sum(objs) / len(objs) if objs else math.nan
            mean_gap[m] = g
            print(f"{name:<18}{m:<14}{mean:>14.6g}{g:>10.4f}{gr:>9.4f}{pi:>10.4f}")
        if {"highs", "balans-highs"} <= set(mean_gap) and abs(
            mean_gap["highs"] - mean_gap["balans-highs"]
        ) > 1e-9:
            diffs += 1
            wins += mean_gap["balans-highs"] < mean_gap["highs"]
    print(
        f"\nBalans-on-HiGHS has the lower primal gap on {wins} of {diffs} instances where they differ"
    )
    print("\narm counts (summed over seeds):")
    for m in methods:
        if not m.startswith("balans"):
            continue
        for name in args.instances.split(","):
            tot: Counter[str] = Counter()
            for r in rows[name, m]:
                tot.update(r["arms"])
            if tot:
                arms = ", ".join(f"{k}={v}" for k, v in tot.items())
                print(f"  {m:<13} {name:<18} {arms}")


if __name__ == "__main__":
    main()
