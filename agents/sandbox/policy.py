"""Which isolation level generated code may run at: never a silent downgrade.

Generated code runs only at a level that hides the host file system, runs as
an unprivileged uid and shows no other process (``bwrap``, see
:attr:`~agents.sandbox.isolation.Isolation.contains_code`). Where no such level
works, the sandbox refuses with :class:`SandboxRefusedError`, which names what
to install and the explicit opt-in for a weaker level: the environment
variable :data:`ALLOW_WEAK_ENV` (``WORKBENCH_SANDBOX_ALLOW_WEAK=1``) or the
``allow_weak=True`` argument of :func:`~agents.sandbox.core.run_code`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from agents.sandbox.isolation import Isolation, LevelProbe, probe_isolation
from workbench.errors import SandboxError

__all__ = [
    "ALLOW_WEAK_ENV",
    "SandboxPlan",
    "SandboxRefusedError",
    "choose_isolation",
    "level_summary",
    "plan_isolation",
    "weak_allowed",
]

ALLOW_WEAK_ENV = "WORKBENCH_SANDBOX_ALLOW_WEAK"
"""Set to ``1`` to let generated code run at a level weaker than ``bwrap``."""

_TRUE = ("1", "true", "yes", "on")

_WHAT: dict[Isolation, str] = {
    Isolation.BWRAP: "host file system hidden, unprivileged uid, own PID and network namespaces",
    Isolation.NONE: (
        "WEAK: only resource limits and an empty environment; the network and the host "
        "file system are reachable"
    ),
}


def level_summary(level: Isolation, *, as_root: bool | None = None) -> str:
    """One line: what *level* contains here (the hardened level differs by parent uid).

    Parameters
    ----------
    level
        The isolation level.
    as_root
        Whether the parent is root; ``None`` asks the operating system.
    """
    if level is not Isolation.UNSHARE_HARDENED:
        return _WHAT[level]
    root = os.geteuid() == 0 if as_root is None else as_root
    who = (
        "a fresh unprivileged uid (process limit enforced)"
        if root
        else "your uid (uid 0 in a user namespace, every capability dropped; the process "
        "limit counts this namespace's processes)"
    )
    return (
        "WEAK: no network, own PID namespace and /proc, runs as "
        f"{who}; the host file system is read-only but NOT hidden (readable where file "
        "permissions allow; /tmp, /home, /root, /run and your home are empty)"
    )


class SandboxRefusedError(SandboxError):
    """No isolation level that contains generated code works here, and no opt-in was given."""


def weak_allowed(allow_weak: bool | None = None) -> bool:
    """Whether a level weaker than ``bwrap`` may run generated code.

    Parameters
    ----------
    allow_weak
        An explicit choice; ``None`` reads :data:`ALLOW_WEAK_ENV`.
    """
    if allow_weak is not None:
        return bool(allow_weak)
    return os.environ.get(ALLOW_WEAK_ENV, "").strip().lower() in _TRUE


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def _refusal(probes: tuple[LevelProbe, ...], forced: Isolation | None) -> str:
    bwrap = next(p for p in probes if p.level is Isolation.BWRAP)
    why = "" if bwrap.ok else f" (bwrap failed here: {_one_line(bwrap.reason)})"
    head = (
        f"isolation {forced.value!r} does not contain generated code"
        if forced is not None
        else "generated code is refused: no sandbox level here hides the host file system, "
        "runs the code as an unprivileged uid and hides other processes"
    )
    return (
        f"{head}{why}. Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) so that "
        f"it can run this interpreter, or set {ALLOW_WEAK_ENV}=1 to accept a weaker level "
        "explicitly (`workbench sandbox check` shows the levels and what each contains)"
    )


@dataclass(frozen=True)
class SandboxPlan:
    """The level generated code would run at here, or why it is refused.

    Attributes
    ----------
    level
        The level that would apply, or ``None`` when code mode is refused.
    probes
        Every level's probe, best first (with the failures' stderr).
    weak_allowed
        Whether the opt-in for a weaker level was given.
    refusal
        The refusal message when ``level`` is ``None``.
    """

    level: Isolation | None
    probes: tuple[LevelProbe, ...]
    weak_allowed: bool
    refusal: str | None = None

    def describe(self) -> str:
        """One line for the CLI and the app: the level in use and what it contains."""
        if self.level is None:
            return f"sandbox: refused. {self.refusal}"
        opt_in = f" (opted in with {ALLOW_WEAK_ENV})" if not self.level.contains_code else ""
        return f"sandbox: {self.level.value}{opt_in}: {level_summary(self.level)}"


def _pick(
    isolation: Isolation | str | None, network: bool, available: tuple[Isolation, ...]
) -> Isolation:
    if isolation is None:
        chosen = available[0]
        if network and chosen is Isolation.UNSHARE_HARDENED:
            chosen = Isolation.NONE
        return chosen
    try:
        chosen = Isolation(isolation)
    except ValueError as e:
        names = ", ".join(repr(level.value) for level in Isolation)
        raise SandboxError(f"unknown isolation {isolation!r}; use one of {names}") from e
    if chosen not in available:
        raise SandboxError(
            f"isolation {chosen.value!r} is not available here "
            f"(available: {', '.join(level.value for level in available)})"
        )
    if network and chosen is Isolation.UNSHARE_HARDENED:
        raise SandboxError("isolation 'unshare-hardened' cannot be combined with network=True")
    return chosen


def choose_isolation(
    isolation: Isolation | str | None = None,
    *,
    network: bool = False,
    require_isolation: bool = False,
    allow_weak: bool | None = None,
) -> Isolation:
    """Return the level generated code runs at, or refuse.

    Parameters
    ----------
    isolation
        A forced level; ``None`` picks the best that works here.
    network
        The code needs the network (``unshare-hardened`` then cannot apply).
    require_isolation
        Refuse the ``none`` level even with the opt-in.
    allow_weak
        Accept a level weaker than ``bwrap``; ``None`` reads :data:`ALLOW_WEAK_ENV`.

    Raises
    ------
    SandboxRefusedError
        When the level is weaker than ``bwrap`` and no opt-in was given; the
        message names bubblewrap, the opt-in and why bwrap failed.
    SandboxError
        For an unknown or unavailable forced level.
    """
    probes = probe_isolation()
    chosen = _pick(isolation, network, tuple(p.level for p in probes if p.ok))
    if not chosen.contains_code and not weak_allowed(allow_weak):
        raise SandboxRefusedError(_refusal(probes, None if isolation is None else chosen))
    if require_isolation and chosen is Isolation.NONE:
        raise SandboxRefusedError(
            "require_isolation=True but no isolation level is available here "
            "(install bubblewrap, or util-linux `unshare` and `setpriv`)"
            if not network
            else "require_isolation=True with network=True needs bubblewrap, which is not available"
        )
    return chosen


def plan_isolation(*, network: bool = False, allow_weak: bool | None = None) -> SandboxPlan:
    """Say which level generated code would run at here, without running any.

    Parameters
    ----------
    network, allow_weak
        As for :func:`choose_isolation`.

    Returns
    -------
    SandboxPlan
    """
    probes = probe_isolation()
    allowed = weak_allowed(allow_weak)
    try:
        level = choose_isolation(network=network, allow_weak=allowed)
    except SandboxError as e:
        return SandboxPlan(None, probes, allowed, str(e))
    return SandboxPlan(level, probes, allowed)
