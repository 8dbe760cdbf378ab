"""Negative-set diagnostics with the real packaged MiniLM on real SciFact texts."""

from __future__ import annotations

import pytest

from syneg.data import load_dataset
from syneg.diagnostics import negative_diagnostics
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
    assert -1.0 <= diag["diversity"]["mean"] <= 1.0


def test_separability_needs_both_sources(instances):
    only_retrieved = [inst.model_copy(update={"negatives": [n for n in inst.negatives if n.source != "synthetic"]})
                      for inst in instances]
    assert negative_diagnostics(only_retrieved, load_encoder(None))["separability"] is None
