"""The BCD problem protocol and the built-in problems.

A problem is ``min_x f(x) + r(x)`` with ``f`` smooth and ``r`` a separable
:class:`~solvers.bcd.prox.Regulariser`.  The engine never touches ``x``
directly: it asks the problem for a :class:`State` and moves it block by
block, so each problem keeps whatever it needs for cheap block updates
(the residual ``Ax - y`` for least squares, the margins ``Ax`` for logistic
regression, the gradient ``Qx - c`` for quadratics).

Built-in problems: :class:`LeastSquares` (optionally with L1 and/or x >= 0),
:class:`Logistic`, :class:`Softmax` (multi-class logistic) and
:class:`Quadratic` (label propagation and any sparse PSD quadratic).
:class:`~solvers.bcd.torch_problem.TorchProblem` wraps an IR model.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import scipy.sparse as sp

from solvers.bcd.message_passing import offdiag_pattern
from solvers.bcd.prox import Regulariser

try:  # the in-place kernel behind ``csc_matrix @ vector`` (y += A x); private, so optional
    from scipy.sparse._sparsetools import csc_matvec as _csc_matvec
except ImportError:  # pragma: no cover - a scipy without it: fall back to the public product
    _csc_matvec = None

__all__ = ["BcdProblem", "LeastSquares", "Logistic", "Quadratic", "Softmax", "State"]

_DENSE_EIG_MAX = 400
"""Blocks up to this size get their Lipschitz constant from a dense eigenvalue."""


class State:
    """The current point ``x`` plus whatever the problem caches for cheap updates.

    ``joint``, when set, is one buffer that ``x`` and ``aux`` are views of
    (``x = joint[:n]``, ``aux = joint[n:]``), so one sparse product can move both
    (:meth:`Quadratic.exact_block_step`).  Code that rebinds ``x`` or ``aux``
    must reset it to ``None``.
    """

    __slots__ = ("aux", "joint", "x")

    def __init__(self, x: np.ndarray, aux: Any = None, joint: np.ndarray | None = None) -> None:
        self.x = x
        self.aux = aux
        self.joint = joint


class BcdProblem:
    """Base class: a smooth loss over ``n`` coordinates plus a separable regulariser.

    Subclasses implement :meth:`state`, :meth:`loss`, :meth:`grad` and :meth:`move`;
    the rest has generic (slower) defaults they may override.

    Attributes
    ----------
    n
        Number of coordinates.
    reg
        The separable regulariser (``Regulariser()`` means none).
    """

    n: int
    reg: Regulariser = Regulariser()

    # -------------------------------------------------------------- values
    def state(self, x: np.ndarray) -> State:
        """A state at *x* (a copy; the caller's array is never modified)."""
        raise NotImplementedError

    def loss(self, st: State) -> float:
        """The smooth part ``f(x)``."""
        raise NotImplementedError

    def objective(self, st: State) -> float:
        """``f(x) + r(x)``."""
        return self.loss(st) + self.reg.value(st.x)

    def grad(self, st: State) -> np.ndarray:
        """The full gradient of ``f``."""
        raise NotImplementedError

    def block_grad(self, st: State, b: np.ndarray) -> np.ndarray:
        """The gradient of ``f`` on block *b*."""
        return np.asarray(self.grad(st)[b])

    def move(self, st: State, b: np.ndarray, delta: np.ndarray) -> None:
        """``x[b] += delta``, updating the cached quantities."""
        raise NotImplementedError

    # ------------------------------------------------------- curvature data
    def lipschitz(self) -> np.ndarray | None:
        """Coordinate-wise Lipschitz constants ``L_i`` of the gradient, or ``None`` if unknown."""
        return None

    def hessian_bound(self, b: np.ndarray) -> np.ndarray | None:
        """A dense matrix ``M_b`` with ``M_b >= Hessian_bb f(x)`` for every ``x``, or ``None``."""
        return None

    def hessian(self, st: State, b: np.ndarray) -> np.ndarray | None:
        """The exact block Hessian at the current point (default: the bound)."""
        return self.hessian_bound(b)

    def bound_matvec(self, v: np.ndarray) -> np.ndarray | None:
        """``M v`` for the full Hessian bound ``M`` (used by the GSQ/IHT rule), or ``None``."""
        return None

    def block_lipschitz(self, b: np.ndarray) -> float | None:
        """An upper bound on the Lipschitz constant of the block gradient."""
        m = self.hessian_bound(b) if b.size <= _DENSE_EIG_MAX else None
        if m is not None:
            return float(max(np.linalg.eigvalsh(m)[-1], 1e-300))
        lip = self.lipschitz()
        if lip is None:
            return None
        return float(max(lip[b].sum(), 1e-300))  # trace bound

    def graph(self) -> sp.csr_matrix | None:
        """Sparse dependency graph (``G_ij != 0`` when the Hessian couples i and j), if known."""
        return None


def _col_sq_norms(a: sp.spmatrix | np.ndarray) -> np.ndarray:
    if sp.issparse(a):
        return np.asarray(sp.csc_matrix(a).multiply(a).sum(axis=0)).ravel()
    return np.asarray(np.einsum("ij,ij->j", a, a))


def _as_matrix(a: Any, where: str) -> sp.csc_matrix:
    if sp.issparse(a):
        out = sp.csc_matrix(a, dtype=float)
    else:
        arr = np.asarray(a, dtype=float)
        if arr.ndim != 2:
            raise ValueError(f"{where}: the data matrix must be 2-D, got shape {arr.shape}")
        out = sp.csc_matrix(arr)
    if not np.all(np.isfinite(out.data)):
        raise ValueError(f"{where}: the data matrix has NaN or infinite entries")
    return out


class _DataFit(BcdProblem):
    """Shared pieces of the problems on a data matrix ``A`` (m x n)."""

    curvature = 1.0  # Hessian <= curvature * A^T A

    def __init__(self, a: Any, reg: Regulariser | None, where: str) -> None:
        self.A = _as_matrix(a, where)
        self.At = sp.csr_matrix(self.A.T)
        self.m, self.n = self.A.shape
        self.reg = reg or Regulariser()
        self._lip = self.curvature * _col_sq_norms(self.A)

    def lipschitz(self) -> np.ndarray:
        return self._lip

    def hessian_bound(self, b: np.ndarray) -> np.ndarray:
        ab = self.A[:, b]
        return np.asarray(self.curvature * (ab.T @ ab).toarray())

    def bound_matvec(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(self.curvature * (self.At @ (self.A @ v)))

    def graph(self) -> sp.csr_matrix:
        pat = self.A.copy()
        pat.data[:] = 1.0
        g = sp.csr_matrix(pat.T @ pat)
        g.setdiag(0.0)
        g.eliminate_zeros()
        return g


class LeastSquares(_DataFit):
    """``f(x) = ||A x - y||^2 / 2`` (with an optional L1 / x >= 0 regulariser).

    Parameters
    ----------
    a
        The ``m x n`` data matrix (dense or scipy sparse).
    y
        Targets, length ``m``.
    reg
        A :class:`Regulariser`, e.g. ``Regulariser("l1", lam=1.0)``.
    """

    def __init__(self, a: Any, y: Any, reg: Regulariser | None = None) -> None:
        super().__init__(a, reg, "LeastSquares")
        self.y = np.asarray(y, dtype=float).ravel()
        if self.y.shape[0] != self.m:
            raise ValueError(f"LeastSquares: y has {self.y.shape[0]} entries, A has {self.m} rows")

    def state(self, x: np.ndarray) -> State:
        x = np.array(x, dtype=float)
        return State(x, self.A @ x - self.y)

    def loss(self, st: State) -> float:
        return 0.5 * float(st.aux @ st.aux)

    def grad(self, st: State) -> np.ndarray:
        return np.asarray(self.At @ st.aux)

    def block_grad(self, st: State, b: np.ndarray) -> np.ndarray:
        return np.asarray(self.A[:, b].T @ st.aux)

    def move(self, st: State, b: np.ndarray, delta: np.ndarray) -> None:
        st.x[b] += delta
        st.aux += self.A[:, b] @ delta


def add_matvec(cols: sp.csc_matrix, v: np.ndarray, out: np.ndarray) -> None:
    """``out += cols @ v`` in place, without a temporary (CSC matrix, float64 vectors).

    Parameters
    ----------
    cols
        A CSC matrix with ``out.size`` rows and ``v.size`` columns.
    v, out
        Contiguous float64 vectors; *out* is updated.
    """
    if _csc_matvec is None or out.dtype != np.float64 or not out.flags.c_contiguous:
        out += cols @ v
        return
    vv = np.ascontiguousarray(v, dtype=np.float64)
    _csc_matvec(cols.shape[0], cols.shape[1], cols.indptr, cols.indices, cols.data, vv, out)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class Logistic(_DataFit):
    """Binary logistic loss ``f(x) = sum_i log(1 + exp(-y_i a_i^T x))`` with labels +-1.

    Parameters
    ----------
    a
        The ``m x n`` data matrix.
    y
        Labels in {-1, +1}, length ``m``.
    reg
        An optional :class:`Regulariser`.
    """

    curvature = 0.25

    def __init__(self, a: Any, y: Any, reg: Regulariser | None = None) -> None:
        super().__init__(a, reg, "Logistic")
        self.y = np.asarray(y, dtype=float).ravel()
        if self.y.shape[0] != self.m or not np.all(np.isin(self.y, (-1.0, 1.0))):
            raise ValueError("Logistic: y must hold one label in {-1, +1} per row of A")

    def state(self, x: np.ndarray) -> State:
        x = np.array(x, dtype=float)
        return State(x, self.A @ x)

    def loss(self, st: State) -> float:
        return float(np.logaddexp(0.0, -self.y * st.aux).sum())

    def _weights(self, st: State) -> np.ndarray:
        return np.asarray(-self.y * _sigmoid(-self.y * st.aux))

    def grad(self, st: State) -> np.ndarray:
        return np.asarray(self.At @ self._weights(st))

    def block_grad(self, st: State, b: np.ndarray) -> np.ndarray:
        return np.asarray(self.A[:, b].T @ self._weights(st))

    def hessian(self, st: State, b: np.ndarray) -> np.ndarray:
        s = _sigmoid(st.aux)
        ab = self.A[:, b]
        return np.asarray((ab.T @ sp.diags(s * (1.0 - s)) @ ab).toarray())

    def move(self, st: State, b: np.ndarray, delta: np.ndarray) -> None:
        st.x[b] += delta
        st.aux += self.A[:, b] @ delta


class Softmax(BcdProblem):
    """Multi-class logistic (softmax) loss over a weight matrix ``W`` (``n_features x k``).

    The flat variable is ``W.ravel()``: coordinate ``f * k + c`` is feature ``f``
    of class ``c``.  The Hessian bound is Böhning's ``(I_k / 2) kron A^T A``.

    Parameters
    ----------
    a
        The ``m x n_features`` data matrix.
    labels
        Integer classes ``0..k-1``, length ``m``.
    k
        Number of classes (default ``max(labels) + 1``).
    reg
        An optional :class:`Regulariser`.
    """

    def __init__(
        self, a: Any, labels: Any, k: int | None = None, reg: Regulariser | None = None
    ) -> None:
        self.A = _as_matrix(a, "Softmax")
        self.At = sp.csr_matrix(self.A.T)
        self.m, self.d = self.A.shape
        lab = np.asarray(labels).ravel()
        if lab.shape[0] != self.m or not np.issubdtype(lab.dtype, np.integer) or lab.min() < 0:
            raise ValueError("Softmax: labels must be one integer class >= 0 per row of A")
        self.k = int(k if k is not None else lab.max() + 1)
        self.labels = lab
        self.Y = np.zeros((self.m, self.k))
        self.Y[np.arange(self.m), lab] = 1.0
        self.n = self.d * self.k
        self.reg = reg or Regulariser()
        self._lip = np.repeat(0.5 * _col_sq_norms(self.A), self.k)

    def state(self, x: np.ndarray) -> State:
        x = np.array(x, dtype=float)
        return State(x, np.asarray(self.A @ x.reshape(self.d, self.k)))

    def loss(self, st: State) -> float:
        z = st.aux
        zmax = z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z - zmax).sum(axis=1)) + zmax[:, 0]
        return float((lse - (z * self.Y).sum(axis=1)).sum())

    def grad(self, st: State) -> np.ndarray:
        z = st.aux - st.aux.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        return np.asarray(self.At @ (p - self.Y)).ravel()

    def move(self, st: State, b: np.ndarray, delta: np.ndarray) -> None:
        st.x[b] += delta
        dw = sp.csc_matrix((delta, (b // self.k, b % self.k)), shape=(self.d, self.k))
        st.aux += np.asarray((self.A @ dw).toarray())

    def lipschitz(self) -> np.ndarray:
        return self._lip

    def hessian_bound(self, b: np.ndarray) -> np.ndarray:
        f, c = b // self.k, b % self.k
        af = self.A[:, f]
        gram = (af.T @ af).toarray()
        return np.asarray(0.5 * gram * (c[:, None] == c[None, :]))

    def bound_matvec(self, v: np.ndarray) -> np.ndarray:
        w = v.reshape(self.d, self.k)
        return np.asarray(0.5 * (self.At @ (self.A @ w))).ravel()


class Quadratic(BcdProblem):
    """``f(x) = x^T Q x / 2 - c^T x`` with a sparse symmetric positive semidefinite ``Q``.

    This is the label-propagation objective of the paper's datasets D and E.
    Its dependency graph is the pattern of ``Q``, which the forest partitions and
    the message-passing update use.

    Parameters
    ----------
    q
        The ``n x n`` matrix (sparse or dense; symmetric).
    c
        The linear term, length ``n``.
    reg
        An optional :class:`Regulariser`.
    """

    def __init__(self, q: Any, c: Any, reg: Regulariser | None = None) -> None:
        qm = sp.csr_matrix(q, dtype=float)
        if qm.shape[0] != qm.shape[1]:
            raise ValueError(f"Quadratic: Q must be square, got shape {qm.shape}")
        if abs(qm - qm.T).max() > 1e-9 * max(1.0, abs(qm).max()):
            raise ValueError("Quadratic: Q must be symmetric")
        self.Q = qm
        self.Qc = sp.csc_matrix(qm)
        self.n = qm.shape[0]
        self.c = np.asarray(c, dtype=float).ravel()
        if self.c.shape[0] != self.n:
            raise ValueError(
                f"Quadratic: c has {self.c.shape[0]} entries, Q is {self.n} x {self.n}"
            )
        self.reg = reg or Regulariser()
        self._diag = qm.diagonal()
        if np.any(self._diag < 0):
            raise ValueError("Quadratic: Q has a negative diagonal entry, so it is not PSD")

    def state(self, x: np.ndarray) -> State:
        n = self.n
        joint = np.empty(2 * n)  # x and the gradient side by side: one product moves both
        joint[:n] = x
        joint[n:] = self.Q @ joint[:n] - self.c
        return State(joint[:n], joint[n:], joint)

    def loss(self, st: State) -> float:
        # f = x^T (Qx - c) / 2 - c^T x / 2, from the maintained gradient (two dots, no temporary)
        x = st.x
        return float(0.5 * (x @ st.aux - x @ self.c))

    def grad(self, st: State) -> np.ndarray:
        return cast(np.ndarray, st.aux)

    def block_grad(self, st: State, b: np.ndarray) -> np.ndarray:
        return cast(np.ndarray, st.aux[b])

    def move(self, st: State, b: np.ndarray, delta: np.ndarray) -> None:
        st.x[b] += delta
        if b.size * 8 > self.n:  # a big block: one full sparse mat-vec is cheaper than slicing
            full = np.zeros(self.n)
            full[b] = delta
            st.aux += self.Q @ full
        else:  # Q[:, b] delta = Q[b, :]^T delta (Q symmetric): gather the CSR rows, no slicing
            pos, row = self._rows(b)
            np.add.at(st.aux, self.Q.indices[pos], self.Q.data[pos] * delta[row])

    def columns(self, b: np.ndarray) -> sp.csc_matrix:
        """The Hessian columns ``Q[:, b]`` as CSC (cache it for repeated :meth:`move_columns`)."""
        cols = sp.csc_matrix(self.Qc[:, b])
        cols.sort_indices()
        return cols

    def move_columns(
        self, st: State, b: np.ndarray, delta: np.ndarray, cols: sp.csc_matrix
    ) -> None:
        """:meth:`move` with the block's columns ``Q[:, b]`` given (from :meth:`columns`)."""
        st.x[b] += delta
        add_matvec(cols, delta, st.aux)

    def off_block_columns(self, b: np.ndarray, cols: sp.csc_matrix) -> sp.csc_matrix:
        """``-Q[:, b]`` without the rows *b* (from :meth:`columns`), for :meth:`exact_block_step`."""
        inb = np.zeros(self.n, dtype=bool)
        inb[b] = True
        off = sp.csc_matrix(cols, copy=True)
        off.data = np.where(inb[off.indices], 0.0, -off.data)
        off.eliminate_zeros()
        return off

    def joint_columns(self, b: np.ndarray, off_neg: sp.csc_matrix) -> sp.csc_matrix:
        """The ``2n x |b|`` matrix ``[-I[:, b]; off_neg]`` for one-product steps on a joint state.

        Column ``j`` holds ``-1`` at row ``b[j]`` (the ``x`` half) and then
        *off_neg*'s column (from :meth:`off_block_columns`) shifted by ``n`` (the gradient half).
        """
        k = b.size
        off = sp.csc_matrix(off_neg)
        off.sort_indices()
        indptr = off.indptr.astype(np.int64) + np.arange(k + 1)
        head = indptr[:-1]
        rest = np.ones(off.nnz + k, dtype=bool)
        rest[head] = False
        indices = np.empty(off.nnz + k, dtype=np.int64)
        data = np.empty(off.nnz + k)
        indices[head], data[head] = b, -1.0
        indices[rest], data[rest] = off.indices + self.n, off.data
        return sp.csc_matrix((data, indices, indptr), shape=(2 * self.n, k))

    def exact_block_step(
        self,
        st: State,
        b: np.ndarray,
        s: np.ndarray,
        off_neg: sp.csc_matrix,
        joint: sp.csc_matrix | None = None,
        keep: np.ndarray | None = None,
    ) -> None:
        """Move to the exact block minimiser ``x_b -= s`` where ``Q_bb s = g_b``.

        The block's gradient becomes ``g_b - Q_bb s = 0`` and is set so; the other
        rows get ``-Q[~b, b] s`` (*off_neg* from :meth:`off_block_columns`).
        With *joint* (:meth:`joint_columns`) and *keep* (1.0 off the block, 0.0 on
        it) and a joint state, one sparse product moves ``x`` and the gradient.
        """
        buf = st.joint
        if joint is not None and keep is not None and buf is not None and _csc_matvec is not None:
            vv = np.ascontiguousarray(s, dtype=np.float64)
            _csc_matvec(
                joint.shape[0], joint.shape[1], joint.indptr, joint.indices, joint.data, vv, buf
            )
            np.multiply(st.aux, keep, out=st.aux)  # g_b = 0 (dense multiply beats a scatter)
            return
        st.x[b] -= s
        add_matvec(off_neg, s, st.aux)
        st.aux[b] = 0.0

    def lipschitz(self) -> np.ndarray:
        return np.asarray(self._diag)

    def _rows(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``Q.indices``/``Q.data`` of the rows *b*, and each position's row in *b*."""
        q = self.Q
        starts = q.indptr[b]
        lens = q.indptr[b + 1] - starts
        pos = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        return pos, np.repeat(np.arange(b.size), lens)

    def hessian_bound(self, b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=np.int64)
        pos, row = self._rows(b)
        cols = self.Q.indices[pos]
        order = np.argsort(b, kind="stable")
        sb = b[order]
        j = np.minimum(np.searchsorted(sb, cols), max(b.size - 1, 0))
        hit = sb[j] == cols
        m = np.zeros((b.size, b.size))
        np.add.at(m, (row[hit], order[j[hit]]), self.Q.data[pos[hit]])
        return m

    def bound_matvec(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(self.Q @ v)

    def graph(self) -> sp.csr_matrix:
        return offdiag_pattern(self.Q)
