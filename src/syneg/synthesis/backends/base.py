"""One interface for every backend: chat messages in; text, usage, finish reason and latency out."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from syneg.errors import SynegError

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig


@dataclass(frozen=True)
class Completion:
    """One reply of a chat model."""

    text: str | None
    finish_reason: str | None
    usage: dict[str, int] = field(default_factory=dict)
    latency: float = 0.0
    requests: int = 1  # HTTP requests spent, retries included
    mode: str | None = None  # structured-output mode the reply was produced under


class BackendError(Exception):
    """A call that failed for good (after the backend's own bounded retries).

    ``reason`` is a short code (``connection``, ``timeout``, ``rate_limited``, ``server_error``,
    ``bad_request``, ...). ``transient`` failures (the server, the network or the setup, not the
    item) are never cached as failures: a plain rerun retries them.
    """

    def __init__(self, message: str, reason: str = "backend_error", transient: bool = True) -> None:
        super().__init__(message)
        self.reason, self.transient = reason, transient


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters of one call (part of its cache key)."""

    max_tokens: int
    temperature: float
    seed: int
    repeat_penalty: float | None = None  # None = the server's default

    def as_dict(self) -> dict[str, float | int]:
        params = {"max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed}
        if self.repeat_penalty is not None:
            params["repeat_penalty"] = self.repeat_penalty
        return params


class ChatBackend(abc.ABC):
    """A chat model registered under ``name``; ``model_id`` names it in cache keys and records.

    A backend owns its model id (:meth:`model_id_for`, known without loading the model) and how
    it is built from the ``synthesize`` settings (:meth:`from_config`).
    """

    name: ClassVar[str]
    default_repeat_penalty: ClassVar[float | None] = None  # used when the config leaves it unset
    default_concurrency: int = 4  # calls in flight when the config leaves it unset
    model_id: str

    @classmethod
    def model_id_for(cls, model: str | None) -> str:
        """The model's name in cache keys and records: ``<backend>:<model>``."""
        if model is None:
            raise SynegError(f"--backend {cls.name} needs --model")
        return f"{cls.name}:{model}"

    @classmethod
    def check_config(cls, config: SynthesizeConfig) -> None:
        """Refuse settings (or environment) the backend cannot work with, cheaply and before any file is
        opened; :meth:`from_config` may still find more (a model that does not load, say)."""

    @classmethod
    @abc.abstractmethod
    def from_config(cls, config: SynthesizeConfig) -> ChatBackend:
        """Build the backend from the ``synthesize`` settings."""

    @abc.abstractmethod
    async def complete(self, messages: list[dict[str, str]], sampling: Sampling, schema: dict) -> Completion:
        """One reply to ``messages``; raises BackendError when it cannot get one."""

    def stats(self) -> dict[str, object]:
        """Backend-specific counters for the run's stats file."""
        return {}

    async def aclose(self) -> None:
        """Release clients, models and threads."""
