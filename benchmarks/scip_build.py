"""Building a SCIP model from a workbench model: the bulk path against pyscipopt's, in one run.

For each size (nonzeros of the linear rows), three models:

* ``lp``: a sparse random LP, five nonzeros a row, as a ``LinearForm`` (as MPS/LP files
  and linear IR models reach the backend), built by ``build_linear``;
* ``miqp``: the same rows, a third of the columns integer, and a diagonal-plus-rank-5
  quadratic objective over 200 of the columns (``build_linear``, epigraph row);
* ``nl``: the transport IR of ``modeling.py`` (dense rows) with ``+ exp(...)`` in the
  objective, compiled once, built by ``build_structure`` (linear families in bulk, the
  objective as a SCIP expression).

Columns: ``pyscipopt`` (``bulk=False``: one ``Expr`` and ``addCons`` a row, the path
before this change), ``bulk`` (rows through SCIP's C functions, ``solvers/scip/capi.py``),
their ratio, and HiGHS loading the same matrix (``load_into_highs``; LP and MIQP) with the
ratio ``bulk / highs``.  Each figure is the fastest of ``--repeat`` runs, paths interleaved.

Then end to end, ``workbench.solve(model, backend="scip", reformulate=True)`` on the
reformulated ``makespan_60x6`` and ``l1reg_120x5`` of ``reformulate.py``, with the build
path switched for the whole run (the backend's ``build_linear``/``build_structure``
replaced by their ``bulk=False`` versions: a benchmark-only switch), and the backend's own
``timings.load``.

``bulk=False`` switches only the rows: both columns share the other changes (a linear
objective set with the variables; long polynomials inside ``exp``/``log``/division and sums
of general expressions through auxiliary variables, which is what the ``nl`` rows measure
against the pinned figures below).

Pinned before the change (same machine, 2 shared cores, one run): ``build_linear`` of a
random LP with 300k nonzeros at 2/5/20 a row took 2.84/1.46/0.83 s (HiGHS 0.06/0.05/0.05 s);
``nl`` took 0.26/21.7/244 s at 10k/100k/300k nonzeros (pyscipopt 6 converts a polynomial
into a general expression, and sums general expressions, in quadratic time).

No assertion: a measurement.  Run: ``python benchmarks/scip_build.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workbench.compile.linear_form import Block, LinearForm  # noqa: E402

SIZES = (10_000, 100_000, 300_000)
PER_ROW = 5


def sparse_lf(nnz: int, seed: int, *, miqp: bool = False) -> LinearForm:
    """A random feasible LP (or MIQP) with *nnz* nonzeros, ``PER_ROW`` a row."""
    rng = np.random.default_rng(seed)
    m, n = nnz // PER_ROW, max(nnz // 10, 2 * PER_ROW)
    rows = np.repeat(np.arange(m), PER_ROW)
    cols = rng.integers(0, n, nnz)
    a = sp.csr_matrix((rng.uniform(1, 10, nnz).round(2), (rows, cols)), shape=(m, n))
    rhs = a @ rng.uniform(0, 1, n) + 1.0
    q = None
    if miqp:
        k = min(200, n)
        f = rng.normal(size=(k, 5))
        block = f @ f.T + 0.1 * np.eye(k)
        q = sp.csr_matrix(
            (block.ravel(), (np.repeat(np.arange(k), k), np.tile(np.arange(k), k))), shape=(n, n)
        )
    return LinearForm(
        c=-rng.uniform(0, 1, n),
        A=a,
        row_lb=np.full(m, -np.inf),
        row_ub=rhs,
        col_lb=np.zeros(n),
        col_ub=np.full(n, 10.0),
        integrality=(np.arange(n) % 3 == 0) if miqp else np.zeros(n, dtype=bool),
        Q=q,
        columns=[Block("x", 0, n, list(range(n)))],
        rows=[Block("c", 0, m, list(range(m)))],
    )


def nl_structure(nnz: int, seed: int) -> Any:
    """The transport IR with a nonlinear objective term, compiled."""
    from modeling import data, dims, ir_model

    from workbench.compile.structure import compile_structure
    from workbench.ir import model_from_dict

    base = ir_model(*data(*dims(nnz), seed=seed)).model_dump()
    base["objective"]["expr"] += " + exp(0.001 * sum(x[i, j] for i in I for j in J))"
    return compile_structure(model_from_dict(base))


def fastest(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """The fastest of *repeat* runs of each, interleaved."""
    best = {k: float("inf") for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def _scip() -> Any:
    import pyscipopt

    m = pyscipopt.Model()
    m.hideOutput()
    return m


def _highs(lf: LinearForm) -> None:
    import highspy

    from workbench.compile.mps import load_into_highs

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    load_into_highs(h, lf)


def _built(build: Callable[..., Any], source: Any, **kw: Any) -> Any:
    """*build* into a fresh quiet SCIP model."""
    return build(_scip(), source, **kw)


def _switch(module: Any, lin: Callable[..., Any], struct: Callable[..., Any]) -> None:
    """Point the backend module's build functions at *lin* / *struct* (benchmark only)."""
    for name, fn in (("build_linear", lin), ("build_structure", struct)):
        setattr(module, name, fn)


def build_table(repeat: int, seed: int) -> None:
    from solvers.scip.build import build_linear, build_structure

    warm = sparse_lf(1000, seed)  # first calls (imports, SCIP plugins) are not timed
    fastest(
        {"a": functools.partial(_built, build_linear, warm), "b": functools.partial(_highs, warm)},
        1,
    )
    print(f"{'model':6} {'nonzeros':>9} {'pyscipopt s':>12} {'bulk s':>8} {'speed-up':>9}"
          f" {'highs s':>8} {'bulk/highs':>11}")  # fmt: skip
    for nnz in SIZES:
        for kind in ("lp", "miqp", "nl"):
            fns: dict[str, Callable[[], Any]]
            if kind == "nl":
                cm = nl_structure(nnz, seed)
                fns = {
                    "old": functools.partial(_built, build_structure, cm, bulk=False),
                    "new": functools.partial(_built, build_structure, cm),
                }
            else:
                lf = sparse_lf(nnz, seed, miqp=kind == "miqp")
                fns = {
                    "old": functools.partial(_built, build_linear, lf, bulk=False),
                    "new": functools.partial(_built, build_linear, lf),
                    "highs": functools.partial(_highs, lf),
                }
            t = fastest(fns, repeat)
            hs = f"{t['highs']:8.3f} {t['new'] / t['highs']:11.1f}" if "highs" in t else (
                f"{'-':>8} {'-':>11}")  # fmt: skip
            print(f"{kind:6} {nnz:9d} {t['old']:12.3f} {t['new']:8.3f}"
                  f" {t['old'] / t['new']:9.2f} {hs}")  # fmt: skip


def solve_table(repeat: int, seed: int, time_limit: float) -> None:
    import reformulate as bench

    import solvers.scip.backend as backend
    import workbench
    from solvers.scip.build import build_linear, build_structure

    paths: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
        "pyscipopt": (functools.partial(build_linear, bulk=False),
                      functools.partial(build_structure, bulk=False)),
        "bulk": (build_linear, build_structure),
    }  # fmt: skip
    models = {
        "makespan_60x6": bench.makespan(60, 6, np.random.default_rng([seed, 1, 60, 6])),
        "l1reg_120x5": bench.l1reg(120, 5, np.random.default_rng([seed, 2, 120, 5])),
    }
    print(f"\n{'instance':14} {'path':10} {'termination':12} {'objective':>10}"
          f" {'load s':>7} {'solve() s':>10}")  # fmt: skip
    for name, model in models.items():
        secs: dict[str, list[float]] = {p: [] for p in paths}
        for _ in range(repeat):
            for path, (lin, struct) in paths.items():
                _switch(backend, lin, struct)
                t0 = time.perf_counter()
                res = workbench.solve(
                    model, backend="scip", reformulate=True, time_limit=time_limit, seed=seed
                )
                secs[path].append(time.perf_counter() - t0)
                if len(secs[path]) == repeat:
                    print(f"{name:14} {path:10} {res.termination.value:12}"
                          f" {res.objective if res.objective is not None else float('nan'):10.6g}"
                          f" {res.timings.load:7.3f} {float(np.median(secs[path])):10.3f}")  # fmt: skip
        old, new = np.median(secs["pyscipopt"]), np.median(secs["bulk"])
        print(f"{name:14} ratio pyscipopt/bulk end to end: {old / new:.2f}")
    _switch(backend, build_linear, build_structure)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args()
    build_table(args.repeat, args.seed)
    solve_table(args.repeat, args.seed, args.time_limit)


if __name__ == "__main__":
    main()
