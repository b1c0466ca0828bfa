"""What every keras_lr schedule shares: the step as a float, children, serialization."""

import inspect
import numbers

import keras
import numpy as np
from keras import ops

from keras_lr import _validation as v
from keras_lr._repr import config_repr

LearningRateSchedule = keras.optimizers.schedules.LearningRateSchedule


class _NotACallback(TypeError, AttributeError):
    """A schedule given where a callback goes: a TypeError that says so, and an AttributeError, so that
    `hasattr(schedule, "on_train_begin")` is False (a check for a callback's hooks raised)."""


class Schedule(LearningRateSchedule):
    """Base of keras_lr's schedules: a Keras `LearningRateSchedule`.

    A schedule passed to `fit(callbacks=...)` (the `OneCycle` schedule where
    the `OneCycle` callback was meant, say) fails with an error that says
    what to pass instead, where Keras would report a missing `set_model`.
    """

    # The callback that applies this schedule in fit, as a user would write it.
    callback_hint = "keras_lr.Scheduler(schedule)"

    def __repr__(self):
        return config_repr(self)

    def __getattr__(self, name):
        # Only reached for attributes the schedule does not have: Keras's callback hooks.
        if name.startswith("on_") or name in ("set_model", "set_params"):
            raise _NotACallback(
                f"{type(self).__name__} from keras_lr.schedules is a schedule, not a callback. "
                f"In fit(callbacks=...) pass {self.callback_hint}, or give the schedule to the "
                f"optimizer: keras.optimizers.Adam(learning_rate=schedule)."
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def as_float_step(step):
    """The optimizer's step (an int variable or tensor) as a float32 tensor."""
    return ops.cast(step, "float32")


def check_schedule(owner, name, schedule):
    """Accepts a LearningRateSchedule, a callable of the step, or a number (a constant).

    A schedule's serialized config (what `get_config` of a callback holds) is
    deserialized.
    """
    if isinstance(schedule, dict) and "class_name" in schedule:
        schedule = deserialize_schedule(schedule)
    if isinstance(schedule, bool):
        raise ValueError(
            f"{owner}: {name} must be a LearningRateSchedule, a callable of the "
            f"step or a number; received {name}={schedule!r}"
        )
    if isinstance(schedule, numbers.Real):
        try:
            value = float(schedule)  # (a Fraction, an int beyond float64: np.isfinite took neither)
        except OverflowError:
            value = float("inf")
        if not np.isfinite(value) or value < 0:
            raise ValueError(
                f"{owner}: a constant {name} must be a finite number >= 0; "
                f"received {name}={schedule!r}"
            )
        return value
    if isinstance(schedule, LearningRateSchedule):
        held = _result_inside(schedule)
        if held is not None:
            # Keras's own schedules take any argument, and the train step failed on it: a message of a Python
            # `if` in the schedule (TensorFlow, JAX), "Invalid dtype: object" (PyTorch).
            raise ValueError(
                f"{owner}: {name}, a {type(schedule).__name__}, holds a range test's result in its {held[0]}, "
                f"where a rate is wanted{v.result_hint(held[1])}"
            )
        return schedule
    if isinstance(schedule, type):
        raise ValueError(
            f"{owner}: {name} must be a LearningRateSchedule instance, a callable of the step or a number; "
            f"received the class {schedule.__name__}: make one, e.g. {schedule.__name__}(...)"
        )
    if callable(schedule):
        _check_takes_the_step(owner, name, schedule)
        return schedule
    raise ValueError(
        f"{owner}: {name} must be a LearningRateSchedule, a callable of the "
        f"step or a number; received {name}={schedule!r}{v.result_hint(schedule)}{_callback_hint(schedule)}"
    )


def _result_inside(schedule):
    """The name of a schedule's attribute holding a range test's result (or a list of values holding one:
    PiecewiseConstantDecay's), and the result; None."""
    for attribute, value in vars(schedule).items():
        for each in value if isinstance(value, (list, tuple)) else [value]:
            if hasattr(type(each), "one_cycle_max_lr") and not isinstance(each, LearningRateSchedule):
                return attribute, each
    return None


# keras_lr's callbacks whose schedule has the same name in keras_lr.schedules, as the schedule is written.
_SCHEDULE_OF_CALLBACK = {
    "OneCycle": "keras_lr.schedules.OneCycle(max_lr, total_steps)",
    "CyclicLR": "keras_lr.schedules.CyclicLR(base_lr, max_lr, step_size_up)",
}


def _callback_hint(value):
    """What to pass instead of a callback where a schedule is wanted ('' for anything else)."""
    if not isinstance(value, keras.callbacks.Callback):
        return ""
    name = type(value).__name__
    ours = type(value).__module__.startswith("keras_lr.")
    if ours and name in _SCHEDULE_OF_CALLBACK:
        return (f". keras_lr.{name} is a callback, which sizes its schedule to the fit; "
                f"pass the schedule {_SCHEDULE_OF_CALLBACK[name]}")
    if ours and getattr(value, "schedule", None) is not None:  # a Scheduler
        return f". keras_lr.{name} is a callback; pass its schedule, callback.schedule"
    return f". {name} is a callback that changes the rate as training goes, with no schedule to pass here"


def _check_takes_the_step(owner, name, function):
    """Refuses a callable that cannot be called with the step alone (Keras's `(epoch, lr)` one)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin or extension: nothing to read
        return
    try:
        signature.bind(0)
    except TypeError:
        raise ValueError(
            f"{owner}: {name} is called with one argument, the optimizer's step; received a callable "
            f"taking {signature}. Keras's LearningRateScheduler takes a function of (epoch, lr): write "
            f"one of the step (e.g. lambda step: 0.01 * 0.9 ** (step / steps_per_epoch)), or keep that "
            f"function in keras.callbacks.LearningRateScheduler."
        ) from None


# What a NameError from a function Keras loaded back means, and what to do.
LOADED_HINT = (" Keras loaded this function back (from a saved model or a config) without its module's names, "
               "`keras` included: define it as a named function registered with "
               "keras.saving.register_keras_serializable, which loads with them.")


def loaded_without_names(error, function=None):
    """Whether ``error``, a NameError, came from a function Keras loaded back: a lambda loaded with unsafe
    deserialization runs with the globals of Keras's own loader, none of its module's names. The frame
    that raised is the function's, nested in a schedule or not."""
    if getattr(error, "keras_lr_loaded", False):
        return True
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    names = frame.tb_frame.f_globals if frame is not None else getattr(function, "__globals__", {})
    return names.get("__name__", "").split(".")[0] == "keras"


def _call_function(function, step):
    """``function(step)``; a NameError of one Keras loaded back says so, wherever it runs (a model loaded with
    the schedule in its optimizer fits with no keras_lr callback to explain it)."""
    try:
        return function(step)
    except NameError as error:
        if getattr(error, "keras_lr_loaded", False) or not loaded_without_names(error, function):
            raise
        explained = NameError(f"{error} (in the schedule function {getattr(function, '__name__', function)!s})."
                              f"{LOADED_HINT}")
        explained.keras_lr_loaded = True
        raise explained from error


def _call_with_keras_step(schedule, step):
    """``schedule(step)``, a Keras `LearningRateSchedule` not keras_lr's given the step as an integer, as Keras's
    optimizer gives it its `iterations` (a plain callable of the step gets keras_lr's float32 step, as ever).

    keras_lr counts in float32 (`as_float_step`); a schedule that indexes a table with the step
    (`ops.take(table, step)`) works in Keras's optimizer and failed inside `Sequential` or `Warmup`. Keras's
    `iterations` is a Variable, whose operators make `step * 0.5` a float where an integer tensor's refuse it
    (TensorFlow): such a schedule gets the float32 step, as before.
    """
    if isinstance(schedule, Schedule):
        return schedule(step)
    if not isinstance(schedule, LearningRateSchedule):
        return _call_function(schedule, step)
    try:
        return schedule(ops.cast(step, "int64" if keras.backend.backend() == "tensorflow" else "int32"))
    except (TypeError, ValueError):
        return schedule(step)


def call_schedule(schedule, step):
    """Value of a child schedule (schedule, callable or constant) at ``step``."""
    if isinstance(schedule, float):
        return ops.full_like(step, schedule, dtype="float32")
    return ops.cast(_call_with_keras_step(schedule, step), "float32") + ops.zeros_like(step, dtype="float32")


def call_momentum(schedule, step):
    """The momentum a child schedule prescribes at ``step``, or None."""
    momentum = getattr(schedule, "momentum", None)
    if momentum is None or not callable(momentum):
        return None
    value = momentum(step)
    if value is None:
        return None
    return ops.cast(value, "float32") + ops.zeros_like(step, dtype="float32")


def call_rate_and_momentum(schedule, step):
    """(rate, momentum or None) of a schedule at a scalar ``step``, in as few ops as it offers."""
    combined = getattr(schedule, "rate_and_momentum", None)
    if combined is not None:
        rate, momentum = combined(step)
        return ops.cast(rate, "float32"), momentum
    if isinstance(schedule, LearningRateSchedule):
        rate = ops.cast(_call_with_keras_step(schedule, step), "float32")
    else:
        rate = call_schedule(schedule, step)
    return rate, call_momentum(schedule, step)


def serialize_schedule(schedule):
    if isinstance(schedule, float):
        return schedule
    return keras.saving.serialize_keras_object(schedule)


def deserialize_schedule(config):
    if isinstance(config, numbers.Real):
        return float(config)
    return keras.saving.deserialize_keras_object(config)
