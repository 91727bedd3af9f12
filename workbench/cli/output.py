"""Rendering for the CLI: consoles, number formatting, result summaries and errors."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from workbench.errors import ModelError, WorkbenchError
from workbench.racing import describe_race
from workbench.result import Termination

if TYPE_CHECKING:
    from workbench.result import Result

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INTERNAL",
    "LOCAL_WARNING",
    "err_console",
    "error_message",
    "fmt",
    "out_console",
    "print_error",
    "print_result",
]

EXIT_BAD_INPUT = 2
"""Exit status for bad input: a malformed model, a missing file, a bad option."""

EXIT_INTERNAL = 3
"""Exit status for an unexpected failure (a bug); ``--debug`` shows the traceback."""

LOCAL_WARNING = (
    "locally optimal: a local method stopped here, and the model is not proven convex, so a "
    "better solution may exist (backend 'scip' proves global optimality)"
)
"""What ``workbench solve`` says under a ``locally_optimal`` result (stderr with ``--json``)."""

MAX_VALUE_ROWS = 40
"""How many nonzero variable values the summary shows before truncating."""


def out_console() -> Console:
    """A console on the current ``sys.stdout`` (created per call, so tests can capture it).

    When stdout is not a terminal (a log, a pipe) and ``COLUMNS`` is unset,
    tables get 120 columns instead of rich's default of 80.
    """
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 120
    return console


def err_console() -> Console:
    """A console on the current ``sys.stderr``."""
    return Console(stderr=True, highlight=False)


def fmt(x: float | None, digits: int = 10) -> str:
    """Format a number compactly; ``None`` becomes a dash.

    Parameters
    ----------
    x
        The number, or ``None``.
    digits
        Significant digits.

    Returns
    -------
    str
        For example ``'12.5'``, ``'inf'`` or ``'-'``.
    """
    if x is None:
        return "-"
    x = float(x)
    if math.isnan(x):
        return "nan"
    return f"{x:.{digits}g}"


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def error_message(exc: BaseException) -> tuple[str, int]:
    """Turn an exception into one readable line and an exit status.

    Parameters
    ----------
    exc
        The exception a command raised.

    Returns
    -------
    tuple[str, int]
        The line (without the ``error:`` prefix) and the exit status:
        :data:`EXIT_BAD_INPUT` for the user's mistakes, :data:`EXIT_INTERNAL`
        for anything unexpected.
    """
    if isinstance(exc, ModelError):
        return _one_line(str(exc)), EXIT_BAD_INPUT
    if isinstance(exc, WorkbenchError):
        return _one_line(str(exc)) or type(exc).__name__, EXIT_BAD_INPUT
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename or exc}", EXIT_BAD_INPUT
    if isinstance(exc, IsADirectoryError):
        return f"is a directory, not a model file: {exc.filename}", EXIT_BAD_INPUT
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc)
        return (f"{what}: {exc.filename}" if exc.filename else what), EXIT_BAD_INPUT
    if isinstance(exc, ValueError):
        return _one_line(str(exc)) or "invalid value", EXIT_BAD_INPUT
    detail = _one_line(str(exc))
    name = type(exc).__name__
    line = f"unexpected {name}: {detail}" if detail else f"unexpected {name}"
    return f"{line} (run 'workbench --debug ...' to see the traceback)", EXIT_INTERNAL


def print_error(message: str) -> None:
    """Print ``error: <message>`` in red on stderr, as one unwrapped line."""
    err_console().print(Text(f"error: {message}", style="bold red"), soft_wrap=True)


def _label(name: str, label: Any) -> str:
    if isinstance(label, tuple):
        return f"{name}[{', '.join(str(p) for p in label)}]"
    return f"{name}[{label}]"


def _nonzero_values(values: dict[str, Any], tol: float = 1e-9) -> Iterator[tuple[str, float]]:
    for name, v in values.items():
        if isinstance(v, dict):
            for label, x in v.items():
                if abs(float(x)) > tol:
                    yield _label(name, label), float(x)
        elif abs(float(v)) > tol:
            yield name, float(v)


def print_result(result: Result, console: Console, *, max_rows: int = MAX_VALUE_ROWS) -> None:
    """Print a human summary of *result*.

    Shows termination, objective, bound, gap, backend and timings; then a
    table of nonzero variable values (at most *max_rows*), the warnings, and
    the IIS when the model is infeasible.
    """
    term = result.termination.value
    style = "green" if result.termination.has_solution else "yellow"
    if term == "error":
        style = "red"
    if result.termination is Termination.LOCALLY_OPTIMAL:
        style = "yellow"
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("termination", Text(term, style=style))
    summary.add_row("objective", fmt(result.objective))
    summary.add_row("bound", fmt(result.bound))
    summary.add_row("gap", "-" if result.gap is None else f"{result.gap:.3g}")
    summary.add_row("backend", result.backend or "-")
    t = result.timings
    summary.add_row(
        "time (s)",
        f"{t.total:.3f} (build {t.build:.3f}, load {t.load:.3f}, solve {t.solve:.3f})",
    )
    if result.iterations is not None:
        summary.add_row("iterations", str(result.iterations))
    if result.diagnostics.message:
        summary.add_row("message", Text(_one_line(result.diagnostics.message)))
    reform = result.diagnostics.extra.get("reformulation")
    if isinstance(reform, str):
        summary.add_row("reformulated", Text(reform.removeprefix("reformulated: ")))
    raced = describe_race(result.diagnostics.extra.get("race"))
    if raced:
        summary.add_row("race", Text(raced))
    console.print(summary)

    rows = list(_nonzero_values(result.values))
    if rows:
        table = Table(title=f"nonzero values ({len(rows)})", title_justify="left")
        table.add_column("variable", overflow="fold")
        table.add_column("value", justify="right")
        for name, x in rows[:max_rows]:
            table.add_row(Text(name), fmt(x))
        if len(rows) > max_rows:
            table.add_row(Text(f"... {len(rows) - max_rows} more", style="dim"), "")
        console.print(table)
    elif result.values:
        console.print("all variable values are zero")

    for w in result.diagnostics.warnings:
        console.print(Text(f"warning: {_one_line(w)}", style="yellow"), soft_wrap=True)
    if result.termination is Termination.LOCALLY_OPTIMAL:
        console.print(Text(f"warning: {LOCAL_WARNING}", style="bold yellow"), soft_wrap=True)
    if result.diagnostics.iis:
        console.print(Text("irreducible infeasible subset (IIS):", style="bold yellow"))
        for name in result.diagnostics.iis:
            console.print(Text(f"  {name}"), soft_wrap=True)
