"""``workbench bench``: run a suite of problems through a pipeline as one recorded batch.

A suite names a dataset of the ``workbench.datasets`` registry; every
(problem, backend, agent) becomes one job, run by the ``local`` or ``ray``
executor and recorded item by item in the run store (one transaction per
item), so a killed or interrupted batch resumes with ``--resume RUN_ID``.
Progress goes to stderr; the summary (or ``--json``) to stdout.  Exit
status: 0 when the batch ran (failed items included), 2 for bad input, 130
when interrupted with Ctrl-C.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from workbench.cli.output import err_console, fmt, out_console
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.datasets import Problem
    from workbench.runs.batch import Executor
    from workbench.runs.jobs import Job
    from workbench.runs.store import Outcome, RunStore

__all__ = ["SUITES", "bench", "summarize"]

SUITES: dict[str, str | None] = {
    "catalog": "catalog",
    "mip": "mip",
    "robust": "robust",
    "nlp": "nlp",
    "bilevel": "bilevel",
    "bcd": "bcd",
    "nl": None,  # the dataset named by --dataset
}
"""Suite name -> dataset name (``None``: ``--dataset`` says which)."""

SOLVED = frozenset(
    {"optimal", "locally_optimal", "feasible", "infeasible", "unbounded", "infeasible_or_unbounded"}
)
"""Terminations that count as an answer."""

EXIT_INTERRUPTED = 130


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _check_names(kind: str, wanted: Sequence[str], known: Sequence[str], extra: str = "") -> None:
    for name in wanted:
        if name not in known and name != extra:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            listed = ", ".join(known) or "none"
            raise WorkbenchError(f"unknown {kind} {name!r}{hint}; registered: {listed}")


def _dataset_name(suite: str, dataset: str | None) -> str:
    if suite not in SUITES:
        raise WorkbenchError(f"unknown suite {suite!r}; use one of {', '.join(SUITES)}")
    name = dataset or SUITES[suite]
    if name is None:
        raise WorkbenchError(f"the {suite!r} suite needs --dataset NAME")
    from workbench.datasets import dataset_names

    known = dataset_names()
    if name not in known:
        raise WorkbenchError(
            f"suite {suite!r} needs the dataset {name!r}, which is not registered "
            f"(it comes with a later release or a plug-in); registered datasets: "
            f"{', '.join(known) or 'none'}"
        )
    return name


def _problems(name: str, args: dict[str, Any], ids: list[str], limit: int | None) -> list[Problem]:
    from workbench.datasets import get_dataset

    try:
        problems = get_dataset(name, **args)
    except TypeError as e:
        raise WorkbenchError(f"dataset {name!r} does not take {sorted(args)}: {e}") from e
    if ids:
        by_id = {p.id: p for p in problems}
        missing = [i for i in ids if i not in by_id]
        if missing:
            close = difflib.get_close_matches(missing[0], list(by_id), n=3)
            hint = f"; close: {', '.join(close)}" if close else ""
            raise WorkbenchError(f"dataset {name!r} has no item {missing[0]!r}{hint}")
        problems = [by_id[i] for i in ids]
    if limit is not None:
        problems = problems[:limit]
    if not problems:
        raise WorkbenchError(f"dataset {name!r} gave no problems to run")
    return problems


def _executor(name: str, workers: int) -> Executor:
    from workbench.runs.batch import make_executor

    if name == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise WorkbenchError(
                "the ray executor needs Ray: pip install 'optimization-workbench[ray]'"
            )
    elif name != "local":
        raise WorkbenchError(f"unknown executor {name!r}; use 'local' or 'ray'")
    return make_executor(name, workers)


def summarize(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (backend, agent) counts of a run's items, plus a ``total`` row.

    Parameters
    ----------
    items
        ``RunStore.items(run_id)``.

    Returns
    -------
    list of dict
        Rows with ``backend``, ``agent``, ``items``, ``done``, ``solved``,
        ``correct``, ``errors``, ``crashed``, ``timeouts``, ``pending`` and
        ``time`` (seconds inside the workers).
    """
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    total: dict[str, Any] = {"backend": "total", "agent": ""}
    for it in items:
        keyed = (it.get("backend") or "", it.get("agent") or "")
        for row in (groups.setdefault(keyed, {"backend": keyed[0], "agent": keyed[1]}), total):
            for f in (
                "items",
                "done",
                "solved",
                "correct",
                "errors",
                "crashed",
                "timeouts",
                "pending",
            ):
                row.setdefault(f, 0)
            row.setdefault("time", 0.0)
            status, term = it["status"], it.get("termination")
            row["items"] += 1
            row["done"] += status == "done"
            row["solved"] += status == "done" and term in SOLVED
            row["correct"] += bool(it.get("correct"))
            row["errors"] += status == "error" or (status == "done" and term == "error")
            row["crashed"] += status == "crashed"
            row["timeouts"] += status == "timeout"
            row["pending"] += status in ("pending", "running")
            row["time"] += float(it.get("elapsed") or 0.0)
    rows = list(groups.values())
    return [*rows, total] if len(rows) > 1 else rows or [total]


def _summary_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("backend", "agent"):
        table.add_column(col, style="bold")
    for col in (
        "items",
        "solved",
        "correct",
        "errors",
        "crashed",
        "timeouts",
        "pending",
        "time (s)",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        acc = f"{r['correct']} ({r['correct'] / r['items']:.0%})" if r["items"] else "0"
        table.add_row(
            r["backend"] or "-", r["agent"] or "-", str(r["items"]), str(r["solved"]), acc,
            Text(str(r["errors"]), style="red" if r["errors"] else ""),
            Text(str(r["crashed"]), style="red" if r["crashed"] else ""),
            Text(str(r["timeouts"]), style="yellow" if r["timeouts"] else ""),
            str(r["pending"]), fmt(r["time"], 4),
        )  # fmt: skip
    return table


class _Progress:
    """A rich progress bar on stderr: done/failed/running counts and an ETA."""

    def __init__(self, total: int, label: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.done = self.failed = self.running = 0
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=err_console(), transient=False,
        )  # fmt: skip
        self.task = self.progress.add_task(label, total=total, counts=self._counts())

    def _counts(self) -> str:
        return f"done {self.done}  failed {self.failed}  running {self.running}"

    def start(self, job: Job) -> None:
        self.running += 1
        self.progress.update(self.task, counts=self._counts())

    def finish(self, out: Outcome) -> None:
        self.running = max(0, self.running - 1)
        ok = out.status == "done" and (out.result or {}).get("termination") != "error"
        self.done += ok
        self.failed += not ok
        self.progress.update(self.task, advance=1, counts=self._counts())


def _resume_hint(rid: str, store: Path | None) -> str:
    extra = f" --store {store}" if store is not None else ""
    return f"workbench bench --resume {rid}{extra}"


def _execute(
    store: RunStore, rid: str, executor: Executor, total: int, label: str, store_arg: Path | None
) -> tuple[str, float]:
    """Run (or resume) run *rid* with a progress bar; return its final status and the wall time."""
    from workbench.runs.batch import run_batch

    bar = _Progress(total, label)
    t0 = time.perf_counter()
    try:
        with bar.progress:
            run_batch(store, resume=rid, executor=executor, on_start=bar.start, on_done=bar.finish)
    except KeyboardInterrupt:
        if store.conn.in_transaction:  # interrupted inside a write: that item is not recorded
            store.conn.execute("ROLLBACK")
        store.finish_run(rid, "interrupted")
        prog = store.progress(rid)
        err_console().print(
            Text(
                f"interrupted: {prog.get('done', 0)} of {prog['total']} items of run {rid} are done; "
                f"resume with: {_resume_hint(rid, store_arg)}",
                style="yellow",
            ),
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    return "done", time.perf_counter() - t0


def bench(
    suite: Annotated[
        str | None, typer.Option(help=f"What to run: {', '.join(SUITES)}.", show_default=False)
    ] = None,
    path: Annotated[
        Path | None, typer.Option(help="Where the suite's files are (the mip suite).")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Dataset name (the nl suite; overrides the suite's).")
    ] = None,
    backend: Annotated[str, typer.Option(help="Backends, comma-separated, or 'auto'.")] = "auto",
    agent: Annotated[
        str | None, typer.Option(help="Agents, comma-separated (formulate pipeline).")
    ] = None,
    pipeline: Annotated[
        str | None,
        typer.Option(help="solve (reference models) or formulate (text -> agent); by suite."),
    ] = None,
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", min=0, help="Solver seconds per job.")
    ] = None,
    job_timeout: Annotated[
        float | None,
        typer.Option(
            "--job-timeout", min=0.1, help="Wall-clock kill per job (s); default 2*limit+30."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Parallel workers (default: one per core).")
    ] = None,
    executor: Annotated[str | None, typer.Option(help="local (default) or ray.")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Run only the missing and failed items of this run.")
    ] = None,
    name: Annotated[str, typer.Option(help="A name for the run.")] = "",
    store: Annotated[
        Path | None, typer.Option(help="Run store file (default $WORKBENCH_HOME/runs.db).")
    ] = None,
    ids: Annotated[str | None, typer.Option(help="Only these item ids, comma-separated.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items.")] = None,
    seed: Annotated[int, typer.Option(help="Seed passed to every solve.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    llm: Annotated[
        str, typer.Option(help="LLM client kind for the formulate pipeline (openai, replay...).")
    ] = "openai",
    llm_option: Annotated[
        list[str] | None,
        typer.Option(
            "--llm-option", help="key=value for the LLM client (model, base_url, cache...)."
        ),
    ] = None,
    agent_option: Annotated[
        list[str] | None,
        typer.Option("--agent-option", help="key=value for the agent (mode=code)."),
    ] = None,
    budget: Annotated[int, typer.Option(min=0, help="Repair attempts per item (formulate).")] = 3,
) -> None:
    """Run a suite as a recorded batch (resumable), with progress and a summary."""
    from workbench.runs.local import default_workers
    from workbench.runs.store import ItemSpec, RunStore

    if resume is None and suite is None:
        raise WorkbenchError(f"give --suite ({', '.join(SUITES)}) or --resume RUN_ID")
    rs = RunStore(store)
    if resume is not None:
        try:
            run = rs.run(resume)
        except KeyError as e:
            raise WorkbenchError(str(e.args[0])) from None
        rid, cfg = str(run["id"]), run["config"]
        total = len(rs.unfinished(rid))
        ex_name = executor or str(cfg.get("executor", "local"))
        n_workers = workers or int(cfg.get("workers") or default_workers())
        label = f"{run['suite'] or 'run'} (resume)"
    else:
        assert suite is not None
        ds = _dataset_name(suite, dataset)
        ds_args = {"path": str(path)} if path is not None else {}
        pipe = pipeline or ("formulate" if suite == "nl" else "solve")
        if pipe not in ("solve", "formulate", "tune"):
            raise WorkbenchError(f"unknown pipeline {pipe!r}; use 'solve', 'formulate' or 'tune'")
        if pipe == "tune":
            from workbench.runs.jobs import TUNERS

            if not _split(agent):
                raise WorkbenchError(
                    f"the tune pipeline needs --agent TUNER; registered: {', '.join(TUNERS.names()) or 'none'}"
                )
            _check_names("tuner", _split(agent), TUNERS.names())
        backends, agents = _split(backend) or ["auto"], _split(agent)
        from workbench.backends.registry import backend_names

        _check_names("backend", backends, backend_names(), extra="auto")
        if pipe == "formulate":
            from workbench.formulation import agent_names

            if not agents:
                raise WorkbenchError(
                    f"the formulate pipeline needs --agent; registered: {', '.join(agent_names()) or 'none'}"
                )
            _check_names("agent", agents, agent_names())
        problems = _problems(ds, ds_args, _split(ids), limit)
        ex_name, n_workers = executor or "local", workers or default_workers()
        from workbench.runs.batch import plan_jobs

        options: dict[str, Any] = {}
        if pipe == "formulate":
            llm_cfg = {"kind": llm, **_pairs(llm_option, "--llm-option")}
            if any("key" in k.lower() for k in llm_cfg):
                raise WorkbenchError(
                    "do not pass API keys on the command line (they would be stored with the run); "
                    "set OPENAI_API_KEY in the environment"
                )
            options = {"llm": llm_cfg, "budget": budget,
                       "agent_options": _pairs(agent_option, "--agent-option")}  # fmt: skip
            if options["agent_options"].get("mode") == "code":
                from workbench.cli.sandbox_cmd import announce_sandbox

                announce_sandbox()  # before the run exists: refused code mode stores nothing
        jobs: list[Job] = plan_jobs(
            problems, dataset=ds, dataset_args=ds_args, pipeline=pipe, backends=backends,
            agents=agents or [""], time_limit=time_limit, seed=seed, timeout=job_timeout,
            options=options,
        )  # fmt: skip
        config = {
            "suite": suite, "dataset": ds, "dataset_args": ds_args, "pipeline": pipe,
            "backends": backends, "agents": agents, "time_limit": time_limit,
            "job_timeout": jobs[0].timeout, "executor": ex_name, "workers": n_workers,
            "ids": _split(ids), "limit": limit, "seed": seed, "options": options,
        }  # fmt: skip
        specs = [
            ItemSpec(j.key, j.item_id, j.dataset, j.backend, j.agent, j.to_dict()) for j in jobs
        ]
        ex = _executor(ex_name, n_workers)  # before the run exists: a bad executor is bad input
        rid = rs.create_run(specs, name=name, suite=suite, pipeline=pipe, config=config)
        total, label = len(jobs), f"{suite}:{ds}"
    if resume is not None:
        ex = _executor(ex_name, n_workers)
    status, wall = "done", 0.0
    if total:
        status, wall = _execute(rs, rid, ex, total, label, store)
    else:
        rs.finish_run(rid, "done")
    _report(rs, rid, status, wall, as_json, executor=ex_name, workers=n_workers, ran=total)


def _pairs(items: list[str] | None, flag: str) -> dict[str, Any]:
    """``key=value`` options; numbers and true/false are converted."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise WorkbenchError(f"{flag} {item!r}: write key=value")
        value: Any = raw
        low = raw.lower()
        if low in ("true", "false"):
            value = low == "true"
        else:
            for conv in (int, float):
                try:
                    value = conv(raw)
                    break
                except ValueError:
                    continue
        out[key.strip()] = value
    return out


def _report(rs: RunStore, rid: str, status: str, wall: float, as_json: bool, **extra: Any) -> None:
    run = rs.run(rid)
    rows = summarize(rs.items(rid))
    hint = f"workbench runs show {rid}"
    if as_json:
        payload = {
            "run_id": rid, "status": run["status"], "suite": run["suite"],
            "dataset": run["config"].get("dataset"), "pipeline": run["pipeline"],
            "wall": round(wall, 3), "progress": rs.progress(rid), "summary": rows,
            "store": str(rs.path), "hint": hint, **extra,
        }  # fmt: skip
        typer.echo(json.dumps(payload, default=str))
        return
    console = out_console()
    ran = extra.get("ran", 0)
    title = (
        f"run {rid}: {run['suite']} ({run['pipeline']}), {ran} job(s) in {wall:.1f} s "
        f"on {extra.get('workers')} {extra.get('executor')} worker(s)"
    )
    console.print(_summary_table(rows, title))
    console.print(Text(f"run id: {rid}  (details: {hint})"), soft_wrap=True)
