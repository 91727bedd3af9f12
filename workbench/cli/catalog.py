"""``workbench catalog``: list, show and solve the built-in problem catalogue."""

from __future__ import annotations

import difflib
import math
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from workbench.cli.output import fmt, out_console
from workbench.errors import WorkbenchError
from workbench.ir import dump_model

if TYPE_CHECKING:
    from workbench.datasets import Problem

__all__ = ["catalog_app", "load_catalog", "matches"]

catalog_app = typer.Typer(
    help="The built-in catalogue of problems with verified optima.",
    no_args_is_help=True,
)


def load_catalog() -> list[Problem]:
    """The problems of the ``catalog`` dataset (through the dataset registry).

    Raises
    ------
    WorkbenchError
        If no catalogue is registered or it fails to load.
    """
    from workbench.datasets import get_dataset

    try:
        return get_dataset("catalog")
    except KeyError as e:
        raise WorkbenchError(f"no problem catalogue is registered ({e.args[0]})") from None
    except (ImportError, AttributeError) as e:
        raise WorkbenchError(f"the problem catalogue could not be loaded: {e}") from e


def _find(problems: list[Problem], pid: str) -> Problem:
    for p in problems:
        if p.id == pid:
            return p
    close = difflib.get_close_matches(pid, [p.id for p in problems], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else " (see 'workbench catalog list')"
    raise WorkbenchError(f"no catalogue problem {pid!r}{hint}")


def matches(problem: Problem, termination: str, objective: float | None, rtol: float) -> bool:
    """Whether a solve outcome agrees with the problem's stored answer.

    Parameters
    ----------
    problem
        The catalogue entry (its ``status`` and ``optimum``).
    termination
        The result's termination value, such as ``'optimal'``.  A
        ``'locally_optimal'`` answer matches when its objective does (it is
        shown as such; only ``'optimal'`` is proven).
    objective
        The result's objective.
    rtol
        Tolerance relative to ``max(1, |optimum|)``.

    Returns
    -------
    bool
    """
    either = "infeasible_or_unbounded"
    if problem.status == "infeasible":
        return termination in ("infeasible", either)
    if problem.status == "unbounded":
        return termination in ("unbounded", either)
    if problem.status != "optimal" or problem.optimum is None:
        return termination in ("optimal", "locally_optimal", "feasible")
    if (
        termination not in ("optimal", "locally_optimal")
        or objective is None
        or not math.isfinite(objective)
    ):
        return False
    return abs(objective - problem.optimum) <= rtol * max(1.0, abs(problem.optimum))


def _id_width(problems: list[Problem]) -> int:
    """Width that keeps every id on one line (ids are what people copy)."""
    return max((len(p.id) for p in problems), default=2)


def _answer(p: Problem) -> str:
    return fmt(p.optimum) if p.status == "optimal" else p.status


@catalog_app.command("list")
def list_(
    category: Annotated[
        str | None, typer.Option("--category", "-c", help="Only this category.")
    ] = None,
) -> None:
    """List the catalogue's problems."""
    problems = load_catalog()
    if category is not None:
        problems = [p for p in problems if p.category == category]
        if not problems:
            known = sorted({p.category for p in load_catalog()})
            raise WorkbenchError(
                f"no problems in category {category!r}; known: {', '.join(known) or 'none'}"
            )
    table = Table(title=f"catalogue ({len(problems)} problems)")
    table.add_column("id", style="bold", min_width=_id_width(problems))
    table.add_column("category")
    table.add_column("title")
    table.add_column("optimum", justify="right")
    for p in problems:
        table.add_row(p.id, p.category, Text(p.title), _answer(p))
    out_console().print(table)


@catalog_app.command()
def show(problem_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Show one problem: its text, stored optimum and model (as YAML)."""
    p = _find(load_catalog(), problem_id)
    console = out_console()
    console.print(Text(f"{p.id}: {p.title}", style="bold"))
    console.print(
        Text(f"category: {p.category or '-'}   status: {p.status}   optimum: {fmt(p.optimum)}")
    )
    if p.text:
        console.print()
        console.print(Text(p.text.strip()), soft_wrap=True)
    if p.model is not None:
        console.print()
        yaml_text = dump_model(p.model)
        if console.is_terminal:
            console.print(Syntax(yaml_text, "yaml", word_wrap=True))
        else:
            typer.echo(yaml_text.rstrip("\n"))
    elif p.path is not None:
        console.print(Text(f"model file: {p.path}"))


def _solve_one(p: Problem, backend: str, time_limit: float | None) -> Any:
    target: Any = p.model
    if target is None:
        target = str(p.path) if p.path is not None else p.linear_form
    if target is None:
        raise WorkbenchError(f"catalogue problem {p.id!r} has no model")
    from workbench.solving import solve

    return solve(target, backend=backend, time_limit=time_limit)


@catalog_app.command("solve")
def solve_(
    ids: Annotated[list[str] | None, typer.Argument(metavar="[ID]...")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Solve every problem.")] = False,
    backend: Annotated[str, typer.Option(help="Backend name, or 'auto'.")] = "auto",
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="Seconds per problem.", min=0)
    ] = None,
    rtol: Annotated[
        float, typer.Option(help="Match tolerance, relative to max(1, |optimum|).", min=0)
    ] = 1e-6,
) -> None:
    """Solve catalogue problems and compare with the stored optima (exit 1 on a mismatch)."""
    problems = load_catalog()
    if all_ and ids:
        raise ValueError("give problem ids or --all, not both")
    if not all_ and not ids:
        raise ValueError("give problem ids or --all")
    chosen = problems if all_ else [_find(problems, pid) for pid in ids or []]

    console = out_console()
    table = Table(title="catalogue solve")
    for col, justify in (
        ("id", "left"), ("status", "left"), ("objective", "right"),
        ("stored", "right"), ("match", "center"), ("time (s)", "right"),
    ):  # fmt: skip
        width = _id_width(chosen) if col == "id" else None
        table.add_column(col, justify=justify, min_width=width)  # type: ignore[arg-type]
    failed: list[str] = []
    errors: list[str] = []
    for p in chosen:
        start = time.perf_counter()
        with console.status(f"solving {p.id} ..."):
            try:
                result = _solve_one(p, backend, time_limit)
                status, objective = result.termination.value, result.objective
                if status == "error" and result.diagnostics.message:
                    errors.append(f"{p.id}: {result.diagnostics.message}")
            except WorkbenchError as e:
                status, objective = "error", None
                errors.append(f"{p.id}: {e}")
            except Exception as e:  # one crashing problem must not hide the others
                status, objective = "error", None
                errors.append(f"{p.id}: unexpected {type(e).__name__}: {e}")
        elapsed = time.perf_counter() - start
        ok = matches(p, status, objective, rtol)
        if not ok:
            failed.append(p.id)
        mark = Text("✓", style="green") if ok else Text("✗", style="bold red")
        if ok and status == "locally_optimal":
            mark = Text("✓ (local)", style="yellow")
        table.add_row(p.id, status, fmt(objective), _answer(p), mark, f"{elapsed:.2f}")
    console.print(table)
    for line in errors:
        console.print(Text(f"error: {' '.join(line.split())}", style="red"), soft_wrap=True)
    n = len(chosen)
    if failed:
        summary = f"{len(failed)} of {n} did not match: {', '.join(failed)}"
        console.print(Text(summary, style="red"), soft_wrap=True)
        raise typer.Exit(1)
    console.print(Text(f"all {n} match", style="green"))
