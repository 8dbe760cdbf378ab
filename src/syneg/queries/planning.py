"""Plan the calls of a query run: which documents, which type and length each query asks for."""

from __future__ import annotations

from dataclasses import dataclass

from syneg.config import QueriesConfig, SynthesizeConfig
from syneg.data import BeirDataset
from syneg.queries.prompt import TASKS, build_messages, clip
from syneg.queries.style import QueryStyle
from syneg.rng import instance_rng, stable_hash
from syneg.synthesis.backends import get_backend
from syneg.synthesis.backends.base import Sampling
from syneg.synthesis.task import Task


@dataclass(frozen=True)
class QueryItem:
    """One planned query call; ``key`` is the hash of its first request (and its cache key)."""

    doc_id: str
    k: int
    query_type: str
    words: int
    messages: list[dict[str, str]]
    sampling: Sampling
    key: str
    task: Task  # the query task of its type (prompt.TASKS)

    @property
    def query_id(self) -> str:
        """The id of the query this call writes (``gq:<doc id>:<k>``)."""
        return f"gq:{self.doc_id}:{self.k}"

    @property
    def group(self) -> tuple[str, ...]:
        """A document's queries are checked against each other (duplicates)."""
        return (self.doc_id,)


def eligible_documents(dataset: BeirDataset, config: QueriesConfig, seed: int) -> list[str]:
    """Doc ids to ask about, in corpus order: those with at least ``min_doc_words`` words, a seeded
    sample of ``max_docs`` of them when set."""
    ids = [doc_id for doc_id, doc in dataset.corpus.items() if len(doc.full_text.split()) >= config.min_doc_words]
    if config.max_docs is not None and config.max_docs < len(ids):
        chosen = set(sorted(ids, key=lambda doc_id: stable_hash(seed, "queries", doc_id))[: config.max_docs])
        ids = [doc_id for doc_id in ids if doc_id in chosen]
    return ids


def plan_queries(dataset: BeirDataset, config: QueriesConfig, llm: SynthesizeConfig, style: QueryStyle,
                 seed: int = 0) -> tuple[list[QueryItem], str]:
    """``config.per_doc`` items per eligible document, and the model id in their keys (nothing is called)."""
    model_id = get_backend(llm.backend).model_id_for(llm.model)
    penalty = llm.repeat_penalty if llm.repeat_penalty is not None else get_backend(llm.backend).default_repeat_penalty
    items = []
    for doc_id in eligible_documents(dataset, config, seed):
        document = clip(dataset.corpus[doc_id].full_text, config.doc_words)
        for k in range(config.per_doc):
            query_type, words = style.sample(instance_rng(seed, "queries", doc_id, k))
            messages = build_messages(document, query_type, words)
            sampling = Sampling(config.max_tokens, llm.temperature, stable_hash(seed, "queries", doc_id, k) % 2**31,
                                penalty)
            task = TASKS[query_type]
            items.append(QueryItem(doc_id, k, query_type, words, messages, sampling,
                                   task.key(model_id, messages, sampling), task))
    return items, model_id
