"""Prompts are versioned Markdown files with ``{{placeholders}}``.

Each file starts with a front-matter line ``<!-- version: N -->``; the
version goes into every transcript so a result can be traced to its prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Prompt", "load_prompt"]

_VERSION = re.compile(r"<!--\s*version:\s*([\w.\-]+)\s*-->")
_SLOT = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Prompt:
    """A prompt template: its name, version and text."""

    name: str
    version: str
    text: str

    @property
    def slots(self) -> set[str]:
        """The placeholder names in the template."""
        return set(_SLOT.findall(self.text))

    def render(self, **values: str) -> str:
        """Fill every placeholder.

        Raises
        ------
        KeyError
            If a placeholder has no value, or a value names no placeholder.
        """
        missing = self.slots - set(values)
        extra = set(values) - self.slots
        if missing or extra:
            raise KeyError(
                f"prompt {self.name!r}: missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        return _SLOT.sub(lambda m: str(values[m.group(1)]), self.text)


def load_prompt(package_dir: str | Path, name: str) -> Prompt:
    """Read ``<package_dir>/prompts/<name>.md``.

    Parameters
    ----------
    package_dir
        The agent package's folder (pass ``Path(__file__).parent``).
    name
        The prompt's file name without ``.md``.
    """
    path = Path(package_dir) / "prompts" / f"{name}.md"
    raw = path.read_text(encoding="utf-8")
    m = _VERSION.search(raw)
    if not m:
        raise ValueError(f"{path}: the first line must be '<!-- version: N -->'")
    body = raw[m.end() :].lstrip("\n")
    return Prompt(name=name, version=m.group(1), text=body)
