"""How many CPUs this process may use (a batch worker's share of the machine).

Kept apart from :mod:`workbench.racing` so that the executors, which set the share,
import nothing heavy at start-up.
"""

from __future__ import annotations

import os

__all__ = ["CPU_SHARE_ENV", "cpu_count"]

CPU_SHARE_ENV = "WORKBENCH_CPUS"
"""Environment variable: the CPUs this process may use (a batch worker gets its share of
the machine, so a batch with one worker per core does not race two solvers per worker)."""


def cpu_count() -> int:
    """CPUs this process may use: its affinity, capped by ``WORKBENCH_CPUS`` when set."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    share = os.environ.get(CPU_SHARE_ENV, "")
    return min(n, int(share)) if share.isdigit() and int(share) > 0 else n
