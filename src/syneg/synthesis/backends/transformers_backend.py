"""A local Hugging Face causal LM folder (chat template + generate), imported lazily; prompt-only JSON."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from syneg._optional import require
from syneg.errors import SynegError
from syneg.synthesis.backends.base import ChatBackend, Completion, Sampling

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig


class TransformersBackend(ChatBackend):
    """``AutoModelForCausalLM`` on the CPU; one generation at a time; seeded sampling per call."""

    name = "transformers"

    @classmethod
    def model_id_for(cls, model: str | None) -> str:
        if model is None:
            raise SynegError("--backend transformers needs --model (a local Hugging Face model folder)")
        return f"{cls.name}:{Path(model).name}"

    @classmethod
    def from_config(cls, config: SynthesizeConfig) -> TransformersBackend:
        cls.model_id_for(config.model)  # the clear error when no model is given
        return cls(config.model, threads=config.threads)

    def __init__(self, model_dir: str | Path, threads: int = 2) -> None:
        transformers = require("transformers", "hf")
        torch = require("torch", "hf")
        path = Path(model_dir)
        if not path.is_dir():
            raise SynegError(f"transformers backend needs a local model folder; {path} is not one")
        torch.set_num_threads(min(threads, torch.get_num_threads()))
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        if self.tokenizer.chat_template is None:
            raise SynegError(f"{path}: the tokenizer has no chat template")
        self.model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
        self.model_id = self.model_id_for(str(model_dir))
        self._lock = threading.Lock()

    async def complete(self, messages: list[dict[str, str]], sampling: Sampling, schema: dict) -> Completion:
        return await asyncio.to_thread(self._generate, messages, sampling)

    def _generate(self, messages: list[dict[str, str]], sampling: Sampling) -> Completion:
        import torch

        started = time.perf_counter()
        encoded = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        prompt_len = encoded["input_ids"].shape[1]
        eos = self.tokenizer.eos_token_id
        sample = sampling.temperature > 0
        with self._lock, torch.inference_mode(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(sampling.seed)
            output = self.model.generate(
                **encoded, max_new_tokens=sampling.max_tokens, do_sample=sample,
                temperature=sampling.temperature if sample else None, top_p=None, top_k=None,
                repetition_penalty=sampling.repeat_penalty,
                pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos,
            )
        new = output[0, prompt_len:].tolist()
        stopped = eos is not None and eos in new
        finish = "stop" if stopped or len(new) < sampling.max_tokens else "length"
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        usage = {"prompt_tokens": prompt_len, "completion_tokens": len(new)}
        return Completion(text, finish, usage, time.perf_counter() - started)
