"""The reformulation driver: passes until nothing changes, then indicators."""

from __future__ import annotations

from workbench.compile.context import Context
from workbench.compile.reformulate.absval import rewrite_abs
from workbench.compile.reformulate.emit import Emitter
from workbench.compile.reformulate.indicator import indicator_rows
from workbench.compile.reformulate.minmax import rewrite_minmax
from workbench.compile.reformulate.products import product_parts, rewrite_product
from workbench.compile.reformulate.records import Reformulation
from workbench.compile.reformulate.rlt import PRODUCT_STEM, rlt
from workbench.compile.reformulate.walk import Rule, Walker
from workbench.compile.structure import compile_structure
from workbench.errors import ModelError
from workbench.expr.nodes import BinOp, Call, Compare, Gen, Node, Reduce
from workbench.expr.parser import parse_expr, parse_for
from workbench.expr.unparse import unparse
from workbench.ir.model import Constraint, Model

__all__ = ["reformulate"]

RULES: list[tuple[type, Rule]] = [
    (Call, rewrite_minmax),
    (Reduce, rewrite_minmax),
    (Call, rewrite_abs),
    (BinOp, rewrite_product),
]
"""Each rule with the node type it looks at, tried in order."""

_MAX_PASSES = 12


def _whole_product(w: Walker, node: Node, gens: tuple[Gen, ...]) -> bool:
    return product_parts(w, node, gens) is not None


def _walker(
    ctx: Context, em: Emitter, out: Reformulation, allow_global: bool, keep_products: bool = False
) -> Walker:
    return Walker(
        ctx,
        em,
        allow_global,
        out.binary_valued,
        RULES,
        whole=_whole_product,
        keep_objective_products=keep_products,
    )


def _origin(model: Model, k: int, origins: dict[str, str]) -> str:
    name = model.constraint_names()[k]
    return origins.get(name, f"constraints[{k}]")


def _one_pass(
    model: Model,
    ctx: Context,
    out: Reformulation,
    origins: dict[str, str],
    allow_global: bool,
    keep_products: bool,
) -> tuple[Model, bool]:
    em = Emitter(model)
    w = _walker(ctx, em, out, allow_global, keep_products)
    w.where = "objective"
    node: Node = parse_expr(model.objective.expr, w.loc)
    obj, changed = w.expr(node, 1 if model.objective.sense == "min" else -1, ())
    cons: list[Constraint] = []
    for k, con in enumerate(model.constraints):
        w.where = _origin(model, k, origins)
        before = len(em.constraints)
        gens = parse_for(con.for_, f"{w.where}.for") if con.for_ else ()
        cnode = parse_expr(con.expr, w.loc)
        new, touched = w.compare(cnode, gens) if isinstance(cnode, Compare) else (cnode, False)
        cons.append(con.model_copy(update={"expr": unparse(new)}) if touched else con)
        changed |= touched
        for c in em.constraints[before:]:
            origins[c.name or ""] = w.where
    out.records += w.records
    out.left += [m for m in w.left if m not in out.left]
    if not changed:
        return model, False
    for c in em.constraints:
        origins.setdefault(c.name or "", "objective")
    out.aux_variables |= set(em.variables)
    out.aux_constraints |= {c.name or "" for c in em.constraints}
    return em.merged(model, unparse(obj), cons), True


def _indicators(
    model: Model, ctx: Context, out: Reformulation, origins: dict[str, str], allow_global: bool
) -> Model:
    em = Emitter(model)
    w = _walker(ctx, em, out, allow_global)
    cons: list[Constraint] = []
    names = model.constraint_names()
    for k, con in enumerate(model.constraints):
        if con.when is None:
            cons.append(con)
            continue
        w.where = _origin(model, k, origins)
        gens = parse_for(con.for_, f"{w.where}.for") if con.for_ else ()
        rows = w.guarded(lambda: indicator_rows(w, con, names[k], gens))  # noqa: B023
        if rows is None:
            cons.append(con)
            continue
        cons += rows
        out.aux_constraints |= {c.name or "" for c in rows[1:]}
    out.records += w.records
    out.left += [m for m in w.left if m not in out.left]
    out.aux_variables |= set(em.variables)
    out.indicator_m = max(out.indicator_m, w.indicator_m)
    return em.merged(model, model.objective.expr, cons)


def reformulate(
    model: Model,
    *,
    indicators: bool = True,
    allow_global: bool = False,
    objective_products: bool = True,
    rlt_rows: bool = True,
) -> Reformulation:
    """Rewrite ``max``/``min``/``abs``, binary products and indicators into exact linear rows.

    Parameters
    ----------
    model
        The user's model (never modified).
    indicators
        Also rewrite ``when`` constraints as big-M rows (for backends without
        native indicators).
    allow_global
        Where a big-M needs a bound that is missing, leave that term as
        written (a global solver takes it) instead of raising.
    objective_products
        Rewrite products with binary factors in the objective; ``False`` leaves
        them for a global solver that takes a quadratic objective as written.
    rlt_rows
        Add RLT rows where an assignment row meets binary products
        (:mod:`.rlt`); their auxiliaries become continuous, so ``False`` keeps a
        pure-integer model pure integer (for CP-SAT).

    Returns
    -------
    Reformulation
        The new model, a record per rewrite, and the auxiliary names.

    Raises
    ------
    ModelError
        If the model does not compile, or a big-M lacks a finite bound (naming
        the variable and the fix) and *allow_global* is false.
    """
    out = Reformulation(model)
    if model.lower_level is not None or model.robust is not None:
        return out
    origins: dict[str, str] = {}
    current = model
    for _ in range(_MAX_PASSES):
        ctx = compile_structure(current).ctx
        current, changed = _one_pass(
            current, ctx, out, origins, allow_global, not objective_products
        )
        if not changed:
            break
    else:  # pragma: no cover - nesting deeper than the passes allow
        raise ModelError(f"reformulation did not settle after {_MAX_PASSES} passes")
    if rlt_rows and any(v.startswith(PRODUCT_STEM) for v in out.aux_variables):
        tightened = rlt(compile_structure(current), out)
        if tightened is not None:
            current = tightened.model
    if indicators and any(c.when is not None for c in current.constraints):
        ctx = compile_structure(current).ctx
        current = _indicators(current, ctx, out, origins, allow_global)
    out.model = current
    return out
