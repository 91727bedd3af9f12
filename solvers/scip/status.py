"""SCIP's solve statuses -> :class:`~workbench.result.Termination`, in one table.

``pyscipopt.Model.getStatus()`` returns one of the lower-case names of
``pyscipopt.SCIP_STATUS``'s members; :data:`STATUS_MAP` has one entry for
each (the test checks the two sets are equal).  :func:`termination` then
applies the rules that need more than the status:

- ``OPTIMAL`` only when SCIP proved global optimality: status ``optimal``,
  or ``gaplimit`` with a gap of exactly zero.  ``gaplimit`` with a nonzero
  gap is ``FEASIBLE`` (the result carries the gap).
- A limit or an interrupt with an incumbent is ``FEASIBLE`` (the native
  status still names the limit), as in the ``highs`` backend; without one it
  stays the mapped limit.
- ``optimal`` without a solution (it cannot happen in a sound run) is ``ERROR``.
"""

from __future__ import annotations

from workbench.result import Termination

__all__ = ["LIMITS", "STATUS_MAP", "termination"]

STATUS_MAP: dict[str, Termination] = {
    "optimal": Termination.OPTIMAL,
    "infeasible": Termination.INFEASIBLE,
    "unbounded": Termination.UNBOUNDED,
    "inforunbd": Termination.INFEASIBLE_OR_UNBOUNDED,
    "timelimit": Termination.TIME_LIMIT,
    "nodelimit": Termination.ITERATION_LIMIT,
    "totalnodelimit": Termination.ITERATION_LIMIT,
    "stallnodelimit": Termination.ITERATION_LIMIT,
    "gaplimit": Termination.FEASIBLE,  # OPTIMAL when the gap is exactly zero (see termination)
    "sollimit": Termination.INTERRUPTED,
    "bestsollimit": Termination.INTERRUPTED,
    "restartlimit": Termination.INTERRUPTED,
    "memlimit": Termination.INTERRUPTED,
    "userinterrupt": Termination.INTERRUPTED,
    "primallimit": Termination.INTERRUPTED,
    "duallimit": Termination.INTERRUPTED,
    "unknown": Termination.ERROR,
}
"""Every status string ``Model.getStatus()`` can return -> its termination before the point rules."""

LIMITS = (Termination.TIME_LIMIT, Termination.ITERATION_LIMIT, Termination.INTERRUPTED)
"""Terminations that become ``FEASIBLE`` when SCIP stopped with an incumbent."""


def termination(native: str, *, has_point: bool, gap: float | None) -> Termination:
    """The termination of a SCIP run.

    Parameters
    ----------
    native
        ``Model.getStatus()``.
    has_point
        Whether SCIP holds a feasible solution.
    gap
        SCIP's own relative gap (``Model.getGap()``), or ``None``.

    Returns
    -------
    Termination
        ``ERROR`` for a status this table does not know.
    """
    term = STATUS_MAP.get(native, Termination.ERROR)
    if native == "gaplimit":
        if not has_point:
            return Termination.ERROR
        return Termination.OPTIMAL if gap == 0.0 else Termination.FEASIBLE
    if term is Termination.OPTIMAL and not has_point:
        return Termination.ERROR
    if term in LIMITS and has_point:
        return Termination.FEASIBLE
    return term
