"""Contrastive fine-tuning with per-step logs, per-epoch evaluation and gradient diagnostics."""

from syneg.config import TrainConfig
from syneg.training.diagnostics import grad_stats, plot_training
from syneg.training.trainer import make_loss, train

__all__ = ["TrainConfig", "grad_stats", "make_loss", "plot_training", "train"]
