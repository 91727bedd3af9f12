"""The safe expression language: whitelisted Python syntax, parsed with ``ast``."""

from workbench.expr.nodes import Gen, Node
from workbench.expr.parser import FUNCTIONS, parse_expr, parse_for, parse_set_expr

__all__ = ["FUNCTIONS", "Gen", "Node", "parse_expr", "parse_for", "parse_set_expr"]
