"""Launch data-parallel training through torchrun (NCCL on GPUs, gloo on CPU), on one node or several."""

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


def process_device(device: str | None) -> str:
    """The device this process trains on: ``cuda:LOCAL_RANK`` under torchrun on GPUs (made current), else ``device``."""
    from syneg.hardware import device_type, resolve_device

    device = resolve_device(device)
    if device_type(device) != "cuda":
        return device
    import torch

    index = int(os.environ["LOCAL_RANK"]) if under_torchrun() else int(device.partition(":")[2] or 0)
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
