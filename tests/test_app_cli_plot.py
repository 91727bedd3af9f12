"""``workbench solve --plot FILE.html`` writes the anytime curve as a standalone page."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

pytest.importorskip("plotly")

from workbench.cli.main import app  # noqa: E402

MILP = """\
name: tiny
variables:
  x: {domain: integer, lb: 0, ub: 10}
  y: {domain: integer, lb: 0, ub: 10}
objective: {sense: max, expr: "3 * x + 2 * y"}
constraints:
  - {name: c1, expr: "x + y <= 4"}
  - {name: c2, expr: "x + 3 * y <= 6"}
"""


def test_solve_plot_writes_html(tmp_path):
    model = tmp_path / "tiny.yaml"
    model.write_text(MILP)
    out = tmp_path / "plots" / "anytime.html"
    res = CliRunner().invoke(app, ["solve", str(model), "--backend", "highs", "--plot", str(out),
                                   "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "plotly" in html.lower() and "primal (incumbent)" in html and "Anytime curve" in html


def test_write_anytime_plot_without_history(tmp_path):
    from workbench.cli.plot import write_anytime_plot
    from workbench.result import Result, Termination

    path = write_anytime_plot(Result(Termination.OPTIMAL, objective=1.5), tmp_path / "a.html")
    assert path.exists() and "1.5" in path.read_text()
