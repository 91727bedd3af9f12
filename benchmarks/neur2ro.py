"""Benchmark the ``neur2ro`` backend against the published Neur2RO and branch-and-price figures.

A stratified sample of the two-stage robust knapsack archive (every
correlation type at each chosen size) is solved with the shipped model;
each row gives our profit, the relative error to the best known
(branch-and-price, Arslan & Detienne), the time, and the published Neur2RO
profit and time beside it.  Data generation and training time are those
recorded in the shipped model (``benchmarks/neur2ro_train.py``).
Capital budgeting is not benchmarked yet (no shipped model for that family).

Run::

    python benchmarks/neur2ro.py --sizes 20 30 --per-cell 1 --time-limit 60
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path
from typing import Any

import workbench
from problems.robust import iter_knapsack_instances, knapsack_model
from solvers.neur2ro import store
from workbench.datasets import shared_data_dir

KP = "two_stage_ro/knapsack"


def _csv(path: Path, key: str) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8-sig") as fh:
        return {row[key]: row for row in csv.DictReader(fh)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 30])
    ap.add_argument("--per-cell", type=int, default=1, help="instances per (type, size)")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--certify-rounds",
        type=int,
        default=None,
        help="exact scenario-master rounds after ML-CCG (0: the plain Neur2RO x; "
        "default: the backend's)",
    )
    ap.add_argument("--certify-time", type=float, default=None,
                    help="seconds of exact polishing (default: the backend's)")  # fmt: skip
    ap.add_argument("--model-path", default=None, help="a model file instead of the shipped one")
    args = ap.parse_args(argv)
    extra: dict[str, Any] = {} if args.model_path is None else {"model_path": args.model_path}
    if args.certify_rounds is not None:
        extra["certify_rounds"] = args.certify_rounds
    if args.certify_time is not None:
        extra["certify_time_limit"] = args.certify_time

    root = shared_data_dir()
    if root is None:
        raise SystemExit("no shared data directory: set WORKBENCH_DATA to the datasets folder")
    bp = _csv(root / KP / "ResultsForBranchAndPrice_ArslanDetienne.csv", "File name")
    pub = _csv(root / KP / "neur2ro_iclr24_kp_results.csv", "instance")
    cells: dict[tuple[str, int], int] = {}
    rows = []
    for inst in iter_knapsack_instances(root):
        corr, n = inst.name.split("_")[1], inst.n
        if n not in args.sizes or inst.name not in pub or cells.get((corr, n), 0) >= args.per_cell:
            continue
        cells[(corr, n)] = cells.get((corr, n), 0) + 1
        model = knapsack_model(inst)
        t0 = time.perf_counter()
        r = workbench.solve(model, backend="neur2ro", seed=args.seed, time_limit=args.time_limit,
                            **extra)  # fmt: skip
        dt = time.perf_counter() - t0
        best = float(bp[inst.name]["Best primal bound"])
        ours = -r.objective if r.objective is not None else float("nan")
        err = (best - ours) / abs(best)
        ml = r.diagnostics.extra.get("ml_objective")
        ml_err = (best + ml) / abs(best) if ml is not None else float("nan")
        p_obj, p_t = float(pub[inst.name]["neur2ro_obj"]), float(pub[inst.name]["neur2ro_time_s"])
        rows.append((inst.name, ours, best, err, dt, p_obj, (best - p_obj) / abs(best), p_t,
                     r.termination.value, r.diagnostics.extra.get("exact_eval"), ml_err))  # fmt: skip
        print(f"{inst.name:45s} ours {ours:10.1f} best {best:10.1f} err {100 * err:6.2f}% "
              f"(ML x before certification {100 * ml_err:6.2f}%) {dt:6.1f}s | paper "
              f"{p_obj:10.1f} err {100 * rows[-1][6]:6.2f}% {p_t:5.1f}s "
              f"[{r.termination.value}, exact={rows[-1][9]}]", flush=True)  # fmt: skip
    ok = [r for r in rows if r[1] == r[1]]
    if ok:
        print(f"\nknapsack: {len(ok)}/{len(rows)} solved; median rel. error "
              f"{100 * statistics.median(r[3] for r in ok):.2f}% (ML x before certification "
              f"{100 * statistics.median(r[10] for r in ok):.2f}%; paper on the same instances "
              f"{100 * statistics.median(r[6] for r in ok):.2f}%); median time "
              f"{statistics.median(r[4] for r in ok):.1f} s (paper "
              f"{statistics.median(r[7] for r in ok):.1f} s)")  # fmt: skip
    model0 = knapsack_model(next(iter_knapsack_instances(root)))
    path = args.model_path or store.find_model(store.family_key(model0))
    if path is not None:
        net, _ = store.load_model(path)
        meta = net.meta
        print(f"shipped model: datagen {meta.get('datagen_s', float('nan')):.1f} s, training "
              f"{meta.get('train_s', float('nan')):.1f} s on {meta.get('train_device')}, "
              f"{meta.get('samples')} samples, val MAE {meta.get('val_mae', float('nan')):.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
