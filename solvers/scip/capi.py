"""Load many linear rows into a pyscipopt model through SCIP's C functions.

pyscipopt adds a linear row through several Python layers (a ``Term`` dict,
an ``Expr``, an ``ExprCons``, ``addCons`` with its keyword handling and a
``Constraint`` wrapper): about 15 us a row, where SCIP itself needs 3-4 us.
:class:`BulkRows` hands the rows of a CSR matrix straight to
``SCIPcreateConsBasicLinear`` and ``SCIPaddCons`` through :mod:`ctypes`, on
the model's own ``SCIP*`` (``Model.to_ptr``) and the variables' ``SCIP_VAR*``
(``Variable.ptr()``), with the library that pyscipopt's extension module
already loaded.  The rows are the same SCIP constraints, with the same names
and default flags, as ``Model.addCons`` makes; their ``Constraint`` objects
are looked up afterwards, by position, only when needed (LP duals).

The functions used have kept their signatures since SCIP 8.  With another
major version, or a SCIP library without these symbols, :func:`bulk_rows`
returns ``None`` and the caller adds the rows through pyscipopt.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["BulkRows", "bulk_rows", "constraints_at", "lp_interrupter", "new_model"]

_OKAY = 1  # SCIP_OKAY
_MAJORS = (8, 9, 10)
_P = ctypes.c_void_p


class _Lib:
    """The SCIP C functions used here, with their signatures declared."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.create_linear = lib.SCIPcreateConsBasicLinear
        self.create_linear.argtypes = [
            _P, _P, ctypes.c_char_p, ctypes.c_int, _P, _P, ctypes.c_double, ctypes.c_double,
        ]  # fmt: skip
        self.create_linear.restype = ctypes.c_int
        self.create_quadratic = lib.SCIPcreateConsBasicQuadraticNonlinear
        self.create_quadratic.argtypes = [
            _P, _P, ctypes.c_char_p, ctypes.c_int, _P, _P, ctypes.c_int, _P, _P, _P,
            ctypes.c_double, ctypes.c_double,
        ]  # fmt: skip
        self.create_quadratic.restype = ctypes.c_int
        self.add = lib.SCIPaddCons
        self.add.argtypes = [_P, _P]
        self.add.restype = ctypes.c_int
        self.release = lib.SCIPreleaseCons
        self.release.argtypes = [_P, _P]
        self.release.restype = ctypes.c_int
        get = ctypes.pythonapi["PyCapsule_GetPointer"]  # our own object: argtypes stay ours
        get.argtypes = [ctypes.py_object, ctypes.c_char_p]
        get.restype = _P
        self.capsule_pointer = get


@functools.cache
def _cdll() -> ctypes.CDLL | None:
    """pyscipopt's extension module, which holds SCIP's C functions (``None`` if unusable)."""
    try:
        from pyscipopt import scip

        return ctypes.CDLL(scip.__file__)
    except (ImportError, OSError):
        return None


@functools.cache
def _library() -> _Lib | None:
    """SCIP's functions through pyscipopt's extension module (``None`` if unusable)."""
    cdll = _cdll()
    try:
        return None if cdll is None else _Lib(cdll)
    except AttributeError:
        return None


class BulkRows:
    """Adds linear rows to one ``pyscipopt.Model`` in its problem stage.

    Parameters
    ----------
    model
        The ``pyscipopt.Model``.
    lib
        SCIP's functions (from :func:`bulk_rows`).
    """

    def __init__(self, model: Any, lib: _Lib) -> None:
        self.model = model
        self._lib = lib
        self._scip = lib.capsule_pointer(model.to_ptr(False), b"scip")
        self._inf = float(model.infinity())

    def add_linear(
        self,
        indptr: np.ndarray,
        var_ptrs: np.ndarray,
        coefs: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        names: Sequence[str],
    ) -> int:
        """Add rows ``lo[r] <= sum coefs[k] * var[k] <= hi[r]`` (CSR layout).

        Parameters
        ----------
        indptr
            Row pointers, ``(nrows + 1,)``.
        var_ptrs
            ``SCIP_VAR*`` of each entry (``np.uintp``), ``(nnz,)``.
        coefs
            The coefficient of each entry, ``(nnz,)``.
        lo, hi
            Row bounds; one that is not finite (``-inf``/``inf``, or NaN) is absent.
        names
            One name per row.

        Returns
        -------
        int
            The position of the first new row among the model's original
            constraints (the others follow it in order).

        Raises
        ------
        RuntimeError
            If SCIP refuses a row (its return code is named).
        """
        first = int(self.model.getNConss(False))
        inf = self._inf
        ptrs = np.ascontiguousarray(var_ptrs, dtype=np.uintp)
        vals = np.ascontiguousarray(coefs, dtype=np.float64)
        lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        lhs = np.where(np.isfinite(lo), lo, -inf).tolist()  # as pyscipopt's None: no side
        rhs = np.where(np.isfinite(hi), hi, inf).tolist()
        base_p, base_v = ptrs.ctypes.data, vals.ctypes.data
        step_p, step_v = ptrs.itemsize, vals.itemsize
        lib, scip = self._lib, self._scip
        create, add, release = lib.create_linear, lib.add, lib.release
        cons = _P()
        ref = ctypes.byref(cons)
        bounds = indptr.tolist()
        for r, name in enumerate(names):
            a, n = bounds[r], bounds[r + 1] - bounds[r]
            code = create(
                scip,
                ref,
                name.encode(),
                n,
                base_p + step_p * a,
                base_v + step_v * a,
                lhs[r],
                rhs[r],
            )
            if code != _OKAY:
                raise RuntimeError(f"SCIP could not create row {name!r} (SCIP return code {code})")
            code = add(scip, cons)
            release(scip, ref)
            if code != _OKAY:
                raise RuntimeError(f"SCIP could not add row {name!r} (SCIP return code {code})")
        return first

    def add_quadratic(
        self,
        name: str,
        lin: tuple[np.ndarray, np.ndarray],
        quad: tuple[np.ndarray, np.ndarray, np.ndarray],
        lo: float,
        hi: float,
    ) -> int:
        """Add one row ``lo <= sum b_k v_k + sum q_k u_k w_k <= hi`` in a single call.

        Parameters
        ----------
        name
            The row's name.
        lin
            ``(SCIP_VAR* array, coefficients)`` of the linear terms.
        quad
            ``(SCIP_VAR* array u, SCIP_VAR* array w, coefficients)`` of the products
            (``u == w`` for a square).
        lo, hi
            Row bounds; one that is not finite is absent.

        Returns
        -------
        int
            The row's position among the model's original constraints.
        """
        first = int(self.model.getNConss(False))
        lp, lc = (np.ascontiguousarray(a, dtype=t) for a, t in zip(lin, (np.uintp, np.float64)))
        u, w, q = (np.ascontiguousarray(a, dtype=t)
                   for a, t in zip(quad, (np.uintp, np.uintp, np.float64)))  # fmt: skip
        lhs = float(lo) if np.isfinite(lo) else -self._inf
        rhs = float(hi) if np.isfinite(hi) else self._inf
        cons = _P()
        ref = ctypes.byref(cons)
        code = self._lib.create_quadratic(
            self._scip, ref, name.encode(), lp.size, lp.ctypes.data, lc.ctypes.data,
            q.size, u.ctypes.data, w.ctypes.data, q.ctypes.data, lhs, rhs,
        )  # fmt: skip
        if code != _OKAY:
            raise RuntimeError(f"SCIP could not create row {name!r} (SCIP return code {code})")
        code = self._lib.add(self._scip, cons)
        self._lib.release(self._scip, ref)
        if code != _OKAY:
            raise RuntimeError(f"SCIP could not add row {name!r} (SCIP return code {code})")
        return first


def bulk_rows(model: Any) -> BulkRows | None:
    """A :class:`BulkRows` for *model*, or ``None`` where SCIP's functions are not usable."""
    lib = _library()
    if lib is None:
        return None
    try:
        major = int(str(model.version()).split(".")[0])
    except (ValueError, AttributeError):
        return None
    if major not in _MAJORS:
        return None
    try:
        return BulkRows(model, lib)
    except (AttributeError, TypeError, ValueError):  # a pyscipopt without Model.to_ptr
        return None


def constraints_at(
    model: Any, positions: Sequence[int], name_of: Callable[[int], str]
) -> list[Any]:
    """The ``Constraint`` objects at *positions* among *model*'s original constraints.

    Parameters
    ----------
    model
        The ``pyscipopt.Model``.
    positions
        Positions among ``model.getConss(False)``.
    name_of
        The expected name of the k-th one (checked on the first, middle and last).

    Raises
    ------
    RuntimeError
        If a constraint found there does not carry the expected name.
    """
    if not positions:
        return []
    conss = model.getConss(False)
    out = [conss[p] for p in positions]
    for k in {0, len(out) // 2, len(out) - 1}:
        if out[k].name != name_of(k):
            raise RuntimeError(
                f"SCIP constraint at position {positions[k]} is {out[k].name!r}, "
                f"not {name_of(k)!r}: the model changed after it was built"
            )
    return out


@functools.cache
def _interrupt_lp() -> Any:
    """``SCIPinterruptLP`` (``None`` where it is not exported)."""
    cdll = _cdll()
    try:
        fn = None if cdll is None else cdll.SCIPinterruptLP
    except AttributeError:
        return None
    if fn is None:
        return None
    fn.argtypes = [_P, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def lp_interrupter(model: Any) -> Callable[[], bool] | None:
    """A function stopping the LP that SCIP is solving for *model* now (``None``: not available).

    ``SCIPinterruptLP`` makes the LP solver give up at its next iteration; SCIP's
    own interrupt (``interruptSolve``) is looked at only between LP solves, and
    one root LP of a large model can take most of a minute.  The function returns
    whether SCIP accepted the call; call it only in the solving stage.
    """
    fn = _interrupt_lp()
    lib = _library()
    if fn is None or lib is None:
        return None
    try:
        if int(str(model.version()).split(".")[0]) not in _MAJORS:
            return None
        scip_ptr = lib.capsule_pointer(model.to_ptr(False), b"scip")
    except (AttributeError, TypeError, ValueError):
        return None
    return lambda: bool(fn(scip_ptr, 1) == _OKAY)


_CAPSULE_NAME = ctypes.create_string_buffer(b"scip")
"""The capsule's name: it must outlive every capsule made with it."""


@functools.cache
def _creator() -> Any:
    """SCIP's create / include / problem functions, and ``PyCapsule_New`` (or ``None``)."""
    lib = _cdll()
    if lib is None:
        return None
    try:
        if int(lib.SCIPmajorVersion()) not in _MAJORS:
            return None
        create, include, prob = (
            lib.SCIPcreate,
            lib.SCIPincludeDefaultPlugins,
            lib.SCIPcreateProbBasic,
        )
        free = lib.SCIPfree
    except AttributeError:
        return None
    for fn in (create, include, free):
        fn.argtypes = [_P]
        fn.restype = ctypes.c_int
    prob.argtypes = [_P, ctypes.c_char_p]
    prob.restype = ctypes.c_int
    capsule = ctypes.pythonapi["PyCapsule_New"]  # our own object: argtypes stay ours
    capsule.argtypes = [_P, _P, _P]
    capsule.restype = ctypes.py_object
    return create, include, prob, free, capsule


def new_model() -> Any | None:
    """A new ``pyscipopt.Model`` with SCIP's default plugins, made without holding the GIL.

    ``pyscipopt.Model()`` creates SCIP and includes its default plugins (about 3 ms)
    while it holds the GIL, and every other Python thread waits meanwhile: a solver
    raced beside it waits in each of its callbacks.  Here the same C calls go through
    :mod:`ctypes`, which releases the GIL, and ``Model.from_ptr`` wraps the result
    (the model owns and frees it as usual).  ``None`` where that is not possible; the
    caller then uses ``pyscipopt.Model()``.
    """
    funcs = _creator()
    if funcs is None:
        return None
    create, include, prob, free, capsule = funcs
    scip = _P()
    if create(ctypes.byref(scip)) != _OKAY:
        return None
    if include(scip) != _OKAY or prob(scip, b"model") != _OKAY:
        free(ctypes.byref(scip))
        return None
    try:
        import pyscipopt

        return pyscipopt.Model.from_ptr(
            capsule(scip, ctypes.addressof(_CAPSULE_NAME), None), take_ownership=True
        )
    except (AttributeError, TypeError, ValueError):
        free(ctypes.byref(scip))
        return None
