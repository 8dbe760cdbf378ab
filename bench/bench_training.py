"""Benchmark: ``syneg.training.train`` vs a plain sentence-transformers training script.

Both train the packaged MiniLM on the same BM25-mined instances from the embedded SciFact
slice (MultipleNegativesRankingLoss, same batch size, sequence length, steps, bf16 and
no-duplicates sampler); each runs in its own subprocess so peak RSS is its own. syneg adds
the per-step JSONL log, gradient statistics, plots, summary and the atomic model folder.

    python bench/bench_training.py [--instances 64 --batch-size 16 --steps 4 --max-seq-length 128 --repeats 1]

Prints examples/s and peak RSS for each, and the syneg / plain ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_instances(n: int, k: int):
    from syneg.config import MineConfig
    from syneg.data import load_dataset
    from syneg.mining import mine
    from syneg.mixing import mix

    mined, _ = mine(load_dataset(None, "train"), MineConfig(num_negatives=k))
    return mix(mined, [], "retrieved", num_negatives=k)[0][:n]


def run_syneg(instances, args, out: Path) -> tuple[float, float]:
    from syneg.config import TrainConfig
    from syneg.training import train

    config = TrainConfig(batch_size=args.batch_size, max_steps=args.steps, max_seq_length=args.max_seq_length,
                         bf16=args.bf16, temperature=0.05)
    started = time.perf_counter()
    summary = train(instances, config, out)
    return time.perf_counter() - started, summary["train_runtime_s"]


def run_plain(instances, args, out: Path) -> tuple[float, float]:
    """The peer: the sentence-transformers training recipe, written the usual way."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from syneg.mixing import st_columns
    from syneg.models import default_encoder_path

    started = time.perf_counter()
    model = SentenceTransformer(str(default_encoder_path()), device="cpu")
    model.max_seq_length = args.max_seq_length
    training_args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"), use_cpu=True, bf16=args.bf16, per_device_train_batch_size=args.batch_size,
        max_steps=args.steps, learning_rate=2e-5, warmup_steps=0.1, batch_sampler=BatchSamplers.NO_DUPLICATES,
        logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True, seed=0)
    trainer = SentenceTransformerTrainer(model=model, args=training_args, loss=MultipleNegativesRankingLoss(model, scale=20.0),
                                         train_dataset=Dataset.from_dict(st_columns(instances)[0]))
    train_started = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - train_started
    model.save_pretrained(str(out / "model"))
    return time.perf_counter() - started, train_s


def worker(args) -> None:
    instances = make_instances(args.instances, 3)
    with tempfile.TemporaryDirectory() as tmp:
        runner = run_syneg if args.worker == "syneg" else run_plain
        wall, train_s = runner(instances, args, Path(tmp) / "out")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"who": args.worker, "wall_s": wall, "train_s": train_s,
                      "examples_per_s": args.steps * args.batch_size / train_s, "peak_rss_mb": rss_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast in both")
    parser.add_argument("--worker", choices=["syneg", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("worker", "repeats", "bf16")]
    flags.append("--bf16" if args.bf16 else "--no-bf16")
    results: dict[str, list[dict]] = {"plain": [], "syneg": []}
    for _ in range(args.repeats):
        for who in ("plain", "syneg"):
            out = subprocess.run([sys.executable, __file__, *flags, f"--worker={who}"], capture_output=True,
                                 text=True, check=True, env={"TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1",
                                                             **__import__("os").environ})
            results[who].append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {who: max(rows, key=lambda r: r["examples_per_s"]) for who, rows in results.items()}
    for who, row in best.items():
        print(f"{who:>6}: {row['examples_per_s']:.3f} examples/s in trainer.train ({row['train_s']:.1f} s; "
              f"{row['wall_s']:.1f} s with load and save), "
              f"peak RSS {row['peak_rss_mb']:.0f} MB")
    print(f"ratio syneg/plain: throughput {best['syneg']['examples_per_s'] / best['plain']['examples_per_s']:.3f}, "
          f"peak RSS {best['syneg']['peak_rss_mb'] / best['plain']['peak_rss_mb']:.3f}")


if __name__ == "__main__":
    main()
