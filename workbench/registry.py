"""A small lazy registry keyed by name, filled from entry points.

Nothing is imported until a name is looked up.
"""

from __future__ import annotations

import importlib
import os
import threading
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

__all__ = ["PLUGINS_ENV", "LazyRegistry"]

PLUGINS_ENV = "WORKBENCH_PLUGINS"
"""Extra registrations without installing a package (worker processes inherit them):
``group|name=module:attr`` entries separated by ``;``, for example
``workbench.backends|mysolver=mypkg.backend:MySolver``."""

T = TypeVar("T")


class LazyRegistry(Generic[T]):
    """Maps names to ``module:attr`` targets, loaded on first use.

    Parameters
    ----------
    group
        The entry-point group, for example ``"workbench.backends"``.
    builtin
        Targets known without entry points (so a source checkout works
        before ``pip install -e``).
    """

    def __init__(self, group: str, builtin: dict[str, str] | None = None) -> None:
        self.group = group
        self._targets: dict[str, str] = dict(builtin or {})
        self._loaded: dict[str, T] = {}
        self._scanned = False
        self._lock = threading.Lock()

    def _scan(self) -> None:
        if self._scanned:
            return
        with self._lock:  # threads (the batch's LLM lane) look names up at once
            if self._scanned:
                return
            for ep in entry_points(group=self.group):
                self._targets.setdefault(ep.name, ep.value)
            for entry in os.environ.get(PLUGINS_ENV, "").split(";"):
                group, _, rest = entry.strip().partition("|")
                name, _, target = rest.partition("=")
                if group == self.group and name and ":" in target:
                    self._targets[name.strip()] = target.strip()
            self._scanned = True

    def register(self, name: str, target: str | T) -> None:
        """Register *target* (an object, or a ``'module:attr'`` string) as *name*."""
        if isinstance(target, str):
            self._targets[name] = target
            self._loaded.pop(name, None)
        else:
            self._targets[name] = f"<object {name}>"
            self._loaded[name] = target

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._scan()
        return sorted(self._targets)

    def load(self, name: str) -> T:
        """Import and return the object registered as *name*.

        Raises
        ------
        KeyError
            If *name* is not registered; the message lists the known names.
        """
        self._scan()
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._targets:
            known = ", ".join(self.names()) or "none"
            raise KeyError(f"unknown name {name!r}; known: {known}")
        module_name, _, attr = self._targets[name].partition(":")
        module = importlib.import_module(module_name)
        obj: Any = module
        for part in attr.split(".") if attr else []:
            obj = getattr(obj, part)
        self._loaded[name] = obj
        return obj  # type: ignore[no-any-return]

    def loaded(self) -> dict[str, T]:
        """The objects loaded so far (used by tests of laziness)."""
        return dict(self._loaded)
