"""The fused bf16 CPU encoding path: same tokens, same embeddings (to bf16 noise), its own cache key."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from syneg.data import Document, load_beir
from syneg.models import fresh_encoder, load_encoder
from syneg.retrieval import fast_encode as fast
from syneg.retrieval.dense import DenseRetriever
from syneg.retrieval.encode import encode_with
from syneg.retrieval.fused import FusedAddNorm, FusedLinear, fused_bf16_copy, fused_kernels_available
from syneg.retrieval.seqlen import seq_length

needs_fused = pytest.mark.skipif(not fused_kernels_available(), reason="CPU without native bf16 / oneDNN kernel")


@pytest.fixture(scope="module")
def texts(slice_dir) -> list[str]:
    ds = load_beir(slice_dir, "train")
    docs = [ds.doc_text(d) for d in sorted(ds.corpus)[:150]]
    return docs + ["short", "nospacesatall" * 40, "", "Ünïcödé  café " * 30,
                    ("x" * 120 + " ") * 5] + list(ds.queries.values())[:60]  # the "x" text: the prefix falls short


@pytest.mark.slow
@pytest.mark.parametrize("cap", [16, 64])
def test_prefix_features_equal_whole_text_features(texts, cap) -> None:
    model = load_encoder(None)
    with seq_length(model, cap):
        for start in range(0, len(texts), 32):
            batch = texts[start:start + 32]
            whole, cut = model.preprocess(batch), fast._features(model, batch, cap, prefixes=True)
            assert whole.keys() == cut.keys()
            for key, value in whole.items():
                assert torch.equal(value, cut[key]) if isinstance(value, torch.Tensor) else value == cut[key], key
    assert fast.token_prefix("a b c", 0) == "a" and fast.token_prefix("abc", 0) == "abc"
    assert fast._splits_on_spaces(model)


@pytest.mark.slow
@needs_fused
def test_fast_encode_matches_autocast_encoding(texts) -> None:
    model = load_encoder(None)
    ours = fast.fast_encode(model, texts, batch_size=16, max_seq_length=64)
    with seq_length(model, 64), torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        theirs = model.encode_document(texts, batch_size=16, convert_to_tensor=True)
    theirs = torch.nn.functional.normalize(theirs.float(), dim=-1).numpy()
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * theirs).sum(axis=1).min() > 0.999  # same embeddings up to bf16 rounding
    again = encode_with(model, texts[::-1], batch_size=7, max_seq_length=64, backend="fused")
    np.testing.assert_allclose(again[::-1], ours, atol=2e-2)  # order and batching only move bf16 noise
    assert (again[::-1] * ours).sum(axis=1).min() > 0.9995


@pytest.mark.slow
@needs_fused
def test_padded_lengths_share_shapes_and_keep_the_embeddings(texts) -> None:
    model = load_encoder(None)
    fused = fused_bf16_copy(model)
    with seq_length(fused, 64):
        batch = fast._features(fused, [text[:50] for text in texts[:20]], 64, prefixes=True)  # short rows
    length = batch["input_ids"].shape[1]
    assert length % fast.LENGTH_STEP  # the test pads something
    padded = fast._pad_length(batch, 64, 0)
    assert padded["input_ids"].shape[1] % fast.LENGTH_STEP == 0 and padded["input_ids"].shape[1] >= length
    assert fast._pad_length(batch, length, 0)["input_ids"].shape[1] == length  # never beyond the cap
    assert torch.equal(padded["attention_mask"][:, :length], batch["attention_mask"])
    with torch.inference_mode():
        a, b = (fused(dict(f))["sentence_embedding"].float() for f in (batch, padded))
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.9999


@pytest.mark.slow
@needs_fused
def test_token_batches_group_by_token_count_and_keep_every_text(texts) -> None:
    fused = fused_bf16_copy(load_encoder(None))
    with seq_length(fused, 64):
        order, batches = fast._token_batches(fused, texts, 16, 64, prefixes=True)
        whole = fused.preprocess(texts)
    assert sorted(order.tolist()) == list(range(len(texts)))
    lengths = whole["attention_mask"].sum(dim=1).clamp(max=64)
    rows = [batch["attention_mask"].sum(dim=1) for batch in batches]
    assert torch.equal(torch.cat(rows), lengths[torch.from_numpy(order)])  # each row holds its own text's tokens
    longest = [int(r.max()) for r in rows]
    assert longest == sorted(longest, reverse=True)  # one window here: batches in descending token count
    assert all(b["input_ids"].shape[1] == min(64, -(-n // fast.LENGTH_STEP) * fast.LENGTH_STEP)
               for b, n in zip(batches, longest))


@pytest.mark.slow
@needs_fused
def test_fused_copy_runs_bert_output_blocks_on_a_bf16_stream_and_pools_fp32(texts) -> None:
    model = load_encoder(None)
    fused = fused_bf16_copy(model)
    blocks = [m for m in fused.modules() if isinstance(m, FusedAddNorm)]
    assert len(blocks) == 12 and [b.last for b in blocks] == [False] * 11 + [True]  # 6 layers x 2 blocks
    with seq_length(fused, 64), torch.inference_mode():
        out = fused(dict(fused.preprocess(texts[:8])))
    assert out["token_embeddings"].dtype == torch.float32
    reference = model[0].auto_model.encoder.layer[0].output  # the model's own block is untouched
    assert type(reference).__name__ == "BertOutput" and reference.LayerNorm.weight.dtype == torch.float32


@pytest.mark.slow
@needs_fused
def test_fused_copy_leaves_the_model_alone_and_follows_its_weights() -> None:
    model = fresh_encoder(None)
    before = {name: p.clone() for name, p in model.named_parameters()}
    fused = fused_bf16_copy(model)
    assert all(p.dtype == torch.float32 and torch.equal(p, before[n]) for n, p in model.named_parameters())
    layers = [m for m in fused.modules() if isinstance(m, FusedLinear)]
    assert layers and not any(isinstance(m, torch.nn.Linear) for m in fused.modules())
    assert not any(isinstance(m, FusedLinear) for m in model.modules())  # the model's own tree is untouched
    assert sum(m.attr == "gelu" for m in layers) == model[0].auto_model.config.num_hidden_layers
    first = fast.fast_encode(model, ["vitamin d and bones"], batch_size=4, max_seq_length=32)
    for layer in model.modules():  # in place, as optimizers do, without bumping the version counters
        if isinstance(layer, torch.nn.Linear):
            layer.weight.data.mul_(-1.0)
    flipped = fast.fast_encode(model, ["vitamin d and bones"], batch_size=4, max_seq_length=32)
    assert float((first * flipped).sum()) < 0.99


@pytest.mark.slow
@needs_fused
def test_fused_copy_runs_its_own_layers_when_a_trainer_wrapped_forward(texts) -> None:
    """Trainers (accelerate under mixed precision) put a ``forward`` bound to the model on the instance."""
    import types

    from accelerate.utils import convert_outputs_to_fp32

    expected = fast.fast_encode(fresh_encoder(None), texts[:16], batch_size=8, max_seq_length=32)
    model = fresh_encoder(None)
    model.forward = types.MethodType(convert_outputs_to_fp32(type(model).forward), model)
    model.train()  # dropout on: running the model instead of the copy gives other embeddings
    wrapped = fast.fast_encode(model, texts[:16], batch_size=8, max_seq_length=32)
    np.testing.assert_allclose(wrapped, expected, atol=1e-6)


@pytest.mark.slow
@needs_fused
def test_cache_key_names_the_kernels(tmp_path, monkeypatch) -> None:
    corpus = {f"d{i}": Document("", f"document number {i} about topic {i % 3}") for i in range(12)}
    encoded = []

    class Counting(DenseRetriever):
        def encode(self, texts, *, is_query):
            encoded.append(is_query)
            return super().encode(texts, is_query=is_query)

    model = load_encoder(None)
    fused = Counting(model, cache_dir=tmp_path, max_seq_length=16, backend="fused")
    fused.index(corpus)
    Counting(model, cache_dir=tmp_path, max_seq_length=16, backend="fused").index(corpus)
    assert encoded == [False]  # the second index came from the cache
    monkeypatch.setattr(fast, "fused_kernels_available", lambda: False)  # autocast numerics: another key
    autocast = Counting(model, cache_dir=tmp_path, max_seq_length=16, backend="fused")
    autocast.index(corpus)
    assert encoded == [False, False] and len(list(tmp_path.glob("*.npy"))) == 2
    assert (fused.doc_embeddings * autocast.doc_embeddings).sum(dim=1).min() > 0.999


@pytest.mark.slow
def test_score_reuses_the_query_embeddings_of_the_last_search(tmp_path) -> None:
    corpus = {f"d{i}": Document("", f"document number {i} about topic {i % 3}") for i in range(12)}
    retriever = DenseRetriever(load_encoder(None), cache_dir=tmp_path, max_seq_length=16)
    retriever.index(corpus)
    queries = ["topic 1", "number 4", "topic 1"]
    ids, scores = retriever.search(queries, 3)
    encoded: list[list[str]] = []
    plain_encode = retriever.encode
    retriever.encode = lambda texts, *, is_query: encoded.append(texts) or plain_encode(texts, is_query=is_query)
    assert retriever.score(queries, [row[:2] for row in ids]) == [pytest.approx(row[:2], abs=1e-6) for row in scores]
    assert encoded == []
    retriever.score(["a new query", "topic 1", "a new query"], [["d1"], ["d2"], ["d3"]])
    assert encoded == [["a new query"]]  # only the text the last search did not encode, once
    assert retriever.score([], []) == []


@needs_fused
@pytest.mark.slow
def test_architectures_the_fused_path_is_not_tested_on_encode_under_autocast(texts) -> None:
    """mpnet (MPNetModel) crashed in the fused path (fp32 attention bias against bf16 values); it falls back."""
    from syneg.errors import MissingExtraError
    from syneg.teacher.packaged import mpnet_parts

    try:
        mpnet_parts()
    except MissingExtraError:
        pytest.skip("the mpnet packages are not installed (pip install 'syneg[teacher]')")
    model = load_encoder("mpnet")
    assert fast.uses_fast_path(load_encoder(None)) and not fast.uses_fast_path(model)
    bf16, fp32 = (encode_with(model, texts[:8], max_seq_length=64, backend=b) for b in ("fused", "reference"))
    assert bf16.shape == (8, 768) and np.abs(bf16 - fp32).max() < 0.05


@pytest.mark.slow
def test_reference_backend_is_sentence_transformers_own_encode(texts) -> None:
    """The default backend: ``encode_document``/``encode_query`` in fp32, nothing else."""
    model = load_encoder(None)
    ours = encode_with(model, texts[:40], batch_size=8)
    theirs = model.encode_document(texts[:40], batch_size=8, normalize_embeddings=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    queries = encode_with(model, texts[-5:], batch_size=8, is_query=True, max_seq_length=32)
    with seq_length(model, 32):
        expected = model.encode_query(texts[-5:], batch_size=8, normalize_embeddings=True)
    np.testing.assert_allclose(queries, expected, atol=1e-6)
    assert model.max_seq_length == 256  # the shared model keeps its own length


@pytest.mark.slow
def test_reference_backend_ignores_a_trainers_autocast_forward(texts) -> None:
    """A model in bf16 training carries accelerate's autocast ``forward``; evaluation must still be fp32."""
    import types

    model = fresh_encoder(None)
    expected = encode_with(model, texts[:16], batch_size=8, max_seq_length=32)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16)
    model.forward = types.MethodType(autocast(type(model).forward), model)
    model.train()
    np.testing.assert_allclose(encode_with(model, texts[:16], batch_size=8, max_seq_length=32), expected, atol=1e-6)
    assert not np.allclose(encode_with(model, texts[:16], batch_size=8, max_seq_length=32, backend="bf16"),
                           expected, atol=1e-4)  # the backend alone sets the numerics


def test_unknown_backend_is_refused() -> None:
    from syneg.errors import SynegError
    from syneg.retrieval.encode import encoder_for

    with pytest.raises(SynegError, match="encode backend must be one of reference, bf16, fp16, fused"):
        encoder_for("auto")


@pytest.mark.slow
def test_fused_path_falls_back_with_one_log_line(monkeypatch, caplog) -> None:
    model = load_encoder(None)
    monkeypatch.setattr(fast, "fused_kernels_available", lambda: False)
    fast._note_fallback.cache_clear()
    with caplog.at_level("INFO", logger=fast.__name__):
        assert not fast.uses_fast_path(model) and not fast.uses_fast_path(model)
    lines = [r.getMessage() for r in caplog.records if r.name == fast.__name__]
    assert len(lines) == 1 and "bf16 autocast" in lines[0]


def test_the_encoders_form_no_import_cycle() -> None:
    """encode chooses the path and imports fast_encode; fast_encode and fused never import encode."""
    import ast
    import inspect

    from syneg.retrieval import fused

    for module in (fast, fused):
        tree = ast.parse(inspect.getsource(module))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
        assert not any(name and name.startswith("syneg.retrieval.encode") for name in imported), module.__name__
