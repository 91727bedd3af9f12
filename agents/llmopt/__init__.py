"""LLMOPT: five-element formulation, generation and judged self-correction."""

from agents.llmopt.agent import Llmopt

__all__ = ["Llmopt"]
