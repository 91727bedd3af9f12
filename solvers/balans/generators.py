"""Small seeded MIP generators (Ecole-style) for tests and demos, as LinearForms.

Set cover, maximum independent set, combinatorial auction and (multi-)knapsack.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from workbench.compile.linear_form import Block, LinearForm

__all__ = ["combinatorial_auction", "independent_set", "knapsack", "set_cover"]


def _binary_form(
    c: np.ndarray, A: sp.spmatrix, row_lb: np.ndarray, row_ub: np.ndarray, sense: str, name: str
) -> LinearForm:
    n, m = A.shape[1], A.shape[0]
    return LinearForm(
        c=np.asarray(c, dtype=np.float64),
        A=sp.csr_matrix(A, dtype=np.float64),
        row_lb=np.asarray(row_lb, dtype=np.float64),
        row_ub=np.asarray(row_ub, dtype=np.float64),
        col_lb=np.zeros(n),
        col_ub=np.ones(n),
        integrality=np.ones(n, dtype=bool),
        sense=sense,  # type: ignore[arg-type]
        columns=[Block("x", 0, n, list(range(n)))],
        rows=[Block("r", 0, m, list(range(m)))],
        name=name,
    )


def set_cover(
    n_rows: int = 60, n_cols: int = 120, density: float = 0.08, seed: int | None = 0
) -> LinearForm:
    """Minimum-cost set cover: each row covered by at least one chosen column."""
    rng = np.random.default_rng(seed)
    dense = rng.random((n_rows, n_cols)) < density
    empty = ~dense.any(axis=1)
    dense[np.flatnonzero(empty), rng.integers(0, n_cols, empty.sum())] = True
    cost = rng.integers(1, 101, n_cols)
    return _binary_form(
        cost, sp.csr_matrix(dense), np.ones(n_rows), np.full(n_rows, np.inf), "min", "set_cover"
    )


def independent_set(n_nodes: int = 60, edge_prob: float = 0.1, seed: int | None = 0) -> LinearForm:
    """Maximum independent set on an Erdős–Rényi graph (one row per edge)."""
    rng = np.random.default_rng(seed)
    iu, ju = np.triu_indices(n_nodes, k=1)
    keep = rng.random(iu.size) < edge_prob
    iu, ju = iu[keep], ju[keep]
    m = iu.size
    rows = np.repeat(np.arange(m), 2)
    cols = np.column_stack([iu, ju]).ravel()
    A = sp.csr_matrix((np.ones(2 * m), (rows, cols)), shape=(m, n_nodes))
    return _binary_form(
        np.ones(n_nodes), A, np.full(m, -np.inf), np.ones(m), "max", "independent_set"
    )


def combinatorial_auction(
    n_items: int = 30, n_bids: int = 80, max_bundle: int = 5, seed: int | None = 0
) -> LinearForm:
    """Winner determination: accept bids (bundles, prices); each item sold at most once."""
    rng = np.random.default_rng(seed)
    value = rng.uniform(1.0, 10.0, n_items)
    rows: list[int] = []
    cols: list[int] = []
    price = np.empty(n_bids)
    for b in range(n_bids):
        size = int(rng.integers(1, max_bundle + 1))
        items = rng.choice(n_items, size=size, replace=False)
        rows.extend(items.tolist())
        cols.extend([b] * size)
        price[b] = round(float(value[items].sum() * rng.uniform(0.8, 1.3)), 2)
    A = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_items, n_bids))
    return _binary_form(
        price, A, np.full(n_items, -np.inf), np.ones(n_items), "max", "combinatorial_auction"
    )


def knapsack(
    n_items: int = 50, n_knapsacks: int = 3, tightness: float = 0.4, seed: int | None = 0
) -> LinearForm:
    """Multi-dimensional 0-1 knapsack (maximise value under ``n_knapsacks`` capacities)."""
    rng = np.random.default_rng(seed)
    w = rng.integers(5, 50, (n_knapsacks, n_items)).astype(np.float64)
    value = (w.mean(axis=0) + rng.integers(0, 20, n_items)).round()
    cap = np.floor(tightness * w.sum(axis=1))
    return _binary_form(
        value, sp.csr_matrix(w), np.full(n_knapsacks, -np.inf), cap, "max", "knapsack"
    )
