"""Exact reformulations: IR in, IR out, one small rule per construct.

Like MathOptInterface's bridges, each rule rewrites one construct a backend
lacks into linear rows it has, exactly:

- ``max``/``min`` of affine terms (:mod:`.minmax`);
- ``abs`` of an affine term (:mod:`.absval`);
- products with binary factors, and a binary times a bounded variable (:mod:`.products`);
- indicator constraints ``when: "y[i]"`` as big-M rows (:mod:`.indicator`);
- RLT rows where binary products meet assignment rows (:mod:`.rlt`);
- for a global solver, the perspective split of a convex quadratic objective
  over on/off variables (:mod:`.perspective`, applied by ``workbench.solve``).

Everything else (products of continuous variables, ``exp``, ``log``,
``sqrt``, ``sin``, ``cos``) is left as written, for a global solver.  The
user's names are kept; new names start with ``_rf_``.  Pure IR and numpy: no
solver is imported here.
"""

from __future__ import annotations

from workbench.compile.reformulate.records import AUX_PREFIX, Record, Reformulation
from workbench.compile.reformulate.run import reformulate

__all__ = ["AUX_PREFIX", "Record", "Reformulation", "reformulate"]
