"""Adaptive callbacks in real fits, together with schedules.

The bias model (gradient of the bias exactly 1) shows the rate applied at
every step in its weights; the diverging regression shows what the guard
saves.
"""

import math

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.schedules import evaluate_momentum, evaluate_schedule
from tests.backends import BACKEND
from tests.callbacks.helpers import Recorder, bias_data, bias_model, sgd_bias_trajectory

STEPS_PER_EPOCH = 10  # 40 samples, batch 4
EPOCHS = 3


def fit(model, callbacks, epochs=EPOCHS):
    x, y = bias_data()
    recorder = Recorder()
    model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, shuffle=False, callbacks=[*callbacks, recorder])
    return recorder


def multipliers(events, steps):
    """The multiplier at each of ``steps`` from an events frame."""
    values = np.ones(steps)
    for step, multiplier in zip(events.step, events.multiplier):
        values[step:] = multiplier
    return values


def hook_steps(steps_per_execution):
    """The steps after which fit calls the batch hooks (0-based, whole fit)."""
    spe = steps_per_execution
    in_epoch = sorted({min(b, STEPS_PER_EPOCH - 1) for b in range(spe - 1, STEPS_PER_EPOCH + spe - 1, spe)})
    return [e * STEPS_PER_EPOCH + b for e in range(EPOCHS) for b in in_epoch]


SCHEDULE_CALLBACKS = {
    "OneCycle": lambda: keras_lr.OneCycle(max_lr=0.1),
    "CyclicLR": lambda: keras_lr.CyclicLR(0.01, 0.1, step_size_up=7),
    "Scheduler": lambda: keras_lr.Scheduler(keras.optimizers.schedules.ExponentialDecay(0.1, 5, 0.8)),
}


@pytest.mark.parametrize(
    "steps_per_execution, schedule_callback",
    [(1, "OneCycle"), (4, "OneCycle"), (5, "OneCycle"), (1, "CyclicLR"), (1, "Scheduler")],
)
def test_schedule_with_plateau_and_guard_applies_schedule_times_multiplier(steps_per_execution, schedule_callback):
    model = bias_model(keras.optimizers.SGD(0.5, momentum=0.9), steps_per_execution)
    one_cycle = SCHEDULE_CALLBACKS[schedule_callback]()
    # The bias model's loss falls at every step; mode="max" makes every check
    # after the first a non-improvement, so reductions land at known steps.
    plateau = keras_lr.ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5, patience=1, frequency=3, smoothing=0.0)
    guard = keras_lr.DivergenceGuard()
    recorder = fit(model, [plateau, one_cycle, guard])

    total = EPOCHS * STEPS_PER_EPOCH
    events = plateau.events_frame()
    if steps_per_execution == 1:
        assert list(events.step) == list(range(6, total + 1, 3))
    assert len(events) >= 4 and guard.recoveries == 0
    schedule = one_cycle.schedule_for_last_fit()
    rates = evaluate_schedule(schedule, np.arange(total)) * multipliers(events, total)
    momenta = evaluate_momentum(schedule, np.arange(total))
    if momenta is None:  # a schedule without momentum: SGD keeps its own
        momenta = np.full(total, 0.9)
    # The weights show the applied rate: the schedule times the multiplier, every step.
    expected_bias = sgd_bias_trajectory(rates, momenta)
    hooks = hook_steps(steps_per_execution)
    np.testing.assert_allclose(recorder.bias, expected_bias[hooks], rtol=1e-4, atol=1e-7)
    # ... and so do the logs.
    np.testing.assert_allclose(recorder.batch_rates, rates[hooks], rtol=1e-6)
    np.testing.assert_allclose(one_cycle.history_frame().learning_rate, rates, rtol=1e-6)
    # Afterwards the optimizer has its own rate and momentum back.
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.5)
    assert model.optimizer.momentum == 0.9


def test_plateau_on_a_keras_schedule_inside_the_optimizer():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.5)
    model = bias_model(keras.optimizers.SGD(schedule))
    plateau = keras_lr.ReduceLROnPlateau(monitor="loss", mode="max", factor=0.1, patience=0)
    recorder = fit(model, [plateau])
    total = EPOCHS * STEPS_PER_EPOCH
    assert list(plateau.events_frame().step) == [20, 30]
    rates = 0.1 * 0.5 ** (np.arange(total) / 5) * multipliers(plateau.events_frame(), total)
    np.testing.assert_allclose(recorder.bias, sgd_bias_trajectory(rates), rtol=1e-4)
    assert model.optimizer._learning_rate is schedule


def test_plain_float_rate_keeps_the_adapted_rate_after_fit():
    model = bias_model(keras.optimizers.SGD(0.1))
    driver = keras_lr.BoldDriver(increase=2.0, monitor="loss", mode="min")
    recorder = fit(model, [driver])
    # Epoch 1 is the reference; the loss falls in epochs 2 and 3: doubled after
    # each (the second doubling applies from the step after the fit).
    rates = np.repeat([0.1, 0.1, 0.2], STEPS_PER_EPOCH)
    np.testing.assert_allclose(recorder.bias, sgd_bias_trajectory(rates), rtol=1e-5)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.4)
    assert len(model.optimizer.variables) == len(bias_model(keras.optimizers.SGD(0.1)).optimizer.variables)


def regression_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32") + 0.1 * rng.normal(size=(256, 1)).astype("float32")
    return x, y


def diverging_fit(callbacks, steps_per_execution=1):
    """SGD at a rate of 10 on a small regression: far too high."""
    keras.utils.set_random_seed(0)
    x, y = regression_data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(10.0), "mse", steps_per_execution=steps_per_execution)
    start = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=callbacks)
    return model, start, model.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_guard_saves_a_run_that_diverges_without_it(steps_per_execution):
    model, start, end = diverging_fit([], steps_per_execution)
    assert np.isnan(end)
    guard = keras_lr.DivergenceGuard()
    model, start, end = diverging_fit([guard], steps_per_execution)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert end < start
    assert guard.recoveries >= 3 and not guard.stopped
    events = guard.events_frame()
    np.testing.assert_allclose(events.new_learning_rate, 10.0 * 0.5 ** np.arange(1, len(events) + 1), rtol=1e-6)


def test_no_nan_reaches_checkpoints(tmp_path):
    path = str(tmp_path / "epoch{epoch}.weights.h5")
    guard = keras_lr.DivergenceGuard()
    checkpoint = keras.callbacks.ModelCheckpoint(path, save_weights_only=True)
    model, _, _ = diverging_fit([guard, checkpoint])
    assert guard.recoveries > 0
    for epoch in range(1, 6):
        model.load_weights(str(tmp_path / f"epoch{epoch}.weights.h5"))
        assert all(np.isfinite(w).all() for w in model.get_weights()), epoch


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_terminate_on_nan_listed_after_the_guard_sees_the_loss_it_kept(steps_per_execution):
    # The guard rolled back, but the batch's logs still held the NaN, and TerminateOnNaN stopped the fit.
    terminate = keras.callbacks.TerminateOnNaN()
    guard = keras_lr.DivergenceGuard()
    seen = []

    class Losses(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(logs["loss"])

    model, start, end = diverging_fit([guard, terminate, Losses()], steps_per_execution)
    assert guard.recoveries >= 3 and not model.stop_training
    assert len(seen) == 5 * 16 // steps_per_execution and all(math.isfinite(loss) for loss in seen)
    assert end < start


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="a train_step written with tf.GradientTape")
def test_guard_reads_a_train_step_that_logs_each_batchs_own_loss():
    # Read as the epoch's running mean, the noise of healthy batch losses (0.5-1.0) grew with the step
    # and the guard rolled back at "loss 11.48 > 4 x median 0.22".
    import tensorflow as tf

    class Raw(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden, self.out = keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10, activation="softmax")

        def call(self, x):
            return self.out(self.hidden(x))

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, self(x, training=True)))
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
            return {"loss": loss}

    from sklearn.datasets import load_digits

    digits = load_digits()
    keras.utils.set_random_seed(0)
    model = Raw()
    model(digits.data[:2].astype("float32"))
    model.compile(keras.optimizers.Adam(0.003))
    guard = keras_lr.DivergenceGuard()
    model.fit((digits.data / 16).astype("float32"), digits.target, batch_size=16, epochs=3, verbose=0,
              callbacks=[guard])
    assert guard.recoveries == 0

    class Bare(Raw):  # no metric at all: a rollback had no tracker to rewind, and crashed
        @property
        def metrics(self):
            return []

    keras.utils.set_random_seed(0)
    model = Bare()
    model(digits.data[:2].astype("float32"))
    model.compile(keras.optimizers.Adam(0.003))
    x = (digits.data[:160] / 16).astype("float32")
    x[40:48] = np.nan
    guard = keras_lr.DivergenceGuard()
    model.fit(x, digits.target[:160], batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[guard])
    assert guard.recoveries == 1 and all(np.isfinite(w).all() for w in model.get_weights())


def test_guard_stops_at_the_last_good_weights_when_recoveries_fail():
    guard = keras_lr.DivergenceGuard(factor=0.9, max_recoveries=1)
    with pytest.warns(UserWarning, match="DivergenceGuard: training diverged again"):
        model, start, end = diverging_fit([guard])
    assert guard.stopped and guard.recoveries == 2
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_model_saved_mid_fit_loads_with_its_own_schedule(tmp_path):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=5, decay_rate=0.5)
    model = bias_model(keras.optimizers.SGD(schedule))
    path = str(tmp_path / "model.keras")
    fit(model, [keras_lr.DivergenceGuard(), keras.callbacks.ModelCheckpoint(path)], epochs=1)
    loaded = keras.saving.load_model(path, compile=True, custom_objects={"mean_output": lambda t, p: p})
    restored = loaded.optimizer._learning_rate
    assert isinstance(restored, keras.optimizers.schedules.ExponentialDecay)
    assert restored.get_config() == schedule.get_config()


def test_two_adaptive_callbacks_multiply():
    model = bias_model(keras.optimizers.SGD(0.1))
    first = keras_lr.ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5, patience=0)
    second = keras_lr.BoldDriver(monitor="loss", mode="min", increase=3.0)
    fit(model, [first, second], epochs=2)
    # After epoch 2 both act: x0.5 and x3.
    assert first.multiplier == second.multiplier == pytest.approx(1.5)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.15)


@pytest.mark.parametrize("make", [
    lambda: keras_lr.ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5, patience=0),
    lambda: keras_lr.OneCycle(max_lr=0.1),
], ids=["ReduceLROnPlateau", "OneCycle"])
def test_one_callback_passed_twice_is_refused_and_the_optimizer_kept(make):
    # Its hooks ran twice per step: ReduceLROnPlateau reduced twice per plateau, OneCycle logged every step twice.
    model = bias_model(keras.optimizers.SGD(0.1))
    callback = make()
    with pytest.raises(ValueError, match=rf"{type(callback).__name__}: this callback is twice in fit's callbacks"):
        fit(model, [callback, callback])
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.1)
    recorder = fit(model, [callback])  # once: it runs
    assert len(recorder.batches) == EPOCHS * STEPS_PER_EPOCH


def test_two_adaptive_callbacks_of_one_kind_warn_that_their_changes_multiply():
    model = bias_model(keras.optimizers.SGD(0.1))
    first = keras_lr.ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5, patience=0)
    second = keras_lr.ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5, patience=0)
    with pytest.warns(UserWarning, match="two ReduceLROnPlateau callbacks in one fit: their changes of the rate multiply"):
        fit(model, [first, second], epochs=2)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.025)  # x0.5, twice


@pytest.mark.parametrize("first", ["early_stopping", "driver"])
def test_an_epoch_rolled_back_whole_logs_the_loss_of_the_weights_it_went_back_to(first):
    # BoldDriver checking every epoch's steps (frequency=8, 8 steps an epoch) rolled back each worse epoch
    # whole, and its loss was logged as 0, Keras's mean of no step: EarlyStopping(monitor="loss") took that
    # 0 as the best and stopped the fit three epochs later ([1.37, 0.090, 0.0, 0.090, 0.0, 0.0]).
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) + 0.3 * rng.normal(size=(256, 1))).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.2), "mse")
    driver = keras_lr.BoldDriver(increase=2.0, decrease=0.5, frequency=8, rollback=True)
    stopping = keras.callbacks.EarlyStopping("loss", patience=3)
    history = model.fit(x, y, batch_size=32, epochs=12, verbose=0, shuffle=False,
                        callbacks=[stopping, driver] if first == "early_stopping" else [driver, stopping])
    events = driver.events_frame()
    whole = events[events.reason.str.contains("rolled back")]
    assert len(whole) >= 2 and (whole.step % 8 == 0).all()  # each at an epoch's end, to the one before
    losses = history.history["loss"]
    assert min(losses) > 0.05
    for epoch in whole.epoch:  # the loss of the epoch it went back to (the last one whose steps were kept)
        kept = max(e for e in range(epoch) if e not in set(whole.epoch))
        assert losses[epoch] == pytest.approx(losses[kept], rel=1e-6)
    assert len(losses) > 6  # not stopped by a best loss of 0


def test_bold_driver_checking_epochs_of_one_step_rolls_back_as_it_does_checking_each_step():
    # Full-batch training, bold driver's own setting: an epoch's loss is that of the weights its one step
    # began from, as with frequency=1, but a worse epoch rolled back to the weights whose loss rose: stuck
    # there, 19 rollbacks to step 5 in a row, the loss left at 5e-4 where frequency=1 reached 4e-11.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    runs = {}
    for frequency in (1, "epoch"):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.3), "mse")
        driver = keras_lr.BoldDriver(increase=1.5, decrease=0.5, frequency=frequency, rollback=True)
        history = model.fit(x, y, batch_size=64, epochs=25, verbose=0, shuffle=False, callbacks=[driver])
        runs[frequency] = (driver.events_frame(), model.evaluate(x, y, verbose=0))
        back = runs[frequency][0]
        for epoch in back[back.reason.str.contains("rolled back")].epoch:
            # Checking each step, an epoch undone whole logs the loss of the weights gone back to, which the next
            # epoch's step measures again (it logged the loss of the step before them). Checking at the epoch's
            # end, the epoch's loss is logged before the check.
            if frequency == 1 and epoch + 1 < 25:
                assert history.history["loss"][epoch] == pytest.approx(history.history["loss"][epoch + 1], rel=1e-6)
    (steps, loss), (epochs, epoch_loss) = runs[1], runs["epoch"]
    assert steps.reason.str.contains("rolled back").sum() >= 3
    assert list(epochs.step) == list(steps.step) and list(epochs.new_learning_rate) == list(steps.new_learning_rate)
    assert epoch_loss == pytest.approx(loss, rel=1e-3, abs=1e-9) and loss < 1e-8


def lazy_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])  # built by fit
    model.compile(keras.optimizers.SGD(0.05), "mse")
    return model


def test_a_model_built_by_its_first_fit_trains_with_the_adaptive_callbacks_that_need_no_snapshot():
    # Under TensorFlow fit builds such a model at its first step, after on_train_begin: there the callbacks
    # built its optimizer for no variables, and that fit, and every later one, failed ("Unknown variable").
    x, y = bias_data()
    model = lazy_model()
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0,
                        callbacks=[keras_lr.ReduceLROnPlateau("loss"), keras_lr.BoldDriver()])
    assert len(history.history["loss"]) == 2 and model.optimizer.iterations.numpy() == 20


@pytest.mark.parametrize("make", [keras_lr.DivergenceGuard, lambda: keras_lr.BoldDriver(rollback=True)],
                         ids=["DivergenceGuard", "BoldDriver"])
def test_a_model_built_by_its_first_fit_is_refused_by_a_rollback_with_nothing_to_roll_back_to(make):
    x, y = bias_data()
    model = lazy_model()
    callback = make()
    if BACKEND != "tensorflow":  # JAX's and torch's fit build the model before on_train_begin
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[callback])
        assert model.optimizer.iterations.numpy() == 10
        return
    with pytest.raises(ValueError, match=rf"{type(callback).__name__}: the model is not built.*keras.Input"):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[callback])
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # left as it was: fit builds it
    assert model.built and model.optimizer.iterations.numpy() == 10


def test_a_rollback_scales_a_momentum_that_holds_the_rate_as_it_cuts_the_rate():
    # Keras's SGD keeps its velocity scaled by the rates it was built at (m = 0.9 m - rate g): put back by a
    # rollback, it repeated the step just rejected whatever the cut rate, and BoldDriver rolled back to one
    # snapshot 9 times in a row, cutting the rate to about 0, the loss frozen at 1.22 for 5 epochs.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1))).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.15, momentum=0.9), "mse")
    driver = keras_lr.BoldDriver(increase=1.5, decrease=0.5, rollback=True, frequency=1)
    history = model.fit(x, y, batch_size=32, epochs=6, verbose=0, shuffle=False, callbacks=[driver])
    events = driver.events_frame()
    back = events.reason.str.extract(r"rolled back to step (\d+)")[0].dropna()
    assert len(back) >= 1 and back.value_counts().max() <= 5  # not stuck on one snapshot (21 times)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]


def test_a_rollback_to_the_fits_start_leaves_the_velocity_an_earlier_fit_built():
    # The velocity was scaled by the new rate over "the rate it was built at", read from this fit's schedule at
    # the step before the fit began: Keras's warmup gave -0.0125 there, and the velocity flipped its sign (the
    # bias climbed from -2.87 to -0.89 on a loss of mean(bias)).
    x = np.zeros((64, 1), "float32")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), loss=lambda target, output: keras.ops.mean(output))
    model.fit(x, x, batch_size=8, epochs=1, verbose=0, shuffle=False)  # 8 steps: a velocity of about -0.57
    velocity, bias = float(model.optimizer.momentums[1].numpy()[0]), float(model.layers[0].bias.numpy()[0])
    diverging = x.copy()
    diverging[8:16] = np.nan  # the second fit's second batch
    warmup = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=100, warmup_target=0.1, warmup_steps=8)
    guard = keras_lr.DivergenceGuard(snapshot_every=50)
    model.fit(diverging, x, batch_size=8, epochs=1, verbose=0, shuffle=False,
              callbacks=[keras_lr.Scheduler(warmup), guard])
    assert guard.recoveries == 1 and velocity < -0.5
    assert float(model.optimizer.momentums[1].numpy()[0]) < 0  # still downhill
    assert float(model.layers[0].bias.numpy()[0]) < bias - 1.0


class ReadPlateau(keras_lr.ReduceLROnPlateau):
    """Keeps each training loss it reads."""

    def _reset(self):
        super()._reset()
        self.read = []

    def _after_loss(self, steps, loss):
        self.read.append(loss)
        super()._after_loss(steps, loss)


@pytest.mark.parametrize("guard_first", [True, False], ids=["guard first", "plateau first"])
def test_a_rollback_rewinds_the_losses_every_adaptive_callback_reads(guard_first):
    # Only the rolling-back callback's own count of the epoch's steps went back with Keras's loss tracker: a
    # plateau listed before the guard read the next step's loss as -4999 (true: 0.96), its best, which nothing could
    # beat, so on a falling loss it cut the rate at every `patience` checks (found by a review of the engine).
    x, y = np.zeros((40, 2), "float32"), np.zeros((40, 1), "float32")
    x[20] = 1e4  # batch 5 of 10: a finite spike of about 5000, where every other step's loss is about 1
    model = bias_model(keras.optimizers.SGD(0.01))
    model.layers[-1].kernel.assign(np.ones((2, 1), "float32"))
    model.layers[-1].bias.assign(np.ones((1,), "float32"))
    guard = keras_lr.DivergenceGuard(snapshot_every=2, factor=0.5, patience=1, max_recoveries=100)
    plateau = ReadPlateau(monitor="loss", frequency=1, smoothing=0.0, patience=100)
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False,
              callbacks=[guard, plateau] if guard_first else [plateau, guard])
    assert guard.recoveries == 3
    read = np.array(plateau.read)
    spikes = read > 4000
    # Each step's own loss: the spike each epoch where listed before the guard (after it, its undone step is unseen).
    assert spikes.sum() == (0 if guard_first else 3)
    assert ((read[~spikes] > 0.85) & (read[~spikes] <= 1.0)).all(), read
    assert len(read) == 30 - 3 * guard_first
