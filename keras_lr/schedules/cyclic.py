"""Cyclical learning rates (Smith 2017)."""

import math

import keras
from keras import ops

from keras_lr import _validation as v
from keras_lr.schedules._base import Schedule, as_float_step

_MODES = ("triangular", "triangular2", "exp_range")


@keras.saving.register_keras_serializable(package="keras_lr")
class CyclicLR(Schedule):
    """Cycles the learning rate between two bounds, and the momentum against it.

    The rate rises linearly from `base_lr` to `max_lr` over `step_size_up`
    steps, falls back over `step_size_down` steps, and repeats. The momentum,
    when cycled, moves the opposite way between `max_momentum` and
    `base_momentum`. For the same arguments it gives the same numbers as
    `torch.optim.lr_scheduler.CyclicLR`, step for step.

    Example:

    >>> schedule = CyclicLR(base_lr=0.001, max_lr=0.01, step_size_up=4)
    >>> [round(float(schedule(step)), 5) for step in (0, 2, 4, 6, 8)]
    [0.001, 0.0055, 0.01, 0.0055, 0.001]
    >>> round(float(schedule.momentum(4)), 5)
    0.8

    Args:
        base_lr: Float. Lower bound of the cycle; must be >= 0.
        max_lr: Float. Upper bound of the cycle; must be > `base_lr`.
        step_size_up: Number. Steps in the rising half of a cycle; must be > 0.
        step_size_down: Number or None. Steps in the falling half; None means
            the same as `step_size_up`.
        mode: String. "triangular" (constant amplitude), "triangular2"
            (amplitude halved each cycle) or "exp_range" (amplitude scaled by
            `gamma ** step`).
        gamma: Float. Decay base for "exp_range"; must be in (0, 1].
        base_momentum: Float or None. Momentum at the peak of the rate; must
            be in [0, 1). None turns momentum cycling off.
        max_momentum: Float. Momentum at the bottom of the rate; must be in
            [`base_momentum`, 1).

    Returns:
        Called with the optimizer's step, a float32 learning rate.

    Raises:
        ValueError: for any argument out of its range, naming it.

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", 2017.
        https://arxiv.org/abs/1506.01186
    """

    callback_hint = "keras_lr.CyclicLR(base_lr, max_lr, ...) (the callback)"

    def __init__(
        self,
        base_lr,
        max_lr,
        step_size_up=2000,
        step_size_down=None,
        mode="triangular",
        gamma=1.0,
        base_momentum=0.8,
        max_momentum=0.9,
    ):
        owner = "CyclicLR"
        self.base_lr = v.check_number(owner, "base_lr", base_lr, low=0.0)
        self.max_lr = v.check_number(owner, "max_lr", max_lr, low=self.base_lr, low_open=True, low_name="base_lr")
        self.step_size_up = v.check_number(owner, "step_size_up", step_size_up, low=0.0, low_open=True)
        if step_size_down is not None:
            step_size_down = v.check_number(owner, "step_size_down", step_size_down, low=0.0, low_open=True)
        self.step_size_down = step_size_down
        self.mode = v.check_choice(owner, "mode", mode, _MODES)
        self.gamma = v.check_number(owner, "gamma", gamma, low=0.0, high=1.0, low_open=True)
        self.base_momentum, self.max_momentum = v.check_momentum_pair(owner, base_momentum, max_momentum)
        if base_momentum is None:
            self.max_momentum = max_momentum

    def _scale(self, step):
        """(position in the cycle in [0, 1], amplitude factor) at ``step``."""
        down = self.step_size_up if self.step_size_down is None else self.step_size_down
        total = self.step_size_up + down
        step = as_float_step(step)
        cycle = ops.floor(1.0 + step / total)
        # PyTorch's x = 1 + step / total - cycle, and x / ratio or (x - 1) / (ratio - 1), read from the steps
        # into the cycle, which are exact: in float32 that difference lost the position as the step grew (0.4%
        # off by step 80,000 of a 5-step cycle), and (x - 1) / (ratio - 1) cancelled on a short fall (2000 steps
        # up, 5 down: 3.5e-5 off).
        into = ops.mod(step, total)
        position = ops.where(into <= self.step_size_up, into / self.step_size_up, (total - into) / down)
        if self.mode == "triangular":
            amplitude = ops.ones_like(step)
        elif self.mode == "triangular2":
            amplitude = 1.0 / ops.power(2.0, cycle - 1.0)
        else:
            # gamma ** step with gamma in float32 carried its rounding into every power: 0.1% off by step
            # 102,000 at gamma=0.99999. Its log is taken in float64.
            amplitude = ops.exp(step * math.log(self.gamma))
        return position, amplitude

    def __call__(self, step):
        position, amplitude = self._scale(step)
        return self.base_lr + (self.max_lr - self.base_lr) * position * amplitude

    def momentum(self, step):
        """Momentum (or Adam's first beta) at ``step``; None when not cycled."""
        if self.base_momentum is None:
            return None
        position, amplitude = self._scale(step)
        return self.max_momentum - (self.max_momentum - self.base_momentum) * position * amplitude

    def rate_and_momentum(self, step):
        """Both values at ``step`` in one pass (what the train step evaluates)."""
        position, amplitude = self._scale(step)
        height = position * amplitude
        rate = self.base_lr + (self.max_lr - self.base_lr) * height
        if self.base_momentum is None:
            return rate, None
        return rate, self.max_momentum - (self.max_momentum - self.base_momentum) * height

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "max_lr": self.max_lr,
            "step_size_up": self.step_size_up,
            "step_size_down": self.step_size_down,
            "mode": self.mode,
            "gamma": self.gamma,
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
        }
