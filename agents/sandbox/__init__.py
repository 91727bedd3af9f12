"""The sandbox for LLM-generated code: a subprocess, limits, no network, validated JSON."""

from agents.sandbox.core import (
    DEFAULT_FILES_MB,
    DEFAULT_MAX_PROCS,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    SandboxLimits,
    SandboxResult,
    SandboxStatus,
    run_code,
)
from agents.sandbox.isolation import Isolation, available_isolation
from agents.sandbox.pyomo_run import PyomoSolution, run_pyomo_model

__all__ = [
    "DEFAULT_FILES_MB",
    "DEFAULT_MAX_PROCS",
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT_S",
    "Isolation",
    "PyomoSolution",
    "SandboxLimits",
    "SandboxResult",
    "SandboxStatus",
    "available_isolation",
    "run_code",
    "run_pyomo_model",
]
