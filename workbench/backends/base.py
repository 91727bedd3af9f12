"""The backend protocol: capabilities, availability, options and ``solve``."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from workbench.ir.model import Model
    from workbench.result import Result

__all__ = ["Availability", "Backend", "Capability", "SolveOptions", "module_availability"]


class Capability(enum.Enum):
    """Problem classes (and features) a backend can handle."""

    LP = "LP"
    MILP = "MILP"
    QP = "QP"
    MIQP = "MIQP"
    NLP = "NLP"
    MINLP = "MINLP"
    PURE_INTEGER = "pure_integer"
    BILEVEL = "bilevel"
    ROBUST = "two_stage_robust"


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here, and if not, why.

    Attributes
    ----------
    ok
        True when the backend is usable.
    reason
        Why not, and how to fix it (for example ``pip install highspy``).
    version
        The underlying library's version, when known.
    """

    ok: bool
    reason: str = ""
    version: str | None = None

    def __bool__(self) -> bool:
        return self.ok


def module_availability(module: str, package: str | None = None, reason: str = "") -> Availability:
    """Whether *module* is installed, found without importing it (probes stay fast).

    Parameters
    ----------
    module
        The import name (``torch``, ``highspy``).
    package
        The distribution to ``pip install`` and read the version of (default *module*).
    reason
        A note for the usable case (e.g. what the module is used for).

    Returns
    -------
    Availability
        Not ok, with the ``pip install`` fix, when the module cannot be found.
    """
    import importlib.metadata
    import importlib.util

    dist = package or module
    if importlib.util.find_spec(module) is None:
        return Availability(False, f"{module} is not installed; fix: pip install {dist}")
    try:
        version: str | None = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return Availability(True, reason, version)


class Cancel(threading.Event):
    """A stop request (``SolveOptions.cancel``) that also calls hooks when it is set.

    A backend that watches for it in a thread of its own waits on a hook, not a
    timer, so it neither polls nor keeps its caller waiting once its solve is done.
    """

    def __init__(self, start_at: float | None = None) -> None:
        super().__init__()
        self._hooks: list[Callable[[], None]] = []
        self._hooks_lock = threading.Lock()
        self.start_at = start_at
        """``time.perf_counter()`` before which the solver must not start (a race's head
        start for the rival): the backend builds its model meanwhile, then calls :meth:`hold`."""

    def hold(self) -> bool:
        """Wait until :attr:`start_at`; ``True`` when a stop was requested instead."""
        left = 0.0 if self.start_at is None else self.start_at - time.perf_counter()
        return self.wait(left) if left > 0 else self.is_set()

    def on_set(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Call *hook* when the request is set (now, if it already is); returns its remover."""
        with self._hooks_lock:
            self._hooks.append(hook)
        if self.is_set():
            hook()

        def remove() -> None:
            with self._hooks_lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)

        return remove

    def set(self) -> None:
        """Set the request and call every hook."""
        super().set()
        with self._hooks_lock:
            hooks = list(self._hooks)
        for hook in hooks:
            hook()


def stopped_before_start(cancel: threading.Event | None) -> bool:
    """Whether a solve must not start: call it after building, just before the solver runs.

    It waits out a :class:`Cancel`'s head start (:attr:`Cancel.start_at`) and says
    whether a stop was requested before or during the wait; a plain event is only
    checked.  Every ``cancellable`` backend calls it, so that a race's rival builds
    its model while the preferred solver runs and starts solving only after the
    head start.
    """
    if cancel is None:
        return False
    hold = getattr(cancel, "hold", None)
    return bool(hold()) if callable(hold) else cancel.is_set()


@dataclass
class SolveOptions:
    """The common options every backend understands.

    Backend-specific settings arrive in ``extra`` and are validated by the
    backend itself (an unknown key is a ``ValueError`` naming the key).
    """

    time_limit: float | None = None
    seed: int | None = None
    device: str = "auto"
    threads: int | None = None
    rel_gap: float | None = None
    verbose: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    structure: Any = None
    """The model's :class:`~workbench.compile.structure.CompiledModel`, when ``solve``
    already built it (backends reuse it instead of compiling twice)."""
    feas_tol: float | None = None
    """An absolute feasibility tolerance the model needs, set by ``solve`` from the
    reformulation (the perspective split's cones: 1e-9); a backend with such a
    tolerance starts with it unless its own options set one."""
    cancel: threading.Event | None = None
    """A stop request (``solve`` races two backends and stops the slower one): a backend
    that supports it (attribute ``cancellable = True``) stops soon after the event is set
    and returns what it has (``interrupted``, or ``feasible`` with its incumbent)."""


@runtime_checkable
class Backend(Protocol):
    """What every backend class provides.

    Attributes
    ----------
    name
        Registry key, for example ``"highs"``.
    capabilities
        Problem classes it solves.
    rank
        Preference for ``backend="auto"``: lower is tried first.
    """

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    rank: ClassVar[int]

    def available(self) -> Availability:
        """Cheap check (cached by the registry) whether this backend can run."""
        ...

    def solve(self, model: Model, options: SolveOptions) -> Result:
        """Solve *model*; never modify it.  Non-optimal outcomes are values."""
        ...


# Optional hooks a backend class may also define (looked up with getattr):
#   solve_linear(self, lf: LinearForm, options: SolveOptions) -> Result
#       accept a matrix model (MPS/LP import) directly;
#   supports(cls: Classification) -> Availability   (a classmethod/staticmethod)
#       refine `capabilities` at run time, e.g. a wrapper whose installed
#       solvers cannot take this class; `auto` then skips it, naming why.
#   cancellable: ClassVar[bool] = True
#       the backend honours SolveOptions.cancel (solve races only such backends).
#   infeasible_subset(self, model: Model, options: SolveOptions)
#           -> tuple[list[str] | None, str]
#       an IIS (and a message) without solving the model; a race asks the backend
#       that has one when another backend proved the model infeasible.
