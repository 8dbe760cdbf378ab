"""Wall time per kept synthetic negative, and what the kept ones look like: continue mode (a passage that
opens with a mined negative's first sentences, the rest written by the model and held by the output schema to
the words asked) against the peer, grounded mode with prompt 5's schema (40-900 characters: the length only
asked for, as syneg wrote negatives before issue #26), on the same BM25-mined pairs, with the same embedded
SmolLM2, the same guard and the same cores, in the same run.

    python bench/bench_negatives.py [--data ../shared/data/scifact] [--pairs 32] [--source first|random]
                                    [--examples docs/synthesis_examples.md]

Per arm: seconds, calls, kept, keep rate (checks and guard), seconds and calls per kept negative, median
length ratio to the positive; then the ratio of seconds per kept negative (continue / peer). ``--source``: the
continue arm's ``synthesize.source`` (the peer keeps its calls as before #26: the pair's first mined negatives). ``--examples``
writes, for pairs chosen by ``--seed`` among those both arms kept a negative for, the positive and each arm's
negative side by side (Markdown).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from syneg.config import MineConfig, SynthesizeConfig
from syneg.data import load_dataset
from syneg.hardware import available_cores
from syneg.mining.miner import mine
from syneg.rng import stable_hash
from syneg.synthesis import plan
from syneg.synthesis.api import answered, make_guard
from syneg.synthesis.finalize import apply_guard, collect
from syneg.synthesis.parse import GeneratedNegative
from syneg.synthesis.prompt import REASK
from syneg.synthesis.quality import quality
from syneg.synthesis.task import Task
from syneg.synthesis.vocabulary import run_vocabulary

PROMPT_5 = Task("negatives", "syneg-prompt-5", {  # the schema before lengths were enforced
    "type": "object", "required": ["reasoning", "passage"], "additionalProperties": False,
    "properties": {"reasoning": {"type": "string", "minLength": 10, "maxLength": 300},
                   "passage": {"type": "string", "minLength": 40, "maxLength": 900}}}, GeneratedNegative, REASK)


def arm(label: str, dataset, mined, config: SynthesizeConfig, workdir: Path, task: Task | None = None) -> dict:
    """One run of the planned calls (with ``task`` in place of each item's own), checks and guard included."""
    items, model_id = plan(dataset, config, mined, seed=0)
    if task is not None:
        items = [dataclasses.replace(item, task=task, key=task.key(model_id, item.messages, item.sampling))
                 for item in items]
    started = time.perf_counter()
    with answered(items, config, workdir / f"{label}.jsonl", model_id, backend=None, retry_failed=False,
                  import_from=None, progress=False, record_rate=False) as (cache, counters, _):
        outcome = collect(items, cache, model_id, counters.transient, run_vocabulary(dataset, items))
    if outcome.negatives:
        apply_guard(outcome, items, make_guard(config, None, show_progress=False))
    elapsed = time.perf_counter() - started
    block = quality(outcome, items, elapsed)
    kept = len(outcome.negatives)
    ratio = (block["length_ratio"] or {}).get("median")
    print(f"  {label:<42}: {elapsed:7.1f} s  {len(items)} calls  kept {kept} ({kept / len(items):.0%})  "
          f"{block['seconds_per_kept']} s and {block['samples_per_kept']} calls per kept  length ratio {ratio}  "
          f"completion tokens {counters.tokens.get('completion_tokens', 0)}")
    return {"elapsed": elapsed, "quality": block, "negatives": outcome.negatives}


def examples(mined, peer: dict, ours: dict, seed: int, count: int = 3) -> str:
    """Markdown: ``count`` pairs chosen by ``seed`` (both arms kept one), each arm's first kept negative."""
    def first(run: dict) -> dict:
        found: dict = {}
        for negative in run["negatives"]:
            found.setdefault(negative.query_id, negative)
        return found

    before, after = first(peer), first(ours)
    chosen = sorted((m for m in mined if m.query_id in before and m.query_id in after),
                    key=lambda m: stable_hash(seed, "examples", m.query_id))[:count]
    lines = [f"Pairs chosen by seed {seed} (`stable_hash`) among those both arms kept a negative for.", ""]
    for m in chosen:
        lines += [f"### Query {m.query_id}: {m.query}", "",
                  f"**Positive** ({len(m.positive.split())} words): {m.positive}", ""]
        for name, negative in (("Before: grounded, length asked (prompt 5)", before[m.query_id]),
                               ("After: continue, length enforced", after[m.query_id])):
            lines += [f"**{name}** ({len(negative.text.split())} words, teacher score "
                      f"{negative.teacher_score} vs positive {negative.positive_teacher_score}): {negative.text}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="BEIR folder with train qrels (default: the embedded slice)")
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=Path, default=None, help="write before/after examples here (Markdown)")
    parser.add_argument("--source", choices=["first", "random"], default="first",
                        help="the continue arm's synthesize.source")
    args = parser.parse_args()
    dataset = load_dataset(args.data, "train")
    mined, _ = mine(dataset, MineConfig(num_negatives=4, max_queries=args.pairs), seed=0)
    print(f"[{len(mined)} BM25-mined SciFact pairs, embedded SmolLM2-135M Q4_1, {available_cores()} cores, guard on]")
    with tempfile.TemporaryDirectory() as tmp:
        peer = arm("peer: grounded, prompt 5 schema (asked)", dataset, mined, SynthesizeConfig(mode="grounded"),
                   Path(tmp), PROMPT_5)
        ours = arm(f"continue, length enforced, source {args.source}", dataset, mined,
                   SynthesizeConfig(mode="continue", source=args.source), Path(tmp))
    a, b = ours["quality"]["seconds_per_kept"], peer["quality"]["seconds_per_kept"]
    if a and b:
        print(f"  ratio seconds per kept negative, continue / peer: {a / b:.2f}x")
    if args.examples is not None:
        args.examples.write_text(examples(mined, peer, ours, args.seed) + "\n")


if __name__ == "__main__":
    main()
