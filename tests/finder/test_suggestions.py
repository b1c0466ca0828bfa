"""The suggestion functions on made-up curves with known answers."""

import math

import numpy as np
import pandas as pd
import pytest

from keras_lr.finder import LRFinderResult, assess
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
    # The peak: where the loss rose for good over about 8 at lr_find's default density (37.4 steps a
    # decade), over 10**0.9 / (20 / 37.4)**0.7 = 12.3 at these 20; no higher than the minimum's rate.
    rise = RATES[s.usable(RATES, losses).rise]
    assert -0.5 < math.log10(rise) < 0.0  # the running average has doubled its minimum a few points into the rise
    assert s.one_cycle_max_lr(RATES, losses) == pytest.approx(rise / (10**0.9 / (20 / 37.375) ** 0.7), rel=2e-3)
    # slide's window (15 points, 0.7 decades) first falls alike at both ends when
    # it straddles the sigmoid's centre symmetrically: its left end is 0.35 decades below.
    assert decades(s.slide(RATES, losses), 10 ** (-2.0 - 0.35)) <= 0.1


@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_slide_on_a_flat_bottom_is_on_the_fall_not_after_it(noise):
    # The sigmoid's fall (centre 1e-2, width 0.3 decades), then 1.5 decades flat before the rise: the
    # window first met two flat ends at the minimum and gave a rate past the fall (1.1 here).
    x = np.linspace(-6, 1, 300)
    losses = 2.0 - 1.5 / (1.0 + np.exp(-(x + 2.0) / 0.3)) + np.maximum(x - 0.3, 0.0) * 20
    losses = s.smooth(losses + np.random.default_rng(0).normal(0.0, noise, len(x)))
    rate = s.slide(10**x, losses)
    done = (losses[0] - losses[np.searchsorted(10**x, rate)]) / (losses[0] - losses.min())
    assert 0.1 < done < 0.9, (rate, done)  # on the fall (it gave 98-100% of it done)


@pytest.mark.parametrize("seed", range(10))
def test_slide_stays_on_the_fall_over_a_noisy_start(seed):
    # At rates too low to move the model, the loss repeats each epoch's batches (16 here), and the
    # first batch, before any step, stands above them: slopes from point to point on that flat start
    # were steeper than the fall's, and slide gave the first rate tested (1e-07) on 5 of 12 seeds
    # of a small regression.
    x = np.linspace(-7, 1, 300)
    epoch = np.random.default_rng(seed).uniform(-0.15, 0.15, 16)
    raw = 2.0 + np.resize(epoch, len(x)) - 1.5 / (1.0 + np.exp(-(x + 2.0) / 0.3)) + np.maximum(x + 0.5, 0.0) * 20
    raw[0] += 0.5
    losses = s.smooth(raw)
    top, foot = s.cyclic_bounds(10**x, losses)
    assert top <= s.slide(10**x, losses) <= foot


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


@pytest.mark.parametrize("length", [0, 1, 2, 18, 19, 20, 41, 300])
def test_smooth_and_running_average_are_the_plain_definitions(length):
    # smooth sorts every end window in one call and running_average loops over floats: both must give,
    # to the bit, the median of each centered window over the finite points and MovingAverage's updates.
    from keras_lr._engine.losses import MovingAverage

    rng = np.random.default_rng(length)
    losses = rng.lognormal(size=length)
    losses[rng.random(length) < 0.15] = np.nan
    np.testing.assert_array_equal(s.smooth(losses, 0.9), centered_medians(losses, 9))
    average, count, corrected = 0.0, 0, []
    for value in losses:  # Adam's bias-corrected average; a NaN passes through and is not counted
        if np.isfinite(value):
            count += 1
            average = 0.9 * average + (1.0 - 0.9) * value
        corrected.append(average / (1.0 - 0.9**count) if np.isfinite(value) else value)
    np.testing.assert_array_equal(s.running_average(losses, 0.9), corrected)
    one_by_one = MovingAverage(0.9)  # the stop rule's calls, one batch at a time, carry the same state
    np.testing.assert_array_equal([one_by_one.update(value) for value in losses], corrected)


def centered_medians(losses, half):
    """smooth's definition, window by window: the median of the finite points within ``half`` either side
    (fewer at the ends; the first point's, its first 3); non-finite losses as they are."""
    points = np.nonzero(np.isfinite(losses))[0]
    expected = np.array(losses, dtype=np.float64)
    for rank, position in enumerate(points):
        reach = min(half, rank, len(points) - 1 - rank)
        expected[position] = np.median(losses[points[rank - reach : rank + reach + 1]])
    if half and len(points) >= 3:
        expected[points[0]] = np.median(losses[points[:3]])
    return expected


def test_smooth_takes_very_wide_end_windows_one_by_one():
    # Smoothing 0.9995 reaches 1999 points either side: on 2100 points every window is an end window,
    # 2100 of up to 2099 points, past what smooth sorts in one call (4M values); the same medians.
    losses = np.random.default_rng(0).lognormal(size=2100)
    np.testing.assert_array_equal(s.smooth(losses, 0.9995), centered_medians(losses, 1999))


def test_nan_tail_is_ignored():
    losses = valley_curve()
    losses[X > 0.0] = np.nan
    for function in (s.valley, s.steep, s.minimum, s.one_cycle_max_lr):
        assert function(RATES, losses) == pytest.approx(function(RATES[X <= 0.0], losses[X <= 0.0]))
    assert 0.0 < s.one_cycle_max_lr(RATES, losses) < 1.0
    assert assess(RATES, losses) == []


def test_a_result_where_a_rate_is_wanted_says_where_it_goes():
    import keras_lr

    result = LRFinderResult(pd.DataFrame({"learning_rate": RATES, "loss": valley_curve()}), warn=False)
    for make in (lambda: keras_lr.schedules.OneCycle(max_lr=result, total_steps=100), lambda: keras_lr.Scheduler(result)):
        with pytest.raises(ValueError, match=r"A range test's result goes to the callbacks keras_lr.OneCycle\(max_lr=result\)"):
            make()
    # Inside one of Keras's own schedules, which take anything: the train step failed on it, with a message of a
    # Python `if` in the schedule (TensorFlow, JAX) or "Invalid dtype: object" (PyTorch).
    import keras

    with pytest.raises(ValueError, match=r"Scheduler: schedule, a CosineDecay, holds a range test's result in its "
                                         r"initial_learning_rate, where a rate is wanted. A range test's result"):
        keras_lr.Scheduler(keras.optimizers.schedules.CosineDecay(result, 100))
    with pytest.raises(ValueError, match=r"holds a range test's result in its initial_learning_rate"):
        keras_lr.schedules.Warmup(keras.optimizers.schedules.CosineDecay(result, 100), warmup_steps=10)
    with pytest.raises(ValueError, match=r"a PiecewiseConstantDecay, holds a range test's result in its values"):
        keras_lr.Scheduler(keras.optimizers.schedules.PiecewiseConstantDecay([4], [result, 1e-3]))


def test_a_results_suggestions_or_frame_where_a_rate_is_wanted_say_what_they_are():
    import keras_lr

    result = LRFinderResult(pd.DataFrame({"learning_rate": RATES, "loss": valley_curve()}), warn=False)
    for value, what in ((result.suggestions, r"result\.suggestions, a dict of rates"), (result.frame, r"result\.frame, its curve")):
        with pytest.raises(ValueError, match=rf"received max_lr=.*That is a range test's {what}; the result itself goes to the "
                                             r"callbacks keras_lr\.OneCycle\(max_lr=result\)"):
            keras_lr.OneCycle(max_lr=value)
    with pytest.raises(ValueError, match=r"received max_lr=\{'lr': 0\.1\}$"):  # any other dict: no hint
        keras_lr.OneCycle(max_lr={"lr": 0.1})


def test_one_high_first_batch_is_not_the_steepest_fall():
    # A smoothed curve's first point is the first batch alone: 40% above the level after it.
    losses = valley_curve()
    losses[0] *= 1.4
    assert decades(s.steep(RATES, losses), 1e-2) <= 0.05
    assert s.steep(RATES, losses) == s.steep(RATES, valley_curve())


def test_a_curve_that_never_falls():
    rng = np.random.default_rng(1)
    flat = 2.0 + rng.normal(0.0, 0.002, size=len(RATES))
    (reason,) = assess(RATES, flat)
    assert reason.startswith("the loss never fell over the 141 steps from 1e-06 to 10; ")
    assert "raise num_steps (threefold, say) or start_lr" in reason
    rising = 2.0 + 10.0 ** (X + 1.0)
    assert math.isnan(s.valley(RATES, rising))
    assert math.isnan(s.steep(RATES, rising))
    assert all(math.isnan(v) for v in s.cyclic_bounds(RATES, rising))


def test_assess_names_what_is_wrong():
    assert assess(RATES, valley_curve()) == []
    rises_at_once = 2.0 + 10.0 ** (2 * (X + 6.0) / 7.0)
    assert assess(RATES, rises_at_once) == [
        "diverged at once: the loss rose from the first steps, to more than twice its start; lower start_lr "
        "(1e-06) if the model can bear no rate as high, else check the data and the model"
    ]
    # One lucky first batch (an outlier-free batch of a regression with outliers, measured: 1.49 where the first
    # 20 averaged 3.31) is the centred median's value at the curve's edge, where its window shrinks to the point:
    # it was read as the minimum, and a curve that fell and then diverged as one that rose from the first steps.
    lucky = valley_curve()
    lucky[0] = 0.4
    assert assess(RATES, lucky) == []
    few = valley_curve()[:8]
    assert assess(RATES[:8], few) == [
        "too few points (8 finite; at least 10 needed): raise num_steps, or lower start_lr if the loss diverged at once"
    ]
    mostly_nan = rises_at_once.copy()
    mostly_nan[20:] = np.nan
    assert assess(RATES, mostly_nan)[0] == "mostly NaN or infinite (121 of 141 points)"
    # NaN from where the loss had neither fallen nor risen: the data's or the model's, whatever the share.
    nan_while_flat = valley_curve()
    nan_while_flat[20:] = np.nan
    assert assess(RATES, nan_while_flat)[0].startswith("the loss turned nan at step 21, at learning rate 1e-05, "
                                                       "before it had fallen or risen")


def test_too_few_points_give_nan():
    for function in (s.valley, s.steep, s.minimum, s.slide, s.one_cycle_max_lr):
        assert math.isnan(function([1e-3], [np.nan]))


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="valley: learning_rates and losses must have the same length; received 3 rates and 2 losses"):
        s.valley([1e-3, 1e-2, 1e-1], [1.0, 0.5])
    with pytest.raises(ValueError, match=r"smooth: beta must be in \[0, 1\); received beta=1.0"):
        s.smooth([1.0, 2.0], 1.0)


def test_rates_out_of_order_are_an_error():
    # A curve sorted by loss, or reversed, would give suggestions read from a jumble.
    curve = valley_curve()
    with pytest.raises(ValueError, match="one_cycle_max_lr: learning_rates must increase, in the order the range "
                                         "test ran them; received 10 then 8.913"):
        s.one_cycle_max_lr(RATES[::-1], curve[::-1])
    with pytest.raises(ValueError, match="assess: learning_rates must increase"):
        assess(RATES[::-1], curve)
    frame = pd.DataFrame({"learning_rate": RATES[::-1], "loss": curve})
    with pytest.raises(ValueError, match="LRFinderResult: learning_rates must increase"):
        LRFinderResult(frame)
    # NaN rates are skipped, and so is a rate tested twice.
    rates = RATES.copy()
    rates[5], rates[7] = np.nan, rates[6]
    assert s.valley(rates, curve) > 0


@pytest.mark.parametrize("call, message", [
    (lambda: s.one_cycle_max_lr(RATES, valley_curve(), beta=1.5), r"one_cycle_max_lr: beta must be in \[0, 1\)"),
    (lambda: s.smooth([1.0, 2.0], None), "smooth: beta must be a finite number; received beta=None"),
    (lambda: s.usable(RATES, valley_curve(), rise=5), r"usable: rise must be in \(0, 1\]; received rise=5"),
    (lambda: s.minimum(RATES, valley_curve(), divisor=0), "minimum: divisor must be > 0; received divisor=0"),
    (lambda: s.slide(RATES, valley_curve(), window=0), "slide: window must be an integer >= 1"),
    (lambda: s.cyclic_bounds(RATES, valley_curve(), fraction=1), r"cyclic_bounds: fraction must be in \(0, 1\)"),
    (lambda: s.resample(valley_curve(), beta=-0.1), r"resample: beta must be in \[0, 1\)"),
    (lambda: s.resample(valley_curve(), seed=1.5), r"resample: seed must be an integer"),
    (lambda: s.resample(valley_curve(), seed=-1), r"resample: seed must be an integer >= 0"),
    (lambda: assess(RATES, valley_curve(), smoothing=1), r"assess: smoothing must be in \[0, 1\)"),
    # It returned nonsense for 5 and divided by zero for -1.
    (lambda: s.running_average([3.0, 2.9], 5), r"running_average: beta must be in \[0, 1\); received beta=5"),
    (lambda: s.running_average([3.0, 2.9], -1), r"running_average: beta must be in \[0, 1\); received beta=-1"),
])
def test_each_argument_is_checked_by_the_function_it_was_given_to(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_assess_gives_the_results_reasons_also_those_read_from_the_whole_result():
    rng = np.random.default_rng(81)
    flat = 2.3 + rng.normal(0.0, 0.2, size=300)  # pure noise: "neither fell nor rose", found by LRFinderResult
    rates = np.logspace(-7, 1, 300)
    result = LRFinderResult(pd.DataFrame({"learning_rate": rates, "loss": flat}), warn=False)
    assert not result.reliable and assess(rates, flat) == result.reasons
    assert any("neither fell" in reason for reason in result.reasons)


def collapse_curve():
    """The valley, then the divergent tail of a collapsed network: huge losses and batches it fits exactly."""
    losses = valley_curve()[:120]
    losses[110:] = [3.0, 4.5, 2.9, 0.0, -6e-8, 9.9, 0.0, 12.0, 0.0, 15.0]
    return RATES[:120], losses


def test_the_tail_of_a_collapse_is_never_read():
    rates, losses = collapse_curve()
    usable = s.usable(rates, losses)
    # The exact zeros are set aside and said so; the tail is cut where the running average rose for good.
    assert usable.artefacts.sum() == 4 and not usable.keep[usable.artefacts].any()
    assert any("losses of 0 or below" in note for note in usable.notes)
    assert usable.rise is not None and 110 <= usable.rise <= 116
    assert not usable.keep[usable.rise:].any()
    # Read over the raw curve, the zeros are the minimum; over the usable part, the valley's bottom is.
    assert s.minimum(rates, s.smooth(losses)) > 2 * s.minimum(rates[:110], valley_curve()[:110])
    kept = np.where(usable.keep, s.smooth(np.where(usable.artefacts, np.nan, losses)), np.nan)
    assert decades(s.minimum(rates, kept) * 10, rates[np.argmin(valley_curve()[:110])]) <= 0.15


def test_a_loss_near_zero_rises_for_good_when_it_doubles():
    rates = np.logspace(-5, 0, 100)
    losses = np.r_[np.full(40, 0.6), np.linspace(0.6, 0.01, 40), np.full(10, 0.01), np.linspace(0.02, 0.3, 10)]
    usable = s.usable(rates, losses)
    # The running average lags the raw rise (from point 90) by a few points.
    assert usable.rise is not None and 90 <= usable.rise <= 98
    assert usable.notes == []


def test_a_curve_still_falling_at_the_end_is_noted():
    rates = np.logspace(-5, -1, 100)
    losses = 2.0 - 1.5 / (1.0 + np.exp(-(np.log10(rates) + 1.5) / 0.3))
    usable = s.usable(rates, losses)
    assert usable.rise is None and usable.keep.all() and usable.still_falling
    assert not s.usable(RATES, valley_curve()).still_falling
    assert len(usable.notes) == 1 and "still falling at the last rate tested (0.1)" in usable.notes[0]
    assert "raise end_lr" in usable.notes[0]
    # One lucky last batch on a flat curve is not a fall: the last points' windows shrink to the point.
    flat = 2.0 + np.random.default_rng(3).normal(0.0, 0.02, size=len(rates))
    flat[-1] = 1.5
    assert s.smooth(flat)[-1] == 1.5 and s.usable(rates, flat).rise is None
    assert not s.usable(rates, flat).still_falling
    # Its end is read from one full window, one-sided: half of a fall over the last points shows.
    late = np.r_[np.full(90, 2.0), np.linspace(2.0, 1.0, 10)]
    assert s._steady_end(late, s.smooth(late), 0.9)[-9:] == pytest.approx(np.full(9, np.median(late[-10:])))
    assert s.usable(rates, late).still_falling
    # Never more than half the curve; nothing at smoothing 0 (whose curve is the raw one).
    assert np.array_equal(s._steady_end(late[:10], late[:10], 0.9)[:5], late[:5])
    assert np.array_equal(s._steady_end(late, late, 0.0), late)


def test_a_curve_that_fit_its_batches_is_read_up_to_where_the_loss_fell_below_1_percent():
    # A small data set cycled over the test: the loss falls to ~0 and creeps on down to the last rate, never
    # rising. The rates past the fit were not tested (the gradients vanish), so the peak is where it happened.
    rates = np.logspace(-7, 1, 300)
    losses = 1.3 * np.exp(-np.clip(np.log10(rates) + 4.0, 0.0, None) * 2.0)  # 1% of the start near 2e-2
    usable = s.usable(rates, losses)
    assert usable.rise is None and usable.still_falling
    first = int(np.argmax(s._steady_end(losses, s.smooth(losses), 0.9) <= 0.01 * 1.3))
    assert usable.fitted == first and 0.015 < rates[first] < 0.03
    assert usable.keep[: first + 1].all() and not usable.keep[first + 1:].any()
    assert len(usable.notes) == 1 and usable.notes[0].startswith(
        f"the loss fell below 1% of its start by learning rate {rates[first]:.3g} and went on creeping down")
    assert "raise end_lr" not in usable.notes[0]
    peaks = s.one_cycle_peaks(rates, losses)
    assert peaks.size == s.PEAK_DRAWS and s.one_cycle_max_lr(rates, losses) == pytest.approx(rates[first], rel=0.1)
    # One that stopped above 1% of its start is the test ending too soon, as before: the last rate / ~8.
    above = losses + 0.04  # still falling at the end, to 3% of its start
    assert s.usable(rates, above).fitted is None and s.usable(rates, above).still_falling
    assert s.one_cycle_max_lr(rates, above) > 0.5


def test_a_curve_that_fit_its_batches_and_lies_flat_at_the_floor_is_read_the_same():
    # Four rows in one batch: the loss falls to float32's floor (2.4e-7) and lies flat there for the last
    # decade, neither rising nor still falling. It was read as a curve that never rose, reliable, and the
    # peak was the last rate tested / 8 (1.26), where such a model's held-out loss blows up.
    rates = np.logspace(-7, 1, 300)
    losses = np.maximum(0.68 * np.exp(-np.clip(np.log10(rates) + 4.0, 0.0, None) * 4.0), 2.4e-7)
    usable = s.usable(rates, losses)
    assert usable.rise is None and not usable.still_falling
    first = int(np.argmax(s._steady_end(losses, s.smooth(losses), 0.9) <= 0.01 * 0.68))
    assert usable.fitted == first and not usable.keep[first + 1:].any()
    assert len(usable.notes) == 1 and usable.notes[0].startswith(
        f"the loss fell below 1% of its start by learning rate {rates[first]:.3g} and stayed down")
    assert s.one_cycle_max_lr(rates, losses) == pytest.approx(rates[first], rel=0.1) and rates[first] < 0.05
    # A flat end well above 0 is a noise floor (an unscaled regression's MSE, 100 down to 0.5): not a fit.
    floor = np.maximum(100.0 * np.exp(-np.clip(np.log10(rates) + 4.0, 0.0, None) * 4.0), 0.5)
    assert s.usable(rates, floor).fitted is None and s.usable(rates, floor).notes == []


def test_negative_losses_are_kept_when_the_curve_starts_below_zero():
    # A loss that can be negative (a log-likelihood, say) is read as it is.
    losses = valley_curve() - 3.0
    usable = s.usable(RATES, losses)
    assert not usable.artefacts.any() and usable.notes == []


def test_the_peak_is_capped_at_the_minimum_and_reads_raw_losses():
    # A loss that bottoms out long before it rises: the peak is the minimum's rate, not rise / 8.
    rates = np.logspace(-6, 1, 141)
    x = np.log10(rates)
    losses = 2.0 - 1.5 / (1.0 + np.exp(-(x + 4.0) / 0.2)) + 0.3 * (x > -3.5) * (x + 3.5) ** 2 * (x < 0) + np.where(x >= 0, 10.0 ** (2 * x + 1), 0.0)
    lowest = rates[np.argmin(s.smooth(losses))]
    assert decades(s.one_cycle_max_lr(rates, losses, draws=0), lowest) <= 0.05
    # The median over resampled curves: the flat bottom's small wiggles move it a little, not to rise / 8.
    peak = s.one_cycle_max_lr(rates, losses)
    assert decades(peak, lowest) <= 0.15
    # Collapse artefacts in the tail do not move it.
    tail = losses.copy()
    tail[-8:] = [0.0, 30.0, 0.0, 50.0, -1e-7, 80.0, 0.0, 90.0]
    assert s.one_cycle_max_lr(rates, tail) == pytest.approx(peak, rel=0.2)
    with pytest.raises(ValueError, match="same length"):
        s.one_cycle_max_lr(rates, losses[:-1])


def test_the_peak_divisor_follows_the_tests_steps_per_decade():
    # The same loss over the same rates, recorded at 20 and at 80 steps a decade: the denser test's
    # peak is nearer its rise, by (80 / 20)**0.7 = 2.64, whatever the rise's own small shift.
    sparse, dense = np.logspace(-6, 1, 141), np.logspace(-6, 1, 561)
    peaks, rises = [], []
    for rates in (sparse, dense):
        losses = valley_curve(np.log10(rates))
        peaks.append(s.one_cycle_max_lr(rates, losses, draws=0))
        rises.append(rates[s.usable(rates, losses).rise])
    # (rel=2e-3: the divisor's exponent is rounded to a thousandth of a decade.)
    assert (peaks[1] / rises[1]) / (peaks[0] / rises[0]) == pytest.approx(4**0.7, rel=2e-3)
    # lr_find's default, 300 steps from 1e-7 to 10, is the 10**0.9 the rule was fitted at.
    default = np.geomspace(1e-7, 10.0, 300)
    losses = valley_curve(np.log10(default))
    rise = default[s.usable(default, losses).rise]
    assert s.one_cycle_max_lr(default, losses, draws=0) == pytest.approx(rise / 10**0.9)
    # Beyond the densities measured (12-112 steps a decade) the divisor is not extrapolated.
    packed = np.logspace(-6, 1, 2001)  # 286 steps a decade
    losses = valley_curve(np.log10(packed))
    rise = packed[s.usable(packed, losses).rise]
    assert s.one_cycle_max_lr(packed, losses, draws=0) == pytest.approx(rise / (10**0.9 / (112.375 / 37.375) ** 0.7), rel=2e-3)


def test_the_peak_is_the_median_over_resampled_curves():
    rates = np.geomspace(1e-5, 1.0, 300)
    x = np.log10(rates)
    losses = 2.3 - 1.8 / (1.0 + np.exp(-(x + 3.0) / 0.3)) + np.where(x > -1.5, 3.0 * (x + 1.5) ** 2, 0.0)
    losses = losses * np.exp(np.random.default_rng(0).normal(0.0, 0.2, rates.shape))
    peaks = s.one_cycle_peaks(rates, losses, draws=40)
    assert peaks.shape == (40,) and np.all(np.isfinite(peaks))
    assert np.ptp(np.log10(peaks)) > 0.01  # the draws differ: the noise moves the rule
    bagged = s.one_cycle_max_lr(rates, losses)
    assert bagged == pytest.approx(math.exp(np.median(np.log(peaks))))
    single = s.one_cycle_max_lr(rates, losses, draws=0)
    assert bagged != single and decades(bagged, single) < 0.3
    # Pure: the same curve gives the same answer.
    assert s.one_cycle_max_lr(rates, losses) == bagged
    # The result's peak and spread come from the same draws.
    result = LRFinderResult(pd.DataFrame({"learning_rate": rates, "loss": losses}), warn=False)
    assert result.one_cycle_max_lr == pytest.approx(bagged)
    assert result.spread == pytest.approx(tuple(np.percentile(peaks, [10, 90])))
    # A curve that never falls has no peak in any draw.
    assert s.one_cycle_peaks(rates, np.linspace(2.0, 3.0, 300)).size == 0
    assert math.isnan(s.one_cycle_max_lr(rates, np.linspace(2.0, 3.0, 300)))


def test_draws_that_support_no_peak_are_left_out():
    # A fall of 0.02 under noise of 0.05: a few resampled curves of the 40 have no fall left.
    rates = np.geomspace(1e-5, 1.0, 60)
    x = np.log10(rates)
    losses = 2.0 - 0.02 / (1.0 + np.exp(-(x + 3.0) / 0.3)) + np.where(x > -1.0, 3.0 * (x + 1.0) ** 2, 0.0)
    losses = losses + np.random.default_rng(4).normal(0.0, 0.05, rates.shape)
    peaks = s.one_cycle_peaks(rates, losses)
    assert 0 < peaks.size < 40 and np.all(np.isfinite(peaks))
    assert s.one_cycle_max_lr(rates, losses) == pytest.approx(math.exp(np.median(np.log(peaks))))


@pytest.mark.parametrize("draws, function", [(-1, "one_cycle_max_lr"), (1.5, "one_cycle_max_lr"), (0, "one_cycle_peaks"), (True, "resample")])
def test_draws_is_checked(draws, function):
    losses = 2.0 - np.linspace(0.0, 1.0, 20)
    args = (losses,) if function == "resample" else (np.geomspace(1e-4, 1.0, 20), losses)
    with pytest.raises(ValueError, match=f"{function}.*draws"):
        getattr(s, function)(*args, draws=draws)
