"""bf16 CPU encoding without the waste: fused kernels, tokenizing only what is kept, both cores busy.

What ``SentenceTransformer.encode`` under bf16 autocast spends beyond the model's arithmetic, and
what this path does instead (same texts, same order of operations per text, same outputs up to
bf16 rounding):

- the fast tokenizer normalizes and splits each *whole* text, then truncation throws most of it
  away (a SciFact abstract is ~10x ``max_seq_length`` 64): texts are cut to a prefix ending before
  a space, long enough for ``max_seq_length`` tokens, and re-tokenized whole when it falls short;
- autocast casts activations around every linear layer and runs GELU as a separate pass:
  :func:`~syneg.retrieval.fused.fused_bf16_copy` runs bf16 weights with fused kernels;
- sorting by characters pads short texts (queries) by about a quarter: batches group texts by token
  count;
- one batch at a time keeps two cores in lock-step on small kernels: batches run on two threads
  with one core each.
"""

from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from syneg import progress
from syneg.retrieval.fused import fused_bf16_copy, fused_kernels_available, intra_op_threads
from syneg.retrieval.seqlen import seq_length

CHARS_PER_TOKEN = 8  # prefix length per kept token; WordPiece averages ~4-5 characters per token
LENGTH_STEP = 8  # batches are padded to a multiple of this many tokens, so batches share kernel shapes
WINDOW_BATCHES = 16  # texts are grouped by token count within windows of this many batches
FAST_PATH = "fused-bf16-v3"  # names the numerics of this path (part of embedding cache keys)

log = logging.getLogger(__name__)


FUSED_ARCHITECTURES = ("BertModel",)  # transformer classes the fused path is tested on (MiniLM)


def uses_fast_path(model: Any) -> bool:
    """True when :func:`fast_encode` handles this model: on a bf16-capable CPU, a model without prompts whose
    transformer is in :data:`FUSED_ARCHITECTURES`. Otherwise the ``fused`` backend runs under bf16 autocast
    and says why in one log line."""
    prompts = getattr(model, "prompts", None) or {}
    architecture = type(getattr(model[0], "auto_model", None)).__name__
    if model.device.type != "cpu" or not fused_kernels_available():
        reason = f"the device is {model.device.type}" if model.device.type != "cpu" else \
            "this CPU or torch lacks native bf16 oneDNN kernels"
    elif any(prompts.values()):
        reason = "the model has prompts"
    elif architecture not in FUSED_ARCHITECTURES:
        reason = f"they are tested on {', '.join(FUSED_ARCHITECTURES)} only, not {architecture}"
    else:
        return True
    _note_fallback(reason)
    return False


@functools.cache
def _note_fallback(reason: str) -> None:
    log.info("encode backend fused: %s, so it encodes under bf16 autocast", reason)


def _splits_on_spaces(model: Any) -> bool:
    """True for tokenizers whose tokens never span a space (BERT's pre-tokenizer), where prefixes are safe."""
    backend = getattr(getattr(model, "tokenizer", None), "backend_tokenizer", None)
    return type(getattr(backend, "pre_tokenizer", None)).__name__ == "BertPreTokenizer"


def token_prefix(text: str, max_tokens: int) -> str:
    """``text`` cut before the first space after ``max_tokens * CHARS_PER_TOKEN`` characters (else whole)."""
    cut = text.find(" ", max_tokens * CHARS_PER_TOKEN)
    return text if cut < 0 else text[:cut]


def _features(model: Any, texts: list[str], max_tokens: int, prefixes: bool) -> dict[str, torch.Tensor]:
    """``model.preprocess`` of one batch, tokenizing prefixes where that gives the same tokens.

    A prefix ends before a space, so its tokens are the first tokens of the text; when it fills
    ``max_tokens`` (the row is at the cap) truncation keeps exactly what the whole text gives.
    """
    if not prefixes:
        return model.preprocess(texts)
    cut = [token_prefix(text, max_tokens) for text in texts]
    features = model.preprocess(cut)
    lengths = features["attention_mask"].sum(dim=1).tolist()
    short = [i for i, (text, part) in enumerate(zip(texts, cut)) if part is not text and lengths[i] < max_tokens]
    if short:
        for i in short:
            cut[i] = texts[i]
        features = model.preprocess(cut)
    return features


def _pad_length(features: dict[str, torch.Tensor], cap: int, pad_id: int) -> dict[str, torch.Tensor]:
    """Token rows padded (masked) to a multiple of :data:`LENGTH_STEP`, at most ``cap``.

    oneDNN builds kernels for every new input shape, which costs as much as running a small
    batch; with lengths in steps the batches of a run reuse a few shapes. Padding is masked in
    attention and pooling, so embeddings change only by rounding.
    """
    length = features["input_ids"].shape[1]
    wanted = max(length, min(cap, -(-length // LENGTH_STEP) * LENGTH_STEP))
    if wanted == length:
        return features
    return {name: torch.nn.functional.pad(value, (0, wanted - length), value=pad_id if name == "input_ids" else 0)
            if isinstance(value, torch.Tensor) and value.dim() == 2 else value for name, value in features.items()}


def _rows(features: dict[str, Any], rows: torch.Tensor, left_padded: bool) -> dict[str, Any]:
    """The given rows of a tokenized window, without the padding columns none of them needs."""
    longest = int(features["attention_mask"][rows].sum(dim=1).max())
    columns = slice(-longest, None) if left_padded else slice(0, longest)
    return {name: value[rows, columns] if isinstance(value, torch.Tensor) and value.dim() == 2 else value
            for name, value in features.items()}


def _token_batches(
    fused: Any, texts: list[str], batch_size: int, cap: int, prefixes: bool
) -> tuple[np.ndarray, list[dict[str, torch.Tensor]]]:
    """Batches of texts with similar token counts (less padding than sorting by characters), and the order
    of ``texts`` they hold. Texts are sorted by characters, then by tokens within windows of
    :data:`WINDOW_BATCHES` batches, so only one window is tokenized at a time."""
    pad_id = getattr(fused.tokenizer, "pad_token_id", None) or 0
    left_padded = getattr(fused.tokenizer, "padding_side", "right") == "left"
    by_chars = np.argsort([-len(text) for text in texts], kind="stable")  # longest first, as sentence-transformers
    order, batches = [], []
    for start in range(0, len(texts), batch_size * WINDOW_BATCHES):
        window = by_chars[start:start + batch_size * WINDOW_BATCHES]
        features = _features(fused, [texts[i] for i in window], cap, prefixes)
        by_tokens = torch.argsort(-features["attention_mask"].sum(dim=1), stable=True)
        order.extend(window[by_tokens.numpy()])
        batches.extend(_pad_length(_rows(features, by_tokens[first:first + batch_size], left_padded), cap, pad_id)
                       for first in range(0, len(window), batch_size))
    return np.asarray(order, dtype=np.int64), batches


def fast_encode(
    model: Any, texts: list[str], *, batch_size: int, max_seq_length: int | None, show_progress: bool = False
) -> np.ndarray:
    """L2-normalized float32 embeddings of ``texts`` (order kept), computed with the fused bf16 copy."""
    fused = fused_bf16_copy(model)
    with seq_length(fused, max_seq_length or model.max_seq_length):  # the tokenizer is shared with ``model``
        order, batches = _token_batches(fused, texts, batch_size, fused.max_seq_length, _splits_on_spaces(fused))

    def run(features: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.inference_mode():
            return fused(features)["sentence_embedding"].float()

    workers = 2 if torch.get_num_threads() >= 2 and len(batches) > 1 else 1
    with intra_op_threads(max(1, torch.get_num_threads() // workers)), ThreadPoolExecutor(workers) as pool:
        done = progress.bar(pool.map(run, batches), show=show_progress, total=len(batches), desc="Batches")
        embeddings = torch.cat(list(done))
    unsorted = torch.empty_like(embeddings)
    unsorted[torch.from_numpy(order)] = embeddings
    return torch.nn.functional.normalize(unsorted, dim=-1).numpy()
