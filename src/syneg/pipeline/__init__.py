"""``syneg run``: every registered stage in one run directory, resuming what is complete."""

from syneg.pipeline.runner import Pipeline
from syneg.pipeline.stages import STAGE_NAMES, STAGES, Stage

__all__ = ["STAGES", "STAGE_NAMES", "Pipeline", "Stage"]
