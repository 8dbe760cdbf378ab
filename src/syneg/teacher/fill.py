"""Teacher scores for training instances: fill in what mining and the guard did not score."""

from __future__ import annotations

from syneg.config import TeacherConfig
from syneg.errors import SynegError
from syneg.records import Negative, TrainingInstance


def missing_scores(instances: list[TrainingInstance]) -> int:
    """How many positives and negatives (extra positives included) lack a teacher score."""
    return sum((i.positive_teacher_score is None)
               + sum(p.teacher_score is None for p in (*i.negatives, *i.extra_positives)) for i in instances)


def fill_teacher_scores(instances: list[TrainingInstance], teacher: TeacherConfig, *, device: str | None = None,
                        show_progress: bool = True, backend: str = "reference") -> list[TrainingInstance]:
    """``instances`` with every missing teacher score computed by ``teacher.model`` (stored ones kept).

    Stored scores come from the same teacher: mining and the guard score with ``teacher.model`` too, and
    the stage keys of mine, synthesize and train all hold the ``teacher`` section.
    """
    if not missing_scores(instances):
        return instances
    if teacher.model is None:
        raise SynegError("a distillation loss needs teacher scores: set teacher.model (e.g. mpnet)")
    from syneg.teacher.load import load_teacher

    scorer = load_teacher(teacher, device=device, show_progress=show_progress, backend=backend)
    docs = [[i.positive, *(p.text for p in (*i.negatives, *i.extra_positives))] for i in instances]
    rows = scorer.score([i.query for i in instances], docs)
    return [_scored(i, row) for i, row in zip(instances, rows)]


def _scored(instance: TrainingInstance, row: list[float]) -> TrainingInstance:
    def keep(old: float | None, new: float) -> float:
        return round(float(new), 6) if old is None else old

    def passages(items: list[Negative], scores: list[float]) -> list[Negative]:
        return [p.model_copy(update={"teacher_score": keep(p.teacher_score, s)}) for p, s in zip(items, scores)]

    n = len(instance.negatives)
    return instance.model_copy(update={
        "positive_teacher_score": keep(instance.positive_teacher_score, row[0]),
        "negatives": passages(instance.negatives, row[1:1 + n]),
        "extra_positives": passages(instance.extra_positives, row[1 + n:]),
    })
