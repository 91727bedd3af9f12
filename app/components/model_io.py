"""Load and check models typed into the app, mapping error locations to YAML lines."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from workbench.errors import ModelError

if TYPE_CHECKING:
    from workbench.compile.linear_form import LinearForm
    from workbench.ir.model import Model

__all__ = ["Checked", "check_yaml", "location_line", "read_upload"]

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_LINE = re.compile(r"line (\d+)")


@dataclass
class Checked:
    """The outcome of checking YAML text.

    Attributes
    ----------
    model
        The model, when the text loads and validates.
    warnings
        Validation warnings.
    error, location, line
        The error message, its model location (``constraints[1].expr``) and
        the 1-based YAML line it points at (``None`` when unknown).
    """

    model: Model | None = None
    warnings: list[str] | None = None
    error: str | None = None
    location: str | None = None
    line: int | None = None


def location_line(text: str, location: str | None) -> int | None:
    """The 1-based line of *text* that a ModelError *location* points at.

    Parameters
    ----------
    text
        The YAML source.
    location
        ``constraints[1].expr``, ``params.cost.values`` or ``line 3, column 1``.

    Returns
    -------
    int or None
        The deepest node of the path found in the YAML, or ``None``.
    """
    if not location:
        return None
    m = _LINE.match(location)
    if m:
        return int(m.group(1))
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = None
    for name, index in _PART.findall(location):
        child = None
        if index and isinstance(node, yaml.SequenceNode):
            k = int(index)
            child = node.value[k] if k < len(node.value) else None
        elif index and isinstance(node, yaml.MappingNode):  # constraints written as a dict
            k = int(index)
            child = node.value[k][1] if k < len(node.value) else None
        elif name and isinstance(node, yaml.MappingNode):
            key = name.strip()
            for knode, vnode in node.value:
                if getattr(knode, "value", None) in (key, key.rstrip("_")):
                    line = knode.start_mark.line + 1
                    child = vnode
                    break
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def check_yaml(text: str) -> Checked:
    """Load and validate YAML text as a model; errors become values.

    Parameters
    ----------
    text
        The model as YAML (or JSON) text.

    Returns
    -------
    Checked
    """
    from workbench import load_model, validate

    if not text.strip():
        return Checked(error="the model is empty", location=None)
    try:
        model = load_model(text if "\n" in text else text + "\n")
        warnings = validate(model)
    except ModelError as e:
        return Checked(error=e.message, location=e.location, line=location_line(text, e.location))
    return Checked(model=model, warnings=warnings)


def read_upload(name: str, data: bytes) -> Model | LinearForm:
    """Read an uploaded .mps/.lp/.yaml/.json file (written to a temporary file first).

    Raises
    ------
    ModelError
        If the file's format is unknown or it does not parse.
    """
    from workbench import read_model_file

    suffix = "".join(Path(name).suffixes[-2:]) or ".mps"
    with tempfile.TemporaryDirectory(prefix="wb-upload-") as tmp:
        path = Path(tmp) / ("upload" + suffix)
        path.write_bytes(data)
        return read_model_file(path)
