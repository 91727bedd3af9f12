"""neur2ro's ``z_mode="contract"``: a global xi contracted per item by parameters ``p[item, S]``.

Capital budgeting's ``xi`` in ``[-1, 1]^F`` is seen per item as ``phi_i . xi`` and
``psi_i . xi`` (as Neur2RO does); the knapsack (xi per item) and scalar models
keep their modes, and models saved before the mode existed load unchanged.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from problems.robust.capital_budgeting import cb_model, generate_cb
from problems.robust.knapsack import KnapsackInstance, knapsack_model
from solvers.neur2ro import store
from solvers.neur2ro.ccg import adversarial, main_problem
from solvers.neur2ro.datagen import generate, sample_first_stage, sample_scenarios
from solvers.neur2ro.features import FeatureLayout, instance_features
from solvers.neur2ro.options import neur2ro_options
from solvers.neur2ro.recourse import RobustSplit
from solvers.neur2ro.train import train
from workbench.compile.structure import compile_structure
from workbench.errors import UnsupportedProblemError
from workbench.ir.io import model_from_dict

TINY = {"phi_hidden": [4], "embed_dim": 3, "value_hidden": [6], "epochs": 15, "patience": 5}


def _split(model):
    return RobustSplit(compile_structure(model))


def _knapsack(n: int = 6, seed: int = 0) -> KnapsackInstance:
    """The instance of ``tests/test_neur2ro.py``'s ``_instance``."""
    rng = np.random.default_rng(seed)
    c = rng.integers(1, 100, n).astype(float)
    pbar = c + 10
    return KnapsackInstance(f"tiny{seed}", float(0.5 * c.sum()), 2.0, pbar,
                            np.round(0.5 * pbar), np.round(0.5 * c), c,
                            np.round(1.3 * pbar))  # fmt: skip


@pytest.fixture(scope="module")
def cb():
    inst = generate_cb(8, 0)
    m = cb_model(inst)
    data = generate([m], samples_per_instance=40, seed=0, workers=1)
    net, _ = train(data, neur2ro_options({**TINY, "contract": True}), seed=0, device="cpu")
    split = _split(m)
    return inst, m, split, instance_features(split, net.layout), net, data


def test_contract_is_opt_in_for_training(cb):
    _, _, _, _, _, data = cb
    net, _ = train(data, neur2ro_options(TINY), seed=0, device="cpu")
    assert net.layout.z_mode == "global" and net.layout.z_params == []


def test_capital_budgeting_gets_the_contract_mode_with_phi_and_psi(cb):
    inst, _, split, f, net, _ = cb
    lay = f.layout
    assert lay.z_mode == "contract" and net.layout.z_mode == "contract"
    assert lay.z_params == ["phi", "psi"] and lay.kz == 2 and lay.z_global_size == 4
    assert lay.item_params == ["cbar", "rbar", "phi", "psi"]  # static features unchanged
    assert f.z_map is not None and f.z_map.shape == (8, 2, 4)
    rng = np.random.default_rng(3)
    for xi in rng.uniform(-1.0, 1.0, (5, 4)):
        # box [-1, 1]: centre 0, half-width 1; scale = the largest row 1-norm (1: simplex rows)
        want = np.stack([inst.phi @ xi / np.abs(inst.phi).sum(axis=1).max(),
                         inst.psi @ xi / np.abs(inst.psi).sum(axis=1).max()], axis=1)  # fmt: skip
        np.testing.assert_allclose(f.z_input(xi), want, atol=1e-12)
    corners = np.array(list(itertools.product([-1.0, 1.0], repeat=4)))
    assert max(np.abs(f.z_input(v)).max() for v in corners) == pytest.approx(1.0)


def test_a_box_not_centred_at_zero_uses_the_centred_contraction():
    inst = generate_cb(5, 2)
    d = cb_model(inst).model_dump(mode="json", by_alias=True, exclude_none=True)
    d["variables"]["xi"].update(lb=0.0, ub=4.0)  # centre 2, half-width 2
    f = instance_features(_split(model_from_dict(d)))
    assert f.layout.z_mode == "contract"
    xi = np.array([0.5, 4.0, 1.0, 3.0])
    scale = 2.0 * np.abs(inst.phi).sum(axis=1).max()
    np.testing.assert_allclose(f.z_input(xi)[:, 0], inst.phi @ (xi - 2.0) / scale, atol=1e-12)
    assert np.abs(f.z_input(np.full(4, 4.0))).max() <= 1.0 + 1e-12


def test_contract_network_is_embedded_exactly(cb):
    _, _, split, f, net, _ = cb
    opts = neur2ro_options({})
    rng = np.random.default_rng(1)
    corners = [np.array(v) for v in itertools.product([-1.0, 1.0], repeat=4)]
    for x in sample_first_stage(split, rng, 2):
        adv, nb = adversarial(split, f, net, x, opts, 30.0)
        assert adv.ok and adv.native != "candidate" and nb > 0
        assert adv.objective == pytest.approx(net.predict(f, x, adv.x), rel=1e-6, abs=1e-6)
        for xi in [*sample_scenarios(split, rng, 10), *corners]:
            assert net.predict(f, x, xi) <= adv.objective + 1e-6
        loose, _ = adversarial(split, f, net, x, neur2ro_options({"embedding": "bigm_loose"}), 30.0)
        assert loose.objective == pytest.approx(adv.objective, rel=1e-5, abs=1e-5)
    main, _ = main_problem(split, f, net, [adv.x], neur2ro_options({"main_form": "max"}), 30.0)
    xm, theta = main.x[: split.nx], main.x[split.nx]
    assert theta == pytest.approx(net.predict(f, xm, adv.x), rel=1e-6, abs=1e-6)


def test_a_forced_global_layout_trains_and_predicts_as_before(cb):
    _, _, split, _, net, data = cb
    lay = replace(net.layout, z_mode="global", z_params=[])
    g_net, _ = train(data, neur2ro_options(TINY), seed=0, device="cpu", layout=lay)
    g = instance_features(split, g_net.layout)
    assert g_net.layout.z_mode == "global" and g_net.layout.kz == 0 and g.z_map is None
    assert g.z_input(np.zeros(4)).shape == (4,)
    assert np.isfinite(g_net.predict(g, data.xs[0], data.zs[0]))


def test_knapsack_stays_item_and_the_pretrained_model_predicts_as_before():
    m = knapsack_model(_knapsack())
    split = _split(m)
    assert instance_features(split).layout.z_mode == "item"
    path = store.find_model(store.family_key(m))
    assert path is not None
    net, _ = store.load_model(path)
    assert net.layout.z_mode == "item" and net.layout.z_params == [] and net.layout.kz == 1
    f = instance_features(split, net.layout)
    rng = np.random.default_rng(0)
    got = []
    for _ in range(3):
        x = (rng.random(split.nx) < 0.5).astype(float)
        got.append(net.predict(f, x, rng.uniform(split.z_lb, split.z_ub)))
    # recorded with this very loop on the shipped knapsack.npz before the contract mode
    # existed (commit cda687d, a scratch script outside the repository)
    want = [659.0491251789899, 629.3870851544671, 693.8351271611355]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_old_layout_json_without_z_params_loads_and_keeps_its_mode(cb):
    _, _, split, _, net, _ = cb
    old = net.layout.to_json()
    old.pop("z_params")
    old.update(z_mode="global")  # a capital-budgeting model saved before this mode
    lay = FeatureLayout.from_json(old)
    assert lay.z_params == [] and lay.kz == 0
    f = instance_features(split, lay)
    xi = np.array([-1.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(f.z_input(xi), (xi + 1.0) / 2.0)


def test_families_do_not_mix_and_scalar_models_keep_their_mode(cb):
    _, _, cb_split, _, net, _ = cb
    kn_split = _split(knapsack_model(_knapsack()))
    kn_layout = instance_features(kn_split).layout
    with pytest.raises(UnsupportedProblemError, match="family"):
        instance_features(kn_split, net.layout)
    with pytest.raises(UnsupportedProblemError, match="family"):
        instance_features(cb_split, kn_layout)
    from problems.conformance import load_conformance

    (p,) = [p for p in load_conformance() if p.id == "robust_lp_small"]
    lay = instance_features(_split(p.model)).layout
    assert lay.z_mode == "global" and lay.z_params == [] and lay.kz == 0
