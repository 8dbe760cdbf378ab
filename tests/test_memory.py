"""syneg.memory: what a stage leaves is handed back before the next stage of the same process."""

from __future__ import annotations

import pytest

from syneg.memory import release_memory


@pytest.mark.slow
def test_release_drops_the_shared_encoders() -> None:
    from syneg.models import load_encoder

    first = load_encoder(None, device="cpu")
    assert load_encoder(None, device="cpu") is first  # shared while a stage runs
    release_memory()
    assert load_encoder(None, device="cpu") is not first  # the next stage loads its own


def test_release_without_shared_encoders_is_harmless() -> None:
    release_memory()
    release_memory()
