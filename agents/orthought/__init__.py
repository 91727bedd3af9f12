"""ORThought: expert-guided chain-of-thought formulation with execute-diagnose-repair."""

from agents.orthought.agent import OrThought

__all__ = ["OrThought"]
