"""AL-sketching benchmark on the HS/BT equality set: the method vs its baselines, next to the published runs.

For each problem of ``$WORKBENCH_DATA/nlp_equality/hs_bt_equality_problems.json``
(through the ``nlp`` dataset's IR models and ``TorchForm``) and each method
(``alsketch`` with Gaussian and Kaczmarz sketches, ``l1sqp``, ``auglag``,
SciPy ``trust-constr`` and ``SLSQP``, all on the same counted callables),
it prints iterations, function and gradient evaluations, KKT residual,
|f − f*| and time, then the AdaSketch-GV / AdaSketch-RK / L1SQP-GMRES
results published by the paper's authors (``adasketch_repo_results.csv``)
side by side, then a summary against the targets:

- converged (KKT <= 1e-4) on >= 95 % of the problems;
- median iterations <= 6;
- fewer function evaluations than trust-constr on >= 70 % of the problems.

Convergence is the paper's criterion, KKT residual <= 1e-4 (``--feas-tol``
adds the backend's default ``max|c| <= 1e-6``).

What the counters count (like for like):

- ``nf``: distinct points at which ``(f, c)`` was evaluated.  alsketch:
  ``x0`` plus every line-search trial point (the accepted trial is the
  next iterate, reused, never re-evaluated).  SciPy: calls through a
  per-point cache, so ``fun`` and the constraint function at one point
  count once (for trust-constr this equals SciPy's own ``nfev``).
- ``ng``: distinct points at which ``(∇f, J)`` was evaluated (alsketch: the
  same points as ``nf``, since the exact augmented Lagrangian needs ``∇ₓL``
  at every trial; SciPy: where SciPy asked for derivatives).
- Hessians (not shown): one exact ``∇²ₓL`` per iteration for alsketch and
  for trust-constr.
- The published AdaSketch runs count ``grad_evals`` as 2 per point
  (objective gradient and Jacobian) and re-evaluate the accepted point,
  so their ``ng`` is ``2 (1 + trials + iterations)``; the summary converts
  it to ``nf`` in the counting above, ``ng / 2 − iterations``, to compare
  them with trust-constr on the same footing.

Run ``python benchmarks/alsketch.py`` (about a minute on one core);
``--methods alsketch SLSQP`` for a subset, ``--seed`` for the sketches,
``--csv out.csv`` to save the rows.  No assertions.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from problems.nlp import load_nlp
from solvers.alsketch.baselines import run_method
from solvers.alsketch.options import alsketch_options
from solvers.alsketch.problem import EqualityProblem
from workbench.compile.torch_form import compile_torch
from workbench.datasets import shared_data_dir

METHODS = {
    "alsketch-gauss": {"method": "alsketch", "sketch": "gaussian"},
    "alsketch-kacz": {"method": "alsketch", "sketch": "kaczmarz"},
    "alsketch-exact": {"method": "alsketch", "sketch": "exact"},
    "l1sqp": {"method": "l1sqp"},
    "auglag": {"method": "auglag"},
    "trust-constr": {"method": "trust-constr"},
    "SLSQP": {"method": "SLSQP"},
}
PUBLISHED = ("AdaSketch-GV", "AdaSketch-RK", "L1SQP-GMRES")


def published() -> dict[tuple[str, str], dict[str, str]]:
    """``(problem, method) -> row`` of the authors' CSV (empty when the data folder is absent)."""
    base = shared_data_dir()
    path = None if base is None else base / "nlp_equality" / "adasketch_repo_results.csv"
    if path is None or not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {(r["problem"], r["method"]): r for r in csv.DictReader(fh)}


def _fnum(s: str | None) -> float:
    try:
        return float(s) if s is not None else math.nan
    except ValueError:
        return math.nan


def _parse_set(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs of ``--set`` (numbers, true/false, or strings)."""
    out: dict[str, Any] = {}
    for item in items:
        key, _, raw = item.partition("=")
        val: Any = raw
        if raw.lower() in ("true", "false"):
            val = raw.lower() == "true"
        else:
            for conv in (int, float):
                try:
                    val = conv(raw)
                    break
                except ValueError:
                    continue
        out[key] = val
    return out


def run(methods: list[str], seed: int, tol: float, feas_tol: float,
        overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One row per (problem, method); *overrides* are extra options of the ``alsketch-*`` methods."""
    rows: list[dict[str, Any]] = []
    for p in load_nlp(include_logistic=False):
        if p.model is None:
            print(f"{p.id}: skipped ({p.meta.get('skip_reason')})")
            continue
        tf = compile_torch(p.model, device="cpu")
        for name in methods:
            prob = EqualityProblem.from_torch_form(tf)
            extra = dict(overrides or {}) if name.startswith("alsketch") else {}
            opts = alsketch_options(dict(METHODS[name], tol=tol, feas_tol=feas_tol, **extra))
            t0 = time.perf_counter()
            out = run_method(prob, opts, np.random.default_rng(seed))
            secs = time.perf_counter() - t0
            ref = p.optimum
            local = p.meta.get("local_values") or []
            err = (
                abs(out.f - ref)
                if ref is not None
                else min((abs(out.f - v) for v in local), default=math.nan)
            )
            rows.append({"problem": p.id, "method": name, "status": out.status,
                         "converged": out.status == "converged", "iters": out.iterations,
                         "f_evals": out.counters["f_evals"], "grad_evals": out.counters["grad_evals"],
                         "kkt": out.kkt, "f": out.f, "f_err": err, "time_s": secs,
                         "fallbacks": out.extra.get("sketch_fallbacks", "")})  # fmt: skip
    return rows


def report(rows: list[dict[str, Any]], methods: list[str]) -> None:
    """Print the per-problem tables and the summary against the targets."""
    pub = published()
    problems = list(dict.fromkeys(r["problem"] for r in rows))
    by = {(r["problem"], r["method"]): r for r in rows}
    head = f"{'problem':10s}" + "".join(f" | {m[:14]:>14s} it/nf/ng" for m in methods)
    head += "".join(f" | {m:>12s} it/ng" for m in PUBLISHED)
    print(head)
    print("-" * len(head))
    for prob in problems:
        line = f"{prob:10s}"
        for m in methods:
            r = by.get((prob, m))
            mark = "" if r is None or r["converged"] else "*"
            line += " | " + (
                ""
                if r is None
                else f"{r['iters']:>5d}/{r['f_evals']:>4d}/{r['grad_evals']:>4d}{mark:1s}"
            ).rjust(23)
        for m in PUBLISHED:
            q = pub.get((prob, m))
            it, ng = (_fnum(q["iters"]), _fnum(q["grad_evals"])) if q else (math.nan, math.nan)
            line += " | " + ("-" if math.isnan(it) else f"{it:.0f}/{ng:.0f}").rjust(18)
        print(line)
    print(
        "(* = not converged to KKT <= tol; it/nf/ng = iterations / function / gradient evaluations)"
    )
    print()
    print(f"{'problem':10s}" + "".join(f" | {m[:14]:>14s} f-err / KKT" for m in methods))
    for prob in problems:
        line = f"{prob:10s}"
        for m in methods:
            r = by.get((prob, m))
            line += " | " + ("" if r is None else f"{r['f_err']:.1e} / {r['kkt']:.1e}").rjust(26)
        print(line)
    print()
    tc = {r["problem"]: r for r in rows if r["method"] == "trust-constr"}
    print(f"{'method':15s} {'converged':>10s} {'median it':>9s} {'median nf':>9s} {'median ng':>9s} "
          f"{'total s':>8s} {'nf < trust-constr':>18s} {'|f-f*|<1e-4':>11s}")  # fmt: skip
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        if not rs:
            continue
        conv = sum(r["converged"] for r in rs)
        its = statistics.median(r["iters"] for r in rs)
        nf = statistics.median(r["f_evals"] for r in rs)
        ng = statistics.median(r["grad_evals"] for r in rs)
        tot = sum(r["time_s"] for r in rs)
        fewer = [r["f_evals"] < tc[r["problem"]]["f_evals"] for r in rs if r["problem"] in tc]
        good_f = sum(1 for r in rs if r["f_err"] < 1e-4)
        frac = f"{sum(fewer)}/{len(fewer)}" if tc and m != "trust-constr" else "-"
        print(f"{m:15s} {conv:>4d}/{len(rs):<5d} {its:>9.1f} {nf:>9.1f} {ng:>9.1f} {tot:>8.2f} "
              f"{frac:>18s} {good_f:>7d}/{len(rs)}")  # fmt: skip
    for m in PUBLISHED:
        qs = [pub[(p, m)] for p in problems if (p, m) in pub]
        if qs:
            ok = [q for q in qs if _fnum(q["final_kkt"]) <= 1e-4]
            its_pub = statistics.median(_fnum(q["iters"]) for q in ok) if ok else math.nan
            line = f"{m + ' (pub.)':15s} {len(ok):>4d}/{len(qs):<5d} {its_pub:>9.1f}"
            if m.startswith("AdaSketch") and tc:
                # the authors' counting -> distinct points: ng / 2 - iterations
                nfs = {q["problem"]: _fnum(q["grad_evals"]) / 2 - _fnum(q["iters"]) for q in qs}
                fewer_pub = [nfs[p] < tc[p]["f_evals"] for p in nfs if p in tc]
                line += (f" {statistics.median(nfs.values()):>9.1f} {'':>9s} {'':>8s} "
                         f"{sum(fewer_pub):>14d}/{len(fewer_pub):<3d}")  # fmt: skip
            print(line)
    main_rows = [r for r in rows if r["method"] == methods[0]]
    if main_rows:
        conv = sum(r["converged"] for r in main_rows) / len(main_rows)
        med = statistics.median(r["iters"] for r in main_rows)
        fewer = [
            r["f_evals"] < tc[r["problem"]]["f_evals"] for r in main_rows if r["problem"] in tc
        ]
        # the performance-profile convention (Dolan & More 2002): a run that does not
        # converge used infinitely many evaluations, so the comparison is "converged, and
        # with fewer evaluations than trust-constr needed to converge (if it did)"
        fewer_pp = [
            r["converged"]
            and (not tc[r["problem"]]["converged"] or r["f_evals"] < tc[r["problem"]]["f_evals"])
            for r in main_rows
            if r["problem"] in tc
        ]
        print()
        if fewer_pp:
            print(f"{methods[0]} vs trust-constr, failures counted as infinitely many evaluations "
                  f"(performance-profile convention): fewer on {sum(fewer_pp)}/{len(fewer_pp)} = "
                  f"{sum(fewer_pp) / len(fewer_pp):.0%}")  # fmt: skip
        print(f"targets for {methods[0]}: converged {conv:.0%} (>= 95%: {'met' if conv >= 0.95 else 'MISSED'}); "
              f"median iterations {med:g} (<= 6: {'met' if med <= 6 else 'MISSED'})"
              + (f"; fewer f-evals than trust-constr on {sum(fewer)}/{len(fewer)} = "
                 f"{sum(fewer) / len(fewer):.0%} (>= 70%: {'met' if sum(fewer) >= 0.7 * len(fewer) else 'MISSED'})"
                 if fewer else ""))  # fmt: skip


def main() -> None:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=[m for m in METHODS if m != "alsketch-exact"],
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-4, help="KKT tolerance (the paper's 1e-4)")
    ap.add_argument(
        "--feas-tol",
        type=float,
        default=math.inf,
        help="also require max|c| <= this (default: off, the paper's criterion)",
    )
    ap.add_argument("--csv", type=Path, default=None)
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="extra options of the alsketch-* methods, e.g. accuracy=relative interpolate=false",
    )
    args = ap.parse_args()
    if shared_data_dir() is None:
        print("the shared data folder is absent (set WORKBENCH_DATA); nothing to run")
        return
    rows = run(args.methods, args.seed, args.tol, args.feas_tol, _parse_set(args.set))
    report(rows, args.methods)
    if args.csv is not None:
        with args.csv.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
