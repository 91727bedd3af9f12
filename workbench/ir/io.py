"""Loading and saving models as YAML or JSON, with located errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from workbench.errors import ModelError
from workbench.ir.model import Model
from workbench.ir.yaml12 import dump_yaml, load_yaml

__all__ = ["dump_model", "load_model", "model_from_dict", "model_to_dict", "save_model"]


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def _clean_loc(parts: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic inserts union-branch tags such as 'str' or 'function-after[...]'.
    noise = {"str", "int", "float", "list[...]", "dict[str,...]", "none", "bool", "[key]"}
    return tuple(
        p for p in parts if not (isinstance(p, str) and (p in noise or "[" in p and "(" in p))
    )


def model_from_dict(data: Any) -> Model:
    """Build a :class:`Model` from plain data, turning schema errors into ``ModelError``.

    Parameters
    ----------
    data
        The parsed YAML/JSON document.

    Returns
    -------
    Model
        The typed model (not yet validated semantically; see
        :func:`workbench.validate`).

    Raises
    ------
    ModelError
        If the document does not fit the schema; the message names the
        first offending location.
    """
    if isinstance(data, Model):
        return data
    if not isinstance(data, dict):
        raise ModelError(
            f"a model must be a mapping with 'variables' and 'objective', got {type(data).__name__}"
        )
    for section in ("sets", "params", "variables"):
        block = data.get(section)
        if isinstance(block, dict):
            for key in block:
                if not isinstance(key, str):
                    hint = (
                        " (YAML reads true/false as booleans: quote the name)"
                        if isinstance(key, bool)
                        else ""
                    )
                    raise ModelError(f"the name {key!r} must be text{hint}", f"{section}")
    try:
        return Model.model_validate(data)
    except ValidationError as e:
        errs = e.errors()
        first = errs[0]
        loc = _loc(_clean_loc(tuple(first["loc"])))
        msg = first["msg"]
        if first["type"] == "missing":
            msg = "this field is required"
        elif first["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling)"
        msg = msg.removeprefix("Value error, ")
        more = f" (and {len(errs) - 1} more problem(s))" if len(errs) > 1 else ""
        raise ModelError(msg + more, loc or None) from None
    except RecursionError:
        raise ModelError("the document is nested too deeply") from None


def _yaml_load(text: str) -> Any:
    try:
        return load_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(e, "problem", None) or str(e)
        raise ModelError(f"not valid YAML: {problem}", where) from None


def load_model(source: str | Path | dict[str, Any]) -> Model:
    """Load a model from a YAML/JSON file path, a YAML/JSON string, or a dict.

    YAML is read with the 1.2 core schema: only ``true``/``false`` are
    booleans, so ``on``, ``off``, ``yes`` and ``no`` are names.

    Parameters
    ----------
    source
        A path ending in ``.yaml``, ``.yml`` or ``.json``; text; or a dict.

    Returns
    -------
    Model

    Raises
    ------
    ModelError
        If the file is missing or unreadable, or does not fit the schema.
    """
    if isinstance(source, dict):
        return model_from_dict(source)
    text: str
    if isinstance(source, Path) or (
        isinstance(source, str)
        and "\n" not in source
        and source.endswith((".yaml", ".yml", ".json"))
    ):
        path = Path(source)
        if not path.exists():
            raise ModelError(f"no such file: {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ModelError(f"cannot read {path}: {e}") from None
        if path.suffix == ".json":
            try:
                return model_from_dict(json.loads(text))
            except json.JSONDecodeError as e:
                raise ModelError(
                    f"not valid JSON: {e.msg}", f"line {e.lineno}, column {e.colno}"
                ) from None
        return model_from_dict(_yaml_load(text))
    text = str(source)
    return model_from_dict(_yaml_load(text))


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist") and hasattr(x, "dtype"):  # numpy arrays and scalars
        x = x.tolist()
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if isinstance(x, dict):
        if any(isinstance(k, tuple) for k in x):
            x = _nest_tuple_keys(x)
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


def _nest_tuple_keys(d: dict[Any, Any]) -> dict[Any, Any]:
    """``{(a, 1): v}`` -> ``{a: {1: v}}``: YAML and JSON keys cannot be tuples."""
    out: dict[Any, Any] = {}
    for key, v in d.items():
        parts = key if isinstance(key, tuple) else (key,)
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"key {key!r} clashes with a shorter key; give one form")
        node[parts[-1]] = v
    return out


def model_to_dict(model: Model) -> dict[str, Any]:
    """The model as plain data, with defaults and empty fields left out."""
    data = model.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    data.setdefault("name", model.name)
    data.setdefault("variables", {})
    for v in data["variables"].values():
        v.setdefault("domain", "continuous")
    data["objective"] = model.objective.model_dump(by_alias=True, exclude_none=True)
    # Compact forms that read well in YAML.
    for name, s in list(data.get("sets", {}).items()):
        if set(s) == {"members"}:
            data["sets"][name] = s["members"]
    for name, p in list(data.get("params", {}).items()):
        if set(p) == {"values"} and isinstance(p["values"], int | float):
            data["params"][name] = p["values"]
    return _jsonable(data)  # type: ignore[no-any-return]


def dump_model(model: Model, fmt: str = "yaml") -> str:
    """Serialise a model to YAML or JSON text.

    YAML output quotes every string that a YAML 1.1 or 1.2 reader would take
    for a boolean or a number (``'on'``, ``'no'``, ``'1e5'``), so other tools
    read the file back as written.
    """
    data = model_to_dict(model)
    if fmt == "json":
        return json.dumps(data, indent=2)
    if fmt in ("yaml", "yml"):
        return dump_yaml(data)
    raise ValueError(f"unknown format {fmt!r}; use 'yaml' or 'json'")


def save_model(model: Model, path: str | Path) -> None:
    """Write a model to *path*; the suffix (.yaml/.yml/.json) picks the format."""
    p = Path(path)
    fmt = "json" if p.suffix == ".json" else "yaml"
    p.write_text(dump_model(model, fmt), encoding="utf-8")
