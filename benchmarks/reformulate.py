"""Reformulation benchmark: ``auto`` (reformulated, then HiGHS where linear) against SCIP.

For each seeded instance of five scaled families, written as a user writes
them (``max``, ``abs``, products of binaries, bilinear pooling, ``when``
indicators), three runs side by side in one process:

1. ``auto``: ``workbench.solve(model)`` (exact reformulation, then the backend
   the reformulated class calls for: where it became a MILP, HiGHS and SCIP
   raced on it, the first proof winning; the backend column names the winner);
2. ``scip/orig``: ``backend="scip", reformulate=False`` (SCIP on the model as written);
3. ``scip/ref``: ``backend="scip", reformulate=True`` (SCIP on the reformulated model).

It prints termination, objective, the median seconds and the number of runs
(at least ``--repeats``; a mode whose runs are short runs until they add up to
1 s, at most 15 times), and per instance
``auto/fastest`` (auto's seconds over the fastest run that proved the
optimum).  Target: ``auto`` proves the optimum on every instance within 1.5x
of the fastest.  A run a backend cannot take is shown as ``refused`` with the
reason; a backend that is not installed as ``unavailable``.

Families (``--scale small`` is the default and finishes in a few minutes):

- ``makespan``: P||Cmax, ``min max_m sum_j p_j x_jm``, 30-60 jobs on 3-6 machines;
- ``l1reg``: integer l1 regression, ``min sum_k abs(y_k - a_k . w)``, integer ``w``;
- ``qap``: assignment with pairwise binary products ``F_ij D_pq x_ip x_jq``, n = 6-10;
- ``pooling``: Haverly 1-3 (optima 400, 600, 750) and an Adhya-1-like instance
  (the data of Adhya, Tawarmalani and Sahinidis' first problem in the
  p-formulation with pool capacities 75; literature optimum 549.80 for the
  classic form), bilinear;
- ``portfolio``: cardinality-constrained Markowitz (MIQP) with 20-50 assets,
  the cardinality written with ``when`` indicators.

    python benchmarks/reformulate.py                       # small sizes, 60 s per run
    python benchmarks/reformulate.py --scale full --time-limit 300
    python benchmarks/reformulate.py --families makespan,qap --seed 3
    python benchmarks/reformulate.py --scale full --families qap --instances qap_8 --repeats 7
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import workbench  # noqa: E402
from workbench.ir import model_from_dict  # noqa: E402
from workbench.ir.model import Model  # noqa: E402

SIZES: dict[str, dict[str, list[Any]]] = {
    "small": {
        "makespan": [(30, 3), (40, 4)],
        "l1reg": [(40, 3)],
        "qap": [6],
        "portfolio": [(20, 5)],
    },
    "full": {
        "makespan": [(30, 3), (40, 4), (50, 5), (60, 6)],
        "l1reg": [(40, 3), (80, 4), (120, 5)],
        "qap": [6, 8, 10],
        "portfolio": [(20, 5), (35, 8), (50, 10)],
    },
}


def makespan(n: int, m: int, rng: np.random.Generator) -> Model:
    """P||Cmax: jobs with integer times 1..20 on identical machines."""
    return model_from_dict(
        {
            "name": f"makespan_{n}x{m}",
            "sets": {"J": {"range": [1, n]}, "M": {"range": [1, m]}},
            "params": {"p": {"index": ["J"], "values": rng.integers(1, 21, n).tolist()}},
            "variables": {"x": {"index": ["J", "M"], "domain": "binary"}},
            "objective": {
                "sense": "min",
                "expr": "max(sum(p[j] * x[j, k] for j in J) for k in M)",
            },
            "constraints": [
                {"name": "assign", "for": "j in J", "expr": "sum(x[j, k] for k in M) == 1"}
            ],
        }
    )


def l1reg(n: int, f: int, rng: np.random.Generator) -> Model:
    """Integer least absolute deviations: w in [-10, 10]^f."""
    a = rng.normal(size=(n, f)).round(2)
    w = rng.integers(-5, 6, f)
    y = (a @ w + rng.normal(scale=0.5, size=n)).round(2)
    return model_from_dict(
        {
            "name": f"l1reg_{n}x{f}",
            "sets": {"K": {"range": [1, n]}, "F": {"range": [1, f]}},
            "params": {
                "a": {"index": ["K", "F"], "values": a.tolist()},
                "y": {"index": ["K"], "values": y.tolist()},
            },
            "variables": {"w": {"index": ["F"], "domain": "integer", "lb": -10, "ub": 10}},
            "objective": {
                "sense": "min",
                "expr": "sum(abs(y[k] - sum(a[k, g] * w[g] for g in F)) for k in K)",
            },
        }
    )


def qap(n: int, rng: np.random.Generator) -> Model:
    """Koopmans-Beckmann QAP with the objective as products of assignment binaries."""
    flow = rng.integers(0, 10, (n, n))
    np.fill_diagonal(flow, 0)
    pts = rng.integers(0, 10, (n, 2))
    dist = np.abs(pts[:, None, :] - pts[None, :, :]).sum(-1)
    return model_from_dict(
        {
            "name": f"qap_{n}",
            "sets": {"I": {"range": [1, n]}, "P": {"range": [1, n]}},
            "params": {
                "F": {"index": ["I", "I"], "values": flow.tolist()},
                "D": {"index": ["P", "P"], "values": dist.tolist()},
            },
            "variables": {"x": {"index": ["I", "P"], "domain": "binary"}},
            "objective": {
                "sense": "min",
                "expr": "sum(F[i, j] * D[p, q] * x[i, p] * x[j, q] for i in I for j in I "
                "if i != j and F[i, j] > 0 for p in P for q in P if p != q)",
            },
            "constraints": [
                {"name": "one_place", "for": "i in I", "expr": "sum(x[i, p] for p in P) == 1"},
                {"name": "one_item", "for": "p in P", "expr": "sum(x[i, p] for i in I) == 1"},
            ],
        }
    )


def haverly(k: int) -> Model:
    """Haverly's pooling problem 1, 2 or 3 (global optima 400, 600, 750)."""
    demand_x, cost_b = (100, 16) if k == 1 else (600, 16) if k == 2 else (100, 13)
    return model_from_dict(
        {
            "name": f"haverly{k}",
            "variables": {
                **{v: {"lb": 0, "ub": 600} for v in ("a", "b", "cx", "cy", "px", "py")},
                "q": {"lb": 1, "ub": 3},
            },
            "objective": {
                "sense": "max",
                "expr": f"9 * (px + cx) + 15 * (py + cy) - 6 * a - {cost_b} * b - 10 * (cx + cy)",
            },
            "constraints": [
                {"name": "pool", "expr": "a + b == px + py"},
                {"name": "quality", "expr": "q * (px + py) == 3 * a + b"},
                {"name": "sulfur_x", "expr": "q * px + 2 * cx <= 2.5 * (px + cx)"},
                {"name": "sulfur_y", "expr": "q * py + 2 * cy <= 1.5 * (py + cy)"},
                {"name": "demand_x", "expr": f"px + cx <= {demand_x}"},
                {"name": "demand_y", "expr": "py + cy <= 200"},
            ],
        }
    )


def adhya1() -> Model:
    """Adhya-1-like pooling: 5 components, 2 pools, 4 products, 4 qualities (p-formulation)."""
    sigma = [[1, 6, 4, 0.5], [4, 1, 3, 2], [4, 5.5, 3, 0.9], [3, 3, 3, 1], [1, 2.7, 4, 1.6]]
    upper = [[3, 3, 3.25, 0.75], [4, 2.5, 3.5, 1.5], [1.5, 5.5, 3.9, 0.8], [3, 4, 4, 1.8]]
    return model_from_dict(
        {
            "name": "adhya1",
            "sets": {
                "C": ["c1", "c2", "c3", "c4", "c5"],
                "O": ["o1", "o2"],
                "R": ["p1", "p2", "p3", "p4"],
                "Q": {"range": [1, 4]},
                "CO": {
                    "members": [
                        ["c1", "o1"],
                        ["c2", "o1"],
                        ["c3", "o2"],
                        ["c4", "o2"],
                        ["c5", "o2"],
                    ]
                },
            },
            "params": {
                "cost": {"index": ["C"], "values": [7, 3, 2, 10, 5]},
                "price": {"index": ["R"], "values": [16, 25, 15, 10]},
                "dem": {"index": ["R"], "values": [10, 25, 30, 10]},
                "sig": {"index": ["C", "Q"], "values": sigma},
                "up": {"index": ["R", "Q"], "values": upper},
            },
            "variables": {
                "f": {"index": ["C"], "lb": 0, "ub": 75},
                "y": {"index": ["O", "R"], "lb": 0, "ub": 75},
                "qq": {"index": ["O", "Q"], "lb": 0, "ub": 6},
            },
            "objective": {
                "sense": "max",
                "expr": "sum(price[r] * y[o, r] for o in O for r in R) - sum(cost[c] * f[c] for c in C)",
            },
            "constraints": [
                {
                    "name": "balance",
                    "for": "o in O",
                    "expr": "sum(f[c] for (c, o2) in CO if o2 == o) == sum(y[o, r] for r in R)",
                },
                {"name": "capacity", "for": "o in O", "expr": "sum(y[o, r] for r in R) <= 75"},
                {
                    "name": "pool_quality",
                    "for": "o in O, k in Q",
                    "expr": "qq[o, k] * sum(y[o, r] for r in R) == "
                    "sum(sig[c, k] * f[c] for (c, o2) in CO if o2 == o)",
                },
                {"name": "demand", "for": "r in R", "expr": "sum(y[o, r] for o in O) <= dem[r]"},
                {
                    "name": "spec",
                    "for": "r in R, k in Q",
                    "expr": "sum(qq[o, k] * y[o, r] for o in O) <= up[r, k] * sum(y[o, r] for o in O)",
                },
            ],
        }
    )


def portfolio(n: int, card: int, rng: np.random.Generator) -> Model:
    """Cardinality-constrained Markowitz: at most *card* assets, a return floor."""
    factors = rng.normal(scale=0.1, size=(n, 3))
    cov = factors @ factors.T + np.diag(rng.uniform(0.001, 0.01, n))
    mu = rng.uniform(0.02, 0.12, n)
    return model_from_dict(
        {
            "name": f"portfolio_{n}_k{card}",
            "sets": {"A": {"range": [1, n]}},
            "params": {
                "S": {"index": ["A", "A"], "values": cov.round(6).tolist()},
                "mu": {"index": ["A"], "values": mu.round(4).tolist()},
                "r": float(np.sort(mu)[-card:].mean().round(4) * 0.9),
                "K": card,
            },
            "variables": {
                "x": {"index": ["A"], "lb": 0, "ub": 1},
                "off": {"index": ["A"], "domain": "binary"},
            },
            "objective": {
                "sense": "min",
                "expr": "sum(S[i, j] * x[i] * x[j] for i in A for j in A)",
            },
            "constraints": [
                {"name": "budget", "expr": "sum(x[i] for i in A) == 1"},
                {"name": "ret", "expr": "sum(mu[i] * x[i] for i in A) >= r"},
                {"name": "held", "expr": "sum(1 - off[i] for i in A) <= K"},
                {"name": "out", "for": "i in A", "expr": "x[i] <= 0", "when": "off[i]"},
            ],
        }
    )


def instances(scale: str, families: set[str], seed: int) -> Iterator[tuple[str, Model]]:
    """The benchmark's models, seeded."""
    sizes = SIZES[scale]

    def rng(*key: int) -> np.random.Generator:  # one stream per instance: same data in any run
        return np.random.default_rng([seed, *key])

    if "makespan" in families:
        for n, m in sizes["makespan"]:
            yield "makespan", makespan(n, m, rng(1, n, m))
    if "l1reg" in families:
        for n, f in sizes["l1reg"]:
            yield "l1reg", l1reg(n, f, rng(2, n, f))
    if "qap" in families:
        for n in sizes["qap"]:
            yield "qap", qap(n, rng(3, n))
    if "pooling" in families:
        for k in (1, 2, 3):
            yield "pooling", haverly(k)
        yield "pooling", adhya1()
    if "portfolio" in families:
        for n, card in sizes["portfolio"]:
            yield "portfolio", portfolio(n, card, rng(5, n, card))


MODES: dict[str, dict[str, Any]] = {
    "auto": {"backend": "auto"},
    "scip/orig": {"backend": "scip", "reformulate": False},
    "scip/ref": {"backend": "scip", "reformulate": True},
}


def run(model: Model, mode: str, time_limit: float, seed: int) -> dict[str, Any]:
    """One solve; refusals and missing backends are rows, not crashes."""
    t0 = time.perf_counter()
    try:
        res = workbench.solve(model, time_limit=time_limit, seed=seed, **MODES[mode])
    except workbench.BackendUnavailableError as e:
        return {"term": "unavailable", "obj": None, "sec": None, "why": str(e), "backend": "-"}
    except workbench.WorkbenchError as e:
        return {"term": "refused", "obj": None, "sec": None, "why": str(e), "backend": "-"}
    sec = time.perf_counter() - t0
    return {
        "term": res.termination.value,
        "obj": res.objective,
        "sec": sec,
        "why": res.diagnostics.message or "",
        "backend": res.backend,
    }


SHORT_TOTAL = 1.0
"""Seconds of runs a mode collects on an instance before its median is taken (a run of
20 ms varies by a third from run to run on shared cores: one run is not a measurement)."""
MAX_RUNS = 15


HOPELESS = 5.0
"""A mode whose first run took this many times the fastest proving first run is not
repeated: it cannot turn out the fastest, and repeats are for precision where it counts."""


def runs(model: Model, time_limit: float, seed: int, repeats: int) -> dict[str, dict[str, Any]]:
    """Each mode at least *repeats* times, in turns (so drift in machine load hits all
    modes alike), and a short one more often: until its runs add up to ``SHORT_TOTAL``
    seconds or it has run ``MAX_RUNS`` times.  A mode whose first run did not prove the
    optimum, or took over ``HOPELESS`` times the fastest proving first run, runs once.
    The row keeps the last run's outcome, the median of the seconds and the number of
    runs."""
    out: dict[str, dict[str, Any]] = {}
    secs: dict[str, list[float]] = {mode: [] for mode in MODES}
    first: dict[str, float] = {}  # the first run's seconds of each mode that proved

    def wants(mode: str) -> bool:
        n = len(secs[mode])
        if mode in out and out[mode]["sec"] is None:  # refused or unavailable
            return False
        if n == 1 and (mode not in first or first[mode] > HOPELESS * min(first.values())):
            return False
        return n < repeats or (n < MAX_RUNS and sum(secs[mode]) < SHORT_TOTAL)

    while any(wants(mode) for mode in MODES):
        for mode in MODES:
            if wants(mode):
                out[mode] = run(model, mode, time_limit, seed)
                if out[mode]["sec"] is not None:
                    secs[mode].append(out[mode]["sec"])
                    if len(secs[mode]) == 1 and out[mode]["term"] == "optimal":
                        first[mode] = out[mode]["sec"]
    for mode, r in out.items():
        r["runs"] = len(secs[mode])
        if secs[mode]:
            r["sec"] = float(np.median(secs[mode]))
    return out


def warm_up(seed: int) -> None:
    """Import every backend the modes use once, so no row pays for first imports."""
    tiny = model_from_dict(
        {
            "variables": {"x": {"domain": "integer", "lb": 0, "ub": 3}, "y": {"lb": 0, "ub": 2}},
            "objective": {"sense": "max", "expr": "x + y - x * y"},
        }
    )
    for mode in MODES:
        run(tiny, mode, 10.0, seed)
    run(makespan(4, 2, np.random.default_rng(seed)), "auto", 10.0, seed)


def cpu_ticks() -> tuple[int, int] | None:
    """Busy and stolen CPU ticks of the machine so far (``/proc/stat``; ``None`` elsewhere).

    On a virtual machine the host can take CPU time away ("steal"); the race's two
    threads then share less than two CPUs, and milliseconds-long runs time badly.
    """
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]
    return sum(fields) - idle, fields[7]


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> str:
    """The stolen share of busy CPU time between two :func:`cpu_ticks` readings."""
    if before is None or after is None or after[0] <= before[0]:
        return "-"
    return f"{100 * (after[1] - before[1]) / (after[0] - before[0]):.0f}%"


def _fmt(x: float | None, spec: str = ".6g") -> str:
    return "-" if x is None else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", choices=sorted(SIZES), default="small")
    ap.add_argument("--families", default="makespan,l1reg,qap,pooling,portfolio")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--instances",
        default="",
        help="only these instances of the families, by name (qap_8,makespan_40x4); all if empty",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="solve each instance at least this many times per mode, in turns (a short run more"
        " often, up to 1 s or 15 runs), and report the median seconds",
    )
    args = ap.parse_args(argv)
    families = set(args.families.split(","))
    warm_up(args.seed)
    header = (
        f"{'instance':<18} {'mode':<10} {'backend':<8} {'termination':<16} {'objective':>12} "
        f"{'seconds':>9} {'runs':>5}"
    )
    print(header)
    print("-" * len(header))
    met = True
    notes: list[str] = []
    summary: list[tuple[str, str, str, str]] = []
    only = {n for n in args.instances.split(",") if n}
    for _family, model in instances(args.scale, families, args.seed):
        if only and model.name not in only:
            continue
        before = cpu_ticks()
        rows = runs(model, args.time_limit, args.seed, max(1, args.repeats))
        steal = steal_share(before, cpu_ticks())
        for mode, r in rows.items():
            print(
                f"{model.name:<18} {mode:<10} {r['backend']:<8} {r['term']:<16} "
                f"{_fmt(r['obj']):>12} {_fmt(r['sec'], '.3f'):>9} {r['runs']:>5}"
            )
            note = f"{mode}: {r['why']}"
            if r["term"] in ("refused", "unavailable") and note not in notes:
                notes.append(note)
        proven = [r["sec"] for r in rows.values() if r["term"] == "optimal"]
        auto = rows["auto"]
        if auto["term"] == "optimal" and proven:
            ratio = auto["sec"] / min(proven)
            ok = ratio <= 1.5
            summary.append((model.name, f"{ratio:.2f}", steal, "yes" if ok else "NO (slower)"))
        else:
            ok = False
            summary.append((model.name, "-", steal, f"NO ({auto['term']})"))
        met &= ok
    print()
    print(f"{'instance':<18} {'auto/fastest':>12} {'steal':>6}  target met")
    for name, ratio, steal, ok in summary:
        print(f"{name:<18} {ratio:>12} {steal:>6}  {ok}")
    print("(steal: CPU time the host took from this machine while the instance ran)")
    print()
    print(
        "target (auto proves the optimum on every instance within 1.5x of the fastest): "
        + ("met" if met else "NOT met")
    )
    for n in notes:
        print(f"note: {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
