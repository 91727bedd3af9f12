"""``auto`` races HiGHS and SCIP on a reformulated MILP; both solvers stop when told to."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import workbench
from workbench import racing
from workbench.backends.base import SolveOptions
from workbench.backends.registry import availability, get_backend
from workbench.compile.linear_form import LinearForm
from workbench.ir import model_from_dict
from workbench.result import Diagnostics, Result, Termination
from workbench.solving import route

pytestmark = pytest.mark.skipif(
    not (availability("highs").ok and availability("scip").ok), reason="needs highs and scip"
)


def _makespan(p: list[int], m: int) -> dict[str, Any]:
    return {
        "name": "makespan",
        "sets": {"J": {"range": [1, len(p)]}, "M": {"range": [1, m]}},
        "params": {"p": {"index": ["J"], "values": p}},
        "variables": {"x": {"index": ["J", "M"], "domain": "binary"}},
        "objective": {"sense": "min", "expr": "max(sum(p[j] * x[j, k] for j in J) for k in M)"},
        "constraints": [
            {"name": "assign", "for": "j in J", "expr": "sum(x[j, k] for k in M) == 1"}
        ],
    }


def _brute_makespan(p: list[int], m: int) -> int:
    pa = np.asarray(p)
    best = None
    for assign in itertools.product(range(m), repeat=len(p)):
        loads = np.bincount(np.asarray(assign), weights=pa, minlength=m)
        best = loads.max() if best is None else min(best, loads.max())
    return int(best)


def _market_split(seed: int, rows: int = 3, cols: int = 24) -> dict[str, Any]:
    """Cornuejols-Dawande market split: tiny LPs, a huge branch-and-bound tree."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 100, (rows, cols))
    d = (a.sum(axis=1) // 2).tolist()
    return {
        "name": "market_split",
        "sets": {"R": {"range": [1, rows]}, "C": {"range": [1, cols]}},
        "params": {
            "a": {"index": ["R", "C"], "values": a.tolist()},
            "d": {"index": ["R"], "values": d},
        },
        "variables": {
            "x": {"index": ["C"], "domain": "binary"},
            "sp": {"index": ["R"], "lb": 0},
            "sm": {"index": ["R"], "lb": 0},
        },
        "objective": {"sense": "min", "expr": "sum(sp[r] + sm[r] for r in R)"},
        "constraints": [
            {
                "name": "split",
                "for": "r in R",
                "expr": "sum(a[r, c] * x[c] for c in C) + sp[r] - sm[r] == d[r]",
            }
        ],
    }


def _race_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("wb-race", "wb-scip"))]


def test_auto_races_a_reformulated_makespan_and_returns_the_proved_optimum() -> None:
    p, m = [7, 3, 9, 4, 4, 8, 2, 6, 5, 5], 3
    res = workbench.solve(model_from_dict(_makespan(p, m)), time_limit=60)
    assert res.termination is Termination.OPTIMAL
    assert res.objective == pytest.approx(_brute_makespan(p, m))
    race = res.diagnostics.extra["race"]
    assert race["entrants"] == ["highs", "scip"]
    assert race["winner"] == res.backend
    assert race["runs"][res.backend]["termination"] == "optimal"
    assert set(race["runs"]) == {"highs", "scip"}  # the loser was joined and recorded
    assert _race_threads() == []
    assert set(res.values) == {"x"}  # the epigraph variable stays hidden


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"backend": "highs"}, "a named backend"),
        ({"threads": 1}, "one thread"),
        ({"verbose": True}, "two logs would interleave"),
        ({"presolve": "off"}, "a backend's own option"),
        ({"reformulate": False}, "not reformulated"),
    ],
)
def test_no_race_when_the_caller_asks_for_one_solver(kwargs: dict[str, Any], why: str) -> None:
    model = model_from_dict(_makespan([4, 3, 3, 2, 2], 2))
    if kwargs.get("reformulate") is False:  # a MILP as written: nothing was rewritten
        model = model_from_dict(_market_split(0, rows=1, cols=6))
    res = workbench.solve(model, time_limit=30, **kwargs)
    assert res.termination is Termination.OPTIMAL, why
    assert "race" not in res.diagnostics.extra, why


def test_no_race_for_a_class_only_scip_takes() -> None:
    data = _makespan([4, 3, 3], 2)
    data["objective"]["expr"] = "sum(x[j, 1] * x[j, 2] for j in J) + sum(p[j] * x[j, 1] for j in J)"
    data["constraints"][0]["expr"] = "sum(x[j, k] for k in M) >= 1"
    data["variables"]["y"] = {"lb": 0, "ub": 3}
    data["constraints"].append({"name": "nl", "expr": "y * y <= 2"})
    res = workbench.solve(model_from_dict(data), time_limit=30)
    assert res.backend == "scip" and "race" not in res.diagnostics.extra


@pytest.mark.parametrize("name", ["highs", "scip"])
def test_a_backend_told_to_stop_before_it_starts_does_not_solve(name: str) -> None:
    model = model_from_dict(_market_split(1, rows=1, cols=6))
    stop = threading.Event()
    stop.set()
    res = get_backend(name).solve(model, SolveOptions(cancel=stop))
    assert res.termination is Termination.INTERRUPTED
    assert res.values == {} and "cancelled" in (res.diagnostics.message or "")


@pytest.mark.parametrize("name", ["highs", "scip"])
def test_a_backend_told_to_stop_mid_solve_stops(name: str) -> None:
    # a market split with 4 rows and 36 columns: neither solver proves it in 20 s;
    # told to stop at 0.5 s, each returns interrupted (not a time limit, not a proof)
    model = model_from_dict(_market_split(2, rows=4, cols=36))
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    try:
        res = get_backend(name).solve(model, SolveOptions(time_limit=60, seed=0, cancel=stop))
    finally:
        timer.cancel()
    assert stop.is_set()
    assert res.termination in (Termination.INTERRUPTED, Termination.FEASIBLE)
    assert "interrupt" in (res.diagnostics.native_status or "").lower()
    assert _race_threads() == []


def test_scip_stops_inside_a_long_lp() -> None:
    # one LP that takes SoPlex about 5 s: without SCIPinterruptLP, SCIP would finish it
    # before it looks at the interrupt, and would have the LP's bound
    rng = np.random.default_rng(0)
    n = 1500
    a = sp.random(n, n, density=0.05, random_state=rng, format="csr")
    lf = LinearForm(
        c=-rng.random(n),
        A=a,
        row_lb=np.full(n, -np.inf),
        row_ub=np.ones(n),
        col_lb=np.zeros(n),
        col_ub=np.full(n, np.inf),
        integrality=np.zeros(n, dtype=bool),
    )
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    try:
        res = get_backend("scip").solve_linear(lf, SolveOptions(time_limit=60, cancel=stop))
    finally:
        timer.cancel()
    assert res.termination is not Termination.OPTIMAL
    assert res.diagnostics.native_status == "userinterrupt"
    assert res.bound is None  # the root LP was cut short: no bound yet


# the race itself, with stand-in backends (the real ones are raced above)


class _Fake:
    def __init__(self, behave: Any) -> None:
        self.behave = behave

    def solve(self, model: Any, options: SolveOptions) -> Result:
        return self.behave(options)  # type: ignore[no-any-return]


def _result(term: Termination, obj: float | None = None, bound: float | None = None) -> Result:
    res = Result(term, diagnostics=Diagnostics())
    res.objective, res.bound = obj, bound
    res.values = {} if obj is None else {"x": obj}
    return res


def _with_fakes(monkeypatch: pytest.MonkeyPatch, **behaviours: Any) -> None:
    monkeypatch.setattr(racing, "get_backend", lambda name: _Fake(behaviours[name]))


def test_the_loser_is_told_to_stop_and_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, bool] = {}

    def slow(options: SolveOptions) -> Result:
        assert options.cancel is not None
        seen["stopped"] = options.cancel.wait(30)
        return _result(Termination.INTERRUPTED)

    def fast(options: SolveOptions) -> Result:
        time.sleep(0.05)
        return _result(Termination.OPTIMAL, 3.0, 3.0)

    _with_fakes(monkeypatch, a=slow, b=fast)
    res = racing.race(("a", "b"), None, SolveOptions(), "min")
    assert seen == {"stopped": True}
    assert res.objective == 3.0
    race = res.diagnostics.extra["race"]
    assert race["winner"] == "b" and race["runs"]["a"]["stopped_by_race"] is True
    assert race["runs"]["a"]["termination"] == "interrupted"


def test_a_crashed_entrant_does_not_end_the_race(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(options: SolveOptions) -> Result:
        raise RuntimeError("boom")

    def later(options: SolveOptions) -> Result:
        time.sleep(0.05)
        return _result(Termination.INFEASIBLE)

    _with_fakes(monkeypatch, a=crash, b=later)
    res = racing.race(("a", "b"), None, SolveOptions(), "min")
    assert res.termination is Termination.INFEASIBLE
    assert res.diagnostics.extra["race"]["runs"]["a"]["error"] == "RuntimeError: boom"


def test_when_every_entrant_raises_the_preferred_ones_error_is_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def first(options: SolveOptions) -> Result:
        time.sleep(0.05)
        raise ValueError("preferred")

    def second(options: SolveOptions) -> Result:
        raise RuntimeError("other")

    _with_fakes(monkeypatch, a=first, b=second)
    with pytest.raises(ValueError, match="preferred"):
        racing.race(("a", "b"), None, SolveOptions(), "min")


@pytest.mark.parametrize(
    ("sense", "a", "b", "objective", "bound"),
    [
        ("min", (10.0, 4.0), (12.0, 6.0), 10.0, 6.0),  # a's point, b's tighter lower bound
        ("max", (10.0, 14.0), (12.0, 13.0), 12.0, 13.0),  # b's point and b's upper bound
        ("min", (None, 5.0), (9.0, 2.0), 9.0, 5.0),  # only b has a point
    ],
)
def test_without_a_proof_the_best_point_gets_the_tightest_bound(
    monkeypatch: pytest.MonkeyPatch,
    sense: str,
    a: tuple[float | None, float],
    b: tuple[float | None, float],
    objective: float,
    bound: float,
) -> None:
    def make(pair: tuple[float | None, float]) -> Any:
        term = Termination.TIME_LIMIT if pair[0] is None else Termination.FEASIBLE
        return lambda options: _result(term, pair[0], pair[1])

    _with_fakes(monkeypatch, a=make(a), b=make(b))
    res = racing.race(("a", "b"), None, SolveOptions(), sense)
    assert res.objective == objective and res.bound == bound
    assert res.gap == pytest.approx(abs(objective - bound) / max(1.0, abs(objective)))
    assert res.termination is not Termination.OPTIMAL
    assert res.diagnostics.extra["race"]["winner"] is None


def test_the_cli_says_who_won_the_race(tmp_path: Any) -> None:
    import yaml
    from typer.testing import CliRunner

    from workbench.cli import app

    path = tmp_path / "makespan.yaml"
    path.write_text(yaml.safe_dump(_makespan([7, 3, 9, 4, 4, 8, 2, 6], 3)))
    out = CliRunner().invoke(app, ["solve", str(path)])
    assert out.exit_code == 0, out.output
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("race"))
    assert "highs vs scip:" in line and "concluded first" in line


def test_the_rival_starts_later_with_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    limits: dict[str, float | None] = {}

    def record(name: str, result: Result) -> Any:
        def solve(options: SolveOptions) -> Result:
            limits[name] = options.time_limit
            if name == "a":
                time.sleep(0.05)  # longer than the head start: the rival runs
            return result

        return solve

    _with_fakes(
        monkeypatch,
        a=record("a", _result(Termination.OPTIMAL, 1.0, 1.0)),
        b=record("b", _result(Termination.FEASIBLE, 2.0, 0.0)),
    )
    res = racing.race(("a", "b"), None, SolveOptions(time_limit=5.0), "min")
    assert res.objective == 1.0
    assert limits["a"] == 5.0
    assert limits["b"] is not None and 5.0 - 1.0 < limits["b"] <= 5.0 - racing.HEAD_START


def test_a_cancel_request_calls_its_hooks_once_set() -> None:
    from workbench.backends.base import Cancel

    calls: list[str] = []
    stop = Cancel()
    remove = stop.on_set(lambda: calls.append("a"))
    stop.on_set(lambda: calls.append("b"))()  # removed at once: never called
    assert calls == [] and not stop.is_set()
    stop.set()
    assert calls == ["a"] and stop.is_set()
    remove()
    stop.on_set(lambda: calls.append("late"))  # already set: called now
    assert calls == ["a", "late"]


def test_an_infeasible_race_explains_itself_whoever_wins() -> None:
    # assign 3 jobs to 2 machines with a makespan cap of 2 and every job of length 2:
    # the LP relaxation is already infeasible, so there is an IIS
    data = _makespan([2, 2, 2], 2)
    data["constraints"].append(
        {"name": "cap", "for": "k in M", "expr": "sum(p[j] * x[j, k] for j in J) <= 2"}
    )
    data["constraints"].append({"name": "short", "expr": "max(x[1, 1], x[2, 1]) <= 1"})
    res = workbench.solve(model_from_dict(data), time_limit=30)
    assert res.termination is Termination.INFEASIBLE
    assert res.diagnostics.iis, res.diagnostics.message
    assert any(name.startswith(("cap", "assign")) for name in res.diagnostics.iis)
    assert res.diagnostics.extra["race"]["entrants"] == ["highs", "scip"]
    # when SCIP proves it (it gives no IIS), HiGHS explains it on the LP relaxation
    model = model_from_dict(data)
    _, prep = route(model, "auto")
    opts = SolveOptions(time_limit=30, structure=prep.structure)
    scip = get_backend("scip").solve(prep.structure.model, opts)
    assert scip.termination is Termination.INFEASIBLE and not scip.diagnostics.iis
    racing._explain(("scip", "highs"), prep.structure.model, opts, scip)
    assert scip.diagnostics.iis and any(
        n.startswith(("cap", "assign")) for n in scip.diagnostics.iis
    )
    assert "irreducible infeasible subset" in (scip.diagnostics.message or "")


def test_a_rival_with_no_time_left_does_not_start() -> None:
    model = model_from_dict(_makespan([7, 3, 9, 4, 4, 8, 2, 6, 5, 5, 3, 8], 4))
    res = workbench.solve(model, time_limit=0.001)
    runs = res.diagnostics.extra["race"]["runs"]
    assert runs["scip"]["error"] is None  # not an options error for a non-positive limit
    assert runs["scip"]["termination"] == "time_limit"  # the 1 ms were gone after the head start


def test_no_race_in_a_process_given_one_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # a batch worker gets its share of the machine (LocalExecutor sets WORKBENCH_CPUS)
    monkeypatch.setenv(racing.CPU_SHARE_ENV, "1")
    assert racing.cpu_count() == 1
    res = workbench.solve(model_from_dict(_makespan([4, 3, 3, 2, 2], 2)), time_limit=30)
    assert res.termination is Termination.OPTIMAL and "race" not in res.diagnostics.extra
    monkeypatch.setenv(racing.CPU_SHARE_ENV, "64")  # a cap, never more than the affinity
    assert racing.cpu_count() <= len(__import__("os").sched_getaffinity(0))


def test_a_held_start_waits_for_its_time_unless_stopped() -> None:
    from workbench.backends.base import Cancel, stopped_before_start

    assert stopped_before_start(None) is False
    plain = threading.Event()
    assert stopped_before_start(plain) is False
    plain.set()
    assert stopped_before_start(plain) is True  # a plain event is only looked at
    t0 = time.perf_counter()
    assert Cancel(start_at=t0 + 0.05).hold() is False  # the head start ran out
    assert time.perf_counter() - t0 >= 0.05
    stop = Cancel(start_at=time.perf_counter() + 30)
    threading.Timer(0.05, stop.set).start()
    t0 = time.perf_counter()
    assert stopped_before_start(stop) is True  # stopped during the wait: no solve
    assert time.perf_counter() - t0 < 10
    assert Cancel().hold() is False  # no head start: at once


def test_the_rival_builds_during_the_head_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.backends.base import stopped_before_start

    seen: dict[str, float] = {}

    def first(options: SolveOptions) -> Result:
        time.sleep(0.1)
        return _result(Termination.FEASIBLE, 2.0, 0.0)

    def rival(options: SolveOptions) -> Result:
        seen["called"] = time.perf_counter() - t0  # its build would run now
        assert not stopped_before_start(options.cancel)
        seen["started"] = time.perf_counter() - t0
        return _result(Termination.OPTIMAL, 1.0, 1.0)

    _with_fakes(monkeypatch, a=first, b=rival)
    t0 = time.perf_counter()
    res = racing.race(("a", "b"), None, SolveOptions(), "min")
    assert res.objective == 1.0 and res.diagnostics.extra["race"]["winner"] == "b"
    assert seen["called"] < racing.HEAD_START <= seen["started"]


@pytest.mark.parametrize("name", ["highs", "scip"])
def test_a_backend_stopped_in_its_head_start_never_solves(name: str) -> None:
    from workbench.backends.base import Cancel

    model = model_from_dict(_makespan([4, 3, 3, 2, 2], 2))
    _, prep = route(model, "auto")
    stop = Cancel(start_at=time.perf_counter() + 30)  # it builds, then waits to start
    threading.Timer(0.05, stop.set).start()
    t0 = time.perf_counter()
    res = get_backend(name).solve(
        prep.structure.model, SolveOptions(time_limit=60, structure=prep.structure, cancel=stop)
    )
    assert time.perf_counter() - t0 < 10
    assert res.termination is Termination.INTERRUPTED and res.values == {}
    assert "cancelled before the solve started" in (res.diagnostics.message or "")
