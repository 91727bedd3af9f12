"""The values of a traced workflow: nodes and the operation records that link them.

A :class:`Node` wraps one value.  Leaves are parameters (``trainable``) or
plain inputs; every other node is the output of a recorded operation
(:class:`OpRecord`), or an error node that carries the message of the
exception the operation raised.  Nodes belong to exactly one
:class:`~agents.trace.graph.Graph`; there is no global graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Node", "NodeKind", "OpRecord"]

NodeKind = Literal["param", "input", "op", "error"]


@dataclass(eq=False)
class Node:
    """One value in a traced graph.

    Attributes
    ----------
    name
        Unique within its graph (``ir0``, ``compile_ir1``...); suggestions name parameters by it.
    value
        The wrapped value (for an error node: the error message).
    kind
        ``param`` (trainable leaf), ``input`` (constant leaf), ``op`` (an operation's
        output) or ``error`` (an operation raised).
    description
        What the value means; for parameters it is shown as a constraint.
    graph_id, seq
        The id of the graph the node belongs to, and its creation index there.
    op
        The operation that produced the node (``op`` and ``error`` nodes).
    feedback
        The feedback :func:`~agents.trace.graph.backward` attached (parameters and outputs).
    """

    name: str
    value: Any
    kind: NodeKind
    description: str = ""
    graph_id: int = 0
    seq: int = 0
    op: OpRecord | None = None
    feedback: list[str] = field(default_factory=list)

    @property
    def trainable(self) -> bool:
        """Whether an optimiser may change the value."""
        return self.kind == "param"

    @property
    def is_error(self) -> bool:
        """Whether the producing operation raised."""
        return self.kind == "error"

    @property
    def error(self) -> str | None:
        """The error message of an error node, else ``None``."""
        return str(self.value) if self.kind == "error" else None

    @property
    def parents(self) -> list[Node]:
        """The nodes the producing operation read (empty for leaves)."""
        return list(self.op.inputs.values()) if self.op is not None else []

    def __repr__(self) -> str:
        return f"Node({self.name!r}, kind={self.kind!r}, value={self.value!r:.60})"


@dataclass(eq=False)
class OpRecord:
    """One recorded call of a bundled function.

    Attributes
    ----------
    function
        The function's name.
    doc
        Its docstring (``""`` when it has none).
    code
        Its source (best effort: ``""`` when :func:`inspect.getsource` cannot find it).
    inputs
        The argument nodes, by parameter name, in call order.
    output
        The output node (an error node when the call raised).
    """

    function: str
    doc: str
    code: str
    inputs: dict[str, Node]
    output: Node | None = None

    def call_line(self) -> str:
        """The call as one line of code: ``out = f(a=name, ...)``."""
        args = ", ".join(f"{k}={n.name}" for k, n in self.inputs.items())
        out = self.output.name if self.output is not None else "_"
        return f"{out} = {self.function}({args})"
