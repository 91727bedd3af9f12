"""Trace/OptoPrime: LLM optimisation of the parameters of a traced workflow.

A compact core faithful to Trace (Cheng et al., 2024) with no global state:
:class:`Graph`, :func:`node`, :func:`bundle` and :func:`backward`; the
:class:`OptoPrime` optimiser; and :class:`OptoPrimeAgent`, which refines a
formulation's IR until it validates, solves and passes the checks.
"""

from agents.trace.formulation import OptoPrimeAgent
from agents.trace.graph import Graph, Subgraph, backward, bundle, node
from agents.trace.nodes import Node, OpRecord
from agents.trace.optoprime import OptoPrime, OptoPrimeReply, StepRecord, convert_like

__all__ = [
    "Graph",
    "Node",
    "OpRecord",
    "OptoPrime",
    "OptoPrimeAgent",
    "OptoPrimeReply",
    "StepRecord",
    "Subgraph",
    "backward",
    "bundle",
    "convert_like",
    "node",
]
