"""The backend registry: names -> backend classes, loaded lazily from entry points."""

from __future__ import annotations

import functools

from workbench.backends.base import Availability, Backend, Capability
from workbench.errors import BackendUnavailableError
from workbench.registry import LazyRegistry

__all__ = [
    "BACKENDS",
    "available_backends",
    "backend_names",
    "candidates_for",
    "get_backend",
    "register_backend",
]

BACKENDS: LazyRegistry[type[Backend]] = LazyRegistry("workbench.backends")


def register_backend(name: str, target: str | type[Backend]) -> None:
    """Register a backend class (or ``'module:Class'``) under *name*."""
    BACKENDS.register(name, target)
    _availability.cache_clear()


def backend_names() -> list[str]:
    """Names of all registered backends (nothing is imported)."""
    return BACKENDS.names()


def get_backend(name: str) -> Backend:
    """An instance of the backend registered as *name*.

    Raises
    ------
    BackendUnavailableError
        If no backend has that name, or its module fails to import.
    """
    try:
        cls = BACKENDS.load(name)
    except KeyError as e:
        raise BackendUnavailableError(str(e.args[0])) from None
    except ImportError as e:
        raise BackendUnavailableError(f"backend {name!r} could not be imported: {e}") from e
    return cls()


@functools.cache
def _availability(name: str) -> Availability:
    try:
        backend = get_backend(name)
    except BackendUnavailableError as e:
        return Availability(False, str(e))
    try:
        return backend.available()
    except Exception as e:  # a probe must never take the registry down
        return Availability(False, f"availability check failed: {e}")


def availability(name: str) -> Availability:
    """Cached availability of one backend."""
    return _availability(name)


def available_backends() -> dict[str, Availability]:
    """Availability of every registered backend, by name."""
    return {name: _availability(name) for name in backend_names()}


def candidates_for(capability: Capability) -> list[str]:
    """Available backends that cover *capability*, best (lowest rank) first."""
    found: list[tuple[int, str]] = []
    for name in backend_names():
        if not _availability(name).ok:
            continue
        cls = BACKENDS.load(name)
        if capability in cls.capabilities:
            found.append((cls.rank, name))
    return [n for _, n in sorted(found)]
