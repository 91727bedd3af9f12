"""``workbench sandbox check``: the sandbox levels here and the attack suite's verdict.

The sandbox lives in the ``agents`` plug-in package, which the core never
imports: it is reached through the ``workbench.sandboxes`` registry (a builtin
target, so a source checkout works before ``pip install -e``), exactly as the
agents are reached through ``workbench.agents``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from workbench.cli.output import err_console, out_console
from workbench.errors import SandboxError
from workbench.registry import LazyRegistry

__all__ = ["SANDBOXES", "announce_sandbox", "sandbox_app", "sandbox_plan"]

SANDBOXES: LazyRegistry[Any] = LazyRegistry(
    "workbench.sandboxes", builtin={"default": "agents.sandbox"}
)
"""The package that runs generated code (``plan_isolation``, ``run_attacks``, ``ATTACKS``)."""

sandbox_app = typer.Typer(help="The sandbox for generated code.", no_args_is_help=True)


def sandbox_plan() -> Any:
    """The :class:`~agents.sandbox.SandboxPlan` here: the level code mode would use, or why not."""
    return SANDBOXES.load("default").plan_isolation()


def announce_sandbox() -> None:
    """Print the level generated code will run at (stderr); refuse (exit 2) where none may.

    Raises
    ------
    SandboxError
        Where no level contains generated code and no opt-in was given; the
        message names bubblewrap and the opt-in.
    """
    plan = sandbox_plan()
    if plan.level is None:
        raise SandboxError(plan.refusal)
    err_console().print(Text(plan.describe(), style="bold" if plan.level.contains_code else "red"))


def _levels_table(plan: Any) -> Table:
    table = Table(title="isolation levels")
    table.add_column("level", style="bold")
    table.add_column("works here")
    table.add_column("contains code")
    table.add_column("what it gives here", overflow="fold")
    table.add_column("why not", overflow="fold")
    summary = SANDBOXES.load("default").level_summary
    for probe in plan.probes:
        works = Text("yes", style="green") if probe.ok else Text("no", style="red")
        contains = "yes" if probe.level.contains_code else f"no (needs {_opt_in()}=1)"
        table.add_row(
            probe.level.value,
            works,
            contains,
            Text(summary(probe.level)),
            Text(probe.reason or "-"),
        )
    return table


def _opt_in() -> str:
    return str(SANDBOXES.load("default").ALLOW_WEAK_ENV)


@sandbox_app.command("check")
def check_command(
    attack: Annotated[
        list[str] | None,
        typer.Option("--attack", help="Run only this attack (repeatable); default: all."),
    ] = None,
    level: Annotated[
        str | None,
        typer.Option(
            "--level",
            help="Run the suite at this level instead (a weak one needs the opt-in too).",
        ),
    ] = None,
) -> None:
    """Show the isolation levels here, then run the attack suite at the level code mode uses.

    Exit status 0 when every attack was contained, 1 when one got through, 2
    when code mode (or the ``--level`` asked for) is refused here (no level
    contains generated code and the opt-in is not set) or not available.
    """
    sandbox = SANDBOXES.load("default")
    unknown = [a for a in attack or [] if a not in sandbox.ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; choose from {', '.join(sandbox.ATTACKS)}")
    plan = sandbox.plan_isolation()
    con = out_console()
    con.print(_levels_table(plan))
    if level is None:
        if plan.level is None:
            raise SandboxError(plan.refusal)
        con.print(Text(plan.describe()), soft_wrap=True)
    used, outcomes = sandbox.run_attacks(
        level or plan.level, allow_weak=plan.weak_allowed, only=attack
    )
    if used is None:
        raise SandboxError(outcomes[0].how.removeprefix("refused: "))
    if level is not None:
        con.print(Text(f"sandbox: {used.value}: {sandbox.level_summary(used)}"), soft_wrap=True)
    table = Table(title=f"attack suite at {used.value}")
    table.add_column("attack", style="bold")
    table.add_column("contained")
    table.add_column("how", overflow="fold")
    for o in outcomes:
        mark = Text("yes", style="green") if o.contained else Text("NO", style="bold red")
        table.add_row(o.name, mark, Text(o.how))
    con.print(table)
    escaped = [o.name for o in outcomes if not o.contained]
    if escaped:
        err_console().print(
            Text(f"{len(escaped)} attack(s) got through: {', '.join(escaped)}", style="red")
        )
        raise typer.Exit(1)
