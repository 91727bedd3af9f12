"""``workbench app``: start the Streamlit app (``streamlit run app/main.py``).

The workbench never imports the ``app`` package: the script is located with
:func:`importlib.util.find_spec` and run by Streamlit in a child process.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from workbench.errors import WorkbenchError

__all__ = ["app_command", "app_script"]

INSTALL_HINT = "pip install 'optimization-workbench[app]'"


def app_script() -> Path:
    """The path of ``app/main.py``, found without importing the ``app`` package.

    Raises
    ------
    WorkbenchError
        If the app package or Streamlit is not installed.
    """
    spec = importlib.util.find_spec("app")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        script = Path(folder) / "main.py"
        if script.is_file():
            return script
    raise WorkbenchError(f"the app is not installed (no app/main.py found): {INSTALL_HINT}")


def app_command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8501,
    headless: Annotated[
        bool, typer.Option("--headless", help="Do not open a browser window.")
    ] = False,
) -> None:
    """Start the Streamlit app (Formulate & Solve, editor, benchmarks, runs, settings)."""
    script = app_script()
    if importlib.util.find_spec("streamlit") is None:
        raise WorkbenchError(f"the app needs Streamlit: {INSTALL_HINT}")
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port)]
    if headless:
        cmd += ["--server.headless", "true"]
    try:
        code = subprocess.call(cmd)
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)
