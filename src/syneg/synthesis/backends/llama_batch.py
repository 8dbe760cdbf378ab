"""Continuous batching over one llama.cpp context: every active call decodes in the same ``llama_decode``.

One engine thread owns the context. Calls queue up (:meth:`BatchEngine.submit`); each step admits
queued calls into free sequence slots, feeds their prompt tokens and the last sampled token of every
running call to one ``llama_decode``, samples each sequence, and resolves a call's future the moment
its sequence ends, so a finished call never waits for the rest of its batch.

- **Shared prefix.** Calls share their system and demonstration turns. The engine keeps those
  tokens decoded once in a holder sequence and copies their KV cells into each new sequence
  (``llama_memory_seq_cp``); every sequence has its own KV stream, so attention spans only its
  own tokens.
- **Grammar, lazily.** The JSON-schema grammar is checked only against the token sampled without it;
  the whole vocabulary goes through the grammar only when that token is not allowed (what
  llama.cpp's own ``common_sampler`` does). Every kept token obeys the grammar either way.
- **Sampling** is per sequence and seeded per call, with llama-cpp-python's defaults and order:
  repeat penalty, grammar, top-k 40, typical 1.0, top-p 0.95, min-p 0.05, temperature, seeded draw.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from syneg.synthesis.backends.base import BackendError, Completion, Sampling
from syneg.synthesis.backends.llama_sampling import SequenceSampler

PREFIX_MIN = 16  # shorter shared prefixes are not worth a holder sequence


def decode(lib, ctx, batch, entries: list[tuple[int, int, int, bool]]) -> dict[int, int]:
    """One ``llama_decode`` of (seq, token, pos, wants_logits) entries; returns seq -> row of its logits."""
    rows = {}
    for i, (seq_id, token, pos, logits) in enumerate(entries):
        batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
        batch.seq_id[i][0], batch.logits[i] = seq_id, logits
        if logits:
            rows[seq_id] = i
    batch.n_tokens = len(entries)
    status = lib.llama_decode(ctx, batch)
    if status != 0:
        raise RuntimeError(f"llama_decode returned {status}")
    return rows


@dataclass
class Request:
    """One call: its prompt tokens, sampling, grammar (GBNF) and the future that gets its completion."""

    tokens: list[int]
    prefix: list[int]  # tokens of the call's shared turns (a prefix of ``tokens``)
    sampling: Sampling
    grammar: str | None
    future: Future = field(default_factory=Future)


@dataclass
class _Sequence:
    request: Request
    seq_id: int
    sampler: SequenceSampler
    pending: list[int]  # tokens still to feed
    pos: int  # position of the next fed token
    started: float
    out: list[int] = field(default_factory=list)


class BatchEngine:
    """Decode up to ``slots`` calls at once in one llama.cpp context owned by a background thread."""

    def __init__(self, llm, slots: int, threads: int, n_ctx_per_slot: int = 2048) -> None:
        import llama_cpp

        self._lib, self._llm, self.slots, self.n_ctx_per_slot = llama_cpp, llm, slots, n_ctx_per_slot
        self.n_ctx = n_ctx_per_slot * (slots + 1)  # one KV stream per slot, + the holder of the shared prefix
        params = llama_cpp.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = self.n_ctx, self.n_ctx, 512
        params.n_seq_max, params.kv_unified = slots + 1, False
        params.n_threads = params.n_threads_batch = threads
        params.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(llm.model, params)
        if not self._ctx:
            raise BackendError("llama.cpp could not create a batched context", "backend_error", transient=False)
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_ctx, 0, 1)
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._n_vocab = llm.n_vocab()
        self._holder: list[int] = []  # tokens held in sequence ``slots`` (the shared prefix)
        self._queue: queue.Queue[Request | None] = queue.Queue()
        self._active: dict[int, _Sequence] = {}
        self._steps = self._stepped = self._draws = self._fallbacks = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="syneg-llama-batch", daemon=True)
        self._thread.start()

    def submit(self, request: Request) -> Future:
        """Queue ``request``; its future resolves to a Completion or raises BackendError."""
        if self._closed:
            raise BackendError("the llama.cpp engine is closed", "backend_error")
        self._queue.put(request)
        return request.future

    def close(self) -> None:
        """Stop the thread (failing queued calls) and free the context."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        self._lib.llama_batch_free(self._batch)
        self._lib.llama_free(self._ctx)

    # -- engine thread -------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._closed:
            self._admit(block=not self._active)
            if not self._active:
                continue
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001 - the calls in flight fail (transient); the engine goes on
                self._fail_active(BackendError(f"llama.cpp decode failed: {type(exc).__name__}: {exc}", "backend_error"))
        self._fail_active(BackendError("the llama.cpp engine was closed", "backend_error"))
        self._fail_queued(BackendError("the llama.cpp engine was closed", "backend_error"))

    def _admit(self, block: bool) -> None:
        """Move queued calls into free slots; a call whose worst case does not fit a slot fails (bad_request)."""
        while len(self._active) < self.slots:
            try:
                request = self._queue.get(block=block, timeout=0.5 if block else None)
            except queue.Empty:
                return
            if request is None or not request.future.set_running_or_notify_cancel():
                return
            block = False
            need = len(request.tokens) + request.sampling.max_tokens
            if need > self.n_ctx_per_slot:
                request.future.set_exception(BackendError(
                    f"prompt ({len(request.tokens)} tokens) + max_tokens ({request.sampling.max_tokens}) do not fit "
                    f"the {self.n_ctx_per_slot} tokens of a batch slot", "bad_request", transient=False))
                continue
            self._start(request)

    def _start(self, request: Request) -> None:
        seq_id = next(i for i in range(self.slots) if i not in self._active)
        shared = self._share_prefix(request)
        if shared:  # the holder's whole stream is copied: cells past this call's prefix (a longer, re-asked
            # conversation's turns) are dropped, or its first fed token would not follow its last cell
            self._lib.llama_memory_seq_cp(self._mem, self.slots, seq_id, -1, -1)
            self._lib.llama_memory_seq_rm(self._mem, seq_id, shared, -1)
        sampler = SequenceSampler(self._lib, self._vocab, self._n_vocab, request.sampling, request.grammar)
        self._active[seq_id] = _Sequence(request, seq_id, sampler, request.tokens[shared:], shared,
                                         time.perf_counter())

    def _share_prefix(self, request: Request) -> int:
        """How many leading prompt tokens come from the holder (refilled when the call's prefix changed)."""
        prefix = request.prefix[: len(request.tokens) - 1]  # at least one token must be fed for logits
        if len(prefix) < PREFIX_MIN:
            return 0
        if self._holder[: len(prefix)] != prefix:
            self._lib.llama_memory_seq_rm(self._mem, self.slots, -1, -1)
            self._holder = []
            self._decode([(self.slots, token, pos, False) for pos, token in enumerate(prefix)])
            self._holder = list(prefix)
        return len(prefix)

    def _step(self) -> None:
        """One ``llama_decode`` over every active sequence, then one sampled token each."""
        for seq in list(self._active.values()):
            if seq.request.future.cancelled():
                self._finish(seq)
        entries = []
        for seq in self._active.values():
            feed = seq.pending if seq.pending else seq.out[-1:]
            for offset, token in enumerate(feed):
                entries.append((seq.seq_id, token, seq.pos + offset, offset == len(feed) - 1))
            seq.pos += len(feed)
            seq.pending = []
        if not entries:
            return
        rows = self._decode(entries)
        self._steps, self._stepped = self._steps + 1, self._stepped + len(rows)
        for seq_id, row in rows.items():
            seq = self._active[seq_id]
            logits = np.ctypeslib.as_array(self._lib.llama_get_logits_ith(self._ctx, row), shape=(self._n_vocab,))
            token = seq.sampler.sample(logits)
            self._advance(seq, token)

    def _advance(self, seq: _Sequence, token: int) -> None:
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            self._complete(seq, "stop")
            return
        seq.sampler.accept(token)
        seq.out.append(token)
        if len(seq.out) >= seq.request.sampling.max_tokens:
            self._complete(seq, "length")

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> dict[int, int]:
        return decode(self._lib, self._ctx, self._batch, entries)

    def _complete(self, seq: _Sequence, finish_reason: str) -> None:
        text = self._llm.detokenize(seq.out).decode("utf-8", errors="replace")
        usage = {"prompt_tokens": len(seq.request.tokens), "completion_tokens": len(seq.out)}
        if not seq.request.future.cancelled():
            seq.request.future.set_result(Completion(text, finish_reason, usage, time.perf_counter() - seq.started))
        self._finish(seq)

    def _finish(self, seq: _Sequence) -> None:
        self._lib.llama_memory_seq_rm(self._mem, seq.seq_id, -1, -1)
        self._draws, self._fallbacks = self._draws + seq.sampler.draws, self._fallbacks + seq.sampler.grammar_fallbacks
        seq.sampler.free()
        del self._active[seq.seq_id]

    def _fail_active(self, error: BackendError) -> None:
        for seq in list(self._active.values()):
            if not seq.request.future.done():
                seq.request.future.set_exception(error)
            self._finish(seq)
        self._lib.llama_memory_clear(self._mem, True)
        self._holder = []

    def _fail_queued(self, error: BackendError) -> None:
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                return
            if request is not None and request.future.set_running_or_notify_cancel():
                request.future.set_exception(error)

    def stats(self) -> dict[str, object]:
        """Steps decoded, mean sequences per step, and draws that needed the grammar over the whole vocabulary."""
        return {"steps": self._steps, "mean_sequences_per_step": round(self._stepped / self._steps, 2) if self._steps else 0,
                "grammar_fallbacks": self._fallbacks, "grammar_checks": self._draws}
