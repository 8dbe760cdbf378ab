"""Whether the model finished a reply: its finish reason, in any backend's words and any case."""

from __future__ import annotations

# The model ended the reply itself (openai, vLLM, llama.cpp, transformers: "stop"; others: "eos", TGI's
# "eos_token", "end_turn", "stop_sequence"); a backend that gives no reason counts as stopped.
STOPPED = frozenset({"stop", "eos", "eos_token", "end_turn", "stop_sequence"})
# It ran out of tokens ("length"; "max_tokens" and "max_output_tokens" in other APIs' words).
OUT_OF_TOKENS = frozenset({"length", "max_tokens", "max_output_tokens", "model_length"})
TRUNCATED, UNFINISHED = "truncated", "unfinished"


def finish_problem(finish_reason: str | None) -> str | None:
    """None when the model stopped by itself, ``truncated`` when it ran out of tokens, ``unfinished`` for
    any other reason (``content_filter``, ``abort``, ``tool_calls``, ...): such a reply is never kept."""
    reason = (finish_reason or "").strip().lower()
    if not reason or reason in STOPPED:
        return None
    return TRUNCATED if reason in OUT_OF_TOKENS else UNFINISHED
