"""The stage registry: one function per stage, with the files and config sections it uses.

A stage function receives a :class:`StageSettings` that holds only the config sections its
:class:`Stage` declares (reading another one is an error, so a forgotten input cannot make a
stale resume key), the run directory, the dataset it works on and whether to show progress.
To add a stage: write the function, add a :class:`Stage` to ``STAGES`` at its place in the order,
and its output name to ``syneg.layout``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from syneg import layout
from syneg.config import RunConfig
from syneg.data import BeirDataset
from syneg.evaluation.metrics import PER_QUERY_METRIC
from syneg.io import RecordFile, read_records, write_json, write_jsonl
from syneg.records import MinedInstance, SyntheticNegative, TrainingInstance
from syneg.rundir import RunDir


@dataclass(frozen=True)
class StageSettings:
    """The run's seed, its resolved device and the config sections a stage declared; any other section is an error."""

    seed: int
    sections: Mapping[str, BaseModel]
    device: str = "cpu"

    def __getattr__(self, name: str) -> BaseModel:
        try:
            return self.sections[name]
        except KeyError:
            raise AttributeError(f"this stage did not declare the config section {name!r}") from None


StageFunc = Callable[[StageSettings, RunDir, "BeirDataset | None", bool], dict[str, Any]]


def _always(config: RunConfig) -> bool:
    return True


def _encodes(config: RunConfig) -> dict[str, Any]:
    return {}


def _mine_encoding(config: RunConfig) -> dict[str, Any] | None:
    return {"encode": config.encode.backend} if config.mine.retriever == "dense" or config.teacher.model else None


def _guard_encoding(config: RunConfig) -> dict[str, Any] | None:
    return {"encode": config.encode.backend} if config.synthesize.guard else None


def _train_encoding(config: RunConfig) -> dict[str, Any]:
    from syneg.training.losses import needs_teacher_scores

    encoding: dict[str, Any] = {}
    checkpoints = config.train.keep_best or config.train.eval_steps is not None
    if checkpoints and config.data.can_evaluate():  # checkpoints scored as evaluate scores
        encoding["evaluate"] = {"backend": config.evaluate.backend, "max_seq_length": config.evaluate.max_seq_length}
    if needs_teacher_scores(config.train.loss):
        encoding["encode"] = config.encode.backend
    return encoding


def _generates(config: RunConfig) -> bool:
    return config.data.pairs() != "qrels"


def _queries_keyed(config: RunConfig) -> dict[str, Any]:
    """What else changes the generated queries: the LLM's own settings (not the negative prompt's) and, for the
    round trip with a dense teacher, how it encodes."""
    llm = config.synthesize.model_dump(mode="json", include=set(LLM_FIELDS))
    dense = config.queries.round_trip_k and config.teacher.model
    return {"llm": llm, **({"encode": config.encode.backend} if dense else {})}


# the synthesize settings that change what the LLM writes for a query (the rest are the negative prompt's)
LLM_FIELDS = ("backend", "model", "base_url", "server", "temperature", "repeat_penalty")


def _uses_synthetic(config: RunConfig) -> bool:
    from syneg.mixing import get_strategy

    return get_strategy(config.mix.strategy).uses_synthetic


@dataclass(frozen=True)
class Stage:
    """One registered stage: what it reads (config sections, upstream outputs) and writes."""

    name: str
    run: StageFunc
    output: str  # a syneg.layout name in the run directory
    sections: tuple[str, ...]  # config sections whose settings key the stage
    upstream: tuple[str, ...] = ()  # stages whose outputs it reads
    dataset: Literal["corpus", "train", "eval"] = "train"  # corpus: the split as loaded; train: the training pairs
    active: Callable[[RunConfig], bool] = _always
    # a stage that may encode: its settings also hold ``encoding_sections``, and when ``encoding(config)`` is not
    # None (it encodes with this config) its key holds that (the settings that change its output) and the device type
    encoding: Callable[[RunConfig], dict[str, Any] | None] | None = None
    encoding_sections: tuple[str, ...] = ("encode",)


def queries_stage(settings: StageSettings, run: RunDir, corpus: BeirDataset, progress: bool) -> dict[str, Any]:
    """LLM-written queries for corpus documents, checked and round-trip filtered; fails the run (exit 3) when
    calls failed, as synthesize does.

    | reads    | config ``queries``, ``synthesize`` (the LLM), ``teacher`` (the round trip); the train split's corpus |
    | writes   | ``queries.jsonl`` (GeneratedQuery), ``.stats.json``, ``.failed.jsonl``, the cache        |
    """
    from syneg.queries import failure_report, generate_queries

    out = run.file(layout.QUERIES)
    stats = generate_queries(corpus, settings.queries, settings.synthesize, out, seed=settings.seed, progress=progress,
                             teacher=settings.teacher, device=settings.device, encode_backend=settings.encode.backend)
    _, failed = failure_report(stats, out)
    if failed is not None:
        raise failed
    return stats


def mine_stage(settings: StageSettings, run: RunDir, train: BeirDataset, progress: bool) -> dict[str, Any]:
    """Mine hard negatives for every (query, positive) pair of the train split.

    | reads    | config ``mine``, ``teacher`` (rescoring, false negatives); the train split |
    | writes   | ``mined.jsonl`` (MinedInstance), ``mined.jsonl.stats.json``               |
    """
    from syneg.hardware import encode_batch_size
    from syneg.mining import mine, write_mined

    instances, stats = mine(train, settings.mine, settings.seed, show_progress=progress, teacher=settings.teacher,
                            device=settings.device, batch_size=encode_batch_size(settings.device),
                            backend=settings.encode.backend)
    write_mined(instances, stats, run.file(layout.MINED))
    return stats


def synthesize_stage(settings: StageSettings, run: RunDir, train: BeirDataset, progress: bool) -> dict[str, Any]:
    """LLM-written negatives for the mined pairs; fails the run (exit 3) when calls failed.

    | reads    | config ``synthesize``, ``teacher`` (the guard); ``mined.jsonl``; the train split |
    | writes   | ``synthetic.jsonl`` (SyntheticNegative), ``.stats.json``, ``.failed.jsonl``, the cache |
    """
    from syneg.synthesis import failure_report, synthesize

    config = settings.synthesize
    out = run.file(layout.SYNTHETIC)
    mined = read_records(run.file(layout.MINED), MinedInstance)
    stats = synthesize(train, config, out, mined=mined, seed=settings.seed, progress=progress, teacher=settings.teacher,
                       device=settings.device, encode_backend=settings.encode.backend)
    _, failed = failure_report(stats, out)
    if failed is not None:  # not marked done: a rerun retries the transient failures
        raise failed
    return stats


def mix_stage(settings: StageSettings, run: RunDir, train: BeirDataset, progress: bool) -> dict[str, Any]:
    """Give every mined pair its K negatives with the configured strategy.

    | reads    | config ``mix``; ``mined.jsonl``, ``synthetic.jsonl`` (strategies that use it) |
    | writes   | ``train.jsonl`` (TrainingInstance), ``train.jsonl.stats.json``            |
    """
    from syneg.mixing import Mixing, get_strategy
    from syneg.progress import bar

    config = settings.mix
    synthetic: Iterable[SyntheticNegative] = []
    if get_strategy(config.strategy).uses_synthetic:
        synthetic = RecordFile(run.file(layout.SYNTHETIC), SyntheticNegative)
    mixing = Mixing(RecordFile(run.file(layout.MINED), MinedInstance), synthetic, config.strategy, config.ratio,
                    config.num_negatives, settings.seed, corpus=train)
    # written as drawn: one mined instance in memory at a time
    write_jsonl(run.file(layout.TRAIN), bar(mixing, show=progress, desc="mix", unit="pair"))
    layout.write_stats(run.file(layout.TRAIN), mixing.stats)
    return mixing.stats


def diagnose_stage(settings: StageSettings, run: RunDir, train: BeirDataset, progress: bool) -> dict[str, Any]:
    """Hardness, diversity and source separability of the training negatives.

    | reads    | config ``train`` (the student model); ``train.jsonl``                     |
    | writes   | ``diagnostics.json``                                                      |
    """
    from syneg.diagnostics import negative_diagnostics
    from syneg.models import load_encoder

    instances = read_records(run.file(layout.TRAIN), TrainingInstance)
    encoder = load_encoder(settings.train.model, settings.train.max_seq_length, settings.device)
    diagnostics = negative_diagnostics(instances, encoder, seed=settings.seed, show_progress=progress)
    write_json(run.file(layout.DIAGNOSTICS), diagnostics)
    return diagnostics


def evaluation_options(settings: StageSettings) -> dict[str, Any]:
    """``evaluate_model`` keywords of the ``evaluate`` section: the backend and the truncation (None = the model's own)."""
    return {"backend": settings.evaluate.backend, "max_seq_length": settings.evaluate.max_seq_length}


def train_stage(settings: StageSettings, run: RunDir, eval_ds: BeirDataset, progress: bool) -> dict[str, Any]:
    """Fine-tune the student with the configured loss. With ``train.keep_best`` or ``train.eval_steps``
    it evaluates on the eval split before training, at each epoch's end and every ``eval_steps`` (a
    learning curve), and with ``keep_best`` keeps the best of those checkpoints, the untrained one included.

    | reads    | config ``train``, ``teacher`` (scores for distillation); ``train.jsonl``; the eval split |
    | writes   | ``model/`` (with its training logs), ``model.stats.json``                 |
    """
    from syneg.training import train as train_model
    from syneg.training.card import read_provenance
    from syneg.training.losses import needs_teacher_scores
    from syneg.teacher.fill import fill_teacher_scores

    instances = read_records(run.file(layout.TRAIN), TrainingInstance)
    checkpoints = (settings.train.keep_best or settings.train.eval_steps is not None) and eval_ds is not None
    if needs_teacher_scores(settings.train.loss):
        instances = fill_teacher_scores(instances, settings.teacher, device=settings.device, show_progress=progress,
                                        backend=settings.encode.backend)
    out = run.file(layout.MODEL)
    if out.exists():
        shutil.rmtree(out)
    summary = train_model(instances, settings.train, out, eval_dataset=eval_ds if checkpoints else None,
                          seed=settings.seed, provenance=read_provenance(run.file(layout.TRAIN)),
                          show_progress=progress, device=settings.device, evaluation=evaluation_options(settings))
    layout.write_stats(out, summary)
    return summary


def evaluate_stage(settings: StageSettings, run: RunDir, eval_ds: BeirDataset, progress: bool) -> dict[str, Any]:
    """Zero-shot and trained model on the evaluation split, each at its own ``max_seq_length`` (the trained
    model's is the length it was trained at) unless ``evaluate.max_seq_length`` is set, through
    ``evaluate.backend`` (default: sentence-transformers' own encode, fp32).

    | reads    | config ``evaluate``, ``train`` (the starting model); ``model/``; the eval split |
    | writes   | ``metrics.json``, ``per_query.json``                                      |
    """
    from syneg.evaluation import evaluate_model
    from syneg.hardware import encode_batch_size

    metrics, device = settings.evaluate.metrics, settings.device
    options = {**evaluation_options(settings), "per_query": PER_QUERY_METRIC, "show_progress": progress,
               "device": device, "batch_size": encode_batch_size(device)}
    zero, zero_q = evaluate_model(settings.train.model, eval_ds, metrics, **options)
    trained, trained_q = evaluate_model(run.file(layout.MODEL), eval_ds, metrics, use_cache=False, **options)
    result = {"split": eval_ds.split, "queries": len(eval_ds.queries), "device": device,
              "backend": settings.evaluate.backend, "max_seq_length": settings.evaluate.max_seq_length, "zero_shot": zero,
              "trained": trained,
              "delta": {m: trained[m] - zero[m] for m in zero if m in trained and m != "queries"}}
    write_json(run.file(layout.PER_QUERY), {"zero_shot": zero_q, "trained": trained_q})
    write_json(run.file(layout.METRICS), result)
    return result


def _evaluates(config: RunConfig) -> bool:
    return config.data.can_evaluate()


STAGES: tuple[Stage, ...] = (
    Stage("queries", queries_stage, layout.QUERIES, ("data", "teacher", "queries"), dataset="corpus",
          active=_generates, encoding=_queries_keyed, encoding_sections=("synthesize", "encode")),
    Stage("mine", mine_stage, layout.MINED, ("data", "teacher", "mine"), ("queries",), encoding=_mine_encoding),
    Stage("synthesize", synthesize_stage, layout.SYNTHETIC, ("data", "teacher", "synthesize"), ("mine",),
          active=_uses_synthetic, encoding=_guard_encoding),
    Stage("mix", mix_stage, layout.TRAIN, ("data", "mix"), ("mine", "synthesize")),
    Stage("diagnose", diagnose_stage, layout.DIAGNOSTICS, ("train",), ("mix",), encoding=_encodes),
    Stage("train", train_stage, layout.MODEL, ("data", "teacher", "train"), ("mix",), dataset="eval",
          encoding=_train_encoding, encoding_sections=("encode", "evaluate")),
    Stage("evaluate", evaluate_stage, layout.METRICS, ("data", "evaluate", "train"), ("train",), dataset="eval",
          active=_evaluates, encoding=_encodes),
)
STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)
