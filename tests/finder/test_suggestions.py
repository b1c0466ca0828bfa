"""The suggestion functions on made-up curves with known answers."""

import math

import numpy as np
import pytest

from keras_lr.finder import assess
from keras_lr.finder import suggestions as s

RATES = np.logspace(-6, 1, 141)  # 0.05 decades apart
X = np.log10(RATES)


def valley_curve(x=X):
    """Flat at 2, a sigmoid fall of 1.5 centred on 1e-2 (width 0.3 decades), a rise after 10^-0.5."""
    fall = 1.5 / (1.0 + np.exp(-(x + 2.0) / 0.3))
    rise = np.where(x > -0.5, 10.0 ** (2.0 * (x + 0.5)) - 1.0, 0.0)
    return 2.0 - fall + rise


def decades(rate, expected):
    return abs(math.log10(rate) - math.log10(expected))


def test_clean_valley():
    losses = valley_curve()
    # Halfway down the fall and the steepest point are both the sigmoid's centre.
    assert decades(s.valley(RATES, losses), 1e-2) <= 0.05
    assert decades(s.steep(RATES, losses), 1e-2) <= 0.05
    lowest = RATES[np.argmin(losses)]
    assert s.minimum(RATES, losses) == pytest.approx(lowest / 10)
    assert -0.8 < math.log10(lowest) <= -0.5
    # Falling 10% of the way: x = -2 + 0.3 ln(1/9); within 10% of the minimum: x = -2 + 0.3 ln 9.
    base, top = s.cyclic_bounds(RATES, losses)
    assert decades(base, 10 ** (-2 + 0.3 * math.log(1 / 9))) <= 0.05
    assert decades(top, 10 ** (-2 + 0.3 * math.log(9))) <= 0.05
    assert s.one_cycle_max_lr(RATES, losses) == top
    # slide's window (15 points, 0.7 decades) first falls alike at both ends when
    # it straddles the sigmoid's centre symmetrically: its left end is 0.35 decades below.
    assert decades(s.slide(RATES, losses), 10 ** (-2.0 - 0.35)) <= 0.1


def test_noisy_valley_after_smoothing():
    rng = np.random.default_rng(0)
    losses = valley_curve() + rng.normal(0.0, 0.05, size=len(RATES))
    smoothed = s.smooth(losses)
    assert decades(s.valley(RATES, smoothed), 1e-2) <= 0.15
    assert decades(s.steep(RATES, smoothed), 1e-2) <= 0.3
    base, top = s.cyclic_bounds(RATES, smoothed)
    assert decades(base, 10 ** (-2 + 0.3 * math.log(1 / 9))) <= 0.3
    assert decades(top, 10 ** (-2 + 0.3 * math.log(9))) <= 0.3
    # steep takes its slope across a span of points, so even raw noise does not decide it.
    assert decades(s.steep(RATES, losses), 1e-2) <= 0.3


def test_smooth_has_no_lag_and_ignores_the_exploding_end():
    losses = valley_curve()
    losses[-5:] = [1e3, 1e5, 1e8, np.inf, np.nan]
    smoothed = s.smooth(losses)
    # A one-way moving average trails the fall; the centered median does not.
    index = int(np.argmin(abs(X + 2.0)))
    assert smoothed[index] == pytest.approx(losses[index], abs=0.02)
    assert s.running_average(losses, 0.9)[index] > losses[index] + 0.1
    assert np.isinf(smoothed[-2]) and np.isnan(smoothed[-1])
    assert np.all(np.isfinite(smoothed[:-2]))
    np.testing.assert_array_equal(s.smooth(losses, 0.0), losses)


def test_nan_tail_is_ignored():
    losses = valley_curve()
    losses[X > 0.0] = np.nan
    for function in (s.valley, s.steep, s.minimum, s.one_cycle_max_lr):
        assert function(RATES, losses) == pytest.approx(function(RATES[X <= 0.0], losses[X <= 0.0]))
    assert assess(RATES, losses) == []


def test_a_curve_that_never_falls():
    rng = np.random.default_rng(1)
    flat = 2.0 + rng.normal(0.0, 0.002, size=len(RATES))
    assert assess(RATES, flat) == ["the loss never fell"]
    rising = 2.0 + 10.0 ** (X + 1.0)
    assert math.isnan(s.valley(RATES, rising))
    assert math.isnan(s.steep(RATES, rising))
    assert all(math.isnan(v) for v in s.cyclic_bounds(RATES, rising))


def test_assess_names_what_is_wrong():
    assert assess(RATES, valley_curve()) == []
    rises_at_once = 2.0 + 10.0 ** (2 * (X + 6.0) / 7.0)
    assert assess(RATES, rises_at_once) == ["diverged at once: the loss rose from the first steps"]
    few = valley_curve()[:8]
    assert assess(RATES[:8], few) == ["too few points (8 finite; at least 10 needed)"]
    mostly_nan = valley_curve()
    mostly_nan[20:] = np.nan
    assert assess(RATES, mostly_nan)[0] == "mostly NaN or infinite (121 of 141 points)"


def test_too_few_points_give_nan():
    for function in (s.valley, s.steep, s.minimum, s.slide, s.one_cycle_max_lr):
        assert math.isnan(function([1e-3], [np.nan]))


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="same length; received 3 rates and 2 losses"):
        s.valley([1e-3, 1e-2, 1e-1], [1.0, 0.5])
    with pytest.raises(ValueError, match=r"smooth: beta must be in \[0, 1\); received beta=1.0"):
        s.smooth([1.0, 2.0], 1.0)
