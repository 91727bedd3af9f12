"""Pieces the agents share: prompt files, candidate evaluation and feedback."""

from agents.common.evaluate import Candidate, Evaluation, evaluate_candidate
from agents.common.feedback import diagnose
from agents.common.prompts import Prompt, load_prompt

__all__ = ["Candidate", "Evaluation", "Prompt", "diagnose", "evaluate_candidate", "load_prompt"]
