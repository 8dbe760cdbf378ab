"""Tests of syneg/rng.py."""

from __future__ import annotations

from syneg.rng import instance_rng


def test_instance_rng_is_per_instance():
    a = [instance_rng(0, "q1").random() for _ in range(2)]
    assert a[0] == a[1]
    assert instance_rng(0, "q1").random() != instance_rng(0, "q2").random()
    assert instance_rng(0, "q1").random() != instance_rng(1, "q1").random()
