"""The ``workbench`` command line, end to end."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import workbench
from workbench.cli import app
from workbench.cli.main import parse_options
from workbench.datasets import get_dataset

runner = CliRunner()


def assert_one_line_error(result: object, *needles: str) -> None:
    """Exit status 2, one ``error:`` line on stderr, no traceback."""
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    err = result.stderr.strip()  # type: ignore[attr-defined]
    assert err.startswith("error: "), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    for needle in needles:
        assert needle in err, err


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("solve", "validate", "backends", "catalog"):
        assert command in result.stdout


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert workbench.__version__ in result.stdout


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([], {}),
        (
            ["presolve=off", "mip_rel_gap=0.01", "threads=2"],
            {"presolve": "off", "mip_rel_gap": 0.01, "threads": 2},
        ),
        (["verbose=true", "log-file=a=b.txt"], {"verbose": True, "log_file": "a=b.txt"}),
    ],
)
def test_parse_options(pairs: list[str], expected: dict[str, object]) -> None:
    assert parse_options(pairs) == expected


@pytest.mark.parametrize("bad", ["novalue", "=3", "time_limit=3", "seed=1"])
def test_parse_options_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_options([bad])


def test_solve_prints_the_objective(tiny_lp_yaml: Path) -> None:
    result = runner.invoke(app, ["solve", str(tiny_lp_yaml)])
    assert result.exit_code == 0, result.output
    assert "optimal" in result.stdout
    assert "objective" in result.stdout
    assert "11" in result.stdout
    assert "x" in result.stdout and "3" in result.stdout


def test_solve_json(tiny_lp_yaml: Path) -> None:
    result = runner.invoke(app, ["solve", str(tiny_lp_yaml), "--json", "--backend", "highs"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"termination", "objective", "bound", "gap", "values", "timings", "backend"} <= set(data)
    assert data["termination"] == "optimal"
    assert data["objective"] == pytest.approx(11.0)
    assert data["values"]["x"] == pytest.approx(3.0)
    assert data["values"]["y"] == pytest.approx(1.0)
    assert data["backend"] == "highs"


def test_solve_transport_example(transport_yaml: Path) -> None:
    """The README's example model solves to its documented optimum."""
    result = runner.invoke(app, ["solve", str(transport_yaml), "--json", "--time-limit", "30"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["termination"] == "optimal"
    assert data["objective"] == pytest.approx(1075.0)


def test_validate_prints_the_classification(tiny_lp_yaml: Path) -> None:
    result = runner.invoke(app, ["validate", str(tiny_lp_yaml)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout
    assert "LP" in result.stdout


def test_backends_lists_highs() -> None:
    result = runner.invoke(app, ["backends"])
    assert result.exit_code == 0, result.output
    assert "highs" in result.stdout
    assert "LP" in result.stdout


UNKNOWN_SYMBOL = """\
variables:
  x: {lb: 0}
objective: {sense: max, expr: "x"}
constraints:
  - expr: "x <= y"
"""


@pytest.mark.parametrize("command", ["solve", "validate"])
@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("variables: [x\nobjective: {", ("YAML",)),
        ("variables: {x: {}}\n", ("objective",)),
        (UNKNOWN_SYMBOL, ("constraints[0]", "'y'")),
    ],
    ids=["broken-yaml", "missing-objective", "unknown-symbol"],
)
def test_bad_models_exit_2(
    tmp_path: Path, command: str, text: str, needles: tuple[str, ...]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    assert_one_line_error(runner.invoke(app, [command, str(path)]), *needles)


@pytest.mark.parametrize("command", ["solve", "validate"])
def test_missing_file_exits_2(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nope.yaml"
    assert_one_line_error(runner.invoke(app, [command, str(missing)]), "nope.yaml")


def test_unknown_suffix_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "model.txt"
    path.write_text("x", encoding="utf-8")
    assert_one_line_error(runner.invoke(app, ["solve", str(path)]), ".yaml")


def test_bad_option_exits_2(tiny_lp_yaml: Path) -> None:
    result = runner.invoke(app, ["solve", str(tiny_lp_yaml), "--option", "novalue"])
    assert_one_line_error(result, "key=value")


def test_unknown_backend_option_exits_2(tiny_lp_yaml: Path) -> None:
    """A misspelt backend option is misuse (OptionsError), not a solver outcome."""
    result = runner.invoke(app, ["solve", str(tiny_lp_yaml), "--json", "-o", "no_such_option=1"])
    assert_one_line_error(result, "no_such_option")


def test_unknown_backend_exits_2(tiny_lp_yaml: Path) -> None:
    result = runner.invoke(app, ["solve", str(tiny_lp_yaml), "--backend", "no_such_backend"])
    assert_one_line_error(result, "no_such_backend")


def test_unexpected_errors_are_one_line_and_debug_reraises(
    tiny_lp_yaml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    # Patch where the CLI looks the function up.
    monkeypatch.setattr(importlib.import_module("workbench.solving"), "solve", boom)
    result = runner.invoke(app, ["solve", str(tiny_lp_yaml)])
    assert result.exit_code == 3
    assert "kaboom" in result.stderr and "--debug" in result.stderr
    assert "Traceback" not in result.output

    result = runner.invoke(app, ["--debug", "solve", str(tiny_lp_yaml)])
    assert isinstance(result.exception, RuntimeError)


def test_real_process_error_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "solve", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: no such file")
    assert "Traceback" not in proc.stderr + proc.stdout


def test_catalog_list_shows_entries() -> None:
    problems = get_dataset("catalog")
    assert problems, "the catalogue is empty"
    result = runner.invoke(app, ["catalog", "list"])
    assert result.exit_code == 0, result.output
    assert problems[0].id in result.stdout


def test_catalog_list_filters_by_category() -> None:
    first = get_dataset("catalog")[0]
    result = runner.invoke(app, ["catalog", "list", "--category", first.category])
    assert result.exit_code == 0, result.output
    assert first.id in result.stdout
    assert_one_line_error(runner.invoke(app, ["catalog", "list", "-c", "no-such-category"]))


def test_catalog_show_and_solve_one() -> None:
    first = next(p for p in get_dataset("catalog") if p.model is not None)
    shown = runner.invoke(app, ["catalog", "show", first.id])
    assert shown.exit_code == 0, shown.output
    assert "variables:" in shown.stdout and "objective:" in shown.stdout

    solved = runner.invoke(app, ["catalog", "solve", first.id, "--time-limit", "60"])
    assert solved.exit_code == 0, solved.output
    assert "✓" in solved.stdout


def test_catalog_unknown_id_and_no_ids_exit_2() -> None:
    assert_one_line_error(
        runner.invoke(app, ["catalog", "show", "no-such-problem"]), "no-such-problem"
    )
    assert_one_line_error(runner.invoke(app, ["catalog", "solve"]), "--all")


ROOT = Path(__file__).resolve().parent.parent


def readme_setup_commands() -> list[str]:
    """The commands of the first code block of README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```", 2)[1]
    return [line for line in block.splitlines()[1:] if line.strip()]


def test_readme_starts_with_two_setup_commands() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ")
    assert lines[4].startswith("```")  # title, blank, one sentence, blank, the block
    commands = readme_setup_commands()
    assert commands == [
        "python -m pip install -e '.[dev,torch]' && workbench catalog solve --all",
        commands[1],
    ]
    assert commands[1].startswith("python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in ci
    code = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert readme_setup_commands()[1] in code  # CI runs the README's test command verbatim


def test_readme_yaml_example_solves(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert len(example.splitlines()) <= 25
    path = tmp_path / "transport.yaml"
    path.write_text(example, encoding="utf-8")
    result = runner.invoke(app, ["solve", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["objective"] == pytest.approx(1075.0)


def test_runs_list_without_a_store_says_no_runs_yet(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "runs.db"
    result = runner.invoke(app, ["runs", "list", "--store", str(missing)])
    assert result.exit_code == 0, result.output
    assert "no runs yet (no run store at" in result.stdout
    assert not missing.exists() and not missing.parent.exists()  # nothing created
    home = tmp_path / "fresh_home"
    result = runner.invoke(app, ["runs", "list"], env={"WORKBENCH_HOME": str(home)})
    assert result.exit_code == 0, result.output
    assert "no runs yet" in result.stdout and str(home) in result.stdout.replace("\n", "")


def test_runs_list_on_an_empty_store_says_no_runs_yet(tmp_path: Path) -> None:
    import sqlite3

    from workbench.runs import RunStore

    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    schemaless = tmp_path / "schemaless.db"
    sqlite3.connect(schemaless).execute("CREATE TABLE other (x)").connection.close()
    migrated = tmp_path / "migrated.db"
    RunStore(migrated).close()  # the schema, but no runs
    for path in (empty, schemaless, migrated):
        result = runner.invoke(app, ["runs", "list", "--store", str(path)])
        assert result.exit_code == 0, result.output
        assert "no runs yet" in result.stdout, path


def test_runs_list_on_a_file_that_is_not_a_store_is_an_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("this is not an SQLite database, only some text that is long enough")
    assert_one_line_error(runner.invoke(app, ["runs", "list", "--store", str(junk)]), str(junk))
