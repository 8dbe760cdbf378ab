"""Turn cached replies into SyntheticNegative records: parse, content checks, hardness guard."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syneg.records import SyntheticNegative
from syneg.synthesis.cache import ResultCache
from syneg.synthesis.finish import finish_problem
from syneg.synthesis.parse import parse_output
from syneg.synthesis.planning import SynthesisItem
from syneg.synthesis.prompt import DEMO_REPLY, PROMPT_VERSION
from syneg.synthesis.validate import check_passage, check_reasoning
from syneg.teacher.guard import FALSE_NEGATIVE, HardnessGuard


EXAMPLES = (json.loads(DEMO_REPLY)["passage"],)  # the prompt's demonstration must not come back


@dataclass
class Outcome:
    """Accepted negatives, and every item that produced none with its stage and reason."""

    negatives: list[SyntheticNegative] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    drops: dict[str, Counter] = field(default_factory=lambda: {"call": Counter(), "validate": Counter(), "guard": Counter()})
    parse_stages: Counter = field(default_factory=Counter)
    tokens: Counter = field(default_factory=Counter)
    missing: int = 0
    relabelled: int = 0  # likely false negatives kept as extra positives (guard with relabel)


def _reject(outcome: Outcome, item: SynthesisItem, stage: str, reason: str, raw: str | None, **extra: Any) -> None:
    outcome.drops[stage][reason] += 1
    outcome.rejected.append({"query_id": item.pair.query_id, "positive_id": item.pair.positive_id, "key": item.key,
                             "stage": stage, "reason": reason, "attributes": item.attributes, "raw": raw, **extra})


def collect(
    items: Sequence[SynthesisItem], cache: ResultCache, model_id: str,
    transient: Mapping[str, tuple[str, str]] | None = None, vocabulary: Collection[str] | None = None,
) -> Outcome:
    """Parse and check each item's cached reply; items without one failed (``transient``: this run,
    not cached) or are still missing. ``vocabulary``: the corpus's words (see ``check_passage``)."""
    outcome = Outcome()
    seen: dict[tuple[str, str], list[str]] = {}
    for item in items:
        result = cache.get(item.key)
        if result is None:
            failure = cache.call_failure(item.key, transient or {})
            if failure is None:
                outcome.missing += 1
            else:
                _reject(outcome, item, "call", failure.reason, failure.raw, detail=failure.detail,
                        transient=failure.transient)
            continue
        outcome.tokens.update(result.usage)
        parsed = parse_output(result.text)
        outcome.parse_stages[parsed.stage] += 1
        value = parsed.value
        if value is None or finish_problem(result.finish):  # cached under older rules
            reason = finish_problem(result.finish) or ("truncated" if parsed.truncated else "unparseable")
            _reject(outcome, item, "validate", reason, result.text)
            continue
        others = seen.setdefault((item.pair.query_id, item.pair.positive_id), [])
        words = int(item.attributes["words"])
        reason = check_passage(value.passage, item.pair.positive, item.pair.query, others, examples=EXAMPLES,
                               target_words=words, vocabulary=vocabulary) or check_reasoning(value.reasoning, words)
        if reason is not None:
            _reject(outcome, item, "validate", reason, result.text)
            continue
        others.append(value.passage)
        outcome.negatives.append(SyntheticNegative(
            query_id=item.pair.query_id, positive_id=item.pair.positive_id, text=value.passage,
            reasoning=value.reasoning, attributes=item.attributes, mode=item.mode,
            source_doc_id=item.source_doc_id, model=model_id, prompt_version=PROMPT_VERSION, key=item.key,
        ))
    return outcome


def apply_guard(outcome: Outcome, items: Sequence[SynthesisItem], guard: HardnessGuard) -> None:
    """Score negatives and positives against their query; drop those outside the band (or, with
    ``guard.relabel``, keep a likely false negative as ``label="positive"``, counted as relabelled)."""
    by_key = {item.key: item for item in items}
    kept_items = [by_key[n.key] for n in outcome.negatives]
    pairs = [(i.pair.query, n.text) for i, n in zip(kept_items, outcome.negatives)]
    pairs += [(i.pair.query, i.pair.positive) for i in kept_items]
    scores = guard.scores(pairs)
    half = len(outcome.negatives)
    kept = []
    for index, (item, negative) in enumerate(zip(kept_items, outcome.negatives)):
        score, positive_score = scores[index], scores[half + index]
        negative.teacher_score, negative.positive_teacher_score = round(score, 5), round(positive_score, 5)
        reason = guard.band.verdict(score, positive_score)
        if reason == FALSE_NEGATIVE and guard.relabel:
            negative.label = "positive"
            outcome.relabelled += 1
            kept.append(negative)
        elif reason is None:
            kept.append(negative)
        else:
            _reject(outcome, item, "guard", reason, negative.text, teacher_score=score,
                    positive_teacher_score=positive_score, reasoning=negative.reasoning)
    outcome.negatives = kept
