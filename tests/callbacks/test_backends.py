"""What differs between backends: hooks on other threads, compiled steps, mixed precision.

Run under each backend by `make test`; the rates and momenta read back from
the weights are compared with the same numpy references on all three.
"""

import random
import time

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr._engine.optimizers import step_counter
from keras_lr.schedules import OneCycle as OneCycleSchedule
from keras_lr.schedules import evaluate_momentum, evaluate_schedule
from tests.backends import BACKEND
from tests.callbacks.helpers import bias_data, bias_model, fit, sgd_bias_trajectory

STEPS = 10


class SlowHook(keras.callbacks.Callback):
    """An async-safe hook that takes a random while: Keras may run such hooks on other threads."""

    async_safe = True

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(random.random() * 0.004)


class AsyncRecorder(keras.callbacks.Callback):
    """Records the logged rate of each (epoch, batch), from hooks that may run out of order."""

    async_safe = True

    def on_train_begin(self, logs=None):
        self.rates, self.epoch = {}, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.rates[self.epoch * STEPS + batch] = logs["learning_rate"]


@pytest.mark.parametrize("repeat", range(3))
def test_logged_rates_do_not_depend_on_hook_timing(repeat):
    random.seed(repeat)
    model = bias_model(keras.optimizers.SGD(0.01, momentum=0.9))
    recorder = AsyncRecorder()
    x, y = bias_data()
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False,
                        callbacks=[keras_lr.OneCycle(0.05), SlowHook(), recorder])
    expected = evaluate_schedule(OneCycleSchedule(0.05, 3 * STEPS), range(3 * STEPS))
    np.testing.assert_allclose([recorder.rates[s] for s in range(3 * STEPS)], expected, rtol=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"], expected[[9, 19, 29]], rtol=1e-6)


@pytest.mark.skipif(BACKEND == "torch", reason="jit_compile under torch is torch.compile, which keras_lr does not test")
def test_schedule_and_momentum_act_in_a_jit_compiled_step():
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros")]
    )
    model.compile(keras.optimizers.SGD(0.5, momentum=0.9), lambda y, p: keras.ops.mean(p), jit_compile=True)
    _, recorder = fit(model, [keras_lr.OneCycle(0.1)])
    reference = OneCycleSchedule(0.1, 3 * STEPS)
    steps = range(3 * STEPS)
    expected = sgd_bias_trajectory(evaluate_schedule(reference, steps), evaluate_momentum(reference, steps))
    np.testing.assert_allclose(recorder.bias, expected, rtol=1e-5)


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_schedule_and_momentum_act_under_mixed_precision(mixed_precision):
    model = bias_model(keras.optimizers.SGD(0.5, momentum=0.9))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    _, recorder = fit(model, [keras_lr.OneCycle(0.1)])
    reference = OneCycleSchedule(0.1, 3 * STEPS)
    steps = range(3 * STEPS)
    expected = sgd_bias_trajectory(evaluate_schedule(reference, steps), evaluate_momentum(reference, steps))
    np.testing.assert_allclose(recorder.bias, expected, rtol=1e-4)


def test_the_range_test_restores_the_loss_scale_under_mixed_precision(mixed_precision):
    model = bias_model(keras.optimizers.Adam(0.01))
    model.fit(*bias_data(), batch_size=4, epochs=1, verbose=0)
    before = [v.numpy().tobytes() for v in model.optimizer.variables] + [v.numpy().tobytes() for v in model.weights]
    scale = float(model.optimizer.dynamic_scale.numpy())
    keras_lr.lr_find(model, *bias_data(), batch_size=4, num_steps=15, divergence_threshold=1e9, verbose=0)
    after = [v.numpy().tobytes() for v in model.optimizer.variables] + [v.numpy().tobytes() for v in model.weights]
    assert after == before and float(model.optimizer.dynamic_scale.numpy()) == scale


@pytest.mark.skipif(BACKEND == "jax", reason="JAX's step reads the multiplier itself; its hooks count the skipped steps")
def test_a_cut_lands_at_the_optimizers_step_when_a_loss_scale_skips_steps(mixed_precision):
    # The gradient (20) times the loss scale (2**15) overflows float16: the LossScaleOptimizer skips the first 4
    # steps and its counter stays. Counted from the hooks, a cut at the 12th hook was recorded at step 12 where
    # the optimizer was at 8, and PyTorch's eager step, reading the rate at its counter, trained the rest of the
    # epoch at the old rate.
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(0.01), loss=lambda y, p: 20.0 * keras.ops.mean(keras.ops.cast(p, "float32")))
    x = np.random.default_rng(0).normal(size=(128, 4)).astype("float32")
    plateau = keras_lr.ReduceLROnPlateau(monitor="loss", mode="max", frequency=6, factor=0.5, patience=0)
    biases = []
    keep = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: biases.append(
        float(keras.ops.convert_to_numpy(model.layers[-1].bias)[0])))
    model.fit(x, np.zeros((128, 1), "float32"), batch_size=8, epochs=1, verbose=0, shuffle=False,
              callbacks=[plateau, keep])
    applied = -np.diff([0.0] + biases) / 20.0
    np.testing.assert_allclose(applied[:4], 0.0)  # skipped
    assert int(step_counter(model.optimizer).numpy()) == 12  # (Keras 3.3's LossScaleOptimizer counts in its inner one)
    events = plateau.events_frame()
    assert list(events.step) == [8]  # the optimizer's 9th step, the 13th batch's
    np.testing.assert_allclose(applied[4:12], 0.01, rtol=1e-3)
    np.testing.assert_allclose(applied[12:], 0.005, rtol=1e-3)
