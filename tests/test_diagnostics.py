"""Negative-set diagnostics with the real packaged MiniLM on real SciFact texts."""

from __future__ import annotations

import numpy as np
import pytest

from syneg.data import load_dataset
from syneg.diagnostics import NegativeSet, negative_diagnostics
from syneg.diagnostics.negatives import diversity, hardness
from syneg.models import load_encoder
from syneg.records import Negative, TrainingInstance

COOKING = [
    "Whisk the eggs with sugar until pale, then fold in the flour and bake for twenty minutes.",
    "Slow-roast the lamb shoulder with garlic and rosemary for four hours.",
    "Knead the dough, let it rise overnight, and bake the loaf in a hot dutch oven.",
    "Simmer the tomatoes with basil and olive oil to make a quick pasta sauce.",
]


@pytest.fixture(scope="module")
def instances(slice_dir):
    ds = load_dataset(slice_dir, "train")
    qids = list(ds.qrels)[:12]
    doc_ids = list(ds.corpus)
    out = []
    for i, qid in enumerate(qids):
        pos = ds.positives(qid)[0]
        retrieved = [d for d in doc_ids[i * 3: i * 3 + 6] if d not in ds.qrels[qid]][:2]
        negatives = [Negative(text=ds.doc_text(d), source="bm25", doc_id=d) for d in retrieved]
        negatives.append(Negative(text=COOKING[i % 4] + f" Serves {i + 2}.", source="synthetic"))
        if i == 0:  # a copy of the positive: the hardest possible "negative"
            negatives.append(Negative(text=ds.doc_text(pos), source="dense", doc_id=pos))
        out.append(TrainingInstance(query_id=qid, query=ds.queries[qid], positive_id=pos,
                                    positive=ds.doc_text(pos), negatives=negatives))
    return out


@pytest.mark.slow
def test_diagnostics_measure_what_they_claim(instances):
    diag = negative_diagnostics(instances, load_encoder(None))
    assert diag["instances"] == 12 and diag["negatives"] == 12 * 3 + 1
    hard = diag["hardness"]
    assert hard["dense"]["n"] == 1 and hard["dense"]["mean"] == pytest.approx(0.0, abs=1e-3)
    assert hard["dense"]["above_positive"] == 1.0
    assert hard["synthetic"]["mean"] < hard["bm25"]["mean"] < 0  # off-topic cooking is easiest
    # cooking text vs scientific abstracts: a linear probe separates them almost perfectly
    assert diag["separability"]["auc"] > 0.95
    assert diag["separability"]["synthetic"] == 12 and diag["separability"]["retrieved"] == 25
    assert 0 < diag["length_ratio"]["synthetic"]["mean"] < diag["length_ratio"]["bm25"]["mean"]
    assert diag["diversity"]["n"] == 12  # every instance has at least two negatives


def test_hardness_and_diversity_known_answers():
    """Unit vectors by hand: instance 0 has negatives x, y, x; instance 1 has x and (0.6, 0.8); 2 has one."""
    x, y, d = [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]
    ns = NegativeSet(query=np.array([x, y, x]), positive=np.array([d, y, x]),
                     negatives=np.array([x, y, x, x, d, y]), owner=np.array([0, 0, 0, 1, 1, 2]),
                     sources=["bm25", "synthetic", "bm25", "bm25", "synthetic", "bm25"],
                     neg_words=np.ones(6), pos_words=np.ones(3))
    # instance 0: pairwise cosines x.y=0, x.x=1, y.x=0 -> 1/3; instance 1: x.d = 0.6; instance 2: none
    div = diversity(ns)
    assert div["n"] == 2 and div["mean"] == pytest.approx((1 / 3 + 0.6) / 2)
    # margins cos(q, neg) - cos(q, pos): inst 0 (pos 0.6): x 0.4, y -0.6, x 0.4; inst 1 (pos 1): x -1, d -0.2;
    # inst 2 (pos 1): y -1
    hard = hardness(ns)
    assert hard["bm25"]["mean"] == pytest.approx((0.4 + 0.4 - 1 - 1) / 4)
    assert hard["bm25"]["above_positive"] == 0.5
    assert hard["synthetic"]["mean"] == pytest.approx((-0.6 - 0.2) / 2) and hard["synthetic"]["above_positive"] == 0


@pytest.mark.slow
def test_separability_needs_both_sources(instances):
    only_retrieved = [inst.model_copy(update={"negatives": [n for n in inst.negatives if n.source != "synthetic"]})
                      for inst in instances]
    assert negative_diagnostics(only_retrieved, load_encoder(None))["separability"] is None


@pytest.mark.slow
def test_diagnostics_show_encoding_progress_on_request(instances, capfd, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv("SYNEG_QUIET", raising=False)
    encoder = load_encoder(None)
    negative_diagnostics(instances[:4], encoder)
    assert "100%" not in capfd.readouterr().err
    negative_diagnostics(instances[:4], encoder, show_progress=True)
    assert "100%" in capfd.readouterr().err  # tqdm bars of the encoding, on stderr
