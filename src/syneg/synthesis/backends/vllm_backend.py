"""An in-process vLLM engine (``vllm.LLM``) on this machine's GPU: concurrent calls are generated as one batch,
with the JSON schema enforced by vLLM's structured outputs (``StructuredOutputsParams(json=...)``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from syneg._optional import check_installed, require
from syneg.errors import SynegError
from syneg.synthesis.backends.base import BackendError, ChatBackend, Completion, Sampling

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig

Request = tuple[list[dict[str, str]], Sampling, dict]


class Batcher:
    """Collects the requests that arrive while a batch is generating and runs them as the next batch.

    ``generate`` (blocking, run in a worker thread) maps a list of requests to one Completion each.
    """

    def __init__(self, generate: Callable[[Sequence[Request]], list[Completion]], max_batch: int = 256) -> None:
        self.generate, self.max_batch = generate, max_batch
        self.pending: list[tuple[Request, asyncio.Future]] = []
        self.batches: list[int] = []  # size of each batch run
        self._worker: asyncio.Task | None = None

    async def submit(self, request: Request) -> Completion:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((request, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let the calls started together queue up first
        while self.pending:
            batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
            self.batches.append(len(batch))
            try:
                results = await asyncio.to_thread(self.generate, [request for request, _ in batch])
            except Exception as exc:  # noqa: BLE001 - the batch's calls fail, the run goes on
                error = BackendError(f"vLLM generation failed: {type(exc).__name__}: {exc}", "backend_error")
                results = [error] * len(batch)
            for (_, future), result in zip(batch, results):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


class VLLMBackend(ChatBackend):
    """``vllm.LLM(model)`` with batched ``chat``; needs ``syneg[vllm]`` and a GPU vLLM supports."""

    name = "vllm"
    default_concurrency = 256  # calls in flight, generated as one batch

    @classmethod
    def check_config(cls, config: SynthesizeConfig) -> None:
        """A model named and vLLM installed (found, not imported: importing it takes seconds)."""
        cls.model_id_for(config.model)  # the clear error when no model is given
        check_installed("vllm", "vllm")

    @classmethod
    def from_config(cls, config: SynthesizeConfig) -> VLLMBackend:
        cls.check_config(config)
        return cls(config.model, max_batch=config.concurrency or cls.default_concurrency)

    def __init__(self, model: str, max_batch: int = 256, **engine: Any) -> None:
        vllm = require("vllm", "vllm")
        params = require("vllm.sampling_params", "vllm")
        self._sampling_params, self._structured = vllm.SamplingParams, params.StructuredOutputsParams
        try:
            self.llm = vllm.LLM(model=model, **engine)
        except (OSError, ValueError) as exc:
            raise SynegError(f"vLLM cannot load {model!r}: {exc}") from None
        self.model_id = self.model_id_for(model)
        self.batcher = Batcher(self._generate, max_batch)
        self.default_concurrency = max_batch  # the runner keeps a whole batch in flight

    async def complete(self, messages: list[dict[str, str]], sampling: Sampling, schema: dict) -> Completion:
        return await self.batcher.submit((messages, sampling, schema))

    def _params(self, sampling: Sampling, schema: dict):
        return self._sampling_params(
            max_tokens=sampling.max_tokens, temperature=sampling.temperature, seed=sampling.seed,
            repetition_penalty=sampling.repeat_penalty or 1.0, structured_outputs=self._structured(json=schema))

    def _generate(self, requests: Sequence[Request]) -> list[Completion]:
        started = time.perf_counter()
        outputs = self.llm.chat([messages for messages, _, _ in requests],
                                [self._params(sampling, schema) for _, sampling, schema in requests], use_tqdm=False)
        latency = time.perf_counter() - started
        return [_completion(output, latency) for output in outputs]

    def stats(self) -> dict[str, object]:
        sizes = self.batcher.batches
        return {"batches": len(sizes), "mean_batch": round(sum(sizes) / len(sizes), 2) if sizes else 0}


def _completion(output: Any, latency: float) -> Completion:
    """A Completion from one vLLM ``RequestOutput``."""
    choice = output.outputs[0]
    usage = {"prompt_tokens": len(output.prompt_token_ids or []), "completion_tokens": len(choice.token_ids)}
    return Completion(choice.text, choice.finish_reason, usage, latency, mode="structured_outputs")
