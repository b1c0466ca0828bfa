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

__all__ = [
    "cyclic_bounds",
    "minimum",
    "one_cycle_max_lr",
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


def smooth(losses, beta=0.98):
    """Exponential moving average of ``losses`` with bias correction.

    Non-finite losses pass through as they are (and do not enter the average).

    Args:
        losses: Sequence of floats.
        beta: Float in [0, 1). Weight of the past; 0 returns the losses.

    Returns:
        A float64 numpy array of the same length.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"smooth: beta must be in [0, 1); received beta={beta!r}")
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    out = np.empty_like(values)
    average, seen = 0.0, 0
    for i, value in enumerate(values):
        if not math.isfinite(value):
            out[i] = value
            continue
        seen += 1
        average = beta * average + (1.0 - beta) * value
        out[i] = average / (1.0 - beta**seen)
    return out


def valley(learning_rates, losses):
    """The rate halfway along the longest run over which the loss keeps falling.

    The run is the longest strictly decreasing subsequence of the losses;
    fastai's default suggestion, robust to a noisy curve because one bump does
    not end the run.

    Returns:
        A float, or NaN when fewer than two points are finite.
    """
    rates, values = _finite(learning_rates, losses)
    n = len(values)
    if n < 2:
        return math.nan
    length = np.ones(n, dtype=np.int64)
    previous = np.full(n, -1, dtype=np.int64)
    for i in range(1, n):
        earlier = np.nonzero(values[:i] > values[i])[0]
        if len(earlier):
            best = earlier[np.argmax(length[earlier])]
            length[i] = length[best] + 1
            previous[i] = best
    end = int(np.argmax(length))
    start = end
    while previous[start] >= 0:
        start = int(previous[start])
    return float(rates[start + (end - start) // 2])


def steep(learning_rates, losses):
    """The rate where the loss falls fastest against log(rate).

    Returns:
        A float, or NaN when fewer than three points are finite.
    """
    rates, values = _finite(learning_rates, losses)
    if len(values) < 3:
        return math.nan
    slope = np.gradient(values, np.log(rates))
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


def slide(learning_rates, losses, window=15, threshold=0.005):
    """The rate just below where the curve stops being flat, scanning from the end.

    A window of ``window`` points slides left from the end of the curve while
    the slopes of the loss at its two ends differ by more than ``threshold``;
    the suggestion is the rate at the left end where they first agree, a
    point from which the loss still falls gently (fastai's `slide`).

    Returns:
        A float, or NaN when fewer than ``window + 1`` points are finite.
    """
    rates, values = _finite(learning_rates, losses)
    if len(values) <= window:
        return math.nan
    slope = np.gradient(values)
    right = len(values) - 1
    left = right - window
    suggestion = rates[left]
    while left >= 0 and abs(slope[right] - slope[left]) > threshold:
        suggestion = rates[left]
        right -= 1
        left -= 1
    return float(suggestion)


def cyclic_bounds(learning_rates, losses, fraction=0.1):
    """(base_lr, max_lr) for a cyclical schedule, as Smith reads the range test.

    `base_lr` is where the loss starts falling: the first rate at which it
    is ``fraction`` of its total fall below the starting loss. `max_lr` is
    where it stops falling: the first rate at which it is within
    ``fraction`` of the total fall from its minimum.

    Returns:
        A (float, float) pair, or (NaN, NaN) when the loss never falls.
    """
    rates, values = _finite(learning_rates, losses)
    if len(values) < 2:
        return math.nan, math.nan
    lowest = int(np.argmin(values))
    fall = values[0] - values[lowest]
    if lowest == 0 or fall <= 0:
        return math.nan, math.nan
    falling = np.nonzero(values[: lowest + 1] <= values[0] - fraction * fall)[0]
    near_minimum = np.nonzero(values[: lowest + 1] <= values[lowest] + fraction * fall)[0]
    base = int(falling[0])
    top = max(int(near_minimum[0]), base)
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
