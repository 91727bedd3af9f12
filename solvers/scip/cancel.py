"""Stopping a running SCIP solve from another thread (``SolveOptions.cancel``)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from solvers.scip.capi import lp_interrupter

__all__ = ["interrupt_on"]

_POLL = 0.01
"""Seconds between checks of a plain stop event (a :class:`Cancel` calls a hook instead)."""

_RETRY = 0.001
"""Seconds between repeated interrupts once a stop was requested: SCIP may be between
stages, where it refuses an interrupt, and the caller waits for it to stop."""

_PRESOLVING, _SOLVING = 5, 9
"""The long SCIP stages, where an interrupt is allowed and takes effect (SCIP refuses the
call in some stages in between, printing an error, and clears the flag when a solve starts)."""


@contextlib.contextmanager
def interrupt_on(m: Any, cancel: threading.Event | None) -> Iterator[None]:
    """Interrupt SCIP model *m* while inside the block, once *cancel* is set.

    A watcher thread waits for *cancel* (on its hook when it is a
    :class:`~workbench.backends.base.Cancel`, otherwise polling every ``_POLL``
    seconds), then calls ``interruptSolve`` every ``_RETRY`` seconds until the
    block ends: SCIP resets the flag when a solve starts, so one call made just
    before ``optimize`` would be lost.  SCIP
    checks the flag between presolve rounds, nodes and LP solves; an LP being
    solved is stopped too (``SCIPinterruptLP``), since one root LP of a large
    model can run for most of a minute.  The solving thread runs without the
    GIL, so the watcher gets to run.
    """
    if cancel is None:
        yield
        return
    done = threading.Event()
    wake = threading.Event()  # set by the request (through its hook) or by the block's end
    on_set = getattr(cancel, "on_set", None)
    unhook = on_set(wake.set) if on_set is not None else None
    stop_lp = lp_interrupter(m)

    def watch() -> None:
        while not done.is_set():
            if not wake.wait(None if unhook is not None else _POLL) and not cancel.is_set():
                continue
            if done.is_set():
                return
            with contextlib.suppress(Exception):  # a stage without a solve to stop
                stage = int(m.getStage())
                if stage in (_PRESOLVING, _SOLVING):
                    m.interruptSolve()
                if stage == _SOLVING and stop_lp is not None:
                    stop_lp()
            done.wait(_RETRY)

    watcher = threading.Thread(target=watch, name="wb-scip-cancel", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        wake.set()
        watcher.join()
        if unhook is not None:
            unhook()
