"""`BoldDriver`: grow the rate while the loss falls, cut it when it rises."""

import math

import keras

from keras_lr import _validation as v
from keras_lr._engine.optimizers import rate_scaled_buffers
from keras_lr.callbacks.adaptive import MonitorCallback


@keras.saving.register_keras_serializable(package="keras_lr.callbacks")
class BoldDriver(MonitorCallback):
    """The bold-driver rule: grow the rate while the loss falls, cut it when it rises.

    At each check (every epoch, or every `frequency` optimizer steps) the
    monitored value is compared with the one at the previous check. If it
    improved, the learning rate is multiplied by `increase`; if not, by
    `decrease`, and with `rollback=True` the weights and optimizer variables
    go back to those of the better check (the step is rejected, as in the
    original rule) and the comparison stays against that better value.
    With `frequency=1`, or epochs of one step (full-batch training) and a
    training monitor, the loss of a check is that of the weights its step
    began from, so the weights at the check are those of the next, worse,
    loss: the weights the better step began from come back instead, and the
    next step, which measures them again, is the new reference; their
    momentum (SGD's or RMSprop's velocity, which took the rejected step) is
    zeroed, as in the original rule, so the cut rate changes the step. The
    rejected steps leave the logged loss (the epoch's, and the batch's for
    the callbacks after this one): it is the loss over the steps kept, or,
    with none of the epoch's kept, the loss of the weights gone back to,
    as logged then. A check that is not finite before any finite one (a
    rate that diverged from the start) is no reference: the rate is cut,
    and with `rollback=True` the weights go back to the fit's start.

    Like the other adaptive callbacks it scales a multiplier applied inside
    the train step, so it works on a plain float rate, on a schedule the
    optimizer holds, and together with the schedule callbacks. Every change
    is in `events_frame()`.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> x = np.linspace(-1, 1, 32).reshape(-1, 1).astype("float32")
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.01), "mse")
    >>> driver = BoldDriver(increase=1.5, monitor="loss")
    >>> _ = model.fit(x, 2 * x, batch_size=8, epochs=4, verbose=0, callbacks=[driver])
    >>> list(driver.events_frame().reason.str.split().str[-1])
    ['improved', 'improved', 'improved']
    >>> round(float(model.optimizer.learning_rate.numpy()), 5)
    0.03375

    Args:
        increase: Float > 1. Factor on the rate after an improvement.
        decrease: Float in (0, 1). Factor on the rate after a worsening.
        monitor: String. The logged quantity compared at epoch ends; must
            be `"loss"` (the mean training loss since the last check) when
            `frequency` is a number of steps.
        mode: One of `"auto"`, `"min"`, `"max"`, as in `ReduceLROnPlateau`.
        frequency: `"epoch"`, or an integer >= 1: check every that many
            optimizer steps (with `steps_per_execution`, at the first batch
            hook at or after each multiple of it).
        rollback: Bool. Whether a worsening also restores the weights and
            optimizer variables of the better check (see above for
            checks of one step).
        min_lr: Float >= 0. Decreases stop at this rate (a rate already
            below it is not decreased, nor raised to it).
        max_lr: Float > 0 or None. Increases stop at this rate (a rate
            already above it is not increased, nor cut to it).
        verbose: Integer. 1 prints a line for each change.

    References:
        Vogl, Mangis, Rigler, Zink & Alkon, "Accelerating the convergence of
        the back-propagation method", Biological Cybernetics 59, 1988.
        Battiti, "Accelerated backpropagation learning: two optimization
        methods", Complex Systems 3, 1989.

    Raises:
        ValueError: for a bad argument; at the first check when `monitor`
            is not logged (an epoch with no validation, from fit's
            `validation_freq` or no validation data, is skipped instead,
            with one warning for the fit); in `on_train_begin` when the
            model has no optimizer with a learning rate, or under a multi-worker
            `tf.distribute` strategy whose workers would log different values
            (`model.distribute_reduction_method="first"`), or with
            `rollback=True` under TensorFlow when the model is not built yet
            (a Sequential without `keras.Input`, built by fit at its first
            step: no weights to roll back to).
    """

    def __init__(
        self,
        increase=1.05,
        decrease=0.5,
        monitor="loss",
        mode="auto",
        frequency="epoch",
        rollback=False,
        min_lr=0.0,
        max_lr=None,
        verbose=0,
    ):
        owner = type(self).__name__
        self.increase = v.check_number(owner, "increase", increase, low=1.0, low_open=True)
        self.decrease = v.check_number(owner, "decrease", decrease, low=0.0, high=1.0, low_open=True, high_open=True)
        self.rollback = v.check_bool(owner, "rollback", rollback)
        self.min_lr = v.check_number(owner, "min_lr", min_lr, low=0.0)
        self.max_lr = None if max_lr is None else v.check_number(owner, "max_lr", max_lr, low=0.0, low_open=True)
        if self.max_lr is not None and self.max_lr < self.min_lr:
            raise ValueError(f"{owner}: max_lr must be >= min_lr; received max_lr={max_lr!r}, min_lr={min_lr!r}")
        super().__init__(monitor, mode, frequency, verbose, checks_in_steps="compares the training loss")

    def _reset(self):
        super()._reset()
        self.previous = None
        self._good = None  # (snapshot, the epoch's (steps, mean loss) then, epoch) that a rollback goes back to
        self._start = None  # the same, where the current interval began (a training monitor's)
        self._rebaseline = False
        self._origin = None  # the fit's start, until the first finite check
        self._interval = (0.0, 0)  # loss x steps, steps
        self._steps_since_check = 0
        self._measured = False  # whether the fit's first batch hook has measured the weights at its start

    @property
    def _rolls_back(self):
        return self.rollback

    @property
    def _single_steps(self):
        """Whether a check's value is the loss of the weights its one step began from, not of the weights at
        the check: frequency=1 (the monitor is the training loss), or epochs of one step (full-batch
        training) and a training monitor (a val_ one is of the weights at the epoch's end)."""
        if self.frequency == 1:
            return True
        return self.frequency == "epoch" and not self.monitor.startswith("val_") and self._steps_per_epoch() == 1

    def _mark(self):
        return self._snapshot(), self._seen(), self._epoch

    def _improved(self, value):
        if math.isnan(value):
            return False
        if math.isnan(self.previous):  # (without rollback) any number improves on a NaN
            return True
        return value < self.previous if self._direction == "min" else value > self.previous

    def _check(self, value):
        if self.previous is None and not math.isfinite(value):
            # The rate diverged before the first check: no reference to keep, nor weights to keep (a
            # rollback to them went back to NaN at every later check). Cut the rate; with rollback, start
            # again from the fit's start. The next finite check is the reference.
            rate = self.current_rate()
            reason = f"{self.monitor} {value:.4g} and no finite check before it: not finite"
            if self._origin is not None:
                snapshot, seen, _ = self._origin
                self._rollback(snapshot, losses_back_to=(0, seen[1]))
                reason += f"; rolled back to step {snapshot.iteration}"
                if self._single_steps:
                    self._start = self._origin
            self._scale(self.decrease, reason, new_rate=min(rate, max(rate * self.decrease, self.min_lr)))
            return
        if self.previous is None or self._rebaseline:
            # The first check, or with frequency=1 the first step after a rollback: it began from the weights
            # whose loss is `previous`, so it measured them again, not the cut rate.
            self._rebaseline = False
            self.previous = value
            self._origin = None
        elif self._improved(value):
            rate = self.current_rate()
            new_rate = rate * self.increase
            if self.max_lr is not None:  # never below the rate: one above max_lr stays where it is
                new_rate = max(rate, min(new_rate, self.max_lr))
            if self.max_lr is None or rate < self.max_lr * (1 - 1e-6):  # at max_lr (to rounding) no change listed
                self._scale(self.increase, f"{self.monitor} {value:.4g} vs {self.previous:.4g}: improved",
                            new_rate=new_rate)
            self.previous = value
        else:
            rate = self.current_rate()
            new_rate = min(rate, max(rate * self.decrease, self.min_lr))  # one below min_lr stays
            reason = f"{self.monitor} {value:.4g} vs {self.previous:.4g}: worse"
            if self.rollback:
                snapshot, seen, epoch = self._good
                # From an earlier epoch: no step of this one kept, and the loss of the weights gone back to (a
                # single step's weights were measured by the step after the mark: the check's reference).
                held = self.previous if self._single_steps and self.monitor == "loss" else seen[1]
                self._rollback(snapshot, losses_back_to=seen if epoch == self._epoch else (0, held))
                reason += f"; rolled back to step {snapshot.iteration}"
                if self._single_steps:
                    self._start, self._rebaseline = self._good, True
                    if self._stop_velocity():
                        reason += ", momentum zeroed"
            else:
                self.previous = value
            if self.rollback or rate > self.min_lr * (1 + 1e-6):  # a rollback is a change at min_lr too
                self._scale(self.decrease, reason, new_rate=new_rate)
            return
        if self.rollback:
            if self._single_steps and self._start is not None:
                # The loss is of the weights the step began from: the weights at the check are those of the
                # next step's loss (the one a rollback rejects).
                self._good, self._start = self._start, self._mark()
            else:
                self._good = self._start = self._mark()

    def _stop_velocity(self):
        """Zeroes the momentum of the weights gone back to, as the bold-driver rule does (Vogl et al., 1988).

        A step rejected after the better one began from them: their velocity took it there, and a cut
        rate leaves that part of the step as it was (full-batch SGD with momentum past a minimum: rolled
        back 29 times to the same step, the rate cut to 1e-9). Only a velocity that is the step itself
        (SGD's, RMSprop's momentum); whether any was zeroed.
        """
        buffers = rate_scaled_buffers(self.model.optimizer)
        for buffer in buffers:
            buffer.assign(keras.ops.zeros(buffer.shape, buffer.dtype))
        return bool(buffers)

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        if self.rollback and self._single_steps and self._start is None:
            self._start = self._mark()  # where the first step begins
        if self.rollback and self.previous is None and self._origin is None:
            self._origin = self._mark()  # the fit's start: for a first check that is not finite

    def _after_steps(self, steps, logs):
        if self.frequency == "epoch" and not self._measured and isinstance(logs, dict) and "loss" in logs:
            self._measure_origin(float(logs["loss"]))  # the fit's first hook: the mean logged is that hook's loss
        super()._after_steps(steps, logs)

    def _measure_origin(self, loss):
        """Keeps the fit's first batch loss, of the weights at its start, with them: what a rollback there logs
        (without it, Keras's 0 for a mean of no step, which EarlyStopping takes for the best)."""
        self._measured = True
        if self._origin is not None and self._origin[1][1] is None and math.isfinite(loss):
            snapshot, (steps, _), epoch = self._origin
            self._origin = (snapshot, (steps, loss), epoch)

    def _after_loss(self, steps, loss):
        if not self._measured:
            self._measure_origin(loss)
        total, count = self._interval
        total, count = total + loss * steps, count + steps
        self._interval = (total, count)
        self._steps_since_check += steps
        if self._steps_since_check >= self.frequency:
            # As in ReduceLROnPlateau: at the first hook at or after each multiple of `frequency` steps, on
            # the mean loss of the steps since the last check.
            self._steps_since_check %= self.frequency
            self._interval = (0.0, 0)
            self._check(total / count)

    def get_config(self):
        return {
            "increase": self.increase,
            "decrease": self.decrease,
            "monitor": self.monitor,
            "mode": self.mode,
            "frequency": self.frequency,
            "rollback": self.rollback,
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "verbose": self.verbose,
        }
