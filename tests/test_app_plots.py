"""Unit tests of the problem plots' detection and figure builders (no Streamlit)."""

from __future__ import annotations

import pytest

pytest.importorskip("plotly")
pytest.importorskip("networkx")

from app.components.plots import (  # noqa: E402
    gantt_data,
    gantt_figure,
    network_data,
    network_figure,
    problem_figures,
)
from workbench import solve  # noqa: E402
from workbench.datasets import get_dataset  # noqa: E402
from workbench.result import Result, Termination  # noqa: E402


@pytest.fixture(scope="module")
def solved():
    cat = {p.id: p for p in get_dataset("catalog")}
    cache: dict[str, tuple] = {}

    def get(pid: str):
        if pid not in cache:
            model = cat[pid].model
            cache[pid] = (solve(model, "highs", time_limit=10), model)
        return cache[pid]

    return get


@pytest.mark.parametrize(
    ("pid", "var", "kind"),
    [("min_cost_flow", "flow", "arcs"), ("shortest_path", "use", "arcs"),
     ("max_flow", "flow", "arcs"), ("transport_small", "x", "bipartite")],
)  # fmt: skip
def test_network_detected_for_flow_models(solved, pid, var, kind):
    result, model = solved(pid)
    data = network_data(result, model)
    assert data is not None and data.variable == var and data.kind == kind
    assert all(abs(v) > 1e-6 for _, _, v in data.edges)
    fig = network_figure(data)
    assert len(fig.layout.annotations) == 2 * len(data.edges)
    assert [k for k, _ in problem_figures(result, model)] == ["network"]


def test_shortest_path_edges_are_the_path(solved):
    result, model = solved("shortest_path")
    edges = {(a, b) for a, b, _ in network_data(result, model).edges}
    assert sum(v for _, _, v in network_data(result, model).edges) == pytest.approx(4)
    assert ("e", "g") in edges


@pytest.mark.parametrize("pid", ["scheduling_job_shop", "scheduling_single_machine"])
def test_gantt_detected_for_schedules(solved, pid):
    result, model = solved(pid)
    data = gantt_data(result, model)
    assert data is not None and data.variable == "start" and data.duration == "proc"
    assert all(t["finish"] > t["start"] for t in data.tasks)
    assert max(t["finish"] for t in data.tasks) <= 16
    fig = gantt_figure(data)
    assert fig.data and fig.data[0].orientation == "h"
    assert [k for k, _ in problem_figures(result, model)] == ["gantt"]  # no network of `start`


def test_job_shop_gantt_ends_at_the_makespan(solved):
    result, model = solved("scheduling_job_shop")
    tasks = gantt_data(result, model).tasks
    assert len(tasks) == 12
    assert max(t["finish"] for t in tasks) == pytest.approx(result.values["makespan"])


def test_nothing_for_models_without_structure(solved):
    result, model = solved("knapsack_01")
    assert problem_figures(result, model) == []


def test_detection_is_safe_on_odd_values():
    odd = Result(termination=Termination.OPTIMAL, objective=1.0,
                 values={"x": {("a", "b"): "nan?"}, "y": {(1, 2, 3): 1.0}, "z": 2.0,
                         "w": {("a", "b"): 0.0}, "start": {"j": 1.0}})  # fmt: skip
    assert network_data(odd) is None
    assert gantt_data(odd, None) is None
    assert problem_figures(odd, None) == []
    flows = Result(termination=Termination.OPTIMAL, objective=1.0,
                   values={"f": {("a", "b"): 2.0, ("b", "c"): 1.0, ("a", "c"): 0.0}})  # fmt: skip
    data = network_data(flows)  # no model: tails and heads share "b", so arcs
    assert data.kind == "arcs" and len(data.edges) == 2 and set(data.nodes) == {"a", "b", "c"}
    hours = Result(termination=Termination.OPTIMAL, objective=1.0,
                   values={"on": {("g1", 1): 1.0, ("g1", 2): 1.0}})  # fmt: skip
    assert network_data(hours) is None  # units x hours is no network
    infeasible = Result(termination=Termination.INFEASIBLE, values=flows.values)
    assert problem_figures(infeasible) == []
