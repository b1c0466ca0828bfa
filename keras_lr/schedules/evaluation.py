"""Schedules evaluated at many steps at once, in numpy: for logs, records and plots."""

import numpy as np
from keras import ops

from keras_lr.schedules._base import call_momentum, call_schedule, check_schedule


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
    schedule = check_schedule("evaluate_schedule", "schedule", schedule)
    return evaluate(lambda s: call_schedule(schedule, s), steps)


def evaluate_momentum(schedule, steps):
    """Momenta of ``schedule`` at ``steps``, or None when it cycles none."""
    schedule = check_schedule("evaluate_momentum", "schedule", schedule)
    if call_momentum(schedule, ops.convert_to_tensor(0.0)) is None:
        return None
    return evaluate(lambda s: call_momentum(schedule, s), steps)
