"""Split a stage's work into N shards (``--shard I/N``) and join their outputs (``syneg merge``).

A shard is a contiguous block of the stage's work list in the order an unsharded run processes it
(mining: the selected queries; synthesis: the planned calls), so the shards are disjoint, cover
every unit, depend only on the data, settings and seed, and their outputs, concatenated in shard
order, are byte for byte the unsharded output. Each shard's statistics carry a ``shard`` block
(index, count, and a digest of the whole work list and settings) that ``merge`` checks.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from syneg import layout
from syneg.errors import SynegError
from syneg.io import atomic_open
from syneg.limits import MAX_SHARDS

T = TypeVar("T")
SHARD_KEY = "shard"  # the stats key of a shard's block
SETTINGS_KEYS = ("settings", "guard")  # stats sections that hold settings: kept as they are, never summed


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``I/N`` with ``1 <= I <= N`` (e.g. ``$SLURM_ARRAY_TASK_ID/3`` with ``--array=1-3``)."""
        match = re.fullmatch(r"\s*([0-9]{1,6})\s*/\s*([0-9]{1,6})\s*", text)
        if match is None:
            raise SynegError(f"--shard {text[:40]!r}: expected I/N with 1 <= I <= N <= {MAX_SHARDS}, e.g. 2/3")
        index, count = int(match[1]), int(match[2])
        if not 1 <= index <= count <= MAX_SHARDS:
            raise SynegError(f"--shard {text}: I must be in 1..{count} and N at most {MAX_SHARDS}")
        return cls(index, count)

    def take(self, units: Sequence[T]) -> list[T]:
        """This shard's contiguous block of ``units`` (block sizes differ by at most one)."""
        total = len(units)
        return list(units[(self.index - 1) * total // self.count : self.index * total // self.count])

    def block(self, keys: Sequence[str], settings: Any, taken: int) -> dict[str, Any]:
        """The stats block: index, count, ``taken`` of the ``keys`` of the whole work list, and the digest
        of that list and the settings."""
        payload = json.dumps([list(keys), settings], sort_keys=True, default=str).encode("utf-8")
        return {"index": self.index, "count": self.count, "units": taken, "of": len(keys),
                "plan": hashlib.sha256(payload).hexdigest()[:16]}


def select(shard: Shard | None, units: Sequence[T], keys: Sequence[str], settings: Any) -> tuple[list[T], dict | None]:
    """``shard``'s block of ``units`` (all of them without a shard) and its stats block (None without);
    ``keys`` name the units, one each."""
    if shard is None:
        return list(units), None
    chosen = shard.take(units)
    return chosen, shard.block(keys, settings, len(chosen))


def shard_blocks(paths: Sequence[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Each shard output with its statistics, ordered by shard index; checks they form one whole plan."""
    found = []
    for path in paths:
        stats = layout.read_stats(path)
        if stats is None:
            raise SynegError(f"{path}: no statistics beside it, or the file changed after they were written "
                             f"({layout.stats_path(path).name})")
        if not isinstance(stats.get(SHARD_KEY), dict):
            raise SynegError(f"{path}: not a shard output (its statistics have no {SHARD_KEY!r} block)")
        found.append((path, stats))
    blocks = [stats[SHARD_KEY] for _, stats in found]
    if len({(b["count"], b["plan"]) for b in blocks}) != 1:
        raise SynegError("the shards come from different runs (their count or plan digest differ): "
                         + ", ".join(f"{p} ({b['index']}/{b['count']}, plan {b['plan']})" for (p, _), b in
                                     zip(found, blocks)))
    count = blocks[0]["count"]
    indices = sorted(b["index"] for b in blocks)
    if indices != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(indices))
        raise SynegError(f"need shards 1..{count} once each; missing {missing or 'none'}, given {indices}")
    return sorted(found, key=lambda item: item[1][SHARD_KEY]["index"])


def merge_stats(all_stats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Shard statistics joined: counts (ints) summed, values equal in every shard kept, others left out.

    Settings sections (``SETTINGS_KEYS``) are kept when every shard has the same, never summed.
    """
    first, merged = all_stats[0], {}
    for key, value in first.items():
        values = [stats.get(key) for stats in all_stats]
        if key in SETTINGS_KEYS:
            if all(v == value for v in values):
                merged[key] = value
        elif isinstance(value, dict) and all(isinstance(v, dict) for v in values):
            merged[key] = merge_stats(values)
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            merged[key] = sum(values)
        elif all(v == value for v in values):
            merged[key] = value
    return merged


def merge_shards(paths: Sequence[str | Path], out: str | Path) -> dict[str, Any]:
    """Join shard outputs (and their ``.failed.jsonl`` where each has one) into ``out``; returns its stats."""
    ordered = shard_blocks([Path(p) for p in paths])
    _concat([path for path, _ in ordered], Path(out))
    failed = [layout.side_file(path, layout.FAILED_SUFFIX) for path, _ in ordered]
    if all(path.is_file() for path in failed):
        _concat(failed, layout.side_file(out, layout.FAILED_SUFFIX))
    stats = merge_stats([{k: v for k, v in s.items() if k not in (SHARD_KEY, layout.OUTPUT_FINGERPRINT)}
                         for _, s in ordered])
    stats["merged"] = {"shards": len(ordered), "plan": ordered[0][1][SHARD_KEY]["plan"],
                       "inputs": [str(path) for path, _ in ordered]}
    layout.write_stats(out, stats)
    return stats


def _concat(paths: Sequence[Path], out: Path) -> None:
    with atomic_open(out, "wb", encoding=None) as sink:
        for path in paths:
            with path.open("rb") as source:
                while chunk := source.read(1 << 20):
                    sink.write(chunk)
