"""How keras_lr puts a schedule inside an optimizer for one `fit`, and takes it out.

The optimizer's own learning-rate variable stays where it is (same variables,
same order), so checkpoints written during a fit, full `.keras` files and
weights-only ones alike, load into a freshly compiled model.
"""

import warnings

import keras
from keras import ops

from keras_lr.schedules._base import LearningRateSchedule, as_float_step, call_momentum, call_rate_and_momentum

# Optimizer attributes that hold the momentum a cycle drives, in the order looked for.
MOMENTUM_ATTRIBUTES = ("beta_1", "momentum")


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


@keras.saving.register_keras_serializable(package="keras_lr")
class FitSchedule(LearningRateSchedule):
    """The learning rate a keras_lr callback puts inside the optimizer for one fit.

    Evaluates `schedule(iterations - offset)` inside the train step, so the
    rate follows `optimizer.iterations` exactly, and assigns the cycle's
    momentum in the same step. Serializing it gives back the optimizer's own
    learning rate (`base_learning_rate`): a model saved during a fit loads as
    the model that was compiled, and the callback puts the schedule back in
    when training resumes.
    """

    def __init__(self, schedule, offset, base_learning_rate, momentum=None, base_variable=None):
        self.schedule = schedule
        self.offset = int(offset)
        self.base_learning_rate = float(base_learning_rate)
        self.momentum_binding = momentum
        self.base_variable = base_variable

    def __call__(self, step):
        step = as_float_step(step)
        if self.offset:
            step = step - float(self.offset)
        rate, momentum = call_rate_and_momentum(self.schedule, step)
        if self.momentum_binding is not None:
            self.momentum_binding.update(momentum)
        return rate

    def get_config(self):
        return {"base_learning_rate": self.base_learning_rate}

    @classmethod
    def from_config(cls, config):
        # The optimizer's own rate: the schedule belongs to the callback.
        return float(config["base_learning_rate"])


def learning_rate_variable(optimizer, owner):
    """The optimizer's own learning-rate variable; raises if it has none.

    A stale `FitSchedule` (left by a fit that was interrupted) is taken out
    first.
    """
    current = getattr(optimizer, "_learning_rate", None)
    if isinstance(current, FitSchedule):
        if current.momentum_binding is not None:
            current.momentum_binding.restore()
        optimizer._learning_rate = current.base_variable
        current = current.base_variable
    if isinstance(current, keras.Variable):
        return current
    if isinstance(current, LearningRateSchedule) or callable(current):
        raise ValueError(
            f"{owner}: the optimizer already has a learning-rate schedule "
            f"({type(current).__name__}) that this callback would overwrite. "
            f"Compile with a float learning rate and pass the schedule to the "
            f"callback instead, e.g. keras_lr.Scheduler(schedule)."
        )
    raise ValueError(
        f"{owner}: the optimizer {type(optimizer).__name__} has no learning rate "
        f"to drive; compile the model with a Keras optimizer created with a "
        f"float learning_rate."
    )


def install(optimizer, schedule, offset, owner, base_variable):
    """Puts ``schedule`` into ``optimizer`` for this fit; returns the FitSchedule."""
    if isinstance(optimizer._learning_rate, FitSchedule):
        raise ValueError(
            f"{owner}: another keras_lr callback already sets the learning rate "
            f"in this fit; use one schedule callback (join schedules with "
            f"keras_lr.schedules.Sequential)."
        )
    binding = None
    if call_momentum(schedule, ops.convert_to_tensor(0.0)) is not None:
        attribute = momentum_attribute(optimizer)
        if attribute is None:
            warnings.warn(
                f"{owner}: {type(optimizer).__name__} has no momentum to cycle "
                f"(SGD and RMSprop need a non-zero `momentum`; Adam-family "
                f"optimizers take `beta_1`); only the learning rate is scheduled. "
                f"Pass base_momentum=None to silence this.",
                stacklevel=3,
            )
        else:
            binding = MomentumBinding(optimizer, attribute)
    fit_schedule = FitSchedule(
        schedule,
        offset,
        float(base_variable.numpy()),
        momentum=binding,
        base_variable=base_variable,
    )
    optimizer._learning_rate = fit_schedule
    return fit_schedule


def uninstall(optimizer, fit_schedule):
    """Puts back the optimizer's own learning rate and momentum."""
    if fit_schedule.momentum_binding is not None:
        fit_schedule.momentum_binding.restore()
    if optimizer._learning_rate is fit_schedule:
        optimizer._learning_rate = fit_schedule.base_variable
