"""Run configuration: a YAML file mapped to pydantic models, overridable with ``--set a.b=v``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from syneg.errors import DataError, SynegError
from syneg.evaluation.metrics import DEFAULT_METRICS, parse_metrics
from syneg.hardware import DEVICE_PATTERN, ENCODE_BACKENDS
from syneg.limits import (
    MAX_EPOCHS, MAX_ITEMS, MAX_LOSS_WEIGHT, MAX_PASSAGE_WORDS, MAX_SAMPLING, MAX_TRAIN_SCALE,
    MAX_ATTEMPTS, MAX_BATCH_SIZE, MAX_CALLS_PER_PAIR, MAX_DEADLINE_S, MAX_DEPTH, MAX_NEGATIVES, MAX_RATIO,
    MAX_REQUEST_TIMEOUT_S, MAX_SEED, MAX_SEQ_LENGTH, MAX_WORDS, MAX_WORKERS, MIN_WORDS,
)
# registry names only (leaf modules); the implementations load when a stage uses them
from syneg.mixing.registry import STRATEGIES
from syneg.synthesis.backends import BACKENDS, SERVERS
from syneg.synthesis.backends.urls import check_base_url
from syneg.synthesis.engines import ENGINES
from syneg.synthesis.modes import MODES
from syneg.training.losses import LOSSES

if TYPE_CHECKING:
    from syneg.data import BeirDataset

Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]  # strictly between 0 and 1
Share = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]  # in (0, 1]
Name = Annotated[str, Field(min_length=1)]
# counts and sizes (bounds: syneg.limits)
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Depth = Annotated[int, Field(gt=0, le=MAX_DEPTH)]
Negatives = Annotated[int, Field(gt=0, le=MAX_NEGATIVES)]
BatchSize = Annotated[int, Field(gt=0, le=MAX_BATCH_SIZE)]
SeqLength = Annotated[int, Field(gt=0, le=MAX_SEQ_LENGTH)]
Calls = Annotated[int, Field(gt=0, le=MAX_CALLS_PER_PAIR)]
Workers = Annotated[int, Field(gt=0, le=MAX_WORKERS)]
Count = Annotated[int, Field(gt=0, le=MAX_ITEMS)]
KeptTarget = Annotated[float, Field(gt=0, le=MAX_CALLS_PER_PAIR, allow_inf_nan=False)]
Device = Annotated[str, Field(pattern=DEVICE_PATTERN)]  # auto|cpu|cuda|cuda:N|mps (syneg.hardware.resolve_device)
EncodeBackend = Literal[ENCODE_BACKENDS]  # type: ignore[valid-type]  # syneg.retrieval.encode.encoder_for


def _model_name(name: str) -> str:
    """``name`` unless it is blank or holds control characters (a typo, or a name no server or folder has)."""
    if not name.strip() or not name.isprintable():
        raise PydanticCustomError("model_name", "names no model (empty, blank or with control characters): {name}",
                                  {"name": repr(name)[:80]})
    return name


ModelName = Annotated[str, AfterValidator(_model_name)]  # a path, a served name or a Hub id


RETIRED = {"mine.rescore_model": "teacher.model", "synthesize.guard_model": "teacher.model"}  # old key -> new


def refuse_retired(section: str, data: Any) -> Any:
    """``data`` unchanged unless it sets a retired key of ``section``: then an error naming the new key."""
    for key in data if isinstance(data, dict) else ():
        new = RETIRED.get(f"{section}.{key}")
        if new:
            raise PydanticCustomError("retired", "{old} was retired: set {new}", {"old": f"{section}.{key}", "new": new})
    return data


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class DataConfig(Section):
    path: str | None = Field(None, description="BEIR folder (corpus.jsonl, queries.jsonl, qrels/); None = the embedded SciFact slice. A folder with only corpus.jsonl trains on generated queries.")
    train_split: Name = Field("train", description="qrels split to train on (qrels/<split>.tsv).")
    eval_split: Name = Field("dev", description="qrels split to evaluate on (the carved part when dev_fraction is set).")
    dev_fraction: Fraction | None = Field(0.3, description="Carve a seeded dev split of this share from train; None = use qrels/<eval_split>.tsv.")
    split_seed: Seed | None = Field(None, description="Seed of the dev carve; None = the run's seed (fix it to compare seeds).")
    train_pairs: Literal["auto", "qrels", "generated", "both"] = Field("auto", description="Training pairs: the train split's qrels, LLM-generated queries (the queries stage), or both; auto = qrels when the folder has train qrels, else generated.")
    eval_path: str | None = Field(None, description="BEIR folder to evaluate on (qrels/<eval_split>.tsv, no carve); None = the data folder.")

    def load_split(self, kind: Literal["train", "eval"], seed: int) -> BeirDataset:
        """The ``train`` or ``eval`` split, carved with ``split_seed`` (else ``seed``) when ``dev_fraction`` is set.
        Without train qrels (a folder with only a corpus) the train split is the corpus with no query."""
        from syneg.data import load_dataset, load_unlabelled

        if kind == "eval" and self.eval_path is not None:
            return load_dataset(self.eval_path, self.eval_split)
        if kind == "train" and not self.labelled():
            return load_unlabelled(self.folder(), self.train_split)
        split = self.eval_split if kind == "eval" else self.train_split
        fraction = self.dev_fraction if self.labelled() else None
        return load_dataset(self.path, split, fraction, seed if self.split_seed is None else self.split_seed)

    def folder(self) -> Path:
        """The data folder (the embedded slice when ``path`` is None)."""
        from syneg.data import embedded_path

        return Path(self.path) if self.path is not None else embedded_path()

    def labelled(self) -> bool:
        """True when the folder has the train split's qrels (the split carved from, with ``dev_fraction``)."""
        from syneg.data import has_split

        return has_split(self.folder(), "train" if self.dev_fraction is not None else self.train_split)

    def pairs(self) -> Literal["qrels", "generated", "both"]:
        """``train_pairs`` resolved: ``auto`` is qrels for a labelled folder, else generated."""
        if self.train_pairs == "auto":
            return "qrels" if self.labelled() else "generated"
        return self.train_pairs

    def can_evaluate(self) -> bool:
        """True when there are labelled queries to evaluate on (``eval_path``, a carve or ``qrels/<eval_split>``)."""
        from syneg.data import has_split

        if self.eval_path is not None:
            return True
        return self.labelled() if self.dev_fraction is not None else has_split(self.folder(), self.eval_split)

    def key(self, kind: Literal["corpus", "train", "eval"]) -> dict[str, Any]:
        """The settings that decide the ``corpus`` (the train split as loaded), the ``train`` pairs or the ``eval``
        split: what keys a stage that reads it, so that a setting of another split reruns nothing."""
        fields = {"path", "train_split", "dev_fraction", "split_seed"}
        if kind == "eval":
            fields |= {"eval_split", "eval_path"}
        key = self.model_dump(mode="json", include=fields)
        return {**key, "train_pairs": self.pairs()} if kind == "train" else key

    def depends_on_run_seed(self) -> bool:
        """True when the splits are carved with the run's seed (``dev_fraction`` set, ``split_seed`` not)."""
        return self.dev_fraction is not None and self.split_seed is None and self.labelled()


class TeacherConfig(Section):
    """The scorer independent of the student: rescoring mined candidates, guarding synthetic ones,
    flagging false negatives and giving the scores that distillation losses learn from."""

    model: ModelName | None = Field(None, description="Teacher: mpnet, embeddinggemma or a bi-/cross-encoder path; None = no teacher (the guard: the packaged MiniLM).")
    max_seq_length: SeqLength | None = Field(256, description="Teacher truncation in tokens; None = the model's own.")
    batch_size: BatchSize = Field(32, description="Teacher scoring batch size.")
    perc: Share = Field(0.95, description="False negative: teacher score >= perc x the positive's.")
    false_negatives: Literal["drop", "relabel"] = Field("drop", description="drop them, or relabel them as extra positives of the pair.")
    max_extra_positives: Annotated[int, Field(ge=0, le=MAX_NEGATIVES)] = Field(2, description="Relabelled passages kept per pair.")


class MineConfig(Section):
    retriever: Literal["bm25", "dense"] = Field("bm25", description="Candidate retriever.")
    model: str | None = Field(None, description="Dense retrieval model path; None = packaged MiniLM.")
    num_negatives: Negatives = Field(8, description="Negatives per (query, positive).")
    top_k: Depth = Field(100, description="Candidates retrieved per query.")
    range_min: Annotated[int, Field(ge=0, le=MAX_DEPTH)] = Field(0, description="Skip the best N non-positive candidates.")
    range_max: Depth | None = Field(None, description="Consider non-positive candidates up to this position; None = all of top_k.")
    sampling: Literal["top", "random"] = Field("top", description="top: the best survivors; random: a seeded sample of them.")
    absolute_margin: NonNegative | None = Field(None, description="Drop negatives scoring above positive - margin.")
    relative_margin: NonNegative | None = Field(0.05, description="Drop negatives scoring above positive - |positive| x margin (NV-Retriever: 0.05).")
    margin_reference: Literal["query_min", "pair"] = Field("query_min", description="query_min: margins against the query's lowest positive (sentence-transformers); pair: each pair's own positive.")
    max_score: Finite | None = Field(None, description="Drop negatives scoring above this.")
    max_queries: Count | None = Field(None, description="Mine a seeded subset of this many queries of the split.")
    seed: Seed | None = Field(None, description="Query subset and positive sampling seed; None = the run's seed.")
    one_positive: bool = Field(False, description="One positive per query instead of every pair.")
    positive_choice: Literal["random", "graded"] = Field("random", description="With one_positive: random (seeded) or graded (top grade, then teacher score).")
    max_seq_length: SeqLength | None = Field(None, description="Truncate texts to this many tokens for dense retrieval (rescoring: teacher.max_seq_length).")

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        return refuse_retired("mine", data)


class SynthesizeConfig(Section):
    backend: Literal[BACKENDS] = Field("llamacpp", description="Chat backend (llamacpp runs offline).")  # type: ignore[valid-type]
    model: ModelName | None = Field(None, description="GGUF path, served model name, or HF model folder; None = packaged SmolLM2-135M-Instruct GGUF.")
    base_url: str | None = Field(None, description="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.")
    server: Literal[SERVERS] = Field("auto", description="Request field names: openai (max_completion_tokens), vllm (repetition_penalty, structured_outputs), generic; auto = openai at api.openai.com.")  # type: ignore[valid-type]
    engine: Literal[ENGINES] = Field("local", description="Where calls run: local (this process) or ray (Ray actors; RAY_ADDRESS picks the cluster).")  # type: ignore[valid-type]
    mode: Literal[MODES] = Field("continue", description="continue opens with a mined negative's first sentences and writes the rest (passages as long as the corpus's; docs/results.md, #26); grounded rewrites a mined negative; free writes one from the query and positive (the default of a command given no mined negatives).")  # type: ignore[valid-type]
    opening_share: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = Field(0.5, description="continue mode: share of the passage taken from the mined negative's opening (whole sentences, at most 0.6 of it).")
    source: Literal["first", "random"] = Field("first", description="continue/grounded: the mined negative each call starts from: first = call k takes the pair's k-th, in the mined file's order (best-scored first: the hardest); random = a seeded draw over all of the pair's (docs/results.md, #26).")
    show_positive: bool = Field(False, description="Show the positive passage to the LLM.")
    per_query: Calls = Field(1, description="Calls per (query, positive) pair (unless target_kept plans them).")
    target_kept: KeptTarget | None = Field(None, description="Kept negatives wanted per pair; calls = ceil(target / keep rate).")
    keep_rate: Share | None = Field(None, description="Expected share of calls kept; None = the last run's pass rate, else 1.")
    max_per_query: Calls = Field(8, description="Cap on planned calls per pair.")
    concurrency: Workers | None = Field(None, description="Calls in flight; None = the backend's (batch_size for llamacpp, 4 otherwise).")
    limit: Count | None = Field(None, description="Use only the first N (query, positive) pairs; None = all (syneg run without a config: 180).")
    seed: Seed | None = Field(None, description="Attribute sampling seed; None = the run's seed.")
    temperature: Annotated[float, Field(ge=0, le=MAX_SAMPLING, allow_inf_nan=False)] = Field(0.7, description="Sampling temperature; 0 = greedy.")
    max_tokens: Annotated[int, Field(ge=16, le=MAX_SEQ_LENGTH)] = Field(384, description="Most tokens generated per call.")
    max_words: Annotated[int, Field(ge=MIN_WORDS, le=MAX_PASSAGE_WORDS)] = Field(MAX_WORDS, description="Cap on the passage length asked for, in words (raise max_tokens with it).")
    domains: list[str] | None = Field(None, description="Domains the prompts name; None = derived from the corpus.")
    guard_margin: Finite = Field(0.0, description="Guard: drop when score >= positive score - margin (likely false negative).")
    guard_floor: Finite = Field(0.5, description="Guard: drop when score < floor x positive score (off-topic filler).")
    repeat_penalty: Annotated[float, Field(gt=0, le=MAX_SAMPLING, allow_inf_nan=False)] | None = Field(None, description="Repetition penalty; None = the backend's default (1.15 for llamacpp, unset for openai).")
    threads: Workers | None = Field(None, description="llamacpp/transformers CPU threads; None = every core this process may use.")
    batch_size: Annotated[int, Field(ge=1, le=64)] = Field(16, description="llamacpp/transformers: calls decoded together (1 = one at a time).")
    guard: bool = Field(True, description="Teacher-score band filter; off = keep every parsed, valid negative.")
    select: Calls | None = Field(None, description="Sample, then select: keep at most this many negatives per pair, those the guard's teacher scores hardest inside its band; None = every one in the band.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable with the API key (openai backend).")
    request_timeout: Annotated[float, Field(gt=0, le=MAX_REQUEST_TIMEOUT_S, allow_inf_nan=False)] = Field(120.0, description="Seconds per HTTP request (openai backend).")
    max_attempts: Annotated[int, Field(gt=0, le=MAX_ATTEMPTS)] = Field(5, description="Attempts per call on connection errors, timeouts, 429 and 5xx.")
    deadline: Annotated[float, Field(gt=0, le=MAX_DEADLINE_S, allow_inf_nan=False)] | None = Field(None, description="Seconds for all calls of a run; those still pending then fail (transient).")
    cache: str | None = Field(None, description="SQLite cache of successful calls; None = <out>.cache.sqlite.")

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        return refuse_retired("synthesize", data)

    @model_validator(mode="after")
    def _select_needs_guard(self) -> SynthesizeConfig:
        if self.select is not None and not self.guard:
            raise ValueError("select keeps the negatives the guard's teacher scores hardest: it needs guard: true")
        return self

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """An http(s) URL with a host and a port in 1..65535, refused before any work otherwise."""
        return None if value is None else check_base_url(value)


class QueriesConfig(Section):
    """LLM-written training queries (the ``queries`` stage); the LLM itself is the ``synthesize`` section's."""

    max_docs: Count | None = Field(None, description="Ask about a seeded sample of this many documents; None = every eligible one.")
    per_doc: Calls = Field(1, description="Queries asked per document.")
    min_doc_words: Annotated[int, Field(ge=1, le=MAX_PASSAGE_WORDS)] = Field(20, description="Documents shorter than this (title + text, in words) are never asked about.")
    doc_words: Annotated[int, Field(ge=8, le=MAX_PASSAGE_WORDS)] = Field(24, description="Words of the document shown to the LLM, title first (the prompt's cost: 24 fits one query per SciFact document in 45 min on 2 cores).")
    types: list[Literal["claim", "question", "keywords"]] | None = Field(None, description="Query types to ask for; None = the types of the dataset's own queries, in their mix (all three when it has none).")
    max_tokens: Annotated[int, Field(ge=16, le=MAX_SEQ_LENGTH)] = Field(40, description="Most tokens generated per query call; a query cut off there fails as truncated (too long).")
    batch_size: Annotated[int, Field(ge=1, le=64)] | None = Field(64, description="llamacpp/transformers: query calls decoded together (short prompts: more fit); None = synthesize.batch_size.")
    round_trip_k: Annotated[int, Field(ge=0, le=MAX_DEPTH)] = Field(3, description="Keep a query only when its document is in the top k of the teacher's retrieval (BM25 without a teacher); 0 = no filter.")
    seed: Seed | None = Field(None, description="Document sample and type/length draws; None = the run's seed.")

    @field_validator("types")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or len(set(value)) != len(value)):
            raise PydanticCustomError("types", "give each query type once, at least one")
        return value


class MixConfig(Section):
    strategy: Literal[STRATEGIES] = Field("hybrid", description="Where the negatives come from (the strategy registry).")  # type: ignore[valid-type]
    ratio: Annotated[float, Field(ge=0, le=MAX_RATIO, allow_inf_nan=False)] = Field(0.7, description="synthetic : retrieved ratio R (hybrid, direct).")
    num_negatives: Negatives = Field(3, description="Negatives per instance K.")


class TrainConfig(Section):
    model: str | None = Field(None, description="Model path; None = packaged MiniLM.")
    epochs: Annotated[int, Field(gt=0, le=MAX_EPOCHS)] = Field(1, description="Training epochs.")
    batch_size: BatchSize = Field(16, description="Per-process batch size.")
    lr: Annotated[float, Field(gt=0, le=MAX_TRAIN_SCALE, allow_inf_nan=False)] = Field(2e-5, description="Peak learning rate.")
    temperature: Annotated[float, Field(gt=0, le=MAX_TRAIN_SCALE, allow_inf_nan=False)] = Field(0.02, description="InfoNCE temperature tau (loss scale 1/tau).")
    max_seq_length: SeqLength = Field(256, description="Truncate texts to this many tokens in training.")
    bf16: bool = Field(True, description="bf16 autocast on CPUs with native bf16.")
    warmup_ratio: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = Field(0.1, description="Share of the steps with a linear learning-rate warmup.")
    max_instances: Count | None = Field(None, description="Train on the first N instances only.")
    max_steps: Count | None = Field(None, description="Stop after this many optimizer steps; None = all epochs.")
    num_negatives: Negatives | None = Field(None, description="Negative columns K (pad/trim); None = the largest count in the data.")
    mini_batch_size: BatchSize | None = Field(8, description="infonce: the cached (GradCache) loss with this many texts per forward pass (same loss and gradients, dropout drawn in another order; bounded activation memory); None = the plain loss.")
    eval_before: bool = Field(True, description="Evaluate the untrained model too (needs an eval dataset).")
    loss: Literal[LOSSES] = Field("infonce", description="infonce, or distillation from teacher scores (the loss registry).")  # type: ignore[valid-type]
    infonce_weight: Annotated[float, Field(ge=0, le=MAX_LOSS_WEIGHT, allow_inf_nan=False)] = Field(1.0, description="Distillation losses: + this x InfoNCE (0 = distillation alone).")
    eval_steps: Count | None = Field(None, description="Also evaluate on the eval split every N steps (a learning curve).")
    keep_best: bool = Field(True, description="Save the best evaluated checkpoint by nDCG@10, the untrained model included (evaluated before training, at epoch ends and every eval_steps).")


class EncodeConfig(Section):
    backend: EncodeBackend = Field("reference", description=(
        "How mining, the guard and teacher scoring encode texts: reference (sentence-transformers' own encode, "
        "fp32), bf16 or fp16 (autocast), fused (hand-written bf16 CPU kernels for BERT; else bf16). "
        "Evaluation uses evaluate.backend."))


class EvaluateConfig(Section):
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS), description="ir_measures names, e.g. nDCG@10 R@100 RR@10.")
    backend: EncodeBackend = Field("reference", description=(
        "How evaluation encodes (metrics, keep-best checkpoints): reference = sentence-transformers' own "
        "encode in fp32; any other choice changes the numbers."))
    max_seq_length: SeqLength | None = Field(None, description=(
        "Evaluation truncation in tokens; None = the model's own (a fine-tuned model: its training length)."))

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, names: list[str]) -> list[str]:
        """Unknown metric names fail when the config is read, not after training."""
        try:
            parse_metrics(names)
        except SynegError as exc:
            raise PydanticCustomError("metric", str(exc)) from None
        return names


class RunConfig(Section):
    """Everything one ``syneg run`` needs."""

    run_dir: str = Field("runs/default", description="Run directory.")
    seed: Seed = Field(0, description="Seed for every sampled choice (hashed per instance).")
    device: Device = Field("auto", description="Where every model runs: auto|cpu|cuda|cuda:N|mps; its type (cpu/cuda/mps) keys the stages that encode.")
    data: DataConfig = DataConfig()
    teacher: TeacherConfig = TeacherConfig()
    encode: EncodeConfig = EncodeConfig()
    mine: MineConfig = MineConfig()
    queries: QueriesConfig = QueriesConfig()
    synthesize: SynthesizeConfig = SynthesizeConfig()
    mix: MixConfig = MixConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()

    def load_split(self, kind: Literal["train", "eval"]) -> BeirDataset:
        """The run's ``train`` or ``eval`` split (``data.train_split`` / ``data.eval_split``, carved when set)."""
        return self.data.load_split(kind, self.seed)

    def check_model_paths(self, synthesis: bool = True) -> None:
        """SynegError naming the setting when a model names a local path (``/``, ``./``, ``../``) that is not
        there, so a typo fails before any stage; other names (Hub ids, packaged teachers) resolve when loaded.
        ``synthesis``: whether the synthesize stage runs (else its models are not checked)."""
        models = {"teacher.model": self.teacher.model, "mine.model": self.mine.model, "train.model": self.train.model}
        if synthesis and self.synthesize.backend != "openai":  # an openai-compatible server names its own models
            models["synthesize.model"] = self.synthesize.model
        for key, name in models.items():
            if name and name.startswith(("/", "./", "../")) and not Path(name).exists():
                raise SynegError(f"{key}: {name} does not exist (a local model path)")


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse ``a.b=value``; the value is read as YAML (numbers, booleans, null, lists)."""
    key, sep, raw = item.partition("=")
    keys = [part.strip() for part in key.split(".")]
    if not sep or not all(keys):
        raise SynegError(f"--set expects key=value (e.g. train.epochs=2), got {item!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    except (ValueError, RecursionError):  # an integer past Python's 4300-digit limit; nesting too deep
        raise SynegError(f"--set {key}: the value has an integer of more than 4300 digits or nests too deeply") from None
    return keys, value


def set_key(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted ``key`` (``train.epochs``) of ``raw`` to ``value`` as it is (never re-parsed as text).

    Missing sections are made, and a mapping given for a section updates its keys (the others stay);
    SynegError when a part is empty or names a setting, not a section.
    """
    keys, node = [part.strip() for part in key.split(".")], raw
    if not all(keys):
        raise SynegError(f"{key!r} is not a setting name (e.g. train.epochs)")
    for part in keys[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SynegError(f"{key}: {part!r} is not a section")
        node = child
    if isinstance(value, dict) and isinstance(node.get(keys[-1]), dict):
        for inner, item in value.items():
            set_key(node, f"{keys[-1]}.{inner}", item)
    else:
        node[keys[-1]] = value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``a.b=value`` override set."""
    result = yaml.safe_load(yaml.safe_dump(raw, sort_keys=False)) or {}  # a copy, in the order given
    for item in overrides:
        keys, value = parse_override(item)
        try:
            set_key(result, ".".join(keys), value)
        except SynegError as exc:
            raise SynegError(f"--set {item!r}: {exc}") from None
    return result


C = TypeVar("C", bound=BaseModel)


DEMO_BUDGET = {"synthesize": {"limit": 180}}  # `syneg run` without a config file: the embedded demo's budget


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, model: type[C] = RunConfig
) -> C:
    """Load a YAML config (or the defaults), apply overrides, and validate as ``model``.

    Without a file, a run config is the embedded demo: the defaults plus ``DEMO_BUDGET`` (180 pairs
    synthesized), which ``--set synthesize.limit=null`` lifts. A config file gets the plain defaults
    for whatever it leaves out, so a user's data is never silently cut to the demo's budget.
    """
    raw: dict[str, Any] = read_yaml(Path(path)) if path is not None else _demo(model)
    raw = apply_overrides(raw, overrides or [])
    return validate(model, raw, path or "<config>")


def validate(model: type[C], raw: dict[str, Any], source: str | Path, context: str = "") -> C:
    """``raw`` validated as ``model``; the first error is a DataError naming ``source``, ``context`` and the key."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DataError(source, f"{context}{where}: {first['msg']}") from None


def _demo(model: type[BaseModel]) -> dict[str, Any]:
    return {section: dict(keys) for section, keys in DEMO_BUDGET.items()} if issubclass(model, RunConfig) else {}


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; errors name the file and line."""
    if not path.is_file():
        raise DataError(path, "config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise DataError(path, f"invalid YAML: {getattr(exc, 'problem', exc)}", None if line is None else line + 1) from None
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not valid UTF-8 ({exc.reason})") from None
    except (ValueError, RecursionError):  # an integer past Python's 4300-digit limit; nesting too deep
        raise DataError(path, "invalid YAML: an integer with more than 4300 digits or nesting too deep") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DataError(path, "a config file must be a YAML mapping")
    return raw


def public_dict(config: BaseModel) -> dict[str, Any]:
    """``config`` as JSON-ready data fit to write or print: credentials in URLs masked."""
    from syneg.redact import redact_url

    data = config.model_dump(mode="json")
    section = data.get("synthesize", data)
    if isinstance(section, dict) and section.get("base_url"):
        section["base_url"] = redact_url(section["base_url"])
    return data


def dump_config(config: RunConfig) -> str:
    """The resolved config as YAML (credentials masked)."""
    return yaml.safe_dump(public_dict(config), sort_keys=False)
