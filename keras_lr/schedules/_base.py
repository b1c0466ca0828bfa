"""What every keras_lr schedule shares: the step as a float, children, evaluation."""

import numbers

import keras
import numpy as np
from keras import ops

LearningRateSchedule = keras.optimizers.schedules.LearningRateSchedule


def as_float_step(step):
    """The optimizer's step (an int variable or tensor) as a float32 tensor."""
    return ops.cast(step, "float32")


def check_schedule(owner, name, schedule):
    """Accepts a LearningRateSchedule, a callable of the step, or a number (a constant)."""
    if isinstance(schedule, bool):
        raise ValueError(
            f"{owner}: {name} must be a LearningRateSchedule, a callable of the "
            f"step or a number; received {name}={schedule!r}"
        )
    if isinstance(schedule, numbers.Real):
        if not np.isfinite(schedule) or schedule < 0:
            raise ValueError(
                f"{owner}: a constant {name} must be a finite number >= 0; "
                f"received {name}={schedule!r}"
            )
        return float(schedule)
    if isinstance(schedule, LearningRateSchedule) or callable(schedule):
        return schedule
    raise ValueError(
        f"{owner}: {name} must be a LearningRateSchedule, a callable of the "
        f"step or a number; received {name}={schedule!r}"
    )


def call_schedule(schedule, step):
    """Value of a child schedule (schedule, callable or constant) at ``step``."""
    if isinstance(schedule, float):
        return ops.full_like(step, schedule, dtype="float32")
    return ops.cast(schedule(step), "float32") + ops.zeros_like(step, dtype="float32")


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
        rate = ops.cast(schedule(step), "float32")
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


def _evaluate_vectorized(fn, steps):
    values = ops.convert_to_numpy(fn(ops.convert_to_tensor(steps, dtype="float32")))
    values = np.asarray(values, dtype=np.float64)
    if values.shape != steps.shape:
        raise ValueError("not elementwise")
    return values


def evaluate(fn, steps):
    """Evaluates a function of the step at many steps, as a float64 numpy array.

    Schedules written with elementwise `keras.ops` are evaluated in one call;
    others (a Keras schedule that uses `ops.cond`, say) one step at a time.
    Used for logging and plots, never inside the train step.
    """
    steps = np.asarray(steps, dtype=np.float32)
    if steps.size == 0:
        return np.zeros((0,), dtype=np.float64)
    try:
        return _evaluate_vectorized(fn, steps)
    except Exception:  # noqa: BLE001 - not vectorizable; evaluate step by step
        out = np.empty(steps.shape, dtype=np.float64)
        for i, s in enumerate(steps):
            out[i] = float(ops.convert_to_numpy(fn(ops.convert_to_tensor(s, dtype="float32"))))
        return out


def evaluate_schedule(schedule, steps):
    """Learning rates of ``schedule`` at ``steps`` (numpy float64)."""
    return evaluate(lambda s: call_schedule(schedule, s), steps)


def evaluate_momentum(schedule, steps):
    """Momenta of ``schedule`` at ``steps``, or None when it cycles none."""
    if call_momentum(schedule, ops.convert_to_tensor(0.0)) is None:
        return None
    return evaluate(lambda s: call_momentum(schedule, s), steps)
