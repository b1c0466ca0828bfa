"""`LRFinderResult`: the curve of a range test and what it suggests."""


import numpy as np
import pandas as pd

from keras_lr import _validation as v
from keras_lr import _warnings
from keras_lr._engine.recommendation import Recommendation
from keras_lr.finder import suggestions as s

# Below this many finite points no suggestion is trusted.
MIN_POINTS = 10
# The peak's spread over resampled curves (10th-90th percentiles): wider than this ratio is not steady.
STEADY_RATIO = 10.0
# A loss that fell by less than this share of its start over the whole test barely began to learn.
# In benchmarks/finder_quality.py every 300-step curve fell by 42% or more, but the digits CNN with
# SGD's by 0.3-19%; re-run with 900 steps they fell by 29-70% and their OneCycle peaks rose to the
# grid's best.
BARELY_FELL = 0.1
# A curve that never rose for good must have fallen by this share of its start, its end read from one
# full one-sided window (`suggestions._steady_end`), or nothing happened in it: no real curve of
# benchmarks/finder_quality.py (129) never rose, and pure noise whose last batch was its lowest did.
FELL_BEFORE_END = 0.1
# A rise too early to leave enough usable points is real when the smoothed loss climbs this share above
# its start (or to NaN); below, it is noise on a flat curve (`_too_few_usable`).
ROSE_ABOVE_START = 0.5


def _share_fallen(curve):
    """How far the smoothed, usable curve fell below its start (the median of its first tenth), as a
    share of that start; NaN when the start is not above 0."""
    values = curve[np.isfinite(curve)]
    if len(values) < 3:
        return float("nan")
    start = float(np.median(values[: max(3, len(values) // 10)]))
    return (start - float(values.min())) / start if start > 0 else float("nan")


# The kinds of reason a longer test over the same rates may answer (lr_find's retry): a loss that
# never fell, or neither fell much nor rose (flat), or a peak the batches' noise moves; not a curve
# that diverged at once, mostly NaN, or a peak below the rates tested (a range to move).
NEVER_FELL, NOT_STEADY, FLAT = "never fell", "not steady", "flat"
# A network that died on the test's highest rates: a longer test over them, denser, may diverge first.
COLLAPSED = "collapsed"
# A rise for good so early that the OneCycle peak lies below the rates tested (lower start_lr).
BELOW = "below"


def _nan_before_moving(values):
    """Where a curve that ends on a NaN or infinite loss first had one, if the loss had not risen above its
    start's range before it (a rate that diverges the loss makes it rise first); else None."""
    finite = np.isfinite(values)
    if finite.all():
        return None
    first = int(np.argmin(finite))
    if finite[first:].any():  # the test stops on the first: this curve went on past it
        return None
    before = values[:first]
    if first >= 4:
        start = before[: max(1, first // 10)]
        middle = float(np.median(start))
        # Each loss's noise, from the steps between them.
        noise = 1.4826 * float(np.median(np.abs(np.diff(before)))) / np.sqrt(2.0)
        if before[-1] > max(start.max(), middle + 3.0 * noise):
            return None  # it rose first: a divergence
        # Its end, the median of its last tenth, as its start is of its first: one low batch is no fall.
        end = float(np.median(before[-max(3, first // 10):]))
        if end < middle - max(3.0 * noise, FELL_BEFORE_END * abs(middle)):
            return None  # it fell first: the rates moved it, and may have overflowed it in one step
    elif first:
        # Too few points for their noise: a rise half again above the first loss is one (a start too high).
        if before[-1] > before[0] + ROSE_ABOVE_START * abs(before[0]):
            return None
    return first


def _nan_reason(rates, values, first):
    """Why a loss that turned NaN before it fell or rose is the data's or the model's doing, not the rate's."""
    where = (f"was {values[first]} at the test's first step, at learning rate {rates[first]:.3g}, before training "
             f"had moved the weights, if at all" if first == 0 else
             f"turned {values[first]} at step {first + 1}, at learning rate {rates[first]:.3g}, before it had "
             f"fallen or risen (a rate too high makes the loss rise before it overflows)")
    early = (f"; if start_lr ({rates[0]:.3g}) may be too high for this model, lower it and test again"
             if 0 < first < 4 else "")
    return f"the loss {where}: neither another range of rates nor a longer test changes this. {_NAN_ADVICE}{early}"


# What makes a network NaN at rates too low to diverge it, and what to do.
_NAN_ADVICE = ("A NaN or infinite value in the data does it (lr_find names those in arrays; a dataset or a generator "
              "is not read ahead), or a model that computes one (a log or a division of 0); find and fix it, then "
              "test again")


def _nan_weights_reason():
    """Why a test whose weights went NaN while its loss stayed finite says nothing of the model."""
    return (f"the model's weights held NaN or infinite values at the end of the test while the loss it logged "
            f"stayed finite: from the batch that made them, the curve is not the model's, and neither another "
            f"range of rates nor a longer test changes this. {_NAN_ADVICE}. (If the data and the model are "
            f"finite, rates near the end diverged the weights without the loss showing it: lower end_lr.)")


def _suggestion(name, what):
    """A read-only attribute for ``result.suggestions[name]``; an error on an unreliable result."""

    def get(self):
        self._check_trainable(name)
        return self.suggestions[name]

    return property(get, doc=f'`suggestions["{name}"]`: {what}. A ValueError when the result is unreliable.')


def _cannot_support(reasons):
    return (f"the range test's curve cannot support a suggestion: {'; '.join(reasons)}. "
            f"Do not train at its rates; if the advice does not help, check the data and the model.")


def assess(learning_rates, losses, smoothing=0.9):
    """Why the curve cannot support a suggestion: a list of reasons (empty if it can).

    A pure function of the raw rates and (unsmoothed) losses of a range test:
    the `reasons` of the `LRFinderResult` made from them, so empty exactly
    when that result is `reliable`. (A network that collapsed to one output,
    which `lr_find` sees in the model and not in the curve, adds a reason.)

    Args:
        learning_rates: Sequence of the test's rates (increasing).
        losses: Sequence of the raw losses at them.
        smoothing: Float in [0, 1). The smoothing, as `lr_find`'s.
    """
    smoothing = v.check_number("assess", "smoothing", smoothing, low=0.0, high=1.0, high_open=True)
    rates, values = s._arrays("assess", learning_rates, losses)
    frame = pd.DataFrame({"learning_rate": rates, "loss": values})
    return list(LRFinderResult(frame, smoothing, warn=False).reasons)


def _assess(learning_rates, losses, keep):
    """The reasons read from the points alone, each as (kind, message); ``keep``: the usable points
    (`suggestions.usable`). `LRFinderResult` adds those read from the whole result."""
    rates = np.asarray(learning_rates, dtype=np.float64).reshape(-1)
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    reasons = []
    finite = np.isfinite(values)
    if len(values) and finite.mean() < 0.5:
        reasons.append(("mostly nan", f"mostly NaN or infinite ({int((~finite).sum())} of {len(values)} points)"))
    if finite.sum() < MIN_POINTS:
        reasons.append(("too few", f"too few points ({int(finite.sum())} finite; at least {MIN_POINTS} needed): "
                                   f"raise num_steps, or lower start_lr if the loss diverged at once"))
        return reasons
    if np.all(values[finite] == 0):
        # Nothing a longer test changes (it was run again, and told to raise num_steps): JAX's fit trains a model
        # compiled without a loss at a loss of 0, where TensorFlow's and PyTorch's refuse it; and JAX's sparse
        # cross-entropy of a label past the last output is 0 (a newcomer's labels of 5 for two classes), where
        # TensorFlow and PyTorch raise.
        reasons.append(("zero loss", f"every batch's loss was exactly 0 ({int(finite.sum())} steps): the model has "
                                     f"nothing to train on, as when it was compiled without a loss (compile it with "
                                     f"one: model.compile(optimizer, loss=...)) or when every label is a class "
                                     f"index past the model's last output (JAX's sparse cross-entropy is then 0)"))
        return reasons
    smoothed = s.smooth(values[finite])
    lowest = int(np.argmin(smoothed))
    kept = np.asarray(keep, dtype=bool) & finite
    # A curve usable up to its second half did not rise from its first steps, however early its minimum
    # (a trained model's flat curve, its minimum a chance low among its first points, diverging at the end).
    usable_late = kept.any() and int(np.nonzero(kept)[0][-1]) >= len(values) // 2
    if lowest <= max(2, 0.1 * len(smoothed)) and smoothed[-1] > 2.0 * smoothed[0] and not usable_late:
        reasons.append(("diverged", f"diverged at once: the loss rose from the first steps, to more than twice its "
                                    f"start; lower start_lr ({rates[finite][0]:.3g}) if the model can bear no rate as "
                                    f"high, else check the data and the model"))
        return reasons
    if kept.sum() < MIN_POINTS:
        reasons.append(_too_few_usable(rates, values, kept))
        return reasons
    smoothed = s.smooth(values[kept])
    lowest = int(np.argmin(smoothed))
    fall = float(np.median(smoothed[: max(3, len(smoothed) // 10)])) - smoothed[lowest]
    if lowest <= max(2, 0.1 * len(smoothed)) or fall <= 0.01 * abs(smoothed[0]):
        falling = rates[finite]
        reasons.append((
            NEVER_FELL,
            f"the loss never fell over the {len(values)} steps from {falling[0]:.3g} to {falling[-1]:.3g}; "
            f"if training needs more steps to start, raise num_steps (threefold, say) "
            f"or start_lr, so more steps fall where the loss moves",
        ))
    return reasons


def _rose_above_start(values, at, smoothing=0.9, beyond_noise=False):
    """Whether the loss from point ``at`` on rose for real: to NaN, or its smoothed curve `ROSE_ABOVE_START`
    above its start (or the start is 0 or below: no share to read). With ``beyond_noise``, also when it
    rose above its start by more than twice the batches' noise before ``at`` (`suggestions._batch_noise`): a
    smooth rise to 1.4x (a trained model's test, a validation loss) is one, where a rise of 3% on a batch
    noise of 5% is not."""
    curve = s.smooth(values, smoothing)
    finite = np.nonzero(np.isfinite(curve))[0]
    start = float(np.median(curve[finite[: max(3, len(finite) // 10)]]))
    if not np.isfinite(values[at:]).all() or start <= 0:
        return True
    top = float(np.nanmax(curve[at:], initial=-np.inf))
    if top > (1.0 + ROSE_ABOVE_START) * start:
        return True
    if not beyond_noise:
        return False
    before = finite[finite < at]
    noise = s._batch_noise(values[before], curve[before]) if len(before) else 0.0
    return top - start > 2.0 * noise


def _too_few_usable(rates, values, kept):
    """The reason for a curve with too few usable points before its rise: (kind, message).

    A rise that took the smoothed loss half again above its start
    (`ROSE_ABOVE_START`), or to NaN, is real: the test started too high. One
    that stayed below is the batches' noise on a flat curve (the rates were
    too low to move the loss; batch losses of a small batch vary by 20% and
    more), which a longer or wider test may answer.
    """
    count = int(kept.sum())
    last = int(np.nonzero(kept)[0][-1]) if count else -1
    rose = _rose_above_start(values, last + 1)
    tested = rates[(rates > 0) & np.isfinite(rates)]
    steps = f"{count} step{'s' if count != 1 else ''}"
    if rose:
        return ("too few", f"too few usable points before the loss rose for good ({count}; at least {MIN_POINTS} "
                           f"needed): it rose within {steps} of start_lr ({tested[0]:.3g}); lower start_lr, or "
                           f"raise num_steps so more steps fall before the rise")
    return (FLAT, f"the loss neither fell nor rose for good over the {len(values)} steps from {tested[0]:.3g} to "
                  f"{tested[-1]:.3g}: it stayed below {1 + ROSE_ABOVE_START:g}x its start, so what read as a rise "
                  f"after {steps} is the batches' noise; raise end_lr if the loss should have fallen or "
                  f"diverged by then, num_steps (threefold, say) or start_lr if training "
                  f"needs more steps to start")


def _collapse_floor(rates, values, smoothing):
    """(level, index) of a collapsed network's loss: the curve's end, read over one full smoothing window
    (its constant prediction's loss), and the first point from which the smoothed loss stayed within a
    tenth of that level (an index into ``values``)."""
    finite = np.nonzero(np.isfinite(values) & (rates > 0))[0]
    curve = s.smooth(values[finite], smoothing)
    level = float(s._steady_end(values[finite], curve, smoothing)[-1])
    away = np.nonzero(np.abs(curve - level) > max(0.1 * abs(level), 1e-12))[0]
    return level, int(finite[min(away[-1] + 1, len(curve) - 1)] if len(away) else finite[0])


def _fell_to_collapse(rates, values, rise, smoothing):
    """Whether the curve read the fall to a collapsed network's loss as training: it never rose for good
    (``rise``, `suggestions.usable`'s), or that loss lies in the lower half of its fall, nearer its minimum
    than its start (an inflated start on unscaled inputs falls to it, and a late bounce of the dead
    network's loss reads as the rise). A curve that rose back to it (a CNN whose loss climbs back to the
    labels' entropy, its start, as its units die) has read that rise."""
    if rise is None:
        return True
    start, _, fall = s._fall(s.smooth(values[np.isfinite(values) & (rates > 0)], smoothing))
    return _collapse_floor(rates, values, smoothing)[0] < start - 0.5 * fall


def _collapse_reason(rates, values, smoothing):
    """Why a result whose network gave one output for every input at the end of the test is unreliable."""
    level, at = _collapse_floor(rates, values, smoothing)
    reached = rates[at]
    last = rates[np.isfinite(values) & (rates > 0)][-1]
    return (
        f"the network collapsed: at the end of the test (learning rate {last:.3g}) it gave the same output "
        f"for every input of a batch of the data, so the loss it fell to "
        f"({level:.3g}, by {reached:.3g}) is a constant prediction's, not training's, and the curve does not "
        f"show where training fails; standardise the inputs if they are not (units die at high rates on "
        f"unscaled features), or lower end_lr below {reached:.3g}"
    )


class LRFinderResult(Recommendation):
    """The curve of a learning-rate range test and the rates it suggests.

    Attributes:
        frame: pandas DataFrame, one row per step, with columns
            `learning_rate`, `loss`, `smoothed_loss` (and `val_loss` when the
            test ran on validation data, in which case the suggestions use it).
        suggestions: dict of rate suggestions: "valley" (the default),
            "steep", "minimum" and "slide"; see `keras_lr.finder.suggestions`.
            Each is an attribute too (`result.valley`), as in fastai's
            `SuggestedLRs`.
        suggestion: Float. The default suggestion ("valley"), a rate to train
            a constant-rate or decaying schedule at.
        one_cycle_max_lr: Float. A peak rate for `OneCycle`: the rule of
            `suggestions.one_cycle_max_lr`, its median over 40 curves
            resampled from the batches' noise.
        spread: (low, high), the 10th and 90th percentiles of the OneCycle
            peak over those 40 curves (NaN when none supports a peak).
        rise_lr: Float. Where the loss rose for good (NaN if it never did);
            suggestions are read only below it.
        usable: Boolean numpy array, one per row of `frame`: the points the
            suggestions read (finite, before the rise, artefacts set aside).
        reliable: Bool. False when the curve cannot support a suggestion
            (too few points, the loss never fell, it neither fell by 10%
            nor rose for good, or "rose" after it only within twice the
            batches' noise of its start, it diverged at once, mostly NaN,
            a spread wider than 10x or fewer than half of the resampled curves
            supporting a peak, a peak below the rates tested, or a network
            that collapsed to one output for every input); `reasons`
            says why, and `lr_find` warns.
        reasons: List of strings. Why the result is unreliable (empty when
            it is reliable).
        notes: List of strings. What was set aside or found on the way
            (losses of 0 or below, a loss still falling at the end, a loss
            that fell by less than a tenth of its start).
        first_test: The `LRFinderResult` of a first, shorter test that
            `lr_find` found too short to judge and ran again with three
            times the steps (this result is the second test's); else None.
        monitor: String. The column the suggestions read: "val_loss" when
            the test ran on validation data, else "loss".
        stopped_early: String or None. Why the test ended before `num_steps`.
        collapsed: Bool. Whether the network gave the same output for
            every input at the end of the test (`lr_find` compares its
            outputs on a batch of the data before and after) and the curve
            read its fall to that constant prediction's loss as training
            (it never rose for good, or that loss lies nearer its minimum
            than its start): the network died on the test's highest rates,
            and the result is unreliable. A curve that rose back to that
            loss has read the rise, and is not collapsed. Always False
            from the `LRFinder` callback alone, which does not see the data.

    `lr_find` and `LRFinder` make it; made by hand, from a recorded curve:

    Args:
        frame: pandas DataFrame with columns `learning_rate` and `loss`
            (the raw batch losses), one row per step, rates increasing; a
            `val_loss` column, when present, is what the suggestions read.
        smoothing: Float in [0, 1). The running average's weight of the
            past, as `lr_find`'s.
        stopped_early: String or None. Why the test ended before its last
            step (shown in `reasons` where it matters).
        warn: Bool. Warn when the result is unreliable.
        collapsed: Bool. Whether the network's outputs were all equal at
            the end of the test (see the attribute).

    Raises:
        ValueError: for a frame without those columns or a bad argument.
    """

    def __init__(self, frame, smoothing=0.9, stopped_early=None, warn=True, collapsed=False):
        owner = "LRFinderResult"
        columns = "a pandas DataFrame with columns 'learning_rate' and 'loss' (and 'val_loss' from a test on validation data)"
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"{owner}: frame must be {columns}; received frame=<{type(frame).__name__}>")
        if not {"learning_rate", "loss"} <= set(frame.columns):
            raise ValueError(f"{owner}: frame must be {columns}; received a DataFrame with columns {list(frame.columns)}")
        smoothing = v.check_number(owner, "smoothing", smoothing, low=0.0, high=1.0, high_open=True)
        if stopped_early is not None and not isinstance(stopped_early, str):
            v._fail(owner, "stopped_early", "None or a string (why the test ended early)", stopped_early)
        warn = v.check_bool(owner, "warn", warn)
        collapsed = v.check_bool(owner, "collapsed", collapsed)
        self.frame = frame = frame.copy()  # its smoothed_loss column is (re)computed here
        self.smoothing = smoothing
        self.stopped_early = stopped_early
        column = "val_loss" if "val_loss" in frame else "loss"
        self.monitor = column
        rates, values = s._arrays("LRFinderResult", frame["learning_rate"], frame[column])
        usable = s.usable(rates, values, smoothing)
        self.notes = list(usable.notes)
        self.collapsed = collapsed = collapsed and _fell_to_collapse(rates, values, usable.rise, smoothing)
        # Smoothed over every point but the artefacts (the plot shows the rise too); read up to the rise.
        smoothed = s.smooth(np.where(usable.artefacts, np.nan, values), smoothing)
        shown = smoothed if column == "loss" else s.smooth(frame["loss"].to_numpy(np.float64), smoothing)
        if "smoothed_loss" in frame:
            frame["smoothed_loss"] = shown
        else:  # beside the loss it smooths
            frame.insert(frame.columns.get_loc("loss") + 1, "smoothed_loss", shown)
        curve = np.where(usable.keep, smoothed, np.nan)
        self._smoothed = smoothed  # of the column the suggestions read (the plot marks them on it)
        self.usable = usable.keep
        self.rise_lr = float(rates[usable.rise]) if usable.rise is not None else float("nan")
        self._flat = usable.flat  # no fall beyond the batches' noise: what lr_find says of a trained model's test
        assessed = _assess(rates, values, usable.keep)
        self.reasons = [message for _, message in assessed]
        kinds = {kind for kind, _ in assessed}
        if collapsed:
            kinds.add(COLLAPSED)
            self.reasons.append(_collapse_reason(rates, values, smoothing))
            # What the curve's end was read as (the batches fit, a fall still going) was the network dying.
            if usable.fitted is not None or usable.still_falling:
                self.notes.remove(usable.notes[-1])
        self.reliable = not self.reasons
        self.suggestions = {
            "valley": s.valley(rates, curve),
            "steep": s.steep(rates, curve),
            "minimum": s.minimum(rates, curve),
            "slide": s.slide(rates, curve),
        }
        self._bounds = s.cyclic_bounds(rates, curve)
        # The peak and its spread, from one set of resampled curves (suggestions.one_cycle_max_lr).
        peaks = s.one_cycle_peaks(rates, values, smoothing, draws=s.PEAK_DRAWS)
        self._peak = s._median_peak(peaks)
        self.spread = tuple(float(p) for p in np.percentile(peaks, [10, 90])) if peaks.size else (float("nan"),) * 2
        tested = rates[np.isfinite(values) & (rates > 0)]
        fell = _share_fallen(curve)
        kept = np.nonzero(usable.keep)[0]
        steady_fell = _share_fallen(s._steady_end(values[kept], curve[kept], smoothing))
        # A rise after so small a fall that stayed within the batches' noise (a test run over rates too low to
        # move the loss, 1e-7 to 1e-6: it fell 2% and "rose" 3%) is no divergence: read as one, its peak was
        # 1e-7, reliable, and trained to 7% on digits.
        noise_rise = (usable.rise is not None and stopped_early is None
                      and not _rose_above_start(values, usable.rise, smoothing, beyond_noise=True))
        within_noise = usable.flat and not s._end_fell(values[kept], smoothing)
        if self.reliable and (usable.rise is None or noise_rise) and (steady_fell < FELL_BEFORE_END or within_noise):
            # Nothing happened: no fall worth the name and no divergence. A flat, noisy curve reads like
            # this, and its minimum (so its peak) is wherever the batches' noise put it. A fall of 10% or more
            # may still be the noise's: a trained model's test over rates too low to move it (256 rows, so
            # the same 8 batches again and again) "fell" 12% and read as reliable, its peak 2.5e-7; pure
            # noise of 30% did on 27 of 40 seeds. Neither the running average (`usable`) nor the end fell
            # beyond the noise there; a fall still going at the end is seen by the end, which the average lags.
            kinds.add(FLAT)
            if usable.still_falling:  # the reason says it, with its advice
                self.notes.remove(usable.notes[-1])
            what = "validation loss" if column == "val_loss" else "loss"
            fell_by = (f"fell by {FELL_BEFORE_END:.0%} of its start (at most {100 * steady_fell:.1f}%, its end read "
                       f"over its last {s._window_reach(smoothing) + 1} batches)" if steady_fell < FELL_BEFORE_END else
                       "fell beyond the batches' noise" + (f" (its fall of {100 * steady_fell:.1f}% is within it)"
                                                           if np.isfinite(steady_fell) else ""))
            self.reasons.append(
                f"the {what} neither {fell_by} nor rose for good"
                + (f" (what read as a rise at {self.rise_lr:.3g} stayed within the batches' noise of its start)"
                   if noise_rise else "")
                + f" over the {len(values)} steps from {tested[0]:.3g} to {tested[-1]:.3g}, so the curve does not "
                f"say where to train; raise end_lr if the loss should have fallen or diverged by then, num_steps "
                f"(threefold, say) or start_lr if training needs more steps to start"
            )
        elif self.reliable and np.isfinite(self._peak) and self._peak < tested[0]:
            kinds.add(BELOW)
            self.reasons.append(
                f"the loss rose for good within a decade of the first rate tested ({tested[0]:.3g}), so the "
                f"OneCycle peak ({self._peak:.3g}) lies below the rates tested; lower start_lr"
            )
        elif self.reliable and len(peaks) < s.PEAK_DRAWS / 2:
            kinds.add(NOT_STEADY)
            self.reasons.append(
                f"not steady: only {len(peaks)} of {s.PEAK_DRAWS} curves resampled from the batches' noise "
                f"support a OneCycle peak over this test's {len(values)} steps; raise num_steps (threefold, "
                f"say) or batch_size"
            )
        elif self.reliable and self.spread[1] > STEADY_RATIO * self.spread[0]:
            kinds.add(NOT_STEADY)
            self.reasons.append(
                f"not steady: the batches' noise moves the OneCycle peak between {self.spread[0]:.3g} and "
                f"{self.spread[1]:.3g} (more than {STEADY_RATIO:g}x) over this test's {len(values)} steps; "
                f"raise num_steps (threefold, say) or batch_size"
            )
        nan_at = _nan_before_moving(values)
        read_as_still = {"mostly nan", "too few", NEVER_FELL, FLAT, BELOW}  # what a loss that never moved reads as
        if nan_at is not None and self.reasons and kinds and kinds <= read_as_still:
            # The data's NaN, or the model's: one NaN in a generator's batches read "too few points: raise
            # num_steps, or lower start_lr" under JAX and PyTorch, and "never fell" run again at 3x the steps.
            kinds = {"nan"}
            self.reasons = [_nan_reason(rates, values, nan_at)]
            if usable.still_falling and usable.notes[-1] in self.notes:
                self.notes.remove(usable.notes[-1])
        self.reliable = not self.reasons
        if "too few" in kinds and usable.still_falling and not collapsed:
            # A few points' last rate is no finding: the reason says what to change.
            self.notes.remove(usable.notes[-1])
        barely_fell = self.reliable and fell < BARELY_FELL
        self.first_test = None
        self._warnings = []  # what to warn of, each said by its owner (`_warn`)
        if barely_fell:
            self.notes.append(
                f"the loss fell by only {100 * fell:.1f}% of its start over the test: the model barely began to "
                f"learn, so the peak is cautious; a longer test (num_steps threefold, say) shows more"
            )
            self._warnings.append(f"{self.notes[-1]}.")
        # What a longer test over the same rates may answer (lr_find's retry): see NEVER_FELL and FLAT.
        asks = []
        if NEVER_FELL in kinds:
            asks.append("the loss never fell")
        if FLAT in kinds:
            asks.append("the loss neither fell nor rose")
        if NOT_STEADY in kinds:
            asks.append("its OneCycle peak was not steady")
        if barely_fell:
            asks.append(f"the loss fell by only {100 * fell:.1f}% of its start")
        if collapsed:
            asks.append("the network collapsed to one output, which a denser test may diverge before")
        self._too_short = "; ".join(asks) or None
        if self.reliable and usable.fitted is not None:
            # No divergence to read, and no test of the rates past the point where the batches were fit.
            self._warnings.append(
                f"{usable.notes[-1]}. The OneCycle peak ({self._peak:.3g}) is the rate where the loss "
                f"fell below {s.FITTED_SHARE:.0%} of its start, the median over {s.PEAK_DRAWS} curves resampled "
                f"from the batches' noise. On a small table this is expected, and nothing needs changing: such "
                f"peaks trained within 1.3 points of the best of a grid of peaks on three small tables "
                f"(benchmarks/fitted_curves.py)."
            )
        elif self.reliable and usable.still_falling:
            # Where training diverges was not reached: the peak is read from the last rate tested.
            last = int(np.nonzero(usable.keep)[0][-1])
            self._warnings.append(
                f"{usable.notes[-1]}. The OneCycle peak ({self._peak:.3g}) is then the last rate "
                f"tested over {s._one_cycle_divisor(rates, last):.2g}, a cautious guess."
            )
        if not self.reliable:
            self._warnings.append(_cannot_support(self.reasons))
        if warn:
            self._warn()

    def _spoiled(self, reason):
        """Makes ``reason``, found outside the curve (NaN in the data or the weights, a model trained before the
        test), the only one: what the curve read (and its warnings, and its call for a longer test) goes."""
        self.reasons = [reason]
        self.reliable = False
        self._too_short = None
        self._warnings = [_cannot_support(self.reasons)]

    def _ran_again(self, steps):
        """Rewrites the advice of a test after lr_find's second one of ``steps`` steps (three times the num_steps
        given): "raise num_steps (threefold, say)" asked for a test as long as that one."""
        more = f"to {3 * steps} or more, say: the second test ran {steps} steps"

        def rewrite(text):
            return (text.replace("num_steps (threefold, say)", f"num_steps ({more})")
                        .replace("(num_steps threefold, say)", f"(num_steps {more})"))

        self.reasons = [rewrite(reason) for reason in self.reasons]
        self.notes = [rewrite(note) for note in self.notes]
        self._warnings = [rewrite(message) for message in self._warnings]

    def _warn(self, owner="lr_find"):
        """Issues the warnings the result was made with (at the user's line), each prefixed ``owner: ``."""
        for message in self._warnings:
            _warnings.warn(f"{owner}: {message}")

    def _check_trainable(self, name):
        """Raises where a rate to train at is asked of an unreliable result.

        Its rates can be anything (the valley of a curve that never rose is
        end_lr, 10 by default, which a newcomer passed to Adam with only a
        warning said); `result.suggestions` keeps them to look at.
        """
        if not self.reliable:
            raise ValueError(
                f"LRFinderResult.{name}: this range test is unreliable, so it has no rate to train at: "
                f"{'; '.join(self.reasons)}. Its rates stay in result.suggestions (not to train at), its curve in "
                f"result.frame."
            )

    @property
    def suggestion(self):
        """The valley: the rate for a constant or decaying schedule. A ValueError when the result is unreliable."""
        self._check_trainable("suggestion")
        return self.suggestions["valley"]

    valley = _suggestion("valley", "the rate halfway down the loss's fall (fastai's `SuggestedLRs.valley`)")
    steep = _suggestion("steep", "the rate where the loss fell fastest against log(rate), before its minimum")
    minimum = _suggestion("minimum", "the rate at the loss's minimum / 10")
    slide = _suggestion("slide", "where the fall's slope levels off (fastai's `slide`; `suggestions.slide`)")

    @property
    def one_cycle_max_lr(self):
        """The peak `OneCycle(max_lr=result)` trains at (`suggestions.one_cycle_max_lr`).

        Not `suggestion` (the valley, for a constant or decaying rate): one
        cycle spends few steps at its peak, so it takes a higher rate, most
        often several times the valley (on a short test, whose valley sits
        near the rise, it can be lower). The rule is read from the curve alone; `one_cycle_max_lr_for`
        is what `OneCycle` asks when its fit begins, with the fit's steps. A
        ValueError when the result is unreliable.
        """
        self._check_trainable("one_cycle_max_lr")
        return self._peak

    def one_cycle_max_lr_for(self, total_steps):
        """The peak for one cycle over ``total_steps`` optimizer steps: `one_cycle_max_lr`, whatever the budget.

        `OneCycle(max_lr=result)` resolves its peak here when its fit
        begins. benchmarks/finder_quality.py found no dependence on the
        budget worth a term (from 2-3 to 20-30 epochs, the best peak moved
        up on some tasks and down on others), so the answer is the same for
        any ``total_steps``.
        """
        if total_steps is not None:
            v.check_int("LRFinderResult.one_cycle_max_lr_for", "total_steps", total_steps, low=1)
        return self._peak

    def cyclic_bounds(self):
        """(base_lr, max_lr) for `CyclicLR`: where the loss starts falling, and where it stops."""
        return self._bounds

    def plot(self, ax=None, suggestions=True, save=None):
        """Loss against learning rate (log scale), every suggestion marked; see `keras_lr.plot_range_test`.

        Returns:
            The matplotlib Figure.
        """
        from keras_lr.finder.plot import plot_range_test

        return plot_range_test(self, ax=ax, suggestions=suggestions, save=save)

    def __float__(self):
        # float(result), np.float64(result): Python's "must be a real number" did not say what to take.
        raise self._not_one_rate("float(result)")

    def __round__(self, ndigits=None):
        raise self._not_one_rate("round(result)")

    def __format__(self, spec):
        try:
            return format(str(self), spec)  # f"{result:>60}" aligns the repr, as for any object's str
        except ValueError:  # a number's spec: f"{result:.3g}"
            raise self._not_one_rate(f"format(result, {spec!r})") from None

    def _not_one_rate(self, what):
        return TypeError(
            f"LRFinderResult: {what}: a range test's result is not one rate: take result.valley (or "
            "result.suggestion, the same) for a constant or decaying rate, result.one_cycle_max_lr for a OneCycle "
            "peak, or pass the result itself to keras_lr.OneCycle(max_lr=result) or keras_lr.CyclicLR(result)"
            + ("" if self.reliable else f"; this one is unreliable, not to train at: {'; '.join(self.reasons)}")
        )

    def __repr__(self):
        rates = ", ".join(f"{name}={value:.3g}" for name, value in self.suggestions.items())
        rates += f", one_cycle_max_lr={self._peak:.3g}"
        if not self.reliable:  # the reason first: these are rates it says not to train at
            rates = f"unreliable: {'; '.join(self.reasons)}; not to train at: {rates}"
        notes = f", notes: {'; '.join(self.notes)}" if self.notes else ""
        return f"LRFinderResult({len(self.frame)} steps, {rates}{notes})"

