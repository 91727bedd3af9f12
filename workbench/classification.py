"""Classify a model (LP, MILP, QP/MIQP, NLP/MINLP, pure integer, bilevel, robust) and size it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.backends.base import Capability
from workbench.compile.affine import INF_DEGREE, NonlinearError, degree, poly
from workbench.compile.linear_form import LinearForm
from workbench.compile.structure import CompiledModel, compile_structure
from workbench.convexity import model_convexity
from workbench.ir.model import Model
from workbench.result import Termination

__all__ = [
    "GLOBAL_HINT",
    "Classification",
    "classify",
    "classify_linear_form",
    "classify_structure",
    "covers",
    "local_optimum",
]

GLOBAL_HINT = "backend 'scip' finds a global optimum"
"""What a local method's message suggests for a model it cannot prove convex."""

# Which declared capability covers which problem class.
_COVERS: dict[Capability, frozenset[Capability]] = {
    Capability.LP: frozenset({Capability.LP}),
    Capability.MILP: frozenset({Capability.LP, Capability.MILP}),
    Capability.QP: frozenset({Capability.LP, Capability.QP}),
    Capability.MIQP: frozenset({Capability.LP, Capability.MILP, Capability.QP, Capability.MIQP}),
    Capability.NLP: frozenset({Capability.LP, Capability.QP, Capability.NLP}),
    Capability.MINLP: frozenset(
        {
            Capability.LP,
            Capability.MILP,
            Capability.QP,
            Capability.MIQP,
            Capability.NLP,
            Capability.MINLP,
        }
    ),
    Capability.PURE_INTEGER: frozenset(),
    Capability.BILEVEL: frozenset({Capability.BILEVEL}),
    Capability.ROBUST: frozenset({Capability.ROBUST}),
}


@dataclass
class Classification:
    """What kind of problem a model is, and how big.

    Attributes
    ----------
    problem_class
        LP, MILP, QP, MIQP, NLP, MINLP, BILEVEL or ROBUST.
    pure_integer
        Every variable integer, linear, with finite bounds: CP-SAT can take it.
    num_vars, num_int_vars, num_bin_vars
        Variable counts (flat).
    num_constraints
        Rows of the leader's constraints.
    num_terms
        Linear terms in the constraints (nonzeros before merging), when linear.
    objective_degree, constraint_degree
        Polynomial degrees (99 means not polynomial).
    convex
        The model is proven convex: continuous variables only, the objective
        convex (min) or concave (max), every ``<=`` row convex, ``>=`` row
        concave and ``==`` row affine (composition rules, see
        :mod:`workbench.convexity`).  ``False`` when it is known not to be
        (integer variables, or a quadratic with the wrong curvature);
        ``None`` when unknown, which counts as nonconvex.
    relaxation_convex
        The same verdict with integrality dropped (``True`` for a convex MIQP or MINLP).
    smooth
        No kink (``abs``, ``min``, ``max`` of variables) among the expressions.
    convexity_reason
        What stopped the proof, naming the objective or constraint (``None`` when convex).
    """

    problem_class: Capability
    pure_integer: bool = False
    num_vars: int = 0
    num_int_vars: int = 0
    num_bin_vars: int = 0
    num_constraints: int = 0
    num_terms: int | None = None
    objective_degree: int = 1
    constraint_degree: int = 1
    convex: bool | None = None
    relaxation_convex: bool | None = None
    smooth: bool = True
    convexity_reason: str | None = None
    inner: str | None = None
    features: dict[str, Any] = field(default_factory=dict)

    @property
    def quadratic(self) -> bool:
        """True when the objective is quadratic and constraints linear."""
        return self.objective_degree == 2 and self.constraint_degree <= 1

    @property
    def proven_convex(self) -> bool:
        """True when a local optimum is a global one (convex, and smooth for gradient methods)."""
        return self.convex is True and self.smooth

    @property
    def nonlinear(self) -> bool:
        """True for NLP/MINLP."""
        return self.problem_class in (Capability.NLP, Capability.MINLP)

    def summary(self) -> str:
        """One line such as ``MILP: 12 variables (4 integer), 7 constraints``."""
        kind = self.problem_class.value
        if self.pure_integer:
            kind += " (pure integer)"
        kind += self._curvature()
        ints = f" ({self.num_int_vars} integer)" if self.num_int_vars else ""
        extra = f", {self.num_terms} terms" if self.num_terms is not None else ""
        inner = f"; inner problem {self.inner}" if self.inner else ""
        return f"{kind}: {self.num_vars} variables{ints}, {self.num_constraints} constraints{extra}{inner}"

    def _curvature(self) -> str:
        """`` (convex)``, `` (nonconvex)`` or `` (convexity unknown)`` where it matters."""
        cont = (Capability.QP, Capability.NLP)
        mixed = (Capability.MIQP, Capability.MINLP)
        if self.problem_class in cont:
            word = {True: "convex", False: "nonconvex", None: "convexity unknown"}[self.convex]
        elif self.problem_class in mixed:
            rc = self.relaxation_convex
            word = {True: "convex relaxation", False: "nonconvex", None: "convexity unknown"}[rc]
        else:
            return ""
        return f" ({word}{'' if self.smooth else ', nonsmooth'})"


def covers(capabilities: frozenset[Capability], cls: Classification) -> bool:
    """Whether a backend with *capabilities* can take a problem of this classification."""
    if cls.pure_integer and Capability.PURE_INTEGER in capabilities:
        return True
    return any(cls.problem_class in _COVERS[c] for c in capabilities)


def local_optimum(cls: Classification) -> tuple[Termination, str]:
    """How a local method that converged must report: ``OPTIMAL`` only on a proven convex model.

    Parameters
    ----------
    cls
        The model's classification.

    Returns
    -------
    (Termination, str)
        ``OPTIMAL`` with a note that the local optimum of a smooth convex
        model is global; otherwise ``LOCALLY_OPTIMAL`` with the reason the
        proof failed and :data:`GLOBAL_HINT`.
    """
    if cls.proven_convex:
        return Termination.OPTIMAL, "the model is convex, so this local optimum is global"
    if cls.convex is True:  # convex but with a kink a gradient method may stop at
        why = "the model is convex but nonsmooth (abs, min or max): a gradient method may stop at a kink"
        return (
            Termination.LOCALLY_OPTIMAL,
            f"a local optimum, not proven global: {why}; {GLOBAL_HINT}",
        )
    why = cls.convexity_reason or "convexity not proven"
    return (
        Termination.LOCALLY_OPTIMAL,
        f"a local optimum of a nonconvex model ({why}); it may not be the global optimum; {GLOBAL_HINT}",
    )


def _convex(q: Any, sense: str) -> bool | None:
    idx = np.unique(q.nonzero()[0])
    if idx.size > 3000:
        return None
    dense = q[idx][:, idx].toarray()
    ev = np.linalg.eigvalsh(dense)
    tol = 1e-9 * max(1.0, float(np.abs(ev).max()) if ev.size else 1.0)
    return bool(ev.min() >= -tol) if sense == "min" else bool(ev.max() <= tol)


def _base_class(integer: bool, obj_deg: int, con_deg: int, convex: bool | None) -> Capability:
    if con_deg > 1 or obj_deg > 2 or (obj_deg == 2 and convex is False):
        return Capability.MINLP if integer else Capability.NLP
    if obj_deg == 2:
        return Capability.MIQP if integer else Capability.QP
    return Capability.MILP if integer else Capability.LP


def classify_structure(cm: CompiledModel) -> Classification:
    """Classify an already compiled structure."""
    ctx = cm.ctx
    n_int = sum(v.size for v in ctx.vars.values() if v.is_integer)
    n_bin = sum(v.size for v in ctx.vars.values() if v.domain == "binary")
    obj_deg = degree(cm.objective.plan)
    con_deg = max((degree(r.plan) for r in cm.rows), default=0)
    qconvex: bool | None = None  # the quadratic objective's curvature picks QP or NLP
    num_terms: int | None = None
    if obj_deg == 2:
        from workbench.compile.linear import _quad_matrix

        q = _quad_matrix(poly(cm.objective.plan), ctx.num_vars)
        qconvex = True if q is None else _convex(q, cm.objective.sense)
    if con_deg <= 1:
        try:
            num_terms = sum(int(poly(r.plan, quadratic=False).coefs.shape[0]) for r in cm.rows)
        except NonlinearError:
            num_terms = None
    cls = _base_class(n_int > 0, obj_deg, con_deg, qconvex)
    cvx = model_convexity(cm)
    num_eq = sum(int(np.count_nonzero(r.lo == r.hi)) for r in cm.rows)
    lbs = [v.lb for v in ctx.vars.values()]
    ubs = [v.ub for v in ctx.vars.values()]
    bounded = all(np.isfinite(a).all() for a in lbs + ubs)
    free = all(not np.isfinite(a).any() for a in lbs + ubs)
    pure = ctx.num_vars > 0 and n_int == ctx.num_vars and obj_deg <= 1 and con_deg <= 1 and bounded
    out = Classification(
        problem_class=cls,
        pure_integer=pure,
        num_vars=ctx.num_vars,
        num_int_vars=n_int,
        num_bin_vars=n_bin,
        num_constraints=cm.num_rows,
        num_terms=num_terms,
        objective_degree=min(obj_deg, INF_DEGREE),
        constraint_degree=min(con_deg, INF_DEGREE),
        convex=cvx.convex,
        relaxation_convex=cvx.relaxation_convex,
        smooth=cvx.smooth,
        convexity_reason=cvx.reason,
        features={
            "bounded": bounded,
            "free": free,
            "warnings": list(cm.warnings),
            "num_eq": num_eq,
            "num_ineq": cm.num_rows - num_eq,
        },
    )
    if cm.model.lower_level is not None:
        follower = set(cm.model.lower_level.variables)
        out.features["lower_degree"] = max(
            [degree(cm.lower_objective.plan)]
            if cm.lower_objective is not None
            else [0] + [degree(r.plan) for r in cm.lower_rows],
        )
        out.features["lower_integer"] = any(
            ctx.vars[v].is_integer for v in follower if v in ctx.vars
        )
        out.inner = cls.value
        out.problem_class = Capability.BILEVEL
        out.pure_integer = False
    elif cm.model.robust is not None:
        out.inner = cls.value
        out.problem_class = Capability.ROBUST
        out.pure_integer = False
    return out


def _matrix_reason(qconvex: bool | None, n_int: int) -> str | None:
    if n_int:
        return "integer variables"
    if qconvex is None:
        return "the quadratic objective is too large to check"
    return None if qconvex else "the quadratic objective has the wrong curvature"


def classify_linear_form(lf: LinearForm) -> Classification:
    """Classify a matrix-form model (from MPS/LP)."""
    n_int = int(lf.integrality.sum())
    binary = lf.integrality & (lf.col_lb >= 0) & (lf.col_ub <= 1)
    qconvex = True if lf.Q is None else _convex(lf.Q, lf.sense)
    obj_deg = 2 if lf.Q is not None else 1
    bounded = bool(np.isfinite(lf.col_lb).all() and np.isfinite(lf.col_ub).all())
    free = not bool(np.isfinite(lf.col_lb).any() or np.isfinite(lf.col_ub).any())
    return Classification(
        problem_class=_base_class(n_int > 0, obj_deg, 1, qconvex),
        pure_integer=bool(lf.num_cols and n_int == lf.num_cols and lf.Q is None and bounded),
        num_vars=lf.num_cols,
        num_int_vars=n_int,
        num_bin_vars=int(binary.sum()),
        num_constraints=lf.num_rows,
        num_terms=lf.nnz,
        objective_degree=obj_deg,
        constraint_degree=1,
        convex=False if n_int else qconvex,
        relaxation_convex=qconvex,
        convexity_reason=_matrix_reason(qconvex, n_int),
        features={
            "bounded": bounded,
            "free": free,
            "num_eq": int(np.count_nonzero(lf.row_lb == lf.row_ub)),
            "num_ineq": int(np.count_nonzero(lf.row_lb != lf.row_ub)),
        },
    )


def classify(model: Model | CompiledModel | LinearForm) -> Classification:
    """Classify a model from its expressions, and record its sizes.

    Parameters
    ----------
    model
        An IR model, a compiled structure, or a LinearForm.

    Returns
    -------
    Classification

    Raises
    ------
    ModelError
        If the model does not validate.
    """
    if isinstance(model, LinearForm):
        return classify_linear_form(model)
    cm = model if isinstance(model, CompiledModel) else compile_structure(model)
    return classify_structure(cm)
