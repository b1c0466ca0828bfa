"""The `OneCycle` callback: the one-cycle policy sized to the fit."""

import keras

from keras_lr import _validation as v
from keras_lr import _warnings
from keras_lr._engine.recommendation import Recommendation, peak_from
from keras_lr.callbacks.scheduler import ScheduleCallback
from keras_lr.schedules.one_cycle import OneCycle as OneCycleSchedule


# Under keras_lr.callbacks, the public module holding it: keras_lr>OneCycle is the schedule.
@keras.saving.register_keras_serializable(package="keras_lr.callbacks")
class OneCycle(ScheduleCallback):
    """Trains with one cycle of the learning rate (and momentum) over the fit.

    The `keras_lr.schedules.OneCycle` schedule, applied at every optimizer
    step like `Scheduler`, with `total_steps` inferred from `fit`'s `epochs`
    times its steps per epoch when not given. The momentum is cycled between
    `max_momentum` and `base_momentum` (SGD's `momentum`, or `beta_1` of the
    Adam family); an optimizer with neither gets a warning.

    Example:

    >>> import numpy as np, keras
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(momentum=0.9), "mse")
    >>> one_cycle = OneCycle(max_lr=0.1)
    >>> _ = model.fit(np.ones((40, 4)), np.ones((40, 1)), batch_size=4, epochs=3,
    ...               verbose=0, callbacks=[one_cycle])
    >>> frame = one_cycle.history_frame()
    >>> len(frame), round(float(frame.learning_rate.max()), 4)
    (30, 0.1)

    Args:
        max_lr: Float. Peak learning rate; must be > 0. Or an
            `LRFinderResult`: its `one_cycle_max_lr` is the peak.
        total_steps: Integer or None. Optimizer steps in the cycle; None
            infers `epochs * steps_per_epoch` from `fit`.
        pct_start, anneal_strategy, div_factor, final_div_factor,
        three_phase, base_momentum, max_momentum: as in
            `keras_lr.schedules.OneCycle` (PyTorch's `OneCycleLR` names).
        verbose: Integer. 1 prints the rate at the start of each epoch.

    Raises:
        ValueError: in the constructor for any argument out of range; in
            `on_train_begin` when `total_steps` cannot be inferred or the
            optimizer has no float learning rate to drive.

    References:
        Smith & Topin, "Super-Convergence", 2018. https://arxiv.org/abs/1708.07120
    """

    def __init__(
        self,
        max_lr,
        total_steps=None,
        pct_start=0.3,
        anneal_strategy="cos",
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
        base_momentum=0.85,
        max_momentum=0.95,
        verbose=0,
    ):
        super().__init__(verbose=verbose)
        # A range test's result is resolved again when the fit begins, knowing its total steps.
        self.recommendation = max_lr if isinstance(max_lr, Recommendation) else None
        max_lr = peak_from("OneCycle", max_lr)
        if total_steps is not None:
            total_steps = v.check_int("OneCycle", "total_steps", total_steps, low=1)
        self.total_steps = total_steps
        self._last_inferred = None  # the inferred total_steps of the last fit, kept across fits
        self.schedule_kwargs = v.python_scalars(dict(
            max_lr=max_lr,
            pct_start=pct_start,
            anneal_strategy=anneal_strategy,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            three_phase=three_phase,
            base_momentum=base_momentum,
            max_momentum=max_momentum,
        ))
        # Validates every argument now rather than at fit time.
        checked = OneCycleSchedule(total_steps=total_steps or 1, **self.schedule_kwargs)
        self.schedule_kwargs["max_lr"] = checked.max_lr

    def _reset(self):
        super()._reset()
        self._inferred = None  # this fit's total_steps, when inferred from it
        self._resume_checked = False

    def _sized_in_batches(self):
        return self._inferred is not None

    def _build_schedule(self):
        total_steps = self.total_steps
        steps = self._steps_per_epoch()
        if total_steps is None:
            epochs = (getattr(self, "params", None) or {}).get("epochs")
            if steps is None or epochs is None:
                self._missing_steps("total_steps")
            total_steps = self._inferred = max(1, int(epochs) * steps)  # epochs=0 trains nothing
        if self.recommendation is not None:
            self.schedule_kwargs["max_lr"] = peak_from("OneCycle", self.recommendation, total_steps)
        return OneCycleSchedule(total_steps=total_steps, **self.schedule_kwargs)

    def _check_fit(self):
        steps, total_steps = self._steps_per_epoch(), self.total_steps
        if total_steps is not None and steps is not None and "epochs" in self.params:
            # The schedule's step at the fit's end counts initial_epoch's steps too.
            fit_steps = int(self.params["epochs"]) * steps
            if fit_steps > total_steps:
                _warnings.warn(
                    f"OneCycle: total_steps={total_steps} ends before this fit does, at step {fit_steps} "
                    f"({self.params['epochs']} epochs of {steps}): its last {fit_steps - total_steps} steps "
                    f"train at the cycle's final rate, {self._active_schedule.final_lr:.3g}. Leave "
                    f"total_steps=None to size the cycle to the fit."
                )

    def on_epoch_begin(self, epoch, logs=None):
        if not self._resume_checked:
            self._resume_checked = True
            last = self._last_inferred
            if epoch > 0 and self._inferred is not None and last is not None and last != self._inferred:
                # fit(epochs=e + 1, initial_epoch=e) in a loop: each fit a piece of a differently sized cycle.
                _warnings.warn(
                    f"OneCycle: this fit resumes at epoch {epoch + 1} with the cycle sized to its "
                    f"{self.params['epochs']} epochs ({self._inferred} steps), where the last fit's was {last} "
                    f"steps: the rate jumps into another cycle. Pass total_steps to run one cycle over "
                    f"several fits."
                )
            # Kept once training begins, not at its end: the fit a resume follows was most often interrupted.
            self._last_inferred = self._inferred
        super().on_epoch_begin(epoch, logs)

    def on_train_end(self, logs=None):
        session = self._session
        # (Not with a LossScaleOptimizer: the steps it skipped are not on the counter.)
        if (self._inferred is not None and session is not None and session.offset is not None
                and not session._skips_steps and not getattr(self.model, "stop_training", False)):
            # Every epoch ran (no callback stopped the fit), yet fewer steps than epochs x steps: arrays with a
            # steps_per_epoch that their batches cannot fill every epoch. Keras warns that the input ran out; the
            # cycle, sized to the steps asked, ended partway, at a rate far above its final one.
            ran = session.iteration - session.offset
            if 0 < ran < self._inferred:
                _warnings.warn(
                    f"OneCycle: the fit ran {ran} of the {self._inferred} steps the cycle was sized to "
                    f"({self.params['epochs']} epochs of {self._steps_per_epoch()}): its data ran out before "
                    f"(Keras warns of that), so training ended at a rate of {self.rate_at(ran - 1):.3g}, not the "
                    f"cycle's final {self._active_schedule.final_lr:.3g}. Pass fit data enough for every epoch "
                    f"(a steps_per_epoch its batches fill each epoch, or a repeated dataset), or total_steps={ran}."
                )
        super().on_train_end(logs)

    def get_config(self):
        return {"total_steps": self.total_steps, "verbose": self.verbose, **self.schedule_kwargs}
