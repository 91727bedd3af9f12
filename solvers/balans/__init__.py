"""Balans: bandit-driven adaptive large-neighbourhood search for MIP (issue 6).

Importing this package imports no solver library; ``alns``, ``mabwiser``,
``highspy`` and ``pyscipopt`` are imported inside the functions that use them.
"""

from solvers.balans.backend import BalansBackend

__all__ = ["BalansBackend"]
