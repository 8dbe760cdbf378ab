"""One function per stage: read inputs from the run directory, write the stage's outputs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from syneg.config import RunConfig
from syneg.data import BeirDataset
from syneg.io import read_records, write_json, write_jsonl
from syneg.records import MinedInstance, SyntheticNegative, TrainingInstance
from syneg.rundir import RunDir

SYNTHETIC_STRATEGIES = ("hybrid", "direct", "synthetic")


def mine_stage(config: RunConfig, run: RunDir, train: BeirDataset, progress: bool) -> dict[str, Any]:
    from syneg.mining import mine
    from syneg.mining.miner import write_mined

    instances, stats = mine(train, config.mine, config.seed, show_progress=progress)
    write_mined(instances, stats, run.output("mine"), run.stats_path("mine"))
    return stats


def synthesize_stage(config: RunConfig, run: RunDir, train: BeirDataset, progress: bool) -> dict[str, Any]:
    from syneg.synthesis import failure_report, synthesize

    mined = read_records(run.output("mine"), MinedInstance)
    seed = config.seed if config.synthesize.seed is None else config.synthesize.seed
    stats = synthesize(train, config.synthesize, run.output("synthesize"), mined=mined, seed=seed, progress=progress)
    run.write_stats("synthesize", stats)
    _, failed = failure_report(stats, run.output("synthesize"))
    if failed is not None:  # not marked done: a rerun retries the transient failures
        raise failed
    return stats


def mix_stage(config: RunConfig, run: RunDir, train: BeirDataset, progress: bool) -> dict[str, Any]:
    from syneg.mixing import mix

    mined = read_records(run.output("mine"), MinedInstance)
    synthetic: list[SyntheticNegative] = []
    if config.mix.strategy in SYNTHETIC_STRATEGIES:
        synthetic = read_records(run.output("synthesize"), SyntheticNegative)
    instances, stats = mix(mined, synthetic, config.mix.strategy, config.mix.ratio,
                           config.mix.num_negatives, config.seed, corpus=train)
    write_jsonl(run.output("mix"), instances)
    run.write_stats("mix", stats)
    return stats


def diagnose_stage(config: RunConfig, run: RunDir, train: BeirDataset, progress: bool) -> dict[str, Any]:
    from syneg.diagnostics import negative_diagnostics
    from syneg.models import load_encoder

    instances = read_records(run.output("mix"), TrainingInstance)
    encoder = load_encoder(config.train.model, config.train.max_seq_length)
    diagnostics = negative_diagnostics(instances, encoder, seed=config.seed)
    write_json(run.output("diagnose"), diagnostics)
    return diagnostics


def train_stage(config: RunConfig, run: RunDir, train: BeirDataset, progress: bool) -> dict[str, Any]:
    from syneg.training import train as train_model

    instances = read_records(run.output("mix"), TrainingInstance)
    out = run.output("train")
    if out.exists():
        shutil.rmtree(out)
    summary = train_model(instances, config.train, out, seed=config.seed)
    run.write_stats("train", summary)
    return summary


def evaluate_stage(config: RunConfig, run: RunDir, eval_ds: BeirDataset, progress: bool) -> dict[str, Any]:
    from syneg.evaluation import evaluate_model

    metrics = config.evaluate.metrics
    length = config.train.max_seq_length
    zero, zero_q = evaluate_model(config.train.model, eval_ds, metrics, max_seq_length=length, per_query="nDCG@10")
    trained, trained_q = evaluate_model(Path(run.output("train")), eval_ds, metrics,
                                        max_seq_length=length, use_cache=False, per_query="nDCG@10")
    result = {"split": eval_ds.split, "queries": len(eval_ds.queries), "zero_shot": zero, "trained": trained,
              "delta": {m: trained[m] - zero[m] for m in zero if m in trained and m != "queries"}}
    write_json(run.file("per_query.json"), {"zero_shot": zero_q, "trained": trained_q})
    write_json(run.output("evaluate"), result)
    return result
