"""Batch throughput: solve-bound and LLM-bound batches through the local executor, in one run.

**Solve-bound** (``--case solve``): the catalogue solved many times with 1 and with 2 local workers.

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

**LLM-bound** (``--case llm``): 96 problems (``--problems``) formulated by
ORThought through the real ``openai`` client against the loopback stub of
``tests/llm_stub.py``, which answers every call after a fixed 2 s
(``--latency``) with a correct model (so one call per problem; simulated:
the LLM, nothing else).  It runs two ways in the same script run:

* **process per problem** (today's way before LLM threads):
  ``LocalExecutor(32, llm_concurrency=0)``: 32 worker processes, each running
  one whole formulate job at a time;
* **threads**: ``LocalExecutor(2, llm_concurrency=32)``: 32 conversations on
  threads of the batch process, their solves on 2 worker processes.

It prints the wall time (target <= 15 s for 96 problems at 2 s per call) and
the peak resident memory summed over the batch process and all its children
(target <= 2 GB; sampled every 50 ms from /proc; the stub server runs in the
batch process and is counted in both).

Run: ``python benchmarks/batch.py [--case all|solve|llm] [--repeat 40] [--backends highs,cpsat]``
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
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


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    """*pid* and all its descendants (from /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except (OSError, ValueError):
                continue
    return out


class PeakRSS:
    """Samples the summed resident memory of this process and its children in a thread."""

    def __init__(self, every: float = 0.05) -> None:
        import threading

        self.every, self.peak_kb, self.peak_procs = every, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _tree(os.getpid())
            total = sum(_rss_kb(p) for p in pids)
            if total > self.peak_kb:
                self.peak_kb, self.peak_procs = total, len(pids)
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


LP_MODEL = {  # max 3x + 2y s.t. x + y <= 4, x + 3y <= 6, x <= 3: optimum 11
    "name": "lp", "variables": {"x": {"lb": 0}, "y": {"lb": 0}},
    "objective": {"sense": "max", "expr": "3*x + 2*y"},
    "constraints": [{"name": "a", "expr": "x + y <= 4"}, {"name": "b", "expr": "x + 3*y <= 6"},
                    {"name": "c", "expr": "x <= 3"}],
}  # fmt: skip


def llm_case(problems: int, latency: float, old_workers: int, threads: int, workers: int) -> None:
    """The LLM-bound batch, process per problem and then on threads; prints both."""
    import json

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from llm_stub import LLMStub, StubReply

    from workbench.runs.batch import plan_jobs
    from workbench.runs.local import LocalExecutor as Local

    os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark-stub")
    text = json.dumps({"understanding": "u", "steps": "s", "model": LP_MODEL})
    with tempfile.TemporaryDirectory() as tmp, LLMStub() as stub:
        stub.respond_with(lambda req: StubReply(text=text, delay=latency))
        file = Path(tmp) / "problems.jsonl"
        file.write_text("".join(
            json.dumps({"id": f"p{k:03d}", "description": f"Problem {k}: maximise the profit.",
                        "ground_truth": 11}) + "\n" for k in range(problems)))  # fmt: skip
        ps = get_dataset("jsonl", path=str(file))
        llm = {"kind": "openai", "base_url": stub.url, "model": "stub", "max_retries": 0}
        jobs = plan_jobs(ps, dataset="jsonl", dataset_args={"path": str(file)},
                         pipeline="formulate", agents=["orthought"], time_limit=60,
                         options={"llm": llm, "budget": 3})  # fmt: skip
        print(f"\nLLM-bound: {problems} problems, one LLM call each answered after {latency:g} s "
              f"(loopback stub), ORThought, HiGHS; ideal wall at {threads} in flight: "
              f"{math.ceil(problems / threads) * latency:.0f} s")  # fmt: skip
        rows = []
        for label, ex in (
            (f"process per problem: {old_workers} workers, llm_concurrency=0",
             Local(old_workers, llm_concurrency=0)),
            (f"threads: {workers} solver workers, llm_concurrency={threads}",
             Local(workers, llm_concurrency=threads)),
        ):  # fmt: skip
            with tempfile.TemporaryDirectory() as dbdir, PeakRSS() as mem:
                store = RunStore(Path(dbdir) / "runs.db")
                t0 = time.perf_counter()
                rid = run_batch(store, jobs, executor=ex)
                wall = time.perf_counter() - t0
                items = store.items(rid)
                store.close()
            correct = sum(bool(i["correct"]) for i in items)
            statuses = Counter(str(i["status"]) for i in items)
            errors = Counter((i["error"] or "")[:70] for i in items if i["status"] != "done")
            rows.append(
                (label, wall, mem.peak_kb / 2**20, mem.peak_procs, correct, statuses, errors)
            )
        for label, wall, gb, procs, correct, statuses, errors in rows:
            print(f"  {label}: wall {wall:.1f} s, peak RSS {gb:.2f} GB over {procs} processes, "
                  f"{correct}/{problems} correct; items {dict(statuses)}")  # fmt: skip
            for why, n in errors.most_common(3):
                print(f"    {n} x {why}")
        (_, w_old, m_old, *_), (_, w_new, m_new, *_) = rows
        print(f"  threads vs process per problem: wall {w_old / w_new:.1f}x faster, "
              f"memory {m_old / m_new:.1f}x smaller (targets: wall <= 15 s, RSS <= 2 GB)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print it."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--case", choices=("all", "solve", "llm"), default="all")
    ap.add_argument("--repeat", type=int, default=40, help="copies of the catalogue (default 40)")
    ap.add_argument("--backends", default="highs,cpsat")
    ap.add_argument("--problems", type=int, default=96, help="LLM-bound problems (default 96)")
    ap.add_argument("--latency", type=float, default=2.0, help="stub seconds per LLM call")
    ap.add_argument("--old-workers", type=int, default=32,
                    help="processes of the process-per-problem run (default 32)")  # fmt: skip
    ap.add_argument("--llm-concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="solver workers of the threads run")
    args = ap.parse_args(argv)

    print(f"cores available: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.2f}")
    if args.case in ("all", "llm"):
        llm_case(args.problems, args.latency, args.old_workers, args.llm_concurrency, args.workers)
    if args.case == "llm":
        return 0
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
