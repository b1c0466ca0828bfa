"""LRFinderResult from a made-up curve: frame, suggestions, reliability, plot."""

import re

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from keras_lr.finder import LRFinderResult  # noqa: E402
from keras_lr.finder import suggestions as s  # noqa: E402
from tests.finder.test_suggestions import RATES, valley_curve  # noqa: E402


def frame(losses, rates=RATES):
    return pd.DataFrame({"learning_rate": rates, "loss": losses, "smoothed_loss": s.smooth(losses)})


def test_suggestions_come_from_the_smoothed_curve_before_its_rise():
    rng = np.random.default_rng(0)
    losses = valley_curve() + rng.normal(0.0, 0.05, size=len(RATES))
    result = LRFinderResult(frame(losses))
    rise = s.usable(RATES, losses).rise
    assert rise is not None and result.rise_lr == RATES[rise]
    # The points the suggestions read: every one before the rise, none from it on.
    assert result.usable.shape == RATES.shape and result.usable[:rise].all() and not result.usable[rise:].any()
    smoothed = s.smooth(losses)
    smoothed[rise:] = np.nan
    assert result.reliable and result.reasons == [] and result.notes == []
    assert result.suggestions == {
        "valley": s.valley(RATES, smoothed),
        "steep": s.steep(RATES, smoothed),
        "minimum": s.minimum(RATES, smoothed),
        "slide": s.slide(RATES, smoothed),
    }
    assert result.suggestion == result.suggestions["valley"]
    # As the repr names them, and as fastai's SuggestedLRs has them (`lrs.valley`).
    assert [result.valley, result.steep, result.minimum, result.slide] == list(result.suggestions.values())
    assert result.cyclic_bounds() == s.cyclic_bounds(RATES, smoothed)
    assert result.one_cycle_max_lr == result.one_cycle_max_lr_for(None) == result.one_cycle_max_lr_for(len(RATES))
    assert "valley=" in repr(result)


def test_validation_loss_drives_the_suggestions_when_present():
    data = frame(valley_curve())
    shifted = valley_curve(np.log10(RATES) - 1.0)  # the same valley, a decade higher
    data["val_loss"] = shifted
    result = LRFinderResult(data)
    assert result.monitor == "val_loss"
    assert result.suggestion == pytest.approx(10 * s.valley(RATES, valley_curve()), rel=0.13)


def test_an_unreliable_curve_warns_and_says_why():
    flat = 2.0 + np.random.default_rng(1).normal(0.0, 0.002, size=len(RATES))
    with pytest.warns(UserWarning, match="cannot support a suggestion: the loss never fell"):
        result = LRFinderResult(frame(flat))
    assert not result.reliable and len(result.reasons) == 1
    assert "raise num_steps" in result.reasons[0]
    assert "unreliable: the loss never fell" in repr(result)


def test_an_unreliable_result_shows_its_reason_before_rates_it_says_not_to_train_at():
    # Five points, still falling at the last: the suggestions are whatever five points give (10 here),
    # and "still falling" is no finding on a curve too short to judge.
    rates = np.logspace(-7, 1, 5)
    with pytest.warns(UserWarning, match="too few points"):
        result = LRFinderResult(frame(np.linspace(2.4, 2.2, 5), rates))
    text = repr(result)
    assert not result.reliable and result.notes == []
    assert text.startswith("LRFinderResult(5 steps, unreliable: too few points")
    assert text.index("unreliable") < text.index("not to train at: valley=") < text.index("one_cycle_max_lr=")
    assert "still falling" not in text


def test_plot_marks_every_suggestion_and_returns_the_figure(tmp_path):
    result = LRFinderResult(frame(valley_curve()))
    figure = result.plot(save=tmp_path / "range.png")
    assert (tmp_path / "range.png").stat().st_size > 0
    (ax,) = figure.axes
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    for name in ("valley", "steep", "minimum", "slide", "OneCycle peak", "cyclic bounds", "loss rose for good"):
        assert any(name in label for label in labels), name  # (valley and steep share one marker here)
    assert ax.get_xscale() == "log"
    bare = result.plot(suggestions=False).axes[0]
    assert [t.get_text() for t in bare.get_legend().get_texts()] == ["loss", "smoothed loss"]
    # On a given Axes it draws there and returns that Axes' figure.
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots()
    assert result.plot(ax=ax) is figure


def test_suggestions_at_one_rate_share_one_marker_that_names_them_all():
    # steep and slide both at 0.00203 on a newcomer's breast cancer test: two markers, the second hiding the first.
    result = LRFinderResult(frame(valley_curve()), warn=False)
    assert result.valley == result.steep != result.slide  # this curve's steepest fall is its valley's point
    ax = result.plot().axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert f"valley = steep: {result.steep:.2g}" in labels and f"slide: {result.slide:.2g}" in labels
    assert not any(label.startswith(("valley:", "steep:")) for label in labels)
    assert len([line for line in ax.lines if list(line.get_xdata()) == [result.steep]]) == 1


def test_plot_shows_the_whole_usable_curve_and_marks_only_tested_rates():
    # A curve whose loss barely moves before a huge rise (the digits CNN with SGD).
    rates = np.logspace(-8, 1, 100)
    losses = 2.39 - 0.11 / (1 + np.exp(-(np.log10(rates) + 2) / 0.4)) + np.where(rates > 0.5, 50 * (rates - 0.5), 0)
    result = LRFinderResult(frame(losses, rates), warn=False)
    ax = result.plot().axes[0]
    low, high = ax.get_ylim()
    usable = result.frame["smoothed_loss"][: s.usable(rates, losses).rise]
    assert low <= usable.min() and usable.max() <= high
    assert high < 3.0  # the rise runs off the top instead of flattening the curve
    # A suggestion below the lowest rate tested (minimum / 10 at the first point) has no marker.
    early = LRFinderResult(frame(np.r_[np.linspace(1.0, 0.5, 15), np.linspace(0.6, 40.0, 30)], np.logspace(-3, 0, 45)), warn=False)
    marked = [line.get_xdata()[0] for line in early.plot().axes[0].lines if len(line.get_xdata()) == 1]
    assert marked and all(1e-3 <= rate <= 1.0 for rate in marked)


def test_the_x_label_is_inside_the_saved_figure(tmp_path):
    figure = LRFinderResult(frame(valley_curve())).plot()
    figure.canvas.draw()
    label = figure.axes[0].xaxis.label.get_window_extent()
    assert label.y0 >= 0 and label.x0 >= 0


def test_a_test_that_never_reached_divergence_warns_and_one_that_started_too_high_is_unreliable():
    rates = np.logspace(-5, -3, 100)  # end_lr too low: the loss is still falling at the end
    falling = 2.0 - 1.5 / (1.0 + np.exp(-(np.log10(rates) + 3.5) / 0.3))
    with pytest.warns(UserWarning, match=r"still falling at the last rate tested .0.001.*raise end_lr.*over 6.5, a cautious guess"):
        result = LRFinderResult(frame(falling, rates))
    # Safe, if cautious: the last rate tested over about 8, less on this test of 49.5 steps a decade
    # (lr_find's default is 37.4).
    divisor = 10**0.9 / (49.5 / 37.375) ** 0.7
    assert result.reliable and result.one_cycle_max_lr == pytest.approx(1e-3 / divisor, rel=2e-3)
    assert "notes: the loss was still falling" in repr(result)
    # start_lr too high: the loss rises for good within a decade of the first rate.
    rates = np.logspace(-2, 1, 100)
    early = np.r_[np.linspace(1.0, 0.6, 20), np.linspace(0.6, 30.0, 80)]
    with pytest.warns(UserWarning, match="lies below the rates tested; lower start_lr"):
        result = LRFinderResult(frame(early, rates))
    assert result.one_cycle_max_lr_for(None) < rates[0] and not result.reliable


def test_an_unreliable_result_gives_no_rate_to_train_at():
    # A curve that never rose has its valley at end_lr: result.valley (the README's fastai table) and
    # result.suggestion gave a newcomer 10.0, which Adam took, with only a warning said.
    rates = np.logspace(-7, 1, 100)
    with pytest.warns(UserWarning, match="cannot support a suggestion"):
        result = LRFinderResult(frame(np.full(100, 2.3) + 0.001 * np.sin(np.arange(100)), rates))
    assert not result.reliable
    for name in ("suggestion", "valley", "steep", "minimum", "slide", "one_cycle_max_lr"):
        with pytest.raises(ValueError, match=rf"LRFinderResult.{name}: this range test is unreliable, so it has no "
                                             rf"rate to train at: {re.escape(result.reasons[0])}.*result.suggestions"):
            getattr(result, name)
    assert set(result.suggestions) == {"valley", "steep", "minimum", "slide"}  # still there, to look at
    assert "unreliable" in repr(result) and "not to train at: valley=" in repr(result)
    assert not hasattr(result, "no_such_rate")


def test_a_loss_of_zero_throughout_says_the_model_has_nothing_to_train_on():
    # JAX's fit trains a model compiled without a loss at 0: it read "never fell; raise num_steps" and lr_find
    # ran it again at 900 steps.
    # JAX's sparse cross-entropy of labels past the last output is 0 too (a newcomer's 5 for two classes), which
    # "compiled without a loss" alone did not name.
    with pytest.warns(UserWarning, match=r"every batch's loss was exactly 0 \(300 steps\): the model has nothing to "
                                         r"train on, as when it was compiled without a loss \(compile it with one: "
                                         r"model.compile\(optimizer, loss=...\)\) or when every label is a class "
                                         r"index past the model's last output"):
        result = LRFinderResult(frame(np.zeros(300), np.logspace(-7, 1, 300)))
    assert not result.reliable and result._too_short is None and len(result.reasons) == 1


def test_a_curve_that_fit_its_batches_warns_with_the_peak_where_it_did():
    rates = np.logspace(-7, 1, 300)
    fitting = 1.3 * np.exp(-np.clip(np.log10(rates) + 4.0, 0.0, None) * 2.0)
    with pytest.warns(UserWarning, match=r"the loss fell below 1% of its start by learning rate 0.0\d+ .*the model "
                                         r"had fit the test's batches.*The OneCycle peak \(0.0\d+\) is the rate "
                                         r"where the loss fell below 1% of its start, the median over 40 curves resampled "
                                         r"from the batches' noise\. On a small table this is expected, and "
                                         r"nothing needs changing"):  # it gave no action
        result = LRFinderResult(frame(fitting, rates))
    assert result.reliable and 0.015 < result.one_cycle_max_lr < 0.03
    assert not any("still falling at the last rate" in note for note in result.notes)


def test_a_curve_that_neither_fell_nor_rose_is_unreliable_whatever_its_last_batch():
    # Pure noise over eight decades whose last batch is its lowest: the smoothed minimum is that one
    # batch (the windows shrink at the end), a "fall" of 40%, and the peak would be the last rate / 8.
    rates = np.logspace(-7, 1, 300)
    flat = 2.3 + np.random.default_rng(81).normal(0.0, 0.2, size=300)
    assert np.argmin(flat) == 299 and s.usable(rates, flat).rise is None
    with pytest.warns(UserWarning, match=r"the loss neither fell by 10% of its start \(at most \d\.\d%, its end read over "
                                         r"its last 10 batches\) nor rose for good over the 300 steps from 1e-07 to "
                                         r"10.*raise end_lr.*num_steps \(threefold, say\)"):
        result = LRFinderResult(frame(flat, rates))
    assert not result.reliable and len(result.reasons) == 1
    assert result._too_short == "the loss neither fell nor rose"  # lr_find runs it again, three times as long
    assert not any("still falling" in note for note in result.notes)  # the reason says it
    # At the smoothing fastai uses too; and on validation losses, named so.
    assert not LRFinderResult(frame(flat, rates), smoothing=0.98, warn=False).reliable
    data = frame(flat, rates)
    data["val_loss"] = flat
    assert LRFinderResult(data, warn=False).reasons[0].startswith("the validation loss neither fell")
    # A short one.
    short = 2.3 + np.random.default_rng(0).normal(0.0, 0.002, size=11)
    short[-1] = 2.0
    assert not LRFinderResult(frame(short, np.logspace(-7, 1, 11)), warn=False).reliable
    # Still falling at the end and reliable: a fall of 15% over the last decade, or 30% over the
    # last 9 points (half of it shows in the last full window), or a short straight fall.
    x = np.log10(rates)
    for falling in (2.3 - 0.35 * np.clip(x, 0.0, 1.0), np.r_[np.full(291, 2.3), np.linspace(2.3, 1.6, 9)]):
        result = LRFinderResult(frame(falling, rates), warn=False)
        assert result.reliable and any("still falling" in note for note in result.notes)
    assert LRFinderResult(frame(np.linspace(2.3, 1.0, 10), np.logspace(-7, -2, 10)), warn=False).reliable
    # A loss that starts at or below 0 has no share fallen: the rule does not apply.
    assert LRFinderResult(frame(np.linspace(-1.0, -3.0, 300), rates), warn=False).reliable


def test_too_few_points_before_a_rise_says_whether_the_rise_was_noise():
    # Rates too low to move the loss (a newcomer's end_lr=1e-5): batch noise of 15%, in which the
    # running average found a "rise" after 4 points, from a minimum as much the noise's. It neither fell
    # nor rose beyond the noise, and a longer or wider test is asked.
    rates = np.logspace(-7, -5, 30)
    flat = 1.0 + np.random.default_rng(2).normal(0.0, 0.15, size=30)
    assert s.usable(rates, flat).rise is None
    with pytest.warns(UserWarning, match=r"the loss neither fell by 10% of its start \(at most 0.0%, its end read over "
                                         r"its last 10 batches\) nor rose for good over the 30 steps from 1e-07 to "
                                         r"1e-05, so the curve does not say where to train; raise end_lr"):
        result = LRFinderResult(frame(flat, rates))
    assert not result.reliable and result._too_short == "the loss neither fell nor rose"
    # A real rise to 1.8x the start after 9 points (start_lr too high; past 2x it is "diverged at once"):
    # lower start_lr; a longer test over the same rates would not help.
    rising = np.r_[np.linspace(1.0, 0.8, 4), np.linspace(0.8, 1.8, 26)]
    result = LRFinderResult(frame(rising, rates), warn=False)
    assert result.reasons[0].startswith("too few usable points before the loss rose for good")
    assert "lower start_lr" in result.reasons[0] and result._too_short is None


def test_a_peak_that_few_resampled_curves_support_is_not_steady(monkeypatch):
    # Most redrawn curves support no peak: the median of the few that do is not a rate to train at.
    from keras_lr.finder import result as result_module

    real = result_module.s.one_cycle_peaks
    monkeypatch.setattr(result_module.s, "one_cycle_peaks", lambda *args, **kwargs: real(*args, **kwargs)[:19])
    result = LRFinderResult(frame(valley_curve()), warn=False)
    assert not result.reliable
    assert any("only 19 of 40" in reason for reason in result.reasons)
    monkeypatch.setattr(result_module.s, "one_cycle_peaks", lambda *args, **kwargs: real(*args, **kwargs)[:20])
    assert LRFinderResult(frame(valley_curve()), warn=False).reliable


def test_a_loss_that_barely_fell_is_noted_with_what_to_change():
    # The digits CNN with SGD over 300 steps: 2.30 down to 2.25, then divergence. Reliable (a peak
    # below the rise is safe), but the model barely began to learn: a longer test shows more.
    x = np.log10(RATES)
    barely = 2.30 - 0.05 / (1.0 + np.exp(-(x + 1.5) / 0.2)) + np.where(x > -0.5, 10.0 ** (2.0 * (x + 0.5)) - 1.0, 0.0)
    with pytest.warns(UserWarning, match=r"fell by only 2\.\d% of its start.*barely began to learn.*num_steps threefold"):
        result = LRFinderResult(frame(barely))
    assert result.reliable and result.reasons == []
    assert any("barely began to learn" in note for note in result.notes) and "barely began" in repr(result)
    # A fall of a tenth or more is not noted (valley_curve falls by three quarters of its start).
    assert LRFinderResult(frame(valley_curve()), warn=False).notes == []
    # Nor is a curve that starts at or below 0, whose share fallen means nothing.
    assert not any("barely" in note for note in LRFinderResult(frame(barely - 3.0), warn=False).notes)


def test_a_rise_within_the_noise_after_a_small_fall_is_no_divergence():
    # A test over rates too low to move the loss (a newcomer's start_lr=1e-7, end_lr=1e-6, measured on digits):
    # it fell by 2% and "rose" by 3%, which the running average read as a rise for good. Reliable, its peak
    # of 1.1e-7 trained to 7%. It neither fell nor rose beyond its batches' noise of 10%: unreliable, asking
    # for a wider test.
    rates = np.logspace(-7, -6, 300)
    x = np.log10(rates)
    noise = np.exp(np.random.default_rng(0).normal(0.0, 0.1, size=300))
    drift = (2.37 - 0.05 / (1.0 + np.exp(-(x + 6.6) / 0.05)) + 0.08 * np.clip((x + 6.3) / 0.3, 0.0, None)) * noise
    result = LRFinderResult(frame(drift, rates), warn=False)
    assert s.usable(rates, drift).rise is None  # its minimum and the climb back are the noise's
    assert not result.reliable and result._too_short == "the loss neither fell nor rose"
    assert "raise end_lr" in result.reasons[0]
    # A smooth rise to 1.4x after a fall of 5% (a trained model's test to a low end_lr; found by review) is a
    # rise, with its batches' noise of 2% or as a noiseless validation loss.
    low_rates, u = np.logspace(-5, -2, 300), np.linspace(-5, -2, 300)
    smooth_rise = 0.30 * (1 - 0.05 / (1 + np.exp(-(u + 4) / 0.2))) * np.where(u > -3, 1 + 0.45 * (u + 3) ** 2, 1)
    jitter = np.exp(np.random.default_rng(0).normal(0.0, 0.02, size=300))
    assert LRFinderResult(frame(smooth_rise * jitter, low_rates), warn=False).reliable
    validation = pd.DataFrame({"learning_rate": low_rates, "loss": smooth_rise * jitter, "val_loss": smooth_rise})
    assert LRFinderResult(validation, warn=False).reliable
    # The same fall with a real divergence after it is read as before: reliable, noted as barely fallen.
    diverges = drift * np.where(x > -6.2, 10.0 ** (4.0 * (x + 6.2)), 1.0)
    result = LRFinderResult(frame(diverges, rates), warn=False)
    assert result.reliable and any("barely began to learn" in note for note in result.notes)


def test_a_trained_models_lucky_first_batches_are_not_its_minimum():
    # A trained model's batch losses vary several-fold on a flat start. Three lucky first batches made the
    # running average's lowest point, from which the flat start read as a rise "within 3 steps of start_lr"
    # (lower start_lr, which gives the same noise); the fall by 40% and the divergence after it went unread.
    rates = np.logspace(-7, 1, 300)
    x = np.log10(rates)
    trend = 0.055 * (1.0 - 0.4 / (1.0 + np.exp(-(x + 1.0) / 0.2))) * 10.0 ** (3.0 * np.clip(x, 0.0, None))
    losses = trend * np.exp(np.random.default_rng(0).normal(0.0, 0.6, size=300))
    losses[:3] = [0.072, 0.037, 0.010]
    result = LRFinderResult(frame(losses, rates), warn=False)
    assert result.reliable, result.reasons
    assert 0.1 < result.rise_lr < 3.0 and 0.01 < result.one_cycle_max_lr < 0.3
    # A curve that rises from its first steps is still read so (start_lr too high).
    rising = np.r_[np.linspace(1.0, 0.8, 4), np.linspace(0.8, 1.8, 26)]
    assert LRFinderResult(frame(rising, np.logspace(-7, -5, 30)), warn=False).reasons[0].startswith(
        "too few usable points before the loss rose for good")


@pytest.mark.parametrize("seed", range(6))
def test_a_trained_models_flat_curve_that_diverges_at_its_end_did_not_diverge_at_once(seed):
    # A trained model's test (an LSTM under JAX, found by a probe): flat to its batches' noise of 10%, then
    # diverging from rate 1. Its running average's minimum was a chance low, from which the noise read as the
    # lasting rise, and the curve as one that "diverged at once" (lower start_lr) with a rise_lr of 3e-5.
    rates = np.logspace(-7, 1, 100)
    x = np.log10(rates)
    losses = 0.3 * np.exp(np.random.default_rng(seed).normal(0.0, 0.1, size=100)) * np.where(x > 0, 10.0 ** (2 * x), 1)
    assert s.usable(rates, losses).rise >= 87
    result = LRFinderResult(frame(losses, rates), warn=False)
    assert 1.0 < result.rise_lr < 3.0
    assert not result.reliable and not any(reason.startswith("diverged at once") for reason in result.reasons)


@pytest.mark.parametrize("points, noise", [(100, 0.1), (100, 0.3), (300, 0.3)])
def test_pure_noise_is_never_reliable(points, noise):
    # Nothing happened over rates too low to move the loss (a trained model's test from 1e-7 to 1e-6): batch
    # losses of 10-30% noise. The smoothed curve's lowest point "fell" 10% and more below its start by chance,
    # which the 10% rule read as a fall: reliable on 4, 27 and 29 of these 40 seeds, peaks near 1e-7.
    rates = np.logspace(-7, -6, points)
    for seed in range(40):
        losses = 0.2 * np.exp(np.random.default_rng(seed).normal(0.0, noise, size=points))
        assert s.usable(rates, losses).flat
        result = LRFinderResult(frame(losses, rates), warn=False)
        assert not result.reliable, (seed, result.reasons)
        assert result._too_short in ("the loss never fell", "the loss neither fell nor rose"), (seed, result.reasons)
    # The same 8 batches cycled (a data set of 8 batches) read as reliable on 3 of these 20 seeds at 100 points.
    for seed in range(20):
        losses = np.resize(0.2 * np.exp(np.random.default_rng(seed).normal(0.0, 0.3, size=8)), points)
        assert not LRFinderResult(frame(losses, rates), warn=False).reliable, seed
    assert not s.usable(RATES, valley_curve()).flat


def test_a_collapse_counts_where_the_curve_read_its_fall_as_training():
    # lr_find passes collapsed=True when the network gave one output for every input at the end of a test
    # that ran to end_lr. Where the loss fell to that constant prediction's and lay there (unscaled breast
    # cancer), the fall read as training: unreliable. Where it rose to it after its minimum (a CNN whose
    # loss climbs back to the labels' entropy as its units die), the rise was read: the result stands.
    rates = np.logspace(-7, 1, 300)
    x = np.log10(rates)
    noise = np.exp(np.random.default_rng(0).normal(0.0, 0.1, size=300))
    fell = (130.0 / (1.0 + np.exp((x + 2.5) / 0.3)) + 1.5 - 0.85 / (1.0 + np.exp(-(x + 0.3) / 0.1))) * noise
    result = LRFinderResult(frame(fell, rates), warn=False, collapsed=True)
    assert result.collapsed and not result.reliable and result._too_short.startswith("the network collapsed")
    assert "(0.6" in result.reasons[0] and "lower end_lr below" in result.reasons[0]
    assert LRFinderResult(frame(fell, rates), warn=False).reliable  # as the curve alone read it
    # The dead network's loss may bounce up at the last rates (its output's bias thrown about): a "rise",
    # from which the curve read a peak of 0.5-0.8 that trained to the majority class; but that loss lies
    # near the minimum of a fall from 130, and the fall to it was read as training all the same.
    bounced = fell * np.where(np.arange(300) >= 285, 3.0, 1.0)
    assert s.usable(rates, bounced).rise is not None
    assert LRFinderResult(frame(bounced, rates), warn=False, collapsed=True).collapsed
    rose = (2.3 - 1.8 / (1.0 + np.exp(-(x + 3.0) / 0.3)) + 1.8 / (1.0 + np.exp(-(x + 0.5) / 0.1))) * noise
    result = LRFinderResult(frame(rose, rates), warn=False, collapsed=True)
    assert not result.collapsed and result.reliable
    assert result.one_cycle_max_lr == LRFinderResult(frame(rose, rates), warn=False).one_cycle_max_lr


@pytest.mark.parametrize("make, message", [
    # Each named as LRFinderResult's own argument, not as an inner function's or a bare KeyError.
    (lambda: LRFinderResult(frame(valley_curve()), smoothing=1.5),
     r"LRFinderResult: smoothing must be in \[0, 1\); received smoothing=1.5"),
    (lambda: LRFinderResult({"learning_rate": RATES, "loss": valley_curve()}),
     r"LRFinderResult: frame must be a pandas DataFrame with columns 'learning_rate' and 'loss' "
     r"\(and 'val_loss' from a test on validation data\); received frame=<dict>"),
    (lambda: LRFinderResult(frame(valley_curve())[["learning_rate"]]),
     r"LRFinderResult: frame must be a pandas DataFrame with columns 'learning_rate' and 'loss' .*"
     r"received a DataFrame with columns \['learning_rate'\]"),
    (lambda: LRFinderResult(frame(valley_curve()), warn="x"), "LRFinderResult: warn must be True or False"),
    (lambda: LRFinderResult(frame(valley_curve()), stopped_early=3), "LRFinderResult: stopped_early must be None or"),
])
def test_the_constructor_names_each_bad_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("nan_at", [0, 1, 5, 40])
def test_a_loss_that_turned_nan_before_it_fell_or_rose_says_to_check_the_data(nan_at):
    # One NaN in a generator's or tf.data's batches (not read ahead): under JAX and PyTorch the test stopped on
    # the NaN loss at 1.4e-7 and read "too few points: raise num_steps, or lower start_lr"; a flat curve cut
    # short read "never fell; raise num_steps", and lr_find ran it again. No rate or length helps.
    rates = np.logspace(-7, 1, 300)[: nan_at + 1]
    losses = 2.3 + np.random.default_rng(0).normal(0.0, 0.02, size=nan_at + 1)
    losses[nan_at] = np.nan
    with pytest.warns(UserWarning, match="NaN or infinite value in the data"):
        result = LRFinderResult(frame(losses, rates), stopped_early=f"the loss was nan at learning rate {rates[-1]:.3g}")
    assert not result.reliable and result._too_short is None and len(result.reasons) == 1, result.reasons
    reason = result.reasons[0]
    assert "raise num_steps" not in reason and ("start_lr" in reason) == (0 < nan_at < 4)
    assert f"learning rate {rates[nan_at]:.3g}" in reason
    assert ("first step" in reason) == (nan_at == 0)
    assert all("still falling" not in note for note in result.notes)


def test_a_loss_that_rose_before_it_turned_nan_diverged():
    # The control: a flat curve (never fell) that rose, then turned NaN, is the rate's doing, not the data's.
    rates = np.logspace(-7, 1, 300)[:41]
    losses = np.concatenate([2.3 + np.random.default_rng(0).normal(0.0, 0.02, size=35),
                             [3.0, 4.5, 8.0, 20.0, 90.0, np.nan]])
    result = LRFinderResult(frame(losses, rates), warn=False, stopped_early="the loss was nan")
    assert not any("NaN or infinite value" in reason for reason in result.reasons), result.reasons


@pytest.mark.parametrize("noise", ["normal", "heavy"])
def test_one_low_batch_of_a_flat_curve_before_its_nan_is_no_fall(noise):
    # The review: read from the lowest loss before the NaN, a flat curve with 5% noise "fell" on 21% of seeds (75%
    # with heavy tails) and read "neither fell nor rose: raise num_steps", run again; its end's median does not.
    rates = np.logspace(-7, 1, 300)[:101]
    for seed in range(20):
        rng = np.random.default_rng(seed)
        draws = rng.standard_normal(100) if noise == "normal" else rng.standard_t(3, 100)
        losses = np.r_[2.3 * (1 + 0.05 * draws), np.nan]
        result = LRFinderResult(frame(losses, rates), warn=False, stopped_early="the loss was nan")
        assert len(result.reasons) == 1 and "NaN or infinite value in the data" in result.reasons[0], (seed, result.reasons)


def test_a_nan_in_the_first_steps_reads_as_the_datas_unless_the_loss_rose_half_again():
    rates = np.logspace(-7, 1, 300)[:4]
    for losses, data in [([2.3, 2.35, 2.28, np.nan], True), ([2.3, 2.6, np.nan], True), ([2.3, 4.0, np.nan], False)]:
        result = LRFinderResult(frame(np.array(losses), rates[:len(losses)]), warn=False)
        assert any("in the data" in reason for reason in result.reasons) == data, (losses, result.reasons)


def test_a_result_is_not_one_rate_and_float_says_which_to_take():
    result = LRFinderResult(frame(valley_curve()))
    with pytest.raises(TypeError, match=r"float\(result\): a range test's result is not one rate: take result\.valley"):
        float(result)
    for call in (lambda: round(result, 3), lambda: f"{result:.3g}"):
        with pytest.raises(TypeError, match=r"(round\(result\)|format\(result, '\.3g'\)): a range test's result is not one rate"):
            call()
    assert f"{result}" == str(result) and f"{result:>400}" == format(str(result), ">400")
