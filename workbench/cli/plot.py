"""``workbench solve --plot FILE.html``: the anytime curve as a standalone plotly page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.result import Result

__all__ = ["write_anytime_plot"]


def write_anytime_plot(result: Result, path: Path) -> Path:
    """Write ``result.history`` (seconds vs primal and dual bound) to *path* as HTML.

    The page is self-contained (plotly.js is embedded), so it opens offline.
    A history with one point, or none, still gives a page (a single marker,
    or the final objective at the total time).

    Raises
    ------
    WorkbenchError
        If plotly is not installed.
    """
    try:
        import plotly.graph_objects as go
    except ImportError as e:
        raise WorkbenchError("--plot needs plotly: pip install plotly (or the 'app' extra)") from e
    history = list(result.history)
    if not history and result.objective is not None:
        history = [(result.timings.total, result.objective, result.bound)]
    ts = [h[0] for h in history]
    primal = [h[1] for h in history]
    dual = [h[2] for h in history]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ts, y=primal, mode="lines+markers", name="primal (incumbent)",
                             line_shape="hv"))  # fmt: skip
    if any(d is not None for d in dual):
        fig.add_trace(go.Scatter(x=ts, y=dual, mode="lines+markers", name="dual (bound)",
                                 line_shape="hv"))  # fmt: skip
    title = (f"Anytime curve: {result.backend or 'backend'}, {result.termination.value}, "
             f"objective {result.objective if result.objective is not None else '-'}")  # fmt: skip
    fig.update_layout(title=title, xaxis_title="seconds", yaxis_title="objective")
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path
