"""Bilevel backends: Kwon et al.'s penalty method, V-PBGD, BOME, the exact KKT MILP, the API."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import workbench  # noqa: E402
from problems.bilevel import load_bilevel, toy_records  # noqa: E402
from problems.bilevel.models import IR_MODELS, LINEAR_CLASSICS  # noqa: E402
from solvers.bilevel.api import solve_bilevel  # noqa: E402
from solvers.bilevel.options import PenaltyOptions, penalty_options  # noqa: E402
from workbench.backends.registry import backend_names, register_backend  # noqa: E402
from workbench.errors import ModelError, OptionsError, UnsupportedProblemError  # noqa: E402
from workbench.result import Termination  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _registered() -> None:
    """Register the backends when the entry points are not installed yet."""
    names = backend_names()
    if "bilevel_penalty" not in names:
        register_backend("bilevel_penalty", "solvers.bilevel:BilevelPenaltyBackend")
    if "bilevel_kkt" not in names:
        register_backend("bilevel_kkt", "solvers.bilevel:BilevelKKTBackend")


def _record(name: str) -> dict:
    recs = {r["name"]: r for r in toy_records()}
    if name not in recs:
        pytest.skip("the shared bilevel data folder is absent")
    return recs[name]


def _solve(model: dict, **kw):
    return workbench.solve(model, backend="bilevel_penalty", seed=0, device="cpu", **kw)


# ------------------------------------------------------------------ toy problems
def test_shen_chen_toy_reaches_the_global_minimum():
    rec = _record("shen_chen_toy_1d")
    res = _solve(IR_MODELS["shen_chen_toy_1d"](x0=1.0), inner_iters=200, sigma_every=10)
    assert res.termination is Termination.FEASIBLE
    assert "stationary point of the penalty reformulation" in res.diagnostics.message
    assert "sigma=0.001" in res.diagnostics.message
    assert res.value("x") == pytest.approx(rec["global_min"]["x"], abs=1e-3)
    assert res.value("y") == pytest.approx(rec["global_min"]["y"], abs=1e-3)
    assert res.objective == pytest.approx(rec["global_min"]["F"], abs=1e-3)
    t, f, gap = res.history[-1]
    assert t > 0 and f == pytest.approx(res.objective, abs=1e-6) and abs(gap) < 1e-4


def test_bome_toy_non_singleton_lower_level():
    rec = _record("bome_toy_nonsingleton_ll")
    res = _solve(IR_MODELS["bome_toy_nonsingleton_ll"](), inner_lr=1.0, outer_lr=0.5,
                 sigma_every=5)  # fmt: skip
    sol = rec["optimistic_solution"]
    for k in ("w", "x1", "x2"):
        assert res.value(k) == pytest.approx(sol[k], abs=1e-3)
    assert res.objective == pytest.approx(sol["F"], abs=1e-3)


def test_lvhba_toy_with_coupled_equality():
    _record("aipod_lvhba_coupled_equality_toy")
    res = _solve(IR_MODELS["aipod_lvhba_coupled_equality_toy"](n=10), inner_lr=0.5,
                 outer_lr=0.1, sigma_every=10)  # fmt: skip
    for name, want in (("x", -0.3), ("y1", 0.7), ("y2", -0.4)):
        got = np.array(list(res.values[name].values()))
        np.testing.assert_allclose(got, want, atol=1e-3)
    assert res.objective == pytest.approx(10 * 0.05, abs=1e-3)  # F* = 0.05 n


def _bome_toy_callables():
    f = lambda w, y: 0.5 * (w[0] - y[1]) ** 2 + 0.5 * (y[0] - 1) ** 2  # noqa: E731
    g = lambda w, y: 0.5 * y[0] ** 2 - w[0] * y[0]  # noqa: E731
    return f, g


@pytest.mark.parametrize(
    ("method", "kw"),
    [
        ("vpbgd", {"gamma0": 1.0, "gamma_max": 100.0, "gamma_growth": 1.1, "vpbgd_lr": 0.5}),
        ("bome", {"bome_lr": 0.2, "outer_iters": 2000, "inner_iters": 20}),
    ],
)
def test_baselines_on_the_bome_toy(method: str, kw: dict):
    f, g = _bome_toy_callables()
    res = solve_bilevel(f, g, [3.0], [0.0, 0.0], x_bounds=(-100, 100), method=method,
                        inner_lr=1.0, seed=0, device="cpu", **kw)  # fmt: skip
    assert res.values["x"][0] == pytest.approx(1.0, abs=2e-2)
    assert res.objective == pytest.approx(0.0, abs=1e-3)


def test_single_loop_momentum_variant():
    f, g = _bome_toy_callables()
    res = solve_bilevel(f, g, [3.0], [0.0, 0.0], variant="single_loop", momentum=0.5,
                        single_loop_inner_steps=5, inner_lr=1.0, outer_lr=0.3, sigma_every=5,
                        seed=0, device="cpu")  # fmt: skip
    assert res.values["x"][0] == pytest.approx(1.0, abs=5e-3)


# ------------------------------------------------------------------ exact KKT
@pytest.mark.parametrize("key", sorted(LINEAR_CLASSICS))
def test_kkt_solves_linear_classics_exactly(key: str):
    build, optimum, solution = LINEAR_CLASSICS[key]
    res = workbench.solve(build(), backend="bilevel_kkt")
    assert res.termination is Termination.OPTIMAL, res.diagnostics.message
    assert res.backend == "bilevel_kkt" and "big-M" in res.diagnostics.message
    assert res.objective == pytest.approx(optimum, abs=1e-6)
    for name, want in solution.items():
        if isinstance(want, dict):
            for lab, v in want.items():
                assert res.value(name, lab) == pytest.approx(v, abs=1e-6)
        else:
            assert res.value(name) == pytest.approx(want, abs=1e-6)


def test_kkt_agrees_with_the_penalty_method_on_a_linear_problem():
    model = LINEAR_CLASSICS["linear_tent"][0]()
    exact = workbench.solve(model, backend="bilevel_kkt")
    approx = _solve(model, outer_lr=0.01, outer_iters=300, sigma_min=0.01)
    assert exact.objective == pytest.approx(-2.0)
    assert approx.objective == pytest.approx(exact.objective, abs=0.05)
    assert approx.value("x") == pytest.approx(2.0, abs=0.05)


def test_auto_picks_kkt_for_linear_and_penalty_for_nonlinear():
    lin = workbench.solve(LINEAR_CLASSICS["bard_linear"][0](), backend="auto")
    assert lin.backend == "bilevel_kkt" and lin.termination is Termination.OPTIMAL
    nl = workbench.solve(IR_MODELS["bome_toy_nonsingleton_ll"](), backend="auto", device="cpu",
                         seed=0, outer_iters=3, inner_iters=5)  # fmt: skip
    assert nl.backend == "bilevel_penalty"
    assert nl.termination is Termination.ITERATION_LIMIT


# ------------------------------------------------------------------ options and bad input
@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"sigma0": 0.0}, "sigma0"),
        ({"sigma0": -1.0}, "sigma0"),
        ({"sigma_min": 1.0, "sigma0": 0.1}, "sigma_min"),
        ({"method": "newton"}, "method"),
        ({"momentum": 1.0}, "momentum"),
        ({"outer_iters": 0}, "outer_iters"),
        ({"no_such_key": 1}, "no_such_key"),
    ],
)
def test_options_are_validated(extra: dict, match: str):
    with pytest.raises(OptionsError, match=match):
        penalty_options(extra)


def test_bad_option_through_solve_names_the_key():
    with pytest.raises(OptionsError, match="sigma0"):
        _solve(LINEAR_CLASSICS["linear_tent"][0](), sigma0=-0.5)
    with pytest.raises(OptionsError, match="big_m"):
        workbench.solve(LINEAR_CLASSICS["linear_tent"][0](), backend="bilevel_kkt", big_m=1)


def test_unknown_lower_level_variable_is_a_model_error():
    model = LINEAR_CLASSICS["linear_tent"][0]()
    model["lower_level"]["variables"] = ["z"]
    with pytest.raises(ModelError, match="lower_level.variables"):
        workbench.solve(model, backend="bilevel_penalty")


@pytest.mark.parametrize("backend", ["bilevel_penalty", "bilevel_kkt"])
def test_integer_follower_is_refused_with_a_suggestion(backend: str):
    model = LINEAR_CLASSICS["linear_tent"][0]()
    model["variables"]["y"]["domain"] = "integer"
    with pytest.raises(UnsupportedProblemError, match="continuous"):
        workbench.solve(model, backend=backend)


def test_nonconvex_lower_level_warns_and_runs():
    model = {
        "variables": {"x": {"lb": 0, "ub": 1, "init": 0.5}, "y": {"lb": -2, "ub": 2, "init": 0.1}},
        "objective": {"expr": "(x - 0.3)**2 + y**2"},
        "lower_level": {"variables": ["y"], "objective": {"expr": "-(y**2) + x*y"}},
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _solve(model, outer_iters=5, inner_iters=10)
    assert any("nonconvex" in str(w.message) for w in caught)
    assert any("nonconvex" in w for w in res.diagnostics.warnings)
    assert res.objective is not None


# ------------------------------------------------------------------ Python API, stochastic mode
def _ridge_data(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    w_true = torch.randn(5, generator=gen, dtype=torch.float64)
    xtr = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    ytr = xtr @ w_true + 1.5 * torch.randn(40, generator=gen, dtype=torch.float64)
    xva = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    yva = xva @ w_true + 1.5 * torch.randn(40, generator=gen, dtype=torch.float64)
    return (xtr, ytr), (xva, yva)


def _ridge(batch_size, seed: int, **kw):
    train, val = _ridge_data()
    f = lambda lam, w, b: ((b[0] @ w - b[1]) ** 2).mean()  # noqa: E731
    g = lambda lam, w, b: ((b[0] @ w - b[1]) ** 2).mean() + torch.exp(lam[0]) * (w @ w)  # noqa: E731
    return solve_bilevel(f, g, [2.0], torch.zeros(5), x_bounds=(-6.0, 4.0), upper_data=val,
                         lower_data=train, batch_size=batch_size, seed=seed, device="cpu",
                         outer_iters=30, inner_iters=25, inner_lr=0.1, outer_lr=0.5,
                         sigma0=0.1, sigma_min=0.01, sigma_every=5, **kw)  # fmt: skip


def test_ridge_weight_improves_the_validation_loss():
    res = _ridge(None, 0)
    first, last = res.history[0][1], res.history[-1][1]
    assert last < first - 0.05
    assert res.values["x"][0] < 2.0  # less regularisation than the start


def test_same_seed_same_iterates_in_the_stochastic_mode():
    a = _ridge(10, 7, variant="single_loop", starts=2)
    b = _ridge(10, 7, variant="single_loop", starts=2)
    c = _ridge(10, 8, variant="single_loop", starts=2)
    assert [h[1:] for h in a.history] == [h[1:] for h in b.history]
    assert a.values == b.values
    assert a.values != c.values


def test_dataset_loads_and_options_dataclass():
    probs = {p.id: p for p in load_bilevel()}
    assert {"bard_linear", "candler_townsley", "linear_tent"} <= set(probs)
    assert probs["bard_linear"].optimum == -12.0
    assert PenaltyOptions().sigma(0) == 0.1 and PenaltyOptions().sigma(10_000) == 1e-3


@pytest.mark.gpu
def test_penalty_runs_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    res = workbench.solve(IR_MODELS["shen_chen_toy_1d"](), backend="bilevel_penalty",
                          device="cuda", seed=0)  # fmt: skip
    assert res.value("x") == pytest.approx(1.21514548, abs=1e-3)


# ------------------------------------------------------------------ data hyper-cleaning
def _hypercleaning(device: str = "cpu", seed: int = 0):
    from problems.bilevel.hypercleaning import hypercleaning_problem, make_hypercleaning_data
    from solvers.bilevel.api import solve_bilevel

    data = make_hypercleaning_data(n_train=150, n_val=100, n_features=5, corruption=0.4,
                                   seed=3, device=device)  # fmt: skip
    spec = hypercleaning_problem(data, variant="single_loop", single_loop_inner_steps=5,
                                 momentum=0.5, outer_iters=15, outer_lr=30.0)  # fmt: skip
    res = solve_bilevel(**spec, method="kwon", batch_size=50, seed=seed)
    return data, res


def test_hypercleaning_beats_the_unweighted_classifier_and_is_seeded():
    from problems.bilevel.hypercleaning import accuracy, cleaning_report, train_weighted

    data, res = _hypercleaning()
    assert int(data.corrupted.sum()) == 60
    base = accuracy(data, train_weighted(data))
    w = torch.tensor(list(res.values["y"].values()), dtype=torch.float64)
    x = torch.tensor(list(res.values["x"].values()), dtype=torch.float64)
    cleaned = accuracy(data, w)
    assert cleaned > base + 0.05, (cleaned, base)
    rep = cleaning_report(data, x)
    assert rep["corrupted_down"] > 0.5
    _, again = _hypercleaning()
    assert again.values == res.values and again.history[-1][1:] == res.history[-1][1:]


@pytest.mark.gpu
def test_hypercleaning_runs_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from problems.bilevel.hypercleaning import accuracy, train_weighted

    data, res = _hypercleaning("cuda")
    assert data.x_train.device.type == "cuda" and data.corrupted.device.type == "cuda"
    base = accuracy(data, train_weighted(data))
    w = torch.tensor(list(res.values["y"].values()), dtype=torch.float64, device="cuda")
    assert accuracy(data, w) > base


def test_lvhba_objective_after_the_follower_polish():
    """The penalty point y_σ is O(σ)-biased; the polished y makes F exact to 1e-3 at n=100."""
    _record("aipod_lvhba_coupled_equality_toy")
    res = _solve(IR_MODELS["aipod_lvhba_coupled_equality_toy"](n=100), inner_lr=0.5,
                 outer_lr=0.1, sigma_every=10)  # fmt: skip
    assert res.objective == pytest.approx(5.0, abs=1e-3)
    raw = _solve(IR_MODELS["aipod_lvhba_coupled_equality_toy"](n=100), inner_lr=0.5,
                 outer_lr=0.1, sigma_every=10, polish=False)  # fmt: skip
    assert abs(raw.objective - 5.0) > 1e-3  # the bias the polish removes


def test_inner_stop_test_every_k_steps_gives_the_same_point():
    f, g = _bome_toy_callables()
    a = solve_bilevel(f, g, [3.0], [0.0, 0.0], x_bounds=(-100.0, 100.0), inner_lr=0.5,
                      outer_lr=0.5, device="cpu", seed=0)  # fmt: skip
    b = solve_bilevel(f, g, [3.0], [0.0, 0.0], x_bounds=(-100.0, 100.0), inner_lr=0.5,
                      outer_lr=0.5, device="cpu", seed=0, inner_check_every=7)  # fmt: skip
    assert a.values["x"][0] == pytest.approx(b.values["x"][0], abs=1e-9)
    assert a.objective == pytest.approx(b.objective, abs=1e-9)
