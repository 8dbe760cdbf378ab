"""Benchmark: ``syneg mine`` (dense) vs sentence-transformers' ``mine_hard_negatives``, same model and settings.

Each measurement runs in a fresh subprocess and times model loading + mining (not imports or
data loading), as wall and CPU seconds (CPU time is steadier on shared cores); warm runs are
repeated, alternating tools, and the best is kept. Cold = no embedding cache; warm = both tools reuse their own corpus-embedding
cache from the cold run (syneg's ``cache_dir``, sentence-transformers' ``cache_folder``). The
peer's cache also holds query embeddings, which syneg's does not: that run ("warm-full") is
reported separately, and its query file is deleted before the like-for-like warm run. Both encode the same
way: syneg through ``--backend`` (``encode.backend``; default reference, sentence-transformers fp32), the peer
through sentence-transformers itself, under bf16 autocast when the backend is ``bf16`` or ``fused``.

``--encoders`` instead measures every encoder path in one run on the same texts (sentence-transformers fp32,
the peer; bf16 autocast; ``torch.compile``; the fused bf16 kernels; sentence-transformers' ``backend="onnx"`` /
``"openvino"`` where installed): texts/s, the ratio to fp32, and nDCG@10 on the embedded slice's dev carve.

    python bench/bench_mining.py --data /work/shared/data/scifact
    python bench/bench_mining.py --encoders --data /work/shared/data/scifact --max-seq-length 256
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


def run_syneg(args: argparse.Namespace, cache: Path | None) -> tuple[tuple[float, float], list]:
    from syneg.config import MineConfig
    from syneg.data import load_dataset
    from syneg.mining import mine

    import sentence_transformers  # noqa: F401  (imported before the clock, as for the peer)

    import syneg.retrieval.dense  # noqa: F401

    ds = load_dataset(args.data, "train")
    top_k = args.range_max + max(len(ds.positives(q)) for q in ds.qrels)  # what sentence-transformers retrieves
    config = MineConfig(retriever="dense", num_negatives=args.num_negatives, top_k=top_k, range_max=args.range_max,
                        relative_margin=args.relative_margin, sampling="top", max_seq_length=args.max_seq_length)
    start = _clock()
    instances, _ = mine(ds, config, seed=0, cache_dir=cache, batch_size=args.batch_size, backend=args.backend)
    seconds = _since(start)
    return seconds, [[i.query, i.positive, [n.text for n in i.negatives]] for i in instances]


def run_peer(args: argparse.Namespace, cache: Path | None) -> tuple[tuple[float, float], list]:
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from syneg.data import load_dataset
    from syneg.models import default_encoder_path

    ds = load_dataset(args.data, "train")
    pairs = [(ds.queries[q], ds.doc_text(p)) for q in ds.qrels for p in ds.positives(q)]
    dataset = Dataset.from_dict({"query": [q for q, _ in pairs], "positive": [p for _, p in pairs]})
    corpus = [ds.doc_text(d) for d in ds.corpus]
    bf16 = args.backend in ("bf16", "fused")
    start = _clock()
    model = SentenceTransformer(str(default_encoder_path()), device="cpu")
    model.max_seq_length = args.max_seq_length
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        mined = mine_hard_negatives(
            dataset, model, corpus=corpus, range_max=args.range_max, relative_margin=args.relative_margin,
            num_negatives=args.num_negatives, sampling_strategy="top", batch_size=args.batch_size,
            use_faiss=False, output_format="triplet", verbose=False,
            cache_folder=None if cache is None else str(cache),
        )
    seconds = _since(start)
    grouped: dict[tuple[str, str], list[str]] = {}
    for row in mined:
        grouped.setdefault((row["query"], row["positive"]), []).append(row["negative"])
    return seconds, [[q, p, grouped.get((q, p), [])] for q, p in pairs]


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads): CPU time is steadier on shared cores."""
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def worker(args: argparse.Namespace) -> None:
    cache = Path(args.cache) if args.cache else None
    seconds, rows = (run_syneg if args.worker == "syneg" else run_peer)(args, cache)
    Path(args.result).write_text(json.dumps({"seconds": seconds, "rows": rows}), encoding="utf-8")


def measure(tool: str, args: argparse.Namespace, cache: Path, workdir: Path, label: str) -> dict:
    result = workdir / f"{tool}-{label}.json"
    cmd = [sys.executable, __file__, "--worker", tool, "--result", str(result), "--cache", str(cache),
           *_shared_flags(args)]
    subprocess.run(cmd, check=True, env={**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"})
    return json.loads(result.read_text(encoding="utf-8"))


def overlap(ours: list, peer: list) -> tuple[float, float, int]:
    """Mean share of the peer's negatives we also chose, mean Jaccard, and pairs compared."""
    theirs = {(q, p): set(negs) for q, p, negs in peer}
    shares, jaccards = [], []
    for q, p, negs in ours:
        a, b = set(negs), theirs.get((q, p), set())
        if a or b:
            shares.append(len(a & b) / len(b) if b else 0.0)
            jaccards.append(len(a & b) / len(a | b))
    return sum(shares) / len(shares), sum(jaccards) / len(jaccards), len(shares)


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args)
        return
    if args.encoders:
        bench_encoders(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        caches = {tool: workdir / f"cache-{tool}" for tool in ("peer", "syneg")}
        runs: dict[tuple[str, str], list[dict]] = {}

        def record(tool: str, label: str) -> None:
            runs.setdefault((tool, label), []).append(measure(tool, args, caches[tool], workdir, label))

        record("peer", "cold")
        record("syneg", "cold")
        record("peer", "warm-full")
        for _ in range(args.warm_repeats):
            for stale in caches["peer"].glob("query_embeddings_*.npy"):  # like syneg: corpus cache only
                stale.unlink()
            record("peer", "warm")
            record("syneg", "warm")
        print(f"settings: {vars(args)}")
        for label in ("cold", "warm", "warm-full"):
            line = [f"{label:>9}:"]
            for tool in ("peer", "syneg"):
                if (tool, label) in runs:
                    wall, cpu = (min(r["seconds"][i] for r in runs[tool, label]) for i in (0, 1))
                    line.append(f"{tool} {wall:6.1f} s wall {cpu:6.1f} s cpu |")
            if ("syneg", label) in runs:
                best = {t: [min(r["seconds"][i] for r in runs[t, label]) for i in (0, 1)] for t in ("peer", "syneg")}
                line.append(f"ratio peer/syneg: wall {best['peer'][0] / best['syneg'][0]:.2f}x, "
                            f"cpu {best['peer'][1] / best['syneg'][1]:.2f}x")
            print(" ".join(line))
        ours, peer = runs["syneg", "cold"][0]["rows"], runs["peer", "cold"][0]["rows"]
        share, jaccard, pairs = overlap(ours, peer)
        negs = sum(len(r[2]) for r in ours), sum(len(r[2]) for r in peer)
        print(f"negatives: syneg {negs[0]:,}, sentence-transformers {negs[1]:,} over {pairs:,} (query, positive) pairs")
        print(f"overlap of chosen negatives: {share:.1%} of the peer's negatives also chosen by syneg; "
              f"mean Jaccard {jaccard:.3f}")


# --- --encoders: every encoder path on the same texts ------------------------------------------------------

def _load_path(name: str, device: str):
    """``(model, syneg backend)`` of one encoder path, or a string saying why it cannot run here."""
    from sentence_transformers import SentenceTransformer

    from syneg.models import default_encoder_path, fresh_encoder

    if name in ("onnx", "openvino"):
        try:
            return SentenceTransformer(str(default_encoder_path()), device=device, backend=name), "reference"
        except Exception as exc:  # noqa: BLE001  (a backend that cannot load is a row, not a crash)
            missing = isinstance(exc, ImportError) or "requires installing" in str(exc)
            return "not installed" if missing else f"failed: {type(exc).__name__}: {str(exc)[:80]}"
    model = fresh_encoder(None, device=device)
    if name == "compile":
        model[0].auto_model.compile(dynamic=True)  # torch's public nn.Module.compile (inductor)
        return model, "reference"
    return model, {"st-fp32": "reference"}.get(name, name)


def _texts_per_second(model, backend: str, texts: list[str], args: argparse.Namespace) -> float:
    from syneg.retrieval.encode import encode_with

    start = time.perf_counter()
    encode_with(model, texts, batch_size=args.batch_size, max_seq_length=args.max_seq_length, backend=backend)
    return len(texts) / (time.perf_counter() - start)


def bench_encoders(args: argparse.Namespace) -> None:
    """Texts/s (best of ``--warm-repeats``, paths alternating), ratio to sentence-transformers fp32, agreement
    with it (lowest cosine) and nDCG@10 of each encoder path; a path that cannot run says why."""
    from syneg.config import RunConfig
    from syneg.data import load_dataset
    from syneg.evaluation import evaluate_model
    from syneg.retrieval.encode import encode_with

    ds = load_dataset(args.data, "train")
    texts = [ds.doc_text(d) for d in list(ds.corpus)[: args.texts]]
    names = ["st-fp32", "bf16", *(["fp16"] if args.device.startswith("cuda") else []), "compile", "fused", "onnx",
             "openvino"]
    paths = {name: _load_path(name, args.device) for name in names}
    ready = {name: path for name, path in paths.items() if not isinstance(path, str)}
    embeddings = {name: encode_with(m, texts, batch_size=args.batch_size, max_seq_length=args.max_seq_length,
                                    backend=b) for name, (m, b) in ready.items()}  # also warms up (compiles)
    speed: dict[str, float] = {}
    for _ in range(args.warm_repeats):
        for name, (model, backend) in ready.items():
            speed[name] = max(speed.get(name, 0.0), _texts_per_second(model, backend, texts, args))
    eval_ds = RunConfig().load_split("eval")  # the embedded slice's dev carve
    print(f"settings: {vars(args)}; {len(texts)} SciFact corpus texts; nDCG@10 on the embedded slice's dev carve "
          f"({len(eval_ds.queries)} queries, {len(eval_ds.corpus)} documents) at --max-seq-length")
    print("| path | texts/s | vs fp32 | min cosine to fp32 | nDCG@10 |\n|---|---:|---:|---:|---:|")
    for name, path in paths.items():
        if isinstance(path, str):
            print(f"| {name} | {path} | | | |")
            continue
        model, backend = path
        ndcg = evaluate_model(model, eval_ds, ["nDCG@10"], batch_size=args.batch_size, backend=backend,
                              max_seq_length=args.max_seq_length, use_cache=False)["nDCG@10"]
        cosine = float((embeddings[name] * embeddings["st-fp32"]).sum(axis=1).min())
        print(f"| {name} | {speed[name]:.1f} | {speed[name] / speed['st-fp32']:.2f}x | {cosine:.5f} | "
              f"{100 * ndcg:.2f} |")


def _shared_flags(args: argparse.Namespace) -> list[str]:
    return ["--data", str(args.data), "--num-negatives", str(args.num_negatives), "--range-max", str(args.range_max),
            "--relative-margin", str(args.relative_margin), "--max-seq-length", str(args.max_seq_length),
            "--batch-size", str(args.batch_size), "--backend", args.backend]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/scifact"))
    parser.add_argument("--num-negatives", type=int, default=5)
    parser.add_argument("--range-max", type=int, default=50)
    parser.add_argument("--relative-margin", type=float, default=0.05)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--backend", default="reference", choices=["reference", "bf16", "fp16", "fused"],
                        help="encode.backend of both tools (reference = sentence-transformers fp32)")
    parser.add_argument("--encoders", action="store_true", help="compare the encoder paths instead (texts/s, nDCG@10)")
    parser.add_argument("--texts", type=int, default=2000, help="--encoders: corpus texts timed per path")
    parser.add_argument("--device", default="cpu", help="--encoders: cpu or cuda")
    parser.add_argument("--warm-repeats", type=int, default=3, help="warm runs per tool (best of, alternating)")
    parser.add_argument("--worker", choices=["syneg", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    main()
