"""Tests of syneg/records.py."""

from __future__ import annotations

import pytest

from syneg.records import Negative


def test_negative_source_is_checked():
    with pytest.raises(ValueError):
        Negative(text="x", source="gpt")
