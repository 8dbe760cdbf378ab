"""Benchmark: syneg retrieval + evaluation vs the reference path on one BEIR split (full corpus).

Peers, measured in the same process on the same data (model loading, imports and data loading
are outside the timers):

- BM25: ``make_retriever("bm25")`` index + top-k search  vs  bm25s used directly (README recipe,
  same stemmer/stopwords) with ``retrieve``;
- evaluation: ``Evaluator`` (prepared once) on the BM25 run  vs  ``pytrec_eval.RelevanceEvaluator``
  (built per run, as BEIR does) + means;
- dense: ``DenseRetriever`` with a cold embedding cache (bf16 autocast where the CPU has it) and
  then a warm one  vs  ``SentenceTransformer.encode`` (fp32, its default) + ``torch.topk`` over
  the full query x corpus matrix.

    python bench/bench_retrieval.py --data /work/shared/data/scifact --split train --max-seq-length 64
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

PYTREC_MEASURES = {"nDCG@10": "ndcg_cut_10", "R@10": "recall_10", "R@100": "recall_100"}


def best_of(repeat: int, job: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest wall time of ``repeat`` runs of ``job`` and its last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = job()
        times.append(time.perf_counter() - start)
    return min(times), result


def syneg_bm25(ds, query_ids, top_k):
    from syneg.evaluation import results_to_run
    from syneg.retrieval import make_retriever

    retriever = make_retriever("bm25")
    retriever.index(ds.corpus)
    return results_to_run(query_ids, retriever.search([ds.queries[q] for q in query_ids], top_k))


def reference_bm25(ds, query_ids, top_k):
    import bm25s
    import Stemmer

    doc_ids = list(ds.corpus)
    stemmer = Stemmer.Stemmer("english")
    model = bm25s.BM25()
    model.index(
        bm25s.tokenize([ds.doc_text(d) for d in doc_ids], stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    tokens = bm25s.tokenize([ds.queries[q] for q in query_ids], stopwords="en", stemmer=stemmer, show_progress=False)
    docs, scores = model.retrieve(tokens, k=top_k, show_progress=False)
    return {
        q: {doc_ids[i]: float(s) for i, s in zip(row, row_scores)}
        for q, row, row_scores in zip(query_ids, docs, scores)
    }


def reference_evaluate(qrels, run) -> dict[str, float]:
    import pytrec_eval

    per_query = pytrec_eval.RelevanceEvaluator(qrels, set(PYTREC_MEASURES.values())).evaluate(run)
    return {name: statistics.fmean(v[key] for v in per_query.values()) for name, key in PYTREC_MEASURES.items()}


def syneg_dense(ds, query_ids, top_k, args, cache_dir):
    from syneg.evaluation import results_to_run
    from syneg.retrieval import make_retriever

    retriever = make_retriever(
        "dense", None, cache_dir=cache_dir, max_seq_length=args.max_seq_length, batch_size=args.batch_size
    )
    retriever.index(ds.corpus)
    return results_to_run(query_ids, retriever.search([ds.queries[q] for q in query_ids], top_k))


def reference_dense(ds, query_ids, top_k, model, batch_size):
    import torch

    doc_ids = list(ds.corpus)
    docs = model.encode(
        [ds.doc_text(d) for d in doc_ids], batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True
    )
    queries = model.encode(
        [ds.queries[q] for q in query_ids], batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True
    )
    values, indices = torch.topk(queries @ docs.T, top_k, dim=1)
    return {
        q: {doc_ids[i]: s for i, s in zip(row, vals)}
        for q, row, vals in zip(query_ids, indices.tolist(), values.tolist())
    }


def report(label: str, ours: float, peer: float, peer_name: str) -> None:
    print(f"{label:<28} syneg {ours:8.2f} s   {peer_name} {peer:8.2f} s   ratio syneg/peer {ours / peer:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="/work/shared/data/scifact")
    parser.add_argument("--split", default="train")
    parser.add_argument("--top-k", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="BM25 and evaluation runs (fastest counts)")
    parser.add_argument("--max-seq-length", type=int, default=64, help="dense: token limit for both peers")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--skip-dense", action="store_true")
    args = parser.parse_args()

    from syneg.data import load_dataset
    from syneg.evaluation import Evaluator
    from syneg.models import load_encoder

    ds = load_dataset(args.data, args.split)
    query_ids = list(ds.queries)
    print(f"{args.data} {args.split}: {len(ds.corpus)} documents, {len(query_ids)} queries, top {args.top_k}")
    evaluator = Evaluator(ds.qrels, list(PYTREC_MEASURES))

    ours_s, run = best_of(args.repeat, lambda: syneg_bm25(ds, query_ids, args.top_k))
    peer_s, peer_run = best_of(args.repeat, lambda: reference_bm25(ds, query_ids, args.top_k))
    report("BM25 index+search", ours_s, peer_s, "bm25s")
    ours_e, metrics = best_of(args.repeat, lambda: evaluator.evaluate(run))
    peer_e, peer_metrics = best_of(args.repeat, lambda: reference_evaluate(ds.qrels, run))
    report("evaluate (BM25 run)", ours_e, peer_e, "pytrec_eval")
    report("BM25 + evaluate", ours_s + ours_e, peer_s + peer_e, "reference")
    print(
        f"  BM25 nDCG@10 syneg {metrics['nDCG@10']:.4f}  bm25s run {evaluator.evaluate(peer_run)['nDCG@10']:.4f}"
        f"  (pytrec_eval on syneg run {peer_metrics['nDCG@10']:.4f})"
    )
    if args.skip_dense:
        return

    model = load_encoder(None, args.max_seq_length)  # shared: loading stays outside the timers
    peer_d, peer_dense = best_of(1, lambda: reference_dense(ds, query_ids, args.top_k, model, args.batch_size))
    with tempfile.TemporaryDirectory() as cache:
        cold_d, dense = best_of(1, lambda: syneg_dense(ds, query_ids, args.top_k, args, cache))
        warm_d, _ = best_of(1, lambda: syneg_dense(ds, query_ids, args.top_k, args, cache))
    report("dense, cold cache", cold_d, peer_d, "ST encode+topk")
    report("dense, warm cache", warm_d, peer_d, "ST encode+topk")
    print(
        f"  dense nDCG@10 syneg {evaluator.evaluate(dense)['nDCG@10']:.4f}  reference (fp32) "
        f"{evaluator.evaluate(peer_dense)['nDCG@10']:.4f}  (max_seq_length {args.max_seq_length})"
    )


if __name__ == "__main__":
    main()
