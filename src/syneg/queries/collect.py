"""Turn cached replies into GeneratedQuery records: parse, content checks; every drop kept with its reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syneg.data import BeirDataset
from syneg.queries.checks import check_query, normalized
from syneg.queries.planning import QueryItem
from syneg.queries.prompt import QUERY_VERSION
from syneg.records import GeneratedQuery
from syneg.synthesis.cache import ResultCache
from syneg.synthesis.finish import finish_problem

STAGES = ("call", "validate", "round_trip")


@dataclass
class QueryOutcome:
    """Kept queries, and every item that produced none with its stage and reason."""

    queries: list[GeneratedQuery] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    drops: dict[str, Counter] = field(default_factory=lambda: {stage: Counter() for stage in STAGES})
    tokens: Counter = field(default_factory=Counter)
    missing: int = 0

    def reject(self, item: QueryItem, stage: str, reason: str, text: str | None, **extra: Any) -> None:
        self.drops[stage][reason] += 1
        self.rejected.append({"query_id": item.query_id, "doc_id": item.doc_id, "key": item.key, "stage": stage,
                              "reason": reason, "query_type": item.query_type, "text": text, **extra})


def collect_queries(items: Sequence[QueryItem], cache: ResultCache, dataset: BeirDataset, model_id: str,
                    transient: Mapping[str, tuple[str, str]]) -> QueryOutcome:
    """Parse and check each item's cached reply (items without one failed this run, failed before, or are missing)."""
    outcome = QueryOutcome()
    known = {normalized(text) for text in dataset.queries.values()}  # never the dataset's own queries again
    seen: dict[str, set[str]] = {}
    for item in items:
        result = cache.get(item.key)
        if result is None:
            failure = cache.call_failure(item.key, transient)
            if failure is None:
                outcome.missing += 1
            else:
                outcome.reject(item, "call", failure.reason, failure.raw, detail=failure.detail,
                               transient=failure.transient)
            continue
        outcome.tokens.update(result.usage)
        parsed = item.task.parse(result.text)
        problem = finish_problem(result.finish)
        if parsed.value is None or problem:
            outcome.reject(item, "validate", problem or ("truncated" if parsed.truncated else "unparseable"), result.text)
            continue
        text = parsed.value.query
        others = seen.setdefault(item.doc_id, set())
        reason = check_query(text, item.query_type, item.words, dataset.doc_text(item.doc_id), others | known)
        if reason is not None:
            outcome.reject(item, "validate", reason, text)
            continue
        others.add(normalized(text))
        outcome.queries.append(GeneratedQuery(query_id=item.query_id, text=text, doc_id=item.doc_id,
                                              query_type=item.query_type, words_asked=item.words, model=model_id,
                                              prompt_version=QUERY_VERSION, key=item.key))
    return outcome

