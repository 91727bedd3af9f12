"""Balans vs plain MIP solvers under an equal wall-clock budget, one thread per run.

Methods (``--methods``, comma-separated):

- ``highs``: plain HiGHS (``workbench.solve(backend="highs")``);
- ``balans-highs``: our Balans on HiGHS (its default preset ``balans22_highs``, see
  ``solvers.balans.settings.PRESETS``; time splits scaled by budget/60);
- ``balans-scip``: our Balans on SCIP (``mip_solver="scip"``, its default preset,
  see ``solvers.balans.settings.DEFAULT_PRESET``; time splits scaled by budget/60);
- ``scip``: plain SCIP (pyscipopt reads the file itself);
- ``balans-pkg``: the ``balans`` package (the ``peers`` extra) on SCIP with its 2.2
  ``configs/default.json``, time limits scaled by budget/60, seed 1283 + seed.

A method whose libraries are missing is reported as unavailable and skipped.
Every (instance, method, seed) run is its own single-threaded worker process
(spawn), killed at 1.5 x budget + 30 s.  With ``--out`` each finished run is
appended to a CSV at once (a killed benchmark keeps its results, and a rerun
with the same ``--out`` skips the runs already there).  ``--table CSV`` prints
the report from such a file: per instance and method the primal gap against
the best value any method found and against the MIPLIB reference (only where
``highs_agrees=yes``), the primal integral, the mean ALNS iterations (for the
package only those begun within the budget: its stopping clock starts after
the first solve, so it goes on past the deadline with sub-MIPs that get no
time) and the bandit's arm counts; then the two targets of issue 6.

Examples::

    python benchmarks/balans.py --instances neos5,mas76 --seeds 0 --time-limit 10 --jobs 2 \\
        --out /tmp/balans.csv
    python benchmarks/balans.py --instances all --seeds 0,1,2 --time-limit 60 --jobs 16 \\
        --out results.csv                 # the full protocol
    python benchmarks/balans.py --table results.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

METHODS = ("highs", "balans-highs", "balans-scip", "scip", "balans-pkg")
FIELDS = (
    "instance", "method", "seed", "time_limit", "status", "objective", "sense",
    "wall_s", "history", "arms", "note",
)  # fmt: skip
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PKG_SEED = 1283  # the seed in the balans package's default.json
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: the project must import
    sys.path.append(str(ROOT))


# ---------------------------------------------------------------------------
# Scores


def primal_gap(v: float | None, best: float | None) -> float:
    """Berthold's primal gap in [0, 1]: 1 without a value or with opposite signs."""
    if v is None or best is None:
        return 1.0
    if abs(v - best) <= 1e-9 * max(1.0, abs(best)):
        return 0.0
    if v * best < 0:
        return 1.0
    return abs(v - best) / max(abs(v), abs(best))


def primal_integral(
    history: list[tuple[float, float | None]], best: float | None, budget: float
) -> float:
    """The primal gap integrated over ``[0, budget]``, divided by the budget.

    *history* holds ``(seconds, incumbent)`` points; before the first one the
    gap is 1.  0 means the best value from the start, 1 never a solution.
    """
    total, t_prev, g_prev = 0.0, 0.0, 1.0
    for t, p in sorted(history, key=lambda h: h[0]):
        t = min(max(float(t), 0.0), budget)
        total += g_prev * (t - t_prev)
        t_prev, g_prev = t, primal_gap(p, best)
    total += g_prev * max(0.0, budget - t_prev)
    return total / budget


# ---------------------------------------------------------------------------
# Data, instances, availability


def data_dir(arg: str | None) -> Path:
    """The MIP data folder (``--data``, else ``<shared data>/mip``); exits with a clear message."""
    if arg:
        path = Path(arg).expanduser()
    else:
        from workbench.datasets import shared_data_dir

        base = shared_data_dir()
        if base is None:
            raise SystemExit(
                "balans benchmark: no benchmark data folder found. Set WORKBENCH_DATA to the "
                "folder that holds mip/instances, or pass --data DIR (a folder with instances/)."
            )
        path = base / "mip"
    if not (path / "instances").is_dir():
        raise SystemExit(
            f"balans benchmark: {path} has no instances/ folder. Pass --data DIR (a folder "
            "with instances/*.mps.gz and miplib_small_reference.csv) or set WORKBENCH_DATA."
        )
    return path


def resolve_instances(spec: str, data: Path) -> list[tuple[str, Path]]:
    """``all`` (every ``instances/*.mps*``) or comma-separated names from instances/ or synthetic/."""
    known: dict[str, Path] = {}
    for sub in ("instances", "synthetic"):
        folder = data / sub
        if folder.is_dir():
            for f in sorted(folder.iterdir()):
                name = f.name.split(".")[0] if ".mps" in f.name or ".lp" in f.name else None
                if name and name not in known:
                    known[name] = f
    if spec == "all":
        return [(n, p) for n, p in known.items() if p.parent.name == "instances"]
    out = []
    for name in (s.strip() for s in spec.split(",") if s.strip()):
        if name not in known:
            raise SystemExit(
                f"balans benchmark: no instance {name!r} in {data}; known: {', '.join(known)}"
            )
        out.append((name, known[name]))
    return out


def _has(module: str) -> bool:
    from importlib.util import find_spec

    here = Path(__file__).resolve().parent
    saved = sys.path[:]
    try:  # this script is named balans.py: never let it stand in for the package
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
        spec = find_spec(module)
    except (ImportError, ValueError):
        spec = None
    finally:
        sys.path[:] = saved
    return spec is not None and Path(str(spec.origin)).resolve() != Path(__file__).resolve()


def unavailable(method: str, has: Callable[[str], bool] | None = None) -> str | None:
    """Why *method* cannot run here (missing libraries and how to get them), or ``None``.

    *has* tells whether a module is importable (default: a ``find_spec`` check).
    """
    has = has or _has
    need = {
        "highs": ["highspy"],
        "balans-highs": ["highspy", "alns", "mabwiser"],
        "balans-scip": ["highspy", "alns", "mabwiser", "pyscipopt"],
        "scip": ["pyscipopt"],
        "balans-pkg": ["balans", "pyscipopt", "alns", "mabwiser"],
    }.get(method)
    if need is None:
        return f"unknown method (known: {', '.join(METHODS)})"
    missing = [m for m in need if not has(m)]
    if not missing:
        return None
    extra = "peers" if method == "balans-pkg" else "balans"
    return f"missing {', '.join(missing)} (pip install '.[{extra}]')"


def references(data: Path | None) -> dict[str, float]:
    """MIPLIB reference values that HiGHS verified (``highs_agrees=yes``)."""
    refs: dict[str, float] = {}
    path = None if data is None else data / "miplib_small_reference.csv"
    if path is None or not path.is_file():
        return refs
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("highs_agrees") == "yes" and row.get("miplib2017_ref_value"):
                refs[row["instance"]] = float(row["miplib2017_ref_value"])
    return refs


# ---------------------------------------------------------------------------
# One run (inside a worker process)


def _row(task: dict[str, Any], **kw: Any) -> dict[str, Any]:
    row = {k: "" for k in FIELDS}
    row.update({k: task[k] for k in ("instance", "method", "seed", "time_limit")})
    row.update(kw)
    return row


def _warm_up(modules: list[str]) -> None:
    """Import a method's libraries before its clock starts (a fresh worker pays seconds for
    alns + mabwiser + scikit-learn; the balans package imports them before its clock too)."""
    import importlib

    for m in modules:
        importlib.import_module(m)


def _run_workbench(task: dict[str, Any]) -> dict[str, Any]:
    import workbench
    from solvers.balans.backend import BalansBackend
    from solvers.balans.settings import DEFAULT_PRESET, PRESETS

    budget, method = float(task["time_limit"]), task["method"]
    opts: dict[str, Any] = {}
    backend = "highs"
    if method.startswith("balans"):
        backend = "balans"
        solver = "scip" if method.endswith("scip") else "highs"
        # each solver's default preset, its time splits scaled from 60 s to the budget
        t = PRESETS[DEFAULT_PRESET[solver]].times.scaled(budget / 60.0)
        opts = {
            "mip_solver": solver,
            "time_first_solution": t.first_solution,
            "time_iteration": t.iteration,
            "time_local_branching": t.local_branching,
            "time_crossover": t.crossover,
            "time_lp": t.lp,
        }
    _warm_up(["highspy"] + (["alns.select", "mabwiser.mab"] if backend == "balans" else [])
             + (["pyscipopt"] if opts.get("mip_solver") == "scip" else []))  # fmt: skip
    t0 = time.perf_counter()
    r = workbench.solve(
        Path(task["path"]), backend=backend, time_limit=budget, seed=int(task["seed"]),
        threads=1, **opts,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    # HiGHS's and Balans's clocks start at the solve: shift by the build/load time
    shift = (r.timings.build or 0.0) + (r.timings.load or 0.0)
    hist = [(t + shift, p) for t, p, _ in r.history if p is not None]
    from workbench.compile.mps import read_mps

    sense = read_mps(Path(task["path"])).sense  # after the clock: for the report only
    return _row(
        task, status=r.termination.value, objective=r.objective, wall_s=round(wall, 3),
        history=json.dumps(hist), arms=json.dumps(BalansBackend.describe(r)),
        note=(r.diagnostics.message or "")[:300], sense=sense,
    )  # fmt: skip


def _run_scip(task: dict[str, Any]) -> dict[str, Any]:
    import pyscipopt
    from pyscipopt import SCIP_EVENTTYPE, Eventhdlr  # type: ignore[attr-defined]

    t0 = time.perf_counter()
    hist: list[tuple[float, float]] = []

    class Incumbents(Eventhdlr):  # type: ignore[misc]
        def eventinit(self) -> None:
            self.model.catchEvent(SCIP_EVENTTYPE.BESTSOLFOUND, self)

        def eventexec(self, event: Any) -> None:
            m = self.model
            hist.append((time.perf_counter() - t0, float(m.getSolObjVal(m.getBestSol()))))

    m = pyscipopt.Model()
    m.hideOutput()
    m.readProblem(str(task["path"]))
    m.includeEventhdlr(Incumbents(), "incumbents", "records each new incumbent")
    m.setParam("randomization/randomseedshift", int(task["seed"]))
    m.setParam("parallel/maxnthreads", 1)
    m.setParam("limits/time", max(0.1, float(task["time_limit"]) - (time.perf_counter() - t0)))
    m.optimize()
    wall = time.perf_counter() - t0
    obj = float(m.getObjVal()) if m.getNSols() > 0 else None
    sense = "max" if m.getObjectiveSense() == "maximize" else "min"
    return _row(task, status=str(m.getStatus()), objective=obj, wall_s=round(wall, 3),
                history=json.dumps(hist), arms="{}", sense=sense)  # fmt: skip


def _run_package(task: dict[str, Any]) -> dict[str, Any]:
    import contextlib
    import io

    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.modules.pop("balans", None)
    import balans
    from alns.stop import MaxRuntime
    from balans.solver import Balans

    budget = float(task["time_limit"])
    cfg = json.loads((Path(balans.__file__).parent / "configs" / "default.json").read_text())
    scale = budget / float(cfg["stop"]["max_runtime"])
    limits = {
        k: float(cfg[k]) * scale
        for k in (
            "timelimit_first_solution",
            "timelimit_alns_iteration",
            "timelimit_local_branching_iteration",
            "timelimit_crossover_random_feasible",
        )
    }
    solver = Balans(seed=PKG_SEED + int(task["seed"]), n_mip_jobs=1, mip_solver="scip",
                    stop=MaxRuntime(budget), **limits)  # fmt: skip
    log = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(log):
        result = solver.solve(str(task["path"]))
    wall = time.perf_counter() - t0
    sense = "max" if solver.instance.mip.is_obj_sense_changed else "min"
    if result is None:  # no usable arm: the package returns only its first solution
        obj = solver.initial_obj_val if solver.initial_index_to_val else None
        if obj is not None and sense == "max":
            obj = -obj
        first = [] if obj is None else [(wall, obj)]
        return _row(task, status="first_solution_only", objective=obj, wall_s=round(wall, 3),
                    history=json.dumps(first), arms="{}", sense=sense)  # fmt: skip
    stats = result.statistics
    has_point = bool(result.best_state.solution())
    obj = float(result.best_state.objective()) if has_point else None
    # the statistics time only the ALNS iterations: the rest is setup + first solution
    runtimes = list(stats.runtimes)
    t = max(0.0, wall - sum(runtimes))
    # the package's MaxRuntime clock starts after the first solve while its sub-MIPs are
    # capped by a deadline that includes it: the iterations past the deadline run sub-MIPs
    # with no time left (hundreds on small instances); count only those begun in time
    starts = [t + sum(runtimes[:k]) for k in range(len(runtimes))]
    in_time = sum(s < budget for s in starts)
    sign = 1.0 if sense == "min" else -1.0
    hist: list[tuple[float, float]] = []
    best = math.inf
    for k, value in enumerate(stats.objectives if has_point else []):
        t += runtimes[k - 1] if k else 0.0
        if sign * float(value) < best - 1e-12:  # the running best, in the model's sense
            best = sign * float(value)
            hist.append((t, float(value)))
    arms = {name: int(sum(c)) for name, c in stats.destroy_operator_counts.items()}
    return _row(task, status="feasible" if has_point else "no_solution", objective=obj,
                wall_s=round(wall, 3), history=json.dumps(hist), arms=json.dumps(arms),
                sense=sense, note=f"{in_time} ALNS iterations in the budget "
                f"({len(runtimes)} in all)")  # fmt: skip


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run one (instance, method, seed); a failure becomes a row with status ``error``."""
    try:
        if task["method"] == "scip":
            return _run_scip(task)
        if task["method"] == "balans-pkg":
            return _run_package(task)
        return _run_workbench(task)
    except Exception as e:  # one failed run must not stop the benchmark
        return _row(task, status="error", note=f"{type(e).__name__}: {e}"[:300])


def _hard_limit(task: dict[str, Any]) -> float:
    return 1.5 * float(task["time_limit"]) + 30.0


def run_all(
    tasks: list[dict[str, Any]], jobs: int, on_row: Callable[[dict[str, Any]], None]
) -> None:
    """Run *tasks* in at most *jobs* spawned processes; call *on_row* as each finishes."""
    from workbench.runs.spawn_pool import run_pool

    run_pool(
        tasks, jobs, on_row, run_task=run_task, fail_row=_row, hard_limit=_hard_limit, quiet=False
    )


# ---------------------------------------------------------------------------
# CSV and the report table


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a results CSV (``objective`` as float or ``None``, JSON fields decoded)."""
    rows = []
    with path.open(newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, Any] = dict(raw)
            row["objective"] = float(raw["objective"]) if raw.get("objective") else None
            row["time_limit"] = float(raw["time_limit"])
            row["history"] = [tuple(h) for h in json.loads(raw.get("history") or "[]")]
            row["arms"] = json.loads(raw.get("arms") or "{}")
            rows.append(row)
    return rows


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one row (with a header when the file is new or empty)."""
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in FIELDS})


def iterations(row: dict[str, Any]) -> int | None:
    """The ALNS iterations a run's note gives (for the package: those begun in the budget)."""
    import re

    m = re.search(r"(\d+) ALNS iterations", str(row.get("note") or ""))
    return int(m.group(1)) if m else None


def report(rows: list[dict[str, Any]], refs: dict[str, float]) -> list[str]:
    """The report lines: per-instance table, per-method means, the targets, arm counts."""
    lines: list[str] = []
    for budget in sorted({r["time_limit"] for r in rows}):
        lines += _report_budget([r for r in rows if r["time_limit"] == budget], refs, budget)
    return lines


def _report_budget(rows: list[dict[str, Any]], refs: dict[str, float], budget: float) -> list[str]:
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["instance"], r["method"]].append(r)
    instances = sorted({r["instance"] for r in rows})
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    seeds = sorted({str(r["seed"]) for r in rows})
    out = [f"\nbudget {budget:g} s, 1 thread, seeds {','.join(seeds)}"]
    head = (f"{'instance':<20}{'method':<14}{'runs':>5}{'mean obj':>16}{'gap best':>10}"
            f"{'gap ref':>9}{'integral':>10}{'iters':>7}{'errors':>7}")  # fmt: skip
    out += [head, "-" * len(head)]
    gaps: dict[str, dict[str, float]] = defaultdict(dict)
    integrals: dict[str, list[float]] = defaultdict(list)
    unsolved = []
    for inst in instances:
        vals = [
            r["objective"] for r in rows if r["instance"] == inst and r["objective"] is not None
        ]
        senses = [r["sense"] for r in rows if r["instance"] == inst and r.get("sense")]
        sense = Counter(senses).most_common(1)[0][0] if senses else "min"
        if not vals:
            unsolved.append(inst)
            continue
        best = min(vals) if sense == "min" else max(vals)
        for m in methods:
            rs = by[inst, m]
            if not rs:
                continue
            objs = [r["objective"] for r in rs if r["objective"] is not None]
            g = sum(primal_gap(r["objective"], best) for r in rs) / len(rs)
            gr = (sum(primal_gap(r["objective"], refs[inst]) for r in rs) / len(rs)
                  if inst in refs else math.nan)  # fmt: skip
            pi = sum(primal_integral(r["history"], best, budget) for r in rs) / len(rs)
            errs = sum(r["status"] in ("error", "killed") for r in rs)
            mean = sum(objs) / len(objs) if objs else math.nan
            its = [k for k in (iterations(r) for r in rs) if k is not None]
            it = f"{sum(its) / len(its):.0f}" if its else "-"
            if errs == len(rs):
                # every run crashed (a harness or installation failure, not a search
                # outcome): shown, but kept out of the means and the targets
                out.append(
                    f"{inst:<20}{m:<14}{len(rs):>5}  all runs failed: {rs[0].get('note', '')}"
                )
                continue
            gaps[m][inst] = g
            integrals[m].append(pi)
            out.append(f"{inst:<20}{m:<14}{len(rs):>5}{mean:>16.8g}{g:>10.4f}{gr:>9.4f}"
                       f"{pi:>10.4f}{it:>7}{errs:>7}")  # fmt: skip
    if unsolved:
        out.append(f"no solution from any method (left out): {', '.join(unsolved)}")
    out.append("\nper method (mean over instances with a solution from some method):")
    for m in methods:
        mg = list(gaps[m].values())
        if mg:
            zero = sum(v == 0 for v in mg)
            out.append(f"  {m:<14} primal gap {sum(mg) / len(mg):.4f}   primal integral "
                       f"{sum(integrals[m]) / len(integrals[m]):.4f}   best on {zero}/{len(mg)}")  # fmt: skip
    out += _targets(gaps)
    out.append("\narm counts (summed over seeds):")
    for m in methods:
        for inst in instances:
            tot: Counter[str] = Counter()
            for r in by[inst, m]:
                tot.update(r["arms"])
            if tot:
                out.append(f"  {m:<13} {inst:<20} " + ", ".join(f"{k}={v}" for k, v in tot.items()))
    return out


def _targets(gaps: dict[str, dict[str, float]]) -> list[str]:
    out = ["\ntargets:"]
    a, b = gaps.get("balans-highs", {}), gaps.get("highs", {})
    both = sorted(set(a) & set(b))
    differ = [i for i in both if abs(a[i] - b[i]) > 1e-9]
    if differ:
        wins = sum(a[i] < b[i] for i in differ)
        share = wins / len(differ)
        verdict = "MET" if share >= 0.7 else "NOT MET"
        out.append(f"  Balans-on-HiGHS has the lower mean primal gap than HiGHS on {wins} of "
                   f"{len(differ)} instances where they differ ({share:.0%}; target >= 70%: "
                   f"{verdict})")  # fmt: skip
    else:
        out.append(
            f"  Balans-on-HiGHS vs HiGHS: no instance where they differ ({len(both)} shared)"
        )
    ours, pkg = gaps.get("balans-scip", {}), gaps.get("balans-pkg", {})
    shared = sorted(set(ours) & set(pkg))
    if shared:
        mo = sum(ours[i] for i in shared) / len(shared)
        mp = sum(pkg[i] for i in shared) / len(shared)
        verdict = "MET" if mo <= mp + 1e-12 else "NOT MET"
        out.append(f"  Balans-on-SCIP mean primal gap {mo:.4f} vs the balans package {mp:.4f} "
                   f"on {len(shared)} instances (target: no worse: {verdict})")  # fmt: skip
    else:
        out.append("  Balans-on-SCIP vs the balans package: not both run")
    return out


# ---------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description="Balans vs plain HiGHS/SCIP and the balans package under an equal budget.",
        epilog="Examples: --instances neos5,mas76 --seeds 0 --time-limit 10 --jobs 2 --out r.csv;"
        " --table r.csv",
    )
    ap.add_argument("--table", metavar="CSV", help="only print the report from a results CSV")
    ap.add_argument("--instances", default="all", help="'all' or comma-separated names")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    ap.add_argument("--time-limit", "--budget", dest="time_limit", type=float, default=60.0,
                    help="seconds per run (default 60)")  # fmt: skip
    ap.add_argument("--methods", default=",".join(METHODS), help=f"any of {','.join(METHODS)}")
    ap.add_argument("--jobs", type=int, default=1, help="parallel worker processes (default 1)")
    ap.add_argument("--out", metavar="CSV", help="append each finished run to this CSV")
    ap.add_argument("--data", metavar="DIR", help="MIP data folder (default <shared data>/mip)")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or print ``--table``); returns the exit status."""
    args = _parser().parse_args(argv)
    if args.table:
        path = Path(args.table)
        if not path.is_file():
            raise SystemExit(f"balans benchmark: no results CSV at {path}")
        table_rows = read_rows(path)
        if not table_rows:
            raise SystemExit(f"balans benchmark: {path} holds no runs")
        try:
            refs = references(data_dir(args.data))
        except SystemExit:
            refs = {}
            print("(no data folder: the MIPLIB reference column is empty)")
        print("\n".join(report(table_rows, refs)))
        return 0
    if args.jobs < 1 or args.time_limit <= 0:
        raise SystemExit("balans benchmark: --jobs must be >= 1 and --time-limit > 0")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(
            f"balans benchmark: --seeds must be integers, got {args.seeds!r}"
        ) from None
    data = data_dir(args.data)
    instances = resolve_instances(args.instances, data)
    methods = []
    for m in (s.strip() for s in args.methods.split(",") if s.strip()):
        why = unavailable(m)
        if why and why.startswith("unknown"):
            raise SystemExit(f"balans benchmark: {m!r}: {why}")
        if why:
            print(f"unavailable, skipped: {m}: {why}")
        else:
            methods.append(m)
    if not methods:
        raise SystemExit("balans benchmark: none of the methods can run here")
    out = Path(args.out) if args.out else None
    done = set()
    if out is not None and out.is_file() and out.stat().st_size:
        for r in read_rows(out):
            done.add((r["instance"], r["method"], str(r["seed"]), r["time_limit"]))
    tasks = [
        {"instance": n, "path": str(p), "method": m, "seed": s, "time_limit": args.time_limit}
        for n, p in instances
        for s in seeds
        for m in methods
        if (n, m, str(s), args.time_limit) not in done
    ]
    skipped = len(instances) * len(seeds) * len(methods) - len(tasks)
    if skipped:
        print(f"{skipped} runs already in {out}: skipped")
    for var in THREAD_VARS:  # workers inherit this: one thread each
        os.environ[var] = "1"
    rows: list[dict[str, Any]] = []
    total = len(tasks)

    def on_row(row: dict[str, Any]) -> None:
        rows.append(row)
        if out is not None:
            append_row(out, row)
        obj = "-" if row["objective"] in ("", None) else f"{float(row['objective']):.8g}"
        print(f"[{len(rows)}/{total}] {row['instance']} {row['method']} seed {row['seed']}: "
              f"{row['status']} {obj} ({row['wall_s'] or '?'} s)", flush=True)  # fmt: skip

    print(f"{total} runs: {len(instances)} instances x {len(seeds)} seeds x {len(methods)} "
          f"methods, {args.time_limit:g} s each, {args.jobs} parallel", flush=True)  # fmt: skip
    run_all(tasks, args.jobs, on_row)
    all_rows = read_rows(out) if out is not None else _decoded(rows)
    print("\n".join(report(all_rows, references(data))))
    return 0


def _decoded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """In-memory rows in the shape :func:`read_rows` gives."""
    res = []
    for r in rows:
        d = dict(r)
        d["objective"] = None if r["objective"] in ("", None) else float(r["objective"])
        d["time_limit"] = float(r["time_limit"])
        d["history"] = [tuple(h) for h in json.loads(r["history"] or "[]")]
        d["arms"] = json.loads(r["arms"] or "{}")
        res.append(d)
    return res


if __name__ == "__main__":
    sys.exit(main())
