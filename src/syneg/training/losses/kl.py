"""KL-divergence distillation: match the teacher's softmax over the positive and hard negatives.

| Inputs | shape |
|---|---|
| ``student`` | ``(B, 1 + n)`` student scores: positive first, then the n hard negatives |
| ``teacher`` | ``(B, 1 + n)`` teacher scores of the same passages |
| ``temperature`` | softmax temperature for both (scores are divided by it) |

``T^2 * mean_i KL(softmax(t_i / T) || softmax(s_i / T))`` (``batchmean``), as sentence-transformers'
``DistillKLDivLoss`` with one temperature; the ``T^2`` keeps gradients of the same size as T changes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from syneg.training.losses.distill import DistillationLoss, build_with


def kl_distill(student: Tensor, teacher: Tensor, temperature: float = 1.0) -> Tensor:
    """Batch-mean KL divergence of the student's from the teacher's distribution, times ``T^2``."""
    log_student = torch.log_softmax(student / temperature, dim=1)
    target = torch.softmax(teacher.detach() / temperature, dim=1)
    kl = torch.nn.functional.kl_div(log_student, target, reduction="batchmean")
    return kl * temperature**2


class KLDistill(DistillationLoss):
    """:func:`kl_distill` on cosine student scores at the train temperature (plus weighted InfoNCE)."""

    def distill(self, student: Tensor, teacher: Tensor) -> Tensor:
        return kl_distill(student, teacher, self.temperature)


def build(model: Any, config: Any) -> KLDistill:
    return build_with(KLDistill, model, config)
