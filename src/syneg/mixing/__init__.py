"""Negative mixing: hybrid (SyNeg), direct, single-pool and random strategies, and exports."""

from syneg.mixing.export import FORMATS, export, find_stats, fixed_negatives, st_columns, stats_path
from syneg.mixing.strategies import STRATEGIES, mix, split_counts

__all__ = ["FORMATS", "STRATEGIES", "export", "find_stats", "fixed_negatives", "mix", "split_counts",
           "st_columns", "stats_path"]
