"""The `CyclicLR` callback: cyclical learning rates with step sizes in steps or epochs."""

import keras

from keras_lr import _validation as v
from keras_lr import _warnings
from keras_lr._engine.recommendation import Recommendation, bounds_from
from keras_lr.callbacks.scheduler import ScheduleCallback
from keras_lr.schedules.cyclic import CyclicLR as CyclicLRSchedule
from keras_lr.schedules.evaluation import evaluate_schedule


# Under keras_lr.callbacks, the public module holding it: keras_lr>CyclicLR is the schedule.
@keras.saving.register_keras_serializable(package="keras_lr.callbacks")
class CyclicLR(ScheduleCallback):
    """Cycles the learning rate (and momentum) between two bounds during `fit`.

    The `keras_lr.schedules.CyclicLR` schedule applied at every optimizer
    step like `Scheduler`. Step sizes are in optimizer steps, or in epochs
    with `unit="epochs"` (converted with `fit`'s steps per epoch).

    Example:

    >>> import numpy as np, keras
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.Adam(), "mse")
    >>> cyclic = CyclicLR(0.001, 0.01, step_size_up=1, unit="epochs")
    >>> history = model.fit(np.ones((40, 4)), np.ones((40, 1)), batch_size=4,
    ...                     epochs=4, verbose=0, callbacks=[cyclic])
    >>> [round(lr, 4) for lr in history.history["learning_rate"]]
    [0.0091, 0.0019, 0.0091, 0.0019]

    A range test's result can stand in for both bounds:
    `CyclicLR(keras_lr.lr_find(model, x, y), step_size_up=...)` cycles
    between `result.cyclic_bounds()`.

    Args:
        base_lr, max_lr, mode, gamma, base_momentum, max_momentum: as in
            `keras_lr.schedules.CyclicLR` (PyTorch's `CyclicLR` names).
            `base_lr` may be an `LRFinderResult`, with `max_lr` left None.
        step_size_up: Number. Length of the rising half of a cycle, in `unit`s;
            must be > 0.
        step_size_down: Number or None. Length of the falling half; None means
            `step_size_up`.
        unit: String. "steps" (optimizer steps) or "epochs".
        verbose: Integer. 1 prints the rate at the start of each epoch.

    Raises:
        ValueError: in the constructor for any argument out of range; in
            `on_train_begin` when `unit="epochs"` and the steps per epoch are
            unknown, or the optimizer has no float learning rate to drive.

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", 2017.
        https://arxiv.org/abs/1506.01186
    """

    def __init__(
        self,
        base_lr,
        max_lr=None,
        step_size_up=2000,
        step_size_down=None,
        mode="triangular",
        gamma=1.0,
        base_momentum=0.8,
        max_momentum=0.9,
        unit="steps",
        verbose=0,
    ):
        super().__init__(verbose=verbose)
        # A range test's result is resolved again when the fit begins, knowing its total steps.
        self.recommendation = base_lr if isinstance(base_lr, Recommendation) else None
        base_lr, max_lr = bounds_from("CyclicLR", base_lr, max_lr)
        self.unit = v.check_choice("CyclicLR", "unit", unit, ("steps", "epochs"))
        self.schedule_kwargs = v.python_scalars(dict(
            base_lr=base_lr,
            max_lr=max_lr,
            step_size_up=step_size_up,
            step_size_down=step_size_down,
            mode=mode,
            gamma=gamma,
            base_momentum=base_momentum,
            max_momentum=max_momentum,
        ))
        CyclicLRSchedule(**self.schedule_kwargs)  # validates every argument now

    def _sized_in_batches(self):
        return self.unit == "epochs"

    def _build_schedule(self):
        if self.recommendation is not None:
            steps, epochs = self._steps_per_epoch(), (getattr(self, "params", None) or {}).get("epochs")
            total_steps = steps * int(epochs) if steps is not None and epochs is not None else None
            bounds = bounds_from("CyclicLR", self.recommendation, None, total_steps)
            self.schedule_kwargs["base_lr"], self.schedule_kwargs["max_lr"] = bounds
        kwargs = dict(self.schedule_kwargs)
        if self.unit == "epochs":
            steps = self._steps_per_epoch()
            if steps is None:
                self._missing_steps(
                    "the step size in steps", "pass steps_per_epoch to fit, or step sizes in steps (unit='steps')"
                )
            kwargs["step_size_up"] = kwargs["step_size_up"] * steps
            if kwargs["step_size_down"] is not None:
                kwargs["step_size_down"] = kwargs["step_size_down"] * steps
        return CyclicLRSchedule(**kwargs)

    def _check_fit(self):
        schedule = self._active_schedule
        steps, epochs = self._steps_per_epoch(), (getattr(self, "params", None) or {}).get("epochs")
        if steps is not None and epochs is not None and 0 < int(epochs) * steps < schedule.step_size_up:
            # The schedule's step at the fit's end counts initial_epoch's steps too.
            end = int(epochs) * steps
            _warnings.warn(
                f"CyclicLR: this fit ends at step {end}, before the first cycle's rise to max_lr="
                f"{schedule.max_lr:g} ends (step_size_up={schedule.step_size_up:g} steps): the rate only rises, "
                f"to {float(evaluate_schedule(schedule, [end - 1])[0]):.3g}. Pass a step_size_up shorter than the "
                f"fit (Smith uses 2-10 epochs of steps; unit='epochs' counts epochs), or keras_lr.OneCycle, "
                f"which is sized to the fit. (A fit that later fits continue, with initial_epoch, goes on with "
                f"the cycle where it stopped: ignore this there.)"
            )

    def get_config(self):
        return {"unit": self.unit, "verbose": self.verbose, **self.schedule_kwargs}
