"""A run directory written from real pieces (the embedded slice, the records, the trainer's plot),
without training: what the report tests render."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from syneg import layout
from syneg.config import RunConfig, dump_config
from syneg.data import load_dataset
from syneg.diagnostics.negatives import NegativeSet, diversity, hardness, length_ratio
from syneg.io import write_json, write_jsonl
from syneg.pipeline import STAGES
from syneg.records import MinedInstance, Negative, SyntheticNegative, TrainingInstance
from syneg.rundir import RunDir
from syneg.training.diagnostics import plot_training

SYNTHETIC_TEXT = "A <b>passage</b> about mice & rats."  # LLM text with markup: must come out escaped
FAILED_RAW = "<script>alert('raw reply')</script>"


def _pairs(run_config: RunConfig, n: int) -> list[MinedInstance]:
    data = run_config.data
    train = load_dataset(data.path, data.train_split, data.dev_fraction, run_config.seed)
    doc_ids = list(train.corpus)
    out = []
    for i, (qid, rels) in enumerate(list(train.qrels.items())[:n]):
        pos = next(iter(rels))
        negs = [Negative(text=train.corpus[d].text, source="bm25", doc_id=d, score=12.0 - r, rank=r + 1)
                for r, d in enumerate(d for d in doc_ids[i * 5:i * 5 + 5] if d not in rels)][:3]
        out.append(MinedInstance(query_id=qid, query=train.queries[qid], positive_id=pos,
                                 positive=train.corpus[pos].text, negatives=negs))
    return out


def _synthetic(mined: list[MinedInstance]) -> list[SyntheticNegative]:
    return [SyntheticNegative(query_id=m.query_id, positive_id=m.positive_id, model="llamacpp:smollm2",
                              text=f"{SYNTHETIC_TEXT} ({k})", reasoning="Shares terms but studies mice.",
                              attributes={"domain": "oncology", "length": "shorter than"}, prompt_version="v1",
                              key=f"{m.query_id}-{k}", teacher_score=0.5, positive_teacher_score=0.8)
            for m in mined[:4] for k in range(2)]


def _failed(mined: list[MinedInstance]) -> list[dict]:
    q = mined[0].query_id
    return [{"query_id": q, "stage": "validate", "reason": "unparseable", "raw": FAILED_RAW, "attributes": {}},
            {"query_id": q, "stage": "validate", "reason": "unparseable", "raw": "not json", "attributes": {}},
            {"query_id": q, "stage": "call", "reason": "timeout", "detail": "no reply in 60 s", "raw": None,
             "transient": True, "attributes": {"domain": "oncology"}},
            {"query_id": q, "stage": "guard", "reason": "false_negative", "raw": "{}", "attributes": {},
             "teacher_score": 0.91, "positive_teacher_score": 0.85}]


def _diagnostics(train: list[TrainingInstance]) -> dict:
    rng = np.random.default_rng(0)
    negs = [(i, n) for i, inst in enumerate(train) for n in inst.negatives]

    def unit(n: int) -> np.ndarray:
        x = rng.normal(size=(n, 16))
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    ns = NegativeSet(query=unit(len(train)), positive=unit(len(train)), negatives=unit(len(negs)),
                     owner=np.array([i for i, _ in negs]), sources=[n.source for _, n in negs],
                     neg_words=np.array([len(n.text.split()) for _, n in negs], dtype=float),
                     pos_words=np.array([len(t.positive.split()) for t in train], dtype=float))
    return {"instances": len(train), "negatives": len(negs), "hardness": hardness(ns),
            "diversity": diversity(ns), "length_ratio": length_ratio(ns), "separability": None}


def _evaluation(run_config: RunConfig) -> tuple[dict, dict]:
    data = run_config.data
    dev = load_dataset(data.path, data.eval_split, data.dev_fraction, run_config.seed)
    rng = np.random.default_rng(1)
    zero = {q: float(rng.uniform(0, 1)) for q in dev.queries}
    trained = {q: float(np.clip(v + rng.normal(0.04, 0.2), 0, 1)) for q, v in zero.items()}
    zs = {"nDCG@10": float(np.mean(list(zero.values()))), "R@100": 0.8}
    tr = {"nDCG@10": float(np.mean(list(trained.values()))), "R@100": 0.85}
    metrics = {"split": dev.split, "queries": len(dev.queries), "zero_shot": {**zs, "queries": len(zero)},
               "trained": {**tr, "queries": len(zero)}, "delta": {m: tr[m] - zs[m] for m in zs}}
    return metrics, {"zero_shot": zero, "trained": trained}


def _training_log(model: Path) -> None:
    steps = [{"event": "step", "step": s, "loss": 2.0 / (1 + s / 5), "grad_norm": 1.0, "learning_rate": 2e-5}
             for s in range(1, 31)]
    evals = [{"event": "eval", "step": s, "metrics": {"nDCG@10": 0.6 + s / 300}} for s in (0, 15, 30)]
    model.mkdir()
    write_jsonl(model / layout.TRAIN_LOG, steps + evals)
    plot_training(steps + evals, model / layout.TRAINING_PLOT)


def make_full_run(root: Path, data_path: str | None = None) -> Path:
    """Write every file a finished hybrid run has (``data_path``: the config's data.path)."""
    config = RunConfig.model_validate({"data": {"path": data_path}, "mix": {"strategy": "hybrid"}})
    run = RunDir(root)
    run.save_config(dump_config(config))
    real = config.model_copy(update={"data": config.data.model_copy(update={"path": None})})
    mined = _pairs(real, 6)
    synthetic = _synthetic(mined)
    train = [TrainingInstance(query_id=m.query_id, query=m.query, positive_id=m.positive_id, positive=m.positive,
                              negatives=m.negatives[:2] + [Negative(text=s.text, source="synthetic")
                                                           for s in synthetic if s.query_id == m.query_id][:1])
             for m in mined]
    write_jsonl(run.file(layout.MINED), mined)
    write_jsonl(run.file(layout.SYNTHETIC), synthetic)
    write_jsonl(layout.side_file(run.file(layout.SYNTHETIC), layout.FAILED_SUFFIX), _failed(mined))
    layout.write_stats(run.file(layout.SYNTHETIC), {"calls": 12, "guard_drops": {"false_negative": 1}})
    write_jsonl(run.file(layout.TRAIN), train)
    write_json(run.file(layout.DIAGNOSTICS), _diagnostics(train))
    _training_log(run.file(layout.MODEL))
    metrics, per_query = _evaluation(real)
    write_json(run.file(layout.PER_QUERY), per_query)
    write_json(run.file(layout.METRICS), metrics)
    seconds = {"mine": 3.2, "synthesize": 41.5, "mix": 0.4, "diagnose": 2.1, "train": 95.0, "evaluate": 7.3}
    for stage in STAGES:
        if stage.name in seconds:  # a run on qrels: no queries stage
            run.mark_done(stage.name, run.file(stage.output), "key", {"seconds": seconds[stage.name]})
    return root
