"""The recorded global optima of issue 17's conformance problems, recomputed independently.

Each model is rewritten here in plain Python (numpy, SciPy's ``linprog``/SLSQP on convex
pieces) and its optimum found by enumeration, without the workbench compiler or any backend.
A recorded ``optimum`` or ``solution`` that disagrees fails here.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

from problems.conformance import load_conformance

PROBLEMS = {p.id: p for p in load_conformance()}


def _recorded(pid: str) -> tuple[float, dict]:
    p = PROBLEMS[pid]
    return float(p.optimum), p.meta.get("solution", {})


def _unique_best(cands: list[tuple[float, tuple]], maximize: bool) -> tuple[float, tuple]:
    cands = sorted(cands, key=lambda t: -t[0] if maximize else t[0])
    assert abs(cands[0][0] - cands[1][0]) > 1e-6, "the optimum should be unique"
    return cands[0]


def _ints(*ranges: range) -> list[tuple[int, ...]]:
    return list(itertools.product(*ranges))


def test_milp_max_nonconvex() -> None:
    def f(x: int, y: int) -> float:
        return max(x - 2 * y, y - 2 * x) - 3 * x - 2 * y

    pts = [(x, y) for x, y in _ints(range(6), range(6)) if x + y <= 6]
    best = _unique_best([(f(*p), p) for p in pts if max(p) >= 4], maximize=True)
    free = _unique_best([(f(*p), p) for p in pts], maximize=True)
    opt, sol = _recorded("milp_max_nonconvex")
    assert best == (opt, (sol["x"], sol["y"]))
    assert free[0] > best[0]  # the nonconvex-side constraint binds


def test_milp_min_nonconvex() -> None:
    def f(x: int, y: int) -> float:
        return min(2 * x - 3 * y, y - 2 * x + 1)

    pts = [(x, y) for x, y in _ints(range(6), range(6)) if x + y >= 4 and x >= 2]
    best = _unique_best([(f(*p), p) for p in pts if min(p) <= 1], maximize=False)
    free = min(f(*p) for p in pts)
    opt, sol = _recorded("milp_min_nonconvex")
    assert best == (opt, (sol["x"], sol["y"]))
    assert free < best[0]


def test_milp_abs_nonconvex() -> None:
    def f(x: int, y: int) -> float:
        return abs(x + y - 4) + y

    pts = [(x, y) for x, y in _ints(range(7), range(4)) if x + y <= 7]
    best = _unique_best([(f(*p), p) for p in pts if abs(p[0] - 3) >= 2], maximize=True)
    free = max(f(*p) for p in pts)
    opt, sol = _recorded("milp_abs_nonconvex")
    assert best == (opt, (sol["x"], sol["y"]))
    assert free > best[0]


def _grid_lp_check(pid: str, f, feasible, box: tuple[tuple[float, float], ...]) -> None:
    """Continuous convex-side problems: the recorded point is feasible and no grid point beats it."""
    opt, sol = _recorded(pid)
    names = list(sol)
    point = tuple(float(sol[n]) for n in names)
    assert feasible(*point) and f(*point) == pytest.approx(opt, abs=1e-12)
    sense = PROBLEMS[pid].model.objective.sense
    axes = [np.linspace(lo, hi, 401) for lo, hi in box]
    grids = np.meshgrid(*axes, indexing="ij")
    vals = f(*grids)
    ok = feasible(*grids)
    assert ok.any()
    better = vals[ok].min() if sense == "min" else vals[ok].max()
    assert (better >= opt - 1e-9) if sense == "min" else (better <= opt + 1e-9)


def test_lp_max_convex() -> None:
    _grid_lp_check(
        "lp_max_convex",
        lambda a, b: np.maximum(3 * a + 5 * b, 4 * (1 - a) + 6 * (1 - b)),
        lambda a, b: np.maximum(a, b) <= 0.8 + 1e-12,
        ((0.0, 1.0), (0.0, 1.0)),
    )


def test_lp_min_convex() -> None:
    _grid_lp_check(
        "lp_min_convex",
        lambda x, y: np.minimum(2 * x + y, x + 3 * y),
        lambda x, y: (x + y <= 4 + 1e-12) & (np.minimum(x, y) >= 1.5 - 1e-12),
        ((0.0, 4.0), (0.0, 4.0)),
    )


def test_lp_abs_convex() -> None:
    _grid_lp_check(
        "lp_abs_convex",
        lambda x, y: np.abs(x - 3) + 2 * np.abs(y - 1),
        lambda x, y: (np.abs(x - y) <= 1 + 1e-12) & (x + y >= 6 - 1e-12),
        ((0.0, 8.0), (0.0, 8.0)),
    )


def test_milp_binary_product() -> None:
    v, w = [6, 5, 4, 3], [5, 4, 3, 2]
    s = {(1, 2): 4, (1, 3): -2, (2, 3): 3, (2, 4): 2, (3, 4): 5}

    def value(b: tuple[int, ...]) -> float:
        return sum(vi * bi for vi, bi in zip(v, b)) + sum(
            sv * b[i - 1] * b[j - 1] for (i, j), sv in s.items()
        )

    pts = [b for b in _ints(*[range(2)] * 4) if sum(wi * bi for wi, bi in zip(w, b)) <= 9]
    best = _unique_best([(value(b), b) for b in pts if b[1] * b[2] <= b[0]], maximize=True)
    opt, sol = _recorded("milp_binary_product")
    assert best == (opt, tuple(sol["b"][i] for i in (1, 2, 3, 4)))
    assert max(value(b) for b in pts) > best[0]  # the product constraint binds


def _lp_max(c: list[float], a_ub, b_ub, bounds) -> tuple[float, np.ndarray] | None:
    res = linprog(-np.asarray(c, dtype=float), A_ub=a_ub, b_ub=b_ub, bounds=bounds)
    return (-float(res.fun), res.x) if res.status == 0 else None


def test_milp_binary_continuous() -> None:
    c, f, cap = [2, 3], [10, 5], [6, 8]
    cands = []
    for y in _ints(range(2), range(2)):
        lp = _lp_max(
            [5 * y[i] - c[i] for i in range(2)], [[y[0], y[1]]], [9], list(zip([0, 0], cap))
        )
        assert lp is not None
        cands.append((lp[0] - f[0] * y[0] - f[1] * y[1], (y, tuple(np.round(lp[1], 9)))))
    best = _unique_best(cands, maximize=True)
    opt, sol = _recorded("milp_binary_continuous")
    assert best[0] == pytest.approx(opt, abs=1e-9)
    assert best[1][0] == (sol["open"][1], sol["open"][2])
    assert best[1][1] == pytest.approx((sol["q"][1], sol["q"][2]), abs=1e-9)


def test_milp_indicator() -> None:
    p, f, lot = [3, 2, 2.5], [4, 1, 3], [5, 6, 4]

    def best_over(with_lots: bool) -> tuple[float, tuple]:
        cands = []
        for y in _ints(*[range(2)] * 3):
            lo = [lot[i] * y[i] if with_lots else 0.0 for i in range(3)]
            bounds = [(lo[i], 10.0 * y[i]) for i in range(3)]
            lp = _lp_max(p, [[1, 1, 1]], [12], bounds)
            if lp is not None:
                cands.append((lp[0] - sum(fi * yi for fi, yi in zip(f, y)), (y, tuple(lp[1]))))
        return _unique_best(cands, maximize=True)

    best = best_over(True)
    opt, sol = _recorded("milp_indicator")
    assert best[0] == pytest.approx(opt, abs=1e-9)
    assert best[1][0] == tuple(sol["y"][i] for i in (1, 2, 3))
    assert best[1][1] == pytest.approx(tuple(sol["x"][i] for i in (1, 2, 3)), abs=1e-9)
    assert best_over(False)[0] > best[0]  # the indicators bind


def test_minlp_exp_integer() -> None:
    cands = []
    for n in range(7):
        x = min(1.0, 3.5 - n)  # the best x in [0, 4] for this n
        if x >= 0:
            cands.append((math.exp(0.5 * n) - 2 * n + (x - 1) ** 2, (n, x)))
    best = _unique_best(cands, maximize=False)
    opt, sol = _recorded("minlp_exp_integer")
    assert best[0] == pytest.approx(opt, abs=1e-12)
    assert best[1] == (sol["n"], sol["x"])


def test_nlp_concave_box() -> None:
    def f(x, y):  # type: ignore[no-untyped-def]
        return -((x - 0.5) ** 2) - 2 * (y - 1) ** 2 + 0.3 * x + 0.2 * y

    best = _unique_best([(f(x, y), (x, y)) for x in (-1, 2) for y in (0, 3)], maximize=False)
    opt, sol = _recorded("nlp_concave_box")
    assert best[0] == pytest.approx(opt, abs=1e-12) and best[1] == (sol["x"], sol["y"])
    g = np.meshgrid(np.linspace(-1, 2, 301), np.linspace(0, 3, 301))
    assert f(*g).min() >= opt - 1e-12  # concave: no interior point is lower


def test_nlp_haverly() -> None:
    """For a fixed pool quality q the pooling model is an LP; sweep q over [1, 3]."""
    best = -math.inf
    for q in np.linspace(1.0, 3.0, 201):
        # columns: a, b, cx, cy, px, py
        res = linprog(
            -np.array([-6, -16, 9 - 10, 15 - 10, 9, 15], dtype=float),
            A_ub=[
                [0, 0, -0.5, 0, q - 2.5, 0],
                [0, 0, 0, 0.5, 0, q - 1.5],
                [0, 0, 1, 0, 1, 0],
                [0, 0, 0, 1, 0, 1],
            ],  # fmt: skip
            b_ub=[0, 0, 100, 200],
            A_eq=[[1, 1, 0, 0, -1, -1], [3, 1, 0, 0, -q, -q]],
            b_eq=[0, 0],
            bounds=[(0, None)] * 6,
        )
        assert res.status == 0
        best = max(best, -float(res.fun))
    opt, sol = _recorded("nlp_haverly")
    assert best == pytest.approx(opt, abs=1e-6)
    a, b, cx, cy, px, py, q = (sol[k] for k in ("a", "b", "cx", "cy", "px", "py", "q"))
    assert 9 * (px + cx) + 15 * (py + cy) - 6 * a - 16 * b - 10 * (cx + cy) == opt


def test_miqp_portfolio() -> None:
    """Each support of at most two assets is a convex QP (SLSQP finds its optimum)."""
    mu = np.array([0.10, 0.07, 0.12, 0.05])
    sig = np.array(
        [[0.09, 0.01, 0.03, 0.00], [0.01, 0.04, 0.00, 0.01],
         [0.03, 0.00, 0.16, 0.02], [0.00, 0.01, 0.02, 0.02]]
    )  # fmt: skip
    assert np.linalg.eigvalsh(sig).min() > 0  # convex
    cands = []
    for k in (1, 2):
        for sub in itertools.combinations(range(4), k):
            idx = list(sub)
            s, m = sig[np.ix_(idx, idx)], mu[idx]
            cons = [
                {"type": "eq", "fun": lambda w: w.sum() - 1},
                {"type": "ineq", "fun": lambda w, m=m: m @ w - 0.08},
            ]
            res = minimize(lambda w, s=s: w @ s @ w, np.full(k, 1 / k), bounds=[(0, 1)] * k,
                           constraints=cons, method="SLSQP", options={"ftol": 1e-14})  # fmt: skip
            if res.success and m @ res.x >= 0.08 - 1e-9:
                cands.append((float(res.fun), (sub, tuple(np.round(res.x, 6)))))
    best = _unique_best(cands, maximize=False)
    opt, sol = _recorded("miqp_portfolio")
    assert best[0] == pytest.approx(opt, abs=1e-9)
    names = ["A", "B", "C", "D"]
    assert [names[i] for i in best[1][0]] == [n for n in names if sol["z"][n] == 1]
    assert best[1][1] == pytest.approx(tuple(sol["w"][names[i]] for i in best[1][0]), abs=1e-6)
