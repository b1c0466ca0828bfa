"""Schedules evaluated at many steps at once, in numpy: for logs, records and plots."""

import keras
import numpy as np
from keras import ops

from keras_lr import _validation as v
from keras_lr.schedules._base import call_momentum, call_schedule, check_schedule


def _evaluate_vectorized(fn, steps):
    return _elementwise(ops.convert_to_numpy(fn(ops.convert_to_tensor(steps, dtype="float32"))), steps)


def _evaluate_jax(fn, steps):
    """Under JAX, a step function that takes no array of steps (`ops.cond`), mapped over them in one trace.

    Called one step at a time, JAX compiled each step's `cond` anew: for Keras's `CosineDecay` with a
    warmup, 26.7 s for 512 steps (50 ms a step), where a fit's logs read 4096 at once; mapped, 0.13 s.
    """
    import jax

    return _elementwise(jax.jit(jax.vmap(lambda step: ops.cast(fn(step), "float32")))(steps), steps)


def _elementwise(values, steps):
    """The values as float64, one per step; raises when the function did not give one per step."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape != steps.shape:
        raise ValueError("not elementwise")
    return values


def evaluate(fn, steps):
    """Evaluates a function of the step at many steps, as a float64 numpy array.

    Schedules written with elementwise `keras.ops` are evaluated in one call;
    others (a Keras schedule that uses `ops.cond`, say) mapped over the steps
    (JAX's vmap, TensorFlow's vectorized_map), or else one step at a time.
    Used for logging and plots, never inside the train step.
    """
    steps = np.asarray(steps, dtype=np.float32)
    if steps.size == 0:
        return np.zeros((0,), dtype=np.float64)
    try:
        return _evaluate_vectorized(fn, steps)
    except Exception:  # noqa: BLE001 - not vectorizable; evaluate step by step
        try:
            if keras.backend.backend() == "jax":
                return _evaluate_jax(fn, steps)
            # TensorFlow's vectorized_map turns a cond into a select: 4096 steps of Keras's CosineDecay with a
            # warmup in 0.06-0.19 s, where one step at a time took 2.8 s, measured side by side (a fit stalled that
            # long every 4096 steps).
            # (torch's vmap refuses a cond at once.)
            mapped = ops.vectorized_map(lambda step: ops.cast(fn(step), "float32"), ops.convert_to_tensor(steps))
            return _elementwise(ops.convert_to_numpy(mapped), steps)
        except Exception:  # noqa: BLE001 - not traceable either: one step at a time
            pass
        out = np.empty(steps.shape, dtype=np.float64)
        for i, s in enumerate(steps):
            out[i] = float(ops.convert_to_numpy(fn(ops.convert_to_tensor(s, dtype="float32"))))
        return out


def _check_steps(owner, steps):
    """``steps`` as a numpy array of finite numbers (a number, a sequence or an array of them)."""
    try:
        array = np.asarray(steps)
    except Exception:  # noqa: BLE001 - a ragged sequence, say: refused below by what it is
        array = np.asarray(None)
    if array.dtype.kind not in "iuf" or (array.size and not np.all(np.isfinite(array))):
        raise ValueError(f"{owner}: steps must be optimizer steps (a number or a sequence or array of finite "
                         f"numbers, 0 the first); received steps={v._shown(steps)}")
    return array


def evaluate_schedule(schedule, steps):
    """Learning rates of ``schedule`` at ``steps``, in numpy (for a table or a plot).

    >>> from keras_lr.schedules import OneCycle
    >>> evaluate_schedule(OneCycle(0.1, 100), [0, 29, 99]).round(4)
    array([0.004, 0.1  , 0.   ])

    Args:
        schedule: A keras_lr or Keras `LearningRateSchedule`, a callable of
            the step, or a number (a constant rate).
        steps: Optimizer steps (0 is the first): a number, or a sequence or
            numpy array of them.

    Returns:
        A float64 numpy array of the rates, the shape of ``steps``.

    Raises:
        ValueError: for something that is not a schedule, or steps that are
            not numbers.
    """
    schedule = check_schedule("evaluate_schedule", "schedule", schedule)
    return evaluate(lambda s: call_schedule(schedule, s), _check_steps("evaluate_schedule", steps))


def evaluate_momentum(schedule, steps):
    """Momenta of ``schedule`` at ``steps``, in numpy, or None when it cycles none.

    Args:
        schedule: A schedule, as `evaluate_schedule` takes; `OneCycle` and
            `CyclicLR` cycle a momentum (unless made with
            `base_momentum=None`).
        steps: Optimizer steps, as `evaluate_schedule` takes them.

    Returns:
        A float64 numpy array the shape of ``steps``, or None.

    Raises:
        ValueError: for something that is not a schedule, or steps that are
            not numbers.
    """
    schedule = check_schedule("evaluate_momentum", "schedule", schedule)
    steps = _check_steps("evaluate_momentum", steps)
    if call_momentum(schedule, ops.convert_to_tensor(0.0)) is None:
        return None
    return evaluate(lambda s: call_momentum(schedule, s), steps)
