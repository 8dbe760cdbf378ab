"""A bf16 inference copy of a SentenceTransformer whose linear layers run as fused oneDNN kernels on the CPU.

Under bf16 autocast every linear layer casts its weight to bf16 and copies its bias into the output
before the matrix product, and BERT's exact (erf) GELU then runs as a separate pass over the
largest activation. The copy holds bf16 linear weights once and runs each ``nn.Linear`` as
``torch.ops.mkldnn._linear_pointwise`` (bias in the kernel), with the GELU of an intermediate
layer fused into the kernel's epilogue (computed on the fp32 accumulator). In BERT's output blocks
(``LayerNorm(dense(hidden) + residual)``) the residual sum is fused into the kernel too, and the residual
stream between layers is bf16 (the last block's output is fp32, for pooling): autocast's fp32 stream
costs a cast, a mixed-dtype add and an fp32 layer norm per block, about 17% of the forward at 64
tokens, for embeddings that agree with it to a cosine of 0.9999. Embeddings stay fp32. Everything
else (the transformer's own forward, attention, pooling, normalization) is the model's own code.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn


@contextlib.contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """Temporarily run each torch operator on ``count`` threads (restored afterwards)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fused_kernels_available() -> bool:
    """True when this torch has the oneDNN fused linear kernel and the CPU computes bf16 natively."""
    from syneg.hardware import cpu_has_bf16

    return (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
            and cpu_has_bf16())


class FusedLinear(nn.Module):
    """``nn.Linear`` (bf16 weights) as one oneDNN kernel, optionally with an exact GELU epilogue."""

    def __init__(self, linear: nn.Linear, gelu: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().to(torch.bfloat16), requires_grad=False)
        bias = linear.bias
        self.bias = None if bias is None else nn.Parameter(bias.detach().to(torch.bfloat16), requires_grad=False)
        self.attr, self.algorithm = ("gelu", "none") if gelu else ("none", "")

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(hidden.to(torch.bfloat16).contiguous(), self.weight, self.bias,
                                                  self.attr, [], self.algorithm)


class FusedAddNorm(nn.Module):
    """BERT's ``*Output`` block (``LayerNorm(dense(hidden) + residual)``, dropout off) on a bf16 residual
    stream: the residual sum in the linear kernel's epilogue, then the layer norm in bf16 (fp32 for the
    last block, whose output is pooled)."""

    def __init__(self, block: nn.Module, last: bool = False) -> None:
        super().__init__()
        self.dense, norm = FusedLinear(block.dense), block.LayerNorm
        dtype = torch.float32 if last else torch.bfloat16
        self.norm_weight = nn.Parameter(norm.weight.detach().to(dtype), requires_grad=False)
        self.norm_bias = nn.Parameter(norm.bias.detach().to(dtype), requires_grad=False)
        self.shape, self.eps, self.last = tuple(norm.normalized_shape), norm.eps, last

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        summed = torch.ops.mkldnn._linear_pointwise.binary(
            hidden_states.to(torch.bfloat16).contiguous(), input_tensor.to(torch.bfloat16).contiguous(),
            self.dense.weight, self.dense.bias, "add")
        if self.last:
            summed = summed.float()
        return nn.functional.layer_norm(summed, self.shape, self.norm_weight, self.norm_bias, self.eps)


_ADD_NORM_BLOCKS = {"BertSelfOutput", "BertOutput"}  # forward: LayerNorm(dropout(dense(h)) + residual)


def _is_add_norm(module: nn.Module) -> bool:
    return (type(module).__name__ in _ADD_NORM_BLOCKS and isinstance(getattr(module, "dense", None), nn.Linear)
            and isinstance(getattr(module, "LayerNorm", None), nn.LayerNorm))


def _is_exact_gelu(module: Any) -> bool:
    if isinstance(module, nn.GELU):
        return module.approximate == "none"
    return type(module).__name__ == "GELUActivation" and getattr(module, "act", None) is nn.functional.gelu


def _fuse(module: nn.Module) -> None:
    """Replace every ``nn.Linear`` below ``module`` in place: a ``dense`` + exact GELU pair becomes one kernel,
    and BERT's output blocks :class:`FusedAddNorm` (the last one in module order keeps an fp32 output)."""
    blocks = [path for path, child in module.named_modules() if _is_add_norm(child)]  # in forward order
    for number, path in enumerate(blocks, start=1):
        parent, _, name = path.rpartition(".")
        owner = module.get_submodule(parent)
        setattr(owner, name, FusedAddNorm(getattr(owner, name), last=number == len(blocks)))
    _fuse_linears(module)


def _fuse_linears(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        if name == "dense" and isinstance(child, nn.Linear) and _is_exact_gelu(getattr(module, "intermediate_act_fn", None)):
            module.dense = FusedLinear(child, gelu=True)
            module.intermediate_act_fn = nn.Identity()
        elif isinstance(child, nn.Linear):
            setattr(module, name, FusedLinear(child))
        else:
            _fuse_linears(child)


def has_bound_methods(module: nn.Module) -> bool:
    """True when ``module`` carries methods bound to itself on the instance (a trainer's mixed-precision ``forward``)."""
    return any(getattr(value, "__self__", None) is module for value in vars(module).values())


def plain_copy(module: nn.Module) -> nn.Module:
    """A shallow copy of ``module`` and of every submodule in eval mode: new module objects, shared tensors.

    Much cheaper than ``deepcopy`` (which also copies configs, tokenizers and every Python
    attribute). Methods bound to ``module`` on the instance (a trainer's mixed-precision ``forward``)
    are left out: they would run the original, in its own training mode and precision, instead of the copy.
    """
    return _clone_tree(module).eval()


def _clone_tree(module: nn.Module) -> nn.Module:
    clone = copy.copy(module)
    for name, value in list(vars(module).items()):
        if getattr(value, "__self__", None) is module:  # e.g. accelerate's autocast ``forward``, bound to ``module``
            delattr(clone, name)
    clone._modules = {name: None if child is None else _clone_tree(child) for name, child in module._modules.items()}
    clone._parameters = dict(module._parameters)
    clone._buffers = dict(module._buffers)
    return clone


def fused_bf16_copy(model: Any) -> Any:
    """A fused bf16 copy of ``model`` as its weights are now (about 0.03 s to build); :func:`_fuse` swaps
    linear layers in the copy only.

    Built anew on every call: a trainer's optimizer may change weights in place without bumping
    their version counters (``p.data`` updates, fused AdamW), so no cheap key can tell a stale copy.
    """
    with intra_op_threads(1):  # small casts: two threads only add synchronisation on shared cores
        fused = plain_copy(model)
        _fuse(fused)
    return fused
