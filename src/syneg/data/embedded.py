"""The embedded default dataset: a real slice of SciFact shipped inside the package."""

from __future__ import annotations

from pathlib import Path

EMBEDDED_NAME = "scifact-slice"


def embedded_path() -> Path:
    """Folder of the embedded SciFact slice (BEIR layout, ``train`` split only)."""
    return Path(__file__).parent / "embedded" / EMBEDDED_NAME
