"""Two-stage robust problem families and instance readers (``../shared/datasets/two_stage_ro``)."""

from problems.robust.capital_budgeting import (
    CB_TAR,
    CapitalBudgetingInstance,
    cb_model,
    generate_cb,
    iter_cb_instances,
    parse_cb,
)
from problems.robust.cb_ssa import (
    CbSampledWorst,
    cb_robust_budget,
    cb_sampled_worst,
    cb_ssa_scenarios,
)
from problems.robust.dataset import load_robust
from problems.robust.knapsack import (
    KNAPSACK_ZIP,
    KnapsackInstance,
    generate_knapsack,
    iter_knapsack_instances,
    knapsack_model,
    parse_knapsack,
)
from problems.robust.references import (
    Reference,
    cb_references,
    knapsack_bp_references,
    knapsack_neur2ro_references,
)

__all__ = [
    "CB_TAR",
    "KNAPSACK_ZIP",
    "CapitalBudgetingInstance",
    "CbSampledWorst",
    "KnapsackInstance",
    "Reference",
    "cb_model",
    "cb_references",
    "cb_robust_budget",
    "cb_sampled_worst",
    "cb_ssa_scenarios",
    "generate_cb",
    "generate_knapsack",
    "iter_cb_instances",
    "iter_knapsack_instances",
    "knapsack_bp_references",
    "knapsack_model",
    "knapsack_neur2ro_references",
    "load_robust",
    "parse_cb",
    "parse_knapsack",
]
