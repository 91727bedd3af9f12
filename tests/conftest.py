"""Shared fixtures: small model files written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["llm_stub"]

TINY_LP = """\
name: tiny_lp
variables:
  x: {lb: 0, ub: 3}
  y: {lb: 0}
objective: {sense: max, expr: "3 * x + 2 * y"}
constraints:
  - name: capacity
    expr: "x + y <= 4"
  - name: labour
    expr: "x + 3 * y <= 6"
"""

TRANSPORT = """\
name: transport
sets:
  I: [plant_a, plant_b]
  J: {range: [1, 4]}
  A: {expr: "(i, j) for i in I for j in J if dist[i, j] <= 50"}
params:
  supply: {index: [I], values: {plant_a: 20, plant_b: 30}}
  demand: {index: [J], values: [10, 10, 15, 10]}
  dist:   {index: [I, J], values: [[10, 60, 20, 30], [40, 15, 35, 70]]}
variables:
  x: {index: [A], domain: continuous, lb: 0}
objective: {sense: min, expr: "sum(dist[i, j] * x[i, j] for (i, j) in A)"}
constraints:
  - name: supply_limit
    for: "i in I"
    expr: "sum(x[k, j] for (k, j) in A if k == i) <= supply[i]"
  - name: meet_demand
    for: "j in J"
    expr: "sum(x[i, k] for (i, k) in A if k == j) >= demand[j]"
"""


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
