"""The ``ray`` engine: the configured backend runs in a pool of Ray actors, one per CPU of the cluster (or per
GPU for ``vllm``), and the driver's runner calls them as one ``ChatBackend``.

The driver keeps the cache: each reply comes back to it and is committed as it arrives, exactly as with
the local engine, so a killed driver resumes without asking again for any success it committed.
``RAY_ADDRESS`` (or ``ray start``'s cluster) picks the cluster; without one a local Ray starts.
"""

from __future__ import annotations

import itertools
import math
import os
from typing import TYPE_CHECKING, Any

from syneg._optional import require
from syneg.synthesis.backends import get_backend, make_backend
from syneg.synthesis.backends.base import BackendError, ChatBackend, Completion, Sampling

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig


class BackendActor:
    """One worker: the configured backend; a failed call comes back as data, not as a Ray error."""

    def __init__(self, config: dict[str, Any]) -> None:
        from syneg.config import SynthesizeConfig

        self.backend = make_backend(SynthesizeConfig(**config))

    async def complete(self, messages: list[dict[str, str]], sampling: Sampling, schema: dict):
        try:
            return await self.backend.complete(messages, sampling, schema)
        except BackendError as exc:
            return ("error", str(exc), exc.reason, exc.transient)

    def stats(self) -> dict[str, object]:
        return self.backend.stats()


class RayBackend(ChatBackend):
    """Round-robin over the actors; ``concurrency`` calls in flight in total."""

    name = "ray"

    def __init__(self, config: SynthesizeConfig) -> None:
        ray = require("ray", "ray")
        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        self._ray = ray
        gpus = 1 if config.backend == "vllm" else 0
        slots = int(ray.cluster_resources().get("GPU" if gpus else "CPU", 1))
        # unset: each actor's backend default, times the actors the cluster holds
        self.default_concurrency = config.concurrency or get_backend(config.backend).default_concurrency * slots
        count = max(1, min(self.default_concurrency, slots))
        env = {name: os.environ[name] for name in (config.api_key_env,) if name in os.environ}
        actor = ray.remote(BackendActor).options(
            num_cpus=0 if gpus else 1, num_gpus=gpus, max_concurrency=math.ceil(self.default_concurrency / count),
            runtime_env={"env_vars": env} if env else None)
        self.actors = [actor.remote(config.model_dump(mode="json")) for _ in range(count)]
        self.model_id = get_backend(config.backend).model_id_for(config.model)
        self._turn = itertools.count()

    @classmethod
    def from_config(cls, config: SynthesizeConfig) -> RayBackend:
        return cls(config)

    async def complete(self, messages: list[dict[str, str]], sampling: Sampling, schema: dict) -> Completion:
        actor = self.actors[next(self._turn) % len(self.actors)]
        reply = await actor.complete.remote(messages, sampling, schema)
        if isinstance(reply, tuple):
            _, message, reason, transient = reply
            raise BackendError(message, reason, transient)
        return reply

    def stats(self) -> dict[str, object]:
        per_actor = self._ray.get([actor.stats.remote() for actor in self.actors])
        return {"engine": "ray", "actors": len(self.actors), "per_actor": per_actor}

    async def aclose(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor)


def make(config: SynthesizeConfig) -> RayBackend:
    return RayBackend(config)
