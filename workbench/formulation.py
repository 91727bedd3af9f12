"""The agent protocol and registry: words in, a validated model (or code) out.

Agents live in the top-level ``agents`` package and register by name under
the ``workbench.agents`` entry-point group, exactly as backends do; this
module holds only the contract, so ``workbench`` never imports an agent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from workbench.errors import WorkbenchError
from workbench.registry import LazyRegistry

if TYPE_CHECKING:
    from workbench.ir.model import Model
    from workbench.result import Result

__all__ = [
    "AGENTS",
    "Agent",
    "Attempt",
    "BoundSolve",
    "DeadlineExceeded",
    "Formulation",
    "agent_names",
    "check_time_limit",
    "formulate",
    "get_agent",
]


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


class DeadlineExceeded(Exception):  # noqa: N818  (no WorkbenchError: agents must not catch it)
    """A job's wall-clock deadline leaves no time for another solve.

    Raised by :class:`BoundSolve` instead of starting a solve that could not
    finish; it passes through the agents (which catch only
    :class:`~workbench.errors.WorkbenchError`) to the batch job, which keeps
    what the agent had so far.
    """


MIN_SOLVE_S = 1.0
"""The shortest solve :class:`BoundSolve` starts before a deadline."""


def check_time_limit(time_limit: float | None, what: str = "time_limit") -> float | None:
    """*time_limit* as a float, or ``None``.

    Raises
    ------
    WorkbenchError
        If it is not a finite number > 0 (the message quotes it).
    """
    if time_limit is None:
        return None
    try:
        value = float(time_limit)
    except (TypeError, ValueError):
        raise WorkbenchError(
            f"{what} must be a number of seconds > 0, got {time_limit!r}"
        ) from None
    if not 0 < value < float("inf"):
        raise WorkbenchError(f"{what} must be a number of seconds > 0, got {time_limit!r}")
    return value


class BoundSolve:
    """The solve function an agent gets: one backend, the time limit and seed on every call.

    Parameters
    ----------
    solve
        ``solve(model, **kw) -> Result`` (``workbench.solve`` with the backend bound).
    time_limit
        Seconds for each candidate solve (``None``: no limit).
    seed
        Passed to every solve.
    deadline
        A ``time.monotonic()`` instant by which the whole formulation must be
        done: each solve's limit shrinks to what is left (less *margin*), and
        :class:`DeadlineExceeded` is raised when less than
        :data:`MIN_SOLVE_S` is left.
    margin
        Seconds kept in hand before the deadline.

    Attributes
    ----------
    time_limit, seed
        As given; code mode reads :meth:`limit` to limit the sandboxed run.
    calls
        Solves made so far.
    last
        ``(model, result)`` of the latest solve (what a timed-out job keeps).
    """

    def __init__(
        self,
        solve: Callable[..., Result],
        *,
        time_limit: float | None = None,
        seed: int | None = None,
        deadline: float | None = None,
        margin: float = 0.0,
    ) -> None:
        self._solve = solve
        self.time_limit = check_time_limit(time_limit)
        self.seed = seed
        self.deadline = deadline
        self.margin = margin
        self.calls = 0
        self.last: tuple[Any, Result] | None = None

    def limit(self) -> float | None:
        """The time limit for a solve starting now (the deadline included).

        Raises
        ------
        DeadlineExceeded
            When less than :data:`MIN_SOLVE_S` is left before the deadline.
        """
        if self.deadline is None:
            return self.time_limit
        left = self.deadline - time.monotonic() - self.margin
        if left < MIN_SOLVE_S:
            raise DeadlineExceeded(
                f"the job's deadline leaves {max(0.0, left + self.margin):.1f} s: "
                "no time for another solve"
            )
        return left if self.time_limit is None else min(self.time_limit, left)

    def __call__(self, model: Any, **kw: Any) -> Result:
        """Solve *model* with the bound limit and seed (a smaller explicit limit wins)."""
        limit = self.limit()
        asked = kw.pop("time_limit", None)
        if asked is not None and (limit is None or asked < limit):
            limit = asked
        if limit is not None:
            kw["time_limit"] = limit
        if self.seed is not None:
            kw.setdefault("seed", self.seed)
        result = self._solve(model, **kw)
        self.calls += 1
        self.last = (model, result)
        return result


def formulate(
    text: str,
    agent: str = "orthought",
    *,
    llm: Any,
    backend: str = "auto",
    budget: int = 3,
    time_limit: float | None = None,
    seed: int | None = None,
    solve: Callable[..., Result] | None = None,
    deadline: float | None = None,
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
    time_limit
        Seconds for every candidate solve, code-mode runs in the sandbox
        included (``None``: no limit).
    seed
        Passed to every candidate solve.
    solve
        Replace the solve function (tests, the batch's solver processes);
        ``backend`` is then ignored, the time limit and seed still apply.
    deadline
        A ``time.monotonic()`` instant by which every solve must be done: each
        solve's limit shrinks to the time left, and none starts with less than
        :data:`MIN_SOLVE_S` left (:class:`DeadlineExceeded` is raised instead).
    **agent_options
        Passed to the agent's constructor (e.g. ``mode="code"``, ``max_tokens=32768``).

    Returns
    -------
    Formulation
        The final model or code, its result, every attempt, the transcript and counts.

    Raises
    ------
    WorkbenchError
        For an unknown agent, or a time limit that is not > 0.
    """
    time_limit = check_time_limit(time_limit)
    if solve is None:
        from workbench.solving import solve as default_solve

        def solve(model: Any, **kw: Any) -> Result:
            return default_solve(model, backend, **kw)

    bound = BoundSolve(solve, time_limit=time_limit, seed=seed, deadline=deadline)
    try:
        cls = AGENTS.load(agent)
    except KeyError:
        known = ", ".join(agent_names()) or "none are installed"
        raise WorkbenchError(f"unknown agent {agent!r}; registered agents: {known}") from None
    return cls(**agent_options).formulate(text, llm=llm, solve=bound, budget=budget)  # type: ignore[call-arg]
