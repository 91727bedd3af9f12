"""Importing ``workbench`` is cheap, and the native solvers coexist in one process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

HEAVY = ("highspy", "ortools", "pyomo", "torch", "openai", "streamlit", "ray")
PLUGINS = ("solvers", "agents", "problems", "app")


def run_python(*parts: str) -> subprocess.CompletedProcess[str]:
    """Run the (each dedented) code *parts* in a fresh interpreter; return the process."""
    code = "".join(textwrap.dedent(part) for part in parts)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _loaded_check() -> str:
    return f"""
        bad = sorted(
            m for m in sys.modules
            if m.split(".")[0] in {HEAVY + PLUGINS!r}
        )
        assert not bad, f"loaded at import time: {{bad}}"
        print("ok")
    """


def test_import_workbench_loads_no_solver() -> None:
    proc = run_python(
        """
        import sys
        import workbench
        workbench.Result, workbench.Termination, workbench.ModelError
        from workbench.backends import backend_names
        backend_names()  # reading the registry imports nothing
        """,
        _loaded_check(),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_every_workbench_module_imports_without_heavy_dependencies() -> None:
    proc = run_python(
        """
        import importlib, pkgutil, sys
        import workbench
        for info in pkgutil.walk_packages(workbench.__path__, "workbench."):
            importlib.import_module(info.name)
        """,
        _loaded_check(),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


HIGHS = """
    import highspy
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    h.addCol(-3.0, 0.0, 3.0, 0, [], [])  # min -(3x + 2y), 0 <= x <= 3
    h.addCol(-2.0, 0.0, inf, 0, [], [])
    h.addRow(-inf, 4.0, 2, [0, 1], [1.0, 1.0])
    h.addRow(-inf, 6.0, 2, [0, 1], [1.0, 3.0])
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert abs(h.getInfo().objective_function_value + 11.0) < 1e-9
"""

CPSAT = """
    from ortools.sat.python import cp_model
    m = cp_model.CpModel()
    x = m.new_int_var(0, 10, "x")
    y = m.new_int_var(0, 10, "y")
    m.add(2 * x + 3 * y <= 12)
    m.maximize(3 * x + 2 * y)
    s = cp_model.CpSolver()
    s.parameters.num_workers = 1
    assert s.solve(m) == cp_model.OPTIMAL
    assert s.objective_value == 18
"""

LINEAR_SOLVER = """
    from ortools.linear_solver import pywraplp
    solver = pywraplp.Solver.CreateSolver("GLOP")
    a = solver.NumVar(0, 3, "a")
    b = solver.NumVar(0, solver.infinity(), "b")
    solver.Add(a + b <= 4)
    solver.Add(a + 3 * b <= 6)
    solver.Maximize(3 * a + 2 * b)
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    assert abs(solver.Objective().Value() - 11.0) < 1e-9
"""


@pytest.mark.parametrize(
    "order",
    [(HIGHS, CPSAT, LINEAR_SOLVER), (CPSAT, LINEAR_SOLVER, HIGHS)],
    ids=["highspy-first", "ortools-first"],
)
def test_highspy_and_ortools_coexist(order: tuple[str, str, str]) -> None:
    proc = run_python(*order, "print('ok')\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
