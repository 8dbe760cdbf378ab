"""``Evaluator``: pytrec_eval metrics (through ir_measures) over every judged query."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace

from syneg import progress
from syneg.errors import SynegError
from syneg.evaluation.metrics import DEFAULT_METRICS, PER_QUERY_METRIC, MetricSpec, parse_metrics

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


def trec_order(docs: dict[str, float]) -> list[tuple[str, float]]:
    """trec_eval's ranking: score descending, ties by doc id descending."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


class Evaluator:
    """Prepared once for a set of qrels and metrics, then applied to any number of runs.

    Values equal pytrec_eval's (ir_measures' pytrec_eval provider computes them) with BEIR's
    conventions, except that the mean is over every query in the qrels:

    - a qrels query missing from the run (or with no documents left) scores 0; BEIR's
      ``EvaluateRetrieval.evaluate`` averages over the queries pytrec_eval returned,
      i.e. only those in the run, which overstates runs that skip queries;
    - a document whose id equals the query id is dropped from the run first
      (BEIR's ``ignore_identical_ids=True``), unless ``ignore_identical_ids=False``;
    - relevance 0 judgements are non-relevant (pytrec_eval: R, RR and P count relevance >= 1;
      nDCG uses the graded relevance as gain); queries in the run but not in the qrels are ignored,
      and a run that shares no query with the qrels is an error (not all zeros);
    - ties are broken as trec_eval does (score descending, then doc id descending), so results
      do not depend on the run's rank column; ``RR@k`` is ``recip_rank`` after cutting the
      run to its first ``k`` documents in that order (``trec_eval -M k``).
    """

    def __init__(
        self,
        qrels: Qrels,
        metrics: list[str] = DEFAULT_METRICS,
        *,
        ignore_identical_ids: bool = True,
        show_progress: bool = False,
    ) -> None:
        import ir_measures

        if not qrels:
            raise SynegError("cannot evaluate against empty qrels")
        if not any(grade > 0 for docs in qrels.values() for grade in docs.values()):
            raise SynegError("cannot evaluate against qrels that judge no document relevant (every grade <= 0)")
        self.qrels = qrels
        shared: dict[tuple[object, int | None], object] = {}  # equal measures (MAP, AP) share one object
        self.specs = [
            replace(s, measure=shared.setdefault((s.measure, s.run_cutoff), s.measure))
            for s in parse_metrics(list(metrics))
        ]
        self.ignore_identical_ids = ignore_identical_ids
        self.show_progress = show_progress
        self._cutoffs = sorted({s.run_cutoff for s in self.specs}, key=lambda c: (c is not None, c or 0))
        self._evaluators = {
            cutoff: ir_measures.pytrec_eval.evaluator(
                list(dict.fromkeys(s.measure for s in self.specs if s.run_cutoff == cutoff)), qrels
            )
            for cutoff in self._cutoffs
        }

    @property
    def metrics(self) -> list[str]:
        """Metric names, as given."""
        return [s.name for s in self.specs]

    def _clean(self, run: Run) -> Run:
        """Judged queries with documents, scores as Python floats, identical ids dropped (BEIR)."""
        drop = self.ignore_identical_ids
        cleaned = {
            qid: {d: float(s) for d, s in docs.items() if not (drop and d == qid)}
            for qid, docs in run.items()
            if qid in self.qrels
        }
        return {qid: docs for qid, docs in cleaned.items() if docs}

    def _all_per_query(self, run: Run, specs: list[MetricSpec]) -> dict[str, dict[str, float]]:
        if not any(qid in self.qrels for qid in run):
            example = f" (e.g. {next(iter(run))!r})" if run else ""
            raise SynegError(f"the run shares no query with the qrels: none of its {len(run)} queries{example} "
                             f"is among the {len(self.qrels)} judged ones (another split or dataset?)")
        run = self._clean(run)
        values: dict[tuple[int, int | None], dict[str, float]] = defaultdict(dict)
        cutoffs = [c for c in self._evaluators if any(s.run_cutoff == c for s in specs)]
        total = len(run) * len(cutoffs)
        with progress.bar(show=self.show_progress, total=total, desc="scoring", unit="query") as bar:
            for cutoff in cutoffs:
                cut = run if cutoff is None else {q: dict(trec_order(d)[:cutoff]) for q, d in run.items()}
                for metric in self._evaluators[cutoff].iter_calc(cut):  # yields the measures it was built with
                    values[(id(metric.measure), cutoff)][metric.query_id] = float(metric.value)
                bar.update(len(cut))
        return {s.name: {q: values[(id(s.measure), s.run_cutoff)].get(q, 0.0) for q in self.qrels} for s in specs}

    def evaluate(self, run: Run) -> dict[str, float]:
        """Mean of each metric over all qrels queries, plus ``"queries"`` (their number)."""
        per_query = self._all_per_query(run, self.specs)
        result: dict[str, float] = {name: math.fsum(v.values()) / len(v) for name, v in per_query.items()}
        result["queries"] = len(self.qrels)
        return result

    def per_query(self, run: Run, metric: str = PER_QUERY_METRIC) -> dict[str, float]:
        """``{query_id: value}`` of one metric for every qrels query (missing from the run = 0)."""
        spec = next((s for s in self.specs if s.name == metric), None)
        if spec is None:
            return Evaluator(self.qrels, [metric], ignore_identical_ids=self.ignore_identical_ids).per_query(
                run, metric
            )
        return self._all_per_query(run, [spec])[metric]
