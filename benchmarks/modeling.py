"""Modelling overhead: the dense transport LP built four ways, side by side in one run.

For each size the script builds the same LP

    min sum_ij c_ij x_ij  s.t.  sum_j x_ij <= s_i,  sum_i x_ij >= d_j,  x >= 0

(nonzeros = 2 |I| |J|) and times, for every route:

* ``raw``: numpy CSR arrays straight into highspy's array ``passModel`` (the floor);
* ``ir``: the workbench IR with numpy data (the Python API) -> compile_linear -> passModel;
* ``ir-yaml``: the same IR with its data as nested lists, as a YAML file gives it (the
  list -> array conversion is then part of the cost);
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
from functools import partial
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
    """The floor: CSR index arrays built with numpy, passed with highspy's array ``passModel``."""
    import highspy

    t0 = time.perf_counter()
    ni, nj = cost.shape
    n = ni * nj
    # supply rows: row i holds columns i*nj .. i*nj+nj-1; demand row ni+j holds j, nj+j, ...
    sup_idx = np.arange(n, dtype=np.int32)
    dem_idx = (
        np.arange(ni, dtype=np.int32)[None, :] * nj + np.arange(nj, dtype=np.int32)[:, None]
    ).ravel()
    index = np.concatenate([sup_idx, dem_idx])
    start = np.concatenate(
        [np.arange(ni, dtype=np.int32) * nj, n + np.arange(nj, dtype=np.int32) * ni]
    )
    inf = highspy.kHighsInf
    h = _highs_quiet()
    h.passModel(
        n, ni + nj, 2 * n, int(highspy.MatrixFormat.kRowwise), int(highspy.ObjSense.kMinimize), 0.0,
        cost.ravel(), np.zeros(n), np.full(n, inf),
        np.concatenate([np.full(ni, -inf), demand]), np.concatenate([supply, np.full(nj, inf)]),
        start, index, np.ones(2 * n), np.zeros(n, dtype=np.int32),
    )  # fmt: skip
    return h, time.perf_counter() - t0


def ir_model(
    cost: np.ndarray, supply: np.ndarray, demand: np.ndarray, *, lists: bool = False
) -> Any:
    """The transport IR; data as numpy arrays (Python API) or, with *lists*, as YAML gives it."""
    from workbench.ir import model_from_dict

    ni, nj = cost.shape
    conv = (lambda a: a.tolist()) if lists else (lambda a: a)
    return model_from_dict(
        {
            "name": "transport",
            "sets": {"I": {"range": [1, ni]}, "J": {"range": [1, nj]}},
            "params": {
                "c": {"index": ["I", "J"], "values": conv(cost)},
                "s": {"index": ["I"], "values": conv(supply)},
                "d": {"index": ["J"], "values": conv(demand)},
            },
            "variables": {"x": {"index": ["I", "J"], "lb": 0}},
            "objective": {"sense": "min", "expr": "sum(c[i, j] * x[i, j] for i in I for j in J)"},
            "constraints": [
                {"name": "supply", "for": "i in I", "expr": "sum(x[i, j] for j in J) <= s[i]"},
                {"name": "demand", "for": "j in J", "expr": "sum(x[i, j] for i in I) >= d[j]"},
            ],
        }
    )


def ir(
    cost: np.ndarray, supply: np.ndarray, demand: np.ndarray, *, lists: bool = False
) -> tuple[Any, float]:
    """From an IR model (already built, as the Python API or an agent holds it) into HiGHS."""
    from workbench.compile.linear import compile_linear
    from workbench.compile.mps import load_into_highs

    model = ir_model(cost, supply, demand, lists=lists)
    t0 = time.perf_counter()
    lf = compile_linear(model)
    h = _highs_quiet()
    load_into_highs(h, lf)
    return h, time.perf_counter() - t0


def pyomo(cost: np.ndarray, supply: np.ndarray, demand: np.ndarray) -> tuple[Any, float]:
    from pyomo.contrib.appsi.solvers import Highs

    t0 = time.perf_counter()
    m = pyomo_model(cost, supply, demand)
    opt = Highs()
    opt.config.load_solution = False
    opt.highs_options = {"output_flag": False, "time_limit": 0.0}
    opt.set_instance(m)
    return opt, time.perf_counter() - t0


def pyomo_model(cost: np.ndarray, supply: np.ndarray, demand: np.ndarray) -> Any:
    """The transport LP as a Pyomo ``ConcreteModel`` (also used by ``pyomo_in.py``)."""
    import pyomo.environ as pyo

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
    return m


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
    m.add_constraints(
        x.sum("dim_0") >= xr.DataArray(demand, coords=[range(nj)], dims=["dim_1"]), name="dem"
    )
    h = m.to_highspy()
    h.setOptionValue("output_flag", False)
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
            "ir-yaml": partial(ir, lists=True),
            "linopy": linopy_route,
        }
        if k == 0 or args.pyomo_all:
            routes["pyomo"] = pyomo
        base = None
        base_total: float | None = None
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
            total = secs + solve_s
            if base_total is None and solve_s == solve_s:
                base_total = total
            e2e = f"{total / base_total:>16.2f}x" if base_total and solve_s == solve_s else ""
            print(
                f"{2 * ni * nj:>9} {name:>7} {secs:>16.3f} {secs / base:>12.2f}x {solve_s:>9.2f} "
                f"{obj:>14.2f} {e2e}"
            )
            del h
            gc.collect()


if __name__ == "__main__":
    main()
