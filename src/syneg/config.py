"""Run configuration: a YAML file mapped to pydantic models, overridable with ``--set a.b=v``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from syneg.errors import DataError, SynegError
from syneg.evaluation.metrics import DEFAULT_METRICS, parse_metrics
from syneg.hardware import DEVICE_PATTERN
from syneg.limits import (
    MAX_EPOCHS, MAX_ITEMS, MAX_LOSS_WEIGHT, MAX_PASSAGE_WORDS, MAX_SAMPLING, MAX_TRAIN_SCALE,
    MAX_ATTEMPTS, MAX_BATCH_SIZE, MAX_CALLS_PER_PAIR, MAX_DEADLINE_S, MAX_DEPTH, MAX_NEGATIVES, MAX_RATIO,
    MAX_REQUEST_TIMEOUT_S, MAX_SEED, MAX_SEQ_LENGTH, MAX_WORKERS,
)
from syneg.mixing.registry import STRATEGIES
from syneg.synthesis.attributes import MAX_WORDS, MIN_WORDS
from syneg.synthesis.backends import BACKENDS
from syneg.training.losses import LOSSES
from syneg.synthesis.backends.wire import SERVERS, check_base_url
from syneg.synthesis.engines import ENGINES

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


def _model_name(name: str) -> str:
    """``name`` unless it is blank or holds control characters (a typo, or a name no server or folder has)."""
    if not name.strip() or not name.isprintable():
        raise PydanticCustomError("model_name", "names no model (empty, blank or with control characters): {name}",
                                  {"name": repr(name)[:80]})
    return name


ModelName = Annotated[str, AfterValidator(_model_name)]  # a path, a served name or a Hub id


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class DataConfig(Section):
    path: str | None = None  # BEIR folder; None = the embedded SciFact slice
    train_split: Name = "train"
    eval_split: Name = "dev"
    dev_fraction: Fraction | None = 0.3  # carve dev from train; None = use qrels/<eval_split>.tsv
    split_seed: Seed | None = None  # seed of the dev carve; None = the run's seed (fix it to compare seeds)

    def load_split(self, kind: Literal["train", "eval"], seed: int) -> BeirDataset:
        """The ``train`` or ``eval`` split, carved with ``split_seed`` (else ``seed``) when ``dev_fraction`` is set."""
        from syneg.data import load_dataset

        split = self.eval_split if kind == "eval" else self.train_split
        return load_dataset(self.path, split, self.dev_fraction, seed if self.split_seed is None else self.split_seed)

    def depends_on_run_seed(self) -> bool:
        """True when the splits are carved with the run's seed (``dev_fraction`` set, ``split_seed`` not)."""
        return self.dev_fraction is not None and self.split_seed is None


class TeacherConfig(Section):
    """The scorer independent of the student: rescoring mined candidates, guarding synthetic ones,
    flagging false negatives and giving the scores that distillation losses learn from."""

    model: str | None = None  # None = no teacher; else mpnet, embeddinggemma or a bi-/cross-encoder path
    max_seq_length: SeqLength | None = 256
    batch_size: BatchSize = 32
    perc: Share = 0.95  # false negative: score >= perc x positive's
    false_negatives: Literal["drop", "relabel"] = "drop"  # relabel = keep as an extra positive of the pair
    max_extra_positives: Annotated[int, Field(ge=0, le=MAX_NEGATIVES)] = 2  # relabelled passages kept per pair


class MineConfig(Section):
    retriever: Literal["bm25", "dense"] = "bm25"
    model: str | None = None  # dense / rescoring model; None = packaged MiniLM
    num_negatives: Negatives = 8
    top_k: Depth = 100
    range_min: Annotated[int, Field(ge=0, le=MAX_DEPTH)] = 0
    range_max: Depth | None = None
    sampling: Literal["top", "random"] = "top"
    absolute_margin: NonNegative | None = None
    relative_margin: NonNegative | None = 0.05
    margin_reference: Literal["query_min", "pair"] = "query_min"  # positive score the margins compare to
    max_score: Finite | None = None
    rescore_model: str | None = None
    max_queries: Count | None = None  # seeded subset of the split's queries
    seed: Seed | None = None  # query subset and positive sampling seed; None = the run's seed
    one_positive: bool = False  # one positive per query instead of every pair
    positive_choice: Literal["random", "graded"] = "random"  # one_positive: seeded, or top grade then teacher score
    max_seq_length: SeqLength | None = None  # encoder truncation for dense retrieval and rescoring


class SynthesizeConfig(Section):
    backend: Literal[BACKENDS] = "llamacpp"  # type: ignore[valid-type]  # the backend registry
    model: ModelName | None = None  # None = packaged SmolLM2-135M-Instruct GGUF
    base_url: str | None = None
    server: Literal[SERVERS] = "auto"  # type: ignore[valid-type]  # request field names (synthesis.backends.wire)
    engine: Literal[ENGINES] = "local"  # type: ignore[valid-type]  # where calls run (synthesis.engines registry)
    mode: Literal["free", "grounded"] = "grounded"
    show_positive: bool = False
    per_query: Calls = 1  # calls per (query, positive) pair (unless target_kept plans them)
    target_kept: KeptTarget | None = None  # kept negatives wanted per pair; calls = ceil(target / keep rate)
    keep_rate: Share | None = None  # expected share of calls kept; None = the last run's pass rate, else 1
    max_per_query: Calls = 8  # cap on planned calls per pair
    concurrency: Workers | None = None  # calls in flight; None = the backend's (batch_size for llamacpp, 4 otherwise)
    limit: Count | None = None  # first N (query, positive) pairs only; None = all (RunConfig's default: 180)
    seed: Seed | None = None  # attribute sampling seed; None = the run's seed
    temperature: Annotated[float, Field(ge=0, le=MAX_SAMPLING, allow_inf_nan=False)] = 0.7  # 0 = greedy
    max_tokens: Annotated[int, Field(ge=16, le=MAX_SEQ_LENGTH)] = 384
    max_words: Annotated[int, Field(ge=MIN_WORDS, le=MAX_PASSAGE_WORDS)] = MAX_WORDS  # cap on the asked passage length (raise max_tokens too)
    domains: list[str] | None = None  # None = derived from the corpus
    guard_model: ModelName | None = None  # scorer of the hardness guard; None = teacher.model, else the packaged MiniLM
    guard_margin: Finite = 0.0  # drop when score >= positive score - margin (likely false negative)
    guard_floor: Finite = 0.5  # drop when score < floor x positive score (off-topic filler)
    repeat_penalty: Annotated[float, Field(gt=0, le=MAX_SAMPLING, allow_inf_nan=False)] | None = None  # None = backend default (1.15 for llamacpp, unset for openai)
    threads: Workers | None = None  # llama.cpp / torch threads; None = every core this process may use
    batch_size: Annotated[int, Field(ge=1, le=64)] = 16  # llamacpp/transformers: calls decoded together (1 = one at a time)
    guard: bool = True  # False = keep every parsed, valid negative (no teacher scoring)
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the API key (openai backend)
    request_timeout: Annotated[float, Field(gt=0, le=MAX_REQUEST_TIMEOUT_S, allow_inf_nan=False)] = 120.0  # s per HTTP request (openai)
    max_attempts: Annotated[int, Field(gt=0, le=MAX_ATTEMPTS)] = 5  # bounded retries on 429 / 5xx / timeouts
    deadline: Annotated[float, Field(gt=0, le=MAX_DEADLINE_S, allow_inf_nan=False)] | None = None  # s for all calls of a run
    cache: str | None = None  # sqlite cache of successful calls; None = <out>.cache.sqlite

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """An http(s) URL with a host and a port in 1..65535, refused before any work otherwise."""
        return None if value is None else check_base_url(value)


class MixConfig(Section):
    strategy: Literal[STRATEGIES] = "hybrid"  # type: ignore[valid-type]  # the strategy registry
    ratio: Annotated[float, Field(ge=0, le=MAX_RATIO, allow_inf_nan=False)] = 0.7  # synthetic : retrieved
    num_negatives: Negatives = 3


class TrainConfig(Section):
    model: str | None = None  # None = packaged MiniLM
    epochs: Annotated[int, Field(gt=0, le=MAX_EPOCHS)] = 1
    batch_size: BatchSize = 16
    lr: Annotated[float, Field(gt=0, le=MAX_TRAIN_SCALE, allow_inf_nan=False)] = 2e-5
    temperature: Annotated[float, Field(gt=0, le=MAX_TRAIN_SCALE, allow_inf_nan=False)] = 0.02
    max_seq_length: SeqLength = 256
    bf16: bool = True
    warmup_ratio: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.1
    max_instances: Count | None = None
    max_steps: Count | None = None  # stop after this many optimizer steps (None = all epochs)
    num_negatives: Negatives | None = None  # negative columns K; None = the largest count in the data
    mini_batch_size: BatchSize | None = 16  # infonce: CachedMultipleNegativesRankingLoss, this many texts per
    # forward pass (same loss and gradients, dropout drawn in another order; activations of 16 texts, not a whole
    # batch's); None = plain MNRL
    eval_before: bool = True  # evaluate the untrained model too (needs an eval dataset)
    loss: Literal[LOSSES] = "infonce"  # type: ignore[valid-type]  # the loss registry (training/losses)
    infonce_weight: Annotated[float, Field(ge=0, le=MAX_LOSS_WEIGHT, allow_inf_nan=False)] = 1.0  # distillation losses: + this x InfoNCE (0 = distillation alone)
    eval_steps: Count | None = None  # evaluate on the eval split every N steps too (a learning curve)
    keep_best: bool = True  # evaluate before training, at epoch ends (and every eval_steps); save the best by
    # nDCG@10, the untrained model included (`syneg run`: the eval split; `syneg train`: --eval-split/--eval-data)


class EvaluateConfig(Section):
    metrics: list[str] = list(DEFAULT_METRICS)

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

    run_dir: str = "runs/default"
    seed: Seed = 0
    device: Device = "auto"  # where every model runs; not part of the stages' keys (where, not what)
    data: DataConfig = DataConfig()
    teacher: TeacherConfig = TeacherConfig()
    mine: MineConfig = MineConfig()
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
        models = {"teacher.model": self.teacher.model, "mine.model": self.mine.model,
                  "mine.rescore_model": self.mine.rescore_model, "train.model": self.train.model}
        if synthesis:
            models["synthesize.guard_model"] = self.synthesize.guard_model
            if self.synthesize.backend != "openai":  # an openai-compatible server names its own models
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
