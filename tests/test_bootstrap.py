"""The paired bootstrap interval against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from syneg.evaluation.bootstrap import paired_bootstrap


def test_constant_difference_has_a_zero_width_interval():
    a = {"q1": 0.2, "q2": 0.5, "q3": 0.9}
    b = {q: v + 0.1 for q, v in a.items()}
    ci = paired_bootstrap(a, b)
    assert ci.mean == pytest.approx(0.1) and ci.low == pytest.approx(0.1) and ci.high == pytest.approx(0.1)
    assert (ci.queries, ci.resamples, ci.level) == (3, 2000, 0.95)


def test_two_queries_by_hand():
    # differences 0 and 1: a resample's mean is 0, 0.5 or 1 with probability 1/4, 1/2, 1/4
    a, b = {"x": 0.0, "y": 0.0}, {"x": 0.0, "y": 1.0}
    ci = paired_bootstrap(a, b, resamples=4000)
    assert (ci.mean, ci.low, ci.high) == (0.5, 0.0, 1.0)
    middle = paired_bootstrap(a, b, resamples=4000, level=0.4)  # the 30th..70th percentiles: all 0.5
    assert (middle.low, middle.high) == (0.5, 0.5)


def test_matches_the_normal_approximation_for_many_queries():
    rng = np.random.default_rng(1)
    diff = rng.normal(0.05, 0.2, size=400)
    ci = paired_bootstrap({str(i): 0.0 for i in range(400)}, {str(i): float(d) for i, d in enumerate(diff)})
    half = 1.96 * diff.std() / math.sqrt(diff.size)
    assert ci.mean == pytest.approx(diff.mean())
    assert ci.low == pytest.approx(diff.mean() - half, abs=0.15 * half)
    assert ci.high == pytest.approx(diff.mean() + half, abs=0.15 * half)


def test_seeded_and_only_shared_queries():
    a = {"q1": 0.1, "q2": 0.4, "q3": 0.3, "only_a": 1.0}
    b = {"q1": 0.5, "q2": 0.2, "q3": 0.6, "only_b": 0.0}
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap(a, b, seed=3)
    ci = paired_bootstrap(a, b)
    assert ci.queries == 3 and ci.mean == pytest.approx((0.4 - 0.2 + 0.3) / 3)
    assert ci.low < ci.mean < ci.high
    assert paired_bootstrap({"a": 1.0}, {"b": 1.0}) is None
