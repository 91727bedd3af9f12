"""Backend protocol and the lazy, entry-point based registry."""

from workbench.backends.base import Availability, Backend, Capability, SolveOptions
from workbench.backends.registry import (
    available_backends,
    backend_names,
    get_backend,
    register_backend,
)

__all__ = [
    "Availability",
    "Backend",
    "Capability",
    "SolveOptions",
    "available_backends",
    "backend_names",
    "get_backend",
    "register_backend",
]
