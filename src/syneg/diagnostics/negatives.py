"""Diagnostics of a training set's negatives under the starting model.

- hardness: cos(query, negative) minus cos(query, positive), per source; a value at or
  above 0 marks a negative the model already ranks over the positive (a likely false negative).
- diversity: mean pairwise cosine between the negatives of one instance (lower = more diverse).
- length: words per negative relative to its positive, per source.
- separability: cross-validated accuracy and AUC of a logistic regression telling synthetic from
  retrieved negatives by embedding; near 0.5 means no shortcut, near 1.0 means a trivial one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from syneg.records import TrainingInstance


@dataclass
class NegativeSet:
    """Embeddings of a set of training instances, flattened for the diagnostics."""

    query: np.ndarray  # (n_instances, dim)
    positive: np.ndarray  # (n_instances, dim)
    negatives: np.ndarray  # (n_negatives, dim)
    owner: np.ndarray  # (n_negatives,) index of the instance each negative belongs to
    sources: list[str]  # (n_negatives,)
    neg_words: np.ndarray  # (n_negatives,)
    pos_words: np.ndarray  # (n_instances,)


def embed_negative_set(instances: list[TrainingInstance], model, batch_size: int = 64,
                       show_progress: bool = False) -> NegativeSet:
    """Encode queries, positives and negatives with ``model`` (a SentenceTransformer, path or None)."""
    from syneg.retrieval.pairs import encode_pairs

    negs = [(i, n) for i, inst in enumerate(instances) for n in inst.negatives]
    pairs = [(inst.query, inst.positive) for inst in instances] + [(instances[i].query, n.text) for i, n in negs]
    query, passage = encode_pairs(model, pairs, batch_size=batch_size, show_progress=show_progress)
    return NegativeSet(
        query=query[: len(instances)],
        positive=passage[: len(instances)],
        negatives=passage[len(instances):],
        owner=np.array([i for i, _ in negs], dtype=np.int64),
        sources=[n.source for _, n in negs],
        neg_words=np.array([len(n.text.split()) for _, n in negs], dtype=np.float64),
        pos_words=np.array([len(inst.positive.split()) for inst in instances], dtype=np.float64),
    )


def _summary(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"n": 0}
    q = np.quantile(values, [0.1, 0.5, 0.9])
    return {"n": int(values.size), "mean": float(values.mean()), "std": float(values.std()),
            "p10": float(q[0]), "p50": float(q[1]), "p90": float(q[2])}


def hardness(ns: NegativeSet) -> dict[str, dict[str, float]]:
    """Score margin of each negative against its positive, per source."""
    from syneg.retrieval.pairs import cosines

    margin = cosines(ns.query[ns.owner], ns.negatives) - cosines(ns.query, ns.positive)[ns.owner]
    out = {}
    for source in sorted(set(ns.sources)):
        mask = np.array([s == source for s in ns.sources])
        out[source] = {**_summary(margin[mask]), "above_positive": float((margin[mask] >= 0).mean())}
    return out


def diversity(ns: NegativeSet) -> dict[str, float]:
    """Mean pairwise cosine between negatives of the same instance."""
    sims = []
    for i in np.unique(ns.owner):
        emb = ns.negatives[ns.owner == i]
        if len(emb) > 1:
            gram = emb @ emb.T
            sims.append(gram[np.triu_indices(len(emb), k=1)].mean())
    return _summary(np.array(sims))


def length_ratio(ns: NegativeSet) -> dict[str, dict[str, float]]:
    """Words per negative divided by words of its positive, per source."""
    ratio = ns.neg_words / np.maximum(ns.pos_words[ns.owner], 1.0) if ns.owner.size else np.zeros(0)
    return {s: _summary(ratio[np.array([x == s for x in ns.sources])]) for s in sorted(set(ns.sources))}


def separability(ns: NegativeSet, seed: int = 0, folds: int = 5) -> dict[str, float] | None:
    """How well a linear probe tells synthetic from retrieved negatives (None if one class is missing)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.metrics import accuracy_score, roc_auc_score

    labels = np.array([1 if s == "synthetic" else 0 if s in ("bm25", "dense") else -1 for s in ns.sources])
    keep = labels >= 0
    y, x = labels[keep], ns.negatives[keep]
    n_minor = int(min((y == 1).sum(), (y == 0).sum())) if y.size else 0
    if n_minor < 2:
        return None
    cv = StratifiedKFold(n_splits=min(folds, n_minor), shuffle=True, random_state=seed)
    proba = cross_val_predict(LogisticRegression(max_iter=1000), x, y, cv=cv, method="predict_proba")[:, 1]
    return {"accuracy": float(accuracy_score(y, proba >= 0.5)), "auc": float(roc_auc_score(y, proba)),
            "synthetic": int((y == 1).sum()), "retrieved": int((y == 0).sum())}


def negative_diagnostics(instances: list[TrainingInstance], model, seed: int = 0,
                         show_progress: bool = False) -> dict[str, object]:
    """All diagnostics of ``instances`` under ``model`` as one JSON-ready dict (encoding bars if ``show_progress``)."""
    ns = embed_negative_set(instances, model, show_progress=show_progress)
    return {
        "instances": len(instances),
        "negatives": int(ns.owner.size),
        "hardness": hardness(ns),
        "diversity": diversity(ns),
        "length_ratio": length_ratio(ns),
        "separability": separability(ns, seed=seed),
    }
