"""What a range test's curve suggests: pure functions of (learning rates, losses).

Every function takes the rates of the test (increasing) and the losses at
them, usually smoothed (`smooth`), and ignores points whose loss is not
finite. They are independent of Keras, so they can be checked on made-up
curves.

References:
    Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017
    (the range test, and the bounds of a cycle).
    Howard & Gugger, "fastai: A Layered API for Deep Learning", 2020 (the
    valley, steep, minimum and slide suggestions of `lr_find`).
"""

import math

import numpy as np

from keras_lr._engine.losses import MovingAverage

__all__ = [
    "cyclic_bounds",
    "minimum",
    "one_cycle_max_lr",
    "running_average",
    "smooth",
    "slide",
    "steep",
    "valley",
]


def _finite(learning_rates, losses):
    """The points with a positive rate and a finite loss, as float64 arrays."""
    rates = np.asarray(learning_rates, dtype=np.float64).reshape(-1)
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    if rates.shape != values.shape:
        raise ValueError(
            f"learning_rates and losses must have the same length; received "
            f"{rates.shape[0]} rates and {values.shape[0]} losses"
        )
    keep = np.isfinite(values) & np.isfinite(rates) & (rates > 0)
    return rates[keep], values[keep]


def smooth(losses, beta=0.9):
    """The losses smoothed without lag: a centered moving median.

    A one-way moving average lags: with fastai's 0.98 over a 100-step test
    the smoothed curve trails the raw one by about 50 steps (several decades
    of learning rate), which drags every suggestion read from it to higher
    rates. A centered window has no lag, and a median is not pulled up by
    the exploding losses at the end of a test. The window has as many points
    as the moving average with weight ``beta`` averages over,
    (1 + beta) / (1 - beta) (19 for 0.9), made odd, and shrinks at the ends.
    Non-finite losses pass through as they are and do not enter the windows.

    Args:
        losses: Sequence of floats.
        beta: Float in [0, 1). The smoothing, as the weight of the past of
            the equivalent moving average; 0 returns the losses.

    Returns:
        A float64 numpy array of the same length.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"smooth: beta must be in [0, 1); received beta={beta!r}")
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    out = values.copy()
    finite = np.nonzero(np.isfinite(values))[0]
    half = int(round((1.0 + beta) / (1.0 - beta))) // 2
    points = values[finite]
    for position, index in enumerate(finite):
        reach = min(half, position, len(points) - 1 - position)
        out[index] = np.median(points[position - reach : position + reach + 1])
    return out


def running_average(losses, beta):
    """The one-way, bias-corrected exponential moving average (what the test's stop rule reads)."""
    average = MovingAverage(beta)
    return np.array([average.update(float(value)) for value in np.asarray(losses, dtype=np.float64).reshape(-1)])


def _fall(values):
    """(start level, index of the minimum, total fall) of a curve.

    The start level is the median of the first tenth of the points (at
    least 3), so one noisy first batch does not set it.
    """
    head = values[: max(3, len(values) // 10)]
    start = float(np.median(head))
    lowest = int(np.argmin(values))
    return start, lowest, start - float(values[lowest])


def _stays_below(values, lowest, level):
    """The first index from which the curve stays at or below ``level`` up to its minimum."""
    above = np.nonzero(values[: lowest + 1] > level)[0]
    return int(above[-1]) + 1 if len(above) else 0


def valley(learning_rates, losses):
    """The rate halfway down the fall of the loss.

    The rate from which the loss stays below the midpoint between its
    starting level and its minimum, up to the minimum: in the middle of the valley the
    curve descends into, where training makes fast progress and is still
    far from the divergence beyond the minimum. (fastai's `valley` takes the
    middle of the longest decreasing subsequence, which on a flat, noisy
    start can land long before the fall.)

    Returns:
        A float, or NaN when fewer than three points are finite or the loss
        never falls below its start.
    """
    rates, values = _finite(learning_rates, losses)
    if len(values) < 3:
        return math.nan
    start, lowest, fall = _fall(values)
    if fall <= 0 or lowest == 0:
        return math.nan
    return float(rates[_stays_below(values, lowest, start - 0.5 * fall)])


def steep(learning_rates, losses):
    """The rate where the loss falls fastest against log(rate), before its minimum.

    The slope at each point is taken across a span of a twentieth of the
    points on either side (at least one), so batch noise does not decide it.

    Returns:
        A float, or NaN when fewer than three points are finite.
    """
    rates, values = _finite(learning_rates, losses)
    n = len(values)
    if n < 3:
        return math.nan
    lowest = int(np.argmin(values))
    if lowest == 0:
        return math.nan
    reach = max(1, n // 20)
    index = np.arange(lowest + 1)
    left = np.maximum(index - reach, 0)
    right = np.minimum(index + reach, lowest)
    log_rates = np.log(rates)
    span = log_rates[right] - log_rates[left]
    slope = np.where(span > 0, (values[right] - values[left]) / np.where(span > 0, span, 1.0), np.inf)
    return float(rates[int(np.argmin(slope))])


def minimum(learning_rates, losses, divisor=10.0):
    """The rate at the lowest loss, divided by ``divisor`` (10, as fastai).

    Returns:
        A float, or NaN when no point is finite.
    """
    rates, values = _finite(learning_rates, losses)
    if not len(values):
        return math.nan
    return float(rates[int(np.argmin(values))] / divisor)


def slide(learning_rates, losses, window=15, threshold=0.05):
    """The left end of the first window, sliding down from the minimum, whose two ends fall alike.

    A window of ``window`` points slides left from the minimum of the loss
    while the slopes of the loss (against log10 of the rate, as a fraction
    of the total fall per decade) at its two ends differ by more than
    ``threshold`` (and have not crossed). Where they first agree, the window straddles the steepest
    part of the fall, and its left end is a rate at which the loss has begun
    to fall fast but is still well clear of the minimum: a cautious pick
    (fastai's `slide` slides a window the same way, from the end of the
    curve; starting at the minimum keeps the divergent tail out of it).

    Returns:
        A float, or NaN when the minimum has fewer than ``window`` points
        before it or the loss never falls.
    """
    rates, values = _finite(learning_rates, losses)
    if len(values) < 3:
        return math.nan
    start, lowest, fall = _fall(values)
    if fall <= 0 or lowest < window:
        return math.nan
    slope = np.gradient(values[: lowest + 1], np.log10(rates[: lowest + 1])) / fall
    right, left = lowest, lowest - window
    sign = np.sign(slope[right] - slope[left])
    # Stop where the two slopes agree, or cross (a coarse curve can step over the band).
    while left > 0 and abs(slope[right] - slope[left]) > threshold and np.sign(slope[right] - slope[left]) == sign:
        right -= 1
        left -= 1
    return float(rates[left])


def cyclic_bounds(learning_rates, losses, fraction=0.1):
    """(base_lr, max_lr) for a cyclical schedule, as Smith reads the range test.

    `base_lr` is where the loss starts falling for good: the rate from which
    it stays ``fraction`` of its total fall below its starting level, up to
    its minimum. `max_lr` is where it stops falling: the rate from which it
    stays within ``fraction`` of the total fall of its minimum.

    Returns:
        A (float, float) pair, or (NaN, NaN) when fewer than three points
        are finite or the loss never falls below its start.
    """
    rates, values = _finite(learning_rates, losses)
    if len(values) < 3:
        return math.nan, math.nan
    start, lowest, fall = _fall(values)
    if fall <= 0 or lowest == 0:
        return math.nan, math.nan
    base = _stays_below(values, lowest, start - fraction * fall)
    top = max(_stays_below(values, lowest, values[lowest] + fraction * fall), base)
    return float(rates[base]), float(rates[top])


def one_cycle_max_lr(learning_rates, losses):
    """The peak rate to give `OneCycle`: the upper bound of `cyclic_bounds`.

    One cycle warms up to its peak and spends most steps below it, so it
    tolerates a peak near the top of the falling part of the curve, where
    the loss stops improving (Smith & Topin 2018 use the range test's upper
    bound as the peak).

    Returns:
        A float, or NaN when the loss never falls.
    """
    return cyclic_bounds(learning_rates, losses)[1]
