"""GPU check: encode SciFact, mine dense hard negatives, train 50 steps, evaluate; on each given device.

Needs only PyTorch, transformers and sentence-transformers (plus ``syneg.hardware`` from this tree for the
device and precision rules), no network: the model and data come from the assets folder that
``scripts/gpu_check.sh --prepare`` makes (MiniLM saved in fp16 and a SciFact copy, under 64 MiB).
Prints one JSON line per device, then passages/s and examples/s of each device against the CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from syneg.hardware import encode_batch_size, mixed_precision, resolve_device  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def read_beir(folder: Path, max_docs: int | None, max_queries: int | None):
    """(doc ids, doc texts, query id -> text, query id -> positive doc ids) of the train split."""
    docs = [json.loads(line) for line in (folder / "corpus.jsonl").open(encoding="utf-8")]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (folder / "queries.jsonl").open(encoding="utf-8"))}
    qrels: dict[str, set[str]] = {}
    for line in list((folder / "qrels" / "train.tsv").open(encoding="utf-8"))[1:]:
        qid, did, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(qid, set()).add(did)
    qids = sorted(q for q in qrels if q in queries)[:max_queries]
    positives = {d for q in qids for d in qrels[q]}
    docs = [d for d in docs if d["_id"] in positives] + [d for d in docs if d["_id"] not in positives]
    docs = docs[:max_docs] if max_docs else docs
    return [d["_id"] for d in docs], [(d.get("title", "") + " " + d["text"]).strip() for d in docs], \
        {q: queries[q] for q in qids}, {q: qrels[q] for q in qids}


def encode(model, texts: list[str], device: str, precision: str, batch: int) -> torch.Tensor:
    with torch.inference_mode(), torch.autocast(device.split(":")[0], dtype=DTYPES.get(precision, torch.bfloat16),
                                                enabled=precision in DTYPES):
        out = model.encode(texts, batch_size=batch, convert_to_tensor=True, show_progress_bar=False)
    return torch.nn.functional.normalize(out.float(), dim=-1)


def ndcg10(scores: torch.Tensor, qids: list[str], ids: list[str], qrels: dict[str, set[str]]) -> float:
    top = scores.topk(min(10, scores.shape[1]), dim=1).indices.cpu().tolist()
    values = []
    for row, qid in enumerate(qids):
        gains = [1.0 if ids[i] in qrels[qid] else 0.0 for i in top[row]]
        dcg = sum(g / math.log2(r + 2) for r, g in enumerate(gains))
        ideal = sum(1 / math.log2(r + 2) for r in range(min(10, len(qrels[qid]))))
        values.append(dcg / ideal)
    return float(np.mean(values))


def check(device: str, assets: Path, args) -> dict:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    device = resolve_device(device)
    precision, batch = mixed_precision(device), encode_batch_size(device)
    ids, texts, queries, qrels = read_beir(assets / "scifact", args.max_docs, args.max_queries)
    model = SentenceTransformer(str(assets / "minilm-fp16"), device=device).float()
    model.max_seq_length = args.max_seq_length
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    started = time.perf_counter()
    docs = encode(model, texts, device, precision, batch)
    sync()
    encode_s = time.perf_counter() - started
    qids = list(queries)
    held = qids[: len(qids) // 3]  # evaluation queries, never trained on
    train_q = qids[len(qids) // 3 :]
    scores = encode(model, [queries[q] for q in qids], device, precision, batch) @ docs.T
    before = ndcg10(scores[: len(held)], held, ids, qrels)
    examples = mine(scores[len(held):], train_q, ids, texts, queries, qrels)
    step_s = train(model, MultipleNegativesRankingLoss(model, scale=50.0), examples, device, precision, args)
    after = ndcg10(encode(model, [queries[q] for q in held], device, precision, batch)
                   @ encode(model, texts, device, precision, batch).T, held, ids, qrels)
    return {"device": device, "precision": precision, "passages": len(texts), "encode_s": round(encode_s, 2),
            "passages_per_s": round(len(texts) / encode_s, 1), "train_steps": args.steps,
            "examples_per_s": round(args.batch_size / step_s, 2), "ndcg10_before": round(before, 4),
            "ndcg10_after": round(after, 4), "eval_queries": len(held)}


def mine(scores, qids, ids, texts, queries, qrels, k: int = 3) -> list[list[str]]:
    """(query, positive, k hard negatives) from the top 30 minus positives."""
    top = scores.topk(min(30, scores.shape[1]), dim=1).indices.cpu().tolist()
    rows = []
    for row, qid in enumerate(qids):
        negatives = [texts[i] for i in top[row] if ids[i] not in qrels[qid]][:k]
        for positive in (texts[ids.index(d)] for d in qrels[qid] if d in ids):
            if len(negatives) == k:
                rows.append([queries[qid], positive, *negatives])
    return rows


def train(model, loss, examples, device: str, precision: str, args) -> float:
    """``args.steps`` optimizer steps; seconds per step after the first (warm-up) step."""
    rng = random.Random(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    scaler = torch.amp.GradScaler(enabled=precision == "fp16")
    model.train()
    times = []
    for _ in range(args.steps):
        batch = rng.sample(examples, min(args.batch_size, len(examples)))
        started = time.perf_counter()
        columns = [model.tokenize([row[c] for row in batch]) for c in range(len(batch[0]))]
        features = [{k: v.to(device) if torch.is_tensor(v) else v for k, v in column.items()} for column in columns]
        with torch.autocast(device.split(":")[0], dtype=DTYPES.get(precision, torch.bfloat16),
                            enabled=precision in DTYPES):
            value = loss(features, None)
        optimizer.zero_grad()
        scaler.scale(value).backward()
        scaler.step(optimizer)
        scaler.update()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    model.eval()
    return float(np.mean(times[1:] or times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=Path, default=Path("gpu_check_assets"))
    parser.add_argument("--devices", nargs="+", default=["cuda", "cpu"])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--max-docs", type=int, default=None)
    parser.add_argument("--max-queries", type=int, default=None)
    args = parser.parse_args()
    results = []
    for device in args.devices:
        results.append(check(device, args.assets, args))
        print(json.dumps(results[-1]), flush=True)
    cpu = next((r for r in results if r["device"] == "cpu"), None)
    for result in results:
        if cpu is not None and result is not cpu:
            print(f"{result['device']} vs cpu: passages/s {result['passages_per_s'] / cpu['passages_per_s']:.1f}x, "
                  f"examples/s {result['examples_per_s'] / cpu['examples_per_s']:.1f}x")


if __name__ == "__main__":
    main()
