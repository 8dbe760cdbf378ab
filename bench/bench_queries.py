"""Query generation rate: ``generate_queries`` with the embedded SmolLM2 against llama.cpp's raw decode limit
for the same token shapes, measured in the same run on the same cores.

    python bench/bench_queries.py [--data ../shared/data/scifact] [--docs 128] [--batch-size 32]

Ours: every planned call of ``--docs`` documents (fresh cache), checks and BM25 round trip included; its
tokens are the prompt tokens each call feeds (not the shared prefix, decoded once) plus the completion tokens.
Peer: llama.cpp's own batched ``llama_decode`` (no sampling, no grammar, no Python per token) over
``--batch-size`` sequences with the mean prompt and completion lengths of ours: the most tokens/s these cores
give this model. Prints the ratio, seconds per document, and the projected wall time for the whole corpus.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from syneg.config import QueriesConfig, SynthesizeConfig
from syneg.data import load_dataset
from syneg.hardware import available_cores
from syneg.queries import generate_queries
from syneg.queries.prompt import build_messages


def raw_limit(slots: int, threads: int, prompt: int, steps: int, rounds: int = 2) -> float:
    """llama.cpp's tokens/s for ``slots`` sequences of ``prompt`` tokens then ``steps`` one-token steps each."""
    import llama_cpp

    from syneg.models import default_llm_path
    from syneg.synthesis.backends.llama_batch import decode

    llm = llama_cpp.Llama(str(default_llm_path()), n_ctx=512, verbose=False)
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = params.n_batch = (prompt + steps + 64) * slots
    params.n_ubatch = 512
    params.n_seq_max, params.kv_unified, params.n_threads, params.n_threads_batch = slots, False, threads, threads
    ctx = llama_cpp.llama_init_from_model(llm.model, params)
    batch = llama_cpp.llama_batch_init(params.n_ctx, 0, 1)
    started = time.perf_counter()
    for _ in range(rounds):
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        decode(llama_cpp, ctx, batch, [(s, 100 + i % 50, i, i == prompt - 1) for s in range(slots) for i in range(prompt)])
        for k in range(steps):
            decode(llama_cpp, ctx, batch, [(s, 200 + k, prompt + k, True) for s in range(slots)])
    rate = rounds * slots * (prompt + steps) / (time.perf_counter() - started)
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(ctx)
    llm.close()
    return rate


def shared_prefix_tokens() -> int:
    """Tokens of the shared turns (system and demonstrations), decoded once per run, not per call."""
    import llama_cpp

    from syneg.models import default_llm_path

    llm = llama_cpp.Llama(str(default_llm_path()), n_ctx=512, verbose=False, vocab_only=True)
    text = "".join(m["content"] for m in build_messages("x", "claim", 10)[:-1])
    return len(llm.tokenize(text.encode("utf-8"))) + 4 * 7  # + the chat template's role markers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/scifact"))
    parser.add_argument("--docs", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=QueriesConfig().batch_size)
    parser.add_argument("--doc-words", type=int, default=QueriesConfig().doc_words)
    args = parser.parse_args()
    threads = available_cores()
    dataset = load_dataset(args.data, "train", 0.3, 0)
    config = QueriesConfig(max_docs=args.docs, doc_words=args.doc_words, batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        stats = generate_queries(dataset, config, SynthesizeConfig(threads=threads),
                                 Path(work) / "queries.jsonl", progress=False)
        wall = time.perf_counter() - started
    calls, tokens = stats["run"]["calls"], stats["run"]["tokens"]
    prompt = tokens["prompt_tokens"] / calls - shared_prefix_tokens()
    completion = tokens["completion_tokens"] / calls
    ours = calls * (prompt + completion) / stats["calls_s"]
    peer = raw_limit(args.batch_size, threads, round(prompt), round(completion))
    docs, corpus = stats["documents"], len([d for d in dataset.corpus.values() if len(d.full_text.split()) >= 20])
    print(f"query generation, {docs} documents, {calls} calls, batch {args.batch_size}, {threads} threads, "
          f"{args.doc_words} document words shown; engine {stats['run']['backend']}")
    print(f"  per call: {prompt:.0f} prompt tokens (beside the shared prefix), {completion:.0f} completion tokens")
    print(f"  ours (generate_queries, calls only): {ours:7.1f} tok/s, {stats['calls_s'] / docs:.3f} s/doc")
    print(f"  peer (llama.cpp raw decode limit):  {peer:7.1f} tok/s")
    print(f"  ratio ours/peer: {ours / peer:.2f}")
    print(f"  whole run (checks, round trip): {wall:.1f} s; kept {stats['kept']} of {stats['items']} "
          f"({stats['pass_rate']:.0%}); projected for {corpus:,} documents: {wall / docs * corpus / 60:.1f} min")


if __name__ == "__main__":
    main()
