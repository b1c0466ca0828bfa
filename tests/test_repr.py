"""Schedules and callbacks read back as they were written: their arguments that are not defaults."""

import keras
import numpy as np

import keras_lr
from keras_lr import schedules


def test_schedule_reprs_show_the_arguments_that_are_not_defaults():
    assert repr(schedules.OneCycle(0.1, 100)) == "OneCycle(max_lr=0.1, total_steps=100)"
    assert (
        repr(schedules.OneCycle(0.1, 100, three_phase=True, base_momentum=None))
        == "OneCycle(max_lr=0.1, total_steps=100, three_phase=True, base_momentum=None)"
    )
    assert repr(schedules.CyclicLR(0.001, 0.01, 20, mode="triangular2")) == (
        "CyclicLR(base_lr=0.001, max_lr=0.01, step_size_up=20.0, mode='triangular2')"
    )


def test_nested_schedules_show_as_written_keras_and_functions_included():
    def decay(step):
        return 0.01 / (1.0 + step)

    joined = schedules.Sequential(
        [schedules.Warmup(0.1, 10), keras.optimizers.schedules.CosineDecay(0.1, 100), decay, lambda step: 0.001],
        boundaries=[10, 110, 120],
    )
    assert repr(joined) == (
        "Sequential(schedules=[Warmup(schedule=0.1, warmup_steps=10), "
        "CosineDecay(initial_learning_rate=0.1, decay_steps=100), decay, <lambda>], boundaries=[10, 110, 120])"
    )


def test_callback_reprs_show_their_arguments():
    x = np.zeros((8, 3), "float32")
    assert repr(keras_lr.LRFinder(num_steps=50, validation_data=(x, x[:, :1]))) == (
        "LRFinder(num_steps=50, validation_data=(<ndarray of shape (8, 3)>, <ndarray of shape (8, 1)>))"
    )
    assert repr(keras_lr.LRFinder(validation_data=({"a": x}, x))) == (
        "LRFinder(validation_data=({'a': <ndarray of shape (8, 3)>}, <ndarray of shape (8, 3)>))"
    )
    # A long list is cut (a PiecewiseConstantDecay of 5000 boundaries was 54,000 characters).
    steps = keras.optimizers.schedules.PiecewiseConstantDecay(list(range(1, 5000)), [0.1] * 5000)
    assert "4, 5, 6, 7, 8, ... 4991 more]" in repr(keras_lr.Scheduler(steps)) and len(repr(keras_lr.Scheduler(steps))) < 300
    assert repr(keras_lr.OneCycle(0.1, pct_start=0.25)) == "OneCycle(max_lr=0.1, pct_start=0.25)"
    assert repr(keras_lr.ReduceLROnPlateau(monitor="loss", frequency=5)) == "ReduceLROnPlateau(monitor='loss', frequency=5)"
    assert repr(keras_lr.Scheduler(schedules.OneCycle(0.1, 100))) == "Scheduler(schedule=OneCycle(max_lr=0.1, total_steps=100))"
    assert repr(keras_lr.BoldDriver()) == "BoldDriver()"
    # A numpy scalar reads as the number it holds.
    assert repr(keras_lr.CyclicLR(np.float64(0.001), 0.01, step_size_up=20)) == "CyclicLR(base_lr=0.001, max_lr=0.01, step_size_up=20)"


def test_a_repr_evaluates_back_to_the_same_config():
    for original in (
        schedules.WarmupStableDecay(0.1, 10, 50, 40, decay="cosine"),
        keras_lr.DivergenceGuard(factor=0.25),
        keras_lr.OneCycle(0.3, total_steps=40, three_phase=True),
    ):
        namespace = {"keras_lr": keras_lr, **vars(schedules)} if isinstance(original, schedules.WarmupStableDecay) else vars(keras_lr)
        assert eval(repr(original), dict(namespace)).get_config() == original.get_config()
