"""Launch data-parallel training through torchrun (gloo on CPU)."""

from __future__ import annotations

import os
import subprocess
import sys

from syneg.errors import SynegError


def under_torchrun() -> bool:
    """True inside a process that torchrun started."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def process_rank() -> int:
    """This process's global rank under torchrun (``RANK``); 0 outside it."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """How many processes train together under torchrun (``WORLD_SIZE``); 1 outside it."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def strip_option(argv: list[str], name: str) -> list[str]:
    """``argv`` without ``name VALUE`` / ``name=VALUE``."""
    result, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(f"{name}="):
            result.append(arg)
    return result


def relaunch(nproc: int, argv: list[str]) -> int:
    """Run ``python -m syneg ARGV`` in ``nproc`` processes with torchrun; returns its exit code.

    Each process gets one intra-op thread per core it can share (torchrun's default of
    ``OMP_NUM_THREADS=1`` unless set).
    """
    if nproc < 2:
        raise SynegError(f"--nproc must be at least 2 to launch torchrun, got {nproc}")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "syneg", *argv]
    return subprocess.run(command, check=False).returncode
