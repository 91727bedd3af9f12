"""Embedding the ReLU network in a MILP: big-M with interval-arithmetic bounds.

:class:`MilpBuilder` collects columns and rows; :class:`Aff` is a vector of
affine expressions over the columns together with interval bounds.  A ReLU
``h = max(0, a)`` with bounds ``[lo, hi]`` becomes nothing when the neuron is
stable (``hi <= 0``: zero; ``lo >= 0``: ``a`` itself) and otherwise
``h >= a``, ``h <= a - lo (1 - z)``, ``h <= hi z`` with a binary ``z``.  The
loose variant uses one constant M for every neuron (the baseline the
interval bounds are measured against).  A per-item network whose only
variable input is one binary ``x_i`` is affine in it,
``phi(x_i) = phi(0) + x_i (phi(1) - phi(0))``, and needs no binary at all.
When that one input is continuous on a box ``[lo, hi]``, ``phi`` is a
one-dimensional piecewise-linear function: its breakpoints are found
exactly (each layer's zero crossings between the previous breakpoints) and it
is embedded with the incremental formulation (one binary per interior
breakpoint, and a locally ideal LP relaxation) instead of one big-M binary per
unstable neuron.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from solvers.neur2ro.network import Layers, relu_mlp
from workbench.errors import UnsupportedProblemError

__all__ = ["Aff", "MilpBuilder", "check_relu", "pwl_breakpoints"]


def check_relu(activation: str) -> None:
    """Refuse a network that is not ReLU (it has no exact MILP embedding)."""
    if activation != "relu":
        raise UnsupportedProblemError(
            f"the neur2ro network uses activation {activation!r}; only ReLU networks can be "
            "embedded in a MILP; retrain with activation='relu'"
        )


@dataclass
class Aff:
    """``k`` affine expressions ``M @ cols + c`` with bounds ``lo <= . <= hi``."""

    M: sp.csr_matrix
    c: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @property
    def k(self) -> int:
        """Number of expressions."""
        return int(self.c.shape[0])

    @classmethod
    def const(cls, v: np.ndarray, ncols: int) -> Aff:
        """Constant expressions."""
        v = np.asarray(v, dtype=float)
        return cls(sp.csr_matrix((v.shape[0], ncols)), v.copy(), v.copy(), v.copy())

    def pad(self, ncols: int) -> sp.csr_matrix:
        """``M`` with as many columns as the builder now has."""
        if self.M.shape[1] == ncols:
            return self.M
        M = self.M.tocsr().copy()
        M.resize((M.shape[0], ncols))
        return M

    def linear(self, W: np.ndarray, b: np.ndarray, ncols: int) -> Aff:
        """``W @ self + b``, with interval bounds."""
        Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
        lo = Wp @ self.lo + Wn @ self.hi + b
        hi = Wp @ self.hi + Wn @ self.lo + b
        M = sp.csr_matrix(W) @ self.pad(ncols)
        return Aff(sp.csr_matrix(M), W @ self.c + b, lo, hi)

    def stack(self, other: Aff, ncols: int) -> Aff:
        """Concatenate two expression vectors."""
        return Aff(
            sp.vstack([self.pad(ncols), other.pad(ncols)], format="csr"),
            np.concatenate([self.c, other.c]),
            np.concatenate([self.lo, other.lo]),
            np.concatenate([self.hi, other.hi]),
        )


class MilpBuilder:
    """Columns and rows of a MILP under construction (minimisation)."""

    def __init__(self, *, loose_m: float | None = None) -> None:
        self.lb: list[np.ndarray] = []
        self.ub: list[np.ndarray] = []
        self.integ: list[np.ndarray] = []
        self.cost: list[np.ndarray] = []
        self.n = 0
        self.blocks: list[tuple[sp.csr_matrix, np.ndarray, np.ndarray]] = []
        self.loose_m = loose_m
        self.binaries = 0
        self.neurons = 0
        # how to complete a start point, in creation order (unstable neurons, PWL blocks)
        self.records: list[Callable[[np.ndarray], None]] = []

    def add_cols(
        self,
        lb: np.ndarray,
        ub: np.ndarray,
        integer: np.ndarray | bool,
        cost: np.ndarray | None = None,
    ) -> np.ndarray:
        """Add columns; return their indices."""
        lb = np.asarray(lb, dtype=float)
        k = lb.shape[0]
        self.lb.append(lb)
        self.ub.append(np.asarray(ub, dtype=float))
        self.integ.append(np.broadcast_to(np.asarray(integer, dtype=bool), (k,)).copy())
        self.cost.append(np.zeros(k) if cost is None else np.asarray(cost, dtype=float))
        idx = np.arange(self.n, self.n + k)
        self.n += k
        return idx

    def var_aff(self, idx: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Aff:
        """The columns *idx* as an expression vector."""
        k = idx.shape[0]
        M = sp.csr_matrix((np.ones(k), (np.arange(k), idx)), shape=(k, self.n))
        return Aff(M, np.zeros(k), np.asarray(lo, float).copy(), np.asarray(hi, float).copy())

    def add_rows(self, M: sp.csr_matrix, lo: np.ndarray, hi: np.ndarray) -> None:
        """Rows ``lo <= M @ cols <= hi`` (``M`` may have fewer columns than now)."""
        self.blocks.append((sp.csr_matrix(M), np.asarray(lo, float), np.asarray(hi, float)))

    def relu(self, a: Aff) -> Aff:
        """``max(0, a)`` with big-M rows (interval or constant M)."""
        self.neurons += a.k
        lo, hi = a.lo, a.hi
        if self.loose_m is not None:
            lo = np.full(a.k, -self.loose_m)
            hi = np.full(a.k, self.loose_m)
        dead = hi <= 0
        live = lo >= 0
        unstable = ~(dead | live)
        out_lo = np.where(live, a.lo, 0.0)
        out_hi = np.maximum(a.hi, 0.0)
        M = a.pad(self.n).tolil()
        c = np.where(live, a.c, 0.0)
        # dead rows -> zero; live rows -> a itself; unstable -> new h
        for r in np.flatnonzero(dead):
            M.rows[r] = []
            M.data[r] = []
        u = np.flatnonzero(unstable)
        if u.size:
            k = u.size
            self.binaries += k
            h = self.add_cols(np.zeros(k), np.maximum(hi[u], 0.0), False)
            z = self.add_cols(np.zeros(k), np.ones(k), True)
            Au = sp.csr_matrix(a.pad(self.n)[u])
            self.records.append(_relu_fill(h, z, Au, a.c[u].copy()))
            eye = sp.identity(self.n, format="csr")
            H, Z = eye[h], eye[z]
            cu = a.c[u]
            inf = np.full(k, np.inf)
            # h - a >= 0  <=>  h - Au >= cu
            self.add_rows(H - Au, cu, inf)
            # h - a + lo (1 - z) <= 0  <=>  h - Au - lo z <= cu - lo
            self.add_rows(H - Au - sp.diags(lo[u]) @ Z, -inf, cu - lo[u])
            # h - hi z <= 0
            self.add_rows(H - sp.diags(hi[u]) @ Z, -inf, np.zeros(k))
            M.resize((a.k, self.n))
            for j, r in enumerate(u):
                M.rows[r] = [int(h[j])]
                M.data[r] = [1.0]
            c[u] = 0.0
        return Aff(sp.csr_matrix(M), c, out_lo, out_hi)

    def complete(self, idx: np.ndarray, vals: np.ndarray) -> np.ndarray:
        """A full column vector from the input columns *idx* = *vals* (a MIP start).

        The neuron columns follow by the forward pass (they were created in
        topological order); other columns stay at zero (clipped to their bounds).
        """
        lb, ub = np.concatenate(self.lb), np.concatenate(self.ub)
        v = np.clip(np.zeros(self.n), lb, ub)
        v[idx] = vals
        for fill in self.records:
            fill(v)
        return v

    def mlp(self, layers: Layers, a: Aff, *, last_relu: bool = True) -> Aff:
        """Embed ``Linear(+ReLU)`` layers applied to *a*."""
        for k, (W, b) in enumerate(layers):
            a = a.linear(W, b, self.n)
            if last_relu or k < len(layers) - 1:
                a = self.relu(a)
        return a

    def item_sum(
        self,
        layers: Layers,
        inputs: Aff,
        n_items: int,
        k_in: int,
        static: np.ndarray,
        *,
        binary_shortcut: bool,
    ) -> Aff:
        """``sum_i phi([v_i, s_i])`` where ``inputs`` stacks the ``n_items * k_in`` variable inputs.

        With ``binary_shortcut`` (one binary input per item), the sum is affine in the inputs;
        with one bounded continuous input per item (and interval bounds, not the loose
        M), each item's ``phi`` is embedded exactly as a 1-D piecewise-linear function.
        """
        if binary_shortcut and k_in == 1:
            zeros = np.concatenate([np.zeros((n_items, 1)), static], axis=1)
            ones = np.concatenate([np.ones((n_items, 1)), static], axis=1)
            p0 = relu_mlp(layers, zeros)
            p1 = relu_mlp(layers, ones)
            D = (p1 - p0).T  # (d, n_items)
            M = sp.csr_matrix(D) @ inputs.pad(self.n)
            c = p0.sum(axis=0) + D @ inputs.c
            Dp, Dn = np.maximum(D, 0), np.minimum(D, 0)
            lo = p0.sum(axis=0) + Dp @ inputs.lo + Dn @ inputs.hi
            hi = p0.sum(axis=0) + Dp @ inputs.hi + Dn @ inputs.lo
            return Aff(sp.csr_matrix(M), c, lo, hi)
        if (
            k_in == 1
            and self.loose_m is None
            and bool(np.all(np.isfinite(inputs.lo)) and np.all(np.isfinite(inputs.hi)))
        ):
            return self._item_sum_pwl(layers, inputs, static)
        W0, b0 = layers[0]
        Wv, Ws = W0[:, :k_in], W0[:, k_in:]
        d = W0.shape[0]
        # first layer per item: Wv v_i + (Ws s_i + b0): block-diagonal over items
        big = sp.kron(sp.identity(n_items, format="csr"), sp.csr_matrix(Wv), format="csr")
        bias = (static @ Ws.T + b0).reshape(-1)
        a = Aff(inputs.pad(self.n), inputs.c, inputs.lo, inputs.hi)
        h = _block_linear(a, big, bias, self.n)
        h = self.relu(h)
        for W, b in layers[1:]:
            bigW = sp.kron(sp.identity(n_items, format="csr"), sp.csr_matrix(W), format="csr")
            h = _block_linear(h, bigW, np.tile(b, n_items), self.n)
            h = self.relu(h)
            d = W.shape[0]
        S = sp.kron(np.ones((1, n_items)), sp.identity(d, format="csr"), format="csr")
        return _block_linear(h, S, np.zeros(d), self.n)

    def _item_sum_pwl(self, layers: Layers, inputs: Aff, static: np.ndarray) -> Aff:
        """``sum_i phi([t_i, s_i])`` with each 1-D ``phi`` in the incremental formulation.

        ``t_i = p_0 + sum_s d_s`` with ``0 <= d_s <= L_s``, ``d_s >= L_s u_s`` and
        ``d_{s+1} <= L_{s+1} u_s`` (binary ``u_s``: segment ``s`` is full), so
        ``phi(t_i) = phi(p_0) + sum_s slope_s d_s`` is linear in the ``d``.
        """
        n_items = static.shape[0]
        pieces = [
            pwl_breakpoints(layers, static[i], float(inputs.lo[i]), float(inputs.hi[i]))
            for i in range(n_items)
        ]
        d_out = layers[-1][0].shape[0]
        seg = np.array([p.size - 1 for p, _ in pieces])
        L = np.concatenate([np.diff(p) for p, _ in pieces])
        dcols = self.add_cols(np.zeros(L.size), L, False)
        nbin = int(np.sum(np.maximum(seg - 1, 0)))
        ucols = self.add_cols(np.zeros(nbin), np.ones(nbin), True)
        self.binaries += nbin
        self.neurons += sum(len(b) for _, b in layers) * n_items
        first = np.concatenate([[0], np.cumsum(seg)[:-1]])
        ufirst = np.concatenate([[0], np.cumsum(np.maximum(seg - 1, 0))[:-1]])
        # link: inputs_i - sum_s d_is = p0_i - c_i
        r_i = np.repeat(np.arange(n_items), seg)
        link = inputs.pad(self.n) - sp.csr_matrix(
            (np.ones(L.size), (r_i, dcols)), shape=(n_items, self.n)
        )
        p0 = np.array([p[0] for p, _ in pieces])
        self.add_rows(link, p0 - inputs.c, p0 - inputs.c)
        # ordering: d_s - L_s u_s >= 0 and d_{s+1} - L_{s+1} u_s <= 0
        rows, cols, vals = [], [], []
        lo_r, hi_r = [], []
        k = 0
        for i in range(n_items):
            for s in range(seg[i] - 1):
                ds, dn, u = dcols[first[i] + s], dcols[first[i] + s + 1], ucols[ufirst[i] + s]
                rows += [k, k, k + 1, k + 1]
                cols += [ds, u, dn, u]
                vals += [1.0, -L[first[i] + s], 1.0, -L[first[i] + s + 1]]
                lo_r += [0.0, -np.inf]
                hi_r += [np.inf, 0.0]
                k += 2
        if k:
            self.add_rows(
                sp.csr_matrix((vals, (rows, cols)), shape=(k, self.n)),
                np.array(lo_r),
                np.array(hi_r),
            )
        slopes = np.concatenate([np.diff(G, axis=0) / np.diff(p)[:, None] for p, G in pieces])
        M = sp.csr_matrix(
            (slopes.T.ravel(), (np.repeat(np.arange(d_out), L.size), np.tile(dcols, d_out))),
            shape=(d_out, self.n),
        )
        c = np.sum([G[0] for _, G in pieces], axis=0)
        lo = np.sum([G.min(axis=0) for _, G in pieces], axis=0)
        hi = np.sum([G.max(axis=0) for _, G in pieces], axis=0)
        self.records.append(_pwl_fill(inputs, pieces, dcols, ucols, first, ufirst))
        return Aff(M, c, lo, hi)

    def assemble(
        self,
    ) -> tuple[
        np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
    ]:
        """``(c, A, row_lb, row_ub, col_lb, col_ub, integrality)``."""
        mats = []
        for M, _, _ in self.blocks:
            M = M.tocsr().copy()
            M.resize((M.shape[0], self.n))
            mats.append(M)
        A = sp.vstack(mats, format="csr") if mats else sp.csr_matrix((0, self.n))
        rlo = np.concatenate([b[1] for b in self.blocks]) if self.blocks else np.zeros(0)
        rhi = np.concatenate([b[2] for b in self.blocks]) if self.blocks else np.zeros(0)
        return (
            np.concatenate(self.cost),
            A,
            rlo,
            rhi,
            np.concatenate(self.lb),
            np.concatenate(self.ub),
            np.concatenate(self.integ),
        )


def _block_linear(a: Aff, W: sp.csr_matrix, b: np.ndarray, ncols: int) -> Aff:
    """``W @ a + b`` for a sparse ``W`` (interval bounds by the sign split)."""
    W = sp.csr_matrix(W)
    Wp = W.maximum(0)
    Wn = W.minimum(0)
    lo = Wp @ a.lo + Wn @ a.hi + b
    hi = Wp @ a.hi + Wn @ a.lo + b
    return Aff(sp.csr_matrix(W @ a.pad(ncols)), W @ a.c + b, lo, hi)


def _relu_fill(
    h: np.ndarray, z: np.ndarray, Au: sp.csr_matrix, c: np.ndarray
) -> Callable[[np.ndarray], None]:
    def fill(v: np.ndarray) -> None:
        pre = np.asarray(Au @ v[: Au.shape[1]]).ravel() + c
        v[h] = np.maximum(pre, 0.0)
        v[z] = (pre > 0).astype(float)

    return fill


def _pwl_fill(
    inputs: Aff,
    pieces: list[tuple[np.ndarray, np.ndarray]],
    dcols: np.ndarray,
    ucols: np.ndarray,
    first: np.ndarray,
    ufirst: np.ndarray,
) -> Callable[[np.ndarray], None]:
    Mi = inputs.M.tocsr()

    def fill(v: np.ndarray) -> None:
        t = np.asarray(Mi @ v[: Mi.shape[1]]).ravel() + inputs.c
        for i, (p, _) in enumerate(pieces):
            ti = float(np.clip(t[i], p[0], p[-1]))
            d = np.clip(ti - p[:-1], 0.0, np.diff(p))
            v[dcols[first[i] : first[i] + d.size]] = d
            if d.size > 1:
                v[ucols[ufirst[i] : ufirst[i] + d.size - 1]] = (ti >= p[1:-1]).astype(float)

    return fill


def pwl_breakpoints(
    layers: Layers, static: np.ndarray, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """The exact breakpoints of ``t -> relu_mlp(layers, [t, static])`` on ``[lo, hi]``.

    Every layer's pre-activation is linear between the breakpoints of the layers
    before it, so its zero crossings there are the new kinks.  Points where the
    slope does not change are dropped.

    Returns
    -------
    (points, values)
        Sorted points ``(P,)`` with ``points[0] = lo``, ``points[-1] = hi``, and the
        network's output at them ``(P, d)``.
    """

    def inp(t: np.ndarray) -> np.ndarray:
        return np.concatenate([t[:, None], np.broadcast_to(static, (t.size, static.size))], axis=1)

    pts = np.array([lo, hi]) if hi > lo else np.array([lo])
    for k in range(len(layers)):
        h = relu_mlp(layers[:k], inp(pts)) if k else inp(pts)
        W, b = layers[k]
        pre = h @ W.T + b
        a, bb = pre[:-1], pre[1:]
        cross = ((a < 0) & (bb > 0)) | ((a > 0) & (bb < 0))
        if cross.any():
            s_idx, _ = np.nonzero(cross)
            frac = a[cross] / (a[cross] - bb[cross])
            new = pts[s_idx] + frac * (pts[s_idx + 1] - pts[s_idx])
            pts = np.unique(np.concatenate([pts, new]))
    vals = relu_mlp(layers, inp(pts))
    if pts.size > 2:
        keep = np.ones(pts.size, dtype=bool)
        gaps = np.diff(pts)
        slope = np.diff(vals, axis=0) / np.maximum(gaps, 1e-300)[:, None]
        scale = 1.0 + np.abs(slope[:-1]) + np.abs(slope[1:])
        same = np.all(np.abs(slope[1:] - slope[:-1]) <= 1e-9 * scale, axis=1)
        tiny = gaps[1:] <= 1e-12 * max(1.0, abs(hi - lo))
        keep[1:-1] = ~(same | tiny)
        pts, vals = pts[keep], vals[keep]
    return pts, vals
