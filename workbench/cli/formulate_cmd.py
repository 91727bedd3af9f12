"""``workbench formulate TEXT|FILE --agent``: words to a solved model, from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from workbench.cli.bench import _pairs
from workbench.cli.output import out_console, print_result
from workbench.cli.sandbox_cmd import announce_sandbox
from workbench.errors import WorkbenchError

__all__ = ["formulate_command"]


def formulate_command(
    problem: Annotated[str, typer.Argument(help="The problem text, or a path to a text file.")],
    agent: Annotated[str, typer.Option(help="orthought or llmopt.")] = "orthought",
    backend: Annotated[str, typer.Option(help="Backend for every candidate model.")] = "auto",
    budget: Annotated[int, typer.Option(min=0, help="Repair attempts.")] = 3,
    llm: Annotated[str, typer.Option(help="LLM client kind (openai, replay...).")] = "openai",
    llm_option: Annotated[
        list[str] | None,
        typer.Option("--llm-option", help="key=value for the LLM client (model, base_url...)."),
    ] = None,
    agent_option: Annotated[
        list[str] | None,
        typer.Option("--agent-option", help="key=value for the agent (mode=code)."),
    ] = None,
    save: Annotated[
        Path | None, typer.Option(help="Write the final model (YAML/JSON) or code here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary only.")] = False,
) -> None:
    """Formulate PROBLEM with an LLM agent, solve it, and show the model and the answer.

    The LLM endpoint comes from OPENAI_BASE_URL, OPENAI_API_KEY and WORKBENCH_MODEL (or
    ~/.workbench/config.toml); API keys are never accepted on the command line.
    """
    import workbench
    from workbench.llm_factory import make_llm

    path = Path(problem)
    text = (
        path.read_text(encoding="utf-8")
        if path.suffix in (".txt", ".md") and path.is_file()
        else problem
    )
    if _pairs(agent_option, "--agent-option").get("mode") == "code":
        announce_sandbox()  # the level generated code will run at, or exit 2 (refused)
    cfg: dict[str, Any] = {"kind": llm, **_pairs(llm_option, "--llm-option")}
    if any("key" in k.lower() for k in cfg):
        raise WorkbenchError("do not pass API keys on the command line; set OPENAI_API_KEY")
    client = make_llm(cfg)
    form = workbench.formulate(
        text,
        agent,
        llm=client,
        backend=backend,
        budget=budget,
        **_pairs(agent_option, "--agent-option"),
    )
    if save is not None:
        if form.model is not None:
            workbench.save_model(form.model, save)
        elif form.code is not None:
            save.write_text(form.code, encoding="utf-8")
    if as_json:
        typer.echo(json.dumps({
            "agent": agent, "calls": form.calls, "tokens": form.tokens,
            "attempts": [{"index": a.index, "feedback": a.feedback, "error": a.error} for a in form.attempts],
            "model": workbench.ir.model_to_dict(form.model) if form.model is not None else None,
            "code": form.code,
            "result": form.result.to_dict() if form.result is not None else None,
        }))  # fmt: skip
        return
    con = out_console()
    for a in form.attempts:
        status = "accepted" if not a.feedback and a.error is None else (a.error or a.feedback)
        con.print(f"[bold]attempt {a.index}[/bold]: {status}")
    con.print(f"{form.calls} LLM call(s), {form.tokens} tokens")
    if form.model is not None:
        con.rule("model")
        con.print(workbench.dump_model(form.model), markup=False, highlight=False)
    elif form.code is not None:
        con.rule("code")
        con.print(form.code, markup=False, highlight=False)
    if form.result is not None:
        con.rule("result")
        print_result(form.result, con)
    else:
        raise WorkbenchError("the agent produced no solvable model within its budget")
