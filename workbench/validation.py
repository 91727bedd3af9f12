"""Validate a model: every symbol declared, every index in range, data complete and finite."""

from __future__ import annotations

from workbench.compile.structure import compile_structure
from workbench.ir.model import Model

__all__ = ["validate"]


def validate(model: Model) -> list[str]:
    """Check *model* completely; a model that validates compiles.

    Parameters
    ----------
    model
        The model to check (never modified).

    Returns
    -------
    list[str]
        Warnings, such as a sum over an empty set (allowed, taken as 0).

    Raises
    ------
    ModelError
        With the location of the problem, for example
        ``constraints[2].expr: unknown symbol 'y' (did you mean 'x'?)``.
    """
    return list(compile_structure(model).warnings)
