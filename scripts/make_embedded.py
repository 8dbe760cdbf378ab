"""Rebuild the embedded SciFact slice from a full SciFact BEIR folder.

    python scripts/make_embedded.py ../shared/data/scifact

Keeps 200 seeded train queries, their positives, each query's BM25 top-10 (so mined
negatives are real hard negatives) and seeded random fill, for about 1,500 documents.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bm25s
import Stemmer

from syneg.data import embedded_path, load_beir
from syneg.rng import instance_rng, stable_hash

N_QUERIES, NEIGHBOURS, N_DOCS, SEED = 200, 10, 1500, 13

LICENSE = """SciFact slice (BEIR build) shipped with syneg as its embedded default dataset.
Source: SciFact, Wadden et al. 2020 (allenai/scifact), via BEIR (Thakur et al. 2021).
Claims (queries.jsonl): CC BY 4.0. Abstracts (corpus.jsonl): ODC-By 1.0 (from S2ORC).
Contents: {queries} train queries with their qrels and {docs} abstracts (positives, BM25
neighbours and random fill), selected by scripts/make_embedded.py with seed {seed}.
"""


def main(source: str) -> None:
    ds = load_beir(source, "train")
    qids = sorted(ds.qrels, key=lambda q: stable_hash(SEED, q))[:N_QUERIES]
    doc_ids = list(ds.corpus)
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([ds.doc_text(d) for d in doc_ids], stopwords="en", stemmer=stemmer))
    tokens = bm25s.tokenize([ds.queries[q] for q in qids], stopwords="en", stemmer=stemmer)
    hits, _ = retriever.retrieve(tokens, k=NEIGHBOURS)
    keep = {d for q in qids for d in ds.qrels[q]}
    keep |= {doc_ids[i] for row in hits for i in row}
    rng = instance_rng(SEED, "fill")
    rest = [d for d in doc_ids if d not in keep]
    keep |= set(rng.sample(rest, max(0, N_DOCS - len(keep))))
    write_slice(ds, qids, keep)


def write_slice(ds, qids: list[str], keep: set[str]) -> None:
    out = embedded_path()
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for d in ds.corpus:
            if d in keep:
                doc = ds.corpus[d]
                f.write(json.dumps({"_id": d, "title": doc.title, "text": doc.text}, ensure_ascii=False) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as f:
        for q in sorted(qids, key=int):
            f.write(json.dumps({"_id": q, "text": ds.queries[q]}, ensure_ascii=False) + "\n")
    with (out / "qrels" / "train.tsv").open("w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in sorted(qids, key=int):
            for d, s in ds.qrels[q].items():
                f.write(f"{q}\t{d}\t{s}\n")
    (out / "LICENSE").write_text(LICENSE.format(queries=len(qids), docs=len(keep), seed=SEED), encoding="utf-8")
    print(f"wrote {len(qids)} queries and {len(keep)} documents to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
