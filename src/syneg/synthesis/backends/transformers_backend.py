"""A local Hugging Face causal LM folder (chat template + generate), imported lazily; prompt-only JSON."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from concurrent.futures import Future
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

from syneg._optional import check_installed, require
from syneg.errors import SynegError
from syneg.hardware import available_cores
from syneg.synthesis.backends.base import ChatBackend, Completion, Sampling

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig

_Call = tuple[list[dict[str, str]], Sampling, Future]


class TransformersBackend(ChatBackend):
    """``AutoModelForCausalLM`` on the CPU; calls in flight are generated together, ``batch_size`` at a time.

    One worker thread takes every queued call (up to ``batch_size``), groups them by sampling settings
    and runs one left-padded ``generate`` per group. Sampling is seeded with the group's first seed,
    so the same calls in the same order give the same samples.
    """

    name = "transformers"

    @classmethod
    def model_id_for(cls, model: str | None) -> str:
        if model is None:
            raise SynegError("--backend transformers needs --model (a local Hugging Face model folder)")
        return f"{cls.name}:{Path(model).name}"

    @classmethod
    def check_config(cls, config: SynthesizeConfig) -> None:
        """transformers and torch installed; the model a local folder with a config.json."""
        cls.model_id_for(config.model)  # the clear error when no model is given
        check_installed("transformers", "hf")
        check_installed("torch", "hf")
        _check_folder(Path(config.model))

    @classmethod
    def from_config(cls, config: SynthesizeConfig) -> TransformersBackend:
        cls.check_config(config)
        try:
            return cls(config.model, threads=config.threads or available_cores(), batch_size=config.batch_size)
        except SynegError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the loaders raise on a broken folder, one clear line
            detail = " ".join(str(exc).split())[:300]  # one line
            raise SynegError(f"transformers cannot load the model in {config.model}: {type(exc).__name__}: "
                             f"{detail}") from None

    def __init__(self, model_dir: str | Path, threads: int = 2, batch_size: int = 8) -> None:
        transformers = require("transformers", "hf")
        torch = require("torch", "hf")
        path = Path(model_dir)
        _check_folder(path)
        torch.set_num_threads(min(threads, torch.get_num_threads()))
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(path, padding_side="left")
        if self.tokenizer.chat_template is None:
            raise SynegError(f"{path}: the tokenizer has no chat template")
        self.model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
        self.model_id = self.model_id_for(str(model_dir))
        self.batch_size = self.default_concurrency = batch_size
        self._queue: queue.Queue[_Call | None] = queue.Queue()
        self._worker = threading.Thread(target=self._loop, name="syneg-transformers", daemon=True)
        self._worker.start()

    async def complete(self, messages: list[dict[str, str]], sampling: Sampling, schema: dict) -> Completion:
        future: Future = Future()
        self._queue.put((messages, sampling, future))
        return await asyncio.wrap_future(future)

    def _loop(self) -> None:
        while (first := self._queue.get()) is not None:
            calls = [first]
            while len(calls) < self.batch_size:
                try:
                    call = self._queue.get_nowait()
                except queue.Empty:
                    break
                if call is None:
                    self._queue.put(None)  # stop after this batch
                    break
                calls.append(call)
            calls = [c for c in calls if c[2].set_running_or_notify_cancel()]
            key = lambda c: (c[1].temperature, c[1].max_tokens, c[1].repeat_penalty or 0.0)  # noqa: E731
            for _, group in groupby(sorted(calls, key=key), key=key):
                self._run(list(group))

    def _run(self, calls: list[_Call]) -> None:
        try:
            results = self._generate([c[0] for c in calls], calls[0][1])
        except Exception as exc:  # noqa: BLE001 - reported per call, the worker keeps going
            for _, _, future in calls:
                future.set_exception(exc)
            return
        for (_, _, future), result in zip(calls, results):
            future.set_result(result)

    def _generate(self, conversations: list[list[dict[str, str]]], sampling: Sampling) -> list[Completion]:
        import torch

        started = time.perf_counter()
        encoded = self.tokenizer.apply_chat_template(conversations, add_generation_prompt=True, return_tensors="pt",
                                                     return_dict=True, padding=True)
        width = encoded["input_ids"].shape[1]
        eos = self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        sample = sampling.temperature > 0
        with torch.inference_mode(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(sampling.seed)
            output = self.model.generate(
                **encoded, max_new_tokens=sampling.max_tokens, do_sample=sample,
                temperature=sampling.temperature if sample else None, top_p=None, top_k=None,
                repetition_penalty=sampling.repeat_penalty, pad_token_id=pad,
            )
        latency = time.perf_counter() - started
        return [self._completion(row[width:].tolist(), int(mask.sum()), sampling, eos, pad, latency)
                for row, mask in zip(output, encoded["attention_mask"])]

    def _completion(self, new: list[int], prompt_len: int, sampling: Sampling, eos, pad, latency: float) -> Completion:
        stopped = eos is not None and eos in new
        if stopped:
            new = new[: new.index(eos) + 1]
        elif pad in new and pad != eos:
            new = new[: new.index(pad)]
        finish = "stop" if stopped or len(new) < sampling.max_tokens else "length"
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return Completion(text, finish, {"prompt_tokens": prompt_len, "completion_tokens": len(new)}, latency)

    def stats(self) -> dict[str, object]:
        return {"batch_size": self.batch_size}

    async def aclose(self) -> None:
        self._queue.put(None)
        await asyncio.to_thread(self._worker.join)


def _check_folder(path: Path) -> None:
    """SynegError unless ``path`` is a folder with a ``config.json`` (a Hugging Face model folder)."""
    if not path.is_dir():
        raise SynegError(f"the transformers backend needs a local model folder (--model, synthesize.model); "
                         f"{path} is not one")
    if not (path / "config.json").is_file():
        raise SynegError(f"{path} has no config.json: not a Hugging Face model folder (--model, synthesize.model)")
