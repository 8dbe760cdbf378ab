"""The fields of one chat request as each family of OpenAI-compatible server names them.

``openai`` (the hosted API): ``max_completion_tokens``; no repeat penalty. ``vllm``: ``max_tokens``,
``repetition_penalty`` and ``structured_outputs: {"json": schema}`` (vLLM's own names, sent in the
body beside the standard ones). ``generic`` (llama.cpp server, Ollama, ...): ``max_tokens``,
``repeat_penalty``, ``response_format``. ``auto`` is ``openai`` for the hosted API, else ``generic``.
The family names are ``syneg.synthesis.backends.SERVERS`` (the config's ``synthesize.server`` choices).
"""

from __future__ import annotations

from typing import Any

from syneg.synthesis.backends.base import Sampling


def response_format(mode: str, schema: dict) -> dict | None:
    """The ``response_format`` of ``mode``: standard json_schema, llama.cpp's json_object+schema, or none."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "hard_negative", "schema": schema, "strict": False}}
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return None


def server_for(server: str, base_url: str | None) -> str:
    """The server family: ``server`` itself, or for ``auto`` ``openai`` at the hosted API and ``generic`` elsewhere."""
    if server != "auto":
        return server
    return "openai" if base_url is None or "api.openai.com" in base_url else "generic"


def request_fields(server: str, sampling: Sampling, mode: str, schema: dict) -> tuple[dict[str, Any], dict[str, Any]]:
    """(standard fields, server-specific body fields) of one request under structured-output ``mode``."""
    tokens = "max_completion_tokens" if server == "openai" else "max_tokens"
    fields: dict[str, Any] = {tokens: sampling.max_tokens, "temperature": sampling.temperature, "seed": sampling.seed}
    extra: dict[str, Any] = {}
    if sampling.repeat_penalty is not None and server != "openai":
        extra["repetition_penalty" if server == "vllm" else "repeat_penalty"] = sampling.repeat_penalty
    if server == "vllm" and mode == "json_schema":
        extra["structured_outputs"] = {"json": schema}
    elif (fmt := response_format(mode, schema)) is not None:
        fields["response_format"] = fmt
    return fields, extra
