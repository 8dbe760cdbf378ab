"""``syneg experiment``: a grid of runs from one config, compared in one table."""

from syneg.experiment.grid import Cell, ExperimentConfig, expand, load_experiment
from syneg.experiment.runner import run_experiment

__all__ = ["Cell", "ExperimentConfig", "expand", "load_experiment", "run_experiment"]
