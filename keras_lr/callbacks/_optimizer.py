"""How keras_lr puts a schedule inside an optimizer for one `fit`, and takes it out.

The optimizer's own learning-rate variable stays where it is (same variables,
same order), so checkpoints written during a fit, full `.keras` files and
weights-only ones alike, load into a freshly compiled model.
"""

import bisect
import copy
import warnings

import keras
import numpy as np
from keras import ops

from keras_lr.schedules._base import (
    LearningRateSchedule,
    as_float_step,
    call_momentum,
    call_rate_and_momentum,
    evaluate_schedule,
)

# Optimizer attributes that hold the momentum a cycle drives, in the order looked for.
MOMENTUM_ATTRIBUTES = ("beta_1", "momentum")


def fresh_copy(callback, memo):
    """A deep copy of ``callback`` with its arguments but no model and no run state.

    KerasTuner deep-copies the callbacks passed to `search` for every trial:
    each copy must start clean, not carry the model of a previous fit.
    """
    new = callback.__class__.__new__(callback.__class__)
    memo[id(callback)] = new
    for key, value in callback.__dict__.items():
        if key != "_model":
            new.__dict__[key] = copy.deepcopy(value, memo)
    new._model = None
    new._reset()
    return new


def inner_optimizer(optimizer):
    """The optimizer that holds the learning rate (unwraps `LossScaleOptimizer`)."""
    while hasattr(optimizer, "inner_optimizer"):
        optimizer = optimizer.inner_optimizer
    return optimizer


class StepValue(float):
    """A hyperparameter whose numeric value is computed inside each train step.

    To Python and to serialization it is a float (the optimizer's own value,
    so `get_config` and `momentum != 0` behave as before); in tensor maths it
    reads a variable that the schedule assigns at every step. This is how the
    momentum of a cycle reaches SGD's `momentum` and Adam's `beta_1` with
    `steps_per_execution > 1`, where batch hooks fire only every N steps.
    """

    # Keras infers result dtypes from `.dtype` (else from the Python type's name).
    dtype = "float32"

    def __new__(cls, nominal, variable):
        obj = super().__new__(cls, nominal)
        obj.variable = variable
        return obj

    def _tensor(self):
        return self.variable.value

    def __tf_tensor__(self, dtype=None, name=None):
        import tensorflow as tf  # only reached under the TensorFlow backend

        return tf.convert_to_tensor(self._tensor(), dtype=dtype, name=name)

    def __jax_array__(self):
        return self._tensor()

    def __add__(self, other):
        return self._tensor() + other

    def __radd__(self, other):
        return other + self._tensor()

    def __sub__(self, other):
        return self._tensor() - other

    def __rsub__(self, other):
        return other - self._tensor()

    def __mul__(self, other):
        return self._tensor() * other

    def __rmul__(self, other):
        return other * self._tensor()

    def __truediv__(self, other):
        return self._tensor() / other

    def __rtruediv__(self, other):
        return other / self._tensor()

    def __pow__(self, other):
        return self._tensor() ** other

    def __rpow__(self, other):
        return other ** self._tensor()

    def __neg__(self):
        return -self._tensor()

    def __reduce__(self):  # pickles and deep-copies as the plain float
        return (float, (float(self),))


def plain(value):
    """A StepValue's nominal float; anything else unchanged."""
    return float(value) if isinstance(value, StepValue) else value


class MomentumBinding:
    """Drives one optimizer attribute (`beta_1` or `momentum`) from a schedule."""

    def __init__(self, optimizer, attribute):
        self.optimizer = optimizer
        self.attribute = attribute
        self.original = plain(getattr(optimizer, attribute))
        self.variable = keras.Variable(
            float(self.original), dtype="float32", trainable=False, name=f"keras_lr_{attribute}"
        )
        self.eager = keras.backend.backend() == "torch"
        setattr(optimizer, attribute, StepValue(self.original, self.variable))

    def update(self, momentum):
        self.variable.assign(momentum)
        if self.eager:
            # The torch backend runs the step eagerly and some of its fused
            # optimizers read the attribute as a Python float.
            setattr(self.optimizer, self.attribute, StepValue(float(momentum), self.variable))

    def restore(self):
        setattr(self.optimizer, self.attribute, self.original)


def momentum_attribute(optimizer):
    """The attribute through which ``optimizer`` takes a momentum, or None.

    Adam, AdamW, Adamax, Nadam and Lion take `beta_1`; SGD and RMSprop take
    `momentum`, but only when created with a non-zero one (with 0 they have no
    momentum slots to drive).
    """
    for attribute in MOMENTUM_ATTRIBUTES:
        value = getattr(optimizer, attribute, None)
        if value is None or isinstance(value, bool):
            continue
        try:
            value = float(plain(value))
        except (TypeError, ValueError):
            continue
        if attribute == "momentum" and value == 0.0:
            return None
        return attribute
    return None


class RateCache:
    """A schedule's values, evaluated in chunks and read back one step at a time."""

    def __init__(self, schedule, chunk=4096):
        self.schedule = schedule
        self.chunk = chunk
        self.start = 0
        self.values = np.zeros((0,), dtype=np.float64)

    def __call__(self, step):
        index = step - self.start
        if not 0 <= index < len(self.values):
            self.start = step
            self.values = evaluate_schedule(self.schedule, np.arange(step, step + self.chunk))
            index = 0
        return float(self.values[index])


@keras.saving.register_keras_serializable(package="keras_lr")
class FitSchedule(LearningRateSchedule):
    """The learning rate keras_lr puts inside the optimizer for one fit.

    Inside the train step it evaluates

        rate(step) = source(step) * multiplier

    where the source is the schedule of a schedule callback (`Scheduler`,
    `OneCycle`, `CyclicLR`), evaluated at `iterations - offset`, or else
    whatever the optimizer held (its own rate variable, or a schedule it was
    compiled with), and `multiplier` is a variable the adaptive callbacks
    (`ReduceLROnPlateau`, `DivergenceGuard`, `BoldDriver`) scale. A cycle's
    momentum is assigned in the same step.

    One FitSchedule serves every keras_lr callback of a fit: the first one
    to attach puts it in, the last one to detach takes it out. Serializing it
    gives back what the optimizer held (its float rate, or its schedule), so
    a model saved during a fit loads as the model that was compiled; the
    callbacks put their part back when training resumes.
    """

    def __init__(self, original, fit_token=None):
        self.original = original  # the optimizer's rate Variable, or its schedule
        self.fit_token = fit_token
        self.schedule = None
        self.schedule_owner = None
        self.offset = 0
        self.momentum_binding = None
        self.multiplier = keras.Variable(1.0, dtype="float32", trainable=False, name="keras_lr_multiplier")
        self.multiplier_changes = [(0, 1.0)]  # (first iteration it applies to, value), in order
        self._change_starts = [0]
        self.users = []
        self._schedule_cache = None
        self._original_cache = None if isinstance(original, keras.Variable) else RateCache(original)
        # Nothing assigns the rate variable while a FitSchedule holds its place.
        self._original_value = float(original.numpy()) if isinstance(original, keras.Variable) else None

    def __call__(self, step):
        if self.schedule is not None:
            local = as_float_step(step)
            if self.offset:
                local = local - float(self.offset)
            rate, momentum = call_rate_and_momentum(self.schedule, local)
            if self.momentum_binding is not None:
                self.momentum_binding.update(momentum)
        elif isinstance(self.original, keras.Variable):
            rate = ops.cast(self.original, "float32")
        else:
            rate = ops.cast(self.original(step), "float32")
        return rate * self.multiplier

    def get_config(self):
        if isinstance(self.original, keras.Variable):
            return {"base_learning_rate": float(self.original.numpy())}
        return {"original": keras.saving.serialize_keras_object(self.original)}

    @classmethod
    def from_config(cls, config):
        # What the optimizer held: the schedule belongs to the callbacks.
        if "original" in config:
            return keras.saving.deserialize_keras_object(config["original"])
        return float(config["base_learning_rate"])

    # Python-side readouts, for logs and records.

    def set_schedule(self, schedule, offset, cache=None):
        """Puts a schedule callback's ``schedule`` in, seen at `iterations - offset`.

        ``cache``: the callback's `RateCache` of it, shared for the readouts.
        """
        self.schedule = schedule
        self.offset = int(offset)
        self._schedule_cache = cache if cache is not None else RateCache(schedule)

    def source_rate_at(self, iteration):
        """The rate before the multiplier at absolute optimizer ``iteration``."""
        if self.schedule is not None:
            return self._schedule_cache(iteration - self.offset)
        if self._original_cache is None:
            return self._original_value
        return self._original_cache(iteration)

    def multiplier_at(self, iteration):
        """The multiplier in force at absolute optimizer ``iteration``."""
        index = bisect.bisect_right(self._change_starts, iteration) - 1
        return self.multiplier_changes[max(index, 0)][1]

    def multipliers_at(self, iterations):
        """The multipliers in force at an array of absolute optimizer iterations."""
        index = np.searchsorted(self._change_starts, np.asarray(iterations), side="right") - 1
        values = np.array([value for _, value in self.multiplier_changes], dtype=np.float64)
        return values[np.maximum(index, 0)]

    def rate_at(self, iteration):
        """The effective rate at absolute optimizer ``iteration``."""
        return self.source_rate_at(iteration) * self.multiplier_at(iteration)

    def set_multiplier(self, value, iteration):
        """Sets the multiplier from absolute optimizer ``iteration`` on."""
        value = float(value)
        self.multiplier.assign(value)
        while self.multiplier_changes and self.multiplier_changes[-1][0] >= iteration:
            self.multiplier_changes.pop()
            self._change_starts.pop()
        self.multiplier_changes.append((int(iteration), value))
        self._change_starts.append(int(iteration))


def _no_learning_rate(optimizer, owner):
    return ValueError(
        f"{owner}: the optimizer {type(optimizer).__name__} has no learning rate "
        f"to drive; compile the model with a Keras optimizer created with a "
        f"learning_rate."
    )


def remove(optimizer, fit_schedule, fold_multiplier=False):
    """Puts back what the optimizer held before ``fit_schedule``, and its momentum.

    With ``fold_multiplier`` and a plain float rate, the rate keeps the
    multiplier (as Keras's ReduceLROnPlateau leaves its reduced rate).
    """
    if fit_schedule.momentum_binding is not None:
        fit_schedule.momentum_binding.restore()
        fit_schedule.momentum_binding = None
    if optimizer._learning_rate is fit_schedule:
        optimizer._learning_rate = fit_schedule.original
    original = fit_schedule.original
    multiplier = fit_schedule.multiplier_changes[-1][1]
    if fold_multiplier and isinstance(original, keras.Variable) and fit_schedule.schedule is None and multiplier != 1.0:
        original.assign(float(original.numpy()) * multiplier)


def attach(optimizer, user, fit_token, owner, schedule=False, replace=False):
    """Joins (or puts in) this fit's FitSchedule; returns it.

    With ``schedule=True`` the user will set the schedule: the optimizer must
    hold a plain rate (unless ``replace``: a schedule it holds is replaced for
    the fit) and no other callback of this fit may set one. Raises before
    changing anything.
    """
    current = getattr(optimizer, "_learning_rate", None)
    joining = isinstance(current, FitSchedule) and current.fit_token is fit_token
    if isinstance(current, FitSchedule) and not joining:
        # Left behind by a fit that was interrupted: start from what it held.
        current = current.original
    original = current.original if joining else current
    if not (isinstance(original, keras.Variable) or callable(original)):
        raise _no_learning_rate(optimizer, owner)
    if schedule:
        if not replace and not isinstance(original, keras.Variable):
            raise ValueError(
                f"{owner}: the optimizer already has a learning-rate schedule "
                f"({type(original).__name__}) that this callback would overwrite. "
                f"Compile with a float learning rate and pass the schedule to the "
                f"callback instead, e.g. keras_lr.Scheduler(schedule)."
            )
        if joining and current.schedule_owner is not None:
            raise ValueError(
                f"{owner}: another keras_lr callback "
                f"({type(current.schedule_owner).__name__}) already sets the "
                f"learning rate in this fit; use one schedule callback (join "
                f"schedules with keras_lr.schedules.Sequential)."
            )
    if not joining:
        stale = optimizer._learning_rate
        if isinstance(stale, FitSchedule):
            remove(optimizer, stale)
        current = FitSchedule(original, fit_token)
        optimizer._learning_rate = current
    current.users.append(user)
    if schedule:
        current.schedule_owner = user
    return current


def bind_momentum(optimizer, fit_schedule, owner):
    """Drives the optimizer's momentum from the fit schedule's, when it has one."""
    if call_momentum(fit_schedule.schedule, ops.convert_to_tensor(0.0)) is None:
        return
    attribute = momentum_attribute(optimizer)
    if attribute is None:
        warnings.warn(
            f"{owner}: {type(optimizer).__name__} has no momentum to cycle "
            f"(SGD and RMSprop need a non-zero `momentum`; Adam-family "
            f"optimizers take `beta_1`); only the learning rate is scheduled. "
            f"Pass base_momentum=None to silence this.",
            stacklevel=3,
        )
        return
    fit_schedule.momentum_binding = MomentumBinding(optimizer, attribute)


def detach(optimizer, fit_schedule, user):
    """Leaves this fit's FitSchedule; the last user takes it out. Returns True then.

    A plain float rate keeps the multiplier the adaptive callbacks left (as
    Keras's ReduceLROnPlateau leaves its reduced rate in the optimizer); a
    schedule's own values are never changed.
    """
    if user in fit_schedule.users:
        fit_schedule.users.remove(user)
    if fit_schedule.schedule_owner is user and fit_schedule.momentum_binding is not None:
        fit_schedule.momentum_binding.restore()
        fit_schedule.momentum_binding = None
    if fit_schedule.users:
        return False
    remove(optimizer, fit_schedule, fold_multiplier=True)
    return True
