"""The schedule of a learning-rate range test."""

import keras
import numpy as np
from keras import ops

from keras_lr import _validation as v
from keras_lr.schedules._base import Schedule, as_float_step


@keras.saving.register_keras_serializable(package="keras_lr")
class RangeTest(Schedule):
    """The rate of a range test: from `start_lr` to `end_lr` over `num_steps` steps.

    Exponential (evenly spaced in log rate) or linear; holds `end_lr` after.
    `keras_lr.lr_find` and `keras_lr.LRFinder` run it.

    Example:

    >>> schedule = RangeTest(1e-4, 1.0, num_steps=5)
    >>> [round(float(schedule(step)), 4) for step in range(6)]
    [0.0001, 0.001, 0.01, 0.1, 1.0, 1.0]

    Args:
        start_lr: Float > 0. Rate of step 0.
        end_lr: Float > `start_lr`. Rate of step `num_steps - 1`.
        num_steps: Integer >= 2.
        mode: `"exp"` or `"linear"`.
    """

    callback_hint = "keras_lr.LRFinder(...) (the callback), or call keras_lr.lr_find"

    def __init__(self, start_lr, end_lr, num_steps, mode="exp"):
        owner = "RangeTest"
        self.start_lr = v.check_number(owner, "start_lr", start_lr, low=0.0, low_open=True)
        self.end_lr = v.check_number(owner, "end_lr", end_lr, low=0.0, low_open=True)
        if not self.end_lr > self.start_lr:
            raise ValueError(
                f"{owner}: end_lr must be greater than start_lr; received start_lr={start_lr!r}, end_lr={end_lr!r}"
            )
        self.num_steps = v.check_int(owner, "num_steps", num_steps, low=2)
        self.mode = v.check_choice(owner, "mode", mode, ("exp", "linear"))

    def __call__(self, step):
        fraction = ops.minimum(as_float_step(step) / float(self.num_steps - 1), 1.0)
        if self.mode == "exp":
            return self.start_lr * ops.power(self.end_lr / self.start_lr, fraction)
        return self.start_lr + (self.end_lr - self.start_lr) * fraction

    def rates(self):
        """The rate of every step of the test, in float64."""
        fraction = np.arange(self.num_steps) / (self.num_steps - 1)
        if self.mode == "exp":
            return self.start_lr * (self.end_lr / self.start_lr) ** fraction
        return self.start_lr + (self.end_lr - self.start_lr) * fraction

    def get_config(self):
        return {"start_lr": self.start_lr, "end_lr": self.end_lr, "num_steps": self.num_steps, "mode": self.mode}
