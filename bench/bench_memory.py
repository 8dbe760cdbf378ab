"""Peak memory of ``syneg mine`` (BM25) and ``syneg mix`` on SciFact replicated N times, each against a peer.

SciFact train (``/work/shared/data/scifact`` or ``--data``) is copied N times in BEIR layout: every document,
query and judgement once per copy ``k``, ids suffixed ``-r{k}``. Each command runs as its own child process
and its peak RSS is read by GNU time (``/usr/bin/time -f %M``), so the numbers are per process.

- ``mine``: ``syneg mine --retriever bm25`` over the whole replicated corpus, for ``--queries`` seeded queries
  (``--max-queries``). Peer: a bare bm25s script that loads the same corpus, tokenizes and indexes it and
  retrieves the same number of queries (``BM25.retrieve``, same ``top_k``): the floor any BM25 mining pays.
- ``mix``: ``syneg mix --strategy retrieved`` over the 1x mined file replicated N times (ids suffixed like the
  data, as an N-times mine would give; without 1 in ``--scales``, that scale's own mined file). Peer: a
  Python process that only reads the mined file line by line and parses each line (``json.loads``), i.e. the
  interpreter's floor for touching every record.

    python bench/bench_memory.py [--scales 1 10 50] [--queries 2000] [--data DIR] [--keep DIR]

``--main-job``: the README's main job instead, ``syneg run`` with no config, on a fresh run directory, one
stage per process in pipeline order (``syneg run --run-dir D --stages <stage>``), each stage's peak RSS and
wall time. Peers in the same run: the floor of any MiniLM job (import torch and sentence-transformers, load
MiniLM, encode one text) and plain sentence-transformers training on the same ``train.jsonl`` (the usual
recipe: MultipleNegativesRankingLoss, same batch size, sequence length, temperature, bf16, one epoch, no
evaluation). ``--whole`` adds the whole job as one process on a second fresh run directory: the number that
counts, since ``syneg run`` runs every stage in one process.

    python bench/bench_memory.py --main-job [--whole] [--keep DIR] [--set section.key=value ...]

``--set`` is passed to every ``syneg run`` (e.g. ``--set mix.strategy=retrieved`` skips the LLM, or
``--set train.mini_batch_size=null`` for the plain, uncached loss).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path("/work/shared/data/scifact")
TOP_K = 100
TIME = "/usr/bin/time"  # GNU time (Debian package time)

BM25_PEER = r"""
import json, sys
import bm25s
corpus_path, queries_path, n, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
texts = []
with open(corpus_path, encoding="utf-8") as handle:
    for line in handle:
        doc = json.loads(line)
        texts.append((doc.get("title", "") + " " + doc["text"]).strip())
queries = []
with open(queries_path, encoding="utf-8") as handle:
    for line in handle:
        queries.append(json.loads(line)["text"])
        if len(queries) == n:
            break
model = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
model.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
del texts
model.retrieve(bm25s.tokenize(queries, stopwords="en", show_progress=False), k=k, show_progress=False)
"""

READ_PEER = r"""
import json, sys
with open(sys.argv[1], encoding="utf-8") as handle:
    for line in handle:
        json.loads(line)
"""


def replicate_data(source: Path, dest: Path, copies: int) -> None:
    """SciFact's train split ``copies`` times in BEIR layout, ids suffixed ``-r{k}``."""
    (dest / "qrels").mkdir(parents=True, exist_ok=True)
    for name, key in (("corpus.jsonl", "_id"), ("queries.jsonl", "_id")):
        lines = (source / name).read_text(encoding="utf-8").splitlines()
        with (dest / name).open("w", encoding="utf-8") as out:
            for k in range(copies):
                for line in lines:
                    row = json.loads(line)
                    out.write(json.dumps({**row, key: f"{row[key]}-r{k}"}, ensure_ascii=False) + "\n")
    header, *rows = (source / "qrels" / "train.tsv").read_text(encoding="utf-8").splitlines()
    with (dest / "qrels" / "train.tsv").open("w", encoding="utf-8") as out:
        out.write(header + "\n")
        for k in range(copies):
            for row in rows:
                qid, did, score = row.split("\t")
                out.write(f"{qid}-r{k}\t{did}-r{k}\t{score}\n")


def replicate_mined(source: Path, dest: Path, copies: int) -> None:
    """The 1x mined file ``copies`` times, query/positive/negative ids suffixed ``-r{k}``."""
    lines = source.read_text(encoding="utf-8").splitlines()
    with dest.open("w", encoding="utf-8") as out:
        for k in range(copies):
            for line in lines:
                row = json.loads(line)
                row["query_id"], row["positive_id"] = f"{row['query_id']}-r{k}", f"{row['positive_id']}-r{k}"
                for neg in row["negatives"] + row["extra_positives"]:
                    neg["doc_id"] = neg["doc_id"] and f"{neg['doc_id']}-r{k}"
                out.write(json.dumps(row, ensure_ascii=False) + "\n")


def peak_rss(argv: list[str]) -> tuple[float, float]:
    """Run ``argv`` under GNU time; its peak RSS (MiB) and wall time (s).

    GNU time forks the command from its own small process: a child forked from this (larger) Python
    process would start its peak at this process's size.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SYNEG_PROGRESS": "0", "TQDM_DISABLE": "1"}
    with tempfile.NamedTemporaryFile("r") as report:
        started = time.perf_counter()
        done = subprocess.run([TIME, "-f", "%M", "-o", report.name, *argv], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
        return int(report.read().split()[-1]) / 1024, elapsed


def syneg(*args: str) -> list[str]:
    return [sys.executable, "-m", "syneg", *args]


def size_mib(path: Path) -> float:
    return path.stat().st_size / 2**20


def run_scale(data: Path, folder: Path, copies: int, queries: int, mined_1x: Path | None) -> dict:
    """Mine and mix at one scale; returns the measurements."""
    dataset = folder / f"scifact-x{copies}"
    replicate_data(data, dataset, copies)
    mined = folder / f"mined-x{copies}.jsonl"
    row: dict = {"copies": copies, "corpus_mib": size_mib(dataset / "corpus.jsonl")}
    row["mine_rss"], row["mine_s"] = peak_rss(syneg("mine", "--data", str(dataset), "--split", "train", "--retriever",
                                                    "bm25", "--top-k", str(TOP_K), "--max-queries", str(queries),
                                                    "--out", str(mined)))
    row["mined_mib"] = size_mib(mined)
    row["bm25_rss"], row["bm25_s"] = peak_rss([sys.executable, "-c", BM25_PEER, str(dataset / "corpus.jsonl"),
                                               str(dataset / "queries.jsonl"), str(queries), str(TOP_K)])
    mix_in = folder / f"mix-in-x{copies}.jsonl"
    replicate_mined(mined_1x or mined, mix_in, copies)
    train = folder / f"train-x{copies}.jsonl"
    row["mix_in_mib"] = size_mib(mix_in)
    row["mix_rss"], row["mix_s"] = peak_rss(syneg("mix", "--mined", str(mix_in), "--strategy", "retrieved",
                                                  "--out", str(train)))
    row["train_mib"] = size_mib(train)
    row["read_rss"], _ = peak_rss([sys.executable, "-c", READ_PEER, str(mix_in)])
    return row


FLOOR_PEER = r"""
from sentence_transformers import SentenceTransformer
from syneg.models import default_encoder_path
SentenceTransformer(str(default_encoder_path()), device="cpu").encode(["one text"])
"""

PLAIN_TRAIN_PEER = r"""
import sys, tempfile
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from syneg.config import TrainConfig
from syneg.io import read_records
from syneg.mixing.exports.columns import st_columns
from syneg.models import default_encoder_path
from syneg.records import TrainingInstance
config = TrainConfig()
model = SentenceTransformer(str(default_encoder_path()), device="cpu")
model.max_seq_length = config.max_seq_length
columns = st_columns(read_records(sys.argv[1], TrainingInstance))[0]
with tempfile.TemporaryDirectory() as out:
    args = SentenceTransformerTrainingArguments(
        output_dir=out, use_cpu=True, bf16=config.bf16, per_device_train_batch_size=config.batch_size,
        num_train_epochs=config.epochs, learning_rate=config.lr, batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no", report_to="none", disable_tqdm=True, seed=0)
    loss = MultipleNegativesRankingLoss(model, scale=1 / config.temperature)
    SentenceTransformerTrainer(model=model, args=args, loss=loss, train_dataset=Dataset.from_dict(columns)).train()
"""


def main_job(folder: Path, whole: bool, overrides: list[str]) -> None:
    """The README's main job stage by stage (each its own process), its peers, and optionally the whole job."""
    from syneg.config import load_config
    from syneg.pipeline.stages import STAGES

    config = load_config(None, overrides)
    run_dir, sets = folder / "run", [arg for item in overrides for arg in ("--set", item)]
    rows = [(stage.name, *peak_rss(syneg("run", "--run-dir", str(run_dir), "--stages", stage.name, *sets)))
            for stage in STAGES if stage.active(config)]  # synthesis only when the strategy uses it
    floor = peak_rss([sys.executable, "-c", FLOOR_PEER])
    plain = peak_rss([sys.executable, "-c", PLAIN_TRAIN_PEER, str(run_dir / "train.jsonl")])
    print(f"\n{'stage':<11} {'peak RSS':>9} {'wall':>7}")
    for stage, rss, wall in rows:
        print(f"{stage:<11} {rss:>8.0f}M {wall:>6.1f}s")
    print(f"{'all stages':<11} {max(r[1] for r in rows):>8.0f}M {sum(r[2] for r in rows):>6.1f}s")
    train = next(r for r in rows if r[0] == "train")
    print(f"peer: torch + sentence-transformers + MiniLM floor {floor[0]:.0f}M ({floor[1]:.1f}s); "
          f"train stage / floor {train[1] / floor[0]:.2f}x")
    print(f"peer: plain sentence-transformers training on the same train.jsonl {plain[0]:.0f}M ({plain[1]:.1f}s); "
          f"train stage / plain {train[1] / plain[0]:.2f}x (time {train[2] / plain[1]:.2f}x)")
    if whole:
        rss, wall = peak_rss(syneg("run", "--run-dir", str(folder / "whole"), *sets))
        print(f"whole job, one process (syneg run): {rss:.0f}M peak RSS, {wall:.1f}s")


def report(rows: list[dict], base_rss: float) -> None:
    print(f"\ninterpreter + syneg CLI imports (syneg --help): {base_rss:.0f} MiB peak RSS")
    print(f"{'scale':>5} {'corpus':>8} | {'mine':>7} {'bm25s':>7} {'ratio':>6} {'time':>6} {'mined':>7} | "
          f"{'mix in':>7} {'mix':>7} {'read':>6} {'ratio':>6} {'time':>6} {'out':>7}")
    for r in rows:
        print(f"{r['copies']:>4}x {r['corpus_mib']:>7.0f}M | {r['mine_rss']:>6.0f}M {r['bm25_rss']:>6.0f}M "
              f"{r['mine_rss'] / r['bm25_rss']:>5.2f}x {r['mine_s']:>5.0f}s {r['mined_mib']:>6.1f}M | "
              f"{r['mix_in_mib']:>6.0f}M {r['mix_rss']:>6.0f}M {r['read_rss']:>5.0f}M "
              f"{r['mix_rss'] / r['read_rss']:>5.2f}x {r['mix_s']:>5.0f}s {r['train_mib']:>6.0f}M")
    first = rows[0]
    for r in rows[1:]:
        grow, mined = r["corpus_mib"] / first["corpus_mib"], r["mix_in_mib"] / first["mix_in_mib"]
        print(f"{r['copies']}x vs {first['copies']}x: corpus x{grow:.1f}; "
              f"mine RSS +{r['mine_rss'] - first['mine_rss']:.0f} MiB "
              f"(bm25s +{r['bm25_rss'] - first['bm25_rss']:.0f}); "
              f"mix input x{mined:.1f}, mix RSS +{r['mix_rss'] - first['mix_rss']:.0f} MiB "
              f"(x{r['mix_rss'] / first['mix_rss']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--queries", type=int, default=2000, help="queries mined per scale (--max-queries)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated files in this folder")
    parser.add_argument("--main-job", action="store_true", help="measure the README's main job (syneg run) instead")
    parser.add_argument("--whole", action="store_true", help="--main-job: also the whole job in one process")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="--main-job: a config override for every syneg run (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if args.main_job:
            main_job(folder, args.whole, args.overrides)
            return
        base_rss, _ = peak_rss(syneg("--help"))
        rows, mined_1x = [], None
        for copies in sorted(args.scales):
            rows.append(run_scale(args.data, folder, copies, args.queries, mined_1x))
            mined_1x = mined_1x or (folder / f"mined-x{copies}.jsonl" if copies == 1 else None)
            print(json.dumps({k: round(v, 1) for k, v in rows[-1].items()}), flush=True)
        report(rows, base_rss)


if __name__ == "__main__":
    main()
