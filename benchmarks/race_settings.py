"""Race settings side by side: ``auto`` under several head starts against each solver alone.

``benchmarks/reformulate.py`` times each mode in turns, but two runs of it minutes
apart can differ by more than a setting's effect on a 20-60 ms instance (this
virtual machine's host takes CPU time away at times).  This script compares race
settings *within one process, interleaved run by run*: for each instance, every
round solves it with HiGHS alone, SCIP alone (both on the reformulated model) and
``auto`` under each head start, and the table gives ``auto``'s median over the
faster solver's median, with the host's steal share while the instance ran.

    python benchmarks/race_settings.py
    python benchmarks/race_settings.py --instances makespan_30x3,makespan_40x4 --runs 41
    python benchmarks/race_settings.py --head-starts 0,0.005,0.01,0.015
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reformulate as bench  # noqa: E402

import workbench  # noqa: E402
from workbench import racing  # noqa: E402

ALONE: dict[str, dict[str, Any]] = {
    "highs": {"backend": "highs", "reformulate": True},
    "scip": {"backend": "scip", "reformulate": True},
}


def _seconds(model: Any, time_limit: float, **kw: Any) -> float:
    t0 = time.perf_counter()
    workbench.solve(model, time_limit=time_limit, seed=0, **kw)
    return time.perf_counter() - t0


def compare(model: Any, head_starts: list[float], runs: int, time_limit: float) -> dict[str, float]:
    """Median seconds of each solver alone and of ``auto`` under each head start."""
    secs: dict[str, list[float]] = {k: [] for k in ALONE}
    secs.update({f"auto@{h:g}": [] for h in head_starts})
    default = racing.HEAD_START
    try:
        for _ in range(2):  # warm: first solves of a model pay for imports and caches
            _seconds(model, time_limit)
        for _ in range(runs):
            for name, kw in ALONE.items():
                secs[name].append(_seconds(model, time_limit, **kw))
            for h in head_starts:
                racing.HEAD_START = h
                secs[f"auto@{h:g}"].append(_seconds(model, time_limit))
    finally:
        racing.HEAD_START = default
    return {k: statistics.median(v) for k, v in secs.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", choices=sorted(bench.SIZES), default="full")
    ap.add_argument("--instances", default="makespan_30x3,makespan_40x4,l1reg_40x3,l1reg_80x4")
    ap.add_argument("--head-starts", default="0,0.005,0.01,0.015")
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args(argv)
    wanted = [n for n in args.instances.split(",") if n]
    head_starts = [float(h) for h in args.head_starts.split(",")]
    raced = {"makespan", "l1reg", "qap"}  # the families whose reformulated models are MILPs
    models = {m.name: m for _, m in bench.instances(args.scale, raced, 0)}
    unknown = [n for n in wanted if n not in models]
    if unknown:
        print(f"unknown instances: {', '.join(unknown)}; known: {', '.join(models)}")
        return 2
    bench.warm_up(0)
    cols = [f"auto@{h:g}" for h in head_starts]
    print(f"{'instance':<18} {'highs s':>8} {'scip s':>8} " + " ".join(f"{c:>11}" for c in cols)
          + f" {'steal':>6}")  # fmt: skip
    for name in wanted:
        before = bench.cpu_ticks()
        med = compare(models[name], head_starts, args.runs, args.time_limit)
        steal = bench.steal_share(before, bench.cpu_ticks())
        best = min(med["highs"], med["scip"])
        ratios = " ".join(f"{med[c] / best:>11.2f}" for c in cols)
        print(f"{name:<18} {med['highs']:>8.3f} {med['scip']:>8.3f} {ratios} {steal:>6}")
    print("(auto@H: auto's median over the faster solver's median, with a head start of H s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
