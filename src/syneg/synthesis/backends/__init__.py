"""Chat backends behind one interface; heavy ones are imported only when chosen."""

from __future__ import annotations

from syneg.synthesis.backends.base import BackendError, ChatBackend, Completion, Sampling


def backend_model_id(name: str, model: str | None) -> str:
    """The model's name in cache keys and records, known without loading the model."""
    from pathlib import Path

    if name == "llamacpp":
        from syneg.models import default_llm_path

        return f"llamacpp:{Path(model).name if model else default_llm_path().name}"
    if name == "transformers" and model is not None:
        return f"transformers:{Path(model).name}"
    return f"{name}:{model}"


def make_backend(
    name: str,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    timeout: float = 120.0,
    max_attempts: int = 5,
    threads: int = 1,
) -> ChatBackend:
    """Build the backend called ``name`` (llamacpp, openai or transformers)."""
    from syneg.errors import SynegError

    if name == "llamacpp":
        from syneg.synthesis.backends.llamacpp_backend import LlamaCppBackend

        return LlamaCppBackend(model, threads=threads)
    if name == "openai":
        from syneg.synthesis.backends.openai_backend import OpenAIBackend
        from syneg.synthesis.backends.retry import RetryPolicy

        if model is None:
            raise SynegError("--backend openai needs --model (the name the server serves)")
        return OpenAIBackend(model, base_url, api_key_env, timeout, RetryPolicy(max_attempts=max_attempts))
    if name == "transformers":
        from syneg.synthesis.backends.transformers_backend import TransformersBackend

        if model is None:
            raise SynegError("--backend transformers needs --model (a local Hugging Face model folder)")
        return TransformersBackend(model, threads=threads)
    raise SynegError(f"unknown backend {name!r} (choose llamacpp, openai or transformers)")


__all__ = ["BackendError", "ChatBackend", "Completion", "Sampling", "backend_model_id", "make_backend"]
