"""Shared fixtures: small model files written to a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings
from models import TINY_LP, TRANSPORT

# property tests draw the same examples on every run (reproducible CI); set
# HYPOTHESIS_PROFILE=explore to search new random examples locally
settings.register_profile("workbench", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "workbench"))

pytest_plugins = ["llm_stub"]


@pytest.fixture
def tiny_lp_yaml(tmp_path: Path) -> Path:
    """A two-variable LP (optimum 11 at x = 3, y = 1) as a YAML file."""
    path = tmp_path / "tiny_lp.yaml"
    path.write_text(TINY_LP, encoding="utf-8")
    return path


@pytest.fixture
def transport_yaml(tmp_path: Path) -> Path:
    """The README's transport model (optimum 1075) as a YAML file."""
    path = tmp_path / "transport.yaml"
    path.write_text(TRANSPORT, encoding="utf-8")
    return path
