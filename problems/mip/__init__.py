"""The ``mip`` dataset: MPS/LP instances from a folder, with reference values from a CSV.

The files are read where they lie (by default the public benchmark folder,
``$WORKBENCH_DATA/mip/instances``); nothing is copied into the project.
A reference CSV (``miplib_small_reference.csv`` in the folder or its parent)
gives each instance its MIPLIB 2017 reference value and status.  Only a
reference with status ``opt`` becomes the problem's ``optimum`` (status
``optimal``); any other reference (``best``, ...) is kept in
``meta["reference"]`` for primal gaps, with status ``unknown``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from workbench.datasets import Problem, shared_data_dir
from workbench.errors import WorkbenchError

__all__ = ["REFERENCE_CSV", "instance_id", "load_mip", "read_reference"]

REFERENCE_CSV = "miplib_small_reference.csv"
"""The reference file's name, looked for in the instance folder and its parent."""

_SUFFIXES = (".mps.gz", ".lp.gz", ".mps", ".lp")


def instance_id(path: Path) -> str:
    """The file name without ``.mps``/``.lp`` and ``.gz``: ``10teams.mps.gz`` -> ``10teams``."""
    name = path.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _float(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def read_reference(path: Path) -> dict[str, dict[str, str]]:
    """Read a reference CSV into ``{instance: row}``.

    Parameters
    ----------
    path
        A CSV with at least an ``instance`` column; ``miplib2017_ref_value``,
        ``miplib2017_ref_status`` and ``highs_agrees`` are used when present.

    Raises
    ------
    WorkbenchError
        If the file has no ``instance`` column.
    """
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "instance" not in reader.fieldnames:
            raise WorkbenchError(f"{path}: a reference CSV needs an 'instance' column")
        return {
            row["instance"].strip(): {k: (v or "").strip() for k, v in row.items() if k}
            for row in reader
            if row.get("instance")
        }


def _default_dir() -> Path:
    base = shared_data_dir()
    if base is None or not (base / "mip" / "instances").is_dir():
        raise WorkbenchError(
            "no MIP instances found: pass a folder (--path / path=...) or set WORKBENCH_DATA "
            "to the benchmark data folder (it must hold mip/instances)"
        )
    return base / "mip" / "instances"


def _find_reference(folder: Path) -> Path | None:
    for cand in (folder / REFERENCE_CSV, folder.parent / REFERENCE_CSV):
        if cand.is_file():
            return cand
    return None


def load_mip(
    path: str | None = None,
    *,
    reference: str | None = None,
    pattern: str = "*.mps*,*.lp*",
) -> list[Problem]:
    """Load every MPS/LP instance (optionally gzipped) under a folder.

    Parameters
    ----------
    path
        A folder (searched recursively) or one instance file; default
        ``$WORKBENCH_DATA/mip/instances`` (see
        :func:`workbench.datasets.shared_data_dir`).
    reference
        A reference CSV; default ``miplib_small_reference.csv`` in the folder
        or its parent, when there is one.
    pattern
        Comma-separated glob patterns of the instance files.

    Returns
    -------
    list of Problem
        Sorted by id; ``id`` is the file name without ``.mps``/``.lp``/``.gz``
        (the relative path, when two files share a name), ``path`` the file,
        ``model`` ``None``, ``category`` ``"mip"``.  With a reference row:
        ``optimum`` and status ``optimal`` when its status is ``opt``, else
        status ``unknown``; ``meta`` holds the row plus ``reference`` (the
        value, as a float) and ``reference_status``.

    Raises
    ------
    FileNotFoundError
        If *path* or *reference* does not exist.
    WorkbenchError
        If no folder is given and the shared data folder has no MIP instances,
        or the reference CSV is malformed.
    """
    if path is None:
        root = _default_dir()
    else:
        root = Path(path).expanduser()
        if not root.exists():
            raise FileNotFoundError(2, "No such MIP instance folder", str(root))
    patterns = [p.strip() for p in pattern.split(",") if p.strip()]
    if root.is_file():
        files = [root]
        folder = root.parent
    else:
        folder = root
        found = {f for pat in patterns for f in root.rglob(pat) if f.is_file()}
        files = sorted(f for f in found if f.name.lower().endswith(_SUFFIXES))
    if reference is not None:
        ref_path: Path | None = Path(reference).expanduser()
        if not ref_path.is_file():  # type: ignore[union-attr]
            raise FileNotFoundError(2, "No such reference CSV", str(ref_path))
    else:
        ref_path = _find_reference(folder)
    refs = read_reference(ref_path) if ref_path is not None else {}

    stems = [instance_id(f) for f in files]
    problems = []
    for f, stem in zip(files, stems):
        pid = stem
        if stems.count(stem) > 1:
            rel = f.relative_to(folder) if f.is_relative_to(folder) else f
            pid = str(rel.parent / stem).replace("\\", "/")
        row = refs.get(stem, {})
        value = _float(row.get("miplib2017_ref_value"))
        ref_status = row.get("miplib2017_ref_status", "")
        meta: dict[str, Any] = dict(row)
        if ref_path is not None:
            meta["reference_file"] = str(ref_path)
        if value is not None:
            meta["reference"] = value
            meta["reference_status"] = ref_status
        is_opt = value is not None and ref_status == "opt"
        problems.append(
            Problem(
                id=pid,
                title=stem,
                text="",
                model=None,
                optimum=value if is_opt else None,
                status="optimal" if is_opt else "unknown",
                category="mip",
                path=f,
                meta=meta,
            )
        )
    return sorted(problems, key=lambda p: p.id)
