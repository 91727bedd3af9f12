"""Training the value network with Adam and early stopping on validation MAE (torch)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers.neur2ro.datagen import LabelledData
from solvers.neur2ro.features import FeatureLayout, InstanceFeatures, instance_features
from solvers.neur2ro.network import PER_ITEM_Z, NetWeights, build_torch_net
from solvers.neur2ro.options import Neur2roOptions
from solvers.neur2ro.recourse import RobustSplit

__all__ = ["TrainStats", "train"]


@dataclass
class TrainStats:
    """What training did: seconds, device, epochs and validation MAE (model units)."""

    seconds: float
    device: str
    epochs: int
    val_mae: float
    val_rel_mae: float
    n_train: int
    n_val: int


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def train(
    data: LabelledData,
    opts: Neur2roOptions,
    *,
    seed: int | None = 0,
    device: str = "auto",
    verbose: bool = False,
    layout: FeatureLayout | None = None,
) -> tuple[NetWeights, TrainStats]:
    """Fit the set-based network to *data*.

    Parameters
    ----------
    data
        The labelled pairs and their models (one family).
    opts
        Network sizes and training settings.
    seed
        Seeds the split, the batches and the initial weights.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    verbose
        Print the validation MAE of every epoch.
    layout
        A fixed feature layout (e.g. ``z_mode="global"`` instead of the detected
        ``"contract"``, for comparisons); by default the family's detected one.

    Returns
    -------
    (NetWeights, TrainStats)
        The exported numpy weights (with normalisation) and the training statistics.
    """
    import torch

    from workbench.compile.structure import compile_structure

    t0 = time.perf_counter()
    dev = _device(device)
    feats: list[InstanceFeatures] = []
    for m in data.models:
        f = instance_features(RobustSplit(compile_structure(m)), layout, contract=opts.contract)
        layout = f.layout
        feats.append(f)
    assert layout is not None
    nmax = max(f.n_items for f in feats)
    static_scale = np.maximum(
        np.max([np.abs(f.static).max(axis=0) if f.n_items else 0 for f in feats], axis=0), 1e-9
    ) if layout.ks else np.ones(0)  # fmt: skip
    glob_scale = np.maximum(np.max([np.abs(f.glob) for f in feats], axis=0), 1e-9)
    pool = float(nmax)
    y = data.labels
    out_shift = float(np.mean(y))
    out_scale = float(max(np.std(y), 1e-9))
    N = y.shape[0]
    kxs = layout.kx + layout.ks
    xin = np.zeros((N, nmax, kxs), dtype=np.float32)
    mask = np.zeros((N, nmax), dtype=np.float32)
    if layout.z_mode in PER_ITEM_Z:
        zin = np.zeros((N, nmax, layout.kz + layout.ks), dtype=np.float32)
    else:
        zin = np.zeros((N, layout.z_global_size), dtype=np.float32)
    g = np.zeros((N, layout.kg), dtype=np.float32)
    for k in range(N):
        f = feats[int(data.inst[k])]
        s = f.static / static_scale
        n = f.n_items
        xin[k, :n] = np.concatenate([f.x_items(data.xs[k]), s], axis=1)
        mask[k, :n] = 1
        if layout.z_mode in PER_ITEM_Z:
            zin[k, :n] = np.concatenate([f.z_input(data.zs[k]), s], axis=1)
        else:
            zin[k] = f.z_input(data.zs[k])
        g[k] = f.glob / glob_scale
    yt = ((y - out_shift) / out_scale).astype(np.float32)

    rng = np.random.default_rng(seed)
    perm = rng.permutation(N)
    n_val = max(1, int(round(opts.val_fraction * N)))
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    if tr_idx.size == 0:
        tr_idx = val_idx
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    torch_seed = int(rng.integers(2**31))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed)
        net = build_torch_net(
            layout,
            phi_hidden=opts.phi_hidden,
            embed_dim=opts.embed_dim,
            value_hidden=opts.value_hidden,
            activation=opts.activation,
        ).to(dev)
    T = {k: torch.from_numpy(v).to(dev) for k, v in
         {"x": xin, "z": zin, "m": mask, "g": g, "y": yt}.items()}  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=opts.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=max(2, opts.patience // 4)
    )
    tr = torch.from_numpy(tr_idx).to(dev)
    va = torch.from_numpy(val_idx).to(dev)

    def val_mae() -> float:
        net.eval()
        with torch.no_grad():
            p = net(T["x"][va], T["z"][va], T["m"][va], T["g"][va], pool)
            mae = (p - T["y"][va]).abs().mean().item()
        net.train()
        return float(mae)

    best = float("inf")
    best_state: dict[str, Any] = {}
    bad = 0
    epochs = 0
    for ep in range(opts.epochs):
        epochs = ep + 1
        order = tr[torch.randperm(tr.shape[0], generator=gen).to(dev)]
        for a in range(0, order.shape[0], opts.batch_size):
            b = order[a : a + opts.batch_size]
            p = net(T["x"][b], T["z"][b], T["m"][b], T["g"][b], pool)
            loss = torch.nn.functional.mse_loss(p, T["y"][b])
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        mae = val_mae()
        sched.step(mae)
        if verbose:
            print(f"epoch {ep + 1}: val MAE {mae * out_scale:.4g}")
        if mae < best - 1e-6:
            best = mae
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            bad = 0
        else:
            bad += 1
            if bad >= opts.patience:
                break
        if opts.train_time_limit is not None and time.perf_counter() - t0 > opts.train_time_limit:
            break
    if best_state:
        net.load_state_dict(best_state)
    parts = net.export()
    weights = NetWeights(
        layout=layout,
        static_scale=static_scale,
        glob_scale=glob_scale,
        pool=pool,
        out_scale=out_scale,
        out_shift=out_shift,
        activation=opts.activation,
        meta={"val_mae": best * out_scale, "n_samples": int(N), "epochs": epochs},
        **parts,
    )
    seconds = time.perf_counter() - t0
    val_abs = float(np.mean(np.abs(y[val_idx]))) if n_val else 1.0
    stats = TrainStats(
        seconds=seconds,
        device=dev,
        epochs=epochs,
        val_mae=best * out_scale,
        val_rel_mae=best * out_scale / max(val_abs, 1e-12),
        n_train=int(tr_idx.size),
        n_val=int(n_val),
    )
    return weights, stats
