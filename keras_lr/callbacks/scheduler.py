"""`Scheduler`: applies any schedule at every optimizer step of `model.fit`."""

import keras
import numpy as np

from keras_lr import _validation as v
from keras_lr._engine import readout
from keras_lr._engine.callback import EngineCallback
from keras_lr.schedules import evaluate_momentum, evaluate_schedule
from keras_lr.schedules._base import _SCHEDULE_OF_CALLBACK, check_schedule, deserialize_schedule, serialize_schedule


class ScheduleCallback(EngineCallback):
    """Base of the callbacks that apply a schedule inside the train step.

    `Scheduler`, `OneCycle` and `CyclicLR` are the ones there are; the
    class is public for `isinstance` (one of them per fit; a keras_lr
    search chooses its own). A schedule of your own goes to `Scheduler`:
    subclassing this one relies on its private `_build_schedule()`, which
    sizes the schedule to the fit from `self.params`.

    Args:
        verbose: Integer >= 0. Above 0 prints the rate at each epoch's
            start.
    """

    async_safe = True  # its batch hook only reads Python state

    def _reset(self):
        super()._reset()
        self._active_schedule = None
        self._epoch_steps = []  # (epoch, first step, last step, offset), as the schedule counts them
        self._open = None  # the same for the epoch running, to its last batch hook (a fit interrupted keeps it)
        self._cache = None

    def _build_schedule(self):
        """The schedule for this fit (subclasses infer lengths from `self.params`)."""
        raise NotImplementedError

    def _missing_steps(self, what, remedy=None):
        owner = getattr(self, "owner_name", None) or type(self).__name__
        if (getattr(self, "params", None) or {}).get("steps") == 0:
            raise ValueError(
                f"{owner}: fit has no step to run (0 batches an epoch): the training data is "
                f"empty; pass data with at least one batch."
            )
        params = getattr(self, "params", None) or {}  # (Keras 3.3: none before set_params)
        missing = [name for name in ("epochs", "steps") if name not in params]  # Keras's own list has both
        if missing:
            raise ValueError(
                f"{owner}: cannot infer {what}: its callbacks came in a keras.callbacks.CallbackList made "
                f"without {' and '.join(f'{name}=' for name in missing)} (fit fills those in only for a list of "
                f"callbacks it makes); pass fit a plain list, give the CallbackList epochs= and steps=, or pass "
                f"{what}."
            )
        remedy = remedy or f"pass {what}, or steps_per_epoch to fit"
        raise ValueError(
            f"{owner}: cannot infer {what} because fit's steps per "
            f"epoch are unknown (a dataset of unknown length); {remedy}."
        )

    def _schedule(self):
        self._active_schedule = self._build_schedule()
        self._cache = readout.rate_reader(self._active_schedule)
        return self._active_schedule

    def _rate_reader(self):
        return self._cache

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        if self.verbose:
            self._announce(epoch, self._session.rate_at(self._session.iteration))

    def _announce(self, epoch, rate):
        print(f"\nEpoch {epoch + 1}: {type(self).__name__} learning rate {rate:.6g}.")

    def _after_batch(self, logs):
        super()._after_batch(logs)
        session = self._session
        if session.epoch_first_step is not None:
            self._open = (session.epoch, session.epoch_first_step, session.iteration - session.offset - 1,
                          session.epoch_offset)

    def _at_epoch_end(self, epoch, logs):
        session = self._session
        self._open = None
        # (Its first step as it began: a replay step moves epoch_start on; a call that found no batch, the offset.)
        first, last = session.epoch_first_step, session.iteration - session.offset - 1
        if first is not None and last >= first:
            self._close_gap(first - 1, session.epoch_offset)
            self._epoch_steps.append((epoch, first, last, session.epoch_offset))

    def _close_gap(self, last, offset):
        """Steps up to ``last`` run after the last epoch's end recorded (`train_on_batch` from a callback listed
        after this one): the epoch's, at ``offset``, the one they ran at (set at that epoch's end)."""
        if self._epoch_steps and self._epoch_steps[-1][2] < last:
            epoch, _, before, _ = self._epoch_steps[-1]
            self._epoch_steps.append((epoch, before + 1, last, offset))

    def on_train_end(self, logs=None):
        session = self._session
        if session is not None and session.offset is not None and self._open is None:
            self._close_gap(session.iteration - session.offset - 1, session.offset)
        super().on_train_end(logs)

    def rate_at(self, step):
        """The learning rate this fit's schedule gives at (fit-relative) ``step``.

        The schedule's own value: adaptive callbacks' multipliers not included.
        """
        name = type(self).__name__
        step = v.check_int(f"{name}.rate_at", "step", step, low=0)
        if self._cache is None:
            sized = ", and its schedule is sized to the fit" if name in _SCHEDULE_OF_CALLBACK else ""
            raise ValueError(
                f"{name}.rate_at: no fit has run with this callback{sized} (schedule_for_last_fit() is None until "
                f"then); to see the rates beforehand, plot the schedule: "
                f"keras_lr.plot_schedule({_SCHEDULE_OF_CALLBACK.get(name, 'callback.schedule')}, steps)."
            )
        return self._cache(step)

    def schedule_for_last_fit(self):
        """The schedule the last (or current) fit ran, sized to it; None before any fit."""
        return self._active_schedule

    def history_frame(self):
        """Every step of the last fit: `epoch`, `step`, `learning_rate` (and `momentum`).

        `epoch` is Keras's epoch index, from 0 as in `fit(initial_epoch=...)`
        and `History.epoch` (`keras_lr.tuning.history_frame` counts a
        search's epochs from 1, as Keras's progress bar does). `step` is the
        step the schedule saw (counted as described above);
        `learning_rate` is the rate applied at it: the schedule's value times
        the multiplier of any adaptive callback (`ReduceLROnPlateau`,
        `DivergenceGuard`, `BoldDriver`) in the same fit. `momentum` is there
        only when the schedule's momentum was applied: not for an optimizer
        with none to cycle (SGD without `momentum`, Adagrad), where the fit
        warned.

        Returns:
            A pandas DataFrame, one row per optimizer step (per batch with
            `gradient_accumulation_steps`: an update applies the rate of the
            batch that completes it).
        """
        import pandas as pd

        epochs, steps, offsets = [], [], []
        for epoch, first, last, offset in self._epoch_steps + ([self._open] if self._open is not None else []):
            epochs.append(np.full(last - first + 1, epoch))
            steps.append(np.arange(first, last + 1))
            offsets.append(np.full(last - first + 1, offset))
        epochs = np.concatenate(epochs) if epochs else np.zeros((0,), dtype=int)
        steps = np.concatenate(steps) if steps else np.zeros((0,), dtype=int)
        frame = pd.DataFrame({"epoch": epochs, "step": steps})
        if self._active_schedule is not None:
            rates = evaluate_schedule(self._active_schedule, steps)
            if self._session is not None and len(steps):
                rates = rates * self._session.multipliers.at_many(steps + np.concatenate(offsets))
            frame["learning_rate"] = rates
            momentum = evaluate_momentum(self._active_schedule, steps)
            if momentum is not None and self._session is not None and self._session.cycles_momentum:
                frame["momentum"] = momentum
        else:
            frame["learning_rate"] = np.zeros((0,))
        return frame


@keras.saving.register_keras_serializable(package="keras_lr.callbacks")
class Scheduler(ScheduleCallback):
    """Applies a learning-rate schedule at every optimizer step of `model.fit`.

    The schedule is evaluated inside the compiled train step from the
    optimizer's step counter, so the rate follows the steps exactly, also
    with `compile(steps_per_execution=N)` (where Keras calls batch hooks only
    every N steps). With `gradient_accumulation_steps`, as with a Keras
    schedule compiled in, the step is the batch: each update takes the rate
    of the batch that completes it. Each `fit` runs the schedule from its own
    start: the schedule sees the step counted from that fit's first step plus
    `initial_epoch` times the steps per epoch, so resuming with
    `fit(..., initial_epoch=k)` continues where the interrupted run was.

    When the schedule prescribes a momentum (`OneCycle`, `CyclicLR`), the
    optimizer's momentum is cycled too, inside the same step: the `momentum`
    of SGD, RMSprop and Muon, or the `beta_1` of Adam, AdamW, Adamax, Nadam,
    Lion, Lamb (and any other optimizer with either, ScheduleFreeAdamW's
    `beta_1` too). Optimizers with neither get a warning and a scheduled
    rate; so does RMSprop under JAX, which reads its momentum as a plain
    float.

    The optimizer must be created with a float learning rate; its own rate
    and momentum are put back when `fit` ends, and a model saved during the
    fit saves them, on every backend (the schedule belongs to the callback,
    which puts it back on resume). `LossScaleOptimizer` (mixed precision)
    is unwrapped.

    Logs `learning_rate` at every batch and epoch (so `History` and
    `CSVLogger` record it; Keras's `TensorBoard` writes the optimizer's rate
    at an epoch's end in its place, the next step's); `history_frame()`
    gives every step's rate of the last fit as a pandas DataFrame.

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
        TypeError: in a TensorFlow or JAX fit, for a schedule the backend
            cannot trace (Python's `if` or `float()` on the step): under
            JAX as the first epoch begins, under TensorFlow at the first
            step.
    """

    # Its momentum warnings' advice: Scheduler takes no base_momentum, its schedule does.
    momentum_where = " to the schedule that prescribes the momentum (OneCycle or CyclicLR in keras_lr.schedules)"

    def __init__(self, schedule, verbose=0):
        super().__init__(verbose=verbose)
        self.schedule = check_schedule(type(self).__name__, "schedule", schedule)

    def _build_schedule(self):
        return self.schedule

    def get_config(self):
        return {"schedule": serialize_schedule(self.schedule), "verbose": self.verbose}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = deserialize_schedule(config["schedule"])
        return cls(**config)
