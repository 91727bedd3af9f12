"""Per-item and global features of a robust instance, read from the compiled parameter data.

The "items" are the members of the one index set of the first-stage
variables (for the knapsack: ``I``).  When the first-stage variables are
scalars or not indexed by one common set (``robust_lp_small``'s scalar
``x``), the whole first stage is one item (``item_set == ""``) and the
array parameters are flattened into the global features.  Per item, the network sees the
first-stage entries, the uncertain entries (when the uncertain variables are
indexed by the same set) and every parameter whose first index is that set;
scalar parameters are global features.  Uncertain variables indexed otherwise
(capital budgeting's 4-dimensional ``xi``) form one global vector of fixed
size (``z_mode="global"``), unless item parameters contract them: when the one
uncertain variable is indexed by a set ``S`` and some parameters ``p[item, S]``
exist (capital budgeting's ``phi[I, F]``, ``psi[I, F]``), each item sees
``p_i . xi`` per such parameter (``z_mode="contract"``, as Neur2RO's per-item
``1 + phi_i . xi / 2``), so the item-scenario interaction is visible per item.
Normalisation scales of the static features are family constants, stored with
the model; x, xi and the contracted inputs are normalised per instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solvers.neur2ro.recourse import RobustSplit
from workbench.errors import UnsupportedProblemError

__all__ = ["FeatureLayout", "InstanceFeatures", "instance_features"]


@dataclass
class FeatureLayout:
    """The shape of the features: the same for every instance of a family (JSON-ready)."""

    item_set: str
    x_vars: list[str]
    z_mode: str  # "item", "global" or "contract"
    z_vars: list[str]
    z_global_size: int
    item_params: list[str]
    item_widths: list[int]
    global_params: list[str]
    x_global_size: int = 0
    global_arrays: list[str] = field(default_factory=list)
    global_sizes: list[int] = field(default_factory=list)
    z_params: list[str] = field(default_factory=list)  # contract mode: the p[item, S]

    @property
    def kx(self) -> int:
        """First-stage entries per item (the whole first stage when there is one item)."""
        return self.x_global_size if self.item_set == "" else len(self.x_vars)

    @property
    def kz(self) -> int:
        """Uncertain inputs per item: entries (item mode), contractions (contract mode) or 0."""
        if self.z_mode == "item":
            return len(self.z_vars)
        return len(self.z_params) if self.z_mode == "contract" else 0

    @property
    def ks(self) -> int:
        """Static features per item."""
        return int(sum(self.item_widths))

    @property
    def kg(self) -> int:
        """Global static features (scalars, flattened arrays, then the item count)."""
        return len(self.global_params) + int(sum(self.global_sizes)) + 1

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {k: list(v) if isinstance(v, list) else v for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FeatureLayout:
        """Inverse of :meth:`to_json`."""
        return cls(**d)


@dataclass
class InstanceFeatures:
    """One instance's raw features and the maps from x / xi to network inputs.

    ``x_item[i, k]`` is ``x[x_pos[i, k]]`` (position in the split's x vector);
    the network input is ``(x - x_lo) / x_span`` there.  Likewise for xi in the
    item and global modes.  In the contract mode the inputs are affine in xi,
    ``z_map @ xi + z_off`` per item, with ``z_map[i, k] = p_k[i] / z_scale[k]``
    (in the split's xi positions) and ``z_off[i, k] = -z_map[i, k] . xi_mid``: the
    centred contraction ``p_k[i] . (xi - xi_mid)`` over the box ``[z_lb, z_ub]``
    (``p_k[i] . xi_mid`` is a per-item constant, which the static features carry),
    divided by ``z_scale[k]``, the largest ``sum_j |p_k[i, j]| (z_ub_j - z_lb_j) / 2``
    over the items, so every input lies in ``[-1, 1]``.  For capital budgeting's
    box ``[-1, 1]^F`` this is ``phi_i . xi / max_i |phi_i|_1``.
    """

    layout: FeatureLayout
    n_items: int
    static: np.ndarray  # (n_items, ks), raw
    glob: np.ndarray  # (kg,), raw (item count last)
    x_pos: np.ndarray  # (n_items, kx) into the split's x vector
    z_pos: np.ndarray  # (n_items, kz) or (z_global_size,) into the split's xi vector
    x_lo: np.ndarray
    x_span: np.ndarray
    z_lo: np.ndarray
    z_span: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)
    z_map: np.ndarray | None = None  # contract mode: (n_items, kz, nz), normalised
    z_off: np.ndarray | None = None  # contract mode: (n_items, kz)
    z_scale: np.ndarray | None = None  # contract mode: (kz,)

    def x_items(self, x: np.ndarray) -> np.ndarray:
        """Normalised first-stage inputs per item, ``(n_items, kx)``."""
        xn = (np.asarray(x, dtype=float) - self.x_lo) / self.x_span
        return np.asarray(xn[self.x_pos])

    def z_input(self, xi: np.ndarray) -> np.ndarray:
        """Normalised uncertain inputs: ``(n_items, kz)`` or ``(z_global_size,)``."""
        if self.z_map is not None and self.z_off is not None:
            return np.asarray(self.z_map @ np.asarray(xi, dtype=float) + self.z_off)
        zn = (np.asarray(xi, dtype=float) - self.z_lo) / self.z_span
        return np.asarray(zn[self.z_pos])


def _one_index_set(split: RobustSplit, names: list[str]) -> str | None:
    ctx = split.cm.ctx
    sets = {tuple(s.name for s in ctx.vars[v].index) for v in names}
    if len(sets) != 1:
        return None
    (idx,) = sets
    return idx[0] if len(idx) == 1 else None


def _contract_params(split: RobustSplit, item: str) -> tuple[str, list[str]]:
    """``(S, [p, ...])``: the parameters ``p[item, S]`` contracting the one uncertain ``xi[S]``.

    ``("", [])`` when the uncertain side is not one variable over one set ``S``
    (other than *item*) with a finite box, or when no parameter is indexed ``(item, S)``.
    """
    ctx = split.cm.ctx
    rb = split.cm.model.robust
    assert rb is not None
    if not item or len(rb.uncertain) != 1:
        return "", []
    index = ctx.vars[rb.uncertain[0]].index
    if len(index) != 1 or index[0].name == item or index[0].size != split.nz:
        return "", []
    if not (np.all(np.isfinite(split.z_lb)) and np.all(np.isfinite(split.z_ub))):
        return "", []
    S = index[0].name
    names = [
        name
        for name, pd in ctx.params.items()
        if name not in ctx.vars and not pd.is_scalar and [s.name for s in pd.index] == [item, S]
    ]
    return (S, names) if names else ("", [])


def _contract_maps(
    split: RobustSplit, layout: FeatureLayout, item: str, n_items: int, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(z_map, z_off, z_scale)`` of the contract mode (see :class:`InstanceFeatures`)."""
    cm = split.cm
    ctx = cm.ctx
    S, names = _contract_params(split, item)
    missing = [p for p in layout.z_params if p not in names]
    if missing or split.nz != layout.z_global_size:
        raise UnsupportedProblemError(
            f"{where}: the uncertainty is not {layout.z_global_size} entries contracted by "
            f"item parameters {layout.z_params} (missing or reshaped: {missing})"
        )
    z_index = {int(c): k for k, c in enumerate(split.z_cols)}
    sl = cm.var_slice(layout.z_vars[0])
    cols = np.array([z_index[c] for c in range(sl.start, sl.stop)], dtype=np.int64)
    mid = (split.z_lb + split.z_ub) / 2.0
    half = (split.z_ub - split.z_lb) / 2.0
    kz = len(layout.z_params)
    zmap = np.zeros((n_items, kz, split.nz))
    scale = np.ones(kz)
    for k, name in enumerate(layout.z_params):
        vals = np.asarray(ctx.params[name].values, dtype=float).reshape(n_items, ctx.sets[S].size)
        zmap[:, k, cols] = vals
        reach = float(np.max(np.abs(zmap[:, k, :]) @ half)) if n_items else 0.0
        scale[k] = reach if reach > 1e-12 else 1.0
        zmap[:, k, :] /= scale[k]
    return zmap, -(zmap @ mid), scale


def instance_features(
    split: RobustSplit, layout: FeatureLayout | None = None, *, contract: bool = True
) -> InstanceFeatures:
    """Build the features of one instance (and its layout, when none is given).

    With no *layout*, *contract* chooses ``z_mode="contract"`` where it applies
    (else ``"global"``); a given layout's mode wins.

    Raises
    ------
    UnsupportedProblemError
        First-stage variables not all indexed by one set, or an instance that does
        not fit the given layout (another family).
    """
    cm = split.cm
    ctx = cm.ctx
    rb = cm.model.robust
    assert rb is not None
    item = _one_index_set(split, rb.first_stage) or ""
    z_item = item != "" and _one_index_set(split, rb.uncertain) == item
    z_params = [] if z_item or not contract else _contract_params(split, item)[1]
    if layout is None:
        item_params, widths, global_params = [], [], []
        arrays, sizes = [], []
        for name, pd in ctx.params.items():
            if name in ctx.vars:
                continue
            if pd.is_scalar:
                global_params.append(name)
            elif item and pd.index[0].name == item:
                item_params.append(name)
                widths.append(int(np.prod([s.size for s in pd.index[1:]], dtype=np.int64)))
            elif not item:
                arrays.append(name)
                sizes.append(int(np.asarray(pd.values).size))
        layout = FeatureLayout(
            item_set=item,
            x_vars=list(rb.first_stage),
            z_mode="item" if z_item else ("contract" if z_params else "global"),
            z_vars=list(rb.uncertain),
            z_global_size=0 if z_item else split.nz,
            item_params=item_params,
            item_widths=widths,
            global_params=global_params,
            x_global_size=0 if item else split.nx,
            global_arrays=arrays,
            global_sizes=sizes,
            z_params=z_params,
        )
    where = "this model does not fit the trained neur2ro model's family"
    if layout.item_set != item or layout.x_vars != list(rb.first_stage):
        raise UnsupportedProblemError(f"{where}: first-stage variables or item set differ")
    if not item and split.nx != layout.x_global_size:
        raise UnsupportedProblemError(
            f"{where}: the first stage has {split.nx} entries, the model was trained for "
            f"{layout.x_global_size}"
        )
    if (layout.z_mode == "item") != z_item or layout.z_vars != list(rb.uncertain):
        raise UnsupportedProblemError(f"{where}: uncertain variables differ")
    if layout.z_mode != "item" and split.nz != layout.z_global_size:
        raise UnsupportedProblemError(
            f"{where}: the uncertainty vector has {split.nz} entries, the model was "
            f"trained for {layout.z_global_size}"
        )
    n_items = ctx.sets[item].size if item else 1
    cols = []
    for name, w in zip(layout.item_params, layout.item_widths):
        ip = ctx.params.get(name)
        if ip is None or ip.is_scalar or ip.index[0].name != item:
            raise UnsupportedProblemError(f"{where}: parameter '{name}' is missing or reshaped")
        vals = np.asarray(ip.values, dtype=float).reshape(n_items, -1)
        if vals.shape[1] != w:
            raise UnsupportedProblemError(
                f"{where}: parameter '{name}' has {vals.shape[1]} values per item, not {w}"
            )
        cols.append(vals)
    static = np.concatenate(cols, axis=1) if cols else np.zeros((n_items, 0))
    g = []
    for name in layout.global_params:
        sp_ = ctx.params.get(name)
        if sp_ is None or not sp_.is_scalar:
            raise UnsupportedProblemError(f"{where}: scalar parameter '{name}' is missing")
        g.append(float(np.asarray(sp_.values).reshape(-1)[0]))
    for name, size in zip(layout.global_arrays, layout.global_sizes):
        ap = ctx.params.get(name)
        flat = None if ap is None else np.asarray(ap.values, dtype=float).reshape(-1)
        if flat is None or flat.size != size:
            raise UnsupportedProblemError(
                f"{where}: parameter '{name}' is missing or does not have {size} values"
            )
        g.extend(float(v) for v in flat)
    g.append(float(n_items))
    xpos = np.empty((n_items, layout.kx), dtype=np.int64)
    x_index = {int(c): k for k, c in enumerate(split.x_cols)}
    if not item:
        xpos[0] = np.arange(split.nx)
    for k, v in enumerate(layout.x_vars if item else []):
        sl = cm.var_slice(v)
        xpos[:, k] = [x_index[c] for c in range(sl.start, sl.stop)]
    z_index = {int(c): k for k, c in enumerate(split.z_cols)}
    zpos: np.ndarray
    if layout.z_mode == "item":
        zpos = np.empty((n_items, layout.kz), dtype=np.int64)
        for k, v in enumerate(layout.z_vars):
            sl = cm.var_slice(v)
            zpos[:, k] = [z_index[c] for c in range(sl.start, sl.stop)]
    else:
        zpos = np.arange(split.nz, dtype=np.int64)
    xs = np.where(split.x_ub > split.x_lb, split.x_ub - split.x_lb, 1.0)
    zs = np.where(split.z_ub > split.z_lb, split.z_ub - split.z_lb, 1.0)
    out = InstanceFeatures(
        layout, n_items, static, np.asarray(g), xpos, zpos, split.x_lb.copy(), xs,
        split.z_lb.copy(), zs,
    )  # fmt: skip
    if layout.z_mode == "contract":
        out.z_map, out.z_off, out.z_scale = _contract_maps(split, layout, item, n_items, where)
    return out
