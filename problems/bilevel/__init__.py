"""The ``bilevel`` dataset: toy problems with known solutions and linear classics.

The three toy problems are described in the shared data folder
(``$WORKBENCH_DATA/bilevel/toy_bilevel_problems.json``); their metadata
(source, known solution) is read from there and they are skipped when the
folder is absent.  Their IR models, and the linear classics (Bard's textbook
example, Candler–Townsley, a small 'tent' problem), are written here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from problems.bilevel.models import IR_MODELS, LINEAR_CLASSICS

if TYPE_CHECKING:  # the IR (pydantic) loads lazily: the torch-only paths need none of it
    from workbench.datasets import Problem

__all__ = ["load_bilevel", "toy_records"]

_TOY_OPTIMA = {
    "shen_chen_toy_1d": lambda rec: rec["global_min"]["F"],
    "bome_toy_nonsingleton_ll": lambda rec: rec["optimistic_solution"]["F"],
    "aipod_lvhba_coupled_equality_toy": lambda rec: rec["solution"]["F"],
}


def toy_records() -> list[dict[str, Any]]:
    """The records of ``bilevel/toy_bilevel_problems.json`` (empty when the folder is absent)."""
    from workbench.datasets import shared_data_dir

    base = shared_data_dir()
    path = None if base is None else base / "bilevel" / "toy_bilevel_problems.json"
    if path is None or not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [r for r in data if isinstance(r, dict) and r.get("name") in IR_MODELS]


def load_bilevel(*, include_toys: bool = True) -> list[Problem]:
    """Load the bilevel problems, sorted by id.

    Parameters
    ----------
    include_toys
        Include the three toy problems (when the shared data folder is present).

    Returns
    -------
    list of Problem
        ``meta`` holds ``kind`` (``toy`` or ``linear``), ``solution`` and, for
        toys, the shared record under ``record``.
    """
    from workbench.datasets import Problem
    from workbench.ir import model_from_dict

    out: list[Problem] = []
    for key, (build, opt, sol) in LINEAR_CLASSICS.items():
        out.append(Problem(id=key, title=build.__doc__ or key, model=model_from_dict(build()),
                           optimum=opt, category="bilevel_linear",
                           meta={"kind": "linear", "solution": sol}))  # fmt: skip
    if include_toys:
        for rec in toy_records():
            name = rec["name"]
            out.append(Problem(id=name, title=str(rec.get("source", name)),
                               model=model_from_dict(IR_MODELS[name]()),
                               optimum=float(_TOY_OPTIMA[name](rec)), category="bilevel_toy",
                               meta={"kind": "toy", "record": rec}))  # fmt: skip
    return sorted(out, key=lambda p: p.id)
