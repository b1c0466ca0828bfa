"""`LRFinderResult`: the curve of a range test and what it suggests."""


import numpy as np

from keras_lr import _warnings
from keras_lr._engine.recommendation import Recommendation
from keras_lr.finder import suggestions as s

# Below this many finite points no suggestion is trusted.
MIN_POINTS = 10


def assess(learning_rates, losses):
    """Why the curve cannot support a suggestion: a list of reasons (empty if it can).

    A pure function of the raw rates and (unsmoothed) losses of a range test.
    """
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    reasons = []
    finite = np.isfinite(values)
    if len(values) and finite.mean() < 0.5:
        reasons.append(f"mostly NaN or infinite ({int((~finite).sum())} of {len(values)} points)")
    if finite.sum() < MIN_POINTS:
        reasons.append(f"too few points ({int(finite.sum())} finite; at least {MIN_POINTS} needed)")
        return reasons
    smoothed = s.smooth(values[finite])
    lowest = int(np.argmin(smoothed))
    fall = smoothed[0] - smoothed[lowest]
    if lowest <= max(2, 0.1 * len(smoothed)) and smoothed[-1] > 2.0 * smoothed[0]:
        reasons.append("diverged at once: the loss rose from the first steps")
    elif lowest <= max(2, 0.1 * len(smoothed)) or fall <= 0.01 * abs(smoothed[0]):
        reasons.append("the loss never fell")
    return reasons


class LRFinderResult(Recommendation):
    """The curve of a learning-rate range test and the rates it suggests.

    Attributes:
        frame: pandas DataFrame, one row per step, with columns
            `learning_rate`, `loss`, `smoothed_loss` (and `val_loss` when the
            test ran on validation data, in which case the suggestions use it).
        suggestions: dict of rate suggestions: "valley" (the default),
            "steep", "minimum" and "slide"; see `keras_lr.finder.suggestions`.
        suggestion: Float. The default suggestion ("valley"), a rate to train
            a constant-rate or decaying schedule at.
        one_cycle_max_lr: Float. A peak rate for `OneCycle`.
        reliable: Bool. False when the curve cannot support a suggestion
            (too few points, the loss never fell, it diverged at once, or
            mostly NaN); `reasons` says why, and a warning was issued.
        stopped_early: String or None. Why the test ended before `num_steps`.
    """

    def __init__(self, frame, smoothing=0.9, stopped_early=None, warn=True):
        self.frame = frame
        self.smoothing = smoothing
        self.stopped_early = stopped_early
        column = "val_loss" if "val_loss" in frame else "loss"
        self.monitor = column
        rates = frame["learning_rate"].to_numpy()
        curve = s.smooth(frame[column].to_numpy(), smoothing) if column == "val_loss" else frame["smoothed_loss"].to_numpy()
        self.reasons = assess(rates, frame[column].to_numpy())
        self.reliable = not self.reasons
        self.suggestions = {
            "valley": s.valley(rates, curve),
            "steep": s.steep(rates, curve),
            "minimum": s.minimum(rates, curve),
            "slide": s.slide(rates, curve),
        }
        self._bounds = s.cyclic_bounds(rates, curve)
        if warn and not self.reliable:
            _warnings.warn(
                f"lr_find: the range test's curve cannot support a suggestion: "
                f"{'; '.join(self.reasons)}. Check the data and model, or widen "
                f"start_lr/end_lr or raise num_steps."
            )

    @property
    def suggestion(self):
        return self.suggestions["valley"]

    @property
    def one_cycle_max_lr(self):
        return self._bounds[1]

    def cyclic_bounds(self):
        """(base_lr, max_lr) for `CyclicLR`: where the loss starts falling, and where it stops."""
        return self._bounds

    def plot(self, ax=None, suggestions=True):
        """Loss against learning rate (log scale), with every suggestion marked.

        Returns:
            The matplotlib Axes.
        """
        from keras_lr.finder.plot import plot_range_test

        return plot_range_test(self, ax=ax, suggestions=suggestions)

    def __repr__(self):
        rates = ", ".join(f"{name}={value:.3g}" for name, value in self.suggestions.items())
        state = "" if self.reliable else f", unreliable: {'; '.join(self.reasons)}"
        return f"LRFinderResult({len(self.frame)} steps, {rates}{state})"

