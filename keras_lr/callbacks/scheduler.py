"""`Scheduler`: applies any schedule at every optimizer step of `model.fit`."""

import keras
import numpy as np
from keras_lr import _validation as v
from keras_lr.callbacks import _optimizer
from keras_lr.schedules._base import check_schedule, evaluate_momentum, evaluate_schedule


class ScheduleCallback(keras.callbacks.Callback):
    """Base of the callbacks that apply a schedule inside the train step.

    Subclasses implement `_build_schedule()`, which may use `self.params`
    (`epochs`, `steps`) to size the schedule to the fit. See `Scheduler`.
    """

    async_safe = True  # its batch hook only reads Python state
    # Whether a schedule the optimizer holds is replaced for the fit (else an error).
    replaces_optimizer_schedule = False

    def __init__(self, verbose=0):
        super().__init__()
        self.verbose = v.check_int(type(self).__name__, "verbose", verbose, low=0)
        self._reset()

    # State of the current (or last) fit, reset in on_train_begin.
    def _reset(self):
        self._optimizer = None
        self._active_schedule = None
        self._fit_schedule = None
        self._offset = None
        self._epoch_start_step = 0
        self._last_batch = None
        self._epoch_steps = []  # (epoch, first step, last step)
        self._cache = None

    def _build_schedule(self):
        """The schedule for this fit (subclasses infer lengths from `self.params`)."""
        raise NotImplementedError

    def __deepcopy__(self, memo):
        return _optimizer.fresh_copy(self, memo)

    def _missing_steps(self, what):
        raise ValueError(
            f"{type(self).__name__}: cannot infer {what} because fit's steps per "
            f"epoch are unknown (a dataset of unknown length); pass {what} or "
            f"steps_per_epoch to fit."
        )

    def _steps_per_epoch(self):
        steps = (self.params or {}).get("steps")
        return int(steps) if steps else None

    def on_train_begin(self, logs=None):
        self._reset()
        owner = type(self).__name__
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            raise ValueError(f"{owner}: the model has no optimizer; call model.compile(optimizer=...) first.")
        self._optimizer = _optimizer.inner_optimizer(optimizer)
        self._active_schedule = self._build_schedule()
        self._cache = _optimizer.RateCache(self._active_schedule)
        self._fit_schedule = _optimizer.attach(
            self._optimizer, self, self.params, owner, schedule=True, replace=self.replaces_optimizer_schedule
        )

    def on_epoch_begin(self, epoch, logs=None):
        iterations = int(self._optimizer.iterations.numpy())
        if self._offset is None:
            steps = self._steps_per_epoch()
            if epoch and steps is None:
                raise ValueError(
                    f"{type(self).__name__}: cannot place the schedule at initial_epoch={epoch} "
                    f"because the steps per epoch are unknown; pass steps_per_epoch to fit."
                )
            self._offset = iterations - epoch * (steps or 0)
            self._fit_schedule.set_schedule(self._active_schedule, self._offset, self._cache)
            _optimizer.bind_momentum(self._optimizer, self._fit_schedule, type(self).__name__)
            # fit traced its train function before this callback ran: re-make it.
            self.model.make_train_function(force=True)
        self._epoch_start_step = iterations - self._offset
        steps = self._steps_per_epoch()
        self._last_batch = None if steps is None else steps - 1
        if self.verbose:
            self._announce(epoch, self._fit_schedule.rate_at(iterations))

    def _announce(self, epoch, rate):
        print(f"\nEpoch {epoch + 1}: {type(self).__name__} learning rate {rate:.6g}.")

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None:
            # With steps_per_execution, Keras may report a batch index past the
            # end of the epoch for its last, shorter execution.
            if self._last_batch is not None:
                batch = min(batch, self._last_batch)
            logs["learning_rate"] = self._fit_schedule.rate_at(self._epoch_start_step + batch + self._offset)

    def on_epoch_end(self, epoch, logs=None):
        last = int(self._optimizer.iterations.numpy()) - self._offset - 1
        if last >= self._epoch_start_step:
            self._epoch_steps.append((epoch, self._epoch_start_step, last))
        if logs is not None:
            logs["learning_rate"] = self._fit_schedule.rate_at(max(last, self._epoch_start_step) + self._offset)

    def on_train_end(self, logs=None):
        if self._fit_schedule is not None and self._optimizer is not None:
            if _optimizer.detach(self._optimizer, self._fit_schedule, self):
                self.model.make_train_function(force=True)
        self._optimizer = None

    def rate_at(self, step):
        """The learning rate this fit's schedule gives at (fit-relative) ``step``.

        The schedule's own value: adaptive callbacks' multipliers not included.
        """
        return self._cache(step)

    def schedule_for_last_fit(self):
        """The schedule the last (or current) fit ran, sized to it; None before any fit."""
        return self._active_schedule

    def history_frame(self):
        """Every step of the last fit: `epoch`, `step`, `learning_rate` (and `momentum`).

        `step` is the step the schedule saw (counted as described above);
        `learning_rate` is the rate applied at it: the schedule's value times
        the multiplier of any adaptive callback (`ReduceLROnPlateau`,
        `DivergenceGuard`, `BoldDriver`) in the same fit.

        Returns:
            A pandas DataFrame, one row per optimizer step.
        """
        import pandas as pd

        epochs, steps = [], []
        for epoch, first, last in self._epoch_steps:
            epochs.append(np.full(last - first + 1, epoch))
            steps.append(np.arange(first, last + 1))
        epochs = np.concatenate(epochs) if epochs else np.zeros((0,), dtype=int)
        steps = np.concatenate(steps) if steps else np.zeros((0,), dtype=int)
        frame = pd.DataFrame({"epoch": epochs, "step": steps})
        if self._active_schedule is not None:
            rates = evaluate_schedule(self._active_schedule, steps)
            if self._fit_schedule is not None and len(steps):
                rates = rates * self._fit_schedule.multipliers_at(steps + self._offset)
            frame["learning_rate"] = rates
            momentum = evaluate_momentum(self._active_schedule, steps)
            if momentum is not None:
                frame["momentum"] = momentum
        else:
            frame["learning_rate"] = np.zeros((0,))
        return frame



class Scheduler(ScheduleCallback):
    """Applies a learning-rate schedule at every optimizer step of `model.fit`.

    The schedule is evaluated inside the compiled train step from the
    optimizer's step counter, so the rate follows `optimizer.iterations`
    exactly, also with `compile(steps_per_execution=N)` (where Keras calls
    batch hooks only every N steps). Each `fit` runs the schedule from its own
    start: the schedule sees the step counted from that fit's first step plus
    `initial_epoch` times the steps per epoch, so resuming with
    `fit(..., initial_epoch=k)` continues where the interrupted run was.

    When the schedule prescribes a momentum (`OneCycle`, `CyclicLR`), the
    optimizer's momentum is cycled too: SGD's and RMSprop's `momentum`, or
    `beta_1` of Adam, AdamW, Adamax, Nadam and Lion, inside the same step.

    The optimizer must be created with a float learning rate; its own rate
    and momentum are put back when `fit` ends, and a model saved during the
    fit saves them (the schedule belongs to the callback, which puts it back
    on resume). `LossScaleOptimizer` (mixed precision) is unwrapped.

    Logs `learning_rate` at every batch and epoch (so `History`, `CSVLogger`
    and `TensorBoard` record it); `history_frame()` gives every step's rate
    of the last fit as a pandas DataFrame.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), "mse")
    >>> schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5)
    >>> history = model.fit(np.ones((8, 4)), np.ones((8, 1)), batch_size=4,
    ...                     epochs=2, verbose=0, callbacks=[Scheduler(schedule)])
    >>> [round(lr, 4) for lr in history.history["learning_rate"]]
    [0.0707, 0.0354]

    Args:
        schedule: A `LearningRateSchedule` (keras_lr's or Keras's own), a
            callable of the step written with `keras.ops`, or a number.
        verbose: Integer. 1 prints the rate at the start of each epoch.

    Raises:
        ValueError: in the constructor for a bad schedule; in
            `on_train_begin`, before any step runs, when the optimizer has no
            float learning rate to drive or already holds a schedule.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__(verbose=verbose)
        self.schedule = check_schedule(type(self).__name__, "schedule", schedule)

    def _build_schedule(self):
        return self.schedule

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule), "verbose": self.verbose}
