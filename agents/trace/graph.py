"""The trace core: a graph object, ``node``, ``bundle`` and ``backward``.

Following Trace (Cheng et al., 2024) without its global state: every node
and every recorded operation lives in the :class:`Graph` passed in.  A
bundled function records each call (inputs, output, docstring, source);
an exception inside it becomes an error node, which the caller inspects
(``out.is_error``) instead of the optimiser crashing.  :func:`backward`
walks the recorded subgraph from an output back to the trainable
parameters and attaches the feedback.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.trace.nodes import Node, NodeKind, OpRecord

__all__ = ["Graph", "Subgraph", "backward", "bundle", "node"]

_IDS = itertools.count(1)


def _source(fn: Callable[..., Any]) -> str:
    try:
        return textwrap.dedent(inspect.getsource(fn)).strip()
    except (OSError, TypeError):
        return ""


@dataclass
class Subgraph:
    """What :func:`backward` collected: the part of the graph the feedback flows through.

    Attributes
    ----------
    output
        The node the feedback is about.
    feedback
        The feedback text.
    ops
        The recorded operations on the way, in execution order.
    params
        The trainable parameters reached.
    inputs
        The constant leaves reached.
    others
        Intermediate values (outputs of operations other than *output*).
    """

    output: Node
    feedback: str
    ops: list[OpRecord] = field(default_factory=list)
    params: list[Node] = field(default_factory=list)
    inputs: list[Node] = field(default_factory=list)
    others: list[Node] = field(default_factory=list)


class Graph:
    """A record of nodes and operations; create one per traced workflow run.

    Parameters
    ----------
    name
        A label for logs.
    """

    def __init__(self, name: str = "trace") -> None:
        self.name = name
        self.id = next(_IDS)
        self.nodes: list[Node] = []
        self.ops: list[OpRecord] = []
        self._counts: dict[str, int] = {}

    def _name(self, base: str) -> str:
        k = self._counts.get(base, 0)
        self._counts[base] = k + 1
        return f"{base}{k}"

    def _add(self, value: Any, kind: NodeKind, base: str, description: str = "") -> Node:
        n = Node(self._name(base), value, kind, description, graph_id=self.id, seq=len(self.nodes))
        self.nodes.append(n)
        return n

    def node(
        self, value: Any, *, trainable: bool = False, description: str = "", name: str | None = None
    ) -> Node:
        """A leaf node: a trainable parameter or a constant input.

        Parameters
        ----------
        value
            The value.
        trainable
            Whether an optimiser may change it.
        description
            What it means (shown to the optimiser as a constraint for parameters).
        name
            The base of its name (default: the value's type name); a counter is appended.
        """
        base = name or type(value).__name__
        return self._add(value, "param" if trainable else "input", base, description)

    def adopt(self, value: Any, base: str) -> Node:
        """*value* as a node of this graph (a new constant input unless it is one already).

        Raises
        ------
        ValueError
            If *value* is a node of another graph.
        """
        if isinstance(value, Node):
            if value.graph_id != self.id:
                raise ValueError(
                    f"node {value.name!r} belongs to another graph; graphs are never shared"
                )
            return value
        return self.node(value, name=base)

    def bundle(self, fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
        """Trace *fn*: each call records an operation and returns its output node.

        Usable as ``graph.bundle(fn)`` or ``@graph.bundle(name=...)``.  Arguments
        may be nodes of this graph or plain values (recorded as inputs).  If an
        argument is an error node the function is not run and the output is an
        error node too; if the function raises, the output is an error node
        carrying ``"<Exception>: message"``.
        """
        if fn is None:
            return functools.partial(self.bundle, name=name)
        func: Callable[..., Any] = fn
        op_name = name or func.__name__
        doc = inspect.getdoc(func) or ""
        code = _source(func)
        sig = inspect.signature(func)

        @functools.wraps(func)
        def traced(*args: Any, **kwargs: Any) -> Node:
            bound = sig.bind(*args, **kwargs)
            inputs = {k: self.adopt(v, k) for k, v in bound.arguments.items()}
            record = OpRecord(op_name, doc, code, inputs)
            self.ops.append(record)
            failed = next((n for n in inputs.values() if n.is_error), None)
            if failed is not None:
                out = self._add(f"not run: input {failed.name} failed: {failed.value}",
                                "error", op_name)  # fmt: skip
            else:
                values = {k: n.value for k, n in inputs.items()}
                try:
                    value = func(**values)
                except Exception as e:  # an error node, not a crash of the optimiser
                    out = self._add(f"{type(e).__name__}: {e}", "error", op_name)
                else:
                    out = self._add(value, "op", op_name)
            out.op = record
            record.output = out
            return out

        return traced

    def backward(self, output: Node, feedback: str) -> Subgraph:
        """See :func:`backward`."""
        return backward(output, feedback, graph=self)


def node(
    value: Any, *, trainable: bool = False, description: str = "", graph: Graph,
    name: str | None = None,
) -> Node:  # fmt: skip
    """A leaf node of *graph* (see :meth:`Graph.node`)."""
    return graph.node(value, trainable=trainable, description=description, name=name)


def bundle(*, graph: Graph, name: str | None = None) -> Callable[[Callable[..., Any]], Any]:
    """Decorator form: ``@bundle(graph=g)`` traces a function in *g* (see :meth:`Graph.bundle`)."""
    return functools.partial(graph.bundle, name=name)


def backward(output: Node, feedback: str, *, graph: Graph | None = None) -> Subgraph:
    """Propagate *feedback* from *output* to the trainable parameters it depends on.

    Parameters
    ----------
    output
        The node the feedback is about.
    feedback
        The feedback text (evaluation results, a user's remark...).
    graph
        When given, *output* must belong to it.

    Returns
    -------
    Subgraph
        The operations, parameters, inputs and intermediate values on the way;
        *feedback* is appended to each parameter's and to the output's ``feedback``.
    """
    if graph is not None and output.graph_id != graph.id:
        raise ValueError(f"node {output.name!r} belongs to another graph")
    seen: dict[int, Node] = {}
    stack = [output]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen[id(n)] = n
        stack.extend(n.parents)
    reached = sorted(seen.values(), key=lambda n: n.seq)
    ops = [n.op for n in reached if n.op is not None]
    sub = Subgraph(
        output=output,
        feedback=feedback,
        ops=ops,
        params=[n for n in reached if n.trainable],
        inputs=[n for n in reached if n.kind == "input"],
        others=[n for n in reached if n.op is not None and n is not output],
    )
    for p in [*sub.params, output]:
        p.feedback.append(feedback)
    return sub
