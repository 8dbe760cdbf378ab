"""Where a training set's negatives come from, as short Markdown for dataset and model cards.

``provenance`` is ``{"mix": ..., "mine": ..., "synthesize": ..., "attributes": ...}``: the stats that
``syneg mix``, ``syneg mine`` and ``syneg synthesize`` write beside their outputs (None when not found)
and :func:`attribute_summary` of the synthetic negatives. Cards are published: local paths in the
statistics (the data folder, a teacher's folder) are cut to their last name (:func:`syneg.redact.without_paths`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from syneg.records import SyntheticNegative
from syneg.redact import without_paths

TOP_VALUES = 3
MINE_KEYS = ("retriever", "model", "top_k", "range_min", "range_max", "sampling", "num_negatives",
             "absolute_margin", "relative_margin")


def attribute_summary(negatives: Iterable[SyntheticNegative]) -> dict[str, dict[str, Any]]:
    """Per attribute the prompts steered by: how many distinct values, and the most frequent ones."""
    counts: dict[str, Counter] = {}
    for negative in negatives:
        for name, value in negative.attributes.items():
            counts.setdefault(name, Counter())[value] += 1
    return {name: {"distinct": len(c), "top": c.most_common(TOP_VALUES)} for name, c in sorted(counts.items())}


def _code(value: Any) -> str:
    return f"`{value}`"


def mix_line(mix: Mapping[str, Any]) -> str:
    """Strategy, ratio, K and where the negatives came from."""
    sources = ", ".join(f"{name} {count}" for name, count in mix.get("by_source", {}).items())
    return (f"- **Mixing:** strategy {_code(mix.get('strategy'))}, ratio synthetic : retrieved "
            f"{mix.get('ratio')}, {mix.get('num_negatives')} negatives per instance; {mix.get('instances')} "
            f"instances, negatives by source: {sources or 'none'}; filled from the other pool: {mix.get('filled', 0)}")


def mine_line(mine: Mapping[str, Any]) -> str:
    """The retriever and filter settings of the mining run, and its size."""
    settings = mine.get("settings", {})
    shown = ", ".join(f"{key} {_code(settings[key])}" for key in MINE_KEYS if settings.get(key) is not None)
    teacher = (settings.get("teacher") or {}).get("model")
    shown += f", teacher {_code(teacher)}" if teacher else ""
    return (f"- **Mining:** {shown}; {mine.get('instances')} instances over {mine.get('queries')} queries, "
            f"filter scores from the {mine.get('score_source')}")


def synthesize_lines(synthesize: Mapping[str, Any], attributes: Mapping[str, Any] | None) -> list[str]:
    """The LLM, prompt, keep rate and guard of the generation run, and the attributes it steered by."""
    guard = synthesize.get("guard") or {}
    guarded = (f"on (margin {guard.get('margin')}, floor {guard.get('floor')})" if guard.get("enabled") else "off")
    lines = [f"- **Generation:** LLM {_code(synthesize.get('model'))}, "
             f"prompt {_code(synthesize.get('prompt_version'))}, mode {_code(synthesize.get('mode'))}; "
             f"kept {synthesize.get('kept')} of {synthesize.get('items')} (keep rate {synthesize.get('pass_rate')}); "
             f"hardness guard {guarded}"]
    for name, summary in (attributes or {}).items():
        top = ", ".join(f"{json.dumps(value)} ({count})" for value, count in summary["top"])
        lines.append(f"  - attribute {_code(name)}: {summary['distinct']} distinct values; most used: {top}")
    return lines


def provenance_lines(provenance: Mapping[str, Any]) -> list[str]:
    """Markdown bullets: mixing, mining and generation settings and outcomes (what is known)."""
    provenance = without_paths(provenance)
    lines = [mix_line(provenance["mix"])] if provenance.get("mix") else []
    lines += [mine_line(provenance["mine"])] if provenance.get("mine") else ["- **Mining:** (no statistics found)"]
    if provenance.get("synthesize"):
        lines += synthesize_lines(provenance["synthesize"], provenance.get("attributes"))
    else:
        lines.append("- **Generation:** (no statistics found: no synthetic negatives, or hand-made inputs)")
    return lines


def stats_details(provenance: Mapping[str, Any]) -> list[str]:
    """The full statistics as collapsed JSON blocks."""
    provenance = without_paths(provenance)
    lines = []
    for title, key in (("Mixing", "mix"), ("Mining", "mine"), ("Generation", "synthesize")):
        if provenance.get(key):
            lines += ["<details>", f"<summary>{title} statistics</summary>", "", "```json",
                      json.dumps(provenance[key], indent=2, default=str), "```", "", "</details>", ""]
    return lines
