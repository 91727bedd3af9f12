"""Exports of a run: CSV, Parquet, SFT JSONL and a standalone HTML report.

CSV and Parquet have one row per item with the flat columns of
:data:`workbench.runs.report.ROW_COLUMNS`.  The SFT export has one JSON line
per LLM call of the items judged correct.  The HTML report is one file with
plotly.js inlined, so it opens without a network.
"""

from __future__ import annotations

import csv
import html
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

from workbench.errors import WorkbenchError
from workbench.runs.report import (
    ROW_COLUMNS,
    item_label,
    item_rows,
    summarize,
)
from workbench.runs.store import RunStore

__all__ = [
    "EXPORT_FORMATS",
    "REPORT_EXTRA_HINT",
    "export_csv",
    "export_parquet",
    "export_run",
    "export_sft",
    "html_report",
    "sft_records",
    "write_html_report",
]

EXPORT_FORMATS = ("csv", "parquet", "sft")
"""The formats :func:`export_run` writes."""

REPORT_EXTRA_HINT = "pip install 'optimization-workbench[report]'"
"""How to install what Parquet export and the HTML report need."""

ExportFormat = Literal["csv", "parquet", "sft"]
Target = str | Path | IO[str] | None


@contextmanager
def _text_out(out: Target) -> Iterator[IO[str]]:
    """A text stream for *out*: a path (created), an open stream, or stdout for ``None``."""
    if out is None:
        yield sys.stdout
        return
    if not isinstance(out, str | Path):
        yield out
        return
    path = Path(out)
    try:
        f = path.open("w", encoding="utf-8", newline="")
    except OSError as e:
        raise WorkbenchError(f"cannot write {path}: {e.strerror or e}") from e
    with f:
        yield f


def _csv_value(x: Any) -> Any:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return repr(x)
    return x


def export_csv(store: RunStore, run_id: str, out: Target = None) -> int:
    """Write a run's items as CSV, one row per item.

    Parameters
    ----------
    store
        The run store.
    run_id
        A full run id.
    out
        A file path, an open text stream, or ``None`` for stdout.

    Returns
    -------
    int
        The number of rows written.

    Notes
    -----
    Columns are :data:`~workbench.runs.report.ROW_COLUMNS`; missing values
    are empty, booleans ``true``/``false`` and floats written exactly (``repr``).

    Raises
    ------
    WorkbenchError
        If *out* cannot be written.
    """
    rows = item_rows(store, run_id)
    with _text_out(out) as f:
        writer = csv.DictWriter(f, fieldnames=list(ROW_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: _csv_value(r[c]) for c in ROW_COLUMNS})
    return len(rows)


def export_parquet(store: RunStore, run_id: str, out: str | Path) -> int:
    """Write a run's items as a Parquet file (pandas + pyarrow), one row per item.

    Parameters
    ----------
    store
        The run store.
    run_id
        A full run id.
    out
        The file to write.

    Returns
    -------
    int
        The number of rows written.

    Raises
    ------
    WorkbenchError
        If pandas or pyarrow is missing (naming the extra to install), or
        *out* cannot be written.
    """
    try:
        import pandas as pd
        import pyarrow  # noqa: F401  # pandas' parquet engine
    except ImportError as e:
        raise WorkbenchError(
            f"Parquet export needs pandas and pyarrow ({e.name} is missing): {REPORT_EXTRA_HINT}"
        ) from e
    rows = item_rows(store, run_id)
    frame = pd.DataFrame([{c: r[c] for c in ROW_COLUMNS} for r in rows], columns=list(ROW_COLUMNS))
    for col in ("correct", "correct_rule"):
        frame[col] = frame[col].astype("boolean")
    for col in ("executed", "solved"):
        frame[col] = frame[col].astype(bool)
    for col in ("objective", "bound", "gap", "reference", "rel_error", "abs_error", "primal_gap",
                "elapsed", "solve_time"):  # fmt: skip
        frame[col] = frame[col].astype("float64")
    for col in ("run_id", "key", "item_id", "dataset", "backend", "agent", "status",
                "termination", "label", "rule", "solver", "error"):  # fmt: skip
        frame[col] = frame[col].astype("string")
    path = Path(out)
    try:
        frame.to_parquet(path, engine="pyarrow", index=False)
    except OSError as e:
        raise WorkbenchError(f"cannot write {path}: {e.strerror or e}") from e
    return len(rows)


def _messages(prompt: Any) -> list[dict[str, Any]]:
    """The chat messages a stored prompt holds (a list, a ``{"messages": [...]}`` or text)."""
    if isinstance(prompt, dict) and isinstance(prompt.get("messages"), list):
        prompt = prompt["messages"]
    if isinstance(prompt, list):
        return [m if isinstance(m, dict) else {"role": "user", "content": str(m)} for m in prompt]
    if prompt is None:
        return []
    return [{"role": "user", "content": prompt if isinstance(prompt, str) else json.dumps(prompt)}]


def sft_records(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    """Supervised fine-tuning records: one per LLM call of an item judged correct.

    An item is judged by the dataset's rule (``correct_rule``), or by the
    strict rule when the dataset names none.

    Returns
    -------
    list of dict
        ``{"messages": [...prompt messages..., {"role": "assistant",
        "content": response}], "meta": {...}}`` with ``run_id``, ``key``,
        ``item_id``, ``dataset``, ``backend``, ``agent``, ``attempt``,
        ``model``, ``prompt_tokens``, ``completion_tokens``, ``reference``
        and ``objective`` in ``meta``.
    """
    good = {}
    for r in item_rows(store, run_id):
        verdict = r["correct_rule"] if r["correct_rule"] is not None else r["correct"]
        if r["status"] == "done" and verdict:
            good[r["key"]] = r
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in store.llm_calls(run_id):
        if call["key"] in good:
            calls[call["key"]].append(call)
    out = []
    for key, r in good.items():
        for call in calls.get(key, []):
            messages = _messages(call["prompt"])
            messages.append({"role": "assistant", "content": call["response"]})
            meta = {
                "run_id": run_id, "key": key, "item_id": r["item_id"], "dataset": r["dataset"],
                "backend": r["backend"], "agent": r["agent"], "attempt": call["attempt"],
                "model": call["model"], "prompt_tokens": call["prompt_tokens"],
                "completion_tokens": call["completion_tokens"], "reference": r["reference"],
                "objective": r["objective"],
            }  # fmt: skip
            out.append({"messages": messages, "meta": meta})
    return out


def export_sft(store: RunStore, run_id: str, out: Target = None) -> int:
    """Write :func:`sft_records` as JSONL (one JSON object a line).

    Returns
    -------
    int
        The number of lines written.

    Raises
    ------
    WorkbenchError
        If *out* cannot be written.
    """
    records = sft_records(store, run_id)
    with _text_out(out) as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
    return len(records)


def export_run(store: RunStore, run_id: str, fmt: str, out: str | Path | None = None) -> int:
    """Export a run in *fmt* (``csv``, ``parquet`` or ``sft``); return the rows written.

    ``out=None`` writes CSV and SFT to stdout and Parquet to ``<run_id>.parquet``.

    Raises
    ------
    ValueError
        For an unknown format.
    WorkbenchError
        If the file cannot be written or Parquet support is missing.
    """
    if fmt == "csv":
        return export_csv(store, run_id, out)
    if fmt == "sft":
        return export_sft(store, run_id, out)
    if fmt == "parquet":
        return export_parquet(store, run_id, out if out is not None else f"{run_id}.parquet")
    raise ValueError(f"unknown export format {fmt!r}; use {', '.join(EXPORT_FORMATS)}")


# ------------------------------------------------------------------- HTML
def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as e:
        raise WorkbenchError(f"the HTML report needs plotly: {REPORT_EXTRA_HINT}") from e
    return str(get_plotlyjs())


def _js(obj: Any) -> str:
    """JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(obj, default=str, allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(ch, esc)
    return text


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _num(x: float | None, digits: int = 6) -> str:
    return "-" if x is None else f"{float(x):.{digits}g}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _finite(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if f == f and abs(f) != float("inf") else None


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:1.5em;margin-bottom:4px} h2{font-size:1.15em;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4;cursor:pointer} td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37} .bad{color:#cf222e} .dim{color:#888} .cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:1.3em} pre{background:#f6f8fa;padding:8px;overflow:auto}
.plot{width:100%;max-width:1100px;height:420px} .small{width:540px;height:320px;display:inline-block}
"""

_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function(th, i){
  th.addEventListener('click', function(){
    var tb = th.closest('table').tBodies[0], rows = Array.from(tb.rows);
    var asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
    rows.sort(function(a, b){
      var x = a.cells[i].dataset.v || a.cells[i].textContent,
          y = b.cells[i].dataset.v || b.cells[i].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function(r){ tb.appendChild(r); });
  });
});
"""


def _plot(
    div_id: str, data: list[dict[str, Any]], layout: dict[str, Any], cls: str = "plot"
) -> str:
    config = {"displaylogo": False, "responsive": True}
    return (
        f'<div id="{_e(div_id)}" class="{cls}"></div>\n'
        f"<script>Plotly.newPlot({_js(div_id)}, {_js(data)}, {_js(layout)}, {_js(config)});"
        "</script>\n"
    )


def _table(head: Sequence[str], body: Sequence[Sequence[str]], cls: str = "") -> str:
    """An HTML table; *head* is escaped here, *body* cells must be HTML already."""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    trs = "\n".join("<tr>" + "".join(row) + "</tr>" for row in body)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>\n{trs}\n</tbody></table>'


def _td(x: Any, *, num: bool = False, cls: str = "", sort: Any = None) -> str:
    classes = " ".join(c for c in ("n" if num else "", cls) if c)
    attr = f' class="{classes}"' if classes else ""
    if sort is not None:
        attr += f' data-v="{_e(sort)}"'
    return f"<td{attr}>{_e(x)}</td>"


def _verdict_cell(r: dict[str, Any]) -> str:
    verdict = r["correct_rule"] if r["correct_rule"] is not None else r["correct"]
    if r["status"] in ("error", "timeout", "crashed"):
        return _td("✗", cls="bad", sort=0)
    if verdict is None:
        return _td("-", cls="dim", sort=0.5)
    return _td("✓", cls="ok", sort=1) if verdict else _td("✗", cls="bad", sort=0)


def _stats_rows(groups: dict[Any, dict[str, Any]]) -> list[list[str]]:
    body = []
    for name, s in groups.items():
        label = " · ".join(name) if isinstance(name, tuple) else name
        body.append([
            _td(label), _td(s["total"], num=True), _td(s["failed"], num=True),
            _td(_pct(s["execution_rate"]), num=True), _td(s["solved"], num=True),
            _td(_pct(s["accuracy"]), num=True), _td(_pct(s["accuracy_rule"]), num=True),
            _td(_num(s["mean_primal_gap"], 4), num=True), _td(_num(s["time"]["median"], 4), num=True),
            _td(s["tokens"], num=True),
        ])  # fmt: skip
    return body


_STATS_HEAD = ("group", "items", "failed", "exec rate", "solved", "acc (strict)", "acc (rule)",
               "mean gap", "median time (s)", "tokens")  # fmt: skip


def html_report(store: RunStore, run_id: str, *, max_curves: int = 30) -> str:
    """A standalone HTML report of one run (plotly.js inlined; no network needed).

    Parameters
    ----------
    store
        The run store.
    run_id
        A full run id.
    max_curves
        At most this many items get an anytime-curve chart.

    Returns
    -------
    str
        The HTML document: run config and summary, results by backend and by
        dataset, pass rates, the time distribution by backend, anytime curves
        (primal and dual bound against time, one colour per backend) for
        items whose result has a history of more than one point, and the
        per-item outcomes table.  All text from the store is escaped.

    Raises
    ------
    KeyError
        If the run is unknown.
    WorkbenchError
        If plotly is not installed.
    """
    plotly_js = _plotly_js()
    rows = item_rows(store, run_id, with_result=True)
    s = summarize(store, run_id, rows=rows)
    run = s["run"]
    labels = sorted({item_label(r) for r in rows})
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf"]  # fmt: skip
    colour = {lab: palette[i % len(palette)] for i, lab in enumerate(labels)}
    parts: list[str] = []

    title = run["name"] or run["id"]
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["created"]))
    parts.append(f"<h1>Run {_e(title)}</h1>")
    parts.append(
        f'<p class="dim">id {_e(run["id"])} · suite {_e(run["suite"] or "-")} · pipeline '
        f"{_e(run['pipeline'])} · status {_e(run['status'])} · created {_e(created)} · host "
        f"{_e(run['host'] or '-')}</p>"
    )
    cards = [
        ("items", f"{s['finished']}/{s['total']}"),
        ("failed", str(s["failed"])),
        ("execution rate", _pct(s["execution_rate"])),
        ("solved", str(s["solved"])),
        ("accuracy (strict)", _pct(s["accuracy"])),
        ("accuracy (rule)", _pct(s["accuracy_rule"])),
        ("mean primal gap", _num(s["mean_primal_gap"], 4)),
        ("median time (s)", _num(s["time"]["median"], 4)),
        ("total time (s)", _num(s["time"]["total"], 5)),
        ("tokens / problem", _num(s["tokens_per_problem"], 5)),
    ]
    parts.append(
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards)
        + "</div>"
    )
    if run["config"]:
        parts.append("<h2>Configuration</h2>")
        parts.append(f"<pre>{_e(json.dumps(run['config'], indent=2, default=str))}</pre>")

    parts.append("<h2>By backend</h2>")
    parts.append(_table(_STATS_HEAD, _stats_rows(s["by_backend"])))
    if len(s["by_dataset"]) > 1:
        parts.append("<h2>By dataset</h2>")
        parts.append(_table(_STATS_HEAD, _stats_rows(s["by_dataset"])))

    # pass rate per dataset, one bar per backend
    parts.append("<h2>Pass rate</h2>")
    metric = "accuracy_rule" if s["has_refs"] else "execution_rate"
    if not s["has_refs"]:
        parts.append('<p class="dim">No references in this run: showing execution rate.</p>')
    datasets = sorted(s["by_dataset"])
    bars = []
    for lab in labels:
        ys = [s["by_dataset_backend"].get((d, lab), {}).get(metric) for d in datasets]
        bars.append({"type": "bar", "name": lab, "x": datasets, "y": ys,
                     "marker": {"color": colour[lab]}})  # fmt: skip
    parts.append(_plot("pass-rate", bars, {
        "barmode": "group", "yaxis": {"title": {"text": metric.replace("_", " ")},
                                      "range": [0, 1], "tickformat": ".0%"},
        "xaxis": {"title": {"text": "dataset"}}, "margin": {"t": 30},
    }))  # fmt: skip

    # time distribution
    parts.append("<h2>Time distribution</h2>")
    boxes = []
    for lab in labels:
        mine = [r for r in rows if item_label(r) == lab and _finite(r["elapsed"]) is not None]
        boxes.append({
            "type": "box", "name": lab, "y": [_finite(r["elapsed"]) for r in mine],
            "text": [r["item_id"] for r in mine], "boxpoints": "all", "jitter": 0.4,
            "pointpos": 0, "marker": {"color": colour[lab]},
            "hovertemplate": "%{text}: %{y:.3g} s<extra></extra>",
        })  # fmt: skip
    parts.append(_plot("time-dist", boxes, {
        "yaxis": {"title": {"text": "job time (s)"}, "type": "log"}, "showlegend": False,
        "margin": {"t": 30},
    }))  # fmt: skip

    # anytime curves
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        hist = (r.get("result") or {}).get("history") or []
        if len(hist) > 1:
            by_item[r["item_id"]].append(r)
    if by_item:
        parts.append("<h2>Anytime curves</h2>")
        parts.append(
            '<p class="dim">Primal (solid) and dual bound (dotted) against solve time.</p>'
        )
        items = sorted(by_item)
        for n, item in enumerate(items[:max_curves]):
            traces = []
            for r in by_item[item]:
                hist = r["result"]["history"]
                ts = [_finite(h[0]) for h in hist]
                lab = item_label(r)
                for idx, dash, what in ((1, "solid", "primal"), (2, "dot", "dual")):
                    ys = [_finite(h[idx]) if len(h) > idx else None for h in hist]
                    if all(y is None for y in ys):
                        continue
                    traces.append({
                        "type": "scatter", "mode": "lines+markers", "name": f"{lab} {what}",
                        "x": ts, "y": ys, "line": {"shape": "hv", "dash": dash,
                                                   "color": colour[lab]},
                        "legendgroup": lab,
                    })  # fmt: skip
            ref = next((r["reference"] for r in by_item[item] if r["reference"] is not None), None)
            layout: dict[str, Any] = {
                "title": {"text": item}, "xaxis": {"title": {"text": "time (s)"}},
                "margin": {"t": 40, "l": 50, "r": 10, "b": 40}, "legend": {"font": {"size": 10}},
            }  # fmt: skip
            if ref is not None:
                layout["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1,
                                     "y0": ref, "y1": ref, "line": {"color": "#888", "width": 1}}]  # fmt: skip
            parts.append(_plot(f"curve-{n}", traces, layout, cls="small"))
        if len(items) > max_curves:
            parts.append(f'<p class="dim">{len(items) - max_curves} more items with a history '
                         "are not drawn.</p>")  # fmt: skip

    # per-item table
    parts.append("<h2>Items</h2>")
    head = ("item", "backend/agent", "status", "termination", "objective", "reference", "ok",
            "rel error", "primal gap", "time (s)", "tokens", "error")  # fmt: skip
    body = []
    for r in rows:
        st_cls = "bad" if r["status"] in ("error", "timeout", "crashed") else ""
        body.append([
            _td(r["key"] if len(labels) > 1 and not r["item_id"] else r["item_id"]),
            _td(item_label(r)), _td(r["status"], cls=st_cls), _td(r["termination"] or "-"),
            _td(_num(r["objective"], 10), num=True, sort=r["objective"]),
            _td(_num(r["reference"], 10), num=True, sort=r["reference"]),
            _verdict_cell(r),
            _td(_num(r["rel_error"], 3), num=True, sort=r["rel_error"]),
            _td(_num(r["primal_gap"], 3), num=True, sort=r["primal_gap"]),
            _td(_num(r["elapsed"], 4), num=True, sort=r["elapsed"]),
            _td(r["tokens"], num=True),
            _td(" ".join((r["error"] or "").split())[:300], cls="bad"),
        ])  # fmt: skip
    parts.append(_table(head, body, cls="sortable"))
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    parts.append(f'<p class="dim">Generated by Optimization Workbench on {_e(generated)}.</p>')

    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e('Run ' + title)}</title>\n<style>{_CSS}</style>\n"
        f"<script>{plotly_js}</script>\n</head>\n<body>\n"
        + "\n".join(parts)
        + f"\n<script>{_SORT_JS}</script>\n</body>\n</html>\n"
    )


def write_html_report(
    store: RunStore, run_id: str, path: str | Path, *, max_curves: int = 30
) -> Path:
    """Write :func:`html_report` to *path*; return the path.

    Raises
    ------
    WorkbenchError
        If the file cannot be written or plotly is missing.
    """
    text = html_report(store, run_id, max_curves=max_curves)
    target = Path(path)
    with _text_out(target) as f:
        f.write(text)
    return target
