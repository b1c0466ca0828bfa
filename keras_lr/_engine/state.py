"""Snapshots of a model's weights and its optimizer's variables, restored bitwise."""

import math

import numpy as np

from keras_lr._engine import optimizers
from keras_lr._engine.momentum import MOMENTUM_ATTRIBUTES
from keras_lr._engine.optimizers import inner_optimizer


def _copy(variable):
    return np.array(variable.numpy(), copy=True)


def sync(model):
    """Makes the model's variables current, from inside a fit.

    Under JAX, `fit` keeps the values in its own state while it trains and
    writes them back only at each epoch's end: a hook that reads a variable
    before this reads a stale one (or none), and one that assigns a variable
    needs this first so the next step starts from what it assigned. A no-op
    on the other backends.
    """
    synchronize = getattr(model, "jax_state_sync", None)
    if synchronize is not None:
        synchronize()


def read(model, variable):
    """A variable's current value (numpy), also from a hook inside a JAX fit."""
    sync(model)
    return variable.numpy()


def running_mean_of(model, logged):
    """The model's `Mean` metric whose result is ``logged``, or None.

    Keras logs its loss tracker's mean since the epoch began as "loss"; a
    `train_step` of one's own may log another Mean's (a VAE's
    `total_loss_tracker`), while Keras's stays empty, or each batch's own
    loss (no Mean matches).
    """
    matches = means_of(model, logged)
    return matches[0][0] if matches else None


def means_of(model, logged):
    """[(metric, count)] of the model's `Mean` metrics whose result is ``logged``."""
    sync(model)
    matches = []
    for metric in model.metrics:
        if not (hasattr(metric, "total") and hasattr(metric, "count")):
            continue
        count = float(metric.count.numpy())
        if count > 0 and math.isclose(float(metric.total.numpy()) / count, logged, rel_tol=1e-5, abs_tol=1e-12):
            matches.append((metric, count))
    return matches


def all_finite(values):
    """Whether every floating-point value in the arrays is finite."""
    return all(np.all(np.isfinite(value)) for value in values if np.issubdtype(value.dtype, np.floating))


def weights_are_finite(model):
    sync(model)
    return all_finite(weight.numpy() for weight in model.weights)


class Snapshot:
    """Every model variable and every optimizer variable, copied to host memory.

    Assigning the copies back is exact: after `restore()` each variable holds
    the same bits as when captured.

    Args:
        model: A compiled model.
        iteration: The optimizer step the snapshot was taken at (a label).
        step_counter: Whether the optimizer's step counter is part of it. A
            rollback in the middle of a fit leaves it out, so schedules and
            logs keep following the steps `fit` has run; the range test,
            which must leave the model as it found it, keeps it.
        every_variable: Whether to take every model variable (metrics' and
            random generators' too), not only its weights.
    """

    def __init__(self, model, iteration=0, step_counter=False, every_variable=False):
        self.model = model
        self.iteration = iteration
        sync(model)
        optimizer = model.optimizer
        inner = inner_optimizer(optimizer)
        counter = optimizers.step_counter(optimizer)
        others = optimizers.other_optimizers(model)
        counters = [counter] + [optimizers.step_counter(other) for other in others]
        seen, self.variables = set() if step_counter else {id(c) for c in counters}, []
        model_variables = list(model.variables if every_variable else model.weights)
        if every_variable:  # the compiled metrics' (the loss tracker's), which model.variables leaves out
            model_variables += [variable for metric in model.metrics for variable in metric.variables]
        optimizer_variables = list(optimizer.variables) + [v for other in others for v in other.variables]
        for variable in model_variables + optimizer_variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                self.variables.append((variable, _copy(variable)))
        self._seen = seen  # the ids of what is copied, and of the counters left out
        self._others = others
        self._every_variable = every_variable
        self._weights = {id(w) for w in model.weights}
        self._accumulation = None
        steps = getattr(inner, "gradient_accumulation_steps", None)
        if not step_counter and steps and getattr(inner, "_accumulated_gradients", None):
            # The gradients summed since the last update go with the counter's place between updates.
            self._accumulation = (counter, int(steps), int(counter.numpy()) % int(steps),
                                  {id(a) for a in inner._accumulated_gradients})

    def is_finite(self):
        """Whether every floating-point weight of the model was finite."""
        return all_finite(value for variable, value in self.variables if id(variable) in self._weights)

    def restore(self):
        sync(self.model)  # under JAX, the next step then starts from what is assigned here
        stale = set()
        if self._accumulation is not None:
            counter, steps, place, accumulators = self._accumulation
            if int(counter.numpy()) % steps != place:
                # Rolled back to another place between updates: the partial sum would be added to a
                # different number of batches. Emptied, the next update averages fewer (a smaller step).
                stale = accumulators
        for variable, value in self.variables:
            variable.assign(np.zeros_like(value) if id(variable) in stale else value)
        self._restore_created()

    def _restore_created(self):
        """Puts variables created since the snapshot back to their fresh state.

        An optimizer held beside the compiled one (a GAN's `d_optimizer`) is built by its first step, after
        the snapshot of a fresh model: its moments are those of a fresh copy built on the same variables. A
        compiled metric built by the test's first step is reset, as is a metric the model gained since (a
        multi-output model's per-output loss trackers are made at its first step).
        """
        for other in self._others:
            created = [v for v in other.variables if id(v) not in self._seen]
            if not created:
                continue
            fresh = type(other).from_config(other.get_config())
            fresh.build(list(getattr(other, "_trainable_variables", [])))
            values = {v.path: v for v in fresh.variables}
            for variable in created:
                twin = values.get(variable.path.replace(other.name, fresh.name, 1))
                if twin is not None and tuple(twin.shape) == tuple(variable.shape):
                    variable.assign(twin)
        for metric in self.model.metrics if self._every_variable else []:
            if any(id(v) not in self._seen for v in metric.variables):
                metric.reset_state()


class ModelState(Snapshot):
    """A `Snapshot` with the step counter, plus what a fit changes beside variables.

    The optimizer's learning rate (a variable or a schedule), its momentum
    attributes, `steps_per_execution`, `stop_training` and `history`: all
    put back by `restore()`, which also drops the train function traced
    meanwhile.
    """

    def __init__(self, model):
        super().__init__(model, step_counter=True, every_variable=True)
        self.inner = inner_optimizer(model.optimizer)
        self.learning_rate = self.inner._learning_rate
        self.attributes = {name: getattr(self.inner, name) for name in MOMENTUM_ATTRIBUTES if hasattr(self.inner, name)}
        self.steps_per_execution = model.steps_per_execution
        self.stop_training = getattr(model, "stop_training", False)
        self.history = getattr(model, "history", None)
        self.train_function = model.train_function

    def restore(self):
        model = self.model
        self.inner._learning_rate = self.learning_rate
        for name, value in self.attributes.items():
            setattr(self.inner, name, value)
        super().restore()
        model.steps_per_execution = self.steps_per_execution
        model.stop_training = self.stop_training
        model.history = self.history
        model.train_function = self.train_function
