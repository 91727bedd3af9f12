"""MPS/LP import and export through highspy, and LinearForm <-> HiGHS conversion.

``read_mps`` turns a ``.mps``/``.lp`` file (optionally gzipped) into a
:class:`~workbench.compile.linear_form.LinearForm` with one block per column
and per row, named by the file's own names, so a result's values come back as
``{column_name: value}``.  ``write_mps``/``write_lp`` go the other way, and
``linear_form_to_model`` turns a *small* LinearForm into an equivalent IR
model that can be shown and edited as YAML.

``load_into_highs`` is the one place where a LinearForm becomes a HiGHS model;
the ``highs`` backend uses it too.  highspy is imported only inside functions.
"""

from __future__ import annotations

import bz2
import gzip
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from workbench.compile.linear_form import Block, LinearForm
from workbench.errors import ModelError

__all__ = [
    "MAX_MODEL_NNZ",
    "linear_form_from_highs",
    "linear_form_to_model",
    "load_into_highs",
    "read_mps",
    "write_lp",
    "write_mps",
]

MAX_MODEL_NNZ = 5000
"""Largest number of nonzeros :func:`linear_form_to_model` converts."""

NAME_LIMIT = 20_000
"""Rows plus columns below which names are passed to HiGHS by default."""


_LP_OK = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!\"#$%&()/,.;?@_`'{}|~"
)


def _safe(name: str) -> str:
    # MPS files split on whitespace; keep names one token long.
    return "_".join(name.split()) or "_"


def _lp_safe(name: str) -> str:
    # CPLEX-LP names: brackets mean quadratic terms, operators end a name.
    out = "".join(ch if ch in _LP_OK else "_" for ch in name.replace("[", "(").replace("]", ")"))
    if not out or out[0].isdigit() or out[0] == "." or (out[0] in "eE" and out[1:2].isdigit()):
        out = "_" + out
    return out


def _unique(names: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for k, s in enumerate(names):
        t = s if s not in seen else f"{s}_{k}"
        seen.add(t)
        out.append(t)
    return out


def load_into_highs(
    h: Any, lf: LinearForm, *, names: bool | None = None, safe: str | None = None
) -> Any:
    """Pass *lf* to the ``highspy.Highs`` instance *h* (vectorised, CSR rowwise).

    Without names this uses highspy's array overload of ``passModel`` (numpy
    buffers, no per-element conversion: about 20 ms for 1M nonzeros); with
    names it fills a ``HighsLp``/``HighsModel``.

    Parameters
    ----------
    h
        A ``highspy.Highs`` object; its current model is replaced.
    lf
        The model.  ``Q`` (objective ``0.5 x'Qx``, symmetric) is passed as a
        HiGHS lower-triangular Hessian, which uses the same ``0.5`` convention.
    names
        Pass row and column names; by default only for small models (fewer
        than :data:`NAME_LIMIT` rows plus columns).
    safe
        Make names fit a file format: ``"mps"`` replaces whitespace;
        ``"lp"`` also maps ``[]`` to ``()`` and other operator characters to
        ``_``.  Names are kept unique.

    Returns
    -------
    highspy.HighsStatus
        The status of ``passModel``.
    """
    import highspy

    n, m = lf.num_cols, lf.num_rows
    A = sp.csr_matrix(lf.A)
    f64 = np.float64
    cost = np.ascontiguousarray(lf.c, dtype=f64)
    col_lb = np.ascontiguousarray(lf.col_lb, dtype=f64)
    col_ub = np.ascontiguousarray(lf.col_ub, dtype=f64)
    row_lb = np.ascontiguousarray(lf.row_lb, dtype=f64)
    row_ub = np.ascontiguousarray(lf.row_ub, dtype=f64)
    a_start = A.indptr.astype(np.int32, copy=False)
    a_index = A.indices.astype(np.int32, copy=False)
    a_value = np.ascontiguousarray(A.data, dtype=f64)
    integrality = np.asarray(lf.integrality, dtype=bool).astype(np.int32)
    rowwise = int(highspy.MatrixFormat.kRowwise)
    sense = int(highspy.ObjSense.kMaximize if lf.sense == "max" else highspy.ObjSense.kMinimize)
    L = None
    if lf.Q is not None and sp.csr_matrix(lf.Q).nnz:
        # HiGHS stores the lower triangle column-wise (= upper triangle row-wise).
        L = sp.tril(sp.csc_matrix(lf.Q), format="csc")
        L.sort_indices()

    col_names: list[str] = []
    row_names: list[str] = []
    if names if names is not None else n + m < NAME_LIMIT:
        col_names, row_names = lf.col_names(), lf.row_names()
        if safe:
            fix = _lp_safe if safe == "lp" else _safe
            col_names = _unique([fix(s) for s in col_names])
            row_names = _unique([fix(s) for s in row_names])
        if len(col_names) != n or len(row_names) != m:  # hand-built forms may lack blocks
            col_names, row_names = [], []

    if not col_names:
        if L is None:
            return h.passModel(
                n, m, int(A.nnz), rowwise, sense, float(lf.offset),
                cost, col_lb, col_ub, row_lb, row_ub, a_start, a_index, a_value, integrality,
            )  # fmt: skip
        return h.passModel(
            n, m, int(A.nnz), int(L.nnz), rowwise, int(highspy.HessianFormat.kTriangular),
            sense, float(lf.offset), cost, col_lb, col_ub, row_lb, row_ub,
            a_start, a_index, a_value,
            L.indptr.astype(np.int32), L.indices.astype(np.int32), L.data.astype(f64),
            integrality,
        )  # fmt: skip

    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = m
    lp.col_cost_ = cost
    lp.col_lower_ = col_lb
    lp.col_upper_ = col_ub
    lp.row_lower_ = row_lb
    lp.row_upper_ = row_ub
    lp.offset_ = float(lf.offset)
    lp.sense_ = highspy.ObjSense(sense)
    lp.model_name_ = _safe(lf.name)
    lp.col_names_ = col_names
    lp.row_names_ = row_names
    if integrality.any():
        kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
        lp.integrality_ = [kinds[v] for v in integrality.tolist()]
    mat = lp.a_matrix_
    mat.format_ = highspy.MatrixFormat.kRowwise
    mat.num_col_ = n
    mat.num_row_ = m
    mat.start_ = a_start
    mat.index_ = a_index
    mat.value_ = a_value
    if L is None:
        return h.passModel(lp)
    hess = highspy.HighsHessian()
    hess.dim_ = n
    hess.format_ = highspy.HessianFormat.kTriangular
    hess.start_ = L.indptr.astype(np.int32)
    hess.index_ = L.indices.astype(np.int32)
    hess.value_ = L.data.astype(f64)
    model = highspy.HighsModel()
    model.lp_ = lp
    model.hessian_ = hess
    return h.passModel(model)


def linear_form_from_highs(lp: Any, *, name: str | None = None) -> LinearForm:
    """Convert a ``highspy.HighsLp`` (for example from ``getLp()``) into a LinearForm.

    Each column and each row becomes its own :class:`Block` (``labels`` None)
    named by the HiGHS name, or ``c<j>``/``r<i>`` where the file gave none.
    """
    import highspy

    n, m = int(lp.num_col_), int(lp.num_row_)
    mat = lp.a_matrix_
    start = np.asarray(mat.start_, dtype=np.int64)[: (n + 1 if _colwise(mat) else m + 1)]
    nnz = int(start[-1]) if start.size else 0
    index = np.asarray(mat.index_, dtype=np.int64)[:nnz]
    value = np.asarray(mat.value_, dtype=np.float64)[:nnz]
    if _colwise(mat):
        A = sp.csc_matrix((value, index, start), shape=(m, n)).tocsr()
    else:
        A = sp.csr_matrix((value, index, start), shape=(m, n))
    A.sum_duplicates()
    integ_list = list(lp.integrality_)
    integrality = np.zeros(n, dtype=bool)
    if integ_list:
        kinds = np.fromiter((int(v) for v in integ_list), dtype=np.int64, count=n)
        integrality = kinds != int(highspy.HighsVarType.kContinuous)
    col_names = list(lp.col_names_) or [f"c{j}" for j in range(n)]
    row_names = list(lp.row_names_) or [f"r{i}" for i in range(m)]
    return LinearForm(
        c=np.asarray(lp.col_cost_, dtype=np.float64).copy(),
        A=A,
        row_lb=np.asarray(lp.row_lower_, dtype=np.float64).copy(),
        row_ub=np.asarray(lp.row_upper_, dtype=np.float64).copy(),
        col_lb=np.asarray(lp.col_lower_, dtype=np.float64).copy(),
        col_ub=np.asarray(lp.col_upper_, dtype=np.float64).copy(),
        integrality=integrality,
        sense="max" if lp.sense_ == highspy.ObjSense.kMaximize else "min",
        offset=float(lp.offset_),
        columns=[Block(s, j, 1) for j, s in enumerate(col_names)],
        rows=[Block(s, i, 1) for i, s in enumerate(row_names)],
        name=name or str(lp.model_name_) or "model",
    )


def _colwise(mat: Any) -> bool:
    import highspy

    return bool(mat.format_ == highspy.MatrixFormat.kColwise)


class _Log:
    """Collects HiGHS log lines through its logging callback (no console output)."""

    def __init__(self, h: Any) -> None:
        self.lines: list[str] = []
        h.setOptionValue("output_flag", True)
        h.setOptionValue("log_to_console", True)  # required for the callback to fire
        h.cbLogging.subscribe(lambda e: self.lines.append(str(e.message)))

    def errors(self) -> str:
        text = "".join(self.lines)
        found = [
            ln.strip().removeprefix("ERROR:").strip()
            for ln in text.splitlines()
            if ln.lstrip().startswith("ERROR")
        ]
        return "; ".join(found) or text.strip()[-300:]


_COMPRESSED: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open}
_MPS_LIKE = (".mps", ".free-mps", ".qps", ".sif")


@contextmanager
def _plain_file(path: Path) -> Iterator[Path]:
    """Yield a path HiGHS can read: *path*, or a decompressed/renamed temporary copy.

    HiGHS picks its parser by suffix and reads neither ``.gz`` here nor
    aliases such as ``.free-mps``/``.qps``; those are copied to ``.mps``.
    """
    opener = _COMPRESSED.get(path.suffix.lower())
    inner = Path(path.stem) if opener else path
    kind = ".lp" if inner.suffix.lower() == ".lp" else ".mps"
    if opener is None and path.suffix.lower() == kind:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="workbench-mps-") as tmp:
        target = Path(tmp) / (inner.stem + kind)
        try:
            src_open: Callable[..., Any] = opener or open
            with src_open(path, "rb") as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        except (OSError, EOFError, ValueError) as e:
            raise ModelError(f"cannot decompress {path}: {e}") from None
        yield target


def read_mps(path: str | Path) -> LinearForm:
    """Read an ``.mps`` or ``.lp`` file (``.gz`` allowed) into a LinearForm.

    Parameters
    ----------
    path
        The file.  The format follows the suffix (before ``.gz``/``.bz2``):
        ``.lp`` is CPLEX-LP; ``.mps``, ``.free-mps``, ``.qps`` are MPS.

    Returns
    -------
    LinearForm
        One block per column and per row, named as in the file.

    Raises
    ------
    ModelError
        If the file is missing or HiGHS cannot parse it; the message gives
        the path and HiGHS's reason.
    """
    import highspy

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"no such file: {p}")
    inner_suffix = Path(p.stem).suffix if p.suffix.lower() in _COMPRESSED else p.suffix
    if inner_suffix.lower() not in (*_MPS_LIKE, ".lp"):
        raise ModelError(f"cannot read {p}: expected a .mps or .lp file (optionally .gz or .bz2)")
    with _plain_file(p) as plain:
        h = highspy.Highs()
        log = _Log(h)
        try:
            status = h.readModel(str(plain))
        except Exception as e:  # a crash inside highspy is a bad file to the user
            raise ModelError(f"cannot read {p}: {e}") from e
        if status == highspy.HighsStatus.kError:
            reason = log.errors().replace(str(plain), str(p))
            raise ModelError(f"cannot read {p}: {reason or 'HiGHS could not parse it'}")
        lf = linear_form_from_highs(h.getLp(), name=p.name.split(".")[0])
        if h.getHessianNumNz() > 0:
            hess = h.getModel().hessian_
            Lq = sp.csc_matrix(
                (
                    np.asarray(hess.value_, dtype=np.float64),
                    np.asarray(hess.index_, dtype=np.int64),
                    np.asarray(hess.start_, dtype=np.int64),
                ),
                shape=(lf.num_cols, lf.num_cols),
            )
            full = Lq + sp.tril(Lq, k=-1).T  # triangular -> symmetric
            lf.Q = sp.csr_matrix(full)
    return lf


def _write(lf: LinearForm, path: str | Path, suffix: str) -> None:
    import highspy

    p = Path(path)
    if not p.name.endswith(suffix):
        raise ValueError(f"{p} should end in {suffix}")
    h = highspy.Highs()
    log = _Log(h)
    status = load_into_highs(h, lf, names=True, safe=suffix.lstrip("."))
    if status == highspy.HighsStatus.kError:
        raise ModelError(f"HiGHS rejected the model: {log.errors()}")
    if h.writeModel(str(p)) == highspy.HighsStatus.kError:
        raise ModelError(f"cannot write {p}: {log.errors()}")


def write_mps(lf: LinearForm, path: str | Path) -> None:
    """Write *lf* as a (free-format) MPS file with row and column names.

    Whitespace inside names is replaced by ``_``.

    Raises
    ------
    ModelError
        If HiGHS rejects the model or cannot write the file.
    """
    _write(lf, path, ".mps")


def write_lp(lf: LinearForm, path: str | Path) -> None:
    """Write *lf* as a CPLEX-LP file with row and column names.

    LP names cannot hold brackets or operators: ``x[a,1]`` is written as
    ``x(a,1)`` and characters such as ``-+*:<>=`` and whitespace become ``_``.

    Raises
    ------
    ModelError
        If HiGHS rejects the model or cannot write the file.
    """
    _write(lf, path, ".lp")


def _fmt(x: float) -> float | int:
    v = float(x)
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def _family(integer: bool, binary: bool, lo: bool, hi: bool) -> str:
    base = "b" if binary else ("z" if integer else "x")
    if binary:
        return base
    if lo and hi:
        return f"{base}_box"
    if lo:
        return base
    if hi:
        return f"{base}_neg"
    return f"{base}_free"


def linear_form_to_model(lf: LinearForm) -> Any:
    """Convert a small LinearForm into an equivalent IR model (for showing/editing as YAML).

    Columns become sets of column names, one variable family per kind and
    bound pattern (``x`` continuous with a lower bound, ``x_box``,
    ``x_neg``, ``x_free``, ``z...`` integer, ``b`` binary).  Coefficients
    are one sparse parameter ``a`` over ``[R, V]`` given by ``rows:``; rows
    become the families ``le`` (``A x <= ub``), ``ge`` (``A x >= lb``) and
    ``eq``; a ranged row appears in both ``le`` and ``ge``.  Only finite data
    is written.

    Returns
    -------
    workbench.ir.Model

    Raises
    ------
    ModelError
        If the form has more than :data:`MAX_MODEL_NNZ` nonzeros, a quadratic
        objective, or duplicate names.
    """
    from workbench.ir import model_from_dict

    if lf.nnz > MAX_MODEL_NNZ:
        raise ModelError(
            f"the model has {lf.nnz} nonzeros; only models with at most {MAX_MODEL_NNZ} are"
            " converted to the IR (solve the MPS file directly instead)"
        )
    if lf.Q is not None and sp.csr_matrix(lf.Q).nnz:
        raise ModelError(
            "a quadratic objective is not converted to the IR; solve the file directly"
        )
    cols, rows = lf.col_names(), lf.row_names()
    if len(cols) != lf.num_cols or len(rows) != lf.num_rows:
        cols = [f"c{j}" for j in range(lf.num_cols)]
        rows = [f"r{i}" for i in range(lf.num_rows)]
    for kind, names in (("column", cols), ("row", rows)):
        if len(set(names)) != len(names):
            raise ModelError(f"duplicate {kind} names; the IR needs unique names")

    A = sp.csr_matrix(lf.A)
    A.eliminate_zeros()
    lo_f, hi_f = np.isfinite(lf.col_lb), np.isfinite(lf.col_ub)
    integ = np.asarray(lf.integrality, dtype=bool)
    binary = integ & (lf.col_lb == 0) & (lf.col_ub == 1)
    fam_of = [
        _family(bool(integ[j]), bool(binary[j]), bool(lo_f[j]), bool(hi_f[j]))
        for j in range(lf.num_cols)
    ]
    families: dict[str, list[int]] = {}
    for j, f in enumerate(fam_of):
        families.setdefault(f, []).append(j)

    sets: dict[str, Any] = {"V": cols, "R": rows}
    params: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    coo = A.tocoo()
    params["a"] = {
        "index": ["R", "V"],
        "rows": [[rows[i], cols[j], _fmt(v)] for i, j, v in zip(coo.row, coo.col, coo.data)],
        "default": 0,
    }
    cost = {cols[j]: _fmt(lf.c[j]) for j in np.flatnonzero(lf.c)}
    params["cost"] = {"index": ["V"], "values": cost, "default": 0}
    for fam, idx in families.items():
        sets[f"C_{fam}"] = [cols[j] for j in idx]
        var: dict[str, Any] = {"index": [f"C_{fam}"]}
        var["domain"] = (
            "binary" if fam == "b" else ("integer" if fam.startswith("z") else "continuous")
        )
        if fam != "b":
            for side, arr, fin in (("lb", lf.col_lb, lo_f), ("ub", lf.col_ub, hi_f)):
                if not fin[idx[0]]:
                    continue
                vals = arr[idx]
                if np.all(vals == vals[0]):
                    var[side] = _fmt(vals[0])
                else:
                    pname = f"{fam}_{side}"
                    params[pname] = {
                        "index": [f"C_{fam}"],
                        "values": {cols[j]: _fmt(arr[j]) for j in idx},
                    }
                    var[side] = pname
        variables[fam] = var
    nz_sets: dict[str, str] = {}
    for fam, idx in families.items():
        mask = np.isin(coo.col, idx)
        if mask.any():
            sets[f"NZ_{fam}"] = [[rows[i], cols[j]] for i, j in zip(coo.row[mask], coo.col[mask])]
            nz_sets[fam] = f"NZ_{fam}"

    def row_expr(r: str) -> str:
        parts = [
            f"sum(a[k, j] * {fam}[j] for (k, j) in {nz} if k == {r})" for fam, nz in nz_sets.items()
        ]
        return " + ".join(parts) if parts else "0"

    nonempty = np.diff(A.indptr) > 0
    lo, hi = np.isfinite(lf.row_lb), np.isfinite(lf.row_ub)
    eq = lo & hi & (lf.row_lb == lf.row_ub)
    constraints: list[dict[str, Any]] = []
    for cname, mask, bound, op in (
        ("eq", eq & nonempty, lf.row_lb, "=="),
        ("le", hi & ~eq & nonempty, lf.row_ub, "<="),
        ("ge", lo & ~eq & nonempty, lf.row_lb, ">="),
    ):
        members = np.flatnonzero(mask)
        if not members.size:
            continue
        sets[f"R_{cname}"] = [rows[i] for i in members]
        params[f"rhs_{cname}"] = {
            "index": [f"R_{cname}"],
            "values": {rows[i]: _fmt(bound[i]) for i in members},
        }
        constraints.append(
            {
                "name": cname,
                "for": f"r in R_{cname}",
                "expr": f"{row_expr('r')} {op} rhs_{cname}[r]",
            }
        )
    empty_bad = ~nonempty & ((lo & (lf.row_lb > 1e-9)) | (hi & (lf.row_ub < -1e-9)))
    if empty_bad.any():
        i = int(np.flatnonzero(empty_bad)[0])
        raise ModelError(f"row {rows[i]!r} has no coefficients but excludes 0: it is infeasible")

    obj_parts = [
        f"sum(cost[j] * {fam}[j] for j in C_{fam})"
        for fam, idx in families.items()
        if np.any(lf.c[idx] != 0)
    ]
    if lf.offset or not obj_parts:
        obj_parts.insert(0, repr(_fmt(lf.offset)))
    data = {
        "name": lf.name,
        "sets": sets,
        "params": params,
        "variables": variables,
        "objective": {"sense": lf.sense, "expr": " + ".join(obj_parts)},
        "constraints": constraints,
    }
    if not math.isfinite(float(lf.offset)):
        raise ModelError("the objective offset is not finite")
    return model_from_dict(data)
