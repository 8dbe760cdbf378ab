"""Fine-tuning with a registered loss, per-step logs, checkpoint evaluation and gradient diagnostics.

Names load on first use, so that the config can read the loss registry without the trainer.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"TrainConfig": "syneg.config", "grad_stats": "syneg.training.diagnostics",
            "plot_training": "syneg.training.diagnostics", "make_loss": "syneg.training.trainer",
            "train": "syneg.training.trainer"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'syneg.training' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
