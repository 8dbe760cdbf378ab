"""The trained model's card: sentence-transformers' README.md plus the negatives' provenance and scores.

The provenance comes from the statistics beside the training file: ``syneg mix`` writes them with
its ``inputs`` (the mined and synthetic files, whose statistics sit beside them; relative to the mix
statistics' folder); in a run
directory the inputs are ``mined.jsonl`` and ``synthetic.jsonl`` next to ``train.jsonl``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syneg import layout
from syneg.errors import SynegError
from syneg.io import read_records
from syneg.mixing.exports.provenance import attribute_summary, provenance_lines
from syneg.records import SyntheticNegative

SECTION_TITLE = "## Training negatives (syneg)"


def read_provenance(train_file: str | Path) -> dict[str, Any]:
    """Mix, mine and synthesize statistics (and generation attributes) of ``train_file``; {} when unknown."""
    mix = layout.read_stats(train_file)
    if mix is None:
        return {}
    folder = Path(train_file).parent
    inputs = mix.get("inputs") or {"mined": layout.MINED, "synthetic": layout.SYNTHETIC}
    inputs = {name: folder / path for name, path in inputs.items() if path}  # recorded relative to the stats
    synthetic = inputs.get("synthetic")
    attributes = mix["attributes"] if "attributes" in mix else _attributes(synthetic)
    return {"mix": mix, "mine": layout.read_stats(inputs.get("mined")), "synthesize": layout.read_stats(synthetic),
            "attributes": attributes}


def _attributes(synthetic: str | Path | None) -> dict[str, Any] | None:
    if synthetic is None or not Path(synthetic).is_file():
        return None
    try:
        return attribute_summary(read_records(synthetic, SyntheticNegative))
    except SynegError:  # an unreadable file leaves the attributes out, not the model
        return None


def card_section(provenance: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    """Markdown: how the model was trained, where its negatives came from, its scores before and after."""
    steps, data = summary["steps"], summary["data"]
    lines = [SECTION_TITLE, "",
             f"Fine-tuned by syneg with InfoNCE (MultipleNegativesRankingLoss, temperature "
             f"{summary['config']['temperature']}) for {steps} step{'' if steps == 1 else 's'} on {data['rows']} "
             f"(query, positive) pairs, each with {data['k']} hard negatives.", ""]
    lines += provenance_lines(provenance) if provenance else ["- (no statistics found beside the training file)"]
    return "\n".join(lines + ["", *_scores(summary.get("metrics_before"), summary.get("metrics"))]) + "\n"


def _scores(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    if not after:
        return []
    names = [name for name, value in after.items() if name != "queries" and isinstance(value, (int, float))]
    queries = f" ({after['queries']} queries)" if "queries" in after else ""
    rows = [f"| {name} | {_number((before or {}).get(name))} | {_number(after[name])} |" for name in names]
    return [f"### Evaluation{queries}", "", "| metric | before | after |", "|---|---|---|", *rows, ""]


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "–"


def append_card_section(model_dir: Path, section: str) -> None:
    """Add ``section`` to the model's README.md (created if sentence-transformers wrote none)."""
    card = model_dir / layout.CARD
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    card.write_text(text.rstrip("\n") + ("\n\n" if text else "") + section, encoding="utf-8")
