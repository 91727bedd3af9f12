"""Run :func:`workbench.formulate` in a thread and report each step as it completes.

The agent returns only at the end, so the app watches its two side doors:
every LLM reply (a thin wrapper around the client) and every candidate solve
(a wrapper around the solve function).  Each becomes a :class:`Step` the
page shows in ``st.status`` while the thread runs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.formulation import Formulation
    from workbench.result import Result

__all__ = ["FormulateJob", "Step", "TracingLLM"]


@dataclass
class Step:
    """One line of the live transcript.

    Attributes
    ----------
    t
        Seconds since the job started.
    kind
        ``llm``, ``solve`` or ``error``.
    text
        A one-line summary, in Markdown.
    detail
        The full text (the reply, or the solve's message).
    """

    t: float
    kind: str
    text: str
    detail: str = ""


def _reply_summary(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return "a reply that is not JSON: " + text[:120].replace("\n", " ")
    if isinstance(data, dict):
        parts = []
        for key in ("understanding", "steps"):
            if isinstance(data.get(key), str):
                parts.append(data[key][:160].replace("\n", " "))
        if "model" in data:
            parts.append("(with a model)")
        return " - ".join(parts) or "a JSON reply"
    return "a JSON reply"


class TracingLLM:
    """Wrap an LLM client; record each completed call on a :class:`FormulateJob`.

    Every other attribute (``calls``, ``model``...) is the wrapped client's.
    """

    def __init__(self, inner: Any, job: FormulateJob) -> None:
        self._inner = inner
        self._job = job

    def complete(
        self, messages: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> Any:  # the LLM protocol's signature
        """Forward to the wrapped client and record the reply."""
        n = self._job.n_llm + 1
        self._job.n_llm = n
        try:
            completion = self._inner.complete(messages, **kwargs)
        except Exception as e:
            self._job.add("error", f"LLM call {n} failed: {e}")
            raise
        text = str(getattr(completion, "text", ""))
        self._job.add("llm", f"LLM reply {n}: {_reply_summary(text)}", text)
        return completion

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass
class FormulateJob:
    """A formulation running in a background thread.

    Attributes
    ----------
    agent_options
        Passed to the agent's constructor (``{"mode": "code"}`` for code mode).
    steps
        The live transcript, appended to by the thread.
    formulation
        The agent's result, once done.
    error
        The exception's message, if the agent failed.
    """

    text: str
    agent: str
    backend: str
    budget: int
    time_limit: float | None = None
    agent_options: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    formulation: Formulation | None = None
    error: str | None = None
    n_llm: int = 0
    n_solve: int = 0
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def add(self, kind: str, text: str, detail: str = "") -> None:
        """Append a step (thread-safe)."""
        with self._lock:
            self.steps.append(Step(time.monotonic() - self.started, kind, text, detail))

    def snapshot(self) -> list[Step]:
        """A copy of the steps so far."""
        with self._lock:
            return list(self.steps)

    @property
    def done(self) -> bool:
        """Whether the thread has finished."""
        return self._thread is not None and not self._thread.is_alive()

    def _solve(self, model: Any, **kw: Any) -> Result:
        from workbench.solving import solve

        if self.time_limit is not None:
            kw.setdefault("time_limit", self.time_limit)
        result = solve(model, self.backend, **kw)
        self.n_solve += 1
        obj = "-" if result.objective is None else f"{result.objective:.6g}"
        self.add(
            "solve",
            f"Attempt {self.n_solve}: solved with {result.backend or self.backend}: "
            f"{result.termination.value}, objective {obj}",
            result.diagnostics.message or "",
        )
        return result

    def _run(self, llm: Any) -> None:
        from workbench.formulation import formulate

        try:
            self.formulation = formulate(
                self.text, self.agent, llm=TracingLLM(llm, self), budget=self.budget,
                solve=self._solve, **self.agent_options,
            )  # fmt: skip
        except Exception as e:  # shown on the page, never raised into Streamlit's thread
            self.error = f"{type(e).__name__}: {e}"
            self.add("error", f"The agent stopped: {self.error}")

    def start(self, llm: Any) -> FormulateJob:
        """Start the thread with *llm* (any object with ``complete``)."""
        self.add("start", f"Started {self.agent} with backend {self.backend}")
        self._thread = threading.Thread(target=self._run, args=(llm,), daemon=True,
                                        name="wb-formulate")  # fmt: skip
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread."""
        if self._thread is not None:
            self._thread.join(timeout)
