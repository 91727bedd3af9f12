"""Small helpers shared by the LinearForm backends (``highs``, ``cpsat``)."""

from __future__ import annotations

import difflib
import math
import time
from collections.abc import Iterable
from typing import Any

from workbench.backends.base import SolveOptions
from workbench.compile.linear_form import LinearForm
from workbench.errors import OptionsError

__all__ = ["HistoryRecorder", "compile_model", "finite", "relative_gap", "unknown_option"]


def finite(x: Any) -> float | None:
    """``float(x)`` when finite, else ``None``."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """``|objective - bound| / max(1, |objective|)``, or ``None`` when either is missing."""
    if objective is None or bound is None:
        return None
    return abs(objective - bound) / max(1.0, abs(objective))


def unknown_option(backend: str, name: str, known: Iterable[str]) -> OptionsError:
    """An :class:`OptionsError` (a ``ValueError``) naming an unknown option and close known ones."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return OptionsError(f"unknown {backend} option {name!r}{hint}")


class HistoryRecorder:
    """Anytime ``(seconds, primal, dual)`` points, kept only when a value changes."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float | None, float | None]] = []

    def add(self, t: float, primal: Any, dual: Any) -> None:
        """Record a point unless it repeats the last primal and dual values."""
        p, d = finite(primal), finite(dual)
        if self.points and self.points[-1][1:] == (p, d):
            return
        self.points.append((float(t), p, d))

    def finish(
        self, t: float, primal: float | None, dual: float | None
    ) -> list[tuple[float, float | None, float | None]]:
        """Append the final point (always present) and return the history."""
        p, d = finite(primal), finite(dual)
        if not self.points or self.points[-1][1:] != (p, d):
            self.points.append((float(t), p, d))
        return self.points


def compile_model(
    model: Any, options: SolveOptions | None = None, *, indicators: bool = False
) -> tuple[LinearForm, float]:
    """Compile an IR model to a LinearForm; return it and the seconds taken.

    Reuses ``options.structure`` (the compiled structure ``workbench.solve``
    already built) when it belongs to *model*, instead of compiling twice.
    *indicators* keeps indicator rows (for a backend that takes them natively).
    """
    from workbench.compile.linear import compile_linear

    t0 = time.perf_counter()
    structure = getattr(options, "structure", None)
    if structure is not None and getattr(structure, "model", None) is model:
        lf = compile_linear(structure, indicators=indicators)
    else:
        lf = compile_linear(model, indicators=indicators)
    return lf, time.perf_counter() - t0


def describe_options(options: SolveOptions) -> str:
    """A short text of the options that were set (for logs)."""
    parts = [
        f"{k}={v}"
        for k, v in (
            ("time_limit", options.time_limit),
            ("seed", options.seed),
            ("threads", options.threads),
            ("rel_gap", options.rel_gap),
        )
        if v is not None
    ]
    parts += [f"{k}={v}" for k, v in options.extra.items()]
    return ", ".join(parts)


class LinearFormBackend:
    """Base for backends that solve a :class:`LinearForm`: ``solve`` compiles, then delegates."""

    def solve(self, model: Any, options: SolveOptions) -> Any:
        """Compile *model* to a LinearForm (reusing ``options.structure``) and call ``solve_linear``."""
        lf, build = compile_model(model, options, indicators=getattr(self, "indicators", False))
        return self.solve_linear(lf, options, build_time=build)  # type: ignore[attr-defined]
