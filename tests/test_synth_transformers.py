"""The transformers backend on a tiny, randomly initialised Llama built offline (own word-level tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syneg.config import SynthesizeConfig
from syneg.data import load_dataset
from syneg.synthesis import synthesize

CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    import torch

    words = '{ } " : , reasoning passage the a of query vitamin bone cancer cells study'.split()
    vocab = {tok: i for i, tok in enumerate(["<unk>", "<pad>", "<eos>", *words])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.decoder = tokenizers.decoders.WordPiece(prefix="##")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                                eos_token="<eos>")
    fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                      max_position_embeddings=4096, eos_token_id=2, pad_token_id=1, bos_token_id=None)
    folder = tmp_path_factory.mktemp("tiny-llama")
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def test_transformers_backend_generates_seeded_and_fails_cleanly(tiny_model, tmp_path):
    dataset = load_dataset(None, "train")
    config = SynthesizeConfig(backend="transformers", model=str(tiny_model), mode="free", limit=1, max_tokens=16,
                              guard=False)
    runs = []
    for name in ("a", "b"):
        stats = synthesize(dataset, config, tmp_path / f"{name}.jsonl", progress=False)
        failed = [json.loads(line) for line in (tmp_path / f"{name}.jsonl.failed.jsonl").read_text().splitlines()]
        runs.append((stats, failed))
    stats, failed = runs[0]
    assert stats["model"] == f"transformers:{tiny_model.name}" and stats["kept"] == 0
    # random weights never write the schema: truncation is widened once, bad JSON re-asked once
    assert stats["run"]["calls"] >= 2 and stats["run"]["tokens"]["completion_tokens"] > 0
    assert failed[0]["stage"] == "call" and failed[0]["reason"] in {"truncated", "unparseable"}
    assert runs[1][1][0]["raw"] == failed[0]["raw"]  # same seed, same sample


def test_transformers_batches_give_the_greedy_replies_of_one_at_a_time(tiny_model, tmp_path):
    dataset = load_dataset(None, "train")
    raws = {}
    for batch_size in (1, 4):
        config = SynthesizeConfig(backend="transformers", model=str(tiny_model), mode="free", limit=4, max_tokens=16,
                                  guard=False, temperature=0.0, batch_size=batch_size)
        stats = synthesize(dataset, config, tmp_path / f"{batch_size}.jsonl", progress=False)
        assert stats["run"]["backend"] == {"batch_size": batch_size}
        failed = (tmp_path / f"{batch_size}.jsonl.failed.jsonl").read_text().splitlines()
        raws[batch_size] = {row["key"]: row.get("raw") for row in map(json.loads, failed)}
    assert len(raws[1]) == 4 and raws[4] == raws[1]  # left padding changes nothing in a reply
