"""In-process llama-cpp-python with JSON-schema grammar; the default (packaged SmolLM2, offline)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from syneg._optional import require
from syneg.errors import SynegError
from syneg.synthesis.backends.base import ChatBackend, Completion, Sampling
from syneg.synthesis.backends.probe import ensure_llama_cpp_works

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig


def _gguf(model: str | Path | None) -> Path:
    """The GGUF file: the given path, or the packaged SmolLM2."""
    from syneg.models import default_llm_path

    return Path(model) if model else default_llm_path()


class LlamaCppBackend(ChatBackend):
    """``llama_cpp.Llama`` in this process; calls run one at a time in a worker thread.

    The build is probed in a child process first (once per build), so that a llama-cpp-python compiled for
    another CPU fails with a SynegError instead of killing this process with SIGILL.
    """

    name = "llamacpp"
    default_repeat_penalty = 1.15  # tiny local models loop without it

    def __init__(self, model_path: str | Path | None = None, n_ctx: int = 2048, threads: int = 1) -> None:
        llama_cpp = require("llama_cpp", "llm")
        path = _gguf(model_path)
        if not path.is_file():
            raise SynegError(f"GGUF model not found: {path}")
        ensure_llama_cpp_works(path)
        self.llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False
        )
        self.model_id = self.model_id_for(model_path)
        self._lock = threading.Lock()

    @classmethod
    def model_id_for(cls, model: str | Path | None) -> str:
        return f"{cls.name}:{_gguf(model).name}"

    @classmethod
    def from_config(cls, config: SynthesizeConfig) -> LlamaCppBackend:
        return cls(config.model, threads=config.threads)

    async def complete(self, messages: list[dict[str, str]], sampling: Sampling, schema: dict) -> Completion:
        return await asyncio.to_thread(self._generate, messages, sampling, schema)

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

    async def aclose(self) -> None:
        self.llm.close()
