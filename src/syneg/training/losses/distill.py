"""Base of the distillation losses: a distillation term plus, weighted, InfoNCE, from one forward pass.

| Inputs | Labels |
|---|---|
| ``(anchor, positive, negative_1, ..., negative_n)`` columns | ``[teacher(q, positive), teacher(q, negative_1), ...]`` |

Student scores are cosine similarities (the student's embeddings are normalized here); a subclass
gives ``distill(student, teacher)`` over ``(B, 1 + n)`` score tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from syneg.training.losses.infonce import info_nce


def student_scores(query: Tensor, candidates: Tensor) -> Tensor:
    """``(B, C)`` cosine of each query with its own C passages (``candidates``: ``(C, B, d)``)."""
    q = torch.nn.functional.normalize(query, dim=-1)
    d = torch.nn.functional.normalize(candidates, dim=-1)
    return torch.einsum("bd,cbd->bc", q, d)


class DistillationLoss(nn.Module):
    """``distill(student, teacher) + infonce_weight * InfoNCE(scale = 1 / temperature)``."""

    def __init__(self, model: Any, temperature: float, infonce_weight: float = 0.0) -> None:
        super().__init__()
        self.model, self.temperature, self.infonce_weight = model, temperature, infonce_weight

    def distill(self, student: Tensor, teacher: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        from sentence_transformers.base.losses.merged_forward import embed_columns

        embeddings = embed_columns(self.model, sentence_features)
        return self.from_embeddings(embeddings[0], torch.stack(embeddings[1:]), labels)

    def from_embeddings(self, query: Tensor, candidates: Tensor, labels: Tensor) -> Tensor:
        """The loss for ``query`` ``(B, d)``, ``candidates`` ``(C, B, d)`` and teacher ``labels`` ``(B, C)``."""
        student = student_scores(query, candidates)
        loss = self.distill(student, labels.to(student.dtype))
        if self.infonce_weight > 0:
            loss = loss + self.infonce_weight * info_nce(query, candidates, 1.0 / self.temperature)
        return loss

    def get_config_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "infonce_weight": self.infonce_weight}


def build_with(cls: type[DistillationLoss], model: Any, config: Any) -> DistillationLoss:
    """``cls`` for the train config's temperature and InfoNCE weight."""
    return cls(model, config.temperature, config.infonce_weight)
