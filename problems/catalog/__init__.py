"""The built-in problem catalogue: classic OR problems with verified optima.

Each problem is one YAML file in this folder, ``<id>.yaml``, holding the
natural-language ``text`` an agent reads, the reference ``model`` in the
five-element IR, the ``status`` (``optimal``, ``infeasible`` or
``unbounded``) and the verified ``optimum``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from workbench.datasets import Problem
from workbench.errors import ModelError
from workbench.ir import model_from_dict
from workbench.ir.yaml12 import load_yaml

__all__ = ["CATALOG_DIR", "catalog_ids", "load_catalog", "problem_from_file"]

CATALOG_DIR: Path = Path(__file__).resolve().parent
"""The folder that holds the catalogue's YAML files."""

_STATUSES = frozenset({"optimal", "infeasible", "unbounded", "unknown"})
_KNOWN_KEYS = frozenset({"id", "title", "category", "status", "optimum", "text", "model"})


def catalog_ids() -> list[str]:
    """Ids of all catalogue problems, sorted (file stems; nothing is parsed).

    Returns
    -------
    list of str
        One id per ``<id>.yaml`` file.
    """
    return sorted(p.stem for p in CATALOG_DIR.glob("*.yaml"))


def problem_from_file(
    path: Path, *, known_keys: frozenset[str] = _KNOWN_KEYS, check_id: bool = True
) -> Problem:
    """Read one problem YAML file into a :class:`~workbench.datasets.Problem`.

    Parameters
    ----------
    path
        The YAML file.
    known_keys
        Top-level keys that map onto ``Problem`` fields; any other key is
        kept in ``Problem.meta``.
    check_id
        Require the ``id`` to equal the file name's stem.

    Returns
    -------
    Problem
        With ``model`` parsed by :func:`workbench.ir.model_from_dict` and
        ``path`` set to *path*.

    Raises
    ------
    ModelError
        If the file is not a mapping, lacks an ``id``, has an unknown
        ``status``, its ``id`` differs from the file name (with *check_id*),
        or its model does
        not fit the IR schema; the message names the file.
    """
    try:
        data: Any = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ModelError(f"not valid YAML: {e}", str(path)) from e
    if not isinstance(data, dict):
        raise ModelError("a problem file must be a mapping", str(path))
    pid = data.get("id")
    if not isinstance(pid, str) or not pid:
        raise ModelError("the problem needs a non-empty string 'id'", str(path))
    if check_id and pid != path.stem:
        raise ModelError(f"id {pid!r} does not match the file name {path.name!r}", str(path))
    status = str(data.get("status", "optimal"))
    if status not in _STATUSES:
        raise ModelError(
            f"status {status!r} is not one of {', '.join(sorted(_STATUSES))}", str(path)
        )
    optimum = data.get("optimum")
    model = None
    if data.get("model") is not None:
        try:
            model = model_from_dict(data["model"])
        except ModelError as e:
            raise ModelError(f"{path.name}: {e}") from e
    return Problem(
        id=pid,
        title=str(data.get("title", "")),
        text=str(data.get("text", "")),
        model=model,
        optimum=None if optimum is None else float(optimum),
        status=status,
        category=str(data.get("category", "")),
        path=path,
        meta={k: v for k, v in data.items() if k not in known_keys},
    )


def load_catalog(*, ids: list[str] | None = None) -> list[Problem]:
    """Load the built-in catalogue.

    Parameters
    ----------
    ids
        Load only these problems, in this order; ``None`` loads all of them,
        sorted by id.

    Returns
    -------
    list of Problem
        One per YAML file, each with ``path`` set.

    Raises
    ------
    KeyError
        If an id in *ids* is not in the catalogue; the message lists the
        known ids.
    ModelError
        If a file is malformed.
    """
    known = catalog_ids()
    if ids is None:
        wanted = known
    else:
        missing = [i for i in ids if i not in known]
        if missing:
            raise KeyError(
                f"unknown catalogue id(s) {', '.join(map(repr, missing))}; "
                f"known: {', '.join(known)}"
            )
        wanted = list(ids)
    return [problem_from_file(CATALOG_DIR / f"{pid}.yaml") for pid in wanted]
