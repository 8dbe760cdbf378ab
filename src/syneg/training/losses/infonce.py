"""InfoNCE over in-batch and hard negatives, as a pure function of embeddings.

| Inputs | shape |
|---|---|
| ``query`` | ``(B, d)`` L2-normalized query embeddings |
| ``candidates`` | ``(C, B, d)``: column 0 the positives, columns 1.. the hard negatives |
| ``scale`` | ``1 / tau`` |

``-mean_i log softmax_j(scale * cos(q_i, d_j))[i]`` over every passage ``d_j`` of the batch (all
columns flattened, positives first), i.e. sentence-transformers' MultipleNegativesRankingLoss,
which :func:`build` returns for training: its cached (GradCache) variant with ``mini_batch_size``
(the default; same gradients, bounded activation memory), the plain loss when ``mini_batch_size`` is None.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def info_nce(query: Tensor, candidates: Tensor, scale: float) -> Tensor:
    """The InfoNCE loss of the module docstring (cosine similarity, mean over the batch)."""
    passages = torch.nn.functional.normalize(candidates.reshape(-1, candidates.shape[-1]), dim=-1)
    logits = scale * torch.nn.functional.normalize(query, dim=-1) @ passages.T
    target = torch.arange(query.shape[0], device=query.device)
    return torch.nn.functional.cross_entropy(logits, target)


def build(model: Any, config: Any):
    """MNRL (or its cached variant) with ``scale = 1 / temperature``; in-batch negatives from every process."""
    from sentence_transformers.sentence_transformer import losses

    from syneg.training.launch import world_size

    scale, gather = 1.0 / config.temperature, world_size() > 1
    if config.mini_batch_size:
        return losses.CachedMultipleNegativesRankingLoss(model, scale=scale, mini_batch_size=config.mini_batch_size,
                                                         gather_across_devices=gather)
    return losses.MultipleNegativesRankingLoss(model, scale=scale, gather_across_devices=gather)
