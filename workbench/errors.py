"""The one small error hierarchy of the workbench.

Non-optimal outcomes are values (see :class:`workbench.result.Result`);
exceptions are only for misuse and crashes.
"""

from __future__ import annotations

__all__ = [
    "AgentOutputError",
    "OptionsError",
    "BackendError",
    "BackendUnavailableError",
    "ModelError",
    "SandboxError",
    "UnsupportedProblemError",
    "WorkbenchError",
]


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose."""


class ModelError(WorkbenchError):
    """A model is malformed.

    Parameters
    ----------
    message
        What is wrong and, where possible, how to fix it.
    location
        Where in the model, for example ``constraints[2].expr``.
    """

    def __init__(self, message: str, location: str | None = None) -> None:
        self.location = location
        self.message = message
        super().__init__(f"{location}: {message}" if location else message)

    def at(self, prefix: str) -> ModelError:
        """Return a copy whose location is prefixed with *prefix*."""
        loc = f"{prefix}.{self.location}" if self.location else prefix
        return ModelError(self.message, loc)


class UnsupportedProblemError(WorkbenchError):
    """No backend (or not the requested one) can solve this class of model."""


class BackendUnavailableError(WorkbenchError):
    """A backend was requested but is not installed or not usable here."""


class BackendError(WorkbenchError):
    """A backend crashed in a way that is not an optimisation outcome."""


class AgentOutputError(WorkbenchError):
    """An LLM agent produced output that does not parse against its schema.

    Parameters
    ----------
    message
        What failed to parse.
    raw
        The raw text the model returned.
    """

    def __init__(self, message: str, raw: str = "") -> None:
        self.raw = raw
        super().__init__(message)


class SandboxError(WorkbenchError):
    """Generated code could not be run in the sandbox."""


class OptionsError(WorkbenchError, ValueError):
    """A backend or solve option is unknown or has a bad value."""
