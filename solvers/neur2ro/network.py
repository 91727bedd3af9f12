"""The set-based ReLU value network ``Q̂(x, xi)`` (DeepSets, as in Neur2RO).

``e_x = rho_x(sum_i phi_x([x_i, s_i]) / pool)``, ``e_z = rho_z(sum_i phi_z([xi_i, s_i]) / pool)``
(``xi_i`` the item's uncertain entries, or in the contract mode its contractions
``p_i . xi``; ``rho_z(xi)`` for a global uncertainty vector), and
``Q̂ = out_scale * V([e_x, e_z, g]) + out_shift``.  Every hidden layer is
``Linear + ReLU`` (the value head's last layer is linear), so the whole network
is MILP-representable.  Training uses torch (:class:`TorchNet`); solving only
needs the numpy weights (:class:`NetWeights`), so a pretrained model runs
without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solvers.neur2ro.features import FeatureLayout, InstanceFeatures

__all__ = ["PER_ITEM_Z", "Layers", "NetWeights", "build_torch_net", "relu_mlp"]

Layers = list[tuple[np.ndarray, np.ndarray]]
"""``[(W (out, in), b (out,)), ...]``."""

PER_ITEM_Z = ("item", "contract")
"""The ``z_mode`` values whose uncertain inputs are per item (through ``phi_z``, pooled)."""


def relu_mlp(layers: Layers, h: np.ndarray, *, last_relu: bool = True) -> np.ndarray:
    """Apply ``Linear+ReLU`` layers to the last axis of *h* (numpy)."""
    for k, (W, b) in enumerate(layers):
        h = h @ W.T + b
        if last_relu or k < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


@dataclass
class NetWeights:
    """A trained network, its layout and its normalisation (numpy only)."""

    layout: FeatureLayout
    phi_x: Layers
    rho_x: Layers
    phi_z: Layers
    rho_z: Layers
    value: Layers
    static_scale: np.ndarray
    glob_scale: np.ndarray
    pool: float
    out_scale: float
    out_shift: float
    activation: str = "relu"
    meta: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------- inputs
    def static(self, f: InstanceFeatures) -> np.ndarray:
        """Normalised static item features ``(n, ks)``."""
        return np.asarray(f.static / self.static_scale)

    def glob(self, f: InstanceFeatures) -> np.ndarray:
        """Normalised global features ``(kg,)``."""
        return np.asarray(f.glob / self.glob_scale)

    # ----------------------------------------------------------- forward
    def embed_x(self, f: InstanceFeatures, x: np.ndarray) -> np.ndarray:
        """``e_x`` for one first-stage vector."""
        inp = np.concatenate([f.x_items(x), self.static(f)], axis=1)
        pooled = relu_mlp(self.phi_x, inp).sum(axis=0) / self.pool
        return relu_mlp(self.rho_x, pooled)

    def embed_z(self, f: InstanceFeatures, xi: np.ndarray) -> np.ndarray:
        """``e_z`` for one scenario."""
        if self.layout.z_mode in PER_ITEM_Z:
            inp = np.concatenate([f.z_input(xi), self.static(f)], axis=1)
            pooled = relu_mlp(self.phi_z, inp).sum(axis=0) / self.pool
            return relu_mlp(self.rho_z, pooled)
        return relu_mlp(self.rho_z, f.z_input(xi))

    def head(self, f: InstanceFeatures, ex: np.ndarray, ez: np.ndarray) -> float:
        """``Q̂`` from the two embeddings (in the model's units, minimised sense)."""
        h = np.concatenate([ex, ez, self.glob(f)])
        out = relu_mlp(self.value, h, last_relu=False)
        return float(self.out_scale * out[0] + self.out_shift)

    def predict(self, f: InstanceFeatures, x: np.ndarray, xi: np.ndarray) -> float:
        """``Q̂(x, xi)``."""
        return self.head(f, self.embed_x(f, x), self.embed_z(f, xi))

    # ----------------------------------------------------------- storage
    def arrays(self) -> dict[str, np.ndarray]:
        """Flat ``name -> array`` dict (for ``np.savez``)."""
        out: dict[str, np.ndarray] = {
            "static_scale": self.static_scale,
            "glob_scale": self.glob_scale,
        }
        for part in ("phi_x", "rho_x", "phi_z", "rho_z", "value"):
            for k, (W, b) in enumerate(getattr(self, part)):
                out[f"{part}.{k}.W"] = W
                out[f"{part}.{k}.b"] = b
        return out

    def header(self) -> dict[str, Any]:
        """JSON-ready scalars and the layout."""
        return {
            "layout": self.layout.to_json(),
            "pool": self.pool,
            "out_scale": self.out_scale,
            "out_shift": self.out_shift,
            "activation": self.activation,
            "meta": self.meta,
        }

    @classmethod
    def from_parts(cls, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> NetWeights:
        """Inverse of :meth:`header` + :meth:`arrays`."""
        parts: dict[str, Layers] = {}
        for part in ("phi_x", "rho_x", "phi_z", "rho_z", "value"):
            layers: Layers = []
            k = 0
            while f"{part}.{k}.W" in arrays:
                layers.append(
                    (np.asarray(arrays[f"{part}.{k}.W"]), np.asarray(arrays[f"{part}.{k}.b"]))
                )
                k += 1
            parts[part] = layers
        return cls(
            layout=FeatureLayout.from_json(header["layout"]),
            static_scale=np.asarray(arrays["static_scale"]),
            glob_scale=np.asarray(arrays["glob_scale"]),
            pool=float(header["pool"]),
            out_scale=float(header["out_scale"]),
            out_shift=float(header["out_shift"]),
            activation=str(header.get("activation", "relu")),
            meta=dict(header.get("meta", {})),
            **parts,
        )


def build_torch_net(
    layout: FeatureLayout,
    *,
    phi_hidden: tuple[int, ...],
    embed_dim: int,
    value_hidden: tuple[int, ...],
    activation: str = "relu",
) -> Any:
    """The torch module used in training (a ``torch.nn.Module`` with ``.export()``).

    Parameters
    ----------
    layout
        The family's feature layout.
    phi_hidden, embed_dim, value_hidden
        Hidden sizes of the per-item networks, the embedding size, and the value head.
    activation
        ``"relu"`` (MILP-representable); ``"tanh"`` is accepted for experiments, but
        such a network cannot be embedded.
    """
    import torch
    from torch import nn

    act: type[nn.Module] = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]

    def mlp(sizes: list[int], last_act: bool = True) -> nn.Sequential:
        mods: list[nn.Module] = []
        for k in range(len(sizes) - 1):
            mods.append(nn.Linear(sizes[k], sizes[k + 1]))
            if last_act or k < len(sizes) - 2:
                mods.append(act())
        return nn.Sequential(*mods)

    ks, kx, kz, kg = layout.ks, layout.kx, layout.kz, layout.kg

    class SetNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.phi_x = mlp([kx + ks, *phi_hidden, embed_dim])
            self.rho_x = mlp([embed_dim, embed_dim])
            if layout.z_mode in PER_ITEM_Z:
                self.phi_z = mlp([kz + ks, *phi_hidden, embed_dim])
                self.rho_z = mlp([embed_dim, embed_dim])
            else:
                self.phi_z = nn.Sequential()
                self.rho_z = mlp([layout.z_global_size, *phi_hidden, embed_dim])
            self.value = mlp([2 * embed_dim + kg, *value_hidden, 1], last_act=False)

        def forward(
            self,
            xin: torch.Tensor,  # (B, n, kx+ks)
            zin: torch.Tensor,  # (B, n, kz+ks) or (B, zdim)
            mask: torch.Tensor,  # (B, n)
            g: torch.Tensor,  # (B, kg)
            pool: float,
        ) -> torch.Tensor:
            m = mask.unsqueeze(-1)
            ex = self.rho_x((self.phi_x(xin) * m).sum(1) / pool)
            if layout.z_mode in PER_ITEM_Z:
                ez = self.rho_z((self.phi_z(zin) * m).sum(1) / pool)
            else:
                ez = self.rho_z(zin)
            out: torch.Tensor = self.value(torch.cat([ex, ez, g], dim=1)).squeeze(1)
            return out

        def export(self) -> dict[str, Layers]:
            out: dict[str, Layers] = {}
            for part in ("phi_x", "rho_x", "phi_z", "rho_z", "value"):
                seq = getattr(self, part)
                out[part] = [
                    (
                        mod.weight.detach().cpu().double().numpy().copy(),
                        mod.bias.detach().cpu().double().numpy().copy(),
                    )
                    for mod in seq
                    if isinstance(mod, nn.Linear)
                ]
            return out

    return SetNet()
