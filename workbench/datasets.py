"""Datasets of problems: a registry of names, loaded lazily from entry points.

A dataset is a list of :class:`Problem` rows.  The built-in catalogue is
registered by the ``problems`` package under the name ``catalog``; the
conformance problems under ``conformance``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.registry import LazyRegistry

if TYPE_CHECKING:
    from workbench.compile.linear_form import LinearForm
    from workbench.ir.model import Model

__all__ = ["DATASETS", "Problem", "dataset_names", "get_dataset", "shared_data_dir"]


@dataclass
class Problem:
    """One problem of a dataset.

    Attributes
    ----------
    id
        Unique within its dataset.
    title
        A short human title.
    text
        The natural-language description (what an agent reads).
    model
        The reference IR model, when there is one.
    optimum
        The verified optimal objective value, or ``None`` (unknown or
        infeasible; see ``status``).
    status
        ``"optimal"``, ``"infeasible"``, ``"unbounded"`` or ``"unknown"``.
    category
        A family such as ``transport`` or ``knapsack``.
    path
        Where the problem came from (a file), when it came from one.
    linear_form
        For MPS/LP instances: the matrix form (loaded lazily by the dataset).
    meta
        Anything else the dataset carries.
    """

    id: str
    title: str = ""
    text: str = ""
    model: Model | None = None
    optimum: float | None = None
    status: str = "optimal"
    category: str = ""
    path: Path | None = None
    linear_form: LinearForm | None = None
    meta: dict[str, Any] = field(default_factory=dict)


DATASETS: LazyRegistry[Callable[..., list[Problem]]] = LazyRegistry(
    "workbench.datasets", builtin={"jsonl": "workbench.eval.nl:load_jsonl"}
)
"""Registered datasets; ``jsonl`` (a user's own file, ``path=FILE``) is always there."""


def dataset_names() -> list[str]:
    """Names of all registered datasets."""
    return DATASETS.names()


def get_dataset(name: str, **kwargs: Any) -> list[Problem]:
    """Load the dataset registered as *name*.

    Raises
    ------
    KeyError
        If no dataset has that name; the message lists the known ones.
    """
    return DATASETS.load(name)(**kwargs)


def shared_data_dir() -> Path | None:
    """The public benchmark data folder, from ``WORKBENCH_DATA`` or ``../shared/datasets``.

    Returns ``None`` when neither exists: the project works without it.
    """
    env = os.environ.get("WORKBENCH_DATA")
    if env:
        p = Path(env).expanduser()
        return p if p.is_dir() else None
    here = Path(__file__).resolve().parent.parent
    for cand in (here.parent / "shared" / "datasets", Path.cwd().parent / "shared" / "datasets"):
        if cand.is_dir():
            return cand
    return None
