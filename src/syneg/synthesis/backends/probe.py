"""Check in a child process, once per build, that llama-cpp-python can generate on this CPU.

A llama-cpp-python compiled with native CPU flags on another machine can use instructions this one lacks
(e.g. AMX) and die with SIGILL on its first generation, taking the whole process with it. The probe loads
the GGUF in a short child process and generates two tokens; a success is remembered in a marker file keyed
by the llama_cpp version, its native libraries (path, size, mtime) and the model file.

Usage: ``python -m syneg.synthesis.backends.probe [MODEL.gguf]``; exit 0: the build works, 3: the test
generation failed (rebuild llama-cpp-python), 2: no probe could be run (e.g. no model).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from syneg.errors import MissingExtraError, SynegError

# No OpenMP: llama.cpp would share torch's libgomp, whose idle pool threads make libgomp stop spinning
# between llama.cpp's operations once torch has run in the process (batched synthesis ~15% slower).
PORTABLE_FLAGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_OPENMP=OFF"
REBUILD = f'CMAKE_ARGS="{PORTABLE_FLAGS}" pip install --force-reinstall --no-deps --no-cache-dir llama-cpp-python'
# A prompt of a few dozen tokens (batched matmuls), then two single-token decode steps.
_GENERATE = (
    "import sys, llama_cpp\n"
    "llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=128, n_threads=1, n_threads_batch=1, verbose=False)\n"
    "llm('Hard negatives are passages that look relevant to a query but do not answer it. ' * 3, max_tokens=2)\n"
)


def uses_openmp() -> bool:
    """True when the installed llama.cpp was built with OpenMP (see :data:`PORTABLE_FLAGS`)."""
    import llama_cpp

    return "OPENMP = 1" in llama_cpp.llama_print_system_info().decode()


class ProbeFailed(SynegError):
    """The test generation crashed, failed or hung: this llama-cpp-python build cannot run here."""


def probe_command(model_path: str | Path) -> list[str]:
    """The child process of the probe: load ``model_path`` with a small context and generate two tokens."""
    return [sys.executable, "-c", _GENERATE, str(model_path)]


def run_probe(command: Sequence[str], timeout: float = 120.0) -> None:
    """Run ``command``; ProbeFailed if it dies by a signal, exits non-zero or hangs."""
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ProbeFailed(f"llama-cpp-python: a test generation did not finish in {timeout:.0f} s") from None
    if done.returncode < 0:
        raise ProbeFailed(_crash_message(-done.returncode))
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProbeFailed(f"llama-cpp-python failed a test generation (exit {done.returncode}): {last}")


def _crash_message(signum: int) -> str:
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    cause = "was built with CPU instructions this machine lacks" if signum == signal.SIGILL else "crashed"
    return f"llama-cpp-python {cause} (a test generation died with {name}); rebuild it: {REBUILD}"


def marker_dir() -> Path:
    """Where successful probes are remembered: ``$SYNEG_CACHE_DIR/llamacpp-probe`` or ``~/.cache/syneg/...``."""
    from syneg.layout import user_cache_dir

    return user_cache_dir() / "llamacpp-probe"


def build_key(model_path: Path) -> str:
    """A digest of the llama_cpp version, its native libraries and the model file."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        raise MissingExtraError("llama-cpp-python is not installed; run: pip install 'syneg[llm]'")
    root = Path(spec.origin).parent
    libraries = sorted(p for p in root.rglob("*") if p.suffix in {".so", ".dylib", ".dll"} or ".so." in p.name)
    parts = [importlib.metadata.version("llama_cpp_python")]
    for path in [*libraries, model_path]:
        stat = path.stat()
        parts.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.blake2b("\n".join(parts).encode("utf-8"), digest_size=16).hexdigest()


def ensure_llama_cpp_works(model_path: str | Path, command: Sequence[str] | None = None,
                           timeout: float = 120.0) -> bool:
    """Probe this build once (``command`` defaults to :func:`probe_command`); SynegError when it fails.

    Returns True when the probe ran now, False when a marker shows that it passed before.
    """
    model_path = Path(model_path).resolve()
    if not model_path.is_file():
        raise SynegError(f"GGUF model not found: {model_path}")
    marker = marker_dir() / f"{build_key(model_path)}.ok"
    if marker.is_file():
        return False
    run_probe(command if command is not None else probe_command(model_path), timeout)
    with contextlib.suppress(OSError):  # an unwritable cache only means probing again next time
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"model": str(model_path), "python": sys.executable, "time": time.time()}))
        os.replace(tmp, marker)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Probe the given GGUF (default: the packaged SmolLM2); print the outcome; exit 0, 3 or 2 (see above)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        from syneg.models import default_llm_path

        path = Path(args[0]) if args else default_llm_path()
        ran = ensure_llama_cpp_works(path)
    except SynegError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3 if isinstance(exc, ProbeFailed) else 2
    print(f"llama-cpp-python works with {path.name} ({'probed now' if ran else 'passed before'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
