"""The one-cycle policy (Smith & Topin 2018)."""

import math

import keras
from keras import ops

from keras_lr import _validation as v
from keras_lr.schedules._base import Schedule, as_float_step


def _anneal(strategy, start, end, pct, left):
    """From ``start`` to ``end``: ``pct`` of the phase done, ``left`` (1 - pct, computed from the steps) to go.

    PyTorch's formulas, rearranged for float32: PyTorch's `(end - start) * pct + start`
    cancels near the end (4.02e-7 for 4e-7 at the last step, in float32), and its
    `(cos(pi * pct) + 1) / 2` loses digits where it nears 0; `sin(pi / 2 * left) ** 2`
    is the same value, and a rise is read from its small end, `start + (end - start) *
    sin(pi / 2 * pct) ** 2` (from its large end it cancelled near the start: 1e-3 off
    at div_factor=1e4). Both agree with PyTorch's float64 to 3e-6 (relative).
    """
    if strategy == "cos":
        if start < end:
            return start + (end - start) * ops.square(ops.sin((math.pi / 2.0) * pct))
        return end + (start - end) * ops.square(ops.sin((math.pi / 2.0) * left))
    # Over the sum of the weights, which is 1 but for float32's rounding of the phase's ends: on a short
    # phase that rounding reached 1.3e-6, so a flat phase (div_factor=1) rose above max_lr.
    return (start * left + end * pct) / (left + pct)


def _step_minus(step, point):
    """``step - point``: the float32 step less a phase's end or start (a Python float), to float32 precision.

    The whole steps are subtracted first, exactly (both below 2**24), and the point's fraction after: a
    phase's end, 2 * 0.45 * 100003 - 2 = 90000.7, was rounded to float32 (90000.703) before the steps to it
    were counted, 0.27% off PyTorch's float64 where the three-phase fall back to the start rate ends.
    """
    whole = math.floor(point)
    return (step - float(whole)) - (point - whole)


@keras.saving.register_keras_serializable(package="keras_lr")
class OneCycle(Schedule):
    """One cycle: warm up to `max_lr`, then anneal far below the start.

    The rate rises from `max_lr / div_factor` to `max_lr` over the first
    `pct_start` of `total_steps`, then falls to
    `max_lr / div_factor / final_div_factor`. The momentum moves the opposite
    way, from `max_momentum` down to `base_momentum` and back. With
    `three_phase=True` the rate comes back down to its start symmetrically
    before the final annealing. For the same arguments it gives the same
    numbers as `torch.optim.lr_scheduler.OneCycleLR` at steps
    `0 .. total_steps - 1`; past that it holds the final value.

    Example:

    >>> schedule = OneCycle(max_lr=0.1, total_steps=100)
    >>> round(float(schedule(0)), 6), round(float(schedule(29)), 6)
    (0.004, 0.1)
    >>> round(float(schedule(99)), 9) == round(float(schedule(5000)), 9)
    True

    Args:
        max_lr: Float. Peak learning rate; must be > 0.
        total_steps: Integer. Optimizer steps in the cycle; must be >= 1.
        pct_start: Float. Fraction of the cycle spent rising; must be in
            (0, 1), and below 0.5 with `three_phase`.
        anneal_strategy: String. "cos" or "linear".
        div_factor: Float. The start rate is `max_lr / div_factor`; must be > 0.
        final_div_factor: Float. The final rate is the start rate divided by
            this; must be > 0.
        three_phase: Bool. Adds a symmetric fall back to the start rate before
            annealing (fastai's and PyTorch's `three_phase`).
        base_momentum: Float or None. Momentum at the peak rate; must be in
            [0, 1). None turns momentum cycling off.
        max_momentum: Float. Momentum at the start and end; must be in
            [`base_momentum`, 1).

    Returns:
        Called with the optimizer's step, a float32 learning rate.

    Raises:
        ValueError: for any argument out of its range, naming it.

    References:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural
        Networks Using Large Learning Rates", 2018.
        https://arxiv.org/abs/1708.07120
    """

    callback_hint = "keras_lr.OneCycle(max_lr=...) (the callback, which sizes the cycle to the fit)"

    def __init__(
        self,
        max_lr,
        total_steps,
        pct_start=0.3,
        anneal_strategy="cos",
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
        base_momentum=0.85,
        max_momentum=0.95,
    ):
        owner = "OneCycle"
        self.max_lr = v.check_number(owner, "max_lr", max_lr, low=0.0, low_open=True)
        self.total_steps = v.check_int(owner, "total_steps", total_steps, low=1)
        self.three_phase = v.check_bool(owner, "three_phase", three_phase)
        self.pct_start = v.check_number(owner, "pct_start", pct_start, low=0.0, high=1.0, low_open=True, high_open=True)
        if self.three_phase and self.pct_start >= 0.5:
            raise ValueError(
                f"{owner}: pct_start must be below 0.5 with three_phase=True (the rise and the fall back take "
                f"2 * pct_start of the steps); received pct_start={pct_start!r}"
            )
        self.anneal_strategy = v.check_choice(owner, "anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.div_factor = v.check_number(owner, "div_factor", div_factor, low=0.0, low_open=True)
        self.final_div_factor = v.check_number(owner, "final_div_factor", final_div_factor, low=0.0, low_open=True)
        self.base_momentum, self.max_momentum = v.check_momentum_pair(owner, base_momentum, max_momentum)
        if base_momentum is None:
            self.max_momentum = max_momentum

    @property
    def initial_lr(self):
        """The rate the warm-up starts from: `max_lr / div_factor`.

        It is the rate at step 0 when the warm-up has steps
        (`pct_start * total_steps > 1`); otherwise step 0 is already past it
        (`OneCycle(0.1, total_steps=10, pct_start=0.1)(0)` is 0.1), as in
        PyTorch below 1 (at exactly 1 PyTorch divides by zero).
        """
        return self.max_lr / self.div_factor

    @property
    def final_lr(self):
        """The rate at the last step: `initial_lr / final_div_factor`."""
        return self.initial_lr / self.final_div_factor

    def _phases(self):
        """(end_step, start_lr, end_lr, start_momentum, end_momentum), as PyTorch lays them out."""
        t, p = self.total_steps, self.pct_start
        hi_m, lo_m = self.max_momentum, self.base_momentum
        if self.three_phase:
            return [
                (p * t - 1, self.initial_lr, self.max_lr, hi_m, lo_m),
                (2 * p * t - 2, self.max_lr, self.initial_lr, lo_m, hi_m),
                (t - 1, self.initial_lr, self.final_lr, hi_m, hi_m),
            ]
        return [
            (p * t - 1, self.initial_lr, self.max_lr, hi_m, lo_m),
            (t - 1, self.max_lr, self.final_lr, lo_m, hi_m),
        ]

    def _evaluate(self, step, momentum):
        """(learning rate, momentum or None) at ``step``, sharing the phase arithmetic."""
        step = ops.clip(as_float_step(step), 0.0, float(self.total_steps - 1))
        phases = self._phases()
        rates, momenta = [], []
        start_step = 0.0
        for end_step, start_lr, end_lr, start_m, end_m in phases:
            length = end_step - start_step
            if length != 0:
                pct, left = _step_minus(step, start_step) / length, -_step_minus(step, end_step) / length
            else:  # a phase of no length is already complete (PyTorch divides by zero)
                pct, left = ops.ones_like(step), ops.zeros_like(step)
            rates.append(_anneal(self.anneal_strategy, start_lr, end_lr, pct, left))
            if momentum:
                momenta.append(_anneal(self.anneal_strategy, start_m, end_m, pct, left))
            start_step = end_step

        def select(values):
            # PyTorch takes the first phase whose end_step >= step, else the last.
            result = values[-1]
            for (end_step, *_), value in zip(reversed(phases[:-1]), reversed(values[:-1])):
                result = ops.where(step <= end_step, value, result)
            return result

        return select(rates), (select(momenta) if momentum else None)

    def __call__(self, step):
        return self._evaluate(step, momentum=False)[0]

    def momentum(self, step):
        """Momentum (or Adam's first beta) at ``step``; None when not cycled."""
        if self.base_momentum is None:
            return None
        return self._evaluate(step, momentum=True)[1]

    def rate_and_momentum(self, step):
        """Both values at ``step`` in one pass (what the train step evaluates)."""
        return self._evaluate(step, momentum=self.base_momentum is not None)

    def get_config(self):
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "anneal_strategy": self.anneal_strategy,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
        }
