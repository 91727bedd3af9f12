"""Modelling overhead: the dense transport LP built four ways, side by side in one run.

For each size the script builds the same LP

    min sum_ij c_ij x_ij  s.t.  sum_j x_ij <= s_i,  sum_i x_ij >= d_j,  x >= 0

(nonzeros = 2 |I| |J|) and times, for every route:

* ``raw``: numpy CSR arrays straight into ``highspy.passModel`` (the floor);
* ``ir``: the workbench IR (YAML-equivalent model) -> compile_linear -> passModel;
* ``pyomo``: a Pyomo ConcreteModel through the appsi HiGHS interface (only at the
  smaller size unless ``--pyomo-all``: it is about 50x slower);
* ``linopy``: if it is installed.

It prints, per route, the seconds spent outside HiGHS (model building and
loading, i.e. until HiGHS holds the model) and the same as a ratio to the raw
route, then the end-to-end time including HiGHS's solve.  Targets: overhead
ratio <= 1.5x at 1M nonzeros.  No assertion: this is a measurement.

Run: ``python benchmarks/modeling.py [--sizes 240000,1000000] [--repeat 3] [--solve]``
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def dims(nnz: int) -> tuple[int, int]:
    """|I|, |J| with 2|I||J| ~ nnz and |J| = 2|I|."""
    i = int(round((nnz / 4) ** 0.5))
    return i, 2 * i


def data(ni: int, nj: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cost = rng.uniform(1, 100, size=(ni, nj)).round(2)
    demand = rng.integers(1, 20, size=nj).astype(float)
    supply = np.full(ni, np.ceil(demand.sum() / ni * 1.2))
    return cost, supply, demand


def _highs_quiet() -> Any:
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def raw(cost: np.ndarray, supply: np.ndarray, demand: np.ndarray) -> tuple[Any, float]:
    import highspy

    t0 = time.perf_counter()
    ni, nj = cost.shape
    n = ni * nj
    # supply rows: row i has columns i*nj .. i*nj+nj-1; demand rows: row ni+j has columns j, nj+j, ...
    sup_idx = np.arange(n, dtype=np.int32)
    dem_idx = (
        np.arange(ni, dtype=np.int32)[None, :] * nj + np.arange(nj, dtype=np.int32)[:, None]
    ).ravel()
    index = np.concatenate([sup_idx, dem_idx])
    start = np.concatenate(
        [np.arange(ni, dtype=np.int32) * nj, n + np.arange(nj + 1, dtype=np.int32) * ni]
    )
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = ni + nj
    lp.col_cost_ = cost.ravel()
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.full(n, highspy.kHighsInf)
    lp.row_lower_ = np.concatenate([np.full(ni, -highspy.kHighsInf), demand])
    lp.row_upper_ = np.concatenate([supply, np.full(nj, highspy.kHighsInf)])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = start
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = np.ones(2 * n)
    h = _highs_quiet()
    h.passModel(lp)
    return h, time.perf_counter() - t0


def ir_model(cost: np.ndarray, supply: np.ndarray, demand: np.ndarray) -> Any:
    from workbench.ir import model_from_dict

    ni, nj = cost.shape
    return model_from_dict(
        {
            "name": "transport",
            "sets": {"I": {"range": [1, ni]}, "J": {"range": [1, nj]}},
            "params": {
                "c": {"index": ["I", "J"], "values": cost.tolist()},
                "s": {"index": ["I"], "values": supply.tolist()},
                "d": {"index": ["J"], "values": demand.tolist()},
            },
            "variables": {"x": {"index": ["I", "J"], "lb": 0}},
            "objective": {"sense": "min", "expr": "sum(c[i, j] * x[i, j] for i in I for j in J)"},
            "constraints": [
                {"name": "supply", "for": "i in I", "expr": "sum(x[i, j] for j in J) <= s[i]"},
                {"name": "demand", "for": "j in J", "expr": "sum(x[i, j] for i in I) >= d[j]"},
            ],
        }
    )


def ir(cost: np.ndarray, supply: np.ndarray, demand: np.ndarray) -> tuple[Any, float]:
    """From the IR (already parsed, as an app or agent holds it) into HiGHS."""
    from workbench.compile.linear import compile_linear
    from workbench.compile.mps import load_into_highs

    model = ir_model(cost, supply, demand)
    t0 = time.perf_counter()
    lf = compile_linear(model)
    h = _highs_quiet()
    load_into_highs(h, lf)
    return h, time.perf_counter() - t0


def pyomo(cost: np.ndarray, supply: np.ndarray, demand: np.ndarray) -> tuple[Any, float]:
    import pyomo.environ as pyo
    from pyomo.contrib.appsi.solvers import Highs

    t0 = time.perf_counter()
    ni, nj = cost.shape
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(0, ni - 1)
    m.J = pyo.RangeSet(0, nj - 1)
    m.x = pyo.Var(m.I, m.J, domain=pyo.NonNegativeReals)
    m.obj = pyo.Objective(
        expr=pyo.quicksum(float(cost[i, j]) * m.x[i, j] for i in m.I for j in m.J)
    )
    m.sup = pyo.Constraint(
        m.I, rule=lambda m, i: pyo.quicksum(m.x[i, j] for j in m.J) <= float(supply[i])
    )
    m.dem = pyo.Constraint(
        m.J, rule=lambda m, j: pyo.quicksum(m.x[i, j] for i in m.I) >= float(demand[j])
    )
    opt = Highs()
    opt.config.load_solution = False
    opt.highs_options = {"output_flag": False, "time_limit": 0.0}
    opt.set_instance(m)
    return opt, time.perf_counter() - t0


def linopy_route(
    cost: np.ndarray, supply: np.ndarray, demand: np.ndarray
) -> tuple[Any, float] | None:
    try:
        import linopy
        import xarray as xr
    except ImportError:
        return None
    t0 = time.perf_counter()
    ni, nj = cost.shape
    m = linopy.Model()
    x = m.add_variables(lower=0, coords=[range(ni), range(nj)], name="x")
    c = xr.DataArray(cost, coords=[range(ni), range(nj)])
    m.add_objective((c * x).sum())
    m.add_constraints(x.sum("dim_1") <= xr.DataArray(supply, coords=[range(ni)]), name="sup")
    m.add_constraints(x.sum("dim_0") >= xr.DataArray(demand, coords=[range(nj)]), name="dem")
    h = m.to_highspy()
    return h, time.perf_counter() - t0


def best_of(fn: Callable[[], tuple[Any, float] | None], repeat: int) -> tuple[Any, float] | None:
    best: tuple[Any, float] | None = None
    for _ in range(repeat):
        gc.collect()
        out = fn()
        if out is None:
            return None
        if best is None or out[1] < best[1]:
            best = out
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="240000,1000000", help="comma-separated nonzero counts")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--solve", action="store_true", help="also solve with HiGHS and report end-to-end"
    )
    ap.add_argument("--pyomo-all", action="store_true", help="time Pyomo at every size (slow)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"{'nnz':>9} {'route':>7} {'outside HiGHS s':>16} {'ratio to raw':>13} {'solve s':>9} {'objective':>14}"
    )
    for k, nnz in enumerate(sizes):
        ni, nj = dims(nnz)
        cost, supply, demand = data(ni, nj)
        inputs = (cost, supply, demand)
        routes: dict[str, Callable[..., tuple[Any, float] | None]] = {
            "raw": raw,
            "ir": ir,
            "linopy": linopy_route,
        }
        if k == 0 or args.pyomo_all:
            routes["pyomo"] = pyomo
        base = None
        for name, fn in routes.items():
            out = best_of(
                lambda fn=fn, inputs=inputs: fn(*inputs), 1 if name == "pyomo" else args.repeat
            )
            if out is None:
                print(f"{2 * ni * nj:>9} {name:>7} {'not installed':>16}")
                continue
            h, secs = out
            if base is None:
                base = secs
            solve_s, obj = float("nan"), float("nan")
            if args.solve and name != "pyomo":
                t = time.perf_counter()
                h.run()
                solve_s = time.perf_counter() - t
                obj = h.getInfo().objective_function_value
            print(
                f"{2 * ni * nj:>9} {name:>7} {secs:>16.3f} {secs / base:>12.2f}x {solve_s:>9.2f} {obj:>14.2f}"
            )
            del h
            gc.collect()


if __name__ == "__main__":
    main()
