"""Retrieval: exact chunked top-k, BM25 against bm25s, dense against sentence-transformers, the cache, CLI."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli, write_beir
from helpers import _assert_cli_error

from syneg.data import BeirDataset, Document, load_dataset
from syneg.errors import SynegError
from syneg.evaluation import Evaluator, evaluate_model, read_run, results_to_run
from syneg.models import default_encoder_path
from syneg.retrieval import Retriever, make_retriever
from syneg.retrieval.bm25 import make_stemmer
from syneg.retrieval.cache import path_fingerprint
from syneg.retrieval.dense import DenseRetriever
from syneg.retrieval.seqlen import seq_length
from syneg.retrieval.topk import chunked_topk, topk_rows

SEQ = 48  # short sequences keep the dense tests fast


def test_topk_rows_breaks_ties_by_lower_index() -> None:
    scores = torch.tensor([[1.0, 3.0, 3.0, 2.0, 3.0, 0.0], [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    values, indices = topk_rows(scores, 2)
    assert indices.tolist() == [[1, 2], [1, 2]]
    assert topk_rows(scores, 4)[1].tolist() == [[1, 2, 4, 3], [1, 2, 3, 4]]
    assert topk_rows(scores, 10)[1].shape == (2, 6)


@pytest.mark.parametrize(("query_chunk", "doc_chunk"), [(7, 64), (1000, 10_000), (1, 37)])
def test_chunked_topk_equals_full_topk(query_chunk: int, doc_chunk: int) -> None:
    generator = torch.Generator().manual_seed(0)
    queries, docs = torch.randn(40, 16, generator=generator), torch.randn(700, 16, generator=generator)
    values, indices = chunked_topk(queries, docs, 25, query_chunk=query_chunk, doc_chunk=doc_chunk)
    full_values, full_indices = torch.topk(queries @ docs.T, 25, dim=1)
    assert torch.equal(indices, full_indices)
    assert torch.allclose(values, full_values)


def test_chunked_topk_ties_across_chunks() -> None:
    docs = torch.cat([torch.zeros(5, 4), torch.ones(30, 4)])
    values, indices = chunked_topk(torch.ones(3, 4), docs, 6, doc_chunk=7)
    assert indices.tolist() == [list(range(5, 11))] * 3
    assert values.tolist() == [[4.0] * 6] * 3


@pytest.fixture(scope="module")
def slice_data() -> BeirDataset:
    return load_dataset(None, "train")


@pytest.fixture(scope="module")
def bm25(slice_data):
    retriever = make_retriever("bm25")
    retriever.index(slice_data.corpus)
    return retriever


def test_bm25_matches_bm25s_used_directly(slice_data, bm25) -> None:
    import bm25s

    doc_ids = list(slice_data.corpus)
    queries = list(slice_data.queries.values())[:50]
    stemmer = make_stemmer()
    reference = bm25s.BM25()
    reference.index(
        bm25s.tokenize([slice_data.doc_text(d) for d in doc_ids], stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    ref_docs, ref_scores = reference.retrieve(
        bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, show_progress=False), k=10, show_progress=False
    )
    ids, scores = bm25.search(queries, 10)
    np.testing.assert_allclose(np.array(scores), ref_scores, rtol=1e-6)
    for row, (ours, theirs) in enumerate(zip(ids, ref_docs)):
        tenth = ref_scores[row][-1]
        clear = {doc_ids[i] for i, s in zip(theirs, ref_scores[row]) if s > tenth}  # above any tie at the cut
        assert clear <= set(ours)
    assert bm25.score(queries[:1], [ids[0]]) == [pytest.approx(scores[0], rel=1e-6)]


def test_bm25_results_are_ordered_and_deterministic(slice_data, bm25) -> None:
    assert isinstance(bm25, Retriever) and bm25.name == "bm25"
    queries = list(slice_data.queries.values())[:20] + ["the of and"]  # the last has only stopwords
    ids, scores = bm25.search(queries, 30)
    for row_ids, row_scores in zip(ids, scores):
        ranked = list(zip([-s for s in row_scores], row_ids))
        assert len(set(row_ids)) == 30 and ranked == sorted(ranked)  # score descending, then doc id
    assert scores[-1] == [0.0] * 30 and ids[-1] == sorted(slice_data.corpus)[:30]  # all tied: lowest ids
    assert bm25.search(queries, 30) == (ids, scores)
    assert len(bm25.search(queries[:1], 10_000).ids[0]) == len(slice_data.corpus)


def test_bm25_threads_and_blocks_do_not_change_results(slice_data, monkeypatch) -> None:
    from syneg.retrieval import bm25 as bm25_module

    queries = list(slice_data.queries.values())[:40] + ["the of and"]
    single = bm25_module.BM25Retriever(threads=1)
    single.index(slice_data.corpus)
    expected = single.search(queries, 50)
    doc_ids = [ids[:3] + ["4983"] for ids in expected.ids]
    scored = single.score(queries, doc_ids)
    monkeypatch.setattr(bm25_module, "SCORE_BUDGET", 7 * len(slice_data.corpus))  # blocks of 7, 3 or 1 queries
    for threads in (1, 3, 7):
        threaded = bm25_module.BM25Retriever(threads=threads)
        threaded.index(slice_data.corpus)
        assert threaded.search(queries, 50) == expected
        assert threaded.score(queries, doc_ids) == scored


def test_bm25_errors(slice_data, bm25) -> None:
    with pytest.raises(SynegError, match="not in the indexed corpus"):
        bm25.score(["vitamin"], [["no-such-doc"]])
    with pytest.raises(SynegError, match="call index"):
        make_retriever("bm25").search(["vitamin"], 5)
    with pytest.raises(SynegError, match="top_k"):
        bm25.search(["vitamin"], 0)
    with pytest.raises(SynegError, match="unknown retriever"):
        make_retriever("tfidf")


def _small_dataset(full: BeirDataset, n_queries: int = 8, n_docs: int = 120) -> BeirDataset:
    """A few slice queries with their positives plus other slice documents."""
    qrels = dict(list(full.qrels.items())[:n_queries])
    keep = {d for judged in qrels.values() for d in judged} | set(sorted(full.corpus)[:n_docs])
    corpus = {d: full.corpus[d] for d in sorted(keep)}
    return BeirDataset(full.path, "train", corpus, {q: full.queries[q] for q in qrels}, qrels)


@pytest.fixture(scope="module")
def counting_model():
    """The packaged MiniLM as a real SentenceTransformer subclass that counts document encodings."""
    from sentence_transformers import SentenceTransformer

    class CountingEncoder(SentenceTransformer):
        document_calls = 0

        def encode_document(self, *args, **kwargs):
            type(self).document_calls += 1
            return super().encode_document(*args, **kwargs)

    return CountingEncoder(str(default_encoder_path()), device="cpu")


@pytest.fixture(scope="module")
def dense_setup(slice_data, counting_model, tmp_path_factory):
    small = _small_dataset(slice_data)
    cache_dir = tmp_path_factory.mktemp("embeddings")
    retriever = DenseRetriever(counting_model, cache_dir=cache_dir, max_seq_length=SEQ, backend="reference")
    retriever.index(small.corpus)
    return small, retriever, cache_dir


@pytest.mark.slow
def test_dense_matches_sentence_transformers_and_torch_topk(dense_setup, counting_model) -> None:
    small, retriever, _ = dense_setup
    doc_ids = sorted(small.corpus)
    queries = list(small.queries.values())
    with seq_length(counting_model, SEQ):
        docs = counting_model.encode(
            [small.doc_text(d) for d in doc_ids], convert_to_tensor=True, normalize_embeddings=True
        )
        query_embeddings = counting_model.encode(queries, convert_to_tensor=True, normalize_embeddings=True)
    values, indices = torch.topk(query_embeddings @ docs.T, 20, dim=1)
    result = retriever.search(queries, 20)
    ids, scores = result
    assert ids == [[doc_ids[i] for i in row] for row in indices.tolist()]
    np.testing.assert_allclose(np.array(scores), values.numpy(), atol=1e-5)
    assert retriever.score(queries[:2], [ids[0][:5], ids[1][:3]]) == [
        pytest.approx(scores[0][:5], abs=1e-6),
        pytest.approx(scores[1][:3], abs=1e-6),
    ]
    assert Evaluator(small.qrels).evaluate(results_to_run(list(small.queries), result))["R@10"] > 0.5


@pytest.mark.slow
def test_embedding_cache_skips_encoding(dense_setup, counting_model) -> None:
    small, retriever, cache_dir = dense_setup
    calls = type(counting_model).document_calls
    again = DenseRetriever(counting_model, cache_dir=cache_dir, max_seq_length=SEQ, backend="reference")
    again.index(small.corpus)
    assert type(counting_model).document_calls == calls  # loaded from disk, not re-encoded
    assert torch.equal(again.doc_embeddings, retriever.doc_embeddings)
    assert len(list(cache_dir.glob("*.npy"))) == 1 and not list(cache_dir.glob(".*.tmp"))
    metrics = evaluate_model(
        counting_model, small, max_seq_length=SEQ, backend="reference", cache_dir=cache_dir, use_cache=True
    )
    assert type(counting_model).document_calls == calls
    direct = Evaluator(small.qrels).evaluate(
        results_to_run(list(small.queries), retriever.search(list(small.queries.values()), 101))
    )
    assert metrics == pytest.approx(direct, abs=1e-9)
    again, per_query = evaluate_model(counting_model, small, max_seq_length=SEQ, backend="reference",
                                      cache_dir=cache_dir, use_cache=True, per_query="RR@10")
    assert again == pytest.approx(direct, abs=1e-9) and sorted(per_query) == sorted(small.qrels)
    assert sum(per_query.values()) / len(per_query) == pytest.approx(direct["RR@10"], abs=1e-9)


def _spoil(path: Path, kind: str) -> None:
    good = np.load(path)
    if kind == "empty":  # what a full disk leaves: np.load's EOFError became click's bare "Aborted."
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif kind == "garbage":
        path.write_bytes(os.urandom(4096))
    elif kind == "fewer-rows":
        np.save(path, good[:-1])
    elif kind == "other-dim":
        np.save(path, good[:, :-1])
    elif kind == "float64":
        np.save(path, good.astype(np.float64))
    elif kind == "nan":
        good[3, 5] = np.nan
        np.save(path, good)
    elif kind == "npz":
        with path.open("wb") as handle:
            np.savez(handle, a=good)
    elif kind == "zeros":  # the right shape, all zero: every score would be 0
        np.save(path, np.zeros_like(good))
    elif kind == "folder":  # a folder in its place ended every later run in "is a directory"
        path.unlink()
        (path / "inner").mkdir(parents=True)
    elif kind == "link":  # a link is removed itself, never followed
        np.save(path.parent.parent / "elsewhere.npy", good)
        path.unlink()
        path.symlink_to(path.parent.parent / "elsewhere.npy")
    elif kind == "huge-header":  # claims 10^12 rows: refused from the header, nothing allocated
        with path.open("wb") as handle:
            np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (10**12, good.shape[1])})


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage", "fewer-rows", "other-dim", "float64", "nan", "npz",
                                  "zeros", "folder", "link", "huge-header"])
def test_a_broken_embedding_cache_is_named_deleted_and_rebuilt(dense_setup, counting_model, kind) -> None:
    small, retriever, cache_dir = dense_setup
    (path,) = cache_dir.glob("*.npy")
    _spoil(path, kind)
    calls = type(counting_model).document_calls
    again = DenseRetriever(counting_model, cache_dir=cache_dir, max_seq_length=SEQ, backend="reference")
    with pytest.warns(UserWarning, match=rf"embedding cache {path} is unusable: .+; deleted, rebuilding it"):
        again.index(small.corpus)
    assert type(counting_model).document_calls > calls  # encoded again
    torch.testing.assert_close(again.doc_embeddings, retriever.doc_embeddings)
    np.testing.assert_array_equal(np.load(path), again.doc_embeddings.numpy())  # the rebuilt file replaced it
    assert path.with_suffix(".json").is_file() and not path.is_symlink()
    assert kind != "link" or (cache_dir.parent / "elsewhere.npy").is_file()  # the link's target untouched


@pytest.mark.slow
def test_an_embedding_cache_note_that_is_a_folder_is_replaced(dense_setup, counting_model) -> None:
    small, _, cache_dir = dense_setup
    (path,) = cache_dir.glob("*.npy")
    path.unlink()
    note = path.with_suffix(".json")
    note.unlink()
    note.mkdir()
    again = DenseRetriever(counting_model, cache_dir=cache_dir, max_seq_length=SEQ, backend="reference")
    again.index(small.corpus)
    assert path.is_file() and note.is_file()


@pytest.mark.slow
def test_faiss_search_matches_exact_search(dense_setup, counting_model) -> None:
    pytest.importorskip("faiss")
    small, retriever, cache_dir = dense_setup
    with_faiss = DenseRetriever(
        counting_model, cache_dir=cache_dir, max_seq_length=SEQ, backend="reference", use_faiss=True
    )
    with_faiss.index(small.corpus)
    queries = list(small.queries.values())
    ids, scores = with_faiss.search(queries, 15)
    exact_ids, exact_scores = retriever.search(queries, 15)
    assert ids == exact_ids
    np.testing.assert_allclose(scores, exact_scores, atol=1e-5)


@pytest.mark.slow
def test_cache_key_follows_settings_and_corpus(counting_model, tmp_path) -> None:
    corpus = {f"d{i}": Document("", f"document number {i} about topic {i % 3}") for i in range(12)}
    def index(docs, **settings) -> int:
        """How many times the corpus was encoded (bf16 on a bf16 CPU bypasses ``encode_document``)."""
        calls = []

        class Counting(DenseRetriever):
            def encode(self, texts, *, is_query):
                calls.append(is_query)
                return super().encode(texts, is_query=is_query)

        Counting(counting_model, cache_dir=tmp_path, **settings).index(docs)
        return len(calls)

    assert index(corpus, max_seq_length=16, backend="reference") == 1
    assert index(corpus, max_seq_length=16, backend="reference") == 0
    assert index(corpus, max_seq_length=24, backend="reference") == 1
    assert index(corpus, max_seq_length=16, backend="bf16") == 1
    assert index({**corpus, "d0": Document("", "changed text")}, max_seq_length=16, backend="reference") == 1
    assert index(corpus, max_seq_length=16, backend="reference", use_cache=False) == 1
    assert len(list(tmp_path.glob("*.npy"))) == 4


def test_model_folder_fingerprint_tracks_files(tmp_path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    first = path_fingerprint(str(folder))
    assert path_fingerprint(str(folder)) == first
    os.utime(folder / "model.safetensors", ns=(1, 1))
    assert path_fingerprint(str(folder)) != first
    assert path_fingerprint("some/hub-name") == "name:some/hub-name"


def _tiny_beir(root: Path, full: BeirDataset) -> Path:
    small = _small_dataset(full, n_queries=4, n_docs=30)
    corpus = [{"_id": d, "title": doc.title, "text": doc.text} for d, doc in small.corpus.items()]
    queries = [{"_id": q, "text": t} for q, t in small.queries.items()]
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{s}\n" for q, j in small.qrels.items() for d, s in j.items()
    )
    return write_beir(root, corpus, queries, qrels)


@pytest.mark.slow
def test_cli_dense_retrieve_reuses_cache(tmp_path, slice_data) -> None:
    data = _tiny_beir(tmp_path / "beir", slice_data)
    args = [
        "retrieve",
        "--data",
        data,
        "--retriever",
        "dense",
        "--max-seq-length",
        "32",
        "--top-k",
        "5",
        "--cache-dir",
        tmp_path / "cache",
    ]
    first = run_cli(*args, "--out", tmp_path / "first.trec")
    assert first.returncode == 0, first.stderr
    (cached,) = (tmp_path / "cache").glob("*.npy")
    written = cached.stat().st_mtime_ns
    second = run_cli(*args, "--out", tmp_path / "second.trec")
    assert second.returncode == 0, second.stderr
    assert cached.stat().st_mtime_ns == written and len(list((tmp_path / "cache").glob("*.npy"))) == 1
    assert (tmp_path / "first.trec").read_text() == (tmp_path / "second.trec").read_text()
    assert all(len(docs) == 5 for docs in read_run(tmp_path / "first.trec").values())
    cached.write_bytes(b"")  # an empty cache file ended every later run in a bare "Aborted."
    healed = run_cli(*args, "--out", tmp_path / "third.trec")
    assert healed.returncode == 0 and f"embedding cache {cached} is unusable" in healed.stderr
    assert (tmp_path / "third.trec").read_text() == (tmp_path / "first.trec").read_text()
    assert np.load(cached).shape[0] == len(load_dataset(data, "train").corpus)
    cached.unlink()
    cached.mkdir()  # a folder in its place: removed and rebuilt, every time (it was "is a directory", exit 2)
    healed = run_cli(*args, "--out", tmp_path / "fourth.trec")
    assert healed.returncode == 0 and f"embedding cache {cached} is unusable" in healed.stderr, healed.stderr
    assert (tmp_path / "fourth.trec").read_text() == (tmp_path / "first.trec").read_text() and cached.is_file()
    bad = run_cli(
        "retrieve",
        "--data",
        data,
        "--retriever",
        "dense",
        "--model",
        tmp_path / "no-model",
        "--out",
        tmp_path / "x.trec",
    )
    assert bad.returncode == 2 and "cannot load encoder" in bad.stderr and not (tmp_path / "x.trec").exists()


@pytest.mark.slow
def test_cli_bm25_retrieve_dev_split(tmp_path, slice_data) -> None:
    out = tmp_path / "run.trec"
    done = run_cli(
        "retrieve", "--retriever", "bm25", "--split", "dev", "--dev-fraction", "0.25", "--top-k", "7", "--out", out
    )
    assert done.returncode == 0, done.stderr
    dev = load_dataset(None, "dev", 0.25, 0)
    run = read_run(out)
    assert list(run) == list(dev.queries) and all(len(docs) == 7 for docs in run.values())
    first = out.read_text().split("\n", 1)[0].split()
    assert first[1] == "Q0" and first[3] == "1" and first[5] == "syneg-bm25"


@pytest.mark.slow
def test_cli_retrieve_errors(tmp_path) -> None:
    done = run_cli("retrieve", "--retriever", "tfidf", "--out", tmp_path / "x.trec")
    assert done.returncode == 2 and "'--retriever'" in done.stderr and "'tfidf' is not one of" in done.stderr
    done = run_cli("retrieve", "--retriever", "bm25", "--model", "m", "--out", tmp_path / "x.trec")
    assert done.returncode == 2 and "dense only" in done.stderr
    done = run_cli("retrieve", "--split", "test", "--out", tmp_path / "x.trec")
    assert done.returncode == 2 and "unknown split 'test'" in done.stderr
    assert not (tmp_path / "x.trec").exists()


@pytest.mark.slow
def test_run_tag_with_whitespace_is_refused(tmp_path):
    out = tmp_path / "run.trec"
    _assert_cli_error(run_cli("retrieve", "--tag", "my run", "--out", out), "run tag 'my run'")
    assert not out.exists()
