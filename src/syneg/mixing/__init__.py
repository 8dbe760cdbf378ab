"""Negative mixing: registered strategies (hybrid, direct, synthetic, retrieved, random) and exports."""

from syneg.mixing.base import Strategy, split_counts
from syneg.mixing.export import FORMATS, ExportOptions, export
from syneg.mixing.exports.columns import fixed_negatives, st_columns
from syneg.mixing.mixer import mix
from syneg.mixing.registry import REGISTRY, STRATEGIES, get_strategy

__all__ = ["FORMATS", "REGISTRY", "STRATEGIES", "ExportOptions", "Strategy", "export", "fixed_negatives",
           "get_strategy", "mix", "split_counts", "st_columns"]
