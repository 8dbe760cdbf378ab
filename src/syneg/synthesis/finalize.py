"""Turn cached replies into SyntheticNegative records: parse, content checks, hardness guard."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syneg.records import SyntheticNegative
from syneg.synthesis.cache import ResultCache
from syneg.synthesis.finish import finish_problem
from syneg.synthesis.parse import parse_output
from syneg.synthesis.planning import SynthesisItem
from syneg.synthesis.prompt import DEMO_PASSAGES, PROMPT_VERSION
from syneg.synthesis.validate import COPY_THRESHOLD, check_passage, check_reasoning, copy_ratio, opens_with_meta
from syneg.teacher.guard import FALSE_NEGATIVE, HardnessGuard

EXAMPLES = DEMO_PASSAGES  # the prompt's demonstrations must not come back
STAGES = ("call", "validate", "guard", "select")


@dataclass
class Outcome:
    """Accepted negatives, and every item that produced none with its stage and reason."""

    negatives: list[SyntheticNegative] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    drops: dict[str, Counter] = field(default_factory=lambda: {stage: Counter() for stage in STAGES})
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
        passage, words = whole_passage(item, value.passage)
        reason = (continuation_problem(item, value.passage)
                  or check_passage(passage, item.pair.positive, item.pair.query, others, examples=EXAMPLES,
                                   target_words=words, vocabulary=vocabulary)
                  or check_reasoning(value.reasoning, words))
        if reason is not None:
            _reject(outcome, item, "validate", reason, result.text)
            continue
        others.append(passage)
        outcome.negatives.append(SyntheticNegative(
            query_id=item.pair.query_id, positive_id=item.pair.positive_id, text=passage,
            reasoning=value.reasoning, attributes=item.attributes, mode=item.mode,
            source_doc_id=item.source_doc_id, model=model_id, prompt_version=PROMPT_VERSION, key=item.key,
        ))
    return outcome


def whole_passage(item: SynthesisItem, written: str) -> tuple[str, int]:
    """The passage (continue mode: the opening, then what the model wrote) and the words asked of it in all."""
    words = int(item.attributes["words"])
    if item.opening is None:
        return written, words
    return f"{item.opening} {written}", words + len(item.opening.split())


def continuation_problem(item: SynthesisItem, written: str) -> str | None:
    """``repeats_opening`` when a continuation copies the opening it was to go on from; ``meta_text`` when
    it starts by talking about it ("It goes on with ...")."""
    if item.opening is None:
        return None
    if copy_ratio(written, item.opening) >= COPY_THRESHOLD:
        return "repeats_opening"
    return "meta_text" if opens_with_meta(written) else None


def select_hardest(outcome: Outcome, items: Sequence[SynthesisItem], per_pair: int) -> None:
    """Sample, then select: keep a pair's ``per_pair`` negatives the teacher scored highest (all inside the
    guard's band by now); the others are dropped at stage ``select`` (``not_selected``)."""
    by_key = {item.key: item for item in items}
    ranked = sorted(outcome.negatives, key=lambda n: (n.query_id, n.positive_id, -(n.teacher_score or 0.0), n.key))
    kept, taken = [], Counter()
    for negative in ranked:
        pair = (negative.query_id, negative.positive_id)
        if negative.label == "positive" or taken[pair] < per_pair:
            taken[pair] += negative.label == "negative"
            kept.append(negative)
        else:
            _reject(outcome, by_key[negative.key], "select", "not_selected", negative.text,
                    teacher_score=negative.teacher_score, reasoning=negative.reasoning)
    order = {n.key: i for i, n in enumerate(outcome.negatives)}
    outcome.negatives = sorted(kept, key=lambda n: order[n.key])


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
