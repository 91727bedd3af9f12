"""The ``workbench`` command: ``solve``, ``validate``, ``backends``, ``catalog``, ``sandbox``...

Every command reports bad input (any :class:`~workbench.errors.WorkbenchError`,
a missing file, a malformed option) as one red line on stderr and exits with
status 2; an unexpected failure exits with status 3 and a hint to rerun with
``--debug``, which shows the traceback instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

try:
    from typer.exceptions import TyperException
except ImportError:  # older typer re-uses click's exceptions
    from click import ClickException as TyperException  # type: ignore[assignment]

import workbench
from workbench.cli.app_cmd import app_command
from workbench.cli.bench import bench
from workbench.cli.catalog import catalog_app
from workbench.cli.formulate_cmd import formulate_command
from workbench.cli.output import (
    LOCAL_WARNING,
    err_console,
    error_message,
    out_console,
    print_error,
    print_result,
)
from workbench.cli.runs import runs_app
from workbench.cli.sandbox_cmd import sandbox_app
from workbench.cli.tune_cmd import tune_command
from workbench.ir import Model, load_model

if TYPE_CHECKING:
    from workbench.result import Result

__all__ = ["app", "main", "parse_options"]

IR_SUFFIXES = (".yaml", ".yml", ".json")
MATRIX_SUFFIXES = (".mps", ".lp", ".mps.gz", ".lp.gz")


class _GuardedGroup(TyperGroup):
    """A command group that turns exceptions into one-line errors and exit codes."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click Context
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # usage errors, --help, exit codes
            raise
        except Exception as e:
            if ctx.params.get("debug"):
                raise
            message, code = error_message(e)
            print_error(message)
            raise typer.Exit(code) from None


app = typer.Typer(
    cls=_GuardedGroup,
    name="workbench",
    help="Optimization Workbench: validate, classify and solve optimisation models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(catalog_app, name="catalog")
app.command(name="bench")(bench)
app.add_typer(runs_app, name="runs")
app.add_typer(sandbox_app, name="sandbox")
app.command(name="app")(app_command)
app.command(name="formulate")(formulate_command)
app.command(name="tune")(tune_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"workbench {workbench.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of unexpected errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Optimization Workbench: validate, classify and solve optimisation models."""


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings into backend options.

    Values that read as integers, floats or ``true``/``false`` become those
    types; anything else stays a string (so ``presolve=off`` stays ``'off'``).

    Parameters
    ----------
    pairs
        The ``--option`` arguments.

    Returns
    -------
    dict[str, Any]

    Raises
    ------
    ValueError
        If an item has no ``=``, an empty key, or a key that has its own flag.
    """
    reserved = {"backend", "time_limit", "seed"}
    out: dict[str, Any] = {}
    for item in pairs:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--option expects key=value, got {item!r}")
        if key in reserved:
            raise ValueError(f"use --{key.replace('_', '-')} instead of --option {key}=...")
        out[key] = _parse_value(raw.strip())
    return out


def _parse_value(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(raw)
        except ValueError:
            pass
    return raw


def _is_matrix_file(path: Path) -> bool:
    return path.name.lower().endswith(MATRIX_SUFFIXES)


def _check_model_path(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    if not (path.suffix.lower() in IR_SUFFIXES or _is_matrix_file(path)):
        raise ValueError(
            f"cannot tell the format of {path.name!r}: use .yaml/.yml/.json (IR) "
            "or .mps/.lp (optionally .gz)"
        )


def _load(path: Path) -> Any:
    """A Model for IR files; a Model or LinearForm for MPS/LP files."""
    _check_model_path(path)
    if _is_matrix_file(path):
        from workbench.solving import read_model_file

        return read_model_file(str(path))
    return load_model(path)


ModelArg = Annotated[
    Path, typer.Argument(help="A model: .yaml/.yml/.json (IR) or .mps/.lp (optionally .gz).")
]


@app.command()
def solve(
    model: ModelArg,
    backend: Annotated[str, typer.Option(help="Backend name, or 'auto'.")] = "auto",
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="Seconds.", min=0)
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed for the backend.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON only.")] = False,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Backend option key=value (repeatable)."),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write the anytime curve (plotly HTML) to this file."),
    ] = None,
    show_reformulated: Annotated[
        bool,
        typer.Option(
            "--show-reformulated", help="Print the reformulated model (IR YAML) before solving."
        ),
    ] = False,
) -> None:
    """Solve MODEL and print the result (exit status 1 if the backend failed).

    A ``locally_optimal`` result exits 0 with a warning: the point is feasible
    and locally optimal, but not proven globally optimal.
    """
    options = parse_options(option or [])
    _check_model_path(model)
    from workbench.solving import solve as solve_model

    target: Any = str(model) if _is_matrix_file(model) else load_model(model)
    if show_reformulated and isinstance(target, Model):
        _print_reformulated(target, backend)
    result: Result = solve_model(
        target, backend=backend, time_limit=time_limit, seed=seed, **options
    )
    if plot is not None:
        from workbench.cli.plot import write_anytime_plot

        write_anytime_plot(result, plot)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        if (
            result.termination.value == "locally_optimal"
        ):  # a success, but say so (stdout stays JSON)
            err_console().print(Text(f"warning: {LOCAL_WARNING}", style="yellow"), soft_wrap=True)
    else:
        print_result(result, out_console())
    if result.termination.value == "error":  # the backend failed; not an optimisation outcome
        raise typer.Exit(1)


def _print_reformulated(model: Model, backend: str = "auto") -> None:
    from workbench.ir import dump_model
    from workbench.solving import route

    # exactly what solve hands the backend (for auto: the backend chosen after the rewrite)
    name, prep = route(model, backend)
    summary = "no reformulation" if prep.reform is None else prep.reform.summary()
    typer.echo(f"# for backend {name}: {summary}")
    typer.echo(dump_model(prep.structure.model), nl=False)


@app.command()
def reformulate(
    model: ModelArg,
    backend: Annotated[
        str, typer.Option(help="Print what this backend gets; 'auto': the one solve would choose.")
    ] = "auto",
) -> None:
    """Print MODEL as IR YAML after the exact reformulations solve applies for the backend."""
    _check_model_path(model)
    if _is_matrix_file(model):
        raise ValueError("an MPS/LP model is already linear; reformulate takes an IR model")
    _print_reformulated(load_model(model), backend)


@app.command()
def validate(model: ModelArg) -> None:
    """Validate MODEL and print its classification (problem class and sizes)."""
    loaded = _load(model)
    console = out_console()
    if not isinstance(loaded, Model):
        # An MPS/LP file read into matrix form: it is valid by construction.
        kind = "MILP" if loaded.is_mip else "LP"
        console.print(
            f"valid: {kind}, {loaded.num_cols} variables, {loaded.num_rows} rows, "
            f"{loaded.nnz} nonzeros"
        )
        return
    from workbench.classification import classify
    from workbench.validation import validate as validate_model

    warnings = validate_model(loaded)
    for w in warnings:
        console.print(Text(f"warning: {w}", style="yellow"), soft_wrap=True)
    info = classify(loaded)
    console.print(Text(f"valid: {info.summary()}", style="green"), soft_wrap=True)
    from workbench.compile.reformulate import reformulate as reformulate_model

    rf = reformulate_model(loaded, allow_global=True)
    if rf.changed:
        after = classify(rf.model)
        console.print(Text(f"after reformulation: {after.summary()}"), soft_wrap=True)
        console.print(Text(rf.summary(), style="dim"), soft_wrap=True)


@app.command()
def backends() -> None:
    """List the registered backends, their capabilities and availability."""
    from workbench.backends import available_backends
    from workbench.backends.registry import BACKENDS

    table = Table(title="backends")
    table.add_column("name", style="bold")
    table.add_column("available")
    table.add_column("version")
    table.add_column("capabilities")
    table.add_column("note", overflow="fold")
    for name, avail in available_backends().items():
        try:
            caps = ", ".join(sorted(c.value for c in BACKENDS.load(name).capabilities))
        except Exception:  # a backend that cannot be imported has no capabilities to show
            caps = "-"
        mark = Text("yes", style="green") if avail.ok else Text("no", style="red")
        table.add_row(name, mark, avail.version or "-", caps, Text(avail.reason))
    out_console().print(table)


def main() -> None:
    """Entry point of the ``workbench`` console script."""
    app()


if __name__ == "__main__":
    main()
