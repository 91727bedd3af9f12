"""The solve API: capability-based choice, clear refusals, crashes as values, laziness."""

from __future__ import annotations

import subprocess
import sys
from typing import ClassVar

import pytest

import workbench
from workbench.backends import Availability, Capability, SolveOptions, register_backend
from workbench.backends.registry import BACKENDS
from workbench.errors import BackendUnavailableError, UnsupportedProblemError
from workbench.result import Result, Termination

LP = (
    "variables: {x: {lb: 0, ub: 4}, y: {lb: 0}}\nobjective: {sense: max, expr: 'x + 2*y'}\n"
    "constraints: [{name: c, expr: 'x + y <= 5'}]"
)
MINLP = "variables: {n: {domain: integer, lb: 1, ub: 5}}\nobjective: {expr: 'exp(n)'}"
MILP_KNAPSACK = (
    "variables: {x: {domain: binary}, y: {domain: binary}}\n"
    "objective: {sense: max, expr: '3*x + 2*y'}\nconstraints: [{name: c, expr: '2*x + 2*y <= 3'}]"
)


def test_auto_picks_highs_for_lp_and_reports_everything():
    r = workbench.solve(workbench.load_model(LP))
    assert r.backend == "highs" and r.termination is Termination.OPTIMAL
    assert r.objective == pytest.approx(10.0)
    assert r.values == pytest.approx({"x": 0.0, "y": 5.0})
    assert r.timings.build > 0 and r.timings.solve >= 0
    d = r.to_dict()
    assert {"termination", "objective", "bound", "gap", "values", "timings", "backend"} <= set(d)


def test_solve_accepts_text_dict_and_paths(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text(LP)
    for source in (LP, p, str(p), workbench.load_model(LP).model_dump(by_alias=True)):
        assert workbench.solve(source).objective == pytest.approx(10.0)


class _NoScip:
    name: ClassVar[str] = "scip"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.MINLP})
    rank: ClassVar[int] = 22

    def available(self) -> Availability:
        return Availability(False, "pyscipopt is not installed; fix: pip install pyscipopt")


def test_unsupported_class_names_what_is_missing():
    """Without SCIP (the MINLP solver a pip install brings), the refusal says what is missing."""
    original = BACKENDS._targets.get("scip")
    register_backend("scip", _NoScip)
    try:
        with pytest.raises(UnsupportedProblemError, match="MINLP") as exc:
            workbench.solve(workbench.load_model(MINLP))
        assert "no available backend can solve" in str(exc.value)
        assert "scip: pyscipopt is not installed" in str(exc.value)
    finally:
        BACKENDS._loaded.pop("scip", None)
        if original is None:
            BACKENDS._targets.pop("scip", None)
        else:
            register_backend("scip", original)


def test_auto_checks_backends_best_first_and_only_as_far_as_needed(monkeypatch):
    """A MILP goes to HiGHS without asking whether Pyomo (a second to import) is usable."""
    from workbench import solving
    from workbench.classification import classify

    checked: list[str] = []
    real = solving.availability
    monkeypatch.setattr(solving, "availability", lambda name: checked.append(name) or real(name))
    cls = classify(workbench.load_model(MILP_KNAPSACK))
    assert solving.choose_backend(cls) == "highs"
    assert checked == ["highs"]
    checked.clear()
    monkeypatch.setattr(solving, "availability", lambda name: (checked.append(name), Availability(
        name != "highs", "not here"))[1])  # fmt: skip
    assert solving.choose_backend(cls) not in ("highs", None)  # the next best one
    assert checked[0] == "highs" and len(checked) == 2


def test_named_backend_that_does_not_cover_the_class():
    cont = workbench.load_model(LP)
    with pytest.raises(UnsupportedProblemError, match="backend 'cpsat' handles pure_integer"):
        workbench.solve(cont, backend="cpsat")


def test_unknown_backend():
    with pytest.raises(BackendUnavailableError, match="unknown name 'gurobi-x'"):
        workbench.solve(workbench.load_model(LP), backend="gurobi-x")


class _Boom:
    name: ClassVar[str] = "boom_test"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.LP})
    rank: ClassVar[int] = 999

    def available(self) -> Availability:
        return Availability(True)

    def solve(self, model, options: SolveOptions) -> Result:
        raise RuntimeError("segfault-ish")


class _Off(_Boom):
    name: ClassVar[str] = "off_test"

    def available(self) -> Availability:
        return Availability(False, "library xyz missing; pip install xyz")


def test_crashing_backend_becomes_error_result_and_unavailable_is_explained():
    register_backend("boom_test", _Boom)
    register_backend("off_test", _Off)
    try:
        r = workbench.solve(workbench.load_model(LP), backend="boom_test")
        assert r.termination is Termination.ERROR and "segfault-ish" in (
            r.diagnostics.message or ""
        )
        with pytest.raises(BackendUnavailableError, match="pip install xyz"):
            workbench.solve(workbench.load_model(LP), backend="off_test")
    finally:
        BACKENDS._targets.pop("boom_test", None)
        BACKENDS._loaded.pop("boom_test", None)
        BACKENDS._targets.pop("off_test", None)
        BACKENDS._loaded.pop("off_test", None)


def test_model_is_never_modified():
    m = workbench.load_model(LP)
    before = m.model_dump()
    workbench.solve(m)
    assert m.model_dump() == before


def test_importing_workbench_imports_no_solver():
    code = (
        "import sys, workbench\n"
        "workbench.load_model('variables: {x: {}}\\nobjective: {expr: x}')\n"
        "workbench.classify\n"
        "heavy = [m for m in ('highspy', 'ortools', 'pyomo', 'torch', 'solvers', 'openai') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_warnings_reach_the_result():
    m = workbench.load_model(
        "sets: {E: []}\nvariables: {x: {lb: 0, ub: 1}, y: {index: [E]}}\n"
        "objective: {expr: 'x + sum(y[e] for e in E)'}"
    )
    r = workbench.solve(m)
    assert r.termination is Termination.OPTIMAL and r.objective == 0
    assert any("empty set" in w for w in r.diagnostics.warnings)


def test_a_named_backend_that_cannot_take_the_class_names_the_ones_that_can() -> None:
    import workbench
    from workbench.errors import UnsupportedProblemError

    lp = {"variables": {"x": {"lb": 0}}, "objective": {"expr": "x"}}
    with pytest.raises(
        UnsupportedProblemError, match=r"handles two_stage_robust.*backends for it: highs"
    ):
        workbench.solve(lp, backend="ccg")
