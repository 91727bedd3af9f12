"""The anytime history of a SCIP run, recorded from SCIP's events."""

from __future__ import annotations

from typing import Any

from solvers._linear import HistoryRecorder

__all__ = ["bound_value", "history_handler"]


def bound_value(m: Any, v: float) -> float | None:
    """A SCIP bound or objective value, ``None`` where SCIP means infinity (``|v| >= 1e20``)."""
    v = float(v)
    return None if m.isInfinity(abs(v)) or v != v else v


def history_handler(recorder: HistoryRecorder) -> Any:
    """A ``pyscipopt.Eventhdlr`` adding ``(solving time, primal bound, dual bound)`` points.

    It catches every new incumbent (``BESTSOLFOUND``) and every improvement
    of the global dual bound (``DUALBOUNDIMPROVED``); both bounds are in the
    original problem's space and sense, objective offset included.
    """
    from pyscipopt import SCIP_EVENTTYPE, Eventhdlr  # type: ignore[attr-defined]

    mask = SCIP_EVENTTYPE.BESTSOLFOUND | SCIP_EVENTTYPE.DUALBOUNDIMPROVED

    class History(Eventhdlr):  # type: ignore[misc]
        def eventinit(self) -> None:
            self.model.catchEvent(mask, self)

        def eventexit(self) -> None:
            self.model.dropEvent(mask, self)

        def eventexec(self, event: Any) -> None:
            m = self.model
            recorder.add(
                m.getSolvingTime(),
                bound_value(m, m.getPrimalbound()),
                bound_value(m, m.getDualbound()),
            )

    return History()
