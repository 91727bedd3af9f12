"""The ``scip`` backend: SCIP through pyscipopt, for LP up to MINLP, solved globally.

Importing this package imports no solver library; ``pyscipopt`` is imported
inside the functions that use it.
"""

from solvers.scip.backend import ScipBackend
from solvers.scip.rows import add_indicator
from solvers.scip.status import STATUS_MAP, termination

__all__ = ["STATUS_MAP", "ScipBackend", "add_indicator", "termination"]
