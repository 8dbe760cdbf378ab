"""Negative-set diagnostics: hardness, diversity, length adherence and source separability."""

from __future__ import annotations

from syneg.diagnostics.negatives import NegativeSet, embed_negative_set, negative_diagnostics

__all__ = ["NegativeSet", "embed_negative_set", "negative_diagnostics"]
