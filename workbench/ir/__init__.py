"""The five-element IR and its YAML/JSON serialisation."""

from workbench.ir.io import dump_model, load_model, model_from_dict, model_to_dict, save_model
from workbench.ir.model import (
    Constraint,
    LowerLevel,
    Model,
    Objective,
    Param,
    Robust,
    SetDef,
    UncertaintySet,
    Variable,
)

__all__ = [
    "Constraint",
    "LowerLevel",
    "Model",
    "Objective",
    "Param",
    "Robust",
    "SetDef",
    "UncertaintySet",
    "Variable",
    "dump_model",
    "load_model",
    "model_from_dict",
    "model_to_dict",
    "save_model",
]
