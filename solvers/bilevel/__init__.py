"""Bilevel backends: the Kwon et al. penalty method (with V-PBGD and BOME baselines) and exact KKT.

Importing this package imports no torch; the heavy modules load inside the
functions that need them.
"""

from solvers.bilevel.backend import BilevelKKTBackend, BilevelPenaltyBackend

__all__ = ["BilevelKKTBackend", "BilevelPenaltyBackend"]
