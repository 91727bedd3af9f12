"""Plots that fit the problem: a network for flows and routes, a Gantt chart for schedules.

Detection is deliberately simple and conservative; when unsure it returns
``None`` and the page shows nothing (it never raises).

Network (:func:`network_data`)
    An indexed variable whose members are all 2-tuples ``(u, v)`` and at least
    one of which is nonzero.  It is drawn as *arcs* when the tails and heads
    share nodes (``flow[i, j]`` over ``A ⊆ N × N``: min-cost flow, shortest
    path, max flow), or as a *bipartite* graph when they are disjoint
    (``x[p, m]`` over plants × markets: transportation, assignment).  When the
    model says the variable is indexed by two different sets whose members
    overlap (``start[J, M]`` with numbered jobs and machines), it is not a
    network, nor is one whose heads are all integers while the tails are not
    (``x[g, t]`` over units × hours).  Only nonzero entries become edges; more than
    :data:`MAX_EDGES` nonzero edges show nothing.

Gantt (:func:`gantt_data`)
    A variable named like a start time (:data:`START_NAMES`, or beginning
    with ``start``) and a duration parameter (:data:`DURATION_NAMES`, or
    beginning with ``dur``/``proc``), both from the model:

    * *continuous starts*: ``start[j]`` or ``start[j, m]`` with the duration
      indexed by the same sets; each member is a bar from ``start`` to
      ``start + dur`` (on row ``m`` when there are machines);
    * *time-indexed binaries*: ``start[j, t]`` (or over a set of ``(j, t)``
      pairs) with ``dur[j]``; each ``(j, t)`` at 1 is a bar from ``t`` to
      ``t + dur[j]``.

    A variable used by the Gantt chart is never also drawn as a network.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from workbench.ir.model import Model
    from workbench.result import Result

__all__ = [
    "DURATION_NAMES",
    "MAX_EDGES",
    "START_NAMES",
    "GanttData",
    "NetworkData",
    "gantt_data",
    "gantt_figure",
    "network_data",
    "network_figure",
    "problem_figures",
]

START_NAMES = frozenset({"start", "starts", "s", "st", "begin", "start_time", "t_start", "ts"})
DURATION_NAMES = frozenset(
    {"p", "pt", "dur", "duration", "durations", "proc", "proc_time", "processing_time"}
)
MAX_EDGES = 300
EPS = 1e-6


@dataclass
class NetworkData:
    """Edges with nonzero values of one variable.

    Attributes
    ----------
    variable
        The variable drawn.
    kind
        ``"arcs"`` (tails and heads share nodes) or ``"bipartite"``.
    edges
        ``(tail, head, value)`` for every nonzero member.
    nodes
        Every node named by any member (zero ones included), tails first.
    """

    variable: str
    kind: str
    edges: list[tuple[Any, Any, float]]
    nodes: list[Any] = field(default_factory=list)


@dataclass
class GanttData:
    """Bars of a schedule.

    Attributes
    ----------
    variable, duration
        The start variable and the duration parameter used.
    tasks
        ``{"job", "resource", "start", "finish"}`` per bar.
    """

    variable: str
    duration: str
    tasks: list[dict[str, Any]]


def _is_start_name(name: str) -> bool:
    low = name.lower()
    return low in START_NAMES or low.startswith("start")


def _is_duration_name(name: str) -> bool:
    low = name.lower()
    return low in DURATION_NAMES or low.startswith(("dur", "proc"))


def _pairs(vals: Any) -> dict[tuple[Any, Any], float] | None:
    if not isinstance(vals, dict) or not vals:
        return None
    out: dict[tuple[Any, Any], float] = {}
    for label, value in vals.items():
        if not (isinstance(label, tuple) and len(label) == 2):
            return None
        try:
            v = float(value)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(v):
            return None
        out[label] = v
    return out


def _classify(name: str, pairs: dict[tuple[Any, Any], float], model: Model | None) -> str | None:
    tails = {str(a) for a, _ in pairs}
    heads = {str(b) for _, b in pairs}
    overlap = bool(tails & heads)
    var = model.variables.get(name) if model is not None else None
    if (
        not overlap
        and all(isinstance(b, int) for _, b in pairs)
        and not all(isinstance(a, int) for a, _ in pairs)
    ):
        return None  # (name, number): more likely over time periods or bins than a route
    if var is not None and len(var.index) == 2 and var.index[0] != var.index[1]:
        return None if overlap else "bipartite"  # (I, J): a network only if I and J differ
    return "arcs" if overlap else "bipartite"


def network_data(
    result: Result, model: Model | None = None, *, exclude: set[str] | None = None
) -> NetworkData | None:
    """The first variable that looks like flow on arcs (or on ``(i, j)`` routes), else ``None``.

    Parameters
    ----------
    result
        A solved result (``values``).
    model
        The model, to tell ``(I, J)`` pairs of distinct sets apart.
    exclude
        Variables not to consider (the Gantt chart's).
    """
    try:
        best: NetworkData | None = None
        for name, vals in (result.values or {}).items():
            if exclude and name in exclude:
                continue
            pairs = _pairs(vals)
            if pairs is None:
                continue
            edges = [(a, b, v) for (a, b), v in pairs.items() if abs(v) > EPS]
            if not edges or len(edges) > MAX_EDGES:
                continue
            kind = _classify(name, pairs, model)
            if kind is None:
                continue
            nodes: list[Any] = []
            for a, b in pairs:
                for n in (a, b):
                    if n not in nodes:
                        nodes.append(n)
            data = NetworkData(name, kind, edges, nodes)
            if kind == "arcs":
                return data
            best = best or data
        return best
    except Exception:  # never break the page over a plot
        return None


def _param_table(model: Model, name: str) -> dict[Any, float] | None:
    from workbench.compile.context import Context

    p = Context(model).get_param(name, None)
    if p.is_scalar:
        return None
    labels = [s.labels() for s in p.index]
    keys = [k[0] if len(k) == 1 else k for k in itertools.product(*labels)]
    if len(keys) != len(p.values):
        return None
    return {k: float(v) for k, v in zip(keys, p.values.tolist())}


def gantt_data(result: Result, model: Model | None) -> GanttData | None:
    """Bars for a schedule (see the module docstring), else ``None``."""
    if model is None:
        return None
    try:
        durations = [n for n in model.params if _is_duration_name(n)]
        starts = [n for n in result.values if _is_start_name(n) and isinstance(result.values[n],
                                                                                dict)]  # fmt: skip
        for sname, dname in itertools.product(starts, durations):
            var = model.variables.get(sname)
            par = model.params.get(dname)
            if var is None or par is None:
                continue
            table = _param_table(model, dname)
            if not table:
                continue
            vals = result.values[sname]
            tasks: list[dict[str, Any]] = []
            if var.domain != "binary" and list(var.index) == list(par.index):
                for label, s in vals.items():
                    if label not in table:
                        break
                    parts = label if isinstance(label, tuple) else (label,)
                    job = parts[0]
                    res = parts[1] if len(parts) > 1 else "schedule"
                    tasks.append({"job": str(job), "resource": str(res), "start": float(s),
                                  "finish": float(s) + table[label]})  # fmt: skip
                else:
                    if tasks:
                        return GanttData(sname, dname, tasks)
                continue
            if var.domain == "binary" and len(par.index) == 1:
                for label, on in vals.items():
                    if not (isinstance(label, tuple) and len(label) == 2):
                        tasks = []
                        break
                    job, t = label
                    if job not in table or not isinstance(t, int | float):
                        tasks = []
                        break
                    if float(on) > 0.5:
                        tasks.append({"job": str(job), "resource": "machine", "start": float(t),
                                      "finish": float(t) + table[job]})  # fmt: skip
                if tasks:
                    return GanttData(sname, dname, tasks)
        return None
    except Exception:  # never break the page over a plot
        return None


def _layout(data: NetworkData) -> dict[Any, tuple[float, float]]:
    if data.kind == "bipartite":
        tails = list(dict.fromkeys(a for a, _, _ in data.edges))
        heads = list(dict.fromkeys(b for _, b, _ in data.edges))
        pos: dict[Any, tuple[float, float]] = {}
        for col, group in ((0.0, tails), (1.0, heads)):
            n = len(group)
            for k, node in enumerate(group):
                pos[node] = (col, 1.0 - (k + 0.5) / max(n, 1))
        return pos
    import networkx as nx

    g = nx.DiGraph()
    g.add_edges_from((a, b) for a, b, _ in data.edges)
    try:
        raw = nx.kamada_kawai_layout(g)
    except Exception:  # scipy missing or a degenerate graph
        raw = nx.spring_layout(g, seed=0)
    return {n: (float(x), float(y)) for n, (x, y) in raw.items()}


def network_figure(data: NetworkData) -> go.Figure:
    """A plotly figure of *data*: arrows sized by value, labelled with the value."""
    import plotly.graph_objects as go

    pos = _layout(data)
    top = max(abs(v) for _, _, v in data.edges) or 1.0
    fig = go.Figure()
    for a, b, v in data.edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=3, arrowsize=1.2, standoff=14, startstandoff=14,
                           arrowwidth=1 + 4 * abs(v) / top, arrowcolor="#1f77b4", opacity=0.8)  # fmt: skip
        fig.add_annotation(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=f"{v:.4g}", showarrow=False,
                           font={"size": 11, "color": "#d62728"}, bgcolor="rgba(255,255,255,0.7)")  # fmt: skip
    used = [n for n in data.nodes if n in pos]
    fig.add_trace(go.Scatter(x=[pos[n][0] for n in used], y=[pos[n][1] for n in used],
                             mode="markers+text", text=[str(n) for n in used],
                             textposition="middle center", hoverinfo="text",
                             marker={"size": 26, "color": "#ffdd99",
                                     "line": {"width": 1, "color": "#555"}}))  # fmt: skip
    title = f"Network: {data.variable} (nonzero {'arcs' if data.kind == 'arcs' else 'routes'})"
    fig.update_layout(title=title, showlegend=False, height=420, margin={"t": 40, "b": 10},
                      xaxis={"visible": False}, yaxis={"visible": False},
                      plot_bgcolor="white")  # fmt: skip
    return fig


def gantt_figure(data: GanttData) -> go.Figure:
    """A Gantt chart of *data*: one horizontal bar per task, coloured by job."""
    import plotly.graph_objects as go

    fig = go.Figure()
    jobs = list(dict.fromkeys(t["job"] for t in data.tasks))
    resources = sorted({t["resource"] for t in data.tasks})
    by_job_rows = resources == ["machine"] or resources == ["schedule"]
    for job in jobs:
        tasks = [t for t in data.tasks if t["job"] == job]
        fig.add_trace(go.Bar(
            y=[job if by_job_rows else t["resource"] for t in tasks],
            x=[t["finish"] - t["start"] for t in tasks],
            base=[t["start"] for t in tasks],
            orientation="h", name=job, text=[job] * len(tasks), textposition="inside",
            hovertemplate="job %{text}: %{base:.4g} to %{x:.4g}+%{base:.4g}<extra></extra>",
        ))  # fmt: skip
    fig.update_layout(title=f"Schedule: {data.variable} + {data.duration}", barmode="overlay",
                      xaxis_title="time", yaxis_title="job" if by_job_rows else "machine",
                      height=120 + 40 * max(len(jobs), len(resources)), margin={"t": 40, "b": 30},
                      legend_title="job")  # fmt: skip
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def problem_figures(result: Result, model: Model | None = None) -> list[tuple[str, go.Figure]]:
    """The figures that fit *result*: ``[("gantt", fig)]``, ``[("network", fig)]``, both or none.

    Never raises: a failure in detection or drawing leaves that figure out.
    """
    out: list[tuple[str, go.Figure]] = []
    if not result.values or not result.termination.has_solution:
        return out
    exclude: set[str] = set()
    gantt = gantt_data(result, model)
    if gantt is not None:
        exclude.add(gantt.variable)
        with contextlib.suppress(Exception):  # never break the page over a plot
            out.append(("gantt", gantt_figure(gantt)))
    net = network_data(result, model, exclude=exclude)
    if net is not None:
        with contextlib.suppress(Exception):  # never break the page over a plot
            out.append(("network", network_figure(net)))
    return out
