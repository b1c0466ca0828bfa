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

from keras_lr import _validation as v
from keras_lr._engine.losses import MovingAverage

__all__ = [
    "Usable",
    "cyclic_bounds",
    "minimum",
    "one_cycle_max_lr",
    "one_cycle_peaks",
    "resample",
    "running_average",
    "smooth",
    "slide",
    "steep",
    "usable",
    "valley",
]


def _arrays(owner, learning_rates, losses):
    """The rates (checked to increase) and losses as float64 arrays of one length (``owner`` names the
    function in errors)."""
    rates = np.asarray(learning_rates, dtype=np.float64).reshape(-1)
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    if rates.shape != values.shape:
        raise ValueError(
            f"{owner}: learning_rates and losses must have the same length; received "
            f"{rates.shape[0]} rates and {values.shape[0]} losses"
        )
    tested = rates[np.isfinite(rates)]
    falls = np.nonzero(np.diff(tested) < 0)[0]
    if falls.size:
        i = int(falls[0])
        raise ValueError(
            f"{owner}: learning_rates must increase, in the order the range test ran them; received "
            f"{tested[i]:.4g} then {tested[i + 1]:.4g} (a curve sorted by loss, or reversed?)"
        )
    return rates, values


def _beta(owner, beta):
    """``beta`` checked as a smoothing in [0, 1)."""
    return v.check_number(owner, "beta", beta, low=0.0, high=1.0, high_open=True)


def _finite(owner, learning_rates, losses):
    """The points with a positive rate and a finite loss, as float64 arrays."""
    rates, values = _arrays(owner, learning_rates, losses)
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
    (1 + beta) / (1 - beta) (19 for 0.9), made odd, and shrinks at the ends
    (to 3 points for the first: one lucky first batch is not the curve's
    level).
    Non-finite losses pass through as they are and do not enter the windows.

    Args:
        losses: Sequence of floats.
        beta: Float in [0, 1). The smoothing, as the weight of the past of
            the equivalent moving average; 0 returns the losses.

    Returns:
        A float64 numpy array of the same length.
    """
    beta = _beta("smooth", beta)
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    out = values.copy()
    finite = np.nonzero(np.isfinite(values))[0]
    half = _window_reach(beta)
    points = values[finite]
    n = len(points)
    medians = np.empty(n)
    if n > 2 * half:  # the full windows at once, then the shrinking ones at the ends
        medians[half : n - half] = np.median(np.lib.stride_tricks.sliding_window_view(points, 2 * half + 1), axis=1)
        ends = np.r_[0:half, n - half : n]
    else:
        ends = np.arange(n)
    reach = np.minimum(np.minimum(ends, n - 1 - ends), half)
    if len(ends) and len(ends) * (2 * int(reach.max()) + 1) <= 1 << 22:
        # Each end window is odd, 2 * reach + 1 points: its median is the middle one once sorted. Padded
        # with +inf (sorted last; the points are finite), all of them are sorted in one call.
        offsets = np.arange(2 * int(reach.max()) + 1)
        windows = np.where(
            offsets <= 2 * reach[:, None], points[np.minimum(ends[:, None] - reach[:, None] + offsets, n - 1)], np.inf
        )
        medians[ends] = np.sort(windows, axis=1)[np.arange(len(ends)), reach]
    else:  # none, or so many long ones (smoothing near 1 on a long test) that one by one takes less memory
        for position, width in zip(ends, reach):
            medians[position] = np.median(points[position - width : position + width + 1])
    if half and n >= 3:
        # The first point's window is 3 points, not the point alone: one lucky first batch (a regression with
        # outliers: 1.49 where the first 20 averaged 3.31) was the curve's minimum, and read a curve that fell
        # and then diverged as one that "diverged at once", and left no OneCycle peak.
        medians[0] = np.median(points[:3])
    out[finite] = medians
    return out


def _window_reach(beta):
    """How many points either side of a point `smooth`'s full window spans (9 for 0.9, 0 below 0.2):
    the last (and first) this many points of a curve have narrower windows, down to the point alone."""
    return int(round((1.0 + beta) / (1.0 - beta))) // 2


def _steady_end(raw, smoothed, beta):
    """``smoothed`` (a copy) with its last `_window_reach` points (at most half the curve) set to the
    median of one more of ``raw``'s last points: one full window, one-sided. The centered windows
    shrink to the point alone at the end, where one lucky last batch would read as a fall; the
    one-sided window ignores it, and a fall over the last points still shows (by about half). Both
    arrays hold the same finite points."""
    out = np.array(smoothed, dtype=np.float64)
    reach = min(_window_reach(beta), len(out) // 2)
    if reach:
        out[-reach:] = np.median(np.asarray(raw, dtype=np.float64)[-(reach + 1):])
    return out


def resample(losses, beta=0.9, draws=40, seed=0):
    """Raw curves the test could as well have recorded: for the spread of a suggestion.

    Each draw is the smoothed curve plus each point's residual (raw minus
    smoothed) with a random sign (a wild bootstrap): the noise stays as
    large as it was where it was, small on the flat start and large near
    the divergence. The batches' noise is what moves a suggestion from seed
    to seed; a suggestion read from every draw shows how far it can move.

    Args:
        losses: Sequence of floats (non-finite ones stay as they are).
        beta: Float in [0, 1). The smoothing, as in `smooth`.
        draws: Integer >= 1. How many curves.
        seed: Integer. The resampling's seed (the draws repeat run to run).

    Returns:
        A float64 numpy array of shape (draws, len(losses)).
    """
    draws = v.check_int("resample", "draws", draws, low=1)
    seed = v.check_int("resample", "seed", seed, low=0)
    beta = _beta("resample", beta)
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    finite = np.isfinite(values)
    out = np.tile(values, (draws, 1))
    if finite.sum() < 3:
        return out
    smoothed = smooth(values, beta)
    residuals = np.where(finite, values - smoothed, 0.0)
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=out.shape)
    out[:, finite] = (smoothed + signs * residuals)[:, finite]
    return out


def running_average(losses, beta):
    """The one-way, bias-corrected exponential moving average (what the test's stop rule reads)."""
    beta = _beta("running_average", beta)
    return np.array(MovingAverage(beta).updates(np.asarray(losses, dtype=np.float64).reshape(-1).tolist()))


# A curve that never rose but fell below this share of its start had fit the test's batches: past that
# point the loss creeps towards 0 whatever the rate (the gradients vanish), so the rates above it were not
# tested in any useful sense. Small data sets do this (wine, 133 rows, cycled 60 times over 300 steps):
# benchmarks/fitted_curves.py measured where OneCycle trains on them (see FITTED_SHARE's use).
FITTED_SHARE = 0.01


class Usable:
    """Which points of a range test the suggestions read (see `usable`).

    Attributes:
        keep: Boolean numpy array, one entry per point: the points to read.
        artefacts: Boolean numpy array: the finite losses set aside as
            impossible (0 or below on a curve that starts above 0).
        rise: Integer or None. The index of the first point of the loss's
            lasting rise (None when it never rose for good).
        still_falling: Bool. Whether the loss never rose for good and its
            smoothed minimum, the end read from one full one-sided window,
            is among the last points (the test ended too soon).
        fitted: Integer or None. On a curve still falling, the index of the
            first point where the smoothed loss was below `FITTED_SHARE` of
            its start: the model had fit the test's batches, and the points
            after it are set aside (None when it never got there).
        notes: List of strings: what was set aside or found, and why.
        flat: Bool. Whether the running average never fell below its
            start by more than the batches' noise (`NOISE_FALLS`): a
            trained model's test, or rates too low to move the loss.
    """

    def __init__(self, keep, artefacts, rise, notes, still_falling=False, fitted=None, signed=False, flat=False):
        self.keep, self.artefacts, self.rise, self.notes = keep, artefacts, rise, notes
        self.still_falling, self.fitted, self.flat = still_falling, fitted, flat
        self.signed = signed  # the loss went below 0 by more than rounding: one that can be negative


def usable(learning_rates, losses, beta=0.9, rise=0.5, signed=None):
    """The part of a range test's curve that suggestions may be read from.

    Three kinds of points are set aside:

    - non-finite losses and non-positive rates;
    - losses of exactly 0 or below on a curve that starts above 0: a loss
      such as cross-entropy or MSE cannot go below 0, and a loss of 0 (or a
      hair below, in float rounding) is a batch fit exactly: by a model that
      fits its batches (a small data set) or by a collapsed network (a
      saturated output, dead units) meeting a batch it happens to fit. It
      does not measure the rate it was taken at;
    - the lasting rise: everything from the point where the running
      (one-way, bias-corrected) average of the loss, having passed its
      minimum, climbs back more than ``rise`` of the way from that minimum
      to the starting level, or to twice its minimum, whichever comes
      first (a loss that fell close to 0 doubles long before it climbs
      halfway back). Its minimum is looked for after its first
      `_window_reach` points (9 at 0.9), which average a few batches
      alone, unless the loss never fell below its start after them (a
      test that started too high). The running average lags the raw loss, which
      here is what is wanted: one lucky low batch in the divergent tail
      cannot pull it down, so the tail is cut however its raw losses jump.
      A fall within the batches' noise (less than `NOISE_FALLS` standard
      deviations that a flat curve's fall would have: a trained model's
      test, or rates too low to move the loss) is no minimum to rise from:
      the rise must then climb as far above the start, and last (from the
      last point the average was below that level), so the noise is not
      read as a divergence and a divergence at the end of the test is
      read where it is.

    When the loss never turned up and its smoothed minimum is among the last
    points, the test ended while the loss was still falling; a note says so
    (the suggestions are then cautious, not wrong). The smoothing's windows
    shrink to the point alone at the end, so there the level is the median
    of the last full window's points (9 + 1 at 0.9): one lucky last batch
    is not a fall. If a curve that never turned up fell below `FITTED_SHARE`
    (1%) of its start, still falling at the end or lying flat near 0 (below
    `FITTED_SHARE` squared of its start: the float's floor, not a noise
    floor), the model had fit the test's batches (a small data set, cycled
    many times over the test): the points after the first one below it are
    set aside too, as they say nothing of the rates they were taken at.

    Args:
        learning_rates: Sequence of the test's rates (increasing).
        losses: Sequence of the raw losses at them.
        beta: Float in [0, 1). The running average's weight of the past.
        rise: Float in (0, 1]. How far back up, as a fraction of the fall,
            the running average must climb for the rise to count.
        signed: Bool or None. Whether the loss can be negative (its values
            below 0 are then kept, and no fit of the batches is read); None
            infers it: a loss below 0 by more than float rounding can be.

    Returns:
        A `Usable`.
    """
    rates, values = _arrays("usable", learning_rates, losses)
    beta = _beta("usable", beta)
    rise = v.check_number("usable", "rise", rise, low=0.0, high=1.0, low_open=True)
    keep = np.isfinite(values) & np.isfinite(rates) & (rates > 0)
    artefacts = np.zeros_like(keep)
    notes = []
    index = np.nonzero(keep)[0]
    if len(index) < 3:
        return Usable(keep, artefacts, None, notes, signed=bool(signed))
    start = float(np.median(values[index[: max(3, len(index) // 10)]]))
    # A loss below 0 by more than float rounding can be negative (a log-likelihood, a cosine similarity):
    # its values below 0 are training's, and its fall is not a share of its start.
    # (Resampled curves take the recorded one's answer: their redrawn noise can dip below 0.)
    signed = bool(np.any(values[index] < -1e-6 * abs(start))) if signed is None else bool(signed)
    if start > 0 and not signed:
        artefacts = keep & (values <= 0)
        below = artefacts
        if below.any():
            keep &= ~below
            first = int(np.nonzero(below)[0][0])
            notes.append(
                f"{int(below.sum())} batch losses of 0 or below (the first at learning rate {rates[first]:.3g}) "
                f"were set aside: a batch fit exactly, to float rounding, by a model that fits its batches or by a "
                f"network collapsed to one output (the curve starts at {start:.3g}); they do not measure a rate"
            )
            index = np.nonzero(keep)[0]
            if len(index) < 3:
                return Usable(keep, artefacts, None, notes, signed=bool(signed))
    average = running_average(values[index], beta)
    # The average's first points average a few batches alone: on a trained model's flat, noisy start its
    # lowest point was often there (three lucky batches), and the whole curve after it read as a rise. It
    # is looked for after them, unless the loss never fell below its start there (a test that started too
    # high, rising from its first steps).
    settled = min(_window_reach(beta), len(index) // 10)
    lowest = settled + int(np.argmin(average[settled:]))
    if not average[lowest] < start:
        lowest = int(np.argmin(average))
    fall = start - float(average[lowest])
    first_rise, within_noise = None, True
    if fall > 1e-6 * abs(start):  # a fall within rounding is none
        level = average[lowest] + min(rise * fall, max(float(average[lowest]), 0.0) or rise * fall)
        noise = _fall_noise(values[index], beta)
        within_noise = fall < NOISE_FALLS * noise
        if within_noise:
            # A fall within the noise (a trained model's flat curve, its minimum a chance low of the noise)
            # is no minimum to rise from: the noise climbs back over so small a fall again and again, and
            # a divergence at the end of the test read as one "at once". The curve is flat at its start:
            # the rise must climb as far above the start as a fall would have to go below it to count,
            # and last: from the last time the average was back below that level.
            level = max(level, start + NOISE_FALLS * noise)
        above = average[lowest:] > level
        if within_noise and above.any():
            above[: int(np.nonzero(~above)[0][-1]) + 1] = False
        if above.any():
            first_rise = int(index[lowest + int(np.argmax(above))])
            keep[first_rise:] = False
    still_falling, fitted = False, None
    if first_rise is None and fall > 1e-6 * abs(start):
        # The end read from one full one-sided window (`_steady_end`): one lucky last batch is not a fall.
        smoothed = _steady_end(values[index], smooth(values[index], beta), beta)
        end = max(2, len(index) // 20, min(_window_reach(beta), len(index) // 2))  # the steady end included
        still_falling = int(np.argmin(smoothed)) >= len(index) - end
        # Still creeping down at the end, or lying flat near 0 (float32's floor is 2.4e-7): either way the
        # loss never rose, and the rates past the fit were not tested. A flat end above FITTED_SHARE**2 of
        # the start is a noise floor (an unscaled regression's MSE falling from 100 to 0.5), read as before.
        fitted_flat = start > 0 and float(np.min(smoothed)) <= FITTED_SHARE**2 * start
        fits = start > 0 and not signed and (still_falling or fitted_flat)
        below = np.nonzero(smoothed <= FITTED_SHARE * start)[0] if fits else []
        if len(below):
            fitted = int(index[below[0]])
            keep[fitted + 1:] = False
            how = "went on creeping down" if still_falling else "stayed down"
            notes.append(
                f"the loss fell below {FITTED_SHARE:.0%} of its start by learning rate {rates[fitted]:.3g} and "
                f"{how}, without rising, to the last rate tested ({rates[index[-1]]:.3g}): the "
                f"model had fit the test's batches (a small data set is cycled many times over the test), so the "
                f"rates above {rates[fitted]:.3g} were not tested in any useful sense and the suggestions are "
                f"read below it"
            )
        elif still_falling:
            notes.append(
                f"the loss was still falling at the last rate tested ({rates[index[-1]]:.3g}): the test ended "
                f"before the loss turned up, so the suggestions are cautious; raise end_lr (or num_steps) to see "
                f"where training diverges"
            )
    return Usable(keep, artefacts, first_rise, notes, still_falling, fitted, signed, flat=within_noise)


def _batch_noise(raw, smoothed):
    """The batches' noise of a curve: 1.4826 x the median absolute difference between its raw and
    smoothed losses (the standard deviation, were the noise normal; one wild batch does not move it)."""
    return 1.4826 * float(np.median(np.abs(np.asarray(raw) - np.asarray(smoothed))))


# A running average that fell below its start by less than this many standard deviations of that fall on
# a flat curve fell within the batches' noise (`_fall_noise`).
NOISE_FALLS = 3.0
# A median's standard error over a mean's, sqrt(pi / 2), for normal noise: n points' median errs by
# _MEDIAN_ERROR x noise / sqrt(n).
_MEDIAN_ERROR = 1.2533


def _fall_noise(values, beta):
    """The standard deviation of `usable`'s fall (its start, the median of the first tenth of the raw
    ``values``, less the running average of weight ``beta``) on a flat curve of the same batch noise: the
    noise (`_batch_noise`) times the
    root of the sum of the median's variance (`_MEDIAN_ERROR`**2 / n of n points) and the average's ((1 - beta) /
    (1 + beta), that of an average of independent noise)."""
    noise = _batch_noise(values, smooth(values, beta))
    head = max(3, len(values) // 10)
    return noise * math.sqrt(_MEDIAN_ERROR**2 / head + (1.0 - beta) / (1.0 + beta))


def _end_fell(values, beta):
    """Whether a curve's end lies below its start by more than `NOISE_FALLS` standard errors: the start,
    the median of the first tenth of the finite raw ``values`` (at least 3); the end, the median of its
    last full one-sided window (`_steady_end`); each median's error `_MEDIAN_ERROR` x the noise
    (`_batch_noise`) over the root of its points. It sees a fall still going at the end that the running
    average `usable` reads, lagging, may not."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 3:
        return False
    head, tail = max(3, len(values) // 10), min(_window_reach(beta), len(values) // 2) + 1
    fall = float(np.median(values[:head])) - float(np.median(values[-tail:]))
    noise = _batch_noise(values, smooth(values, beta))
    return fall > NOISE_FALLS * _MEDIAN_ERROR * noise * math.sqrt(1.0 / head + 1.0 / tail)


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
    rates, values = _finite("valley", learning_rates, losses)
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
    The first span's points count as one level, their median: a smoothed
    curve's window shrinks to the first batch alone at the start, and one
    high first batch is not the steepest fall (it made this the first rate
    tested on curves that fell by 40% later).

    Returns:
        A float, or NaN when fewer than three points are finite or the loss
        never fell (its lowest point is the first).
    """
    rates, values = _finite("steep", learning_rates, losses)
    n = len(values)
    if n < 3:
        return math.nan
    lowest = int(np.argmin(values))
    if lowest == 0:
        return math.nan
    reach = max(1, n // 20)
    if lowest > 2 * reach:  # (a minimum within the first spans is read as it is)
        values = values.copy()
        values[:reach] = np.median(values[: reach + 1])
    return float(rates[int(np.argmin(_slopes(rates, values, lowest, reach)))])


def _slopes(rates, values, lowest, reach):
    """The slope of ``values`` against log10 of the rate at each point up to ``lowest``, taken across
    ``reach`` points on either side (fewer at the ends; +inf where the rates do not grow)."""
    index = np.arange(lowest + 1)
    left = np.maximum(index - reach, 0)
    right = np.minimum(index + reach, lowest)
    log_rates = np.log10(rates)
    span = log_rates[right] - log_rates[left]
    return np.where(span > 0, (values[right] - values[left]) / np.where(span > 0, span, 1.0), np.inf)


def minimum(learning_rates, losses, divisor=10.0):
    """The rate at the lowest loss, divided by ``divisor`` (10, as fastai).

    Returns:
        A float, or NaN when no point is finite.
    """
    rates, values = _finite("minimum", learning_rates, losses)
    divisor = v.check_number("minimum", "divisor", divisor, low=0.0, low_open=True)
    if not len(values):
        return math.nan
    return float(rates[int(np.argmin(values))] / divisor)


def slide(learning_rates, losses, window=15, threshold=0.05):
    """The left end of the first window, sliding down the fall from its foot, whose two ends fall alike.

    A window of ``window`` points slides left down the fall of the loss
    while the slopes of the loss (against log10 of the rate, as a fraction
    of the total fall per decade) at its two ends differ by more than
    ``threshold`` (and have not crossed); each slope is taken across a third
    of the window on either side, so batch noise does not decide where they
    agree. Where they first agree, the
    window straddles the steepest part of the fall, and its left end is a
    rate at which the loss has begun to fall fast but is still well clear
    of the minimum: a cautious pick (fastai's `slide` slides a window the
    same way, from the end of the curve; starting at the minimum keeps the
    divergent tail out of it).

    The slide runs on the fall alone, as `cyclic_bounds` finds it: it
    starts with its left end no later than the fall's foot (within a tenth
    of the fall of the minimum; a flat bottom before the minimum, where
    both ends agree at 0, is passed over), and stops at the fall's top (a
    tenth of the way down), which it returns when the ends never agree
    before it. Batch noise on the flat start before the fall, whose slopes
    from point to point can be steeper than the fall's, never takes it
    there.

    Returns:
        A float, or NaN when the minimum has fewer than ``window`` points
        before it or the loss never falls.
    """
    rates, values = _finite("slide", learning_rates, losses)
    window = v.check_int("slide", "window", window, low=1)
    threshold = v.check_number("slide", "threshold", threshold, low=0.0, low_open=True)
    if len(values) < 3:
        return math.nan
    start, lowest, fall = _fall(values)
    if fall <= 0 or lowest < window:
        return math.nan
    top, foot = _fall_span(values, start, lowest, fall, 0.1)
    slope = _slopes(rates, values, lowest, max(1, window // 3)) / fall
    left = min(lowest - window, foot)
    right = left + window
    if left > top:
        sign = np.sign(slope[right] - slope[left])
        # Stop where the two slopes agree, or cross (a coarse curve can step over the band).
        while left > top and abs(slope[right] - slope[left]) > threshold and np.sign(slope[right] - slope[left]) == sign:
            right -= 1
            left -= 1
    return float(rates[max(left, top)])


def _fall_span(values, start, lowest, fall, fraction):
    """(top, foot): the indices from which the curve stays ``fraction`` of its fall below its start, and
    within ``fraction`` of its fall of its minimum, up to the minimum."""
    top = _stays_below(values, lowest, start - fraction * fall)
    return top, max(_stays_below(values, lowest, values[lowest] + fraction * fall), top)


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
    rates, values = _finite("cyclic_bounds", learning_rates, losses)
    fraction = v.check_number("cyclic_bounds", "fraction", fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    if len(values) < 3:
        return math.nan, math.nan
    start, lowest, fall = _fall(values)
    if fall <= 0 or lowest == 0:
        return math.nan, math.nan
    base, top = _fall_span(values, start, lowest, fall, fraction)
    return float(rates[base]), float(rates[top])


# The one-cycle peak's rule, fitted by benchmarks/finder_quality.py (see `one_cycle_max_lr`).
PEAK_BELOW_RISE = 10.0**0.9  # about 8, on a test of PEAK_DENSITY steps a decade
PEAK_DENSITY = 299 / 8  # steps a decade of lr_find's defaults: 300 steps from 1e-7 to 10
PEAK_DENSITY_SLOPE = 0.7  # a test k times denser rises earlier: the divisor is PEAK_BELOW_RISE / k**0.7
PEAK_DENSITIES = (99 / 8, 899 / 8)  # the densities measured (100 to 900 steps over 8 decades): not extrapolated


PEAK_DRAWS = 40  # resampled curves whose median is the peak (and whose percentiles its spread)


def _steps_per_decade(learning_rates, at, half=10):
    """How many steps a range test took per decade of rate around the point ``at``.

    Measured over the ``half`` points either side, so it holds for a linear
    sweep too (denser in log rate as the rate grows). NaN when the rates
    there do not grow.
    """
    rates = np.asarray(learning_rates, dtype=np.float64).reshape(-1)
    low, high = max(int(at) - half, 0), min(int(at) + half, len(rates) - 1)
    if high <= low or not rates[low] > 0 or not rates[high] > rates[low]:
        return math.nan
    return (high - low) / math.log10(rates[high] / rates[low])


def _one_cycle_divisor(learning_rates, at):
    """What the rise at the point ``at`` is divided by for the OneCycle peak: 10**0.9 (about 8) at
    lr_find's default 37 steps a decade, PEAK_BELOW_RISE / k**0.7 on a test k times as dense (the
    density clipped to the 12-112 steps a decade measured)."""
    density = _steps_per_decade(learning_rates, at)
    if not np.isfinite(density):
        return PEAK_BELOW_RISE
    density = min(max(density, PEAK_DENSITIES[0]), PEAK_DENSITIES[1])
    # In decades, rounded to a thousandth: a default test's float32 rates give exactly PEAK_BELOW_RISE.
    shift = round(PEAK_DENSITY_SLOPE * math.log10(density / PEAK_DENSITY), 3)
    return PEAK_BELOW_RISE / 10.0**shift


def _one_cycle_peak(rates, values, beta, kept=None, signed=None):
    """The rule on one curve: the rise / `_one_cycle_divisor`, no higher than the rate at the smoothed minimum.

    ``kept`` is the curve's `usable`, when the caller has it already."""
    kept = usable(rates, values, beta, signed=signed) if kept is None else kept
    index = np.nonzero(kept.keep)[0]
    if len(index) < 3:
        return math.nan
    curve = smooth(np.where(kept.keep, values, np.nan), beta)
    lowest = index[int(np.argmin(curve[index]))]
    start = float(np.median(curve[index[: max(3, len(index) // 10)]]))
    if lowest == index[0] or start - curve[lowest] <= 0:
        return math.nan
    if kept.fitted is not None:  # no divergence to read: the rate at which the batches were fit
        return float(min(rates[kept.fitted], rates[lowest]))
    rise = kept.rise if kept.rise is not None else index[-1]
    return float(min(rates[rise] / _one_cycle_divisor(rates, rise), rates[lowest]))


def one_cycle_peaks(learning_rates, losses, beta=0.9, draws=PEAK_DRAWS, seed=0):
    """The one-cycle rule read from each of ``draws`` curves resampled from this one (`resample`).

    Batch losses set aside as artefacts (`usable`) stay out of every draw.
    `one_cycle_max_lr` is their median; their percentiles are the
    result's `spread`.

    Args:
        learning_rates: Sequence of the test's rates (increasing).
        losses: Sequence of the raw (unsmoothed) losses.
        beta: Float in [0, 1). The smoothing (`smooth`, `usable`).
        draws: Integer >= 1. How many resampled curves.
        seed: Integer. The resampling's seed (the answer repeats run to run).

    Returns:
        A float64 numpy array of the finite peaks: at most ``draws`` (a draw
        whose curve supports no peak is left out), none when the recorded
        curve itself supports none.
    """
    draws = v.check_int("one_cycle_peaks", "draws", draws, low=1)
    rates, values = _arrays("one_cycle_peaks", learning_rates, losses)
    beta = _beta("one_cycle_peaks", beta)
    kept = usable(rates, values, beta)
    if not np.isfinite(_one_cycle_peak(rates, values, beta, kept)):
        return np.zeros(0)
    curves = resample(np.where(kept.artefacts, np.nan, values), beta, draws=draws, seed=seed)
    peaks = np.array([_one_cycle_peak(rates, curve, beta, signed=kept.signed) for curve in curves])
    return peaks[np.isfinite(peaks)]


def one_cycle_max_lr(learning_rates, losses, beta=0.9, draws=PEAK_DRAWS):
    """The peak rate to give `OneCycle`, read from the raw losses of a range test.

    On one curve the rule is: the rate where the loss rose for good
    (`usable`'s rise; the last rate tested when it never did) divided by
    10**0.9 (about 8) on a test as dense as `lr_find`'s default (300 steps
    from 1e-7 to 10, 37 steps a decade), and no higher than the rate at the
    smoothed loss's minimum. A denser test rises earlier, at a rate nearer
    the one training can bear, so the divisor shrinks with the test's steps
    per decade k around the rise as 10**0.9 / (k / 37.4)**0.7: about 3.7 for
    900 steps over the same range, 17 for 100 steps. The answer is that
    rule's median over ``draws`` curves resampled from the batches' own
    noise (`one_cycle_peaks`): a summary over curves the test could as well
    have recorded (bagging), which moves less from seed to seed than the
    rule read from the one curve recorded. The median, not the mean: a few
    draws whose rise comes early or late would pull a mean of so few draws.

    Why this rule (benchmarks/finder_quality.py: 300-step tests on 10 seeds,
    six tasks, Adam and SGD with momentum, budgets of 2-3 and 20-30 epochs,
    OneCycle at seven peaks over three decades): each candidate anchor (this
    rise, the minimum's rate, Smith's upper bound from `cyclic_bounds`, the
    valley, their geometric means) was fitted as ``anchor x 10**(a + b
    log10(fit steps / test steps))`` by the gap between the grid's best mean
    and the grid's score at the rule's peak. The rise with a = -0.9 left the
    smallest mean gap (1.9 points; the minimum's rate 2.0, Smith's upper
    bound 2.7, the valley 3.0). The same fit on tests of 100, 200 and 900
    steps over the same eight decades put the best a at -1.3, -1.1 and -0.6:
    the slope 0.7 per decade of density fits all four (0.6 to 0.8 within
    0.05 points of mean gap). Scored by interpolating the grid, the 900-step
    tests' peaks then leave a mean gap of 0.93 points where a fixed 10**0.9
    left 2.0 (100 steps: 2.7 against 3.8). The density is measured only over
    that range (12-112 steps a decade) and clipped to it. The budget's slope
    b came out at 0 (the best peak moved up with the budget on some tasks
    and down on others), so the rule does not use it. The rise is also where
    the curve is steady from seed to seed: divergence is a sharp event,
    where the bottom of the curve is flat. The median over resampled curves
    cut the peak's seed-to-seed standard deviation from 0.16 to 0.11 decades
    on average over the twelve task-optimizer pairs (at most from 0.36 to
    0.21). Its figures are in the README ("Is the recommendation a peak you
    can train with unattended?") and docs/benchmarks.md.

    Args:
        learning_rates: Sequence of the test's rates (increasing).
        losses: Sequence of the raw (unsmoothed) losses.
        beta: Float in [0, 1). The smoothing (`smooth`, `usable`).
        draws: Integer >= 0. Resampled curves summarised (with the
            resampling's seed fixed at 0, so the answer is a function of the
            curve); 0 reads the rule from the recorded curve alone.

    Returns:
        A float, or NaN when fewer than three points are usable, the loss
        never falls, or no resampled curve supports a peak.
    """
    draws = v.check_int("one_cycle_max_lr", "draws", draws, low=0)
    rates, values = _arrays("one_cycle_max_lr", learning_rates, losses)
    beta = _beta("one_cycle_max_lr", beta)
    if draws == 0:
        return _one_cycle_peak(rates, values, beta)
    return _median_peak(one_cycle_peaks(rates, values, beta, draws))


def _median_peak(peaks):
    """The median of positive peaks (taken on log rates: an even count gives the two middle ones'
    geometric mean); NaN for none."""
    return float(np.exp(np.median(np.log(peaks)))) if len(peaks) else math.nan
