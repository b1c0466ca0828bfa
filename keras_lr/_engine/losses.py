"""Per-step losses recovered from Keras's running means, and the one moving average."""

import math


def check_loss_logged(owner, logs, reads):
    """Raises unless the batch ``logs`` hold the training loss, as "loss", that ``owner`` ``reads``."""
    if isinstance(logs, dict) and logs and "loss" not in logs:
        logged = ", ".join(sorted(name for name in logs if name != "learning_rate")) or "none"
        raise ValueError(
            f"{owner}: the train step logs no 'loss' (it logs: {logged}), and {reads}; return the training "
            f"loss as 'loss' from train_step (beside the others)."
        )


class MovingAverage:
    """The bias-corrected exponential moving average (Adam's correction for its zero start).

    Args:
        beta: Float in [0, 1). Weight of the past.
    """

    def __init__(self, beta):
        self.beta = beta
        self.reset()

    def reset(self):
        self.average, self.count = 0.0, 0

    def update(self, value):
        """Adds ``value``; returns the corrected average. Non-finite values leave it unchanged."""
        return self.updates((value,))[0]

    def updates(self, values):
        """`update` with each of ``values`` in turn; returns the list of what each returned.

        One loop over plain floats: a range test's analysis runs it over
        some 40 resampled curves, where a call per value cost more than
        the arithmetic.
        """
        beta, average, count, out = self.beta, self.average, self.count, []
        for value in values:
            value = float(value)
            if math.isfinite(value):
                count += 1
                average = beta * average + (1.0 - beta) * value
                value = average / (1.0 - beta**count)
            out.append(value)
        self.average, self.count = average, count
        return out

    @property
    def value(self):
        return self.average / (1.0 - self.beta**self.count) if self.count else math.nan


class RunningMean:
    """Keras logs the mean of the loss since the epoch began; this recovers the latest part's mean.

    Each `update(count, mean)` gives the running mean at some point of the
    epoch with how much it covers (steps, or samples) and returns the mean of
    the part since the previous update. No device reads: ``count`` is
    whatever the caller counts.
    """

    def __init__(self):
        self.reset()

    def reset(self):
        """A new epoch: Keras restarts its means."""
        self.count, self.mean = 0, 0.0

    def update(self, count, mean):
        previous_count, previous_mean = self.count, self.mean
        self.count, self.mean = count, mean
        if previous_count == 0 or not math.isfinite(mean):
            return mean
        if count <= previous_count:
            return mean
        return (count * mean - previous_count * previous_mean) / (count - previous_count)

    def rewind(self, count, mean):
        """Back to an earlier point of the epoch (its steps were undone)."""
        self.count, self.mean = count, mean
