"""Per-sequence sampling for the batched llama.cpp engine, with the grammar checked lazily.

Same samplers, settings and order as llama-cpp-python's ``create_chat_completion`` (repeat penalty,
grammar, top-k 40, typical 1.0, top-p 0.95, min-p 0.05, temperature, seeded draw; greedy at
temperature 0). The grammar is first asked only about the token drawn without it; when it refuses
that token the draw is repeated over the whole vocabulary with the grammar applied first.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

from syneg.synthesis.backends.base import Sampling

TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
PENALTY_LAST_N = 64  # llama-cpp-python's last_n_tokens_size
TOP_K, TYPICAL_P, TOP_P, MIN_P = 40, 1.0, 0.95, 0.05


class SequenceSampler:
    """Draw the next token of one sequence from its logits; ``accept`` the token that was kept."""

    def __init__(self, lib, vocab, n_vocab: int, sampling: Sampling, grammar: str | None) -> None:
        self._lib = lib
        # llama-cpp-python passes n_vocab first, as here, so penalties behave as in its own path
        self._penalty = lib.llama_sampler_init_penalties(n_vocab, PENALTY_LAST_N, sampling.repeat_penalty or 1.0,
                                                         0.0, 0.0)
        self._grammar = lib.llama_sampler_init_grammar(vocab, grammar.encode(), b"root") if grammar else None
        self._tail = self._chain(sampling)
        self._data = np.zeros(n_vocab, dtype=TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.intc)
        self._one = np.zeros(1, dtype=TOKEN_DATA)
        self.draws = self.grammar_fallbacks = 0

    def _chain(self, sampling: Sampling):
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if sampling.temperature == 0:
            parts = [lib.llama_sampler_init_greedy()]
        else:
            parts = [lib.llama_sampler_init_top_k(TOP_K), lib.llama_sampler_init_typical(TYPICAL_P, 1),
                     lib.llama_sampler_init_top_p(TOP_P, 1), lib.llama_sampler_init_min_p(MIN_P, 1),
                     lib.llama_sampler_init_temp(sampling.temperature),
                     lib.llama_sampler_init_dist(sampling.seed & 0xFFFFFFFF)]
        for part in parts:
            lib.llama_sampler_chain_add(chain, part)
        return chain

    def sample(self, logits: np.ndarray) -> int:
        """The next token (not yet accepted)."""
        self.draws += 1
        token = self._draw(logits, with_grammar=False)
        if self._grammar is not None and not self._allowed(token, logits):
            self.grammar_fallbacks += 1
            token = self._draw(logits, with_grammar=True)
        return token

    def accept(self, token: int) -> None:
        for sampler in (self._penalty, self._grammar, self._tail):
            if sampler is not None:
                self._lib.llama_sampler_accept(sampler, token)

    def free(self) -> None:
        for sampler in (self._penalty, self._grammar, self._tail):
            if sampler is not None:
                self._lib.llama_sampler_free(sampler)
        self._penalty = self._grammar = self._tail = None

    def _draw(self, logits: np.ndarray, with_grammar: bool) -> int:
        data = self._data
        data["id"], data["logit"], data["p"] = self._ids, logits, 0.0
        array = self._array(data)
        self._lib.llama_sampler_apply(self._penalty, ctypes.byref(array))
        if with_grammar:
            self._lib.llama_sampler_apply(self._grammar, ctypes.byref(array))
        self._lib.llama_sampler_apply(self._tail, ctypes.byref(array))
        return int(array.data[array.selected].id)

    def _allowed(self, token: int, logits: np.ndarray) -> bool:
        one = self._one
        one["id"], one["logit"], one["p"] = token, logits[token], 0.0
        array = self._array(one)
        self._lib.llama_sampler_apply(self._grammar, ctypes.byref(array))
        return not math.isinf(float(array.data[0].logit))

    def _array(self, data: np.ndarray):
        lib = self._lib
        pointer = data.ctypes.data_as(ctypes.POINTER(lib.llama_token_data))
        return lib.llama_token_data_array(data=pointer, size=len(data), selected=-1, sorted=False)
