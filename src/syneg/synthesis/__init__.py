"""LLM synthesis of hard negatives: attribute-constrained, self-reflecting prompts; cached and guarded."""

from __future__ import annotations

from syneg.synthesis.api import estimate, failure_report, plan, side_paths, synthesize
from syneg.synthesis.prompt import PROMPT_VERSION

__all__ = ["PROMPT_VERSION", "estimate", "failure_report", "plan", "side_paths", "synthesize"]
