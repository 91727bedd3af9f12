"""``workbench runs``: list, show, compare, export and report runs from the run store.

The numbers come from :mod:`workbench.runs.report` and the files from
:mod:`workbench.runs.export`; this module only renders them.  Errors (an
unknown run or item, an unwritable file, an unknown format) become one
``error:`` line and exit status 2, through the root command group.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from workbench.cli.output import err_console, fmt, out_console
from workbench.errors import WorkbenchError
from workbench.runs import report as rep
from workbench.runs.store import RunStore, default_store_path, store_is_empty

__all__ = ["runs_app"]

runs_app = typer.Typer(
    help="Runs in the run store: list, show, compare, export and report.",
    no_args_is_help=True,
)

StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="The run store (SQLite); default $WORKBENCH_HOME/runs.db or ~/.workbench/runs.db.",
    ),
]
RunArg = Annotated[str, typer.Argument(metavar="RUN", help="Run id, unique prefix, or 'last'.")]

_FAILED_STYLE = "bold red"


@contextmanager
def _open(path: Path | None) -> Iterator[RunStore]:
    """Open the store read-only; turn unknown ids and broken files into WorkbenchErrors."""
    target = Path(path).expanduser() if path is not None else default_store_path()
    if not target.is_file():
        raise WorkbenchError(
            f"no run store at {target}; run a batch first, or pass --store PATH "
            "(or set WORKBENCH_HOME)"
        )
    try:
        store = RunStore(target, readonly=True)
    except sqlite3.Error as e:
        raise WorkbenchError(f"cannot open the run store {target}: {e}") from e
    try:
        yield store
    except KeyError as e:
        raise WorkbenchError(str(e.args[0]) if e.args else "not found") from None
    except sqlite3.DatabaseError as e:
        raise WorkbenchError(f"{target} is not a readable run store: {e}") from e
    finally:
        store.close()


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _when(t: float | None, *, short: bool = False) -> str:
    form = "%m-%d %H:%M" if short else "%Y-%m-%d %H:%M"
    return "-" if t is None else time.strftime(form, time.localtime(t))


def _short(text: str | None, n: int = 60) -> str:
    one = " ".join((text or "").split())
    return one if len(one) <= n else one[: n - 1] + "…"


def _status_text(status: str) -> Text:
    style = {"done": "green", "running": "cyan", "pending": "dim"}.get(status, _FAILED_STYLE)
    return Text(status, style=style)


def _verdict(row: dict[str, Any]) -> Text:
    if row["status"] in rep.FAILED_STATUSES:
        return Text("✗", style=_FAILED_STYLE)
    verdict = row["correct_rule"] if row["correct_rule"] is not None else row["correct"]
    if verdict is None:
        return Text("-", style="dim")
    return Text("✓", style="green") if verdict else Text("✗", style=_FAILED_STYLE)


def _outcome(row: dict[str, Any]) -> Text:
    """The termination of a finished item, else its (failed or pending) status."""
    if row["status"] == "done":
        return Text(row["termination"] or "-")
    return _status_text(row["status"])


def _err_or_gap(row: dict[str, Any]) -> str:
    if row["rel_error"] is not None:
        return f"{row['rel_error']:.2g}"
    if row["primal_gap"] is not None:
        return f"gap {row['primal_gap']:.2g}"
    return "-"


def _fitted_table(
    title: str,
    columns: list[tuple[str, str, int | None]],
    rows: list[list[Any]],
    *,
    width: int,
    flexible: frozenset[str] = frozenset(),
) -> Table:
    """A table whose columns fit *width*: optional columns are dropped until it does.

    *columns* are ``(header, justify, drop_rank)``; a column with a rank is
    optional and the highest rank goes first.  Other columns never wrap, so
    ids stay whole and copyable; *flexible* columns wrap (or are cut) instead.
    """

    def natural(k: int) -> int:
        cells = [len(str(row[k])) for row in rows]
        w = max([len(columns[k][0]), *cells])
        return min(w, 12) if columns[k][0] in flexible else w

    keep = list(range(len(columns)))
    optional = sorted((c[2], k) for k, c in enumerate(columns) if c[2] is not None)
    while optional and sum(natural(k) + 3 for k in keep) + 1 > width:
        keep.remove(optional.pop()[1])
    table = Table(title=title, title_justify="left")
    for k in keep:
        name, justify, _ = columns[k]
        if name in flexible:
            table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
        else:
            table.add_column(name, justify=justify, no_wrap=True, min_width=natural(k))  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(row[k] for k in keep))
    return table


# ---------------------------------------------------------------------- list
@runs_app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most N runs.", min=1)] = 20,
    store: StoreOpt = None,
) -> None:
    """List recent runs, newest first, with their headline numbers."""
    console = out_console()
    target = Path(store).expanduser() if store is not None else default_store_path()
    if store_is_empty(target):
        where = "no run store" if not target.is_file() else "an empty run store"
        console.print(f"no runs yet ({where} at {target}; `workbench bench` starts one)")
        return
    with _open(store) as st:
        runs = rep.list_runs(st, limit=limit)
    if not runs:
        console.print("no runs yet")
        return
    show_suite = any(r["suite"] for r in runs)
    show_pipeline = any(r["pipeline"] != "solve" for r in runs)
    show_tokens = any(r["tokens"] for r in runs)
    cols: list[tuple[str, str, int | None]] = [
        ("id", "left", None), ("name", "left", 3), ("suite", "left", 6), ("pipeline", "left", 7),
        ("status", "left", None), ("created", "left", 8), ("done", "right", None),
        ("errors", "right", None), ("acc strict", "right", 4), ("acc rule", "right", None),
        ("median s", "right", 5), ("tokens", "right", 2),
    ]  # fmt: skip
    shown = {"suite": show_suite, "pipeline": show_pipeline, "tokens": show_tokens}
    cols = [c for c in cols if shown.get(c[0], True)]
    rows = []
    for r in runs:
        errors = Text(str(r["failed"]), style=_FAILED_STYLE if r["failed"] else "")
        cells: dict[str, Any] = {
            "id": r["id"], "name": Text(r["name"] or "-"), "suite": Text(r["suite"] or "-"),
            "pipeline": r["pipeline"], "status": _status_text(r["status"]),
            "created": _when(r["created"], short=True), "done": f"{r['finished']}/{r['total']}",
            "errors": errors, "acc strict": _pct(r["accuracy"]),
            "acc rule": _pct(r["accuracy_rule"]), "median s": _secs(r["median_time"]),
            "tokens": str(r["tokens"]),
        }  # fmt: skip
        rows.append([cells[c[0]] for c in cols])
    table = _fitted_table(
        f"runs ({len(runs)})",
        cols,
        rows,
        width=console.width,
        flexible=frozenset({"name", "suite"}),
    )
    console.print(table)


# ---------------------------------------------------------------------- show
def _print_summary(console: Console, s: dict[str, Any]) -> None:
    run = s["run"]
    console.print(Text(f"run {run['id']}" + (f"  {run['name']}" if run["name"] else ""),
                       style="bold"))  # fmt: skip
    console.print(
        Text(
            f"suite {run['suite'] or '-'}   pipeline {run['pipeline']}   status {run['status']}   "
            f"created {_when(run['created'])}   host {run['host'] or '-'}"
        ),
        soft_wrap=True,
    )
    if run["config"]:
        console.print(Text("config " + json.dumps(run["config"], default=str)), soft_wrap=True)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(s["counts"].items()))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("items", f"{s['total']} ({counts or 'none'})")
    grid.add_row("execution rate", f"{_pct(s['execution_rate'])} ({s['executed']}/{s['total']})")
    grid.add_row("solved", str(s["solved"]))
    if s["scored"]:
        grid.add_row("accuracy strict", f"{_pct(s['accuracy'])} ({s['correct']}/{s['scored']})")
        grid.add_row(
            "accuracy rule", f"{_pct(s['accuracy_rule'])} ({s['correct_rule']}/{s['scored']})"
        )
    else:
        grid.add_row("accuracy", "- (no references)")
    if s["gap_items"]:
        grid.add_row("mean primal gap", f"{s['mean_primal_gap']:.4g} ({s['gap_items']} items)")
    t = s["time"]
    grid.add_row(
        "time (s)",
        f"median {_secs(t['median'])}, mean {_secs(t['mean'])}, max {_secs(t['max'])}, "
        f"total {_secs(t['total'])}",
    )
    per = s["tokens_per_problem"]
    grid.add_row(
        "tokens",
        f"{s['tokens']} total, {fmt(per, 4)} per problem, {s['llm_calls']} LLM calls",
    )
    console.print(grid)
    if len(s["by_backend"]) > 1:
        table = Table(title="by backend/agent", title_justify="left")
        for col in ("backend/agent", "items", "failed", "exec", "acc strict", "acc rule",
                    "mean gap", "median s", "tokens"):  # fmt: skip
            table.add_column(col, justify="left" if col == "backend/agent" else "right")
        for name, g in s["by_backend"].items():
            table.add_row(
                Text(name), str(g["total"]), str(g["failed"]), _pct(g["execution_rate"]),
                _pct(g["accuracy"]), _pct(g["accuracy_rule"]), fmt(g["mean_primal_gap"], 4),
                _secs(g["time"]["median"]), str(g["tokens"]),
            )  # fmt: skip
        console.print(table)


def _item_table(rows: list[dict[str, Any]], title: str, width: int) -> Table:
    """Items as a table; columns that carry nothing in *rows* (tokens, errors) are left out."""
    show_tokens = any(r["tokens"] for r in rows)
    show_errors = any(r["error"] for r in rows)
    cols: list[tuple[str, str, int | None]] = [
        ("item", "left", None), ("backend", "left", 5), ("outcome", "left", None),
        ("objective", "right", None), ("reference", "right", 3), ("ok", "center", None),
        ("err/gap", "right", 4), ("time s", "right", 6), ("tokens", "right", 2),
        ("error", "left", 1),
    ]  # fmt: skip
    shown = {"tokens": show_tokens, "error": show_errors}
    keep = [k for k, c in enumerate(cols) if shown.get(c[0], True)]
    body = []
    for r in rows:
        cells: list[Any] = [
            Text(r["item_id"]), Text(rep.item_label(r)), _outcome(r), fmt(r["objective"], 8),
            fmt(r["reference"], 8), _verdict(r), _err_or_gap(r), _secs(r["elapsed"]),
            str(r["tokens"]), Text(_short(r["error"], 60), style="red"),
        ]  # fmt: skip
        body.append([cells[k] for k in keep])
    return _fitted_table(
        title, [cols[k] for k in keep], body, width=width, flexible=frozenset({"error"})
    )


def _print_item(console: Console, d: dict[str, Any]) -> None:
    r = d["row"]
    console.print(Text(f"item {r['key']}", style="bold"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in (
        ("dataset", r["dataset"] or "-"), ("backend/agent", rep.item_label(r)),
        ("status", r["status"]), ("tries", str(r["tries"])), ("termination", r["termination"] or "-"),
        ("objective", fmt(r["objective"])), ("bound", fmt(r["bound"])), ("gap", fmt(r["gap"], 4)),
        ("reference", fmt(r["reference"])), ("label", r["label"] or "-"),
        ("correct", "-" if r["correct"] is None else str(r["correct"])),
        ("correct (rule)", "-" if r["correct_rule"] is None else str(r["correct_rule"])),
        ("rel error", fmt(r["rel_error"], 4)), ("primal gap", fmt(r["primal_gap"], 4)),
        ("time (s)", _secs(r["elapsed"])), ("solve time (s)", _secs(r["solve_time"])),
        ("tokens", str(r["tokens"])), ("solver", r["solver"] or "-"),
    ):  # fmt: skip
        grid.add_row(name, Text(value))
    if r["error"]:
        grid.add_row("error", Text(r["error"], style="red"))
    console.print(grid)
    console.print(Text("job " + json.dumps(d["job"], default=str), style="dim"), soft_wrap=True)
    res = d["result"]
    if res:
        shown = {k: v for k, v in res.items() if k not in ("values", "duals", "history")}
        console.print(Text("result", style="bold"))
        console.print(Text(json.dumps(shown, default=str, indent=1)), soft_wrap=True)
        for what in ("values", "duals"):
            vals = res.get(what) or {}
            if vals:
                text = json.dumps(vals, default=str)
                console.print(Text(f"{what} ({len(vals)} entries): {_short(text, 400)}"),
                              soft_wrap=True)  # fmt: skip
        hist = res.get("history") or []
        if hist:
            console.print(Text(f"history ({len(hist)} points): {_short(json.dumps(hist), 400)}"),
                          soft_wrap=True)  # fmt: skip
    if d["attempts"]:
        table = Table(title=f"attempts ({len(d['attempts'])})", title_justify="left")
        for col in ("#", "status", "error", "feedback", "time s"):
            table.add_column(col, overflow="fold")
        for a in d["attempts"]:
            table.add_row(str(a["idx"]), a["status"] or "-", Text(_short(a["error"], 200)),
                          Text(_short(a["feedback"], 200)), _secs(a["elapsed"]))  # fmt: skip
        console.print(table)
    for k, call in enumerate(d["llm_calls"]):
        console.print(
            Text(
                f"LLM call {k + 1}: attempt {call['attempt']}, model {call['model'] or '-'}, "
                f"{call['prompt_tokens']}+{call['completion_tokens']} tokens, "
                f"{call['latency']:.2f} s",
                style="bold",
            )
        )
        prompt = call["prompt"]
        messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        for m in messages:
            role = m.get("role", "?") if isinstance(m, dict) else "?"
            content = m.get("content", "") if isinstance(m, dict) else m
            console.print(Text(f"  {role}: {_short(str(content), 300)}"), soft_wrap=True)
        console.print(Text(f"  assistant: {_short(call['response'], 500)}"), soft_wrap=True)
    for a in d["artifacts"]:
        console.print(Text(f"artifact {a['name']} ({a['kind']})", style="bold"))
        content = str(a["content"] or "")
        if len(content) > 8000:
            content = content[:8000] + f"\n… ({len(content) - 8000} more characters)"
        console.print(Text(content), soft_wrap=True)


@runs_app.command()
def show(
    run: RunArg,
    item: Annotated[
        str | None, typer.Option("--item", help="Show one item whole (key or item id).")
    ] = None,
    failed: Annotated[
        bool,
        typer.Option("--failed", help="Only items that failed, did not execute or are wrong."),
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="At most N item rows (0: all).", min=0)
    ] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print the data as JSON.")] = False,
    store: StoreOpt = None,
) -> None:
    """Show a run: its configuration, summary numbers and items (or one item whole)."""
    console = out_console()
    with _open(store) as st:
        rid = rep.resolve_run(st, run)
        if item is not None:
            detail = rep.item_detail(st, rid, item)
            if as_json:
                typer.echo(json.dumps(detail, default=str, indent=1))
            else:
                _print_item(console, detail)
            return
        rows = rep.item_rows(st, rid)
        summary = rep.summarize(st, rid, rows=rows)
    shown = [r for r in rows if rep.is_failed_row(r)] if failed else rows
    if as_json:
        summary["by_dataset_backend"] = {
            " · ".join(k): v for k, v in summary["by_dataset_backend"].items()
        }
        typer.echo(json.dumps({"summary": summary, "items": shown}, default=str, indent=1))
        return
    _print_summary(console, summary)
    what = "failed items" if failed else "items"
    cut = shown[:limit] if limit else shown
    console.print(_item_table(cut, f"{what} ({len(shown)})", console.width))
    _print_error_groups(console, shown)
    if len(cut) < len(shown):
        console.print(Text(f"… {len(shown) - len(cut)} more; use --limit 0 for all", style="dim"))


def _print_error_groups(console: Console, rows: list[dict[str, Any]]) -> None:
    """Each distinct error once, with how many items had it and which."""
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r["error"]:
            groups.setdefault(" ".join(r["error"].split()), []).append(r["key"])
    for message, keys in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(keys[:5]) + (f", … {len(keys) - 5} more" if len(keys) > 5 else "")
        console.print(
            Text(f"{len(keys)} × {_short(message, 300)}", style="red"),
            Text(f"  ({shown})", style="dim"),
            soft_wrap=True,
        )


# ------------------------------------------------------------------- compare
def _metric(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name.startswith("accuracy"):
        return _pct(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def _delta(name: str, value: Any) -> Text:
    if value is None:
        return Text("-")
    if name.startswith("accuracy"):
        text = f"{100 * value:+.1f} pp"
    elif isinstance(value, int):
        text = f"{value:+d}"
    else:
        text = f"{value:+.4g}"
    better_up = name in ("accuracy", "accuracy_rule", "solved", "executed")
    good = value > 0 if better_up else value < 0
    return Text(text, style="" if value == 0 else ("green" if good else "red"))


@runs_app.command()
def compare(
    run_a: Annotated[str, typer.Argument(metavar="RUN_A")],
    run_b: Annotated[str, typer.Argument(metavar="RUN_B")],
    match: Annotated[
        str,
        typer.Option(
            "--match",
            help="Pair items by 'key' (item, backend, agent), by 'item' id alone, or 'auto' "
            "(key when the runs share any, else item).",
        ),
    ] = "auto",
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="At most N item rows (0: all).", min=0)
    ] = 200,
    store: StoreOpt = None,
) -> None:
    """Compare two runs on the items both have: summary deltas (B - A), wins and losses."""
    if match not in ("auto", "key", "item"):
        raise ValueError(f"unknown --match {match!r}; use auto, key or item")
    with _open(store) as st:
        a, b = rep.resolve_run(st, run_a), rep.resolve_run(st, run_b)
        c = rep.compare(st, a, b, match=match)  # type: ignore[arg-type]
    console = out_console()
    console.print(Text(f"A {a}  {c['a']['name']}".rstrip(), style="bold"))
    console.print(Text(f"B {b}  {c['b']['name']}".rstrip(), style="bold"))
    console.print(
        f"{len(c['pairs'])} items in common (matched by {c['match']}); "
        f"{c['only_a']} only in A, {c['only_b']} only in B"
    )
    table = Table(title="summary on common items", title_justify="left")
    for col in ("metric", "A", "B", "B - A"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, m in c["metrics"].items():
        table.add_row(
            name.replace("_", " "), _metric(name, m["a"]), _metric(name, m["b"]),
            _delta(name, m["delta"]),
        )  # fmt: skip
    console.print(table)
    w = c["wins"]
    console.print(f"wins: A {w['a']}, B {w['b']}, ties {w['ties']}")
    pairs = c["pairs"][:limit] if limit else c["pairs"]
    label_pairs = {(rep.item_label(p["a"]), rep.item_label(p["b"])) for p in pairs}
    show_backend = len(label_pairs) > 1
    title = "items"
    if not show_backend and label_pairs:
        la, lb = next(iter(label_pairs))
        title = f"items ({la})" if la == lb else f"items (A {la}, B {lb})"
    cols: list[tuple[str, str, int | None]] = [
        ("item", "left", None), ("backend", "left", None), ("A", "left", None),
        ("A obj", "right", 3), ("ok", "center", None), ("A s", "right", 2), ("B", "left", None),
        ("B obj", "right", 3), ("ok", "center", None), ("B s", "right", 2),
        ("better", "left", None),
    ]  # fmt: skip
    keep = [k for k in range(len(cols)) if k != 1 or show_backend]
    body = []
    for p in pairs:
        ra, rb = p["a"], p["b"]
        la, lb = rep.item_label(ra), rep.item_label(rb)
        winner = {"a": "A", "b": "B", "tie": "tie"}[p["winner"]]
        cells: list[Any] = [
            Text(ra["item_id"]), Text(la if la == lb else f"{la} | {lb}"),
            _outcome(ra), fmt(ra["objective"], 8), _verdict(ra), _secs(ra["elapsed"]),
            _outcome(rb), fmt(rb["objective"], 8), _verdict(rb), _secs(rb["elapsed"]),
            Text("tie", style="dim") if winner == "tie" else Text(f"{winner} ({p['why']})"),
        ]  # fmt: skip
        body.append([cells[k] for k in keep])
    items = _fitted_table(title, [cols[k] for k in keep], body, width=console.width)
    console.print(items)
    if len(pairs) < len(c["pairs"]):
        console.print(Text(f"… {len(c['pairs']) - len(pairs)} more; use --limit 0", style="dim"))


# -------------------------------------------------------------------- export
@runs_app.command()
def export(
    run: RunArg,
    format_: Annotated[
        str, typer.Option("--format", "-f", help="csv, parquet or sft (JSONL of LLM calls).")
    ] = "csv",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="The file; default stdout (csv, sft) or RUN.parquet (parquet)."
        ),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Export a run: one row per item (csv, parquet) or one JSON line per LLM call (sft)."""
    from workbench.runs.export import EXPORT_FORMATS, export_run

    if format_ not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {format_!r}; use {', '.join(EXPORT_FORMATS)}")
    with _open(store) as st:
        rid = rep.resolve_run(st, run)
        if format_ == "parquet" and out is None:
            out = Path(f"{rid}.parquet")
        n = export_run(st, rid, format_, out)
    if out is not None:
        unit = "lines" if format_ == "sft" else "rows"
        out_console().print(f"wrote {n} {unit} to {out}")
    elif n == 0:
        err_console().print(Text(f"nothing to export ({format_})", style="yellow"))


# -------------------------------------------------------------------- report
@runs_app.command()
def report(
    run: RunArg,
    html: Annotated[
        Path | None, typer.Option("--html", help="The HTML file; default RUN.html.")
    ] = None,
    max_curves: Annotated[
        int, typer.Option("--max-curves", help="At most N anytime-curve charts.", min=0)
    ] = 30,
    store: StoreOpt = None,
) -> None:
    """Write a standalone HTML report of a run (plotly inlined; opens offline)."""
    from workbench.runs.export import write_html_report

    with _open(store) as st:
        rid = rep.resolve_run(st, run)
        path = write_html_report(st, rid, html or Path(f"{rid}.html"), max_curves=max_curves)
    size = path.stat().st_size / 1e6
    out_console().print(f"wrote {path} ({size:.1f} MB)")
