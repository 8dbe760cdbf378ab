"""Bounds on the numbers syneg reads from files and options; a value outside them is a clear error.

They are far beyond any real use and small enough that no value inside them can exhaust memory
(pytrec_eval allocates by relevance grade; retrieval and metric cut-offs allocate by depth).
"""

from __future__ import annotations

MAX_GRADE = 1000  # |relevance grade| in a qrels file (BEIR uses 0..2, TREC -2..4)
MAX_RANK = 10**9  # rank column of a TREC run
MAX_DEPTH = 100_000  # documents per query: --top-k, metric cut-offs (nDCG@k)
MAX_BATCH_SIZE = 65_536  # texts encoded together
MAX_SEQ_LENGTH = 131_072  # tokens per text
MAX_EPOCH = 1_000_000  # mix --epoch
MAX_SEED = 2**32 - 1  # seeds (numpy and torch take 0..2^32-1)
MAX_NEGATIVES = 1000  # negatives per (query, positive) and extra positives kept per pair
MAX_CALLS_PER_PAIR = 1000  # LLM calls planned per (query, positive): --per-query, max_per_query, target_kept
MAX_WORKERS = 1024  # calls in flight, CPU threads, training processes per node and nodes
MAX_ATTEMPTS = 100  # tries per LLM call
MAX_SHARDS = 100_000  # N of --shard I/N
MAX_RATIO = 1e6  # mix synthetic : retrieved ratio R (beyond it every negative is synthetic anyway)
MAX_LINE_BYTES = 64 << 20  # bytes in one line of a JSON-lines or TSV input (the longest real passage is ~1 MB)
MAX_TOKEN_COUNT = 2**31  # prompt / completion tokens of one call, as a server or batch result reports them
MAX_REQUEST_TIMEOUT_S = 3600.0  # seconds per HTTP request (a reply that takes longer is not coming)
MAX_DEADLINE_S = 30 * 86400.0  # seconds for all calls of a synthesis run (30 days)
MAX_ITEMS = 10**9  # queries, pairs, instances, steps: --max-queries, --limit, max_instances, max_steps, eval_steps
MAX_EPOCHS = 10_000  # training epochs
MAX_PASSAGE_WORDS = 10_000  # synthesize.max_words
MIN_WORDS, MAX_WORDS = 30, 100  # words asked of a synthetic passage: the fewest, and synthesize.max_words' default
MAX_SAMPLING = 10.0  # LLM sampling temperature and repeat penalty
MAX_TRAIN_SCALE = 100.0  # learning rate and InfoNCE temperature
MAX_LOSS_WEIGHT = 1e6  # train.infonce_weight
MAX_GRID_VALUES = 100  # experiment seeds, ratios, temperatures
