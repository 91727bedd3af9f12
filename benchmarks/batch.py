"""Batch throughput: the catalogue solved many times with 1 and with 2 local workers, in one run.

The batch is the built-in catalogue repeated ``R`` times (distinct item keys
``id|backend|rN``), each problem with every backend of ``highs``/``cpsat``
that solves it correctly (found by a probe solve in this process), all with
``threads=1`` so that one job uses one core.  It runs three ways:

* **bare**: ``run_job`` on each job of the same sequence, serially in this
  process (warm: imports and dataset already loaded), no store: the floor;
* through :func:`workbench.runs.run_batch` into a fresh SQLite run store with
  the ``local`` executor, once with **1 worker** and once with **2 workers**.

It prints the wall time of each run (``run_batch`` from call to return:
spawning the workers, their imports and dataset loads, every ``mark_running``
and ``record`` transaction, ``finish_run``), the speed-up ``wall(1) / wall(2)``
(target >= 1.8x on a 2-core machine), and the per-job overhead against the
median bare job time (target <= 10%), measured several ways:

* end to end: ``(wall(1) - bare wall) / jobs``: everything the executor and
  the store add, start-up included, against solving in-process;
* amortised: ``(wall * workers - sum of in-worker job times) / jobs``: the
  seconds workers were not inside ``run_job``, start-up included;
* steady state: the same after every worker has reported its first job;
* parent-side, directly: the parent's CPU seconds per job (dispatch,
  pickling, the store transactions) and, of that, the two store
  transactions per job.

The first job of each worker also loads the dataset and imports the solver
libraries inside ``run_job``; that is shown separately.  Nothing here runs
an NLP, so no torch/pyomo import is in the timings.  No assertion: this is a
measurement, and the machine's other load shows up in it.

Run: ``python benchmarks/batch.py [--repeat 40] [--backends highs,cpsat]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from workbench.datasets import get_dataset
from workbench.runs import Job, Outcome, RunStore, run_batch, run_job
from workbench.runs.local import LocalExecutor


def probe(backends: list[str]) -> list[Job]:
    """The (problem, backend) pairs that solve correctly with one thread."""
    pairs: list[Job] = []
    for p in get_dataset("catalog"):
        for b in backends:
            job = Job(key=f"{p.id}|{b}", item_id=p.id, dataset="catalog", backend=b,
                      options={"threads": 1}, timeout=120.0)  # fmt: skip
            out = run_job(job)
            res = out.result or {}
            if (
                out.status == "done"
                and res.get("termination") != "error"
                and out.score.get("correct")
            ):
                pairs.append(job)
    return pairs


def batch_jobs(pairs: list[Job], repeat: int) -> list[Job]:
    """``pairs`` repeated ``repeat`` times with distinct keys, interleaved."""
    return [
        Job(key=f"{j.key}|r{r}", item_id=j.item_id, dataset=j.dataset, backend=j.backend,
            options=dict(j.options), timeout=j.timeout)
        for r in range(repeat)
        for j in pairs
    ]  # fmt: skip


def bare(jobs: list[Job]) -> tuple[float, list[float]]:
    """Serial in-process ``run_job`` over *jobs*: (wall, per-job seconds)."""
    times = []
    t0 = time.perf_counter()
    for job in jobs:
        t = time.perf_counter()
        run_job(job)
        times.append(time.perf_counter() - t)
    return time.perf_counter() - t0, times


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def measure(jobs: list[Job], workers: int, db: Path) -> dict[str, Any]:
    """Run the batch with ``workers`` local workers into a fresh store; return timings."""
    store = RunStore(db)
    done: list[tuple[float, float, str]] = []  # (recorded at, in-worker seconds, key)
    in_store = [0.0]
    real_mark, real_record = store.mark_running, store.record

    def mark(rid: str, key: str) -> None:
        t = time.perf_counter()
        real_mark(rid, key)
        in_store[0] += time.perf_counter() - t

    def record(rid: str, out: Outcome) -> None:
        t = time.perf_counter()
        real_record(rid, out)
        in_store[0] += time.perf_counter() - t
        done.append((t, out.elapsed or 0.0, out.key))

    store.mark_running = mark  # type: ignore[method-assign]
    store.record = record  # type: ignore[method-assign]
    cpu0, t0 = _cpu(), time.perf_counter()
    rid = run_batch(store, jobs, executor=LocalExecutor(workers), name=f"bench-{workers}")
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    prog = store.progress(rid)
    store.close()
    firsts = {j.key for j in jobs[:workers]}  # the first job each worker gets
    first = [(t - t0, e) for t, e, k in done if k in firsts]
    t_w = t0 + max(t for t, _ in first)  # every worker has reported once
    after = [e for t, e, _ in done if t > t_w]
    steady = (workers * (t0 + wall - t_w) - sum(after)) / max(1, len(after))
    return {
        "wall": wall, "elapsed": [e for _, e, _ in done], "store": in_store[0], "cpu": cpu,
        "progress": prog, "first": first, "steady": steady,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print it."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--repeat", type=int, default=40, help="copies of the catalogue (default 40)")
    ap.add_argument("--backends", default="highs,cpsat")
    args = ap.parse_args(argv)

    print(f"cores available: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.2f}")
    pairs = probe([b.strip() for b in args.backends.split(",") if b.strip()])
    jobs = batch_jobs(pairs, args.repeat)
    bare_wall, bare_times = bare(jobs)
    med = statistics.median(bare_times)
    print(f"{len(pairs)} (problem, backend) pairs x {args.repeat} = {len(jobs)} jobs")
    print(f"bare (serial run_job in this process, no store): wall {bare_wall:.2f} s, "
          f"job median {med * 1e3:.2f} ms, mean {statistics.mean(bare_times) * 1e3:.2f} ms")  # fmt: skip

    def pct(x: float) -> str:
        return f"{x * 1e3:.3f} ms/job = {x / med:.1%} of the median bare job"

    with tempfile.TemporaryDirectory() as tmp:
        res = {w: measure(jobs, w, Path(tmp) / f"runs-{w}.db") for w in (1, 2)}
    for w, r in res.items():
        n = len(r["elapsed"])
        el = r["elapsed"]
        print(f"\nworkers={w}: wall {r['wall']:.2f} s for {n} jobs, {r['progress']}")
        print(f"  in-worker job time: median {statistics.median(el) * 1e3:.2f} ms, sum {sum(el):.2f} s; "
              "first job per worker (dataset load + solver imports inside run_job): "
              f"{', '.join(f'{e:.2f} s' for _, e in r['first'])}")  # fmt: skip
        if w == 1:
            print(f"  overhead, end to end vs bare ((wall - bare wall)/jobs): "
                  f"{pct((r['wall'] - bare_wall) / n)}")  # fmt: skip
        print(f"  overhead, amortised ((wall*workers - sum job time)/jobs, start-up included): "
              f"{pct((r['wall'] * w - sum(el)) / n)}")  # fmt: skip
        print(f"  overhead, steady state (after each worker's first job): {pct(r['steady'])}")
        print(f"  parent CPU (dispatch, pickling, store writes): {pct(r['cpu'] / n)}")
        print(
            f"    of which the 2 store transactions (mark_running + record): {pct(r['store'] / n)}"
        )
    speedup = res[1]["wall"] / res[2]["wall"]
    print(f"\nspeed-up wall(1)/wall(2): {speedup:.2f}x (target >= 1.8x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
