"""lr_find and the LRFinder callback on tiny models: restore, inputs, arguments."""

import contextlib
import io
import re
import warnings

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import keras_lr
from keras_lr._engine.recommendation import Recommendation, peak_from
from keras_lr._engine.optimizers import is_variable
from tests.backends import BACKEND, KERAS_VERSION, needs_steps_per_execution


def regression_data(samples=256):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32") + 0.1 * rng.normal(size=(samples, 1)).astype("float32")
    return x, y


def model_with(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer, "mse")
    return model


def trained(optimizer):
    """A model one epoch into training, so every optimizer variable holds something."""
    model = model_with(optimizer)
    x, y = regression_data()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model


def state(model):
    """The bytes of every model and optimizer variable."""
    return [v.numpy().tobytes() for v in model.variables] + [v.numpy().tobytes() for v in model.optimizer.variables]


class Fail(Exception):
    pass


@pytest.fixture
def raise_at_step(monkeypatch):
    """Makes the range test raise ``error`` in its 5th batch hook (fit's Python loop, as Ctrl-C would)."""

    def arm(error):
        original = keras_lr.LRFinder.on_train_batch_end

        def hook(self, batch, logs=None):
            original(self, batch, logs)
            if len(self._losses) == 5:
                raise error

        monkeypatch.setattr(keras_lr.LRFinder, "on_train_batch_end", hook)

    return arm


def finished(model):
    # Batch losses of a barely trained model vary several-fold: no early stop on that.
    return keras_lr.lr_find(model, *regression_data(), end_lr=0.01, num_steps=20, divergence_threshold=100.0, verbose=0)


def diverged(model):
    return keras_lr.lr_find(model, *regression_data(), start_lr=1e-3, end_lr=1e3, num_steps=60, verbose=0)


def nan(model):
    # The first step's update overflows the weights: the second loss is not finite.
    return keras_lr.lr_find(model, *regression_data(), start_lr=1e30, end_lr=1e35, num_steps=30, verbose=0)


def exception(model, raise_at_step):
    raise_at_step(Fail())
    with pytest.raises(Fail):
        keras_lr.lr_find(model, *regression_data(), num_steps=20, verbose=0)


def interrupt(model, raise_at_step):
    raise_at_step(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        keras_lr.lr_find(model, *regression_data(), num_steps=20, verbose=0)


@pytest.mark.parametrize("ending", [finished, diverged, nan, exception, interrupt])
@pytest.mark.parametrize("make_optimizer", [lambda: keras.optimizers.SGD(0.01, momentum=0.9), lambda: keras.optimizers.Adam(0.01)], ids=["sgd-momentum", "adam"])
def test_everything_is_restored_bitwise(ending, make_optimizer, raise_at_step):
    model = trained(make_optimizer())
    before = state(model)
    rate = model.optimizer._learning_rate
    result = ending(model, raise_at_step) if ending in (exception, interrupt) else ending(model)
    assert state(model) == before
    assert model.optimizer._learning_rate is rate
    assert float(model.optimizer.learning_rate.numpy()) == np.float32(0.01)
    if result is not None:
        assert len(result.frame) > 0
    # And training goes on exactly as it would have.
    twin = trained(make_optimizer())
    x, y = regression_data()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    twin.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    assert state(model) == state(twin)


def test_optimizers_held_beside_the_compiled_one_are_put_back():
    # A GAN's train_step steps a d_optimizer of its own: the range test moved its moments and counter (60
    # steps of a 60-step test), which the next fit went on from.
    from keras_lr._engine.state import ModelState

    model = trained(keras.optimizers.Adam(0.01))
    model.d_optimizer = keras.optimizers.Adam(0.01)
    weight = keras.Variable(np.ones(3, "float32"))
    model.d_optimizer.build([weight])
    model.d_optimizer.apply([keras.ops.ones((3,))], [weight])
    before = [v.numpy().tobytes() for v in model.d_optimizer.variables]
    saved = ModelState(model)
    for _ in range(3):
        model.d_optimizer.apply([keras.ops.ones((3,))], [weight])
    saved.restore()
    assert [v.numpy().tobytes() for v in model.d_optimizer.variables] == before
    # Not built yet when the state is taken (a fresh GAN): the moments its first step creates go back to a
    # fresh optimizer's, not the test's (the counter went back to 0 and the moments stayed).
    model.g_optimizer = keras.optimizers.Adam(0.01)
    saved = ModelState(model)
    for _ in range(3):
        model.g_optimizer.apply([keras.ops.ones((3,))], [weight])
    saved.restore()
    assert all(not np.any(v.numpy()) for v in model.g_optimizer.variables if "learning_rate" not in v.path)


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX's stateless step gives compute_loss no iterations")
def test_a_trained_models_reliable_answer_keeps_the_trained_note_as_a_note():
    # Its reasons are empty exactly when it is reliable: a trained model's curve that barely fell yet read as
    # reliable had the note among its reasons, and its repr lost it. Its loss is a scripted curve, read at the
    # test's step (the model had taken 160 steps before). Its 300 steps are one pass over the rows: over one batch
    # cycled, each step was an epoch, and the test took 14 s under TensorFlow (a data iterator made twice an epoch).
    rng = np.random.default_rng(0)
    steps = np.arange(300)
    noise, dip, rise_at = rng.uniform(0.01, 0.08), rng.uniform(0.0, 0.09), rng.integers(200, 290)
    base = 1.0 - dip * np.clip((steps - 30) / (rise_at - 30), 0, 1)
    base = np.where(steps > rise_at, base * np.exp((steps - rise_at) / 5.0), base)
    table = keras.ops.convert_to_tensor((base * (1 + noise * rng.standard_normal(300))).astype("float32"))

    class Scripted(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            step = keras.ops.minimum(keras.ops.cast(self.optimizer.iterations, "int32") - 160, 299)
            return keras.ops.take(table, step) + 0.0 * keras.ops.sum(y_pred)

    inputs = keras.Input((4,))
    model = Scripted(inputs, keras.layers.Dense(1)(inputs))
    model.compile(keras.optimizers.SGD(0.01))
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(160)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        result = keras_lr.lr_find(model, np.zeros((300 * 32, 4), "float32"), batch_size=32, retry=False, verbose=0)
    assert result.reliable and result.reasons == []
    assert any("had trained on 160 batches" in note for note in result.notes) and "had trained on" in repr(result)


def test_the_compiled_metrics_are_put_back():
    model = model_with(keras.optimizers.Adam(0.01))
    model.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    x, y = regression_data()
    keras_lr.lr_find(model, x, y, num_steps=30, retry=False, verbose=0)  # built by the test: reset after it
    assert {name: float(value) for name, value in model.get_metrics_result().items()} == {"loss": 0.0, "mae": 0.0}
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    before = {name: float(value) for name, value in model.get_metrics_result().items()}
    keras_lr.lr_find(model, x, y, num_steps=30, retry=False, verbose=0)
    assert {name: float(value) for name, value in model.get_metrics_result().items()} == before


def test_a_multi_output_models_loss_trackers_made_by_the_test_are_reset():
    # Keras makes each output's loss tracker at the first step, after the snapshot of a fresh model: they kept
    # the test's losses (a_loss 2.86 after the test).
    x, y = regression_data()
    inputs = keras.Input((x.shape[1],))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, {"a": keras.layers.Dense(1, name="a")(hidden), "b": keras.layers.Dense(1, name="b")(hidden)})
    model.compile(keras.optimizers.Adam(0.01), {"a": "mse", "b": "mse"})
    keras_lr.lr_find(model, x, {"a": y, "b": -y}, num_steps=30, retry=False, verbose=0)
    results = {name: float(value) for name, value in model.get_metrics_result().items()}
    assert results and set(results.values()) == {0.0}  # (Keras 3.3 keeps no tracker per output)


def test_nan_in_the_data_is_named_and_not_tested_again():
    # One NaN in x: on TensorFlow the loss stayed finite while the weights went NaN, "never fell" after 1200 steps
    # (the test run again); on JAX and PyTorch "too few points: raise num_steps". Neither advice can help.
    model = model_with(keras.optimizers.Adam())
    x, y = regression_data()
    x = x.copy()
    x[5, 1] = np.nan
    with pytest.warns(UserWarning, match=r"lr_find: .*cannot support a suggestion: x holds 1 NaN or infinite value: "
                                         r".*fill or drop them") as record:
        result = keras_lr.lr_find(model, x, y, num_steps=60, seed=0, verbose=0)
    assert not result.reliable and result.first_test is None and len(result.frame) <= 60
    assert len(result.reasons) == 1  # the one cause, not the curve's reading of it
    assert len([w for w in record if str(w.message).startswith("lr_find")]) == 1


def test_nan_in_a_generators_batches_says_to_check_the_data_and_is_not_tested_again():
    # A generator is not read ahead. TensorFlow's loss stayed finite on NaN weights, and the test ran on to
    # "neither fell nor rose" and a second test; JAX's and PyTorch's stopped at the NaN, "too few points: raise
    # num_steps, or lower start_lr".
    model = model_with(keras.optimizers.Adam())
    x, y = regression_data()
    x = x.copy()
    x[40, 1] = np.nan

    def batches():
        while True:
            for start in range(0, len(x), 32):
                yield x[start:start + 32], y[start:start + 32]

    with pytest.warns(UserWarning, match=r"NaN or infinite value in the data does it \(lr_find names those in arrays; "
                                         r"a dataset or a generator is not read ahead\)") as record:
        result = keras_lr.lr_find(model, batches(), num_steps=60, seed=0, verbose=0)
    assert not result.reliable and result.first_test is None and len(result.frame) <= 60
    assert len(result.reasons) == 1 and "num_steps" not in result.reasons[0]
    assert len([w for w in record if str(w.message).startswith("lr_find")]) == 1
    assert all(np.isfinite(v.numpy()).all() for v in model.weights)  # put back


@pytest.mark.parametrize("seed", [0, 6, 7])
def test_nan_in_a_datasets_batches_is_never_a_reliable_answer(seed):
    # One NaN in digits through a shuffled tf.data set, under TensorFlow: the weights went NaN and the loss stayed
    # finite at a dead network's constant (2.303); over 12 seeds the first test read reliable (seed 7: a peak of
    # 0.0058 OneCycle trained at), "rose within a decade of the first rate", or was run again and read "never
    # fell" or "not steady". JAX and PyTorch stop on the NaN loss.
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    x[5, 3] = np.nan
    data = tf.data.Dataset.from_tensor_slices((x, digits.target)).shuffle(2000, seed=0).batch(32)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
    with pytest.warns(UserWarning, match="NaN or infinite value in the data"):
        result = keras_lr.lr_find(model, data, seed=0, verbose=0)
    assert not result.reliable and result.first_test is None and len(result.reasons) == 1


def test_a_weight_infinite_by_design_is_no_nan_from_the_data():
    # A layer keeping a running maximum from -inf: the weights' check at the test's end read it as the data's NaN.
    class RunningMax(keras.layers.Layer):
        def build(self, shape):
            self.seen = self.add_weight(shape=(), initializer=keras.initializers.Constant(-np.inf), trainable=False)

        def call(self, x):
            return x

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), RunningMax(),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(), "mse")
    result = keras_lr.lr_find(model, *regression_data(), num_steps=150, seed=0, verbose=0)
    assert not any("NaN" in reason for reason in result.reasons), result.reasons


def test_a_loss_that_fell_then_overflowed_keeps_its_own_reading():
    # A curve that fell, then turned NaN in one step (a start too high, an exploding gradient) moved: its NaN is
    # the rate's, and the advice stays the curve's ("lower start_lr"), not the data's.
    rates = np.geomspace(0.5, 50, 300)[:9]
    losses = np.r_[np.linspace(2.3, 0.6, 8), np.nan]
    result = keras_lr.LRFinderResult(pd.DataFrame({"learning_rate": rates, "loss": losses}), warn=False)
    assert result.reasons and not any("in the data" in reason for reason in result.reasons), result.reasons
    assert any("start_lr" in reason for reason in result.reasons)


def test_endings_are_what_they_say():
    model = trained(keras.optimizers.SGD(0.01, momentum=0.9))
    assert finished(model).stopped_early is None
    assert "exceeded 4 x its best" in diverged(model).stopped_early
    with pytest.warns(UserWarning, match="cannot support a suggestion"):
        result = nan(model)
    assert result.stopped_early.split()[:4] in (["the", "loss", "was", "inf"], ["the", "loss", "was", "nan"])
    assert not result.reliable


def test_a_schedule_in_the_optimizer_is_replaced_and_put_back():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 100, 0.5)
    model = trained(keras.optimizers.SGD(schedule))
    before = state(model)
    result = keras_lr.lr_find(model, *regression_data(), start_lr=1e-4, end_lr=1.0, num_steps=30, retry=False, verbose=0)
    np.testing.assert_allclose(result.frame.learning_rate, np.logspace(-4, 0, 30)[: len(result.frame)], rtol=1e-6)
    assert model.optimizer._learning_rate is schedule
    assert state(model) == before


def excluding_biases(optimizer):
    (getattr(optimizer, "inner_optimizer", None) or optimizer).exclude_from_weight_decay(var_names=["bias"])
    return optimizer


@pytest.mark.parametrize("make_optimizer", [
    lambda: keras.optimizers.AdamW(0.01),
    lambda: excluding_biases(keras.optimizers.LossScaleOptimizer(keras.optimizers.AdamW(0.5, weight_decay=0.5)))],
    ids=["adamw", "loss-scale-adamw-excluding-biases"])
def test_an_optimizer_no_fit_has_built_is_left_unbuilt(make_optimizer):
    # Built for the head of a frozen base, it failed the fine-tuning fit after base.trainable = True and a
    # recompile with it ("Unknown variable"; under JAX the failed fit emptied the model's variables), and
    # refused exclude_from_weight_decay, which Keras allows only before the build.
    x, y = regression_data()
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu")])
    base.trainable = False
    model = keras.Sequential([keras.Input((4,)), base, keras.layers.Dense(1)])
    optimizer = make_optimizer()
    model.compile(optimizer, "mse")
    before = state(model)
    result = keras_lr.lr_find(model, x, y, num_steps=30, retry=False, seed=0, verbose=0)
    assert model.optimizer is optimizer and not optimizer.built and state(model) == before
    # Not a copy where its config would not make it again: a subclass's may leave out an argument of its own.
    class Custom(keras.optimizers.SGD):
        pass

    custom = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    custom.compile(Custom(0.01), "mse")
    keras_lr.lr_find(custom, x, y, num_steps=5, retry=False, verbose=0)
    assert custom.optimizer.built
    # The same test as on the optimizer built beforehand.
    built = keras.models.clone_model(model)
    built.set_weights(model.get_weights())
    built.compile(make_optimizer(), "mse")
    built.optimizer.build(built.trainable_variables)
    again = keras_lr.lr_find(built, x, y, num_steps=30, retry=False, seed=0, verbose=0)
    np.testing.assert_array_equal(result.frame.loss, again.frame.loss)
    # Fine-tuning with it.
    base.trainable = True
    if isinstance(optimizer, keras.optimizers.AdamW):
        excluding_biases(optimizer)
    model.compile(optimizer, "mse")
    frozen = base.get_weights()[0].copy()
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(base.get_weights()[0], frozen)  # the base trains now


def test_loss_scale_optimizer_is_restored():
    model = trained(keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(0.01)))
    before = state(model)
    keras_lr.lr_find(model, *regression_data(), num_steps=30, verbose=0)
    assert state(model) == before


def test_gradient_accumulation_trains_at_the_rates_tested_and_is_restored():
    # Keras's `iterations` counts updates here, a new tensor at each read: a range test read
    # from it stayed at start_lr, and its loss never moved.
    model = trained(keras.optimizers.SGD(0.01, gradient_accumulation_steps=2))
    before = state(model)
    result = keras_lr.lr_find(model, *regression_data(), start_lr=1e-4, end_lr=1.0, num_steps=40, retry=False, verbose=0)
    assert state(model) == before
    losses = result.frame.loss.to_numpy()
    assert losses[-10:].min() < 0.5 * losses[:5].mean()


def test_sample_and_class_weights_are_in_the_tested_loss():
    # As in fit: a weighted training's curve is the weighted loss (the first step's loss, before any
    # update, is exactly twice the unweighted one under sum_over_batch_size).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")

    def first_loss(**weights):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
        result = keras_lr.lr_find(model, x, y, batch_size=32, num_steps=20, retry=False, seed=0, verbose=0, **weights)
        return result.frame.loss.iloc[0]

    plain = first_loss()
    assert first_loss(sample_weight=np.full(len(x), 2.0, "float32")) == pytest.approx(2 * plain, rel=1e-5)
    assert first_loss(class_weight={0: 2.0, 1: 2.0, 2: 2.0}) == pytest.approx(2 * plain, rel=1e-5)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    with pytest.raises(ValueError, match="lr_find: y, batch_size and sample_weight go with array inputs; .*sample_weight, a ndarray"):
        keras_lr.lr_find(model_with(keras.optimizers.Adam()), dataset, sample_weight=np.ones(len(x)))
    with pytest.raises(ValueError, match=r"lr_find: class_weight must be a dict .*received class_weight=\[1.0, 2.0\]"):
        keras_lr.lr_find(model_with(keras.optimizers.Adam()), x, y, class_weight=[1.0, 2.0])


def test_the_rates_follow_the_range():
    model = model_with(keras.optimizers.SGD())
    result = keras_lr.lr_find(model, *regression_data(), start_lr=1e-5, end_lr=1e-1, num_steps=40, retry=False, verbose=0)
    np.testing.assert_allclose(result.frame.learning_rate, np.logspace(-5, -1, 40), rtol=1e-6)
    result = keras_lr.lr_find(model, *regression_data(), start_lr=1e-3, end_lr=1e-2, num_steps=10, mode="linear", retry=False, verbose=0)
    np.testing.assert_allclose(result.frame.learning_rate, np.linspace(1e-3, 1e-2, 10), rtol=1e-6)


def test_recorded_losses_are_each_batchs_loss():
    model = model_with(keras.optimizers.SGD())
    x, y = regression_data(64)
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    # At a rate of ~0 the weights do not move: each batch's loss is the starting model's loss on it.
    result = keras_lr.lr_find(model, batches, start_lr=1e-30, end_lr=1e-29, num_steps=4, retry=False, verbose=0)
    per_batch = [model.evaluate(x[i : i + 16], y[i : i + 16], verbose=0) for i in range(0, 64, 16)]
    np.testing.assert_allclose(result.frame.loss, per_batch, rtol=1e-5)


def four_batches(kind, x, y):
    """``x`` and ``y`` as lr_find's data of the ``kind`` named, in four batches."""
    size = len(x) // 4

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, index):
            return x[index * size : (index + 1) * size], y[index * size : (index + 1) * size]

    def generator():
        for i in range(4):
            yield x[i * size : (i + 1) * size], y[i * size : (i + 1) * size]

    return {
        "numpy": lambda: dict(x=x, y=y, batch_size=size),
        "dataset": lambda: dict(x=tf.data.Dataset.from_tensor_slices((x, y)).batch(size)),
        "dataset of unknown length": lambda: dict(
            x=tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda *_: True).batch(size)),
        "infinite dataset": lambda: dict(x=tf.data.Dataset.from_tensor_slices((x, y)).batch(size).repeat()),
        "pydataset": lambda: dict(x=Batches()),
        "generator": lambda: dict(x=generator()),
    }[kind]()


@pytest.mark.parametrize("kind", ["numpy", "dataset", "infinite dataset", "pydataset", "generator"])
def test_input_types_and_short_data_is_cycled(kind):
    data = four_batches(kind, *regression_data(64))  # 4 batches of 16, for a 12-step test
    model = model_with(keras.optimizers.SGD())
    result = keras_lr.lr_find(model, **data, start_lr=1e-4, end_lr=1e-2, num_steps=12, retry=False, verbose=0)
    assert len(result.frame) == 12
    assert np.all(np.isfinite(result.frame.loss))


@pytest.mark.parametrize("kind", ["numpy", "dataset", "dataset of unknown length", "generator"])
def test_each_loss_is_paired_with_the_rate_its_step_trained_at_over_cycled_data(kind):
    # One weight w, loss w, plain SGD: each step moves w by its rate, so the loss recorded at row i less the
    # next row's is the rate row i trained at. Under TensorFlow (no XLA) fit ends each pass over a dataset of
    # unknown length (a filter, from_generator, TFRecordDataset) with a call that trains nothing but counts a
    # step: after k passes each loss was paired with the rate k steps before its own (the peak 3.4x low).
    data = four_batches(kind, np.ones((40, 1), "float32"), np.zeros((40, 1), "float32"))  # for 20 steps
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(0.5), lambda y_true, y_pred: keras.ops.squeeze(y_pred, -1), jit_compile=False)
    result = keras_lr.lr_find(model, **data, start_lr=1e-3, end_lr=1e-1, num_steps=20, retry=False, verbose=0)
    frame = result.frame
    assert len(frame) == 20
    np.testing.assert_allclose(-np.diff(frame.loss), frame.learning_rate[:-1], rtol=1e-3)
    assert float(model.layers[0].kernel.numpy()[0, 0]) == 0.0  # restored


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a tf.distribute dataset goes to TensorFlow's fit")
def test_a_tf_distribute_dataset():
    # Its cardinality is a property, not a method: "'numpy.int64' object is not callable".
    x, y = regression_data(64)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    data = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(16))
    result = keras_lr.lr_find(model_with(keras.optimizers.SGD()), data, num_steps=12, retry=False, verbose=0)
    assert len(result.frame) == 12


def test_a_test_that_ran_every_step_did_not_stop_early():
    # Its smoothed loss passed the divergence rule at the last step: it reported stopped_early ("the test ended
    # before num_steps", which it had not), said "lr_find stopped early", and skipped the collapse check.
    from sklearn.datasets import load_digits

    digits = load_digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
    result = keras_lr.lr_find(model, (digits.data / 16.0).astype("float32"), digits.target, batch_size=32, seed=0,
                              num_steps=20, retry=False, verbose=0)
    assert len(result.frame) < 20 or result.stopped_early is None


def test_validation_mode():
    x, y = regression_data()
    model = model_with(keras.optimizers.SGD())
    result = keras_lr.lr_find(model, x[:192], y[:192], validation_data=(x[192:], y[192:]), start_lr=1e-4, end_lr=10.0, num_steps=30, verbose=0)
    assert list(result.frame.columns) == ["learning_rate", "loss", "smoothed_loss", "val_loss"]
    assert result.monitor == "val_loss"
    first = result.frame.val_loss[0]
    assert first == pytest.approx(model.evaluate(x[192:], y[192:], verbose=0), rel=0.05)


def test_validation_data_with_sample_weights():
    # (x, y, sample_weight), as fit takes it: evaluate's third positional argument is batch_size.
    x, y = regression_data()
    weights = np.where(np.arange(len(x) - 192) % 2 == 0, 3.0, 0.0).astype("float32")
    model = model_with(keras.optimizers.SGD())
    expected = model.evaluate(x[192:], y[192:], sample_weight=weights, verbose=0)
    result = keras_lr.lr_find(model, x[:192], y[:192], validation_data=(x[192:], y[192:], weights),
                              start_lr=1e-4, end_lr=1e-2, num_steps=5, retry=False, verbose=0)
    assert result.frame.val_loss[0] == pytest.approx(expected, rel=0.01)
    assert expected != pytest.approx(model.evaluate(x[192:], y[192:], verbose=0), rel=0.02)  # the weights count


def test_a_trained_models_flat_test_says_the_model_was_trained():
    # A user's mistake: the range test on a model fit for 20 epochs. Its loss has nothing left to fall, and the
    # curve, flat to the batches' noise until it rose, was "not steady: raise num_steps", which a longer test
    # does not help (a digits MLP trained for 30 epochs: not steady at 300 steps and at 900).
    x, y = regression_data()
    model = model_with(keras.optimizers.Adam(0.01))
    model.fit(x, y, batch_size=32, epochs=20, verbose=0)
    with pytest.warns(UserWarning, match="the model had trained on 160 batches before the test"):
        result = keras_lr.lr_find(model, x, y, batch_size=32, num_steps=100, seed=1, retry=False, verbose=0)
    assert not result.reliable and result.rise_lr > 1e-3
    # The one reason: not also "raise num_steps", which tested the trained model longer (a newcomer re-running
    # the notebook's range-test cell after training was told both; 900 steps read as reliable, without a word).
    assert len(result.reasons) == 1 and "run it on the model as built" in result.reasons[0]
    assert "num_steps" not in result.reasons[0]
    with pytest.warns(UserWarning, match="the model had trained on 160 batches before the test") as caught:
        longer = keras_lr.lr_find(model, x, y, batch_size=32, num_steps=900, seed=1, retry=False, verbose=0)
    assert longer.reliable and not [w for w in caught if "num_steps" in str(w.message)]
    assert "for training on from these weights" in longer.notes[-1]
    # OneCycle's refusal quotes the reasons: it says so too, not only "raise num_steps".
    with pytest.raises(ValueError, match="had trained on 160 batches.*run it on the model as built"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[keras_lr.OneCycle(max_lr=result)])
    assert "had trained on 160" in repr(result)
    # The model as built falls; one trained for 20 epochs but tested over rates too low to move its loss never
    # rose, and may be flat for that: neither is told it was trained.
    fresh = keras_lr.lr_find(model_with(keras.optimizers.Adam(0.01)), x, y, num_steps=100, seed=1, verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        low = keras_lr.lr_find(model, x, y, start_lr=1e-7, end_lr=1e-6, num_steps=100, seed=1, retry=False, verbose=0)
    assert not low.reliable
    for said in [*fresh.notes, *low.notes, *(str(w.message) for w in caught)]:
        assert "had trained" not in said


@pytest.mark.parametrize("make", [lambda: keras.optimizers.SGD(0.1, momentum=0.9),
                                  lambda: keras.optimizers.RMSprop(0.01, momentum=0.9)], ids=["sgd", "rmsprop"])
def test_a_trained_models_momentum_buffer_is_not_carried_into_the_test(make):
    # Keras's SGD and RMSprop keep momentum as a step already scaled by the rate: after a fit at 0.1, the
    # test's steps at 1e-7 moved the weights by the old rate for tens of steps, and its low-rate curve (and
    # peak, 2-3x off) came from the last fit. The test starts from still buffers, as a fresh optimizer does;
    # the model gets its buffers back afterwards.
    x, y = regression_data()
    model, still = trained(make()), trained(make())
    buffers = [v for v in still.optimizer.variables if "momentum" in v.path]
    assert buffers and any(np.abs(v.numpy()).max() > 0 for v in buffers)
    for variable in buffers:
        variable.assign(np.zeros(variable.shape, variable.dtype))
    before = state(model)
    carried = keras_lr.lr_find(model, x, y, start_lr=1e-7, end_lr=1e-5, num_steps=20, seed=0, retry=False, verbose=0)
    assert state(model) == before
    fresh = keras_lr.lr_find(still, x, y, start_lr=1e-7, end_lr=1e-5, num_steps=20, seed=0, retry=False, verbose=0)
    np.testing.assert_allclose(carried.frame.loss, fresh.frame.loss, rtol=1e-6)


def test_seed_makes_runs_identical():
    x, y = regression_data()
    model = model_with(keras.optimizers.Adam())
    first = keras_lr.lr_find(model, x, y, num_steps=40, seed=3, verbose=0)
    second = keras_lr.lr_find(model, x, y, num_steps=40, seed=3, verbose=0)
    assert first.frame.equals(second.frame)
    assert first.suggestions == second.suggestions
    other = keras_lr.lr_find(model, x, y, num_steps=40, seed=4, verbose=0)
    assert not first.frame.loss.equals(other.frame.loss)


@pytest.mark.parametrize("verbose", [1, True])  # True, as Keras's fit takes it
def test_progress_bar_at_verbose_1(verbose):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        keras_lr.lr_find(model_with(keras.optimizers.SGD()), *regression_data(), end_lr=0.01, num_steps=5,
                         verbose=verbose)
    assert "5/5" in out.getvalue() and "learning_rate" in out.getvalue()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        keras_lr.lr_find(model_with(keras.optimizers.SGD()), *regression_data(), end_lr=0.01, num_steps=5, verbose=0)
    assert out.getvalue() == ""


def test_the_progress_bar_ends_at_the_step_a_stopped_test_ended_on(monkeypatch):
    # Keras's bar shows an update at most every 0.05 s: a test that diverged was left showing an earlier step
    # (229/300 at 0.126 above "stopped early ... at learning rate 0.264"; 241 steps recorded). Every update but
    # the bar's last falls within that interval here.
    original = keras.utils.Progbar.__init__
    monkeypatch.setattr(keras.utils.Progbar, "__init__", lambda self, *args, **kwargs: (
        original(self, *args, **{**kwargs, "interval": 1e9})))
    x, y = regression_data()
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out):
        warnings.simplefilter("ignore")
        result = keras_lr.lr_find(model_with(keras.optimizers.SGD()), x, y, start_lr=1e-3, end_lr=100.0, num_steps=200,
                                  seed=0, retry=False, verbose=1)
    steps = len(result.frame)
    assert result.stopped_early is not None and steps < 200
    printed = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()).replace("\r", "\n")  # less the bold and colour
    bars = [line for line in printed.splitlines() if "/200" in line]
    assert bars and bars[-1].lstrip().startswith(f"{steps}/200 ")
    assert f"learning_rate: {result.frame.learning_rate.iloc[-1]:.4f}" in bars[-1]


@needs_steps_per_execution
def test_steps_per_execution_is_set_aside_for_the_test():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(), "mse", steps_per_execution=4)
    result = keras_lr.lr_find(model, *regression_data(), end_lr=0.01, num_steps=10, retry=False, verbose=0)
    assert len(result.frame) == 10
    assert model.steps_per_execution == 4


@needs_steps_per_execution
def test_an_interrupted_test_leaves_the_models_own_train_function():
    # The test's fit runs one step per execution. Its session, closed at the next fit, put back the
    # train function the test had traced over the model's own, restored (none yet): 1 step in 4 trained.
    model = model_with(keras.optimizers.SGD(0.01))
    model.compile(keras.optimizers.SGD(0.01), "mse", steps_per_execution=4)
    x, y = regression_data()

    def batches():  # Ctrl-C while the data loads
        for i in range(10):
            yield x[32 * (i % 8):32 * (i % 8 + 1)], y[32 * (i % 8):32 * (i % 8 + 1)]
        raise KeyboardInterrupt

    with pytest.raises((KeyboardInterrupt, Exception)):  # TensorFlow's data pipeline reraises an UnknownError
        keras_lr.lr_find(model, batches(), num_steps=50, verbose=0)
    before = int(model.optimizer.iterations.numpy())
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert model.steps_per_execution == 4
    assert int(model.optimizer.iterations.numpy()) - before == 8


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(start_lr=1.0, end_lr=1.0), "end_lr must be greater than start_lr; received start_lr=1.0, end_lr=1.0"),
        (dict(start_lr=0.0), "start_lr must be > 0"),
        (dict(end_lr=-1.0), "end_lr must be > 0"),
        (dict(num_steps=1), "num_steps must be an integer >= 2"),
        (dict(mode="log"), "mode must be one of"),
        (dict(smoothing=1.0), "smoothing must be in"),
        (dict(divergence_threshold=1.0), "divergence_threshold must be > 1"),
        (dict(seed=-1), "seed must be an integer >= 0"),
        (dict(validation_data=(1, 2, 3, 4)), "validation_data must be .*received a sequence of length 4"),
        (dict(validation_data=5), "validation_data must be .*received validation_data=5"),
        (dict(validation_data="val.csv"), "validation_data must be .*received validation_data='val.csv'"),
        (dict(validation_data=np.zeros((8, 4))), "validation_data must be .*received a numpy array of shape "
                                                 r"\(8, 4\): pass \(x_val, y_val\)"),
    ],
)
def test_bad_arguments(arguments, message):
    model = model_with(keras.optimizers.SGD())
    with pytest.raises(ValueError, match=f"lr_find: {message}"):
        keras_lr.lr_find(model, *regression_data(), **arguments)


def test_models_it_cannot_test():
    x, y = regression_data()
    uncompiled = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="lr_find: the model is not compiled"):
        keras_lr.lr_find(uncompiled, x, y)
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    unbuilt.compile(keras.optimizers.SGD(), "mse")
    with pytest.raises(ValueError, match="lr_find: the model is not built"):
        keras_lr.lr_find(unbuilt, x, y)
    no_rate = model_with(keras.optimizers.SGD())
    no_rate.optimizer._learning_rate = None
    with pytest.raises(ValueError, match="lr_find: the optimizer SGD has no learning rate"):
        keras_lr.lr_find(no_rate, x, y)
    with pytest.raises(ValueError, match="lr_find: y, batch_size and sample_weight go with array inputs; x is a .*received batch_size=8"):
        keras_lr.lr_find(model_with(keras.optimizers.SGD()), tf.data.Dataset.from_tensor_slices((x, y)).batch(8), batch_size=8)
    with pytest.raises(ValueError, match="lr_find: x, a generator, yielded no batches: it is read once, so if an earlier fit"):
        keras_lr.lr_find(model_with(keras.optimizers.SGD()), (batch for batch in []))
    # Empty data: it had read as a curve of "too few points", with advice to raise num_steps.
    with pytest.raises(ValueError, match=r"lr_find: x has no rows \(shape \(0, 4\)\): nothing to train on"):
        keras_lr.lr_find(model_with(keras.optimizers.SGD()), x[:0], y[:0])
    # A dataset of inputs alone: Keras's "None values not supported", and a model that could not fit again.
    model = model_with(keras.optimizers.SGD())
    with pytest.raises(ValueError, match=r"lr_find: x, a .*Dataset, yields inputs alone, with no targets for the loss"):
        keras_lr.lr_find(model, tf.data.Dataset.from_tensor_slices(x).batch(8))
    assert len(keras_lr.lr_find(model, x, y, num_steps=20, verbose=0).frame) > 0  # the model still fits
    if BACKEND == "tensorflow":  # an autoencoder's train_step of its own takes x as its target: not refused
        class AutoEncoder(keras.Sequential):
            def train_step(self, data):
                return super().train_step((data, data))

        encoder = AutoEncoder([keras.Input((4,)), keras.layers.Dense(2), keras.layers.Dense(4)])
        encoder.compile(keras.optimizers.SGD(), "mse")
        assert len(keras_lr.lr_find(encoder, tf.data.Dataset.from_tensor_slices(x).batch(8), num_steps=20,
                                    verbose=0).frame) > 0
    with pytest.raises(ValueError, match=r"lr_find: x, a .*Dataset, is empty: nothing to train on"):
        keras_lr.lr_find(model_with(keras.optimizers.SGD()), tf.data.Dataset.from_tensor_slices((x[:0], y[:0])).batch(8))
    # JAX's and torch's fit, and Keras 3.3's on TensorFlow, fail on it with errors of their own.
    if BACKEND == "tensorflow" and KERAS_VERSION >= (3, 15):
        nothing = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda *_: False).batch(8)
        with pytest.raises(ValueError, match=r"lr_find: fit ran no step on x \(a .*\): it yielded no batch"):
            keras_lr.lr_find(model_with(keras.optimizers.SGD()), nothing)


def test_a_loss_that_goes_below_zero_is_tested_to_its_divergence():
    # A log-likelihood or a cosine similarity falls below 0: "4 x its best" then held at once, and the test
    # stopped within a few steps; its values below 0 were set aside as a collapsed network's.
    x, y = regression_data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(), lambda t, p: keras.ops.mean(keras.ops.square(t - p), axis=-1) - 1.0)
    result = keras_lr.lr_find(model, x, y, batch_size=16, seed=0, verbose=0)
    losses = result.frame.loss.to_numpy()
    assert len(losses) > 150 and np.nanmin(losses) < -0.5  # it went on well below 0
    assert result.stopped_early is None or "by 3 x its fall from the start" in result.stopped_early
    assert result.usable[np.isfinite(losses) & (losses < 0)].any() and not any("set aside" in n for n in result.notes)
    assert result.reliable and 1e-4 < result.one_cycle_max_lr < result.rise_lr


def test_the_empty_data_check_reads_rows_of_sparse_and_ragged_inputs():
    # Its first version called len(), which a scipy sparse matrix, a tf.SparseTensor and a
    # tf.RaggedTensor refuse: lr_find raised TypeError on inputs it had taken before.
    import scipy.sparse

    from keras_lr.finder.range_test import _rows

    x = np.eye(4, dtype="float32")
    assert _rows(x) == 4 and _rows(x[:0]) == 0
    assert _rows(scipy.sparse.csr_matrix(x)) == 4
    assert _rows(tf.sparse.from_dense(x)) == 4
    assert _rows(tf.ragged.constant([[1.0], [2.0, 3.0]])) == 2
    assert _rows(3.0) is None


def test_a_model_whose_layers_are_not_built_is_told_to_build_them():
    # A subclassed model's build((None, 4)) builds none of its layers: "set trainable=False?" misled.
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    model = Net()
    model.build((None, 4))
    model.compile(keras.optimizers.SGD(), "mse")
    x, y = regression_data()
    with pytest.raises(ValueError, match=r"lr_find: the model has no trainable weights because its layers are not "
                                         r"built \(dense.*\); call the model on a batch first"):
        keras_lr.lr_find(model, x, y)


def test_a_frozen_model_is_refused_before_any_step():
    # Every weight frozen (a base model without a trainable head): the curve would be batch noise.
    x, y = regression_data()
    frozen = model_with(keras.optimizers.Adam())
    frozen.trainable = False
    frozen.compile(keras.optimizers.Adam(), "mse")
    weights = [w.numpy().copy() for w in frozen.weights]
    with pytest.raises(ValueError, match=r"lr_find: the model has no trainable weights .*trainable=False"):
        keras_lr.lr_find(frozen, x, y)
    finder = keras_lr.LRFinder(num_steps=20)
    with pytest.raises(ValueError, match=r"LRFinder: the model has no trainable weights"):
        frozen.fit(x, y, epochs=1, verbose=0, callbacks=[finder])
    assert all(np.array_equal(w.numpy(), before) for w, before in zip(frozen.weights, weights))
    assert finder.result is None
    # One trainable layer is enough.
    frozen.trainable = True
    frozen.layers[0].trainable = False
    frozen.compile(keras.optimizers.Adam(), "mse")
    assert keras_lr.lr_find(frozen, x, y, num_steps=20, retry=False, verbose=0) is not None


def test_callback_inside_fit_stops_restores_and_keeps_the_result():
    x, y = regression_data()
    model = trained(keras.optimizers.SGD(0.01, momentum=0.9))
    before = state(model)
    finder = keras_lr.LRFinder(start_lr=1e-4, end_lr=0.1, num_steps=25, divergence_threshold=100.0)
    history = model.fit(x, y, batch_size=32, epochs=100, verbose=0, callbacks=[finder])
    assert len(history.epoch) == 4  # 8 batches an epoch: stopped in the 4th
    assert len(finder.result.frame) == 25
    assert state(model) == before
    kept = keras_lr.LRFinder(num_steps=10, restore=False)
    model.fit(x, y, batch_size=32, epochs=5, verbose=0, callbacks=[kept])
    assert state(model) != before


def test_the_callback_in_a_fit_with_initial_epoch_records_the_rates_it_trains_at():
    # The session places a schedule at initial_epoch x steps per epoch, resuming it: the range test's too, so its
    # optimizer began 8 steps into the sweep while the result paired each loss with the rate from its start.
    class Applied(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.rates = []

        def on_train_batch_end(self, batch, logs=None):
            self.rates.append(logs["learning_rate"])

    model = model_with(keras.optimizers.SGD(0.01))
    finder, applied = keras_lr.LRFinder(start_lr=1e-4, end_lr=0.1, num_steps=20, verbose=0, warn=False), Applied()
    model.fit(*regression_data(), batch_size=32, epochs=5, initial_epoch=1, verbose=0, callbacks=[finder, applied])
    recorded = finder.result.frame.learning_rate.to_numpy()
    assert recorded[0] == pytest.approx(1e-4)
    np.testing.assert_allclose(applied.rates[:len(recorded)], recorded, rtol=1e-5)


@needs_steps_per_execution
def test_callback_needs_every_steps_loss():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(), "mse", steps_per_execution=2)
    with pytest.raises(ValueError, match="LRFinder: the range test needs the loss of every step"):
        model.fit(*regression_data(), verbose=0, callbacks=[keras_lr.LRFinder()])


@pytest.mark.parametrize("other, first", [
    ("DivergenceGuard", True), ("DivergenceGuard", False), ("ReduceLROnPlateau", True), ("BoldDriver", False)])
def test_the_range_test_refuses_keras_lr_callbacks_that_would_change_its_rates(other, first):
    model = model_with(keras.optimizers.SGD())
    before = state(model)
    finder, callback = keras_lr.LRFinder(num_steps=20), getattr(keras_lr, other)()
    with pytest.raises(ValueError, match=f"LRFinder runs the range test, which must be the only keras_lr callback "
                                         f"in its fit: {other} would change the rates it records"):
        model.fit(*regression_data(), verbose=0, callbacks=[finder, callback] if first else [callback, finder])
    assert state(model) == before


@pytest.mark.parametrize("first", [True, False], ids=["keras-first", "keras-after"])
@pytest.mark.parametrize("other", ["LearningRateScheduler", "ReduceLROnPlateau"])
def test_the_range_test_refuses_another_callback_setting_the_rate(other, first):
    model = model_with(keras.optimizers.SGD(0.01))
    halve = (keras.callbacks.LearningRateScheduler(lambda epoch, rate: rate * 0.5) if other == "LearningRateScheduler"
             else keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=1e9))  # after 32 steps
    finder = keras_lr.LRFinder(num_steps=40)
    before = state(model)
    with pytest.raises(ValueError, match="LRFinder: another callback set the learning rate to .* during the range test"):
        model.fit(*regression_data(), batch_size=8, epochs=3, verbose=0,
                  callbacks=[halve, finder] if first else [finder, halve])
    assert state(model) == before  # the weights and step counter the test had changed are put back
    # What the failed fit put in the optimizer is gone by the next (plain) fit.
    model.fit(*regression_data(), batch_size=8, epochs=1, verbose=0)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01)


@pytest.mark.parametrize("first", [True, False], ids=["keras-first", "keras-after"])
def test_the_range_test_runs_beside_a_callback_that_sets_the_rate_it_has(first):
    model = model_with(keras.optimizers.SGD(0.01))
    keep = keras.callbacks.LearningRateScheduler(lambda epoch, rate: rate if epoch < 10 else rate * 0.1)
    finder = keras_lr.LRFinder(num_steps=20, end_lr=0.1)
    model.fit(*regression_data(), batch_size=8, epochs=3, verbose=0, callbacks=[keep, finder] if first else [finder, keep])
    assert len(finder.result.frame) == 20


def test_an_early_stopping_that_restores_after_the_test_is_refused_and_one_before_is_put_back_after():
    # Listed after LRFinder, EarlyStopping(restore_best_weights=True) set the weights it kept during the test when
    # the fit ended, after LRFinder had put the model back: the model kept weights 0.08 from where it was.
    def stopping():
        return keras.callbacks.EarlyStopping(monitor="loss", restore_best_weights=True)

    model = model_with(keras.optimizers.SGD())
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"LRFinder: keras.callbacks.EarlyStopping\(restore_best_weights=True\) comes "
                                         r"after it in callbacks.*List it before LRFinder"):
        model.fit(*regression_data(), batch_size=8, epochs=3, verbose=0,
                  callbacks=[keras_lr.LRFinder(num_steps=40), stopping()])
    for order in ([stopping(), keras_lr.LRFinder(num_steps=40)],
                  [keras_lr.LRFinder(num_steps=40), keras.callbacks.EarlyStopping(monitor="loss")]):
        model.fit(*regression_data(), batch_size=8, epochs=3, verbose=0, callbacks=order)
        for kept, was in zip(model.get_weights(), before):
            np.testing.assert_array_equal(kept, was)


@pytest.mark.parametrize("make", [
    lambda path: keras.callbacks.ModelCheckpoint(str(path / "best.keras"), monitor="loss", save_best_only=True),
    lambda path: keras.callbacks.BackupAndRestore(str(path / "backup")),
], ids=["ModelCheckpoint", "BackupAndRestore"])
@pytest.mark.parametrize("first", [True, False])
def test_a_callback_that_saves_the_model_is_refused_beside_the_test(make, first, tmp_path):
    # ModelCheckpoint(save_best_only=True) beside LRFinder kept the diverged last epoch as its best (cut short, its
    # mean loss was the lowest: 1.30 against 2.40): a file that evaluated at 5.61 against 1.05, with no word. A
    # backup would be restored into the next fit, the real training.
    model = model_with(keras.optimizers.SGD())
    saver = make(tmp_path)
    finder = keras_lr.LRFinder(num_steps=40)
    with pytest.raises(ValueError, match=rf"LRFinder: keras.callbacks.{type(saver).__name__} in the same fit would "
                                         r"save the range test's weights.*keras_lr.lr_find"):
        model.fit(*regression_data(), batch_size=8, epochs=3, verbose=0,
                  callbacks=[saver, finder] if first else [finder, saver])
    assert not any(tmp_path.iterdir())


def test_a_fit_that_ends_before_the_test_says_why():
    model = model_with(keras.optimizers.SGD())
    finder = keras_lr.LRFinder(num_steps=100)
    with pytest.warns(UserWarning, match=r"LRFinder: the fit ended after 32 of the test's 100 steps .* and not because "
                                         r"the loss diverged: another callback stopped it \(EarlyStopping\?\)"):
        model.fit(*regression_data(), batch_size=8, epochs=1, verbose=0, callbacks=[finder])
    assert len(finder.result.frame) == 32


def test_schedule_callbacks_take_a_result():
    model = model_with(keras.optimizers.SGD())
    result = keras_lr.lr_find(model, *regression_data(), num_steps=200, seed=0, verbose=0)
    assert result.reliable
    one_cycle = keras_lr.OneCycle(max_lr=result)
    assert one_cycle.get_config()["max_lr"] == pytest.approx(result.one_cycle_max_lr)
    cyclic = keras_lr.CyclicLR(result, step_size_up=10)
    base, top = result.cyclic_bounds()
    assert (cyclic.get_config()["base_lr"], cyclic.get_config()["max_lr"]) == (pytest.approx(base), pytest.approx(top))
    with pytest.raises(ValueError, match="CyclicLR: pass either a range test result as base_lr"):
        keras_lr.CyclicLR(result, 0.1)
    # "Do not train at this": an unreliable result is refused, with its reasons.
    flat = keras_lr.LRFinderResult(result.frame.assign(loss=2.0), warn=False)
    assert not flat.reliable
    with pytest.raises(ValueError, match="OneCycle: the range test result has no max_lr to train at .the loss never fell"):
        keras_lr.OneCycle(max_lr=flat)
    with pytest.raises(ValueError, match="CyclicLR: the range test result has no cyclic bounds to train at"):
        keras_lr.CyclicLR(flat)
    with pytest.raises(ValueError, match="CyclicLR: max_lr is required"):
        keras_lr.CyclicLR(0.01)


@pytest.mark.parametrize("name", ["AdamW", "RMSprop", "Nadam", "Adagrad", "Lion"])
def test_any_optimizer_with_a_learning_rate(name):
    model = trained(getattr(keras.optimizers, name)(0.001))
    before = state(model)
    result = keras_lr.lr_find(model, *regression_data(), start_lr=1e-5, end_lr=1e-2, num_steps=15, retry=False, verbose=0)
    np.testing.assert_allclose(result.frame.learning_rate, np.logspace(-5, -2, 15), rtol=1e-6)
    assert state(model) == before


def test_each_unreliable_curve_warns_at_the_callers_line():
    model = model_with(keras.optimizers.SGD(0.01))
    x, y = regression_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's own: once per place
        keras_lr.lr_find(model, x, y, end_lr=1e-6, num_steps=5, verbose=0)
        keras_lr.lr_find(model, x, y, end_lr=1e-6, num_steps=5, verbose=0)
    unreliable = [w for w in caught if "cannot support a suggestion" in str(w.message)]
    assert len(unreliable) == 2
    assert {w.filename for w in unreliable} == {__file__} and unreliable[0].lineno != unreliable[1].lineno


def test_the_callback_warns_unless_told_not_to():
    model = model_with(keras.optimizers.SGD(0.01))
    x, y = regression_data()
    with pytest.warns(UserWarning, match="cannot support a suggestion"):
        model.fit(x, y, verbose=0, callbacks=[keras_lr.LRFinder(end_lr=1e-6, num_steps=5)])
    quiet = keras_lr.LRFinder(end_lr=1e-6, num_steps=5, warn=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, verbose=0, callbacks=[quiet])
    assert not [w for w in caught if "lr_find" in str(w.message)]  # (a backend may warn of its own)
    assert not quiet.result.reliable and quiet.result.reasons
    assert quiet.get_config()["warn"] is False
    with pytest.raises(ValueError, match="LRFinder: warn must be"):
        keras_lr.LRFinder(warn="no")


class ReconstructionLoss(keras.Sequential):
    """An autoencoder whose compute_loss compares the output with x: fit(x) alone trains it."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return keras.ops.mean(keras.ops.square(x - y_pred))


def test_arrays_without_targets_for_a_model_whose_loss_needs_none():
    # Keras's fit(x) trains it; lr_find(model, x) refused arrays without y. A model compiled with no loss
    # (add_loss only) neither needs targets.
    x, _ = regression_data()
    encoder = ReconstructionLoss([keras.Input((4,)), keras.layers.Dense(2), keras.layers.Dense(4)])
    encoder.compile(keras.optimizers.SGD())
    encoder.fit(x, epochs=1, verbose=0)
    result = keras_lr.lr_find(encoder, x, num_steps=20, retry=False, verbose=0)
    assert len(result.frame) > 0 and np.isfinite(result.frame.loss).all()


def test_the_mistakes_a_newcomer_makes_are_named():
    model = model_with(keras.optimizers.SGD(0.01))
    x, y = regression_data()
    with pytest.raises(ValueError, match="lr_find: y is required with array inputs"):
        keras_lr.lr_find(model, x)
    unbatched = tf.data.Dataset.from_tensor_slices((x, y))
    with pytest.raises(ValueError, match=r"single examples of shape \(4,\).*batches of shape \(None, 4\).*\.batch\(32\)"):
        keras_lr.lr_find(model, unbatched)
    # The same mistake in validation_data: Keras's shape error, after the test's first step, had come instead.
    with pytest.raises(ValueError, match=r"lr_find: validation_data yields single examples of shape \(4,\)"):
        keras_lr.lr_find(model, x, y, validation_data=unbatched)
    # A model of several inputs, fed a dict: Keras's "Invalid input shape for input ... with name 'a'" had come instead.
    a, b = keras.Input((4,), name="a"), keras.Input((2,), name="b")
    two = keras.Model({"a": a, "b": b}, keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    two.compile(keras.optimizers.SGD(0.01), "mse")
    unbatched = tf.data.Dataset.from_tensor_slices(({"a": x, "b": x[:, :2]}, y))
    with pytest.raises(ValueError, match=r"single examples of shape \(4,\), \(2,\) where the model takes batches "
                                         r"of shape \(None, 4\), \(None, 2\); batch it first"):
        keras_lr.lr_find(two, unbatched)
    assert len(keras_lr.lr_find(two, unbatched.batch(32), num_steps=10, retry=False, verbose=0).frame) == 10
    # Batches of (None, 10) for Input((10, 1)): Keras adds the last axis, so they are batches, not examples.
    series = keras.Input((10, 1))
    last_axis = keras.Model(series, keras.layers.Dense(1)(keras.layers.Flatten()(series)))
    last_axis.compile(keras.optimizers.SGD(0.01), "mse")
    batched = tf.data.Dataset.from_tensor_slices((np.tile(x, (1, 3))[:, :10], y)).batch(32)
    assert len(keras_lr.lr_find(last_axis, batched, num_steps=10, retry=False, verbose=0).frame) == 10
    assert model.optimizer.iterations.numpy() == 0


@pytest.mark.skipif(
    BACKEND == "torch" and KERAS_VERSION < (3, 7),
    reason="before Keras 3.7, fit(epochs=0) raises UnboundLocalError under torch, keras_lr or not",
)
def test_fit_with_zero_epochs_returns_quietly_as_keras_does():
    model = model_with(keras.optimizers.SGD(0.01, momentum=0.9))
    history = model.fit(*regression_data(), epochs=0, verbose=0, callbacks=[keras_lr.OneCycle(0.1)])
    assert history.history == {} and is_variable(model.optimizer._learning_rate)


class BudgetedPeak(Recommendation):
    """A recommendation whose peak depends on the fit's steps, to see what OneCycle asks."""

    def __init__(self):
        self.asked = []

    @property
    def one_cycle_max_lr(self):
        return 0.01

    def one_cycle_max_lr_for(self, total_steps):
        self.asked.append(total_steps)
        return 0.01 if total_steps is None else 0.001 * total_steps

    def cyclic_bounds(self):
        return (0.001, 0.01)

    def cyclic_bounds_for(self, total_steps):
        self.asked.append(total_steps)
        return (0.001, 0.01 if total_steps is None else 0.0001 * total_steps)


def test_a_result_is_resolved_when_the_fit_begins_knowing_its_steps():
    x, y = regression_data()  # 256 examples: 8 steps an epoch at 32
    recommendation = BudgetedPeak()
    one_cycle = keras_lr.OneCycle(max_lr=recommendation)
    model = model_with(keras.optimizers.SGD())
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[one_cycle])
    assert recommendation.asked == [None, 24]
    assert one_cycle.schedule_for_last_fit().max_lr == pytest.approx(0.024)
    cyclic = keras_lr.CyclicLR(recommendation, step_size_up=4)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[cyclic])
    assert recommendation.asked[-1] == 16
    assert cyclic.schedule_for_last_fit().max_lr == pytest.approx(0.0016)


def test_a_test_too_short_to_judge_is_run_again_with_three_times_the_steps():
    x, y = regression_data()
    model = model_with(keras.optimizers.SGD(0.01, momentum=0.9))
    model.optimizer.build(model.trainable_variables)
    before = state(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = keras_lr.lr_find(model, x, y, num_steps=20, seed=0, verbose=0)
    first = result.first_test
    assert first is not None and not first.reliable and first.reasons[0].startswith("not steady")
    assert len(first.frame) <= 20 < len(result.frame) <= 60
    # Not "300 by default", which this call did not use (nor does a second test, nor one stopped early).
    assert "raise num_steps (threefold, say) or batch_size" in first.reasons[0]
    assert "by default" not in first.reasons[0]
    # The second test runs over the same rates, three times as densely, and is the answer.
    assert result.frame.learning_rate.iloc[0] == first.frame.learning_rate.iloc[0]
    assert result.reliable and result.notes[0].startswith("a first test of 20 steps was too short to judge (its OneCycle peak")
    # Only the answer's warnings are issued: the first test's "do not train at this" is not.
    assert not [w for w in caught if "cannot support a suggestion" in str(w.message)]
    assert state(model) == before
    # retry=False keeps the first test, warning and all; it is the same curve.
    with pytest.warns(UserWarning, match="not steady"):
        alone = keras_lr.lr_find(model, x, y, num_steps=20, seed=0, verbose=0, retry=False)
    assert alone.first_test is None and len(alone.frame) == len(first.frame)
    np.testing.assert_array_equal(alone.frame.loss, first.frame.loss)
    assert state(model) == before


def test_a_second_test_that_cannot_judge_either_is_the_answer_and_warns_once(monkeypatch):
    # Every curve "never fell" here.
    assess = keras_lr.finder.result._assess
    monkeypatch.setattr(keras_lr.finder.result, "_assess", lambda rates, losses, keep=None: (
        assess(rates, losses, keep) + [(keras_lr.finder.result.NEVER_FELL, "made up")]))
    x, y = regression_data()
    model = model_with(keras.optimizers.SGD(0.01))
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out):
        warnings.simplefilter("always")
        result = keras_lr.lr_find(model, x, y, start_lr=1e-4, end_lr=0.1, num_steps=30, seed=0, verbose=1)
    assert not result.reliable and len(result.frame) == 90 and len(result.first_test.frame) == 30
    assert len([w for w in caught if "cannot support a suggestion" in str(w.message)]) == 1
    assert "30 steps were too short to judge (the loss never fell)" in out.getvalue()
    assert "testing again with 90" in out.getvalue()


def test_a_generator_is_read_on_by_the_second_test(monkeypatch):
    # Every reliable curve "barely fell" here, so the test is run again. (Its batch losses vary by 40%, and
    # over 30 steps its fall of 30% or so may also read as within that noise: run again all the same.)
    monkeypatch.setattr(keras_lr.finder.result, "BARELY_FELL", 10.0)
    x, y = regression_data(1024)
    batches = ((x[i:i + 16], y[i:i + 16]) for i in range(0, 1024, 16))  # 64 batches, then cycled
    model = model_with(keras.optimizers.SGD(0.01, momentum=0.9))
    result = keras_lr.lr_find(model, batches, start_lr=1e-4, end_lr=0.1, num_steps=30, seed=0, verbose=0)
    assert len(result.first_test.frame) == 30 and len(result.frame) == 90
    assert result.notes[0].startswith("a first test of 30 steps was too short to judge (")


def test_a_reliable_first_test_is_kept_when_the_second_cannot_judge(monkeypatch):
    # Every reliable curve "barely fell", and every curve longer than 30 steps cannot judge.
    monkeypatch.setattr(keras_lr.finder.result, "BARELY_FELL", 10.0)
    assess = keras_lr.finder.result._assess
    monkeypatch.setattr(keras_lr.finder.result, "_assess", lambda rates, losses, keep=None: (
        assess(rates, losses, keep) + ([("too few", "made up")] if len(rates) > 30 else [])))
    x, y = regression_data()
    model = model_with(keras.optimizers.SGD(0.01, momentum=0.9))
    with pytest.warns(UserWarning, match="barely began to learn"), \
            pytest.warns(UserWarning, match="a second test of 90 steps could not support a suggestion"):
        result = keras_lr.lr_find(model, x, y, start_lr=1e-4, end_lr=0.1, num_steps=30, seed=0, verbose=0)
    assert result.reliable and len(result.frame) == 30 and result.first_test is None
    assert result.notes[-1] == "a second test of 90 steps could not support a suggestion (made up), so this first test is the answer"


def test_retry_must_be_a_bool():
    model = model_with(keras.optimizers.SGD(0.01))
    with pytest.raises(ValueError, match="lr_find: retry"):
        keras_lr.lr_find(model, *regression_data(), retry="yes")


def unscaled_classes(samples=256):
    """Positive features three decades apart in scale, the label set by the smallest: at high rates the
    ReLU units of a small network die, and it gives one output for every input (unscaled breast cancer)."""
    rng = np.random.default_rng(0)
    x = (rng.uniform(size=(samples, 8)) * np.array([1, 10, 100, 1000] * 2)).astype("float32")
    y = (x[:, 0] + 0.3 * rng.normal(size=samples) > 0.65).astype("float32")
    return x, y


def collapsing_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(), keras.losses.BinaryCrossentropy(from_logits=True))
    return model


@pytest.mark.parametrize("kind", ["numpy", "tensor", "dataset", "pydataset"])
def test_a_network_that_collapses_to_one_output_is_unreliable(kind):
    # Its loss falls to the constant prediction's (the labels' entropy) and stays there up to end_lr: read as
    # a fall still going at the end, it was "reliable", with a OneCycle peak of about 1 at which the network
    # dies (unscaled breast cancer: see docs/range_test.md).
    x, y = unscaled_classes()

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 8

        def __getitem__(self, index):
            return x[index * 32 : (index + 1) * 32], y[index * 32 : (index + 1) * 32]

    data = {
        "numpy": lambda: dict(x=x, y=y, batch_size=32),
        # A backend's own tensor: a tf.Tensor refused the numpy index array the rows were first taken with.
        "tensor": lambda: dict(x=keras.ops.convert_to_tensor(x), y=y, batch_size=32),
        "dataset": lambda: dict(x=tf.data.Dataset.from_tensor_slices((x, y)).shuffle(256, seed=0).batch(32)),
        "pydataset": lambda: dict(x=Batches()),
    }[kind]()
    with pytest.warns(UserWarning, match="collapsed") as caught:
        result = keras_lr.lr_find(collapsing_model(), **data, num_steps=150, seed=0, retry=False, verbose=0)
    assert len([w for w in caught if str(w.message).startswith("lr_find")]) == 1
    assert not result.reliable and result.collapsed
    assert any("the same output for every input" in reason and "standardise" in reason for reason in result.reasons)
    assert not any("raise end_lr" in note or "fit the test's batches" in note for note in result.notes)
    with pytest.raises(ValueError, match="collapsed"):  # what OneCycle(max_lr=result) asks when its fit begins
        peak_from("OneCycle", result, 100)


def test_a_network_saturated_before_the_test_is_judged_against_its_outputs_size():
    # Unscaled breast cancer into a softmax (a newcomer's first try): the outputs were all [1, 0] before the test
    # too, so "one output for every input at the end, where it gave different ones before" could not fire. The
    # curve fell to the constant prediction's loss and read as reliable, its peak 0.96 and 0.71 on 2 of 6 seeds,
    # at which OneCycle trained a network predicting the majority class (0.629 where Adam(0.001) gave 0.90).
    from sklearn.datasets import load_breast_cancer

    from keras_lr.finder.range_test import _collapsed

    x, y = load_breast_cancer(return_X_y=True)
    for seed in range(6):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = keras_lr.lr_find(model, x.astype("float32"), y, batch_size=32, seed=seed, retry=False, verbose=0)
        assert not result.reliable or result.one_cycle_max_lr < 0.1, (seed, result)
    saturated, constant = np.tile([[1.0, 0.0]], (8, 1)), np.tile([[0.63, 0.37]], (8, 1))
    assert _collapsed([saturated], [constant]) and not _collapsed([saturated], [np.eye(2)[np.arange(8) % 2]])
    assert not _collapsed([np.zeros((8, 1))], [np.zeros((8, 1))])  # nothing to measure a spread against


def test_a_collapsed_test_is_run_again_denser():
    # With three times the steps over the same rates the loss may diverge before the units die.
    result = keras_lr.lr_find(collapsing_model(), *unscaled_classes(), batch_size=32, num_steps=150, seed=0,
                              verbose=0)
    first = result.first_test
    assert first is not None and first.collapsed and len(first.frame) == 150
    assert len(result.frame) > 150
    assert result.notes[0].startswith("a first test of 150 steps could not be judged (the network collapsed")


def test_a_test_that_stopped_on_a_divergence_is_not_judged_for_a_collapse():
    # A network wrecked by a divergence may give one output too (a saturated sigmoid): the divergence was
    # read, and the test was good. Flagged, 5 of 11 such tests were run again, the answer refused.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(512, 10)).astype("float32")
    y = (x @ rng.normal(size=(10,)) > 0).astype("float32")
    stopped = []
    for seed in (0, 4):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((10,))
        hidden = keras.layers.Dense(32, activation="relu")(inputs)
        hidden = keras.layers.Dense(32, activation="relu")(hidden)
        model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))
        model.compile(keras.optimizers.SGD(momentum=0.9), "binary_crossentropy")
        # (To 30: up to 10, under PyTorch both diverged at the last step, a test run in full.)
        result = keras_lr.lr_find(model, x, y, batch_size=32, num_steps=100, end_lr=30.0, seed=seed, retry=False,
                                  verbose=0)
        assert result.reliable and not result.collapsed
        stopped.append(result.stopped_early is not None)
    assert any(stopped)


def test_the_collapse_check_changes_no_batch_the_test_reads(monkeypatch):
    # It takes its batch after the test: taken before, it drew one of a shuffled dataset's orders (the test
    # then read another) and left a cached dataset half read.
    from keras_lr.finder import range_test

    x, y = regression_data(128)

    def run():
        keras.utils.set_random_seed(0)  # the dataset's shuffle seeds from it
        data = tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(128, seed=0).batch(16)
        return keras_lr.lr_find(model_with(keras.optimizers.SGD()), data, start_lr=1e-4, end_lr=1e-2, num_steps=12,
                                seed=0, retry=False, verbose=0).frame.loss.to_numpy()

    checked = run()
    monkeypatch.setattr(range_test, "_check_collapse", lambda *args: (False, None))
    np.testing.assert_array_equal(checked, run())


def test_a_collapse_check_that_cannot_run_says_so():
    x, y = regression_data(64)
    result = keras_lr.lr_find(model_with(keras.optimizers.SGD()), tf.sparse.from_dense(x), y, batch_size=16,
                              start_lr=1e-4, end_lr=1e-2, num_steps=12, retry=False, verbose=0)
    assert any(note.startswith("the model's outputs could not be compared before and after the test (")
               for note in result.notes)


def test_a_network_that_fits_sorted_classes_is_not_called_collapsed():
    # A network that fit its batches gives outputs near 0 and 1: on one class's rows they lie within 1e-5
    # of each other. That is not one output for every input: a collapse is a spread within a millionth of
    # the one before the test. (The rows compared are spread over the data; on this network the first 32,
    # one class, would pass too.)
    rng = np.random.default_rng(0)
    y = np.repeat([0.0, 1.0], 60).astype("float32")
    x = (np.where(y[:, None] > 0, 6.0, -6.0) + 0.5 * rng.normal(size=(120, 2))).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(), "binary_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the batches were fit, as the warning says
        result = keras_lr.lr_find(model, x, y, batch_size=32, seed=0, verbose=0)
    assert not result.collapsed and result.reliable


def test_a_reliable_second_test_after_a_collapse_warns_to_standardise_the_inputs(monkeypatch):
    # The second test's peak is read from a denser curve, but the inputs that let the units die are still
    # there (on unscaled breast cancer with RMSprop such peaks trained worse than 0.01): the warning says so.
    from keras_lr.finder import range_test

    checks = iter([(True, None), (False, None)])  # the first test's network died, the second's did not
    monkeypatch.setattr(range_test, "_check_collapse", lambda *args: next(checks))
    monkeypatch.setattr(keras_lr.finder.result, "_fell_to_collapse", lambda *args: True)  # whatever its curve
    x, y = regression_data()
    with pytest.warns(UserWarning, match=r"the network of a first test of 30 steps collapsed to one output .*"
                                         r"standardise the inputs if they are not.*a second test of 90 steps"):
        result = keras_lr.lr_find(model_with(keras.optimizers.SGD()), x, y, start_lr=1e-4, end_lr=0.1,
                                  num_steps=30, seed=0, verbose=0)
    assert result.reliable and result.first_test.collapsed and len(result.frame) == 90


def test_an_unreliable_second_test_after_a_collapse_still_warns_to_standardise_the_inputs(monkeypatch):
    # A newcomer's unscaled regression target: the first test collapsed, the second was not steady, and the warning
    # gave only the second's advice (raise num_steps); what let the units die was said in result.notes alone.
    from keras_lr.finder import range_test

    checks = iter([(True, None), (False, None)])
    monkeypatch.setattr(range_test, "_check_collapse", lambda *args: next(checks))
    monkeypatch.setattr(keras_lr.finder.result, "_fell_to_collapse", lambda *args: True)
    assess = keras_lr.finder.result._assess
    monkeypatch.setattr(keras_lr.finder.result, "_assess", lambda rates, losses, keep=None: (
        assess(rates, losses, keep) + ([("too few", "made up")] if len(rates) > 30 else [])))
    x, y = regression_data()
    with pytest.warns(UserWarning, match=r"the network of a first test of 30 steps collapsed to one output .*"
                                         r"standardise the inputs if they are not"):
        result = keras_lr.lr_find(model_with(keras.optimizers.SGD()), x, y, start_lr=1e-4, end_lr=0.1,
                                  num_steps=30, seed=0, verbose=0)
    assert not result.reliable and result.first_test.collapsed


def test_a_lucky_first_batch_is_not_the_best_the_stop_rule_reads():
    # Heavy sample weights (3% positives weighted 17x, measured on digits): the first batch, without a positive,
    # had a loss of 0.21, and the running average after the next one passed 4 x that: "diverged" at a rate of
    # 1e-7 after 3 steps, and the advice (num_steps, start_lr) changed nothing. Here the first batch is fit
    # exactly but for 0.05 and every other batch is far off.
    rng = np.random.default_rng(0)
    weights = np.array([[1.0], [2.0], [-1.0], [0.5]], "float32")
    batches = [(np.zeros((16, 4), "float32"), np.full((16, 1), 0.05, "float32"))]
    for _ in range(9):
        x = rng.normal(size=(16, 4)).astype("float32")
        batches.append((x, x @ weights))

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return len(batches)

        def __getitem__(self, index):
            return batches[index]

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(), "mse")
    result = keras_lr.lr_find(model, Batches(), seed=0, verbose=0, retry=False)
    stopped_at = result.frame.learning_rate.iloc[-1]
    assert len(result.frame) > 100 and stopped_at > 1e-3, (len(result.frame), result.stopped_early)


def test_the_callback_on_a_fresh_model_restores_the_moments_its_test_made():
    # Under TensorFlow fit builds the optimizer at its first step, after on_train_begin's snapshot.
    model = model_with(keras.optimizers.Adam())
    x, y = regression_data()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[keras_lr.LRFinder(num_steps=5, verbose=0)])
    assert int(model.optimizer.iterations.numpy()) == 0
    for variable in model.optimizer.variables:
        if variable is not model.optimizer.iterations and "learning_rate" not in variable.path:
            assert not np.any(variable.numpy()), variable.path


@pytest.mark.parametrize("finder_first", [True, False])
def test_the_callback_refused_beside_another_changes_nothing(finder_first):
    model = trained(keras.optimizers.SGD(0.01, momentum=0.9))
    before = state(model)
    callbacks = [keras_lr.LRFinder(verbose=0), keras_lr.ReduceLROnPlateau("loss")]
    with pytest.raises(ValueError, match="must be the only keras_lr callback"):
        model.fit(*regression_data(), batch_size=32, epochs=1, verbose=0,
                  callbacks=callbacks if finder_first else callbacks[::-1])
    assert state(model) == before  # the momentum it zeroes for a test, kept


class OwnStep(keras.Model):
    """A train_step of one's own that logs its own Mean as "loss"."""

    def __init__(self, tracker_name):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.tracker = keras.metrics.Mean(name=tracker_name)

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        loss = self.step(data)
        return {"loss": self.tracker.result()}

    def step(self, data):
        """One SGD step on the mean squared error; its loss, also in the tracker."""
        x, y = data
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.square(self(x, training=True) - y))
        self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
        self.tracker.update_state(loss)
        return loss


class OwnMetrics(OwnStep):
    """As Keras's VAE example: `metrics` lists its own trackers, none named "loss"."""

    @property
    def metrics(self):
        return [self.tracker]


class PerBatch(OwnStep):
    """Logs each batch's own loss, and a Mean of it beside: after one step the two agree."""

    def train_step(self, data):
        loss = self.step(data)
        return {"loss": loss, "mean_loss": self.tracker.result()}


@pytest.mark.skipif(BACKEND != "tensorflow", reason="the train_step is TensorFlow's; what is read from it is not")
@pytest.mark.parametrize("make", [lambda: OwnStep("loss"), lambda: OwnMetrics("total_loss"),
                                  lambda: PerBatch("mean_loss")],
                         ids=["beside Keras's tracker", "its own metrics", "each batch's loss"])
def test_a_train_step_of_ones_own_gets_each_batchs_loss(make):
    # Keras's own loss tracker, never updated, was read as the count of the logged mean (or not found at all).
    x, y = regression_data()
    own = make()
    own.compile(keras.optimizers.SGD())
    own(x[:1])
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    plain.compile(keras.optimizers.SGD(), "mse")
    plain.set_weights(own.get_weights())
    ours = keras_lr.lr_find(own, x, y, end_lr=1.0, num_steps=30, seed=1, retry=False, verbose=0)
    reference = keras_lr.lr_find(plain, x, y, end_lr=1.0, num_steps=30, seed=1, retry=False, verbose=0)
    np.testing.assert_allclose(ours.frame.loss, reference.frame.loss, rtol=1e-4)


def mixed_precision_model():
    """`model_with(Adam())` under mixed_float16: Keras wraps the optimizer in a LossScaleOptimizer."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        return model_with(keras.optimizers.Adam())
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_under_mixed_precision_each_loss_is_recorded_at_the_rate_its_step_applied():
    # LossScaleOptimizer skips a step whose scaled gradients overflow (the first ones, at its initial scale):
    # the rate's counter stays, so the losses after a skipped step were labelled with rates further on
    # (25x too high at the curve's top, 40 steps over 5 decades).
    model = mixed_precision_model()
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x, y = regression_data()
    finder = keras_lr.LRFinder(1e-5, 1.0, num_steps=40, restore=False, verbose=0)
    model.fit(x, 10.0 * y, batch_size=16, epochs=3, verbose=0, callbacks=[finder])
    applied = int(model.optimizer.inner_optimizer.iterations.numpy())
    assert float(model.optimizer.dynamic_scale.numpy()) < 2.0 ** 15  # some steps were skipped
    assert len(finder.result.frame) == applied == 40
    np.testing.assert_allclose(finder.result.frame.learning_rate, [finder.rate_at(i) for i in range(40)])


def test_under_mixed_precision_a_test_on_endless_data_runs_its_steps():
    # The steps a LossScaleOptimizer skips are not counted: one epoch of num_steps batches fell short.
    model = mixed_precision_model()
    x, y = regression_data()

    def batches():
        while True:
            for start in range(0, 256, 16):
                yield x[start:start + 16], 10.0 * y[start:start + 16]

    result = keras_lr.lr_find(model, batches(), start_lr=1e-5, end_lr=1.0, num_steps=40, retry=False, verbose=0)
    assert len(result.frame) == 40 or result.stopped_early


def test_the_callbacks_warnings_name_the_callback():
    model = model_with(keras.optimizers.SGD())
    with pytest.warns(UserWarning) as record:
        model.fit(*regression_data(), batch_size=32, epochs=1, verbose=0,
                  callbacks=[keras_lr.LRFinder(1e-7, 1e-6, num_steps=8, verbose=0)])  # too short to judge
    ours = [str(w.message) for w in record if "range test" in str(w.message)]
    assert ours and all(message.startswith("LRFinder: ") for message in ours)


def test_validation_data_leaves_the_training_losses_as_they_are():
    # evaluate, inside the batch hook, reset the loss tracker whose running mean gives each batch's loss.
    # One epoch of 16 batches: under torch evaluate draws from the generator the next epoch's shuffle draws from.
    x, y = regression_data()
    plain = keras_lr.lr_find(model_with(keras.optimizers.SGD()), x, y, batch_size=16, end_lr=0.1, num_steps=16,
                             seed=3, retry=False, verbose=0)
    validated = keras_lr.lr_find(model_with(keras.optimizers.SGD()), x, y, batch_size=16, end_lr=0.1, num_steps=16,
                                 seed=3, retry=False, validation_data=(x[:64], y[:64]), verbose=0)
    np.testing.assert_allclose(validated.frame.loss, plain.frame.loss, rtol=1e-5)


@pytest.mark.skipif(BACKEND != "torch", reason="torch's own input; importing torch into another backend's run took 35 s")
def test_a_torch_data_loader_is_read_as_batches_and_cycled():
    # It was refused as array inputs without targets ("y is required with array inputs (x is a DataLoader)"),
    # though fit, and LRFinder in it, take one.
    import torch
    x, y = regression_data(64)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=16)  # 4 batches for a 12-step test
    model = model_with(keras.optimizers.SGD())
    before = [w.copy() for w in model.get_weights()]
    result = keras_lr.lr_find(model, loader, start_lr=1e-4, end_lr=1e-2, num_steps=12, retry=False, verbose=0)
    assert len(result.frame) == 12 and np.all(np.isfinite(result.frame.loss))
    assert not any("could not be compared" in note for note in result.notes)  # its first batch was the probe's
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with pytest.raises(ValueError, match="y, batch_size and sample_weight go with array inputs; x is a DataLoader"):
        keras_lr.lr_find(model, loader, y, num_steps=12, verbose=0)


def test_a_generator_is_cycled_from_at_most_a_bounded_memory_of_its_batches():
    # Every batch read was kept to repeat short data: an endless generator of 2 MiB batches took 524 MiB more
    # over a 400-step test; the default test and its retry read 1200 (images of 224x224x3 in 32s: over 20 GB).
    import gc
    import weakref

    from keras_lr.finder import range_test

    alive = []

    def batches(count=None):
        index = 0
        while count is None or index < count:
            batch = np.full((4, 256), index, "float32")  # 4 KiB
            alive.append(weakref.ref(batch))
            index += 1
            yield batch, batch[:, :1]

    cycled = range_test._cycle(batches(), limit=5 * 4112)  # x and y
    for _ in range(200):
        next(cycled)
    gc.collect()  # (under torch one batch is held in a reference cycle until a collection)
    assert sum(ref() is not None for ref in alive) <= 6  # the 5 kept and the one read last
    cycled = range_test._cycle(batches(10), limit=3 * 4112)
    read = [float(next(cycled)[0][0, 0]) for _ in range(10)]
    with pytest.warns(UserWarning, match=r"lr_find: x, a generator, ended after 10 batches.*first 3"):
        read += [float(next(cycled)[0][0, 0]) for _ in range(4)]
    assert read == list(range(10)) + [0, 1, 2, 0]


class LogsMseOnly(keras.Model):
    """A train_step of one's own that logs its loss under a name of its own."""

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            mse = keras.ops.mean((self(x, training=True) - y) ** 2)
        self.optimizer.apply_gradients(zip(tape.gradient(mse, self.trainable_weights), self.trainable_weights))
        return {"mse": mse}


@pytest.mark.skipif(BACKEND != "tensorflow", reason="the train_step is written with TensorFlow's GradientTape")
def test_a_train_step_that_logs_no_loss_is_named_not_called_a_divergence():
    # The range test read NaN for the missing loss: "mostly NaN or infinite"; the guard watched nothing.
    inputs = keras.Input((4,))
    model = LogsMseOnly(inputs, keras.layers.Dense(1)(inputs))
    model.compile(keras.optimizers.SGD(0.01))
    x, y = regression_data()
    with pytest.raises(ValueError, match=r"LRFinder: the train step logs no 'loss' \(it logs: mse\)"):
        keras_lr.lr_find(model, x, y, num_steps=20, retry=False, verbose=0)
    with pytest.raises(ValueError, match=r"DivergenceGuard: the train step logs no 'loss' \(it logs: mse\)"):
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[keras_lr.DivergenceGuard()])


def test_a_second_test_that_cannot_judge_either_asks_for_more_than_it_ran():
    # A test over rates too low to move the loss never falls, run again or not. Its advice, "raise num_steps
    # (threefold, say)", was the first test's: threefold the num_steps given is the second test already run.
    x, y = regression_data()
    model = model_with(keras.optimizers.SGD(0.01))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = keras_lr.lr_find(model, x, y, start_lr=1e-9, end_lr=1e-8, num_steps=30, seed=0, verbose=0)
    assert not result.reliable and len(result.frame) == 90 and len(result.first_test.frame) == 30
    assert "threefold" in " ".join(result.first_test.reasons)  # the first test's own advice stands
    told = " ".join(result.reasons + [str(w.message) for w in caught])
    assert "threefold" not in told and "num_steps (to 270 or more, say: the second test ran 90 steps)" in told


def test_lr_finder_stopped_by_an_exception_puts_the_model_back_at_restore_model():
    # Keras calls no on_train_end after an exception: a Ctrl-C in the test left a trained model with the test's
    # weights, its only copy private (found by a probe).
    model = model_with(keras.optimizers.SGD(0.01, momentum=0.9))
    x, y = regression_data()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    before = [variable.numpy().copy() for variable in model.variables + model.optimizer.variables]

    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 5:
                raise KeyboardInterrupt

    finder = keras_lr.LRFinder(num_steps=20, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[finder, Interrupt()])
    assert not all(np.array_equal(v.numpy(), b) for v, b in zip(model.variables, before))
    assert finder.restore_model() is True
    for variable, value in zip(model.variables + model.optimizer.variables, before):
        np.testing.assert_array_equal(variable.numpy(), value)
    assert finder.restore_model() is False  # nothing more to put back
