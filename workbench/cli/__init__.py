"""The ``workbench`` command line: solve, validate, backends and the catalogue."""

from workbench.cli.main import app, main

__all__ = ["app", "main"]
