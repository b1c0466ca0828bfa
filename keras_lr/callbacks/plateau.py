"""`ReduceLROnPlateau` that works with any learning-rate schedule."""

import math

import keras
import numpy as np

from keras_lr import _validation as v
from keras_lr._engine.losses import MovingAverage
from keras_lr.callbacks.adaptive import MonitorCallback


@keras.saving.register_keras_serializable(package="keras_lr.callbacks")
class ReduceLROnPlateau(MonitorCallback):
    """Reduces the learning rate when a metric has stopped improving.

    Keras's arguments and meaning, but the reduction is a multiplier applied
    inside the train step on top of whatever sets the rate, so it works with
    a plain float rate, with any keras_lr or Keras schedule the optimizer was
    compiled with (where Keras's own callback fails; tensorflow#51399), and
    in the same fit as `Scheduler`, `OneCycle` or `CyclicLR`. Each reduction
    multiplies the rate by `factor` from the next step on.

    By default it checks `monitor` at the end of every epoch. With
    `frequency=N` it checks every N optimizer steps instead, on the training
    loss smoothed by an exponential moving average (`monitor="loss"`), and
    `patience` and `cooldown` count checks.

    Logs the effective `learning_rate` at every batch and epoch; every
    reduction is in `events_frame()`. With a plain float rate the reduced
    rate is written into the optimizer, as Keras's callback writes it: a
    checkpoint saved during the fit holds it, and it stays after `fit`;
    with a schedule, the schedule itself is left as it was.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), "mse")
    >>> callback = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
    >>> history = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=3, verbose=0,
    ...                     callbacks=[callback])
    >>> # Each epoch logs the rate its steps ran at; a cut applies from the next step.
    >>> [round(lr, 4) for lr in history.history["learning_rate"]]
    [0.1, 0.1, 0.05]
    >>> round(float(model.optimizer.learning_rate.numpy()), 4)
    0.025

    Args:
        monitor: String. The logged quantity to watch at epoch ends, e.g.
            `"val_loss"` or `"loss"`; must be `"loss"` when `frequency` is a
            number of steps.
        factor: Float in (0, 1). The rate is multiplied by it at each reduction.
        patience: Integer >= 0. Checks with no improvement after which the
            rate is reduced.
        verbose: Integer. 1 prints a line for each reduction.
        mode: One of `"auto"`, `"min"`, `"max"`. Whether the monitored
            quantity should fall or rise; `"auto"` infers it from the name
            (losses, errors and cross-entropies fall; accuracies, AUC,
            precision, recall, F-scores, R^2, IoU (`mean_io_u`, as Keras
            names it), cosine similarity and correlations rise; an output's
            prefix and Keras's `_1` suffix are read through) and raises
            if it cannot.
        min_delta: Float >= 0. An improvement must beat the best by more
            than this, compared in float32 as Keras (3.11 on) compares.
        cooldown: Integer >= 0. Checks to wait after a reduction before
            counting patience again.
        min_lr: Float >= 0. Reductions stop at this rate (checked against
            the rate at the step of the reduction).
        frequency: `"epoch"`, or an integer >= 1: check every that many
            optimizer steps on the smoothed training loss (with
            `steps_per_execution`, at the first batch hook at or after each
            multiple of it).
        smoothing: Float in [0, 1). Weight of the past in the moving average
            of the training loss (only with a number of steps as `frequency`).

    Raises:
        ValueError: for a bad argument; at the first check when `monitor`
            is not logged (an epoch with no validation, from fit's
            `validation_freq` or no validation data, is skipped instead,
            with one warning for the fit); in
            `on_train_begin` when the model has no optimizer with a learning rate,
            or under a multi-worker `tf.distribute` strategy whose workers would
            log different values (`model.distribute_reduction_method="first"`).
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        frequency="epoch",
        smoothing=0.98,
    ):
        owner = type(self).__name__
        self.factor = v.check_number(owner, "factor", factor, low=0.0, high=1.0, low_open=True, high_open=True)
        self.patience = v.check_int(owner, "patience", patience, low=0)
        self.min_delta = v.check_number(owner, "min_delta", min_delta, low=0.0)
        self.cooldown = v.check_int(owner, "cooldown", cooldown, low=0)
        self.min_lr = v.check_number(owner, "min_lr", min_lr, low=0.0)
        self.smoothing = v.check_number(owner, "smoothing", smoothing, low=0.0, high=1.0, high_open=True)
        super().__init__(monitor, mode, frequency, verbose, checks_in_steps="watches the smoothed training loss")

    def _reset(self):
        super()._reset()
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0
        self._average = MovingAverage(self.smoothing)
        self._steps_since_check = 0

    def _improved(self, value):
        if self.best is None:
            return not math.isnan(value)
        # In float32, as Keras (3.11 on) compares: the monitored metrics are float32, and a gain of exactly
        # min_delta on them (accuracy on 40 rows, 0.52499998 to 0.57499999 for min_delta=0.05) is none, where
        # float64 read it as 0.05000001 and kept the rate that Keras's callback cut.
        if self._direction == "min":
            return np.float32(value + self.min_delta) < np.float32(self.best)
        return np.float32(value - self.min_delta) > np.float32(self.best)

    def _check(self, value):
        """One check of the monitored value; reduces the rate when patience runs out."""
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best = value
            self.wait = 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        old_rate = self.current_rate()
        if old_rate <= self.min_lr * (1.0 + 1e-6):
            return
        new_rate = max(old_rate * self.factor, self.min_lr)
        checks = "1 check" if self.wait == 1 else f"{self.wait} checks"
        self._scale(self.factor, f"{self.monitor} did not improve for {checks}", new_rate=new_rate)
        self.cooldown_counter = self.cooldown
        self.wait = 0

    def _after_loss(self, steps, loss):
        self._average.update(loss)
        self._steps_since_check += steps
        if self._steps_since_check >= self.frequency:
            # The remainder is kept: with hooks every k steps (steps_per_execution) it checks at the first hook
            # at or after each multiple of `frequency`, every `frequency` steps on average.
            self._steps_since_check %= self.frequency
            self._check(self._average.value)

    def get_config(self):
        return {
            "monitor": self.monitor,
            "factor": self.factor,
            "patience": self.patience,
            "verbose": self.verbose,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
            "frequency": self.frequency,
            "smoothing": self.smoothing,
        }
