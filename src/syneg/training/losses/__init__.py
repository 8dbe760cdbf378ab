"""Training losses, one module each: a pure function over scores plus a thin ``nn.Module`` for the trainer.

| name | module | needs teacher scores | what it learns |
|---|---|---|---|
| ``infonce`` | sentence-transformers' (Cached)MultipleNegativesRankingLoss | no | rank the positive first among the batch's passages |
| ``margin_mse`` | :mod:`.margin_mse` | yes | the teacher's positive - negative score margins (Hofstätter et al. 2020) |
| ``kl`` | :mod:`.kl` | yes | the teacher's softmax over the positive and the hard negatives |

``margin_mse`` and ``kl`` add ``infonce_weight`` x InfoNCE (in-batch and hard negatives, the same
loss as ``infonce``) when the weight is above 0 (:class:`syneg.training.losses.distill.DistillationLoss`).
Their training rows carry a ``label`` column ``[teacher(q, positive), teacher(q, negative_1), ...]``.
"""

from __future__ import annotations

import importlib
from typing import Any

LOSSES: tuple[str, ...] = ("infonce", "margin_mse", "kl")  # each a module here with build(model, config)
DISTILLATION: frozenset[str] = frozenset({"margin_mse", "kl"})


def make_loss(model: Any, config: Any):
    """The ``config.loss`` module's loss for ``model`` (a train config: temperature, weights)."""
    if config.loss not in LOSSES:
        raise ValueError(f"unknown loss {config.loss!r}; choose one of {', '.join(LOSSES)}")
    return importlib.import_module(f"{__name__}.{config.loss}").build(model, config)


def needs_teacher_scores(name: str) -> bool:
    """True for the losses that learn from stored teacher scores."""
    return name in DISTILLATION
