"""Run the registered stages (or a selection of them) in order in one run directory, skipping complete ones.

A stage's key hashes the settings it declares and the fingerprints of the outputs it consumes,
so changing a setting (or an upstream output) reruns that stage and everything after it. The same
keys decide whether a whole run (an experiment cell, say) is still current.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from syneg import layout
from syneg.config import RunConfig, dump_config
from syneg.data import BeirDataset
from syneg.errors import SynegError
from syneg.hardware import device_type, resolve_device
from syneg.memory import release_memory
from syneg.pipeline.stages import STAGE_NAMES, STAGES, Stage, StageSettings
from syneg.rng import stable_hash
from syneg.rundir import RunDir
from syneg.synthesis.backends import get_backend
from syneg.training.launch import check_environment

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    """The stages of one run; ``run()`` executes what is not already complete."""

    config: RunConfig
    progress: bool = True
    log: Callable[[str], None] = print
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.run_dir = RunDir(self.config.run_dir)
        self._datasets: dict[str, BeirDataset] = {}
        self._locked = False

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run directory's lock (one writing process per run directory); nestable in this pipeline."""
        if self._locked:
            yield
            return
        with self.run_dir.lock():
            self._locked = True
            try:
                yield
            finally:
                self._locked = False

    def active_stages(self) -> list[Stage]:
        """The stages this config runs (synthesis only for strategies that use synthetic negatives)."""
        return [stage for stage in STAGES if stage.active(self.config)]

    def stage_key(self, stage: Stage) -> str:
        """Hash of the stage's declared settings (of ``data``, those of the split it reads), its seed and its active
        upstream outputs' fingerprints (the run's seed whenever it carves the data, so a pinned stage seed is shared
        only over equal splits);
        for a stage that encodes, also the device type (cpu/cuda/mps) and the encoding settings it uses."""
        settings = {name: self.config.data.key(stage.dataset) if name == "data"
                    else getattr(self.config, name).model_dump(mode="json") for name in stage.sections}
        active = {s.name for s in self.active_stages()}
        inputs = {name: (self.run_dir.marker(name) or {}).get("fingerprint")
                  for name in stage.upstream if name in active}
        seed = self.config.seed if self.config.data.depends_on_run_seed() else self.stage_seed(stage)
        parts = {"seed": seed, "settings": settings, "inputs": inputs}
        encoding = stage.encoding and stage.encoding(self.config)
        if encoding is not None:
            parts["encoding"] = {**encoding, "device": device_type(resolve_device(self.config.device))}
        payload = json.dumps(parts, sort_keys=True)
        return f"{stable_hash(stage.name, payload):016x}"

    def stage_seed(self, stage: Stage) -> int:
        """The seed a stage runs with: its own section's ``seed`` when set (mine, synthesize), else the run's."""
        own = getattr(getattr(self.config, stage.name, None), "seed", None)
        return self.config.seed if own is None else own

    def settings(self, stage: Stage) -> StageSettings:
        extra = stage.encoding_sections if stage.encoding is not None else ()
        names = dict.fromkeys((*stage.sections, *extra))
        sections = {name: getattr(self.config, name) for name in names}
        return StageSettings(self.stage_seed(stage), sections, resolve_device(self.config.device))

    def is_current(self) -> bool:
        """True when every stage finished from the current keys and the final output is unchanged.

        Intermediate outputs may be gone (an experiment removes each cell's model): their markers
        still carry the fingerprints the later keys were built from.
        """
        stages = self.active_stages()
        if any((self.run_dir.marker(s.name) or {}).get("key") != self.stage_key(s) for s in stages):
            return False
        return self.is_complete(stages[-1])

    def dataset(self, kind: str) -> BeirDataset | None:
        """The run's data, loaded once: ``corpus`` (the train split as loaded), ``train`` (the training pairs:
        its qrels, the generated queries or both) or ``eval`` (None when there is nothing to evaluate on)."""
        if kind not in self._datasets:
            self._datasets[kind] = self._load(kind)
        return self._datasets[kind]

    def _load(self, kind: str) -> BeirDataset | None:
        data = self.config.data
        if kind == "eval":
            return self.config.load_split("eval") if data.can_evaluate() else None
        if kind == "corpus" or data.pairs() == "qrels":
            return self.config.load_split("train") if kind == "corpus" else self.dataset("corpus")
        from syneg.io import read_records
        from syneg.queries import with_generated
        from syneg.records import GeneratedQuery

        generated = read_records(self.run_dir.file(layout.QUERIES), GeneratedQuery)
        return with_generated(self.dataset("corpus"), generated, data.pairs())

    def preload(self, stages: list[Stage]) -> None:
        """Load (and so check) the data the stages read, before any runs; training pairs made of generated
        queries are read when their stage starts (the queries stage may write them first)."""
        generated = self.config.data.pairs() != "qrels"
        for kind in dict.fromkeys(stage.dataset for stage in stages):
            self.dataset("corpus" if kind == "train" and generated else kind)

    def is_complete(self, stage: Stage) -> bool:
        """True when ``stage`` finished from its current key and its output is unchanged."""
        return self.run_dir.is_done(stage.name, self.run_dir.file(stage.output), self.stage_key(stage))

    def select(self, names: Collection[str] | None = None) -> list[Stage]:
        """The active stages named in ``names`` (all when None), in registry order.

        Each upstream stage of a selected one must be selected too, or complete and current in the
        run directory; otherwise a :class:`SynegError` names the stage to run first.
        """
        active = {stage.name: stage for stage in self.active_stages()}
        if names is None:
            return list(active.values())
        for name in names:
            if name not in STAGE_NAMES:
                raise SynegError(f"unknown stage {name!r} (choose from {', '.join(STAGE_NAMES)})")
            if name not in active:
                strategy = self.config.mix.strategy
                raise SynegError(f"stage {name} does not run with this config (mix.strategy {strategy})")
        chosen = [stage for stage in active.values() if stage.name in names]
        for stage in chosen:
            for name in stage.upstream:
                if name in active and name not in names and not self.is_complete(active[name]):
                    raise SynegError(f"stage {stage.name} reads the output of stage {name}, which is missing or out "
                                     f"of date in {self.run_dir.path}: run stage {name} first (--stages {name})")
        return chosen

    def until(self, name: str) -> list[str]:
        """The names of the active stages up to and including ``name`` (one of ``STAGE_NAMES``)."""
        order = STAGE_NAMES[: STAGE_NAMES.index(name) + 1]
        return [stage.name for stage in self.active_stages() if stage.name in order]

    def run_stages(self, names: Collection[str] | None = None) -> list[Stage]:
        """Run the pending stages among ``names`` (all active ones when None); returns the selected stages.

        The run directory is locked throughout: a second process on it fails at once, naming this one's PID.
        """
        stages = self.select(names)  # a selection that cannot run, a missing GPU or model, or bad data fail
        resolve_device(self.config.device)  # before the run directory is made or locked
        if any(stage.name == "train" for stage in stages):
            check_environment()  # torchrun's RANK / LOCAL_RANK / WORLD_SIZE, when set
        self.config.check_model_paths(synthesis=any(stage.name == "synthesize" for stage in self.active_stages()))
        if any(stage.name == "synthesize" and not self.is_complete(stage) for stage in stages):
            get_backend(self.config.synthesize.backend).check_config(self.config.synthesize)  # key, URL, model file
        if not self._locked:
            self.run_dir.check_unlocked()  # another writer: fail now, not after loading the data
        self.preload(stages)
        with self.locked():
            return self._run_stages(names)

    def _run_stages(self, names: Collection[str] | None) -> list[Stage]:
        stages = self.select(names)  # again, holding the lock: what another writer finished meanwhile counts
        self.run_dir.save_config(dump_config(self.config))
        for stage in stages:
            self._run_stage(stage)
        if stages and not self.config.data.can_evaluate():
            self.log(f"[evaluate] skipped: {self.config.data.folder()} has no labelled queries to evaluate on "
                     "(qrels); pass --eval-data FOLDER (data.eval_path) with qrels/<eval_split>.tsv to evaluate")
        return stages

    def run(self) -> dict[str, Any]:
        """Run every pending stage; returns the final metrics (empty when there is nothing to evaluate on)."""
        with self.locked():
            self.run_stages()
            if not self.config.data.can_evaluate():
                return {}
            return json.loads(self.run_dir.file(layout.METRICS).read_text(encoding="utf-8"))

    def _run_stage(self, stage: Stage) -> None:
        key, output = self.stage_key(stage), self.run_dir.file(stage.output)
        if self.is_complete(stage):
            self.log(f"[{stage.name}] complete, skipped")
            return
        dataset = self.dataset(stage.dataset)
        logger = self.run_dir.logger()
        log.debug("stage %s: key %s, output %s", stage.name, key, output)
        self.run_dir.invalidate(stage.name)
        self.log(f"[{stage.name}] running")
        logger.info("stage %s started (key %s)", stage.name, key)
        started = time.perf_counter()
        try:
            stage.run(self.settings(stage), self.run_dir, dataset, self.progress)
        finally:
            release_memory()  # the next stage starts from what this process needs, not what this stage left
        self.timings[stage.name] = time.perf_counter() - started
        if stage.name == "queries":
            self._datasets.pop("train", None)  # the training pairs are made of what it just wrote
        self.run_dir.mark_done(stage.name, output, key, {"seconds": round(self.timings[stage.name], 2)})
        logger.info("stage %s finished in %.1fs", stage.name, self.timings[stage.name])
        self.log(f"[{stage.name}] done in {self.timings[stage.name]:.1f}s")
