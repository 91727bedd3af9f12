"""The neur2ro backend: options, status tables, recourse split, MILP embedding, ML-CCG."""

from __future__ import annotations

import numpy as np
import pytest

from problems.robust.knapsack import KnapsackInstance, knapsack_model
from solvers.neur2ro.backend import OUTCOME_TERMINATION
from solvers.neur2ro.ccg import CcgOutcome, adversarial, main_problem
from solvers.neur2ro.datagen import generate, sample_first_stage, sample_scenarios
from solvers.neur2ro.features import instance_features
from solvers.neur2ro.milp import HIGHS_STATUS, MilpStatus, milp_status
from solvers.neur2ro.options import neur2ro_options
from solvers.neur2ro.recourse import RobustSplit
from solvers.neur2ro.train import train
from workbench.compile.structure import compile_structure
from workbench.errors import ModelError, OptionsError, UnsupportedProblemError

TINY = {"phi_hidden": [4], "embed_dim": 3, "value_hidden": [6], "epochs": 15, "patience": 5}


def _instance(n: int = 6, seed: int = 0) -> KnapsackInstance:
    rng = np.random.default_rng(seed)
    c = rng.integers(1, 100, n).astype(float)
    pbar = c + 10
    return KnapsackInstance(
        f"tiny{seed}",
        float(0.5 * c.sum()),
        2.0,
        pbar,
        np.round(0.5 * pbar),
        np.round(0.5 * c),
        c,
        np.round(1.3 * pbar),
    )


@pytest.fixture(scope="module")
def trained():
    m = knapsack_model(_instance())
    data = generate([m], samples_per_instance=60, seed=0, workers=1)
    net, stats = train(data, neur2ro_options(TINY), seed=0, device="cpu")
    split = RobustSplit(compile_structure(m))
    return m, split, instance_features(split, net.layout), net, stats, data


def test_options_reject_unknown_and_non_relu():
    with pytest.raises(OptionsError, match="samples_per_instance"):
        neur2ro_options({"samples_per_instanse": 3})
    with pytest.raises(OptionsError, match="ReLU"):
        neur2ro_options({"activation": "tanh"})
    with pytest.raises(OptionsError, match="embedding"):
        neur2ro_options({"embedding": "omlt"})
    assert neur2ro_options({"phi_hidden": 8}).phi_hidden == (8,)
    with pytest.raises(OptionsError, match="polish_radius"):
        neur2ro_options({"polish_radius": 0})
    assert neur2ro_options({"polish_patience": 2}).polish_patience == 2


def test_status_tables_are_exhaustive():
    import highspy

    assert set(HIGHS_STATUS) == set(highspy.HighsModelStatus.__members__)
    assert milp_status("kTimeLimit", True) is MilpStatus.FEASIBLE
    assert milp_status("kTimeLimit", False) is MilpStatus.LIMIT
    assert set(OUTCOME_TERMINATION) == set(CcgOutcome)
    assert not any(t.value == "optimal" for t in OUTCOME_TERMINATION.values())


def test_recourse_split_matches_core_recourse_value():
    from workbench.robust import recourse_value

    m = knapsack_model(_instance(7, seed=3))
    split = RobustSplit(compile_structure(m))
    rng = np.random.default_rng(1)
    for x, xi in zip(sample_first_stage(split, rng, 4), sample_scenarios(split, rng, 4)):
        ours = split.first_stage_cost(x) + split.recourse_value(x, xi).value
        assert ours == pytest.approx(recourse_value(m, x, xi), rel=1e-7, abs=1e-6)
        assert split.U @ xi <= split.u_hi + 1e-9


def test_bad_robust_sections_are_clear_errors():
    d = knapsack_model(_instance()).model_dump(by_alias=True, exclude_none=True)
    d["robust"]["uncertain"] = ["xi", "nope"]
    from workbench.ir.io import model_from_dict

    with pytest.raises(ModelError, match="nope"):
        RobustSplit(compile_structure(model_from_dict(d)))
    d = knapsack_model(_instance()).model_dump(by_alias=True, exclude_none=True)
    d["variables"]["xi"].pop("ub")
    with pytest.raises(UnsupportedProblemError, match="unbounded"):
        RobustSplit(compile_structure(model_from_dict(d)))


def test_embedding_is_exact_and_loose_bigm_agrees(trained):
    m, split, f, net, _, _ = trained
    x = np.ones(split.nx)
    opts = neur2ro_options({})
    adv, nb = adversarial(split, f, net, x, opts, 30.0)
    assert adv.ok
    assert adv.objective == pytest.approx(net.predict(f, x, adv.x), rel=1e-6, abs=1e-6)
    rng = np.random.default_rng(0)
    for xi in sample_scenarios(split, rng, 10):  # the MILP maximises the network
        assert net.predict(f, x, xi) <= adv.objective + 1e-6
    loose, nb_loose = adversarial(
        split, f, net, x, neur2ro_options({"embedding": "bigm_loose"}), 30.0
    )
    assert loose.objective == pytest.approx(adv.objective, rel=1e-5, abs=1e-5)
    assert nb_loose >= nb
    main, _ = main_problem(split, f, net, [adv.x], opts, 30.0)
    xm, theta = main.x[: split.nx], main.x[split.nx]
    assert theta == pytest.approx(net.predict(f, xm, adv.x), rel=1e-6, abs=1e-6)


def test_train_on_the_fly_solve_reuse_and_reproducibility(tmp_path, monkeypatch):
    import workbench
    from workbench.robust import evaluate_first_stage

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    m = knapsack_model(_instance(6, seed=5))
    opts = dict(TINY, samples_per_instance=60, workers=1)
    r1 = workbench.solve(m, backend="neur2ro", seed=0, time_limit=60, retrain=True, **opts)
    assert r1.termination.value in ("optimal", "feasible", "iteration_limit")
    assert r1.diagnostics.extra["model_source"] == "trained"
    ev = evaluate_first_stage(m, r1.values)
    assert r1.objective == pytest.approx(ev.objective)
    assert r1.diagnostics.extra["exact_eval"] is True
    assert list((tmp_path / "neur2ro").glob("*.npz"))
    m2 = knapsack_model(_instance(6, seed=6))  # same family, other data: reuses the model
    r2 = workbench.solve(m2, backend="neur2ro", seed=0, time_limit=60, **opts)
    assert r2.diagnostics.extra["model_source"].startswith(str(tmp_path))
    r3 = workbench.solve(m2, backend="neur2ro", seed=0, time_limit=60, **opts)
    assert r3.values == r2.values and r3.objective == r2.objective


def test_pretrained_knapsack_model_ships_and_loads():
    from solvers.neur2ro import store

    m = knapsack_model(_instance())
    path = store.find_model(store.family_key(m))
    assert path is not None and path.stat().st_size < 300_000
    net, family = store.load_model(path)
    assert family == store.family_key(m) and net.activation == "relu"


# ---------------------------------------------------------------------------
# scalar first stage, certification, warm starts, cut-offs


def _robust_lp_small():
    from problems.conformance import load_conformance

    (p,) = [p for p in load_conformance() if p.id == "robust_lp_small"]
    return p


def test_scalar_first_stage_is_one_item_with_global_array_features():
    p = _robust_lp_small()
    split = RobustSplit(compile_structure(p.model))
    f = instance_features(split)
    lay = f.layout
    assert lay.item_set == "" and lay.kx == 1 and f.n_items == 1
    assert lay.global_arrays == ["w"] and lay.kg == 3  # w (2 values) and the item count
    np.testing.assert_allclose(f.glob, [2.0, 3.0, 1.0])
    assert f.x_items(np.array([7.0])).shape == (1, 1)


def test_scenario_master_is_a_valid_lower_bound():
    from solvers.neur2ro.certify import scenario_master

    p = _robust_lp_small()
    split = RobustSplit(compile_structure(p.model))
    one = scenario_master(split, [np.array([0.5, 1.0])], time_limit=10)
    assert one.bound == pytest.approx(8.0)  # only the high demand: buy 8 now
    both = scenario_master(split, [np.array([0.5, 1.0]), np.zeros(2)], time_limit=10)
    assert both.bound == pytest.approx(p.optimum) and both.x[0] == pytest.approx(7.0)


def test_certified_scalar_model_is_optimal_and_plain_run_is_not(tmp_path, monkeypatch):
    import workbench

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    p = _robust_lp_small()
    opts = dict(TINY, samples_per_instance=80, workers=1, save=False)
    r = workbench.solve(p.model, backend="neur2ro", seed=0, time_limit=30, **opts)
    assert r.termination.value == "optimal"
    assert r.objective == pytest.approx(10.0) and r.bound == pytest.approx(10.0)
    assert r.values["x"] == pytest.approx(7.0) and r.values["xi"][2] == pytest.approx(1.0)
    plain = workbench.solve(p.model, backend="neur2ro", seed=0, time_limit=30,
                            certify_rounds=0, **opts)  # fmt: skip
    assert plain.termination.value != "optimal" and plain.bound is None
    assert plain.objective >= 10.0 - 1e-9  # an exact evaluation never beats the optimum
    assert plain.objective == pytest.approx(plain.diagnostics.extra["ml_objective"])


def test_warm_start_completion_is_feasible_and_cutoff_proves_none_beyond(trained):
    m, split, f, net, _, _ = trained
    opts = neur2ro_options({})
    x = np.ones(split.nx)
    rng = np.random.default_rng(2)
    pool = list(sample_scenarios(split, rng, 8))
    adv, _ = adversarial(split, f, net, x, opts, 30.0, 0, pool)
    assert adv.ok and adv.objective >= max(net.predict(f, x, xi) for xi in pool) - 1e-6
    none, _ = adversarial(split, f, net, x, opts, 30.0, 0, pool, beyond=adv.objective + 1.0)
    assert none.native == "none_beyond"
    assert none.objective <= adv.objective + 1e-6
    main, _ = main_problem(split, f, net, [adv.x], opts, 30.0, x_start=x)
    assert main.ok


def test_milp_builder_completion_satisfies_its_rows(trained):
    from solvers.neur2ro.embed import MilpBuilder

    _, split, _, _, _, _ = trained
    rng = np.random.default_rng(4)
    layers = [(rng.standard_normal((8, split.nz)), rng.standard_normal(8)),
              (rng.standard_normal((3, 8)), rng.standard_normal(3))]  # fmt: skip
    b = MilpBuilder()
    z = b.add_cols(split.z_lb, split.z_ub, False)
    b.mlp(layers, b.var_aff(z, split.z_lb, split.z_ub))
    assert b.binaries > 0
    xi = sample_scenarios(split, rng, 1)[0]
    _, A, rlo, rhi, clb, cub, _ = b.assemble()
    v = b.complete(z, xi)
    act = A @ v
    assert np.all(act >= rlo - 1e-7) and np.all(act <= rhi + 1e-7)
    assert np.all(v >= clb - 1e-9) and np.all(v <= cub + 1e-9)


@pytest.mark.slow
def test_capital_budgeting_trains_on_the_fly_and_is_feasible(tmp_path, monkeypatch):
    """One n=10 archive instance (xi as global features); about 20-30 s on a loaded CPU."""
    import workbench
    from problems.robust import cb_model, cb_references, iter_cb_instances
    from workbench.datasets import shared_data_dir

    root = shared_data_dir()
    try:
        inst = next(iter_cb_instances(root, names=["CB_n10_xi4_s1"]))
    except (FileNotFoundError, StopIteration):
        pytest.skip("capital-budgeting archive not available")
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    m = cb_model(inst)
    r = workbench.solve(m, backend="neur2ro", seed=0, time_limit=60, samples_per_instance=600,
                        workers=1, save=False)  # fmt: skip
    assert r.termination.value in ("optimal", "feasible")
    assert r.diagnostics.extra["model_source"] == "trained"
    assert r.diagnostics.extra["outcome"] == "converged"
    ref = cb_references(root)["CB_n10_xi4_s1"].objective  # best known (minimised)
    assert np.isfinite(r.objective)
    assert r.bound is not None and r.bound <= ref + 1e-6  # a valid lower bound
    assert (r.objective - ref) / abs(ref) < 0.2


# ---------------------------------------------------------------------------
# targeted data generation


def test_targeted_sampling_is_feasible_aimed_and_reproducible():
    from solvers.neur2ro.datagen import sample_good_first_stage, sample_targeted_scenarios

    m = knapsack_model(_instance(n=8, seed=3))
    split = RobustSplit(compile_structure(m))
    rng = np.random.default_rng(0)
    xs = sample_good_first_stage(split, rng, 20)
    assert xs.shape == (20, split.nx) and set(np.unique(xs)) <= {0.0, 1.0}
    zs = sample_targeted_scenarios(split, rng, xs)
    # every scenario lies in the budgeted box
    assert np.all(zs >= split.z_lb - 1e-9) and np.all(zs <= split.z_ub + 1e-9)
    Uz = split.U @ zs.T
    assert np.all(Uz <= split.u_hi[:, None] + 1e-6) and np.all(Uz >= split.u_lo[:, None] - 1e-6)
    # the budget goes mostly to items the decision takes (x and xi share the item order here)
    f = instance_features(split)
    xi_items = np.array([z[f.z_pos[:, 0]] for z in zs])
    x_items = np.array([x[f.x_pos[:, 0]] for x in xs])
    on = (xi_items * x_items).sum()
    assert on >= 0.7 * xi_items.sum() > 0
    d1 = generate([m], samples_per_instance=12, seed=5, workers=1, strategy="targeted")
    d2 = generate([m], samples_per_instance=12, seed=5, workers=1, strategy="targeted")
    np.testing.assert_array_equal(np.array(d1.xs), np.array(d2.xs))
    np.testing.assert_array_equal(d1.labels, d2.labels)
    with pytest.raises(ValueError, match="strategy"):
        generate([m], samples_per_instance=2, seed=0, workers=1, strategy="bogus")


# ---------------------------------------------------------------------------
# exact 1-D piecewise-linear embedding and local-branching polishing


def test_pwl_breakpoints_are_exact_on_a_fine_grid():
    from solvers.neur2ro.embed import pwl_breakpoints
    from solvers.neur2ro.network import relu_mlp

    rng = np.random.default_rng(5)
    layers = [(rng.standard_normal((12, 3)), rng.standard_normal(12)),
              (rng.standard_normal((5, 12)), rng.standard_normal(5))]  # fmt: skip
    s = rng.standard_normal(2)
    pts, vals = pwl_breakpoints(layers, s, -1.5, 2.0)
    assert pts[0] == -1.5 and pts[-1] == 2.0 and np.all(np.diff(pts) > 0)
    t = np.linspace(-1.5, 2.0, 4001)
    exact = relu_mlp(layers, np.column_stack([t, np.tile(s, (t.size, 1))]))
    interp = np.column_stack([np.interp(t, pts, vals[:, k]) for k in range(vals.shape[1])])
    assert np.max(np.abs(exact - interp)) <= 1e-8 * (1 + np.max(np.abs(exact)))


def test_pwl_item_sum_needs_fewer_binaries_and_completes_exactly(trained):
    from solvers.neur2ro.embed import MilpBuilder
    from solvers.neur2ro.network import relu_mlp

    _, split, f, net, _, _ = trained
    rng = np.random.default_rng(6)
    n = f.n_items
    layers = [(rng.standard_normal((10, 1 + net.static(f).shape[1])), rng.standard_normal(10)),
              (rng.standard_normal((4, 10)), rng.standard_normal(4))]  # fmt: skip
    sums = {}
    for loose in (None, 50.0):
        b = MilpBuilder(loose_m=loose)
        z = b.add_cols(np.zeros(n), np.ones(n), False)
        pooled = b.item_sum(layers, b.var_aff(z, np.zeros(n), np.ones(n)), n, 1, net.static(f),
                            binary_shortcut=False)  # fmt: skip
        t = rng.random(n)
        v = b.complete(z, t)
        _, A, rlo, rhi, clb, cub, _ = b.assemble()
        act = A @ v
        assert np.all(act >= rlo - 1e-7) and np.all(act <= rhi + 1e-7)
        assert np.all(v >= clb - 1e-9) and np.all(v <= cub + 1e-9)
        want = relu_mlp(layers, np.column_stack([t, net.static(f)])).sum(axis=0)
        got = np.asarray(pooled.pad(b.n) @ v).ravel() + pooled.c
        assert got == pytest.approx(want, rel=1e-7, abs=1e-7)
        assert np.all(pooled.lo <= want + 1e-9) and np.all(want <= pooled.hi + 1e-9)
        sums[loose] = b.binaries
    assert sums[None] < sums[50.0]


def test_local_branching_row_limits_flips():
    from solvers.neur2ro.certify import local_branching_row

    split = RobustSplit(compile_structure(knapsack_model(_instance(6))))
    center = np.array([1, 0, 1, 1, 0, 0], dtype=float)
    row, hi = local_branching_row(split, center, 2)
    flips = lambda x: float((row @ x)[0])  # noqa: E731
    assert flips(center) <= hi and flips(1 - center) > hi
    two = center.copy()
    two[[0, 1]] = 1 - two[[0, 1]]
    three = two.copy()
    three[2] = 0
    assert flips(two) <= hi < flips(three)


def test_polishing_never_loses_to_the_learned_x_and_is_reproducible(trained, tmp_path):
    import workbench
    from solvers.neur2ro import store

    m, _, _, net, _, _ = trained
    path = store.save_model(net, tmp_path / "tiny.npz", family=store.family_key(m))
    opts = {"model_path": str(path), "certify_time_limit": 20.0}
    runs = [workbench.solve(m, backend="neur2ro", seed=0, time_limit=60, **opts) for _ in (0, 1)]
    r = runs[0]
    ex = r.diagnostics.extra
    assert ex["exact_eval"] and r.objective <= ex["ml_objective"] + 1e-9
    assert r.bound is not None and r.bound <= r.objective + 1e-6
    assert ex["certify_message"]  # says why polishing stopped
    assert runs[1].objective == r.objective and runs[1].values == r.values


def test_polishing_cuts_off_candidates_that_cannot_win():
    """Shipped model, a generated n = 20 instance where the learned x is not the best:
    polishing rejects most candidates early (proven no better) and still improves."""
    import workbench
    from problems.robust import generate_knapsack

    m = knapsack_model(generate_knapsack(20, "SC", seed=0))
    r = workbench.solve(m, backend="neur2ro", seed=0, time_limit=120, certify_time_limit=60,
                        certify_rounds=4)  # fmt: skip
    ex = r.diagnostics.extra
    assert ex["exact_eval"] and ex["certify_evaluations"] >= 2
    assert 1 <= ex["certify_cutoffs"] < ex["certify_evaluations"] + 1
    assert ex["certify_improved"] >= 1 and r.objective < ex["ml_objective"] - 1.0
    msg = r.diagnostics.message
    assert "worst case of the chosen x proven" in msg and "by exact polishing" in msg


def test_polishing_goes_local_when_the_global_master_has_no_time(monkeypatch):
    """A global scenario master that cannot finish in its share must not end polishing."""
    import workbench
    from problems.robust import generate_knapsack
    from solvers.neur2ro import backend

    monkeypatch.setattr(backend, "GLOBAL_SHARE", 1e-6)  # the global master gets 0.01 s
    m = knapsack_model(generate_knapsack(20, "SC", seed=0))
    r = workbench.solve(m, backend="neur2ro", seed=0, time_limit=120, certify_time_limit=60,
                        certify_rounds=3)  # fmt: skip
    ex = r.diagnostics.extra
    assert ex["certify_rounds"] == 3 and ex["certify_evaluations"] >= 1
    assert r.objective <= ex["ml_objective"] + 1e-9


def test_datagen_time_limit_keeps_the_chunks_labelled_in_time():
    m = knapsack_model(_instance())
    full = generate([m], samples_per_instance=300, seed=0, workers=1, chunk=100)
    assert full.labels.size + full.infeasible == 300
    cut = generate([m], samples_per_instance=300, seed=0, workers=1, chunk=100, time_limit=1e-9)
    assert cut.labels.size + cut.infeasible == 100  # at least (and here only) the first chunk
    # the same pairs as the first chunk of the full run (labels are deterministic)
    assert np.array_equal(cut.labels, full.labels[: cut.labels.size])
    pooled = generate([m], samples_per_instance=300, seed=0, workers=2, chunk=100,
                      time_limit=1e-9)  # fmt: skip
    assert 100 <= pooled.labels.size + pooled.infeasible <= 300
    assert np.array_equal(pooled.labels, full.labels[: pooled.labels.size])


def test_argmax_main_pays_the_exact_recourse_at_the_predicted_worst_scenario(trained):
    from solvers.neur2ro.ccg import argmax_applicable

    m, split, f, net, _, _ = trained
    opts = neur2ro_options({})
    assert argmax_applicable(split)
    scen = list(sample_scenarios(split, np.random.default_rng(5), 4))
    main, _ = main_problem(split, f, net, scen, opts, 30.0, form="argmax")
    assert main.ok
    xm, theta = np.round(main.x[: split.nx]), main.x[split.nx]
    preds = [net.predict(f, xm, xi) for xi in scen]
    # theta is the exact recourse cost in a scenario the network ranks worst (ties allowed)
    tops = [k for k, p in enumerate(preds) if p >= max(preds) - 1e-6]
    exact = [split.recourse_value(xm, scen[k]).value for k in tops]
    assert min(abs(theta - e) for e in exact) <= 1e-6 * max(1.0, abs(theta))
    # a warm start from that x is accepted and the objective does not get worse
    warm, _ = main_problem(split, f, net, scen, opts, 30.0, x_start=xm, form="argmax")
    assert warm.ok and warm.objective <= main.objective + 1e-6 * max(1.0, abs(main.objective))
    # the max form charges the network's largest prediction instead
    mx, _ = main_problem(split, f, net, scen, opts, 30.0, form="max")
    xmx, th_mx = np.round(mx.x[: split.nx]), mx.x[split.nx]
    assert th_mx == pytest.approx(max(net.predict(f, xmx, xi) for xi in scen), abs=1e-5)


def test_main_form_option_is_validated():
    assert neur2ro_options({}).main_form == "max"
    assert neur2ro_options({"main_form": "argmax"}).main_form == "argmax"
    with pytest.raises(OptionsError, match="main_form.*argmax, max"):
        neur2ro_options({"main_form": "mean"})
