"""Test-only plug-ins, registered through ``WORKBENCH_PLUGINS`` (so worker processes see them).

* datasets ``tiny`` (``WBTEST_N`` small LPs, default 16, item ``tiny_k`` has
  optimum ``3k + 4``) and ``tiny_traps`` (the same plus ``trap_segv`` and
  ``trap_hang``);
* backend ``trap``: HiGHS, after sleeping ``WBTEST_SLEEP`` seconds; on the
  model named ``segv`` it kills its own process with SIGSEGV, on ``hang`` it
  sleeps forever;
* agent ``echo`` (its text is the model's YAML; two attempts, two LLM calls,
  the first deliberately wrong) and LLM client ``openai`` (a fake that never
  leaves the process).

Put this folder on ``PYTHONPATH`` (or ``sys.path``) and set :data:`PLUGINS`.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import yaml

from workbench.backends.base import Availability, Capability, SolveOptions
from workbench.datasets import Problem
from workbench.formulation import Attempt, Formulation
from workbench.ir import load_model, model_from_dict

HERE = Path(__file__).resolve().parent

PLUGINS = ";".join(
    [
        "workbench.datasets|tiny=wbtest_plugins:load_tiny",
        "workbench.datasets|tiny_traps=wbtest_plugins:load_traps",
        "workbench.backends|trap=wbtest_plugins:TrapBackend",
        "workbench.agents|echo=wbtest_plugins:EchoAgent",
        "workbench.llms|openai=wbtest_plugins:FakeLLM",
    ]
)
"""The ``WORKBENCH_PLUGINS`` value that registers everything here."""


def plugin_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """An environment for a subprocess (or ``monkeypatch``) that sees these plug-ins."""
    env = dict(os.environ if base is None else base)
    env["WORKBENCH_PLUGINS"] = PLUGINS
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    env.update(extra)
    return env


def _sleep() -> None:
    pause = float(os.environ.get("WBTEST_SLEEP", "0") or 0)
    if pause > 0:
        time.sleep(pause)


def tiny_model(k: int, name: str | None = None) -> dict[str, Any]:
    """max (k+1) x + y  s.t.  x + y <= 4 + k, x <= 2: optimum 3k + 4."""
    return {
        "name": name or f"tiny_{k}",
        "variables": {"x": {"lb": 0, "ub": 2}, "y": {"lb": 0}},
        "objective": {"sense": "max", "expr": f"{k + 1} * x + y"},
        "constraints": [{"name": "cap", "expr": f"x + y <= {4 + k}"}],
    }


def _problem(k: int, name: str | None = None, pid: str | None = None) -> Problem:
    data = tiny_model(k, name)
    return Problem(
        id=pid or f"tiny_{k:02d}",
        title=f"tiny LP {k}",
        text=yaml.safe_dump(data, sort_keys=False),
        model=model_from_dict(data),
        optimum=3.0 * k + 4.0,
        category="test",
    )


def load_tiny(n: int | None = None) -> list[Problem]:
    """``n`` (default ``$WBTEST_N`` or 16) tiny LPs with known optima."""
    count = int(n if n is not None else os.environ.get("WBTEST_N", "16"))
    return [_problem(k) for k in range(count)]


def load_traps(n: int | None = None) -> list[Problem]:
    """:func:`load_tiny` plus ``trap_segv`` and ``trap_hang`` (for the ``trap`` backend)."""
    rows = load_tiny(n)
    rows.insert(1, _problem(0, name="segv", pid="trap_segv"))
    rows.insert(3, _problem(0, name="hang", pid="trap_hang"))
    return rows


class TrapBackend:
    """HiGHS behind a pause, with traps: model ``segv`` segfaults, ``hang`` never returns."""

    name: ClassVar[str] = "trap"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.LP, Capability.MILP})
    rank: ClassVar[int] = 99

    def available(self) -> Availability:
        return Availability(True, version="test")

    def solve(self, model: Any, options: SolveOptions) -> Any:
        if model.name == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        if model.name == "hang":
            while True:
                time.sleep(60)
        _sleep()
        from workbench.backends.registry import get_backend

        return get_backend("highs").solve(model, options)


class FakeLLM:
    """An LLM client that answers ``ok`` and logs each call as the run store expects."""

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.calls: list[dict[str, Any]] = []

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        response_format: Any = None,
    ) -> Any:
        text = f"ok {len(self.calls)}"
        self.calls.append({
            "attempt": len(self.calls), "model": "fake", "prompt": messages, "response": text,
            "prompt_tokens": 10, "completion_tokens": 2, "latency": 0.0,
        })  # fmt: skip
        return SimpleNamespace(text=text, usage={"prompt_tokens": 10, "completion_tokens": 2})


class EchoAgent:
    """Reads the model's YAML from the text; one wrong attempt, then the right one."""

    name: ClassVar[str] = "echo"

    def formulate(self, text: str, *, llm: Any, solve: Any, budget: int = 3) -> Formulation:
        llm.complete([{"role": "user", "content": text}])
        first = Attempt(0, error="deliberately wrong first try", feedback="read it again")
        llm.complete([{"role": "user", "content": text}, {"role": "user", "content": "again"}])
        _sleep()
        model = load_model(text)
        result = solve(model)
        return Formulation(
            model=model, result=result, attempts=[first, Attempt(1, model=model, result=result)],
            tokens=24, calls=2,
        )  # fmt: skip
