"""What the machine offers: native bf16 on the CPU; the encoding precisions that choose it."""

from __future__ import annotations

import functools
import os

PRECISIONS = ("auto", "bf16", "fp32")  # auto: bf16 autocast where the hardware has it


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
