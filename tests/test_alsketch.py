"""The ``alsketch`` backend: sketches, merit, status table, refusals, diagnoses, baselines, HS/BT problems."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import workbench
from workbench.errors import OptionsError, UnsupportedProblemError
from workbench.result import Termination

torch = pytest.importorskip("torch")

from solvers.alsketch import AlSketchBackend, solve_equality  # noqa: E402
from solvers.alsketch.backend import STATUS_MAP, outcome_result, termination  # noqa: E402
from solvers.alsketch.engine import EqOutcome  # noqa: E402
from solvers.alsketch.merit import ExactAugmentedLagrangian, analyse_jacobian  # noqa: E402
from solvers.alsketch.options import METHODS, AlSketchOptions, alsketch_options  # noqa: E402
from solvers.alsketch.sketch import ExactSolve, GaussianSketch, KaczmarzSketch  # noqa: E402

HS28 = {
    "name": "hs28",
    "sets": {"N": {"range": [0, 2]}},
    "variables": {"x": {"index": ["N"], "init": 1.0}},
    "objective": {"expr": "(x[0] + x[1])**2 + (x[1] + x[2])**2"},
    "constraints": [{"name": "lin", "expr": "x[0] + 2*x[1] + 3*x[2] == 1"}],
}
HS40 = {
    "name": "hs40",
    "sets": {"N": {"range": [0, 3]}},
    "variables": {"x": {"index": ["N"], "init": 0.8}},
    "objective": {"expr": "-x[0]*x[1]*x[2]*x[3]"},
    "constraints": [
        {"name": "a", "expr": "x[0]**3 + x[1]**2 == 1"},
        {"name": "b", "expr": "x[0]**2*x[3] - x[2] == 0"},
        {"name": "c", "expr": "x[3]**2 == x[1]"},
    ],
}


def _kkt_system(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A well-conditioned KKT matrix (sketch-and-project slows with cond(K)²)."""
    rng = np.random.default_rng(seed)
    a = 0.2 * rng.standard_normal((n, n))
    b = 2.0 * np.eye(n) + a + a.T
    j = np.linalg.qr(rng.standard_normal((n, m)))[0].T
    k = np.block([[b, j.T], [j, np.zeros((m, m))]])
    return k, rng.standard_normal(n + m)


# ------------------------------------------------------------------ sketches
@pytest.mark.parametrize(
    "solver", [GaussianSketch(3), GaussianSketch(), KaczmarzSketch(), ExactSolve()]
)
def test_sketch_solvers_reach_the_requested_accuracy(solver) -> None:
    k, b = _kkt_system(6, 2, seed=1)
    res = solver.solve(k, b, np.zeros(8), 1e-8, 20_000, np.random.default_rng(0))
    assert res.converged and res.residual <= 1e-8
    assert np.allclose(res.z, np.linalg.solve(k, b), atol=1e-6)


def test_sketch_warm_start_and_iteration_cap() -> None:
    k, b = _kkt_system(6, 2, seed=2)
    res = KaczmarzSketch().solve(k, b, np.zeros(8), 1e-12, 8, np.random.default_rng(0))
    assert not res.converged and res.iters == 8
    more = KaczmarzSketch().solve(k, b, res.z, 1e-8, 20_000, np.random.default_rng(1))
    assert more.converged
    with pytest.raises(ValueError, match="sketch size"):
        GaussianSketch(0)


# ------------------------------------------------------------------ merit
def test_merit_gradient_matches_finite_differences() -> None:
    """∇L_η from (c, ∇ₓL, J, H) against central differences of L_η(x, λ)."""
    rng = np.random.default_rng(0)
    xt = torch.tensor(rng.standard_normal(3), dtype=torch.float64)
    lam = rng.standard_normal(2)
    merit = ExactAugmentedLagrangian(eta1=2.0, eta2=0.3)

    def f(x):
        return x[0] ** 2 * x[1] + torch.sin(x[2])

    def c(x):
        return torch.stack([x[0] + x[1] ** 2 - 1, x[0] * x[2]])

    def parts(x, lam):
        xx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        lag = f(xx) + (torch.tensor(lam) * c(xx)).sum()
        (g,) = torch.autograd.grad(lag, xx)
        return float(f(xx).detach()), c(xx).detach().numpy(), g.numpy()

    x = xt.numpy()
    fv, cv, gl = parts(x, lam)
    jac = torch.autograd.functional.jacobian(c, xt).numpy()
    hess = torch.autograd.functional.hessian(
        lambda z: f(z) + (torch.tensor(lam) * c(z)).sum(), xt
    ).numpy()
    grad = merit.gradient(cv, gl, jac, hess)
    z0 = np.concatenate([x, lam])
    fd = np.zeros(5)
    for i in range(5):
        e = np.zeros(5)
        e[i] = 1e-6
        hi = merit.value(*_split(parts, z0 + e))
        lo = merit.value(*_split(parts, z0 - e))
        fd[i] = (hi - lo) / 2e-6
    assert np.allclose(grad, fd, atol=1e-5)


def _split(parts, z):
    x, lam = z[:3], z[3:]
    fv, cv, gl = parts(x, lam)
    return fv, cv, lam, gl


def test_jacobian_analysis_names_dependent_rows_and_inconsistency() -> None:
    jac = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    info = analyse_jacobian(jac, np.array([1.0, 2.0, 0.0]))
    assert (
        info.rank == 2 and info.dependent == [0, 1] and info.consistent(np.array([1.0, 2.0, 0.0]))
    )
    info = analyse_jacobian(jac, np.array([1.0, 5.0, 0.0]))
    assert not info.consistent(np.array([1.0, 5.0, 0.0]))
    assert analyse_jacobian(np.eye(2), np.ones(2)).full_rank


# ------------------------------------------------------------------ table and options
def test_status_table_is_exhaustive() -> None:
    """Every native status the code can produce is in the table, and each maps as documented."""
    root = Path(__file__).resolve().parent.parent / "solvers" / "alsketch"
    src = "".join((root / f).read_text(encoding="utf-8") for f in ("engine.py", "baselines.py"))
    produced = set(re.findall(r'(?:out\(|status, msg = |EqOutcome\()"([a-z_]+)"', src))
    assert produced and produced <= set(STATUS_MAP), produced - set(STATUS_MAP)
    expected = {
        "converged": Termination.OPTIMAL, "max_iter": Termination.ITERATION_LIMIT,
        "time_limit": Termination.TIME_LIMIT, "line_search_failed": Termination.ERROR,
        "no_descent": Termination.ERROR, "diverged": Termination.ERROR,
        "unbounded": Termination.UNBOUNDED, "eval_error": Termination.ERROR,
        "inconsistent_linear": Termination.INFEASIBLE, "inconsistent_jacobian": Termination.ERROR,
        "solver_failed": Termination.ERROR,
    }  # fmt: skip
    assert expected == STATUS_MAP
    for status, term in STATUS_MAP.items():
        assert termination(status) is term
    assert termination("something new") is Termination.ERROR


@pytest.mark.parametrize("status", sorted(STATUS_MAP))
def test_feasibility_upgrade_of_each_status(status: str) -> None:
    out = EqOutcome(status, np.zeros(1), np.zeros(0), 1.0, 0.0, 1.0, 3, "why")
    term, msg = outcome_result(out, "alsketch")
    base = STATUS_MAP[status]
    if base in (Termination.ITERATION_LIMIT, Termination.TIME_LIMIT, Termination.ERROR) and status not in (
        "eval_error", "diverged"
    ):  # fmt: skip
        assert term is Termination.FEASIBLE
    else:
        assert term is base
    assert "why" in msg
    infeasible = EqOutcome(status, np.zeros(1), np.zeros(0), 1.0, 0.5, 1.0, 3, "why")
    term2, _ = outcome_result(infeasible, "alsketch")
    assert term2 is (Termination.ITERATION_LIMIT if base is Termination.OPTIMAL else base)


def test_options_are_validated() -> None:
    assert alsketch_options({}) == AlSketchOptions()
    assert alsketch_options({"method": "slsqp"}).method == "SLSQP"
    with pytest.raises(OptionsError, match="'sketchy'.*known"):
        alsketch_options({"sketchy": 1})
    with pytest.raises(OptionsError, match="'nu' must be > 1"):
        alsketch_options({"nu": 1.0})
    with pytest.raises(OptionsError, match="'sketch' must be one of"):
        alsketch_options({"sketch": "srht"})
    with pytest.raises(OptionsError, match="'max_iter'"):
        alsketch_options({"max_iter": 0})
    with pytest.raises(OptionsError, match="'beta' must lie in"):
        alsketch_options({"beta": 1.5})
    with pytest.raises(OptionsError, match="'sharpen'"):
        alsketch_options({"sharpen": "yes"})
    with pytest.raises(OptionsError, match="'accuracy' must be one of paper, relative"):
        alsketch_options({"accuracy": "tight"})
    with pytest.raises(OptionsError, match="'warm_start'"):
        alsketch_options({"warm_start": 1})


# ------------------------------------------------------------------ backend
def test_backend_solves_hs28_with_duals_and_diagnostics() -> None:
    r = workbench.solve(HS28, backend="alsketch", seed=0)
    assert r.termination is Termination.OPTIMAL and r.backend == "alsketch"
    assert abs(r.objective) < 1e-8
    assert np.allclose([r.value("x", i) for i in range(3)], [0.5, -0.5, 0.5], atol=1e-4)
    ex = r.diagnostics.extra
    assert ex["kkt_residual"] <= 1e-4 and ex["f_evals"] >= 1 and ex["grad_evals"] >= 1
    assert {"eta1", "eta2", "sketch_iters", "sketch_fallbacks"} <= set(ex)
    assert (
        isinstance(r.duals["lin"], float) and abs(r.duals["lin"]) < 1e-3
    )  # f* = 0: zero multiplier
    assert r.iterations == len(r.history) - 1 and r.history[-1][2] <= 1e-4
    assert "local optimum" in r.diagnostics.message


def test_duals_are_objective_sensitivities() -> None:
    """min x² + y² s.t. x + y = b: f* = b²/2, so ∂f*/∂b = b."""
    m = {"variables": {"x": {"init": 3.0}, "y": {}}, "objective": {"expr": "x**2 + y**2"},
         "constraints": [{"name": "s", "expr": "x + y == 2"}]}  # fmt: skip
    r = workbench.solve(m, backend="alsketch", seed=0)
    assert r.termination is Termination.OPTIMAL
    assert math.isclose(r.objective, 2.0, rel_tol=1e-6) and math.isclose(
        r.duals["s"], 2.0, rel_tol=1e-4
    )
    mx = dict(m, objective={"sense": "max", "expr": "-(x**2 + y**2)"})
    r2 = workbench.solve(mx, backend="alsketch", seed=0)
    assert math.isclose(r2.objective, -2.0, rel_tol=1e-6) and math.isclose(
        r2.duals["s"], -2.0, rel_tol=1e-4
    )


@pytest.mark.parametrize("sketch", ["gaussian", "kaczmarz", "exact"])
def test_hs40_every_sketch(sketch: str) -> None:
    r = workbench.solve(HS40, backend="alsketch", seed=1, sketch=sketch)
    assert r.termination is Termination.LOCALLY_OPTIMAL and math.isclose(
        r.objective, -0.25, abs_tol=1e-6
    )  # nonconvex: a KKT point only


def test_equality_qp_takes_one_newton_step() -> None:
    """HS28 (quadratic f, linear constraint): the paper's accuracy rule makes the sketched step a
    Newton step, which solves it: one iteration, two points evaluated (x0 and the solution)."""
    r = workbench.solve(HS28, backend="alsketch", seed=0, sketch="gaussian")
    ex = r.diagnostics.extra
    assert r.termination is Termination.OPTIMAL and r.iterations == 1
    assert ex["f_evals"] == 2 and ex["grad_evals"] == 2 and ex["hess_evals"] == 1
    loose = workbench.solve(HS28, backend="alsketch", seed=0, accuracy="relative")
    assert loose.termination is Termination.OPTIMAL and loose.iterations > 1


def test_every_evaluation_is_at_a_distinct_point() -> None:
    """f_evals counts distinct points: x0 plus one per line-search trial (the accepted trial is
    the next iterate and is not evaluated again)."""
    from solvers.alsketch.engine import run_alsketch
    from solvers.alsketch.problem import EqualityProblem

    points: list[tuple[float, ...]] = []

    def f(x):
        points.append(tuple(x.detach().tolist()))
        return -x[0] * x[1] * x[2] * x[3]

    def c(x):
        return torch.stack([x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1]])

    prob = EqualityProblem.from_callables(f, c, [0.8] * 4)
    points.clear()
    out = run_alsketch(prob, alsketch_options({}), np.random.default_rng(0))
    assert out.status == "converged"
    trials = out.iterations + out.extra["backtracks"]
    assert out.counters["f_evals"] == out.counters["grad_evals"] == 1 + trials
    assert len(set(points)) == out.counters["f_evals"]  # Hessians reuse iterates, nothing else


@pytest.mark.parametrize("accuracy", ["paper", "relative"])
def test_local_convergence_is_superlinear(accuracy: str) -> None:
    """The inner accuracy is relative to the KKT residual, so it tightens near the solution and
    the KKT residual drops superlinearly (ratios shrink) on HS40's unit-step tail."""
    r = workbench.solve(HS40, backend="alsketch", seed=3, accuracy=accuracy, tol=1e-10)
    kkt = [h[2] for h in r.history]
    ratios = [b / a for a, b in zip(kkt, kkt[1:], strict=False)]
    assert r.termination is Termination.LOCALLY_OPTIMAL
    assert ratios[-1] < 1e-2 and ratios[-1] < ratios[0]


def test_same_seed_same_run() -> None:
    a = workbench.solve(HS40, backend="alsketch", seed=7, sketch_size=2)
    b = workbench.solve(HS40, backend="alsketch", seed=7, sketch_size=2)
    assert (
        a.values == b.values
        and a.diagnostics.extra["sketch_iters"] == b.diagnostics.extra["sketch_iters"]
    )


@pytest.mark.parametrize("method", [m for m in METHODS if m != "alsketch"])
def test_baselines_behind_the_same_interface(method: str) -> None:
    r = workbench.solve(HS40, backend="alsketch", method=method, seed=0)
    assert r.termination is Termination.LOCALLY_OPTIMAL, r.diagnostics.message
    assert math.isclose(r.objective, -0.25, abs_tol=1e-5)
    assert r.diagnostics.extra["method"] == method and r.diagnostics.extra["f_evals"] > 0


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ({"variables": {"x": {}}, "objective": {"expr": "abs(x - 1)"},
          "constraints": [{"expr": "x == 2"}]}, "non-smooth expressions: objective: abs"),
        ({"variables": {"x": {}, "y": {}}, "objective": {"expr": "x**2"},
          "constraints": [{"name": "m", "expr": "max(x, y) == 1"}]}, "(m): max"),
        ({"variables": {"x": {}}, "objective": {"expr": "x**2"},
          "constraints": [{"name": "ub", "expr": "x <= 1"}]}, "inequalities: ub"),
        ({"variables": {"x": {"lb": 0}}, "objective": {"expr": "x**2"},
          "constraints": [{"expr": "x == 1"}]}, "free variables only"),
        ({"variables": {"x": {"domain": "integer"}}, "objective": {"expr": "x**2"},
          "constraints": [{"expr": "x == 1"}]}, None),
    ],
)  # fmt: skip
def test_refusals_name_the_reason(model: dict, fragment: str | None) -> None:
    with pytest.raises(UnsupportedProblemError) as e:
        workbench.solve(model, backend="alsketch")
    if fragment:
        assert fragment in str(e.value)


def test_supports_hook_and_auto_does_not_prefer_it() -> None:
    from workbench.classification import classify

    cls = classify(workbench.ir.model_from_dict(HS40))
    assert AlSketchBackend.supports(cls).ok
    assert AlSketchBackend.rank > 25
    cls.num_int_vars = 1
    assert "continuous" in AlSketchBackend.supports(cls).reason
    assert workbench.solve(HS40).backend != "alsketch"


# ------------------------------------------------------------------ diagnoses
def test_duplicated_constraint_converges_with_a_warning() -> None:
    m = {"variables": {"x": {"init": 3.0}, "y": {}}, "objective": {"expr": "x**2 + y**2"},
         "constraints": [{"name": "a", "expr": "x + y == 1"}, {"name": "b", "expr": "2*x + 2*y == 2"}]}  # fmt: skip
    r = workbench.solve(m, backend="alsketch", seed=0)
    assert r.termination is Termination.OPTIMAL and math.isclose(r.objective, 0.5, rel_tol=1e-6)
    assert any("linearly dependent" in w and "a, b" in w for w in r.diagnostics.warnings)


def test_inconsistent_linear_constraints_are_infeasible_with_a_diagnosis() -> None:
    m = {"variables": {"x": {}, "y": {}}, "objective": {"expr": "x**2 + y**2"},
         "constraints": [{"name": "one", "expr": "x == 1"}, {"name": "two", "expr": "x == 2"}]}  # fmt: skip
    r = workbench.solve(m, backend="alsketch")
    assert r.termination is Termination.INFEASIBLE
    msg = r.diagnostics.message
    assert "one, two" in msg and "no solution" in msg and "nan" not in msg.lower()


def test_inconsistent_nonlinear_constraints_are_an_error_with_a_diagnosis() -> None:
    r = solve_equality(lambda x: x[0] ** 2, lambda x: torch.stack([x[0] ** 2 - 1, x[0] ** 2 - 4]),
                       [0.5], names=["c1", "c2"], seed=0)  # fmt: skip
    assert r.termination is Termination.ERROR
    assert "c1, c2" in r.diagnostics.message and "nan" not in r.diagnostics.message.lower()
    assert all(math.isfinite(v) for v in r.values["x"].values())


def test_divergence_stops_with_a_status_and_the_last_iterate() -> None:
    r = solve_equality(lambda x: -(x[0] ** 4) + x[1] ** 2, lambda x: x[1:2] - 1.0, [1.0, 0.0],
                       seed=0, max_iter=200)  # fmt: skip
    assert r.termination in (Termination.UNBOUNDED, Termination.ERROR)
    assert r.diagnostics.native_status in ("unbounded", "diverged")
    assert all(math.isfinite(v) for v in r.values["x"].values())


def test_callable_api_and_time_limit() -> None:
    r = solve_equality(lambda x: (x**2).sum(), lambda x: [x[0] + x[1] - 1], [2.0, -3.0], seed=0)
    assert r.termination is Termination.OPTIMAL
    assert np.allclose(list(r.values["x"].values()), [0.5, 0.5], atol=1e-6)
    assert math.isclose(r.duals["c"][0], -1.0, rel_tol=1e-5)  # λ of L = f + λᵀc
    with pytest.raises(OptionsError):
        solve_equality(lambda x: x[0] ** 2, None, [1.0], bogus=1)
    slow = solve_equality(lambda x: (x**2).sum(), None, [1.0], time_limit=1e-9, max_iter=5)
    assert (
        slow.termination is Termination.FEASIBLE and slow.diagnostics.native_status == "time_limit"
    )


def test_bad_start_point_is_a_clear_error() -> None:
    from workbench.errors import ModelError

    with pytest.raises(ModelError, match="x0 has a NaN"):
        solve_equality(lambda x: x[0] ** 2, None, [float("nan")])
    r = solve_equality(lambda x: torch.log(x[0]), lambda x: x[0:1] + 1.0, [-1.0])
    assert r.termination is Termination.ERROR and r.diagnostics.native_status == "eval_error"


# ------------------------------------------------------------------ datasets
def test_hs_bt_subset_reaches_the_reference_values() -> None:
    from problems.nlp import load_nlp

    probs = {p.id: p for p in load_nlp(include_logistic=False)}
    if not probs:
        pytest.skip("shared data folder absent")
    for name in ("HS28", "BT10", "GENHS28", "HS100LNP"):
        r = workbench.solve(probs[name].model, backend="alsketch", seed=0)
        # a local method: optimal only where the model is proven convex (BT10 is not)
        proven = workbench.classify(probs[name].model).proven_convex
        expected = Termination.OPTIMAL if proven else Termination.LOCALLY_OPTIMAL
        assert r.termination is expected, (name, r.diagnostics.message)
        assert r.iterations <= 8
        assert math.isclose(r.objective, probs[name].optimum, rel_tol=1e-5, abs_tol=1e-6), name


def test_constrained_logistic_regression() -> None:
    from problems.nlp import load_nlp

    (p,) = [q for q in load_nlp(logistic_size=(60, 6, 2), seed=1) if q.category == "logistic"]
    r = workbench.solve(p.model, backend="alsketch", seed=0)
    assert (
        r.termination is Termination.LOCALLY_OPTIMAL
    )  # convex, but log(1 + exp(.)) is beyond the composition rules
    assert math.isclose(r.objective, p.optimum, rel_tol=1e-5)
    x = np.array(list(r.values["x"].values()))
    assert math.isclose(float(x @ x), 1.0, rel_tol=1e-6)
