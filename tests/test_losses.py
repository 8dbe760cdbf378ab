"""Training losses pinned against hand computations on random tensors, and against sentence-transformers."""

from __future__ import annotations

import math

import pytest
import torch

from syneg.config import TrainConfig
from syneg.training.losses import LOSSES, make_loss, needs_teacher_scores
from syneg.training.losses.distill import student_scores
from syneg.training.losses.infonce import info_nce
from syneg.training.losses.kl import KLDistill, kl_distill
from syneg.training.losses.margin_mse import MarginMSE, margin_mse


@pytest.fixture
def scores():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(4, 5, generator=gen), torch.randn(4, 5, generator=gen)


def test_margin_mse_is_the_mean_squared_margin_difference(scores):
    student, teacher = scores
    expected = 0.0
    for i in range(4):
        for j in range(1, 5):
            expected += ((student[i, 0] - student[i, j]) - (teacher[i, 0] - teacher[i, j])).item() ** 2
    assert margin_mse(student, teacher).item() == pytest.approx(expected / 16, rel=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 0.05])
def test_kl_distill_is_t_squared_batch_mean_kl(scores, temperature):
    student, teacher = scores
    total = 0.0
    for i in range(4):
        p = [math.exp(t / temperature) for t in teacher[i].tolist()]
        q = [math.exp(s / temperature) for s in student[i].tolist()]
        p = [x / sum(p) for x in p]
        q = [x / sum(q) for x in q]
        total += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    assert kl_distill(student, teacher, temperature).item() == pytest.approx(total / 4 * temperature**2, rel=1e-4)


def test_info_nce_is_cross_entropy_over_every_passage_of_the_batch():
    gen = torch.Generator().manual_seed(1)
    query, candidates = torch.randn(3, 8, generator=gen), torch.randn(2, 3, 8, generator=gen)
    unit = lambda x: x / x.norm(dim=-1, keepdim=True)  # noqa: E731
    passages = [unit(candidates[c, b]) for c in range(2) for b in range(3)]  # positives first
    expected = 0.0
    for i in range(3):
        logits = [20.0 * float(unit(query[i]) @ p) for p in passages]
        expected += -(logits[i] - math.log(sum(math.exp(x) for x in logits)))
    assert info_nce(query, candidates, 20.0).item() == pytest.approx(expected / 3, rel=1e-5)


def test_student_scores_are_each_querys_cosines_with_its_own_passages():
    gen = torch.Generator().manual_seed(2)
    query, candidates = torch.randn(2, 6, generator=gen), torch.randn(3, 2, 6, generator=gen)
    got = student_scores(query, candidates)
    for b in range(2):
        for c in range(3):
            want = torch.nn.functional.cosine_similarity(query[b], candidates[c, b], dim=0)
            assert got[b, c].item() == pytest.approx(want.item(), rel=1e-5)


def _embeddings():
    gen = torch.Generator().manual_seed(3)
    unit = torch.nn.functional.normalize
    return unit(torch.randn(4, 8, generator=gen), dim=-1), unit(torch.randn(3, 4, 8, generator=gen), dim=-1), \
        torch.rand(4, 3, generator=gen)


def test_distillation_losses_match_sentence_transformers_on_normalized_embeddings():
    from sentence_transformers.sentence_transformer.losses import DistillKLDivLoss, MarginMSELoss

    query, candidates, labels = _embeddings()
    columns = [query, *candidates]
    st_margin = MarginMSELoss(model=None).compute_loss_from_embeddings(columns, labels)
    ours = MarginMSE(None, temperature=0.05, infonce_weight=0.0).from_embeddings(query, candidates, labels)
    assert ours.item() == pytest.approx(st_margin.item(), rel=1e-5)
    st_kl = DistillKLDivLoss(model=None, temperature=0.05).compute_loss_from_embeddings(columns, labels / 1.0)
    ours = KLDistill(None, temperature=0.05, infonce_weight=0.0).from_embeddings(query, candidates, labels)
    assert ours.item() == pytest.approx(st_kl.item(), rel=1e-4)


def test_combined_loss_adds_weighted_infonce_matching_mnrl():
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    query, candidates, labels = _embeddings()
    mnrl = MultipleNegativesRankingLoss(model=None, scale=20.0).compute_loss_from_embeddings(
        [query, *candidates], None)
    assert info_nce(query, candidates, 20.0).item() == pytest.approx(mnrl.item(), rel=1e-5)
    alone = MarginMSE(None, 0.05, 0.0).from_embeddings(query, candidates, labels)
    both = MarginMSE(None, 0.05, 0.5).from_embeddings(query, candidates, labels)
    assert both.item() == pytest.approx(alone.item() + 0.5 * mnrl.item(), rel=1e-5)


def test_registry_builds_each_loss_and_names_the_ones_needing_scores():
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    built = {name: make_loss(None, TrainConfig(loss=name, infonce_weight=0.3, mini_batch_size=None)) for name in LOSSES}
    assert isinstance(built["infonce"], MultipleNegativesRankingLoss)
    assert isinstance(built["margin_mse"], MarginMSE) and isinstance(built["kl"], KLDistill)
    assert built["kl"].infonce_weight == 0.3 and built["kl"].temperature == TrainConfig().temperature
    assert [n for n in LOSSES if needs_teacher_scores(n)] == ["margin_mse", "kl"]
