"""The sandbox for LLM-generated code: a subprocess, limits, no network, validated JSON."""

from agents.sandbox.attacks import ATTACKS, AttackOutcome, run_attacks
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
from agents.sandbox.isolation import Isolation, LevelProbe, available_isolation, probe_isolation
from agents.sandbox.policy import (
    ALLOW_WEAK_ENV,
    SandboxPlan,
    SandboxRefusedError,
    level_summary,
    plan_isolation,
    weak_allowed,
)
from agents.sandbox.pyomo_run import PyomoSolution, run_pyomo_model

__all__ = [
    "ALLOW_WEAK_ENV",
    "ATTACKS",
    "AttackOutcome",
    "DEFAULT_FILES_MB",
    "DEFAULT_MAX_PROCS",
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT_S",
    "Isolation",
    "LevelProbe",
    "PyomoSolution",
    "SandboxLimits",
    "SandboxPlan",
    "SandboxRefusedError",
    "SandboxResult",
    "SandboxStatus",
    "available_isolation",
    "level_summary",
    "plan_isolation",
    "probe_isolation",
    "run_attacks",
    "run_code",
    "run_pyomo_model",
    "weak_allowed",
]
