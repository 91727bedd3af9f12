"""Small YAML models shared by several test files (each with its known answer)."""

TINY_LP = """\
name: tiny_lp
variables:
  x: {lb: 0, ub: 3}
  y: {lb: 0}
objective: {sense: max, expr: "3 * x + 2 * y"}
constraints:
  - name: capacity
    expr: "x + y <= 4"
  - name: labour
    expr: "x + 3 * y <= 6"
"""

TRANSPORT = """\
name: transport
sets:
  I: [plant_a, plant_b]
  J: {range: [1, 4]}
  A: {expr: "(i, j) for i in I for j in J if dist[i, j] <= 50"}
params:
  supply: {index: [I], values: {plant_a: 20, plant_b: 30}}
  demand: {index: [J], values: [10, 10, 15, 10]}
  dist:   {index: [I, J], values: [[10, 60, 20, 30], [40, 15, 35, 70]]}
variables:
  x: {index: [A], domain: continuous, lb: 0}
objective: {sense: min, expr: "sum(dist[i, j] * x[i, j] for (i, j) in A)"}
constraints:
  - name: supply_limit
    for: "i in I"
    expr: "sum(x[k, j] for (k, j) in A if k == i) <= supply[i]"
  - name: meet_demand
    for: "j in J"
    expr: "sum(x[i, k] for (i, k) in A if k == j) >= demand[j]"
"""

RANGE_LP = """
name: range_lp
variables:
  x: {lb: 0}
  y: {lb: 0}
objective: {sense: min, expr: "x + 2 * y"}
constraints:
  - name: total
    expr: "x + y == 3"
  - name: spread
    expr: "1 <= x - y <= 2"
"""

UNBOUNDED = """
name: unbounded
variables:
  x: {lb: 0}
  y: {lb: 0}
objective: {sense: max, expr: "x + y"}
constraints:
  - name: gap
    expr: "x - y <= 2"
"""

# A word problem and its correct model (optimum 24: eight batches of bread).
BAKERY_TEXT = (
    "A bakery makes bread and cake. Bread earns 3 dollars and cake 5 dollars per batch. "
    "Each batch of bread needs 1 hour of oven time and each batch of cake needs 2 hours; "
    "the oven is available for at most 8 hours. At least 2 batches of bread must be made. "
    "How many batches of each should be made to maximise profit?"
)
BAKERY_MODEL = {
    "name": "bakery",
    "variables": {"bread": {"domain": "integer", "lb": 0}, "cake": {"domain": "integer", "lb": 0}},
    "objective": {"sense": "max", "expr": "3 * bread + 5 * cake"},
    "constraints": [
        {"name": "oven", "expr": "bread + 2 * cake <= 8"},
        {"name": "min_bread", "expr": "bread >= 2"},
    ],
}


BAKERY_PYOMO = """\
import pyomo.environ as pyo
model = pyo.ConcreteModel()
model.bread = pyo.Var(within=pyo.NonNegativeIntegers)
model.cake = pyo.Var(within=pyo.NonNegativeIntegers)
model.oven = pyo.Constraint(expr=model.bread + 2 * model.cake <= 8)
model.obj = pyo.Objective(expr=3 * model.bread + 5 * model.cake, sense=pyo.maximize)
"""
"""The bakery as generated Pyomo code (code mode): optimum 24 (bread 0, cake 4 or any mix)."""
