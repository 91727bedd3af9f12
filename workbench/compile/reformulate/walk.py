"""One reformulation pass: walk each expression with its curvature side and scope.

The walk is post-order: a construct is rewritten only when nothing inside it was
rewritten in the same pass (the new auxiliaries' bounds are known from the next
pass's compile), so nested ``max(abs(...), ...)`` takes two passes.

*Polarity* says which way the surrounding model pushes a term: ``+1`` where it
is kept small (a minimised objective, the left side of ``<=``), ``-1`` where it
is kept large, ``0`` where both (``==``, inside ``abs`` or a nonlinear function).
A ``max`` at ``+1`` or a ``min`` at ``-1`` is on its convex side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from workbench.compile.affine import NonlinearError, poly
from workbench.compile.builder import _mentions
from workbench.compile.context import Context
from workbench.compile.plan import PConst, Plan
from workbench.compile.reformulate.bounds import MissingBound, affine_bounds
from workbench.compile.reformulate.columns import columns
from workbench.compile.reformulate.emit import Emitter, Scope
from workbench.compile.reformulate.records import Record
from workbench.errors import ModelError
from workbench.expr.nodes import BinOp, Call, Compare, Gen, Node, Num, Reduce, Unary

__all__ = ["Rule", "Walker"]

T = TypeVar("T")

Rule = Callable[["Walker", Node, int, tuple[Gen, ...]], "Node | None"]


@dataclass
class Walker:
    """State of one pass over the model's expressions.

    Attributes
    ----------
    ctx
        The compiled symbols of the pass's input model.
    em
        Where new pieces go.
    allow_global
        Leave a construct whose big-M lacks a bound (a global solver takes it)
        instead of raising :class:`MissingBound`.
    """

    ctx: Context
    em: Emitter
    allow_global: bool
    binary_valued: set[str]
    rules: list[tuple[type, Rule]]
    whole: Callable[[Walker, Node, tuple[Gen, ...]], bool] | None = None
    """Whether a rule takes a ``*`` chain whole (the product rule), so its factors are not walked."""
    keep_objective_products: bool = False
    """Leave products in the objective as written (a global MIQP solver takes them)."""
    where: str = ""
    records: list[Record] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    indicator_m: float = 0.0
    """The largest big-M written for an indicator row so far."""
    _scopes: dict[tuple[Gen, ...], Scope] = field(default_factory=dict)
    _integer: np.ndarray | None = None

    # ----------------------------------------------------------------- scopes
    @property
    def loc(self) -> str:
        """The location for errors: ``constraints[2].expr``."""
        return f"{self.where}.expr"

    def scope(self, gens: tuple[Gen, ...]) -> Scope:
        """The rows of the index names bound by *gens* (cached)."""
        sc = self._scopes.get(gens)
        if sc is None:
            b = self.ctx.builder(self.loc)
            frame, _ = b.expand_all(b.root(), gens)
            targets = tuple(t for g in gens for t in g.targets)
            if len(set(targets)) != len(targets):
                raise NonlinearError("an index name is bound twice")  # leave it as written
            sizes = tuple(self.ctx.get_set(g.set, self.loc).size for g in gens)
            sc = Scope(targets, frame, self.ctx.interner, gens, sizes)
            self._scopes[gens] = sc
        return sc

    def value(self, node: Node, gens: tuple[Gen, ...]) -> Plan:
        """*node* compiled over the rows of *gens*."""
        b = self.ctx.builder(self.loc)
        return b.value(node, self.scope(gens).frame)

    def bounds(self, node: Node, gens: tuple[Gen, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Per-row interval of an affine *node* (``NonlinearError`` if not affine)."""
        return affine_bounds(self.ctx, self.value(node, gens), self.loc)

    def try_bounds(
        self, nodes: list[Node], gens: tuple[Gen, ...]
    ) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        """Stacked ``(lo, hi)`` rows of *nodes* (one row per node), or ``(None, None)`` if unknown."""
        try:
            got = [self.bounds(n, gens) for n in nodes]
        except (NonlinearError, ModelError):
            return None, None
        return np.vstack([g[0] for g in got]), np.vstack([g[1] for g in got])

    def has_vars(self, node: Node, gens: tuple[Gen, ...]) -> bool:
        """Whether *node* mentions a variable (index names shadow nothing here)."""
        bound = {t for g in gens for t in g.targets}
        return _mentions(node, set(self.ctx.vars) - bound)

    def is_binary_ref(self, name: str) -> bool:
        """A binary variable, or an auxiliary that only takes 0/1 values."""
        v = self.ctx.vars.get(name)
        return name in self.binary_valued or (v is not None and v.domain == "binary")

    def data_sign(self, node: Node, gens: tuple[Gen, ...]) -> int:
        """+1/-1 when data *node* has one sign on every row, else 0."""
        if isinstance(node, Num):
            return int(np.sign(node.value))
        if self.has_vars(node, gens):
            return 0
        try:
            plan = self.value(node, gens)
        except Exception:
            return 0
        if not isinstance(plan, PConst):
            return 0
        arr = plan.array()
        if np.all(arr >= 0):
            return 1
        return -1 if np.all(arr <= 0) else 0

    def domain(self, nodes: list[Node], gens: tuple[Gen, ...]) -> str:
        """``integer`` when *nodes* are integral affine terms: integer coefficients and
        constants over integer variables only, so every value they take is an integer.

        The auxiliary then stays integer: CP-SAT still takes a pure-integer model, and
        a MIP solver knows the objective ``t`` of a makespan can only be an integer
        (an LP bound of 90.25 proves 91).
        """
        integer = self._integer_columns()
        for node in nodes:
            try:
                p = poly(self.value(node, gens), quadratic=False)
            except (NonlinearError, ModelError):
                return "continuous"
            if not (np.all(p.coefs == np.round(p.coefs)) and np.all(p.const == np.round(p.const))):
                return "continuous"
            if not np.all(integer[p.cols]):
                return "continuous"
        return "integer"

    def _integer_columns(self) -> np.ndarray:
        if self._integer is None:
            self._integer = columns(self.ctx).integer
        return self._integer

    def record(self, construct: str, method: str, variables: int, rows: int) -> None:
        """Note one rewrite."""
        self.records.append(Record(self.where, construct, method, variables, rows))

    # ------------------------------------------------------------------- walk
    def expr(self, node: Node, pol: int, gens: tuple[Gen, ...]) -> tuple[Node, bool]:
        """Rewrite *node*; the flag says whether anything inside was rewritten."""
        new, touched = self._children(node, pol, gens)
        if touched:
            return new, True
        for kind, rule in self.rules:
            if isinstance(new, kind):
                out = self.guarded(lambda: rule(self, new, pol, gens))  # noqa: B023
                if out is not None:
                    return out, True
        return new, False

    def guarded(self, apply: Callable[[], T]) -> T | None:
        """Run a rule; ``None`` when it leaves the construct as written.

        A term that is not affine is left silently; a missing bound is left
        (and noted) when a global solver may take it, else raised.
        """
        try:
            return apply()
        except NonlinearError:
            return None
        except MissingBound as e:
            if not self.allow_global:
                raise
            self.left.append(str(e))
            return None

    def _children(self, node: Node, pol: int, gens: tuple[Gen, ...]) -> tuple[Node, bool]:
        if isinstance(node, BinOp):
            if node.op == "*" and self._is_product(node, gens):
                return node, False  # the product rule takes the whole chain
            lp, rp = pol, pol
            if node.op == "-":
                rp = -pol
            elif node.op in ("*", "/"):
                ls, rs = self.data_sign(node.left, gens), self.data_sign(node.right, gens)
                lp = pol * rs  # dividing by data of one sign keeps or flips the side
                rp = pol * ls if node.op == "*" else 0
            elif node.op == "**":
                lp = rp = 0
            left, t1 = self.expr(node.left, lp, gens)
            right, t2 = self.expr(node.right, rp, gens)
            return BinOp(node.op, left, right), t1 or t2
        if isinstance(node, Unary):
            inner, t = self.expr(node.operand, -pol if node.op == "-" else pol, gens)
            return Unary(node.op, inner), t
        if isinstance(node, Call):
            ap = pol if node.func in ("min", "max") else 0
            outs = [self.expr(a, ap, gens) for a in node.args]
            return Call(node.func, tuple(o[0] for o in outs)), any(o[1] for o in outs)
        if isinstance(node, Reduce):
            body, t = self.expr(node.body, pol, gens + node.gens)
            return Reduce(node.func, body, node.gens), t
        if isinstance(node, Compare):
            return node, False
        return node, False

    def _is_product(self, node: BinOp, gens: tuple[Gen, ...]) -> bool:
        return self.whole is not None and self.whole(self, node, gens)

    def compare(self, node: Compare, gens: tuple[Gen, ...]) -> tuple[Node, bool]:
        """Rewrite both sides of a constraint with their polarities."""
        if len(node.ops) == 1 and node.ops[0] in ("<=", ">="):
            s = 1 if node.ops[0] == "<=" else -1
            lhs, t1 = self.expr(node.operands[0], s, gens)
            rhs, t2 = self.expr(node.operands[1], -s, gens)
            return Compare(node.ops, (lhs, rhs)), t1 or t2
        outs = [self.expr(o, 0, gens) for o in node.operands]
        return Compare(node.ops, tuple(o[0] for o in outs)), any(o[1] for o in outs)
