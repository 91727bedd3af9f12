"""The agent protocol and registry: words in, a validated model (or code) out.

Agents live in the top-level ``agents`` package and register by name under
the ``workbench.agents`` entry-point group, exactly as backends do; this
module holds only the contract, so ``workbench`` never imports an agent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from workbench.errors import WorkbenchError
from workbench.registry import LazyRegistry

if TYPE_CHECKING:
    from workbench.ir.model import Model
    from workbench.result import Result

__all__ = ["AGENTS", "Agent", "Attempt", "Formulation", "agent_names", "formulate", "get_agent"]


@dataclass
class Attempt:
    """One try of an agent: what it produced and what came back."""

    index: int
    model: Model | None = None
    code: str | None = None
    result: Result | None = None
    feedback: str = ""
    error: str | None = None


@dataclass
class Formulation:
    """What an agent returns.

    Attributes
    ----------
    model
        The final IR model, when the agent produced one.
    code
        The generated Pyomo code, on the code path.
    result
        The result of solving the final model.
    attempts
        Every attempt, in order.
    transcript
        Every prompt and response, as ``{"role", "content", ...}`` dicts.
    tokens, calls
        Token and LLM-call counts.
    """

    model: Model | None = None
    code: str | None = None
    result: Result | None = None
    attempts: list[Attempt] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    tokens: int = 0
    calls: int = 0


@runtime_checkable
class Agent(Protocol):
    """``formulate(text, *, llm, solve, budget) -> Formulation``."""

    name: ClassVar[str]

    def formulate(
        self, text: str, *, llm: Any, solve: Callable[..., Result], budget: int = 3
    ) -> Formulation:
        """Turn a problem description into a solved model."""
        ...


AGENTS: LazyRegistry[type[Agent]] = LazyRegistry("workbench.agents")


def agent_names() -> list[str]:
    """Names of the registered agents."""
    return AGENTS.names()


def get_agent(name: str) -> Agent:
    """An instance of the agent registered as *name*.

    Raises
    ------
    WorkbenchError
        If no agent has that name (the message lists the registered ones).
    """
    try:
        return AGENTS.load(name)()
    except KeyError:
        known = ", ".join(agent_names()) or "none are installed"
        raise WorkbenchError(f"unknown agent {name!r}; registered agents: {known}") from None


def formulate(
    text: str,
    agent: str = "orthought",
    *,
    llm: Any,
    backend: str = "auto",
    budget: int = 3,
    solve: Callable[..., Result] | None = None,
    **agent_options: Any,
) -> Formulation:
    """Formulate and solve a problem described in words with a registered agent.

    Parameters
    ----------
    text
        The problem description.
    agent
        A registered agent name (``orthought``, ``llmopt``...).
    llm
        An object with ``complete(messages, *, temperature, max_tokens, response_format=None)``.
    backend
        The backend every candidate model is solved with (``auto`` by capability).
    budget
        Repair attempts the agent may spend.
    solve
        Replace the solve function entirely (tests); ``backend`` is then ignored.
    **agent_options
        Passed to the agent's constructor (e.g. ``mode="code"``).

    Returns
    -------
    Formulation
        The final model or code, its result, every attempt, the transcript and counts.
    """
    if solve is None:
        from workbench.solving import solve as default_solve

        def solve(model: Any, **kw: Any) -> Result:
            return default_solve(model, backend, **kw)

    try:
        cls = AGENTS.load(agent)
    except KeyError:
        known = ", ".join(agent_names()) or "none are installed"
        raise WorkbenchError(f"unknown agent {agent!r}; registered agents: {known}") from None
    return cls(**agent_options).formulate(text, llm=llm, solve=solve, budget=budget)  # type: ignore[call-arg]
