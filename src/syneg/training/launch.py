"""Launch data-parallel training through torchrun (NCCL on GPUs, gloo on CPU), on one node or several."""

from __future__ import annotations

import os
import subprocess
import sys

from syneg.errors import SynegError


MAX_PROCESSES = 1024 * 1024  # WORLD_SIZE: nodes x processes per node (syneg.limits.MAX_WORKERS each)


def under_torchrun() -> bool:
    """True inside a process that torchrun started."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def env_int(name: str, default: int, low: int, high: int) -> int:
    """The integer in environment variable ``name`` (``default`` when unset); SynegError naming it otherwise."""
    text = os.environ.get(name)
    if text is None:
        return default
    if not (text.strip().isascii() and text.strip().isdigit()) or not low <= int(text) <= high:
        raise SynegError(f"environment variable {name}={text[:40]!r}: expected an integer from {low} to {high}")
    return int(text)


def check_environment() -> None:
    """Refuse torchrun's variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``) when they are not sane integers."""
    size = env_int("WORLD_SIZE", 1, 1, MAX_PROCESSES)
    env_int("RANK", 0, 0, size - 1)
    env_int("LOCAL_RANK", 0, 0, size - 1)


def process_rank() -> int:
    """This process's global rank under torchrun (``RANK``); 0 outside it."""
    return env_int("RANK", 0, 0, MAX_PROCESSES - 1)


def world_size() -> int:
    """How many processes train together under torchrun (``WORLD_SIZE``); 1 outside it."""
    return env_int("WORLD_SIZE", 1, 1, MAX_PROCESSES)


def process_device(device: str | None) -> str:
    """The device this process trains on: ``cuda:LOCAL_RANK`` under torchrun on GPUs (made current), else ``device``."""
    from syneg.hardware import device_type, resolve_device

    device = resolve_device(device)
    if device_type(device) != "cuda":
        return device
    import torch

    index = env_int("LOCAL_RANK", 0, 0, MAX_PROCESSES - 1) if under_torchrun() else int(device.partition(":")[2] or 0)
    torch.cuda.set_device(index)
    return f"cuda:{index}"


def strip_options(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """``argv`` without ``NAME VALUE`` / ``NAME=VALUE`` for each of ``names``."""
    result, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        elif not arg.startswith(tuple(f"{name}=" for name in names)):
            result.append(arg)
    return result


def torchrun_nodes(nnodes: int = 1, node_rank: int = 0, rdzv_endpoint: str | None = None) -> list[str]:
    """torchrun's node options: ``--standalone`` on one node, else the c10d rendezvous at ``rdzv_endpoint``."""
    if nnodes == 1 and rdzv_endpoint is None:
        return ["--standalone"]
    if rdzv_endpoint is None:
        raise SynegError(f"--nnodes {nnodes}: give --rdzv-endpoint HOST:PORT (the same on every node)")
    if not 0 <= node_rank < nnodes:
        raise SynegError(f"--node-rank {node_rank}: must be in 0..{nnodes - 1}")
    return [f"--nnodes={nnodes}", f"--node-rank={node_rank}", "--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}"]


def relaunch(nproc: int, argv: list[str], nodes: list[str] | None = None) -> int:
    """Run ``python -m syneg ARGV`` in ``nproc`` processes per node with torchrun; returns its exit code.

    ``nodes`` are torchrun's node options (:func:`torchrun_nodes`; default one node). Each process gets
    one intra-op thread per core it can share (torchrun's default of ``OMP_NUM_THREADS=1`` unless set).
    """
    nodes = nodes or ["--standalone"]
    if nproc < 2 and nodes == ["--standalone"]:
        raise SynegError(f"--nproc must be at least 2 to launch torchrun on one node, got {nproc}")
    command = [sys.executable, "-m", "torch.distributed.run", *nodes,
               f"--nproc_per_node={nproc}", "-m", "syneg", *argv]
    return subprocess.run(command, check=False).returncode
