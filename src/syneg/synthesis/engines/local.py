"""The ``local`` engine: the configured backend, in this process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from syneg.synthesis.backends import make_backend

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig
    from syneg.synthesis.backends.base import ChatBackend


def make(config: SynthesizeConfig) -> ChatBackend:
    return make_backend(config)
