"""Optimization Workbench: words or code -> a correct model -> the best backend -> an answer.

Importing ``workbench`` imports no solver and no heavy dependency; the public
names below are resolved lazily.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "Classification",
    "LinearForm",
    "Model",
    "ModelError",
    "Result",
    "Termination",
    "UnsupportedProblemError",
    "WorkbenchError",
    "classify",
    "compile_linear",
    "dump_model",
    "formulate",
    "load_model",
    "read_model_file",
    "reformulate",
    "save_model",
    "solve",
    "validate",
]

_LAZY = {
    "BackendError": "workbench.errors",
    "BackendUnavailableError": "workbench.errors",
    "ModelError": "workbench.errors",
    "UnsupportedProblemError": "workbench.errors",
    "WorkbenchError": "workbench.errors",
    "Result": "workbench.result",
    "Termination": "workbench.result",
    "Model": "workbench.ir",
    "load_model": "workbench.ir",
    "save_model": "workbench.ir",
    "dump_model": "workbench.ir",
    "LinearForm": "workbench.compile.linear_form",
    "compile_linear": "workbench.compile.linear",
    "Classification": "workbench.classification",
    "classify": "workbench.classification",
    "validate": "workbench.validation",
    "solve": "workbench.solving",
    "read_model_file": "workbench.solving",
    "formulate": "workbench.formulation",
    "reformulate": "workbench.compile.reformulate",
}

_SUBMODULES = {
    "backends",
    "classification",
    "compile",
    "formulation",
    "datasets",
    "devices",
    "errors",
    "expr",
    "ir",
    "registry",
    "result",
    "solving",
    "validation",
}

if TYPE_CHECKING:
    from workbench.classification import Classification, classify
    from workbench.compile.linear import compile_linear
    from workbench.compile.linear_form import LinearForm
    from workbench.compile.reformulate import reformulate
    from workbench.errors import (
        BackendError,
        BackendUnavailableError,
        ModelError,
        UnsupportedProblemError,
        WorkbenchError,
    )
    from workbench.formulation import formulate
    from workbench.ir import Model, dump_model, load_model, save_model
    from workbench.result import Result, Termination
    from workbench.solving import read_model_file, solve
    from workbench.validation import validate


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"workbench.{name}")
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")
