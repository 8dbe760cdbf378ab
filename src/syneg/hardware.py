"""What the machine offers: the device a stage runs on, its precisions and batch sizes.

One place resolves ``--device`` / the run config's ``device``: ``auto`` is CUDA when a GPU is
visible, then Apple's MPS, then the CPU; a named device that is not there is a clear error.
"""

from __future__ import annotations

import functools
import os
import re

from syneg.errors import SynegError

# how texts are encoded (``encode.backend``, ``evaluate.backend``; ``syneg.retrieval.encode.encoder_for``):
# reference = sentence-transformers' own encode at the model's dtype (fp32); bf16/fp16 = under autocast;
# fused = the hand-written bf16 CPU kernels for tested architectures (else bf16 autocast)
ENCODE_BACKENDS = ("reference", "bf16", "fp16", "fused")
DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:[0-9]{1,4})?)$"  # N: ASCII digits, at most 4
DEVICE_CHOICES = "auto|cpu|cuda|cuda:N|mps"
ENCODE_BATCH = {"cpu": 64, "cuda": 256, "mps": 128}  # default encoding batch size per device type


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast pays off.

    Asks torch's own CPU feature checks (the ones its kernels use, so an OS that has not enabled
    AMX counts as no AMX); a torch without them counts as no bf16.
    """
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, as ``taskset``/cgroups set it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str | None = "auto") -> str:
    """The torch device for ``spec`` (None = auto): ``cpu``, ``mps``, ``cuda`` or ``cuda:N``.

    A CUDA or MPS device that this machine lacks is a :class:`SynegError` (exit 2) saying what is there.
    """
    spec = (spec or "auto").strip().lower()
    if not re.fullmatch(DEVICE_PATTERN, spec):
        raise SynegError(f"--device {spec!r}: expected one of {DEVICE_CHOICES}")
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if spec.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(spec.partition(":")[2] or 0)
        if count == 0:
            built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise SynegError(f"--device {spec}: no CUDA GPU is visible (torch {torch.__version__}, {built}); "
                             "use --device cpu or --device auto")
        if index >= count:
            raise SynegError(f"--device {spec}: only {count} CUDA device(s) visible (cuda:0..cuda:{count - 1})")
    if spec == "mps" and not _mps_available():
        raise SynegError("--device mps: Apple MPS is not available on this machine; use --device cpu or auto")
    return spec


def device_type(device: str) -> str:
    """``cuda`` for ``cuda:N``; the device itself otherwise."""
    return device.partition(":")[0]


def encode_batch_size(device: str) -> int:
    """The default encoding batch size on ``device`` (larger on GPUs)."""
    return ENCODE_BATCH.get(device_type(device), ENCODE_BATCH["cpu"])


def mixed_precision(device: str, allowed: bool = True) -> str:
    """Training precision on ``device``: ``bf16``/``fp16`` where the hardware supports it, else ``fp32``."""
    kind = device_type(device)
    if not allowed:
        return "fp32"
    if kind == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if kind == "cpu" and cpu_has_bf16() else "fp32"


def encode_devices(device: str) -> list[str] | None:
    """Every visible GPU, for multi-process encoding, when ``device`` is a CUDA device and there are several.

    ``CUDA_VISIBLE_DEVICES`` limits which GPUs that is.
    """
    if device_type(device) != "cuda":
        return None
    import torch

    count = torch.cuda.device_count()
    return [f"cuda:{i}" for i in range(count)] if count > 1 else None
