"""Run the stages in order in one run directory, skipping those whose outputs are complete.

A stage's key hashes the settings it reads and the fingerprints of the outputs it consumes,
so changing a setting (or an upstream output) reruns that stage and everything after it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from syneg.config import RunConfig, dump_config
from syneg.data import BeirDataset, load_dataset
from syneg.pipeline import stages
from syneg.rng import stable_hash
from syneg.rundir import RunDir

STAGES = ("mine", "synthesize", "mix", "diagnose", "train", "evaluate")

# settings each stage reads, and the stages whose outputs it consumes
STAGE_INPUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mine": (("data", "mine"), ()),
    "synthesize": (("data", "synthesize"), ("mine",)),
    "mix": (("data", "mix"), ("mine", "synthesize")),
    "diagnose": (("train",), ("mix",)),
    "train": (("train",), ("mix",)),
    "evaluate": (("data", "evaluate", "train"), ("train",)),
}
STAGE_FUNCS: dict[str, Callable[..., dict[str, Any]]] = {
    "mine": stages.mine_stage, "synthesize": stages.synthesize_stage, "mix": stages.mix_stage,
    "diagnose": stages.diagnose_stage, "train": stages.train_stage, "evaluate": stages.evaluate_stage,
}


@dataclass
class Pipeline:
    """The stages of one run; ``run()`` executes what is not already complete."""

    config: RunConfig
    progress: bool = True
    log: Callable[[str], None] = print
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.run_dir = RunDir(self.config.run_dir)

    def active_stages(self) -> list[str]:
        """Synthesis runs only for strategies that use synthetic negatives."""
        uses_synthetic = self.config.mix.strategy in stages.SYNTHETIC_STRATEGIES
        return [s for s in STAGES if s != "synthesize" or uses_synthetic]

    def stage_key(self, stage: str) -> str:
        sections, upstream = STAGE_INPUTS[stage]
        settings = {name: getattr(self.config, name).model_dump(mode="json") for name in sections}
        inputs = {}
        for name in upstream:
            if name in self.active_stages():
                marker = self.run_dir.marker(name) or {}
                inputs[name] = marker.get("fingerprint")
        payload = json.dumps({"seed": self.config.seed, "settings": settings, "inputs": inputs}, sort_keys=True)
        return f"{stable_hash(stage, payload):016x}"

    def datasets(self) -> tuple[BeirDataset, BeirDataset]:
        data = self.config.data
        train = load_dataset(data.path, data.train_split, data.dev_fraction, self.config.seed)
        evaluation = load_dataset(data.path, data.eval_split, data.dev_fraction, self.config.seed)
        return train, evaluation

    def run(self) -> dict[str, Any]:
        """Run every pending stage; returns the final metrics."""
        self.run_dir.save_config(dump_config(self.config))
        logger = self.run_dir.logger()
        train, evaluation = self.datasets()
        for stage in self.active_stages():
            key = self.stage_key(stage)
            if self.run_dir.is_done(stage, key):
                self.log(f"[{stage}] complete, skipped")
                continue
            self.run_dir.invalidate(stage)
            self.log(f"[{stage}] running")
            logger.info("stage %s started (key %s)", stage, key)
            started = time.perf_counter()
            dataset = evaluation if stage == "evaluate" else train
            STAGE_FUNCS[stage](self.config, self.run_dir, dataset, self.progress)
            self.timings[stage] = time.perf_counter() - started
            self.run_dir.mark_done(stage, key, {"seconds": round(self.timings[stage], 2)})
            logger.info("stage %s finished in %.1fs", stage, self.timings[stage])
            self.log(f"[{stage}] done in {self.timings[stage]:.1f}s")
        return json.loads(self.run_dir.output("evaluate").read_text(encoding="utf-8"))


def run_pipeline(config: RunConfig, progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``config`` end to end in ``config.run_dir`` and return the evaluation result."""
    return Pipeline(config, progress=progress, log=log).run()
