"""YAML read with the 1.2 core schema, and written so that YAML 1.1 tools agree.

PyYAML implements YAML 1.1, where ``on``, ``off``, ``yes``, ``no``, ``y``
and ``n`` are booleans, ``017`` is octal and ``12:30`` is the sexagesimal
integer 750.  Model files use such words as names (a variable ``on[t]``, a
set member ``no``), so models are read with the 1.2 core schema instead:

- booleans are ``true`` and ``false`` only (in any case);
- integers are decimal (``017`` is 17), ``0o17`` (octal) or ``0x1F``;
- floats include ``1e5`` and ``.inf``/``.nan``;
- null is ``null``, ``~`` or an empty value.

Everything else is a string.  :func:`dump_yaml` quotes every string that a
YAML 1.1 reader *or* a 1.2 reader would take for something else, so files
written here read back the same with either.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["CoreDumper", "CoreLoader", "dump_yaml", "load_yaml"]

_BOOL = re.compile(r"^(?:true|false)$", re.IGNORECASE)
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")


class CoreLoader(yaml.SafeLoader):
    """A safe loader with the YAML 1.2 core schema's implicit types."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


CoreLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
CoreLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
CoreLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789"))
CoreLoader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])
CoreLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


def _bool(loader: CoreLoader, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


def _int(loader: CoreLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # '017' is 17 in YAML 1.2, not octal


def _float(loader: CoreLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if text == ".nan":
        return float("nan")
    return float(text)


CoreLoader.add_constructor("tag:yaml.org,2002:bool", _bool)
CoreLoader.add_constructor("tag:yaml.org,2002:int", _int)
CoreLoader.add_constructor("tag:yaml.org,2002:float", _float)


class CoreDumper(yaml.SafeDumper):
    """A safe dumper that also quotes strings the 1.2 core schema would not read as text.

    The inherited (PyYAML's YAML 1.1) resolvers already quote ``on``,
    ``yes``, ``017`` and the like; the added patterns quote ``y`` and ``n``
    (booleans in the 1.1 spec, though not in PyYAML), and ``1e5`` and other
    strings that only YAML 1.2 reads as numbers or booleans.
    """

    yaml_implicit_resolvers = {
        k: list(v) for k, v in yaml.SafeDumper.yaml_implicit_resolvers.items()
    }


for _tag, _rx, _first in (
    ("tag:yaml.org,2002:bool", _BOOL, "tTfF"),
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), "yYnN"),  # 1.1 spec, not PyYAML
    ("tag:yaml.org,2002:int", _INT, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT, "-+.0123456789"),
):
    CoreDumper.add_implicit_resolver(_tag, _rx, list(_first))


def load_yaml(text: str) -> Any:
    """Parse YAML *text* with the 1.2 core schema (see the module docstring)."""
    return yaml.load(text, Loader=CoreLoader)  # noqa: S506 - CoreLoader is a SafeLoader


def dump_yaml(data: Any) -> str:
    """YAML text for *data* that YAML 1.1 and 1.2 readers both read back as *data*."""
    return yaml.dump(data, Dumper=CoreDumper, sort_keys=False, allow_unicode=True)
