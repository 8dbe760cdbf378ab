"""Records that flow between stages, one JSON object per line in the run directory."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from syneg.limits import MAX_DEPTH, MAX_NEGATIVES
from syneg.synthesis.modes import MODES

Source = Literal["bm25", "dense", "synthetic", "random"]


class Record(BaseModel):
    """Base record: unknown fields are rejected so typos in hand-made files surface; scores must be finite,
    ranks, counts and lists within :mod:`syneg.limits` (a reader names the file and line of a value outside)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


Rank = Annotated[int, Field(ge=1, le=MAX_DEPTH)]  # retriever ranks: --top-k is at most MAX_DEPTH
Count = Annotated[int, Field(ge=0, le=MAX_NEGATIVES)]  # negatives missing or filled per pair
MAX_EXTRA_POSITIVES = 2 * MAX_NEGATIVES  # per training instance: the mined ones and the relabelled synthetic ones


class Negative(Record):
    """A negative passage with where it came from."""

    text: str
    source: Source
    doc_id: str | None = Field(default=None, description="corpus id; None for synthetic passages")
    score: float | None = Field(default=None, description="retriever or teacher score vs the query")
    rank: Rank | None = Field(default=None, description="1-based retriever rank")
    teacher_score: float | None = Field(default=None, description="rescoring model's score (mining with a teacher)")


class MinedInstance(Record):
    """One (query, positive) pair with its mined negatives (output of ``syneg mine``)."""

    query_id: str
    query: str
    positive_id: str
    positive: str
    positive_score: float | None = None
    positive_teacher_score: float | None = None
    negatives: list[Negative] = Field(max_length=MAX_NEGATIVES)
    extra_positives: list[Negative] = Field(default=[], max_length=MAX_NEGATIVES,
                                            description="candidates relabelled as positives (teacher)")
    shortfall: Count = Field(default=0, description="negatives asked for but not found")


class SyntheticNegative(Record):
    """One LLM-written negative for a (query, positive) pair (output of ``syneg synthesize``)."""

    query_id: str
    positive_id: str
    text: str
    reasoning: str
    attributes: dict[str, str] = Field(max_length=64)
    mode: Literal[MODES] = "free"  # type: ignore[valid-type]
    source_doc_id: str | None = Field(default=None, description="mined passage rewritten (grounded) or continued (continue)")
    model: str
    prompt_version: str
    key: str = Field(description="cache key of the call that produced it")
    teacher_score: float | None = None
    positive_teacher_score: float | None = None
    label: Literal["negative", "positive"] = Field(
        default="negative", description="positive: the teacher scored it as relevant and it was relabelled")


class GeneratedQuery(Record):
    """One LLM-written training query for a corpus document (output of ``syneg generate-queries``)."""

    query_id: str = Field(description="gq:<doc id>:<k>")
    text: str
    doc_id: str = Field(description="the document it was written for: its positive")
    query_type: Literal["claim", "question", "keywords"]
    words_asked: int = Field(ge=1, le=1000)
    round_trip_rank: Rank | None = Field(default=None, description="rank of doc_id for this query; None = not filtered")
    model: str
    prompt_version: str
    key: str = Field(description="cache key of the call that produced it")


class TrainingInstance(Record):
    """A query, one positive and its hard negatives, ready for training (output of ``syneg mix``)."""

    query_id: str
    query: str
    positive_id: str
    positive: str
    positive_teacher_score: float | None = Field(default=None, description="rescoring model's score of the positive")
    negatives: list[Negative] = Field(max_length=MAX_NEGATIVES)
    extra_positives: list[Negative] = Field(default=[], max_length=MAX_EXTRA_POSITIVES,
                                            description="passages relabelled as positives (teacher: mined and synthetic)")
    filled: Count = Field(default=0, description="negatives taken from the other pool for a shortfall")
