"""MarginMSE distillation: match the teacher's positive-minus-negative score margins.

| Inputs | shape |
|---|---|
| ``student`` | ``(B, 1 + n)`` student scores: positive first, then the n hard negatives |
| ``teacher`` | ``(B, 1 + n)`` teacher scores of the same passages |

``mean_{i,j} ((s_i0 - s_ij) - (t_i0 - t_ij))^2`` over j = 1..n, the multi-negative form of
sentence-transformers' ``MarginMSELoss`` (labels ``[M(q, p), M(q, n_1), ...]``).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from syneg.training.losses.distill import DistillationLoss, build_with


def margin_mse(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean squared error between student and teacher margins (positive minus each negative)."""
    student_margin = student[:, :1] - student[:, 1:]
    teacher_margin = teacher[:, :1] - teacher[:, 1:]
    return ((student_margin - teacher_margin.detach()) ** 2).mean()


class MarginMSE(DistillationLoss):
    """:func:`margin_mse` on cosine student scores (plus weighted InfoNCE, see the base class)."""

    def distill(self, student: Tensor, teacher: Tensor) -> Tensor:
        return margin_mse(student, teacher)


def build(model: Any, config: Any) -> MarginMSE:
    return build_with(MarginMSE, model, config)
