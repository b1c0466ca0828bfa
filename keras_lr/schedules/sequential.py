"""Joining schedules end to end, and the warmup schedules built from that."""

import math

import keras
from keras import ops

from keras_lr import _validation as v
from keras_lr.schedules._base import (
    Schedule,
    as_float_step,
    call_momentum,
    call_schedule,
    check_schedule,
    deserialize_schedule,
    serialize_schedule,
)


def _join(values_at, boundaries, step):
    """Selects ``values_at[i](step - boundaries[i-1])`` on each interval.

    Each child sees its step counted from its own boundary (never below 0).
    """
    starts = [0.0] + [float(b) for b in boundaries]
    result = values_at[-1](ops.maximum(step - starts[-1], 0.0))
    for value_at, start, end in zip(reversed(values_at[:-1]), reversed(starts[:-1]), reversed(starts[1:])):
        result = ops.where(step < end, value_at(ops.maximum(step - start, 0.0)), result)
    return result


@keras.saving.register_keras_serializable(package="keras_lr")
class Sequential(Schedule):
    """Runs schedules one after another, each from its own step 0.

    Schedule `i` runs from `boundaries[i-1]` (0 for the first) up to
    `boundaries[i]`, and sees the step counted from its own start, as optax's
    `join_schedules` does. Children may be keras_lr schedules, Keras's own
    (`CosineDecay`, `ExponentialDecay`, ...), callables of the step written
    with `keras.ops`, or numbers (constants). A Keras `LearningRateSchedule`
    not keras_lr's gets the step as an integer, as Keras's optimizer gives
    it (or as a float32 tensor where it refuses an integer tensor, as
    `step * 0.5` does on TensorFlow); a callable gets a float32 tensor.
    Where children prescribe a momentum (`OneCycle`, `CyclicLR`), one that
    does not (a constant tail) holds the momentum the one before left.

    Example:

    >>> schedule = Sequential([0.1, keras.optimizers.schedules.ExponentialDecay(
    ...     0.1, decay_steps=10, decay_rate=0.5)], boundaries=[5])
    >>> [round(float(schedule(step)), 4) for step in (0, 4, 5, 15)]
    [0.1, 0.1, 0.1, 0.05]

    Args:
        schedules: List of schedules, callables or numbers; at least one.
        boundaries: List of integers, one fewer than `schedules`, strictly
            increasing and > 0: the steps at which the next schedule starts.

    Returns:
        Called with the optimizer's step, a float32 learning rate.

    Raises:
        ValueError: for a bad schedule or boundaries, naming the argument.
    """

    def __init__(self, schedules, boundaries):
        owner = "Sequential"
        if not isinstance(schedules, (list, tuple)) or len(schedules) == 0:
            raise ValueError(f"{owner}: schedules must be a non-empty list; received schedules={schedules!r}")
        if not isinstance(boundaries, (list, tuple)):
            raise ValueError(f"{owner}: boundaries must be a list of integers; received boundaries={boundaries!r}")
        if len(boundaries) != len(schedules) - 1:
            raise ValueError(
                f"{owner}: boundaries must have one entry fewer than schedules "
                f"({len(schedules) - 1}); received boundaries={list(boundaries)!r}"
            )
        self.schedules = [check_schedule(owner, f"schedules[{i}]", s) for i, s in enumerate(schedules)]
        previous = 0
        checked = []
        for i, b in enumerate(boundaries):
            b = v.check_int(owner, f"boundaries[{i}]", b, low=1)
            if b <= previous:
                raise ValueError(
                    f"{owner}: boundaries must be strictly increasing; received boundaries={list(boundaries)!r}"
                )
            checked.append(b)
            previous = b
        self.boundaries = checked

    def __call__(self, step):
        step = as_float_step(step)
        children = [lambda s, c=c: call_schedule(c, s) for c in self.schedules]
        return _join(children, self.boundaries, step)

    def momentum(self, step):
        """Joined momenta, or None when no child prescribes one.

        A child that prescribes none holds the momentum where the child
        before it that prescribes one left it (its last step), as PyTorch's
        `SequentialLR` leaves the momentum of a `OneCycleLR` followed by a
        `ConstantLR`; before the first such child, that child's first.
        """
        step = as_float_step(step)
        has = [call_momentum(c, step) is not None for c in self.schedules]
        if not any(has):
            return None
        starts = [0] + list(self.boundaries)
        children = []
        for i, c in enumerate(self.schedules):
            if has[i]:
                children.append(lambda s, c=c: call_momentum(c, s))
                continue
            before = [j for j in range(i) if has[j]]
            j = before[-1] if before else has.index(True)
            held = float(starts[j + 1] - starts[j] - 1) if before else 0.0  # child j's last step, or its first
            children.append(lambda s, c=self.schedules[j], held=held: call_momentum(c, ops.zeros_like(s) + held))
        return _join(children, self.boundaries, step)

    def get_config(self):
        return {
            "schedules": [serialize_schedule(s) for s in self.schedules],
            "boundaries": list(self.boundaries),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedules"] = [deserialize_schedule(s) for s in config["schedules"]]
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_lr")
class Warmup(Schedule):
    """Linear warmup in front of any schedule or constant.

    For the first `warmup_steps` steps the rate rises linearly from
    `initial_learning_rate` to the schedule's value at its step 0; after that
    the schedule runs from its own step 0. Momentum, where the schedule
    prescribes one, holds its step-0 value during the warmup.

    Example:

    >>> schedule = Warmup(keras.optimizers.schedules.CosineDecay(0.1, 100), warmup_steps=10)
    >>> [round(float(schedule(step)), 4) for step in (0, 5, 10, 110)]
    [0.0, 0.05, 0.1, 0.0]

    Args:
        schedule: A LearningRateSchedule (keras_lr's or Keras's), a callable
            of the step, or a number (a constant rate after the warmup).
        warmup_steps: Integer. Length of the warmup; must be >= 1.
        initial_learning_rate: Float. Rate at step 0; must be >= 0.

    Returns:
        Called with the optimizer's step, a float32 learning rate.

    Raises:
        ValueError: for a bad schedule, `warmup_steps` or
            `initial_learning_rate`, naming it.
    """

    def __init__(self, schedule, warmup_steps, initial_learning_rate=0.0):
        owner = "Warmup"
        self.schedule = check_schedule(owner, "schedule", schedule)
        self.warmup_steps = v.check_int(owner, "warmup_steps", warmup_steps, low=1)
        self.initial_learning_rate = v.check_number(owner, "initial_learning_rate", initial_learning_rate, low=0.0)

    def _ramp(self, step):
        target = call_schedule(self.schedule, ops.zeros_like(step))
        return self.initial_learning_rate + (target - self.initial_learning_rate) * (step / self.warmup_steps)

    def __call__(self, step):
        children = [self._ramp, lambda s: call_schedule(self.schedule, s)]
        return _join(children, [self.warmup_steps], as_float_step(step))

    def momentum(self, step):
        step = as_float_step(step)
        if call_momentum(self.schedule, step) is None:
            return None
        return call_momentum(self.schedule, ops.maximum(step - self.warmup_steps, 0.0))

    def get_config(self):
        return {
            "schedule": serialize_schedule(self.schedule),
            "warmup_steps": self.warmup_steps,
            "initial_learning_rate": self.initial_learning_rate,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = deserialize_schedule(config["schedule"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_lr")
class WarmupStableDecay(Schedule):
    """Warmup, a long stable phase at the peak, then a short decay (WSD).

    The rate rises linearly from 0 to `peak_lr` over `warmup_steps`, holds
    `peak_lr` for `stable_steps`, then decays to `final_lr` over
    `decay_steps` and stays there. The decay shape is "linear", "cosine"
    (half a cosine) or "sqrt" (`1 - sqrt(progress)`, which falls fastest
    at the start of the decay).

    Example:

    >>> schedule = WarmupStableDecay(0.1, warmup_steps=10, stable_steps=80, decay_steps=10)
    >>> [round(float(schedule(step)), 4) for step in (0, 5, 10, 90, 95, 100, 500)]
    [0.0, 0.05, 0.1, 0.1, 0.05, 0.0, 0.0]

    Args:
        peak_lr: Float. Rate of the stable phase; must be > 0.
        warmup_steps: Integer. Length of the warmup; must be >= 0.
        stable_steps: Integer. Length of the stable phase; must be >= 0.
        decay_steps: Integer. Length of the decay; must be >= 1.
        final_lr: Float. Rate at the end of the decay; must be in [0, peak_lr].
        decay: String. "linear", "cosine" or "sqrt".

    Returns:
        Called with the optimizer's step, a float32 learning rate.

    Raises:
        ValueError: for any argument out of its range, naming it.

    References:
        Hu et al., "MiniCPM: Unveiling the Potential of Small Language Models
        with Scalable Training Strategies", 2024. https://arxiv.org/abs/2404.06395
    """

    def __init__(self, peak_lr, warmup_steps, stable_steps, decay_steps, final_lr=0.0, decay="linear"):
        owner = "WarmupStableDecay"
        self.peak_lr = v.check_number(owner, "peak_lr", peak_lr, low=0.0, low_open=True)
        self.warmup_steps = v.check_int(owner, "warmup_steps", warmup_steps, low=0)
        self.stable_steps = v.check_int(owner, "stable_steps", stable_steps, low=0)
        self.decay_steps = v.check_int(owner, "decay_steps", decay_steps, low=1)
        self.final_lr = v.check_number(owner, "final_lr", final_lr, low=0.0, high=self.peak_lr, high_name="peak_lr")
        self.decay = v.check_choice(owner, "decay", decay, ("linear", "cosine", "sqrt"))

    def _decay(self, step):
        progress = ops.minimum(step / self.decay_steps, 1.0)
        if self.decay == "linear":
            fraction = 1.0 - progress
        elif self.decay == "cosine":
            fraction = 0.5 * (1.0 + ops.cos(math.pi * progress))
        else:
            fraction = 1.0 - ops.sqrt(progress)
        return self.final_lr + (self.peak_lr - self.final_lr) * fraction

    def __call__(self, step):
        step = as_float_step(step)
        children, boundaries = [], []
        if self.warmup_steps:
            children.append(lambda s: self.peak_lr * s / self.warmup_steps)
            boundaries.append(self.warmup_steps)
        if self.stable_steps:
            children.append(lambda s: ops.full_like(s, self.peak_lr))
            boundaries.append(self.warmup_steps + self.stable_steps)
        children.append(self._decay)
        return _join(children, boundaries, step)

    def get_config(self):
        return {
            "peak_lr": self.peak_lr,
            "warmup_steps": self.warmup_steps,
            "stable_steps": self.stable_steps,
            "decay_steps": self.decay_steps,
            "final_lr": self.final_lr,
            "decay": self.decay,
        }
