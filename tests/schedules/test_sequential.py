import math

import keras
import numpy as np
import pytest
from keras import ops

import keras_lr
from keras_lr.schedules import OneCycle, Sequential, Warmup, WarmupStableDecay, evaluate_momentum, evaluate_schedule

SWEEP = [0, 1, 4, 5, 6, 9, 10, 11, 19, 20, 21, 49, 50, 99, 100, 101, 1000]


def test_sequential_each_child_counts_from_its_boundary():
    decay = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    schedule = Sequential([0.01, decay, lambda step: 0.001 + 0.0 * step], boundaries=[5, 20])

    def reference(step):
        if step < 5:
            return 0.01
        if step < 20:
            return 0.1 * 0.5 ** ((step - 5) / 10)
        return 0.001

    np.testing.assert_allclose(evaluate_schedule(schedule, SWEEP), [reference(s) for s in SWEEP], rtol=1e-6)


def test_sequential_joins_momentum_when_every_child_has_one():
    first = OneCycle(0.1, total_steps=10)
    second = OneCycle(0.05, total_steps=10)
    joined = Sequential([first, second], boundaries=[10])
    np.testing.assert_allclose(
        evaluate_momentum(joined, [0, 5, 10, 15]),
        np.concatenate([evaluate_momentum(first, [0, 5]), evaluate_momentum(second, [0, 5])]),
        rtol=1e-6,
    )
    assert Sequential([0.1, 0.01], boundaries=[10]).momentum(ops.convert_to_tensor(0.0)) is None


def test_sequential_holds_the_momentum_where_a_child_prescribes_none():
    # One cycle, then a constant tail: the tail had dropped the cycle's momentum for the whole fit, the
    # cycle's part too (the compiled momentum throughout). PyTorch's SequentialLR(OneCycleLR, ConstantLR)
    # holds the momentum where the cycle left it (0.95); a constant in front runs at the cycle's first
    # momentum, as Warmup holds it.
    cycle = OneCycle(0.05, total_steps=8)
    tail = Sequential([cycle, 0.001], boundaries=[8])
    np.testing.assert_allclose(evaluate_momentum(tail, range(12)),
                               np.concatenate([evaluate_momentum(cycle, range(8)), evaluate_momentum(cycle, [7] * 4)]),
                               rtol=1e-6)
    np.testing.assert_allclose(evaluate_momentum(tail, [8, 100]), [0.95, 0.95], rtol=1e-6)
    other = OneCycle(0.1, total_steps=10, base_momentum=0.8, max_momentum=0.9)
    both = Sequential([0.01, cycle, 0.001, other, 0.002], boundaries=[5, 13, 20, 30])
    np.testing.assert_allclose(
        evaluate_momentum(both, [0, 4, 5, 12, 13, 19, 20, 29, 30, 99]),
        np.concatenate([evaluate_momentum(cycle, [0, 0, 0, 7, 7, 7]), evaluate_momentum(other, [0, 9, 9, 9])]),
        rtol=1e-6,
    )


def test_warmup_in_front_of_keras_cosine_decay():
    cosine = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=80, alpha=0.1)
    schedule = Warmup(cosine, warmup_steps=20, initial_learning_rate=0.01)

    def reference(step):
        if step < 20:
            return 0.01 + (0.1 - 0.01) * step / 20
        progress = min(step - 20, 80) / 80
        return 0.1 * ((1 - 0.1) * 0.5 * (1 + math.cos(math.pi * progress)) + 0.1)

    np.testing.assert_allclose(evaluate_schedule(schedule, SWEEP), [reference(s) for s in SWEEP], rtol=1e-5)


def test_warmup_of_a_constant_and_of_keras_warmup_schedule():
    np.testing.assert_allclose(evaluate_schedule(Warmup(0.5, 4), [0, 1, 2, 4, 100]), [0, 0.125, 0.25, 0.5, 0.5])
    # Keras's CosineDecay with its own warmup uses ops.cond: evaluated step by step.
    keras_warm = keras.optimizers.schedules.CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=5)
    values = evaluate_schedule(Warmup(keras_warm, 2), [0, 1, 2, 4, 7])
    np.testing.assert_allclose(values, [0.0, 0.0, 0.0, 0.04, 0.1], atol=1e-7)


def test_warmup_passes_momentum_through():
    cycle = OneCycle(0.1, total_steps=50)
    schedule = Warmup(cycle, warmup_steps=10)
    np.testing.assert_allclose(
        evaluate_momentum(schedule, [0, 9, 10, 30]), evaluate_momentum(cycle, [0, 0, 0, 20]), rtol=1e-6
    )


@pytest.mark.parametrize("decay", ["linear", "cosine", "sqrt"])
def test_warmup_stable_decay(decay):
    schedule = WarmupStableDecay(0.2, warmup_steps=10, stable_steps=40, decay_steps=50, final_lr=0.02, decay=decay)

    def reference(step):
        if step < 10:
            return 0.2 * step / 10
        if step < 50:
            return 0.2
        p = min((step - 50) / 50, 1.0)
        fraction = {"linear": 1 - p, "cosine": 0.5 * (1 + math.cos(math.pi * p)), "sqrt": 1 - math.sqrt(p)}[decay]
        return 0.02 + 0.18 * fraction

    np.testing.assert_allclose(evaluate_schedule(schedule, SWEEP), [reference(s) for s in SWEEP], rtol=1e-5, atol=1e-8)


def test_warmup_stable_decay_without_warmup_or_stable_phase():
    schedule = WarmupStableDecay(1.0, warmup_steps=0, stable_steps=0, decay_steps=4)
    np.testing.assert_allclose(evaluate_schedule(schedule, [0, 1, 2, 4, 9]), [1.0, 0.75, 0.5, 0.0, 0.0], atol=1e-7)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Sequential([], []), "Sequential: schedules"),
        (lambda: Sequential([0.1, 0.2], []), "Sequential: boundaries"),
        (lambda: Sequential([0.1, 0.2, 0.3], [5, 5]), "Sequential: boundaries"),
        (lambda: Sequential([0.1, 0.2], [0]), r"Sequential: boundaries\[0\]"),
        (lambda: Sequential([0.1, "fast"], [3]), r"Sequential: schedules\[1\]"),
        (lambda: Sequential([0.1, -0.2], [3]), r"Sequential: a constant schedules\[1\]"),
        (lambda: Warmup(0.1, 0), "Warmup: warmup_steps"),
        (lambda: Warmup(None, 10), "Warmup: schedule"),
        # A class where an instance is wanted was described as Keras's LearningRateScheduler (epoch, lr) function.
        (lambda: Warmup(keras.optimizers.schedules.CosineDecay, 10),
         r"Warmup: schedule must be a LearningRateSchedule instance.*received the class CosineDecay: make one"),
        (lambda: Sequential([0.1, OneCycle], [5]), r"Sequential: schedules\[1\] .*received the class OneCycle"),
        (lambda: Sequential([0.1, 10**400], [5]), r"Sequential: a constant schedules\[1\] must be a finite number"),
        (lambda: Warmup(0.1, 10, initial_learning_rate=-1), "Warmup: initial_learning_rate"),
        (lambda: WarmupStableDecay(0, 1, 1, 1), "WarmupStableDecay: peak_lr"),
        (lambda: WarmupStableDecay(0.1, -1, 1, 1), "WarmupStableDecay: warmup_steps"),
        (lambda: WarmupStableDecay(0.1, 1, -1, 1), "WarmupStableDecay: stable_steps"),
        (lambda: WarmupStableDecay(0.1, 1, 1, 0), "WarmupStableDecay: decay_steps"),
        (lambda: WarmupStableDecay(0.1, 1, 1, 1, final_lr=0.2), "WarmupStableDecay: final_lr"),
        (lambda: WarmupStableDecay(0.1, 1, 1, 1, decay="exp"), "WarmupStableDecay: decay"),
    ],
)
def test_bad_arguments_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_constant_may_be_any_real_number():
    # A Fraction failed in numpy's isfinite with a TypeError naming neither the schedule nor its argument.
    import fractions

    assert Warmup(fractions.Fraction(1, 10), 10).schedule == 0.1


def test_a_keras_schedule_with_a_cond_is_evaluated_at_a_fits_steps_in_seconds():
    # Keras's CosineDecay with a warmup takes its branch with ops.cond, so it cannot take an array of steps. One
    # step at a time, JAX compiled each step's cond anew: 26.7 s for 512 steps, where a fit's logs read 4096 at
    # once (five adaptive-fit tests with a Scheduler of it took 370 s under JAX).
    # On TensorFlow, one step at a time took 2.8 s for 4096 steps (mapped: 0.06-0.19 s): a fit stalled every 4096.
    import time

    class Counted(keras.optimizers.schedules.CosineDecay):
        calls = 0

        def __call__(self, step):
            Counted.calls += 1
            return super().__call__(step)

    schedule = Counted(0.0, decay_steps=100, warmup_target=0.1, warmup_steps=8)
    start = time.perf_counter()
    mapped = keras.backend.backend() != "torch"  # (torch's vmap refuses a cond: one step at a time)
    count = 4096 if mapped else 256
    values = evaluate_schedule(schedule, np.arange(count))
    assert time.perf_counter() - start < 30
    if mapped:
        assert Counted.calls < 10  # traced, not called per step
    steps = [0, 4, 8, 58, 108, count - 1]
    expected = [float(ops.convert_to_numpy(schedule(step))) for step in steps]
    np.testing.assert_allclose(values[steps], expected, rtol=1e-6, atol=1e-9)
    assert values[4] == pytest.approx(0.05) and values[8] == pytest.approx(0.1)


class _Table(keras.optimizers.schedules.LearningRateSchedule):
    """A Keras schedule that indexes a table with the step, as Keras's optimizer gives it: an integer."""

    def __call__(self, step):
        table = keras.ops.convert_to_tensor(np.linspace(0.1, 0.01, 50).astype("float32"))
        return keras.ops.take(table, keras.ops.minimum(step, 49))


class _InverseTime(keras.optimizers.schedules.LearningRateSchedule):
    """Python arithmetic on the step, which Keras's optimizer allows (its step is a Variable)."""

    def __call__(self, step):
        return 0.1 / (1 + step * 0.5)


def test_a_keras_schedule_with_python_arithmetic_on_the_step_still_works_inside():
    # Given an int64 tensor on TensorFlow, `step * 0.5` raised "Expected int64 ... got 0.5".
    for schedule in (_InverseTime(), Sequential([0.5, _InverseTime()], [5]), Warmup(_InverseTime(), 5)):
        np.testing.assert_allclose(evaluate_schedule(schedule, [7, 8])[-1], 0.1 / (1 + (8 - (5 if schedule.__class__
                                   is not _InverseTime else 0)) * 0.5), rtol=1e-6)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(np.ones((8, 1)), np.ones((8, 1)), batch_size=1, verbose=0, callbacks=[keras_lr.Scheduler(_InverseTime())])


def test_a_keras_schedule_inside_gets_the_integer_step_keras_gives_it():
    # Sequential and Warmup gave it keras_lr's float32 step: take() refused it (TensorFlow, JAX).
    expected = float(np.linspace(0.1, 0.01, 50)[2])
    for schedule in (Sequential([0.5, _Table()], [5]), Warmup(_Table(), 5)):
        assert float(schedule(7)) == pytest.approx(expected)
        np.testing.assert_allclose(evaluate_schedule(schedule, [7, 8]), [expected, np.linspace(0.1, 0.01, 50)[3]],
                                   rtol=1e-6)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(np.ones((8, 1)), np.ones((8, 1)), batch_size=1, verbose=0, callbacks=[keras_lr.Scheduler(Warmup(_Table(), 5))])
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.1)  # put back


def test_a_final_lr_above_the_peak_names_the_peak():
    with pytest.raises(ValueError, match=r"WarmupStableDecay: final_lr must be in \[0, peak_lr \(0.1\)\]; "
                                         r"received final_lr=0.2"):
        WarmupStableDecay(0.1, 5, 5, 5, final_lr=0.2)
