"""The learning rate keras_lr puts inside the optimizer for one fit."""

import keras
from keras import ops

from keras_lr._engine.optimizers import call_rate, is_variable
from keras_lr.schedules._base import LOADED_HINT, as_float_step, call_rate_and_momentum, loaded_without_names


def not_traceable(schedule, error):
    """The error for a schedule that failed on a symbolic step (``error``: what it raised): a TypeError, or a
    NameError for a name the function cannot see."""
    where = f"keras_lr: the learning-rate schedule {schedule!r} failed inside the compiled train step"
    if isinstance(error, NameError):
        # Not the symbolic step: a name the function cannot see (one Keras loaded back, nested in a schedule or
        # not, has said so already: its cause is Python's error).
        loaded = loaded_without_names(error, schedule)
        original = error.__cause__ if getattr(error, "keras_lr_loaded", False) else error
        first = (str(original).strip().splitlines() or [""])[0].split(". ")[0]
        return NameError(f"{where} ({type(original).__name__}: {first})." + (LOADED_HINT if loaded else ""))
    first = (str(error).strip().splitlines() or [""])[0].split(". ")[0]
    return TypeError(
        f"{where} ({type(error).__name__}: {first}). It runs there on a symbolic step: a function of the step "
        f"written with Python's `if`, `float(step)`, `math` or numpy works in plot_schedule and on the "
        f"torch backend, not in a TensorFlow or JAX fit; write it with keras.ops, e.g. "
        f"`lambda step: keras.ops.where(step < 10, 0.01, 0.001)`."
    )


class _Trace(keras.Operation):
    """The schedule traced by the backend as a train step traces it (a `keras.Operation`'s output spec)."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.error = None

    def call(self, step):
        try:
            return call_rate_and_momentum(self.schedule, step)[0]
        except Exception as error:  # kept: Keras wraps it in a message of its own (garbled under JAX)
            self.error = error
            raise


def check_traceable(schedule, symbolic_only=False):
    """Raises `not_traceable` if the backend cannot trace ``schedule`` on a symbolic step.

    Before the fit's first step: Keras's JAX trainer takes the model's
    variables out of them as the first step begins, and a trace that fails
    then leaves the model without its weights; TensorFlow builds an
    optimizer no fit has built in the first trace, and one that fails leaves
    it with slots no later fit can use. (The torch backend runs the step
    eagerly: Python's `if` works there.) With ``symbolic_only`` (TensorFlow)
    only the errors of a schedule that reads the step as a Python value (its
    `if`, `float`, `math`, numpy) are raised: this trace runs in a scratch
    graph stricter than the fit's `tf.function`, which runs a schedule that
    makes its variable at its first call, or one calling `tf.py_function`.
    """
    trace = _Trace(schedule)
    try:
        trace(keras.KerasTensor((), "float32"))
    except Exception as error:
        if symbolic_only and not isinstance(trace.error, (TypeError, NameError, NotImplementedError)):
            return  # left to the fit's own trace
        raise not_traceable(schedule, trace.error or error) from error


@keras.saving.register_keras_serializable(package="keras_lr")
class FitSchedule:
    """The optimizer's learning rate during one fit: `source(step - offset) * multiplier`.

    The source is a schedule callback's schedule (`Scheduler`, `OneCycle`,
    `CyclicLR`, the range test), seen at the optimizer's step minus the
    fit's offset, or else whatever the optimizer held: its own rate variable,
    or a schedule it was compiled with. The multiplier is what the adaptive
    callbacks scale. Both offset and multiplier are variables, so a traced
    train step serves every fit with the same source. (With the optimizer's
    own rate Variable as the source, the session writes the multiplier into
    that Variable instead, so checkpoints hold the adapted rate, and keeps
    this one at 1.)

    Keras calls a learning rate that is a callable, not a
    `LearningRateSchedule`, with no argument once per step, and assigns to it
    when a callback sets `optimizer.learning_rate`: Keras's own
    `LearningRateScheduler` and `ReduceLROnPlateau` then change the multiplier
    (through ``on_assign``), so they compose with a keras_lr schedule.

    When the source prescribes a momentum, the step's momentum goes to the
    fit's `MomentumBinding` in the same evaluation: the learning rate is the
    one value Keras computes once per step.

    Where the step runs eagerly (the torch backend) nothing is traced, and
    ``eager_rate`` gives the same values from the session's Python-side
    readers (the schedule evaluated for many steps at once): a dozen small
    tensor operations a step cost more than the step of a small model.

    A model saved during a fit never holds it: while it is in, the
    optimizer's `get_config` gives the rate it was compiled with (see the
    session), so the file loads where keras_lr is not imported. Files saved
    by earlier versions do name it; deserializing it gives back what the
    optimizer held (its float rate, or its schedule).
    """

    def __init__(self, original, iterations):
        self.original = original  # the optimizer's rate Variable, or its schedule
        self.iterations = iterations
        self.schedule = None
        self.momentum = None
        self.on_assign = None
        self.eager_rate = None
        self.offset = keras.Variable(0, dtype=iterations.dtype, trainable=False, name="keras_lr_offset")
        self.multiplier = keras.Variable(1.0, dtype="float32", trainable=False, name="keras_lr_multiplier")

    def source(self, step):
        """The rate before the multiplier at the optimizer's ``step`` (a tensor)."""
        if self.schedule is not None:
            try:
                rate, momentum = call_rate_and_momentum(self.schedule, as_float_step(step - self.offset))
            except Exception as error:  # in the train step's trace: the user's function met a symbolic step
                raise not_traceable(self.schedule, error) from error
            if self.momentum is not None:
                self.momentum.update(momentum)
            return rate
        if is_variable(self.original):
            return ops.cast(self.original, "float32")
        return ops.cast(call_rate(self.original, step), "float32")

    def __call__(self):
        if self.eager_rate is not None:
            return self.eager_rate()
        return self.source(self.iterations) * self.multiplier

    def assign(self, value):
        """`optimizer.learning_rate = value`, from a callback: the rate from the next step on."""
        if self.on_assign is None:
            raise TypeError(
                f"keras_lr: cannot set the learning rate to {value!r} here: the optimizer follows a keras_lr "
                f"schedule only inside the fit that put it in; set the rate before or after that fit."
            )
        self.on_assign(float(value))

    def get_config(self):
        if is_variable(self.original):
            return {"base_learning_rate": float(self.original.numpy())}
        return {"original": keras.saving.serialize_keras_object(self.original)}

    @classmethod
    def from_config(cls, config):
        # What the optimizer held: the schedule belongs to the callbacks.
        if "original" in config:
            return keras.saving.deserialize_keras_object(config["original"])
        return float(config["base_learning_rate"])
