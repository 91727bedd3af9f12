"""Pyomo models in: what reading a ConcreteModel costs, next to Pyomo's own routes, in one run.

The dense transport LP of ``modeling.py`` (nonzeros = 2 |I| |J|) is built once as a Pyomo
``ConcreteModel`` (not timed: the user pays it either way), then, per size:

* ``workbench``: :func:`workbench.compile.from_pyomo.from_pyomo` (the matrix form);
* ``standard_form``: Pyomo's ``LinearStandardFormCompiler`` (its own matrix extraction);
* ``appsi``: Pyomo's appsi HiGHS interface, ``set_instance`` (Pyomo's route into HiGHS);
* end to end: ``workbench.solve(model, backend="highs")`` against appsi HiGHS's solve.

It prints seconds and the ratio to ``standard_form``.  No assertion: a measurement.

Run: ``python benchmarks/pyomo_in.py [--sizes 20000,180000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere


def build(nnz: int, seed: int = 0) -> Any:
    """A Pyomo transport LP with about *nnz* nonzeros (|J| = 2 |I|), as in ``modeling.py``."""
    from modeling import data, dims, pyomo_model

    return pyomo_model(*data(*dims(nnz), seed=seed))


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of *repeat* runs, and the last run's return value."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def appsi(m: Any, solve: bool) -> Any:
    from pyomo.contrib.appsi.solvers import Highs

    opt = Highs()
    opt.highs_options = {"output_flag": False}
    if solve:
        return opt.solve(m).best_feasible_objective
    opt.set_instance(m)
    return None


def main() -> None:
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    import workbench
    from workbench.compile.from_pyomo import from_pyomo

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,180000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'nnz':>8} {'route':<22} {'seconds':>8} {'ratio':>6}")
    for nnz in (int(s) for s in args.sizes.split(",")):
        m = build(nnz)
        ref, info = best(lambda m=m: LinearStandardFormCompiler().write(m), args.repeat)
        rows = [("standard_form", ref)]
        t, form = best(lambda m=m: from_pyomo(m).form, args.repeat)
        assert form.nnz == info.A.nnz, (form.nnz, info.A.nnz)
        rows.append(("workbench from_pyomo", t))
        rows.append(("appsi set_instance", best(lambda m=m: appsi(m, False), args.repeat)[0]))
        t_wb, res = best(lambda m=m: workbench.solve(m, backend="highs"), 1)
        t_ap, obj = best(lambda m=m: appsi(m, True), 1)
        assert abs(res.objective - obj) <= 1e-6 * max(1.0, abs(obj)), (res.objective, obj)
        rows += [("solve: workbench", t_wb), ("solve: appsi", t_ap)]
        for name, sec in rows:
            print(f"{form.nnz:>8} {name:<22} {sec:>8.3f} {sec / ref:>6.2f}")


if __name__ == "__main__":
    main()
