"""``syneg run``: every stage in one run directory, resuming what is complete."""

from syneg.pipeline.runner import STAGES, Pipeline, run_pipeline

__all__ = ["STAGES", "Pipeline", "run_pipeline"]
