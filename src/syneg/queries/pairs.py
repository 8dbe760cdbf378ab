"""Training pairs from generated queries: each kept query is a query whose one positive is its document."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Literal

from syneg.data import BeirDataset
from syneg.errors import SynegError
from syneg.records import GeneratedQuery


def with_generated(dataset: BeirDataset, generated: Iterable[GeneratedQuery],
                   pairs: Literal["generated", "both"]) -> BeirDataset:
    """``dataset`` whose queries and qrels are the generated ones (``generated``) or its own plus them (``both``);
    the corpus is shared. A generated query whose document is not in the corpus is an error."""
    queries = dict(dataset.queries) if pairs == "both" else {}
    qrels = {qid: dict(docs) for qid, docs in dataset.qrels.items()} if pairs == "both" else {}
    for query in generated:
        if query.doc_id not in dataset.corpus:
            raise SynegError(f"generated query {query.query_id} is about document {query.doc_id!r}, which is not in "
                             f"the corpus of {dataset.path} (generated from another corpus?)")
        queries[query.query_id] = query.text
        qrels[query.query_id] = {query.doc_id: 1}
    if not queries:
        raise SynegError("no training pair: the queries stage kept no generated query (see queries.jsonl.stats.json)")
    return replace(dataset, queries=queries, qrels=qrels, meta={**dataset.meta, "pairs": pairs})
