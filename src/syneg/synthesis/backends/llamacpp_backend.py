"""In-process llama-cpp-python with JSON-schema grammar; the default (packaged SmolLM2, offline)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from syneg._optional import check_installed, require
from syneg.errors import SynegError
from syneg.hardware import available_cores
from syneg.synthesis.backends.base import ChatBackend, Completion, Sampling
from syneg.synthesis.backends.probe import ensure_llama_cpp_works

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig
    from syneg.synthesis.backends.llama_batch import BatchEngine

PROMPT_TOKENS = 1024  # room for a prompt in a batch slot (syneg's prompts are about 500-800 tokens)
GGUF_MAGIC = b"GGUF"
GGUF_HEADER_BYTES = 24  # magic, version (uint32), tensor count and metadata count (uint64 each)


def _gguf(model: str | Path | None) -> Path:
    """The GGUF file: the given path, or the packaged SmolLM2."""
    from syneg.models import default_llm_path

    return Path(model) if model else default_llm_path()


def check_gguf(path: Path) -> None:
    """SynegError unless ``path`` is a regular file that starts with a whole GGUF header (cheap: 24 bytes read)."""
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "does not exist"
        raise SynegError(f"GGUF model {path} {what} (--model, synthesize.model)")
    try:
        with path.open("rb") as handle:
            header = handle.read(GGUF_HEADER_BYTES)
    except OSError as exc:
        raise SynegError(f"cannot read the GGUF model {path}: {exc.strerror}") from None
    if not header.startswith(GGUF_MAGIC):
        raise SynegError(f"{path} is not a GGUF model (it does not start with {GGUF_MAGIC!r}; --model, synthesize.model)")
    if len(header) < GGUF_HEADER_BYTES:
        raise SynegError(f"{path} is a truncated GGUF model ({len(header)} bytes)")


@lru_cache(maxsize=256)  # one schema per length bound (synthesis.length buckets them)
def _grammar(schema_json: str) -> str:
    """GBNF for a JSON schema, exactly as llama-cpp-python builds it for ``response_format``."""
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_json, verbose=False)._grammar


class LlamaCppBackend(ChatBackend):
    """``llama_cpp.Llama`` in this process.

    ``batch_size`` > 1 (the default, 16): calls decode together in one context (continuous batching,
    shared-prefix KV reuse, lazy grammar; see ``llama_batch``). ``batch_size`` = 1: one call at a time
    through ``create_chat_completion`` (the pre-batching path). The build is probed in a child
    process first (once per build), so that a llama-cpp-python compiled for another CPU fails with a
    SynegError instead of killing this process with SIGILL.
    """

    name = "llamacpp"
    default_repeat_penalty = 1.15  # tiny local models loop without it

    def __init__(self, model_path: str | Path | None = None, threads: int | None = None, batch_size: int = 16,
                 max_tokens: int = 384) -> None:
        llama_cpp = require("llama_cpp", "llm")
        path = _gguf(model_path)
        check_gguf(path)
        ensure_llama_cpp_works(path)
        threads = threads or available_cores()
        n_ctx = 2048 if batch_size == 1 else 512  # the batched engine makes its own, larger context
        self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                                   verbose=False)
        self.model_id = self.model_id_for(model_path)
        self.batch_size, self.default_concurrency, self.threads = batch_size, batch_size, threads
        self._lock = threading.Lock()
        self._engine: BatchEngine | None = None
        if batch_size > 1:
            self._engine = self._start_engine(threads, PROMPT_TOKENS + 2 * max_tokens)  # max_tokens widened once

    def _start_engine(self, threads: int, slot_tokens: int) -> BatchEngine:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        from syneg.synthesis.backends.llama_batch import BatchEngine

        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise SynegError("batched llama.cpp generation needs a GGUF with a chat template; set synthesize.batch_size=1")
        model = self.llm._model  # noqa: SLF001 - token texts for the template, as llama-cpp-python does
        eos, bos = self.llm.token_eos(), self.llm.token_bos()
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=model.token_get_text(eos) if eos != -1 else "",
                                              bos_token=model.token_get_text(bos) if bos != -1 else "",
                                              stop_token_ids=[eos])
        return BatchEngine(self.llm, self.batch_size, threads, slot_tokens)

    @classmethod
    def model_id_for(cls, model: str | Path | None) -> str:
        return f"{cls.name}:{_gguf(model).name}"

    @classmethod
    def check_config(cls, config: SynthesizeConfig) -> None:
        """llama-cpp-python installed; the model a GGUF file (None: the packaged SmolLM2)."""
        check_installed("llama_cpp", "llm")
        check_gguf(_gguf(config.model))

    @classmethod
    def from_config(cls, config: SynthesizeConfig) -> LlamaCppBackend:
        return cls(config.model, threads=config.threads, batch_size=config.batch_size, max_tokens=config.max_tokens)

    async def complete(self, messages: list[dict[str, str]], sampling: Sampling, schema: dict) -> Completion:
        if self._engine is None:
            return await asyncio.to_thread(self._generate, messages, sampling, schema)
        from syneg.synthesis.backends.llama_batch import Request

        tokens, prefix = self._tokens(messages), self._tokens(messages[:-1])
        shared = next((i for i, (a, b) in enumerate(zip(tokens, prefix)) if a != b), min(len(tokens), len(prefix)))
        request = Request(tokens, tokens[:shared], sampling, _grammar(json.dumps(schema)))
        return await asyncio.wrap_future(self._engine.submit(request))

    def _tokens(self, messages: list[dict[str, str]]) -> list[int]:
        rendered = self._formatter(messages=messages)
        return self.llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)

    def _generate(self, messages: list[dict[str, str]], sampling: Sampling, schema: dict) -> Completion:
        started = time.perf_counter()
        with self._lock:
            response = self.llm.create_chat_completion(
                messages=messages,
                response_format={"type": "json_object", "schema": schema},
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                seed=sampling.seed,
                repeat_penalty=sampling.repeat_penalty or 1.0,
            )
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        counts = {"prompt_tokens": usage.get("prompt_tokens", 0), "completion_tokens": usage.get("completion_tokens", 0)}
        return Completion(choice["message"].get("content"), choice.get("finish_reason"), counts, time.perf_counter() - started)

    def stats(self) -> dict[str, object]:
        engine = self._engine.stats() if self._engine is not None else {}
        return {"batch_size": self.batch_size, "threads": self.threads, **engine}

    async def aclose(self) -> None:
        if self._engine is not None:
            await asyncio.to_thread(self._engine.close)
        self.llm.close()
