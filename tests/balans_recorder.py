"""A recording wrapper around the Balans MIP adapters, shared by the Balans tests.

``recording(monkeypatch)`` makes :func:`solvers.balans.engine.make_adapter`
return :class:`Recorder` objects: each wraps the real adapter and records its
calls as ``("lp" | "solve", keywords)`` in ``calls`` (``solves`` lists the
solve keywords alone).  *lp* fakes the LP relaxation's outcome; *first*
fakes the first solve's.
"""

from __future__ import annotations

from typing import Any

import pytest

from solvers.balans import engine
from solvers.balans.adapter import SubResult


class Recorder:
    """Wraps a real adapter and records every call's keyword arguments."""

    def __init__(
        self, inner: Any, *, lp: SubResult | None = None, first: SubResult | None = None
    ) -> None:
        self.inner, self.lp, self.first = inner, lp, first
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.name = inner.name

    @property
    def solves(self) -> list[dict[str, Any]]:
        """The keywords of each solve, in order."""
        return [kw for what, kw in self.calls if what == "solve"]

    def lp_relaxation(self, time_limit: float | None = None) -> SubResult:
        self.calls.append(("lp", {"time_limit": time_limit}))
        if self.lp is not None:
            return self.lp
        res: SubResult = self.inner.lp_relaxation(time_limit)
        return res

    def solve(self, time_limit: float, **kw: Any) -> SubResult:
        self.calls.append(("solve", dict(kw, time_limit=time_limit)))
        if self.first is not None and len(self.solves) == 1:
            self.inner.improvements = []
            return self.first
        res: SubResult = self.inner.solve(time_limit, **kw)
        return res

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def recording(monkeypatch: pytest.MonkeyPatch, **fakes: SubResult | None) -> list[Recorder]:
    """Patch ``engine.make_adapter`` to hand out :class:`Recorder` wrappers; return them."""
    made: list[Recorder] = []
    real = engine.make_adapter

    def make(*a: Any, **k: Any) -> Recorder:
        made.append(Recorder(real(*a, **k), **fakes))
        return made[-1]

    monkeypatch.setattr(engine, "make_adapter", make)
    return made
