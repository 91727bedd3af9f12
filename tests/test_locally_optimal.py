"""``locally_optimal`` end to end: a real local solve on a nonconvex model, then the JSON, the
CLI (exit 0 with a visible warning), scoring, the catalogue check and the agents' feedback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import workbench
from agents.common.feedback import diagnose
from workbench.cli import app
from workbench.cli.catalog import matches
from workbench.datasets import Problem
from workbench.result import Diagnostics, Result, Termination
from workbench.scoring import score

# min -(x - 0.5)^2 + 0.1 x on [-1, 2]: concave, so the minimum is at a vertex.
# f(-1) = -2.25 - 0.1 = -2.35, f(2) = -2.25 + 0.2 = -2.05: the global minimum is -2.35 at x = -1.
# From x = 0.6 the descent goes right, to the other vertex (-2.05).
CONCAVE = """
name: concave_line
variables:
  x: {lb: -1, ub: 2, init: 0.6}
objective: {sense: min, expr: "-(x - 0.5)**2 + 0.1 * x"}
"""

runner = CliRunner()


@pytest.fixture(scope="module")
def local() -> Result:
    r = workbench.solve(workbench.load_model(CONCAVE), backend="scipy")
    assert r.termination is Termination.LOCALLY_OPTIMAL, r.diagnostics.message
    return r


def test_local_solve_is_not_called_optimal(local: Result) -> None:
    assert local.ok and local.termination.has_solution
    assert local.objective == pytest.approx(-2.05, abs=1e-6)  # the local, not the global, vertex
    assert "nonconvex model" in local.diagnostics.message
    assert "'scip' finds a global optimum" in local.diagnostics.message


def test_json_round_trip(local: Result) -> None:
    data = json.loads(json.dumps(local.to_dict()))
    assert data["termination"] == "locally_optimal"
    back = Result.from_dict(data)
    assert back.termination is Termination.LOCALLY_OPTIMAL
    assert back.objective == pytest.approx(local.objective)
    assert back.values == local.values and back.backend == "scipy"
    assert back.diagnostics.message == local.diagnostics.message
    with pytest.raises(ValueError, match="unknown termination 'globally_great'.*locally_optimal"):
        Result.from_dict({**data, "termination": "globally_great"})


def test_cli_solve_exits_0_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "concave.yaml"
    path.write_text(CONCAVE)
    out = runner.invoke(app, ["solve", str(path), "--backend", "scipy"])
    assert out.exit_code == 0, out.output
    assert "locally_optimal" in out.stdout
    assert "warning: locally optimal" in " ".join(out.stdout.split())
    js = runner.invoke(app, ["solve", str(path), "--backend", "scipy", "--json"])
    assert js.exit_code == 0
    assert json.loads(js.stdout)["termination"] == "locally_optimal"  # stdout stays JSON
    assert "warning: locally optimal" in " ".join(js.stderr.split())


def test_optimal_solve_prints_no_local_warning(tmp_path: Path) -> None:
    path = tmp_path / "convex.yaml"
    path.write_text(CONCAVE.replace("-(x - 0.5)**2", "(x - 0.5)**2"))
    out = runner.invoke(app, ["solve", str(path), "--backend", "scipy"])
    assert out.exit_code == 0 and "locally optimal" not in out.stdout
    assert "optimal" in out.stdout


def test_scoring_counts_it_executed_and_compares_the_objective(local: Result) -> None:
    d = local.to_dict()
    wrong = score(d, reference=-2.35)  # the global optimum
    assert wrong["executed"] is True and wrong["correct"] is False
    assert wrong["primal_gap"] == pytest.approx(0.3 / 2.35)
    right = score(d, reference=-2.05)
    assert right["executed"] is True and right["correct"] is True


def test_catalogue_check_matches_by_objective() -> None:
    p = Problem(id="p", text="", optimum=-2.05, status="optimal")
    assert matches(p, "locally_optimal", -2.05, 1e-6)
    assert not matches(p, "locally_optimal", -2.35, 1e-6)
    unknown = Problem(id="q", text="", optimum=None, status="unknown")
    assert matches(unknown, "locally_optimal", 1.0, 1e-6)


def test_feedback_tells_the_llm(local: Result) -> None:
    fb = diagnose("Minimise the cost.", local, sense="min")
    assert fb is not None and "not proven to be the global optimum" in fb
    assert "keep it as written" in fb
    near = Result(
        Termination.ERROR,
        diagnostics=Diagnostics(message="no feasible point", extra={"max_violation": 1.66e-5}),
    )
    fb = diagnose("Minimise the cost.", near, sense="min")
    assert "1.66e-05" in fb and "does not prove that the model is infeasible" in fb
    assert "do not relax integer variables" in fb
