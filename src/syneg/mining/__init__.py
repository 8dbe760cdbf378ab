"""Hard-negative mining from BM25 and dense retrievers, with false-negative guards."""

from syneg.mining.dedup import DuplicateIndex, normalize_text, text_keys
from syneg.mining.filters import (
    Candidate,
    choose,
    drop_unmatched,
    exclude_positives,
    rank_window,
    relative_threshold,
    score_filters,
)
from syneg.mining.miner import check_settings, mine, select_queries, write_mined
from syneg.mining.stats import build_stats, describe, format_stats

__all__ = [
    "Candidate",
    "DuplicateIndex",
    "build_stats",
    "check_settings",
    "choose",
    "describe",
    "drop_unmatched",
    "exclude_positives",
    "format_stats",
    "mine",
    "normalize_text",
    "rank_window",
    "relative_threshold",
    "score_filters",
    "select_queries",
    "text_keys",
    "write_mined",
]
