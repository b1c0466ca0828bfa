"""ReduceLROnPlateau's decisions, driven with made-up metrics."""

import copy

import keras
import numpy as np
import pytest

import keras_lr
from tests.callbacks.adaptive_helpers import Driver


def epoch_rates(callback, values, monitor="val_loss", **driver_kwargs):
    """The rate of the next step after each epoch that logged ``values``."""
    driver = Driver(callback, **driver_kwargs)
    rates = []
    for value in values:
        driver.end_epoch(**{monitor: value})
        rates.append(driver.rate())
    return driver, rates


def test_patience_counts_epochs_without_improvement():
    callback = keras_lr.ReduceLROnPlateau(factor=0.5, patience=2)
    driver, rates = epoch_rates(callback, [1.0, 0.9, 0.95, 0.95, 0.8, 0.9, 0.9, 0.9, 0.9])
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.0125], rtol=1e-6)
    events = callback.events_frame()
    assert list(events.epoch) == [3, 6, 8]
    np.testing.assert_allclose(events.old_learning_rate, [0.1, 0.05, 0.025], rtol=1e-6)
    np.testing.assert_allclose(events.new_learning_rate, [0.05, 0.025, 0.0125], rtol=1e-6)
    np.testing.assert_allclose(events.multiplier, [0.5, 0.25, 0.125])
    assert events.reason[0] == "val_loss did not improve for 2 checks"


def test_min_delta_smaller_gains_are_not_improvements():
    callback = keras_lr.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.1)
    _, rates = epoch_rates(callback, [1.0, 0.95, 0.8, 0.75])
    np.testing.assert_allclose(rates, [0.1, 0.05, 0.05, 0.025], rtol=1e-6)


def test_cooldown_skips_checks_after_a_reduction():
    callback = keras_lr.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2)
    _, rates = epoch_rates(callback, [1.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    # Reduced at epoch 1 and 3: as in Keras, the check during which the cooldown
    # runs out (epoch 3) counts again.
    np.testing.assert_allclose(rates, [0.1, 0.05, 0.05, 0.025, 0.025, 0.0125], rtol=1e-6)


def test_min_lr_bounds_the_reductions():
    callback = keras_lr.ReduceLROnPlateau(factor=0.1, patience=0, min_lr=0.004)
    driver, rates = epoch_rates(callback, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(rates, [0.1, 0.01, 0.004, 0.004], rtol=1e-6)
    assert len(callback.events_frame()) == 2


def test_auto_mode_maximises_accuracy():
    callback = keras_lr.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)
    _, rates = epoch_rates(callback, [0.5, 0.6, 0.55], monitor="val_accuracy")
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.05], rtol=1e-6)


@pytest.mark.parametrize("monitor, mode", [
    ("val_cls_mae", "min"),  # an output's metric, prefixed with its name
    ("val_root_mean_squared_error", "min"),  # had been offered 'val_mean_squared_error'
    ("rmse", "min"),
    ("val_auc_1", "max"),  # Keras numbers a second metric of one kind
    ("val_out_accuracy", "max"),
    ("val_mean_iou", "max"),
    ("val_head_loss", "min"),
])
def test_auto_mode_reads_the_metric_names_keras_writes(monitor, mode):
    assert keras_lr.ReduceLROnPlateau(monitor=monitor)._direction == mode


@pytest.mark.parametrize("metric, arguments, mode", [
    ("MeanIoU", dict(num_classes=2), "max"),  # logged as mean_io_u, not the mean_iou "auto" knew
    ("IoU", dict(num_classes=2, target_class_ids=[0]), "max"),
    ("BinaryIoU", {}, "max"),
    ("OneHotMeanIoU", dict(num_classes=2), "max"),
    ("PearsonCorrelation", {}, "max"),  # (Keras 3.6 on)
    ("ConcordanceCorrelation", {}, "max"),
    ("R2Score", {}, "max"),
    ("LogCoshError", {}, "min"),
])
def test_auto_mode_reads_the_names_keras_gives_its_metrics(metric, arguments, mode):
    if not hasattr(keras.metrics, metric):
        pytest.skip(f"this Keras has no {metric}")
    metric = getattr(keras.metrics, metric)(**arguments)
    assert keras_lr.ReduceLROnPlateau(monitor=f"val_{metric.name}")._direction == mode
    assert keras_lr.BoldDriver(monitor=f"val_out_{metric.name}_1")._direction == mode


def keras_rates(arguments, values, monitor="val_loss"):
    """The rate after each epoch that logged ``values``, as Keras's own ReduceLROnPlateau sets it."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    theirs = keras.callbacks.ReduceLROnPlateau(**arguments)
    theirs.set_model(model)
    theirs.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        theirs.on_epoch_end(epoch, {monitor: float(value)})
        rates.append(float(model.optimizer.learning_rate.numpy()))
    return rates


@pytest.mark.parametrize("seed", range(4))
def test_same_decisions_as_keras_on_a_float_rate(seed):
    rng = np.random.default_rng(seed)
    values = np.cumsum(rng.normal(-0.02, 0.05, size=40)) + 5.0
    arguments = dict(factor=0.5, patience=int(rng.integers(0, 4)), cooldown=int(rng.integers(0, 3)), min_lr=1e-3, min_delta=0.01)
    expected = keras_rates(arguments, values)
    _, rates = epoch_rates(keras_lr.ReduceLROnPlateau(**arguments), values)
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


def test_a_change_of_exactly_min_delta_in_float32_metrics_is_no_improvement():
    # Accuracy on 40 validation rows moves in steps of 1/40, kept in float32: 0.52499998 to 0.57499999 is a
    # gain of 2/40, exactly min_delta=0.05, which is no improvement (Keras compares in float32 and cuts the
    # rate); read in float64 it was a gain of 0.05000001, and the rate was kept.
    f32 = lambda value: float(np.float32(value))
    for mode, values, cut in [("max", [0.525, 0.575], True), ("max", [0.525, 0.6], False),
                              ("min", [0.575, 0.525], True), ("min", [0.6, 0.525], False)]:
        callback = keras_lr.ReduceLROnPlateau("val_accuracy", mode=mode, factor=0.5, patience=0, min_delta=0.05)
        _, rates = epoch_rates(callback, [f32(value) for value in values], monitor="val_accuracy")
        assert rates == pytest.approx([0.1, 0.05 if cut else 0.1]), (mode, values)


@pytest.mark.skipif(not hasattr(keras.callbacks.ReduceLROnPlateau(), "_is_improvement"),
                    reason="Keras before 3.11 compared in float64 (numpy)")
@pytest.mark.parametrize("mode", ["max", "min"])
def test_same_decisions_as_keras_on_float32_metrics_on_a_grid(mode):
    rng = np.random.default_rng(0)
    counts = np.cumsum(rng.integers(-1, 4, size=40)) + 20
    values = [float(np.float32(count / 40 if mode == "max" else 1 - count / 40)) for count in counts]
    monitor = "val_accuracy" if mode == "max" else "val_loss"
    arguments = dict(monitor=monitor, mode=mode, factor=0.7, patience=1, min_delta=0.05, min_lr=1e-6)
    expected = keras_rates(arguments, values, monitor)
    _, rates = epoch_rates(keras_lr.ReduceLROnPlateau(**arguments), values, monitor=monitor)
    assert 3 < len(set(expected)) < len(values)  # it cut the rate, and not at every epoch
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


def test_checks_every_n_steps_on_the_smoothed_training_loss():
    callback = keras_lr.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, frequency=5, smoothing=0.0)
    driver = Driver(callback)
    for loss in [1.0] * 5 + [0.5] * 5 + [0.6] * 10:
        driver.batch(loss)
    # Checks at steps 5 (best 1.0), 10 (0.5, better), 15 (worse: wait 1 = patience) and 20.
    events = callback.events_frame()
    assert list(events.step) == [15, 20]
    assert driver.rate() == pytest.approx(0.025)


def test_checks_in_steps_count_steps_per_execution():
    callback = keras_lr.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, frequency=4, smoothing=0.0)
    driver = Driver(callback)
    for loss in [1.0, 2.0, 3.0]:
        driver.batch(loss, steps=4)
    assert list(callback.events_frame().step) == [8, 12]


def test_checks_in_steps_keep_the_remainder_when_hooks_skip_the_interval():
    # With steps_per_execution=4 and frequency=6, hooks come every 4 steps: it checks at the first hook at
    # or after each multiple of 6 (8, 12, 20, 24), every 6 steps on average, not every 8.
    callback = keras_lr.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, frequency=6, smoothing=0.0)
    driver = Driver(callback)
    for loss in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]:
        driver.batch(loss, steps=4)
    assert list(callback.events_frame().step) == [12, 20, 24]


def test_smoothing_averages_the_loss_between_checks():
    # A falling loss with batch-to-batch noise: the raw loss "rises" every other
    # step, the smoothed one falls after its first three steps.
    losses = [1.0 - 0.05 * t + 0.1 * (-1) ** t for t in range(16)]
    reductions = {}
    for smoothing in (0.9, 0.0):
        callback = keras_lr.ReduceLROnPlateau(monitor="loss", patience=0, frequency=1, smoothing=smoothing, min_delta=0.0)
        driver = Driver(callback)
        for loss in losses:
            driver.batch(loss)
        reductions[smoothing] = len(callback.events_frame())
    assert reductions == {0.9: 1, 0.0: 7}


def _fit_with_validation(callback, epochs=4, extra=(), **kwargs):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model.fit(x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=[*extra, callback], **kwargs)


@pytest.mark.parametrize("make", [
    lambda: keras_lr.ReduceLROnPlateau(patience=0, min_delta=1e9),
    lambda: keras_lr.BoldDriver(monitor="val_loss"),
], ids=["plateau", "bold-driver"])
def test_epochs_without_validation_are_skipped_with_one_warning(make):
    # fit(validation_freq=2): the first epoch logs no val_loss. It was an error, so the
    # callbacks could not be used with validation_freq at all.
    callback = make()
    with pytest.warns(UserWarning, match=r"monitor='val_loss' is not in epoch 1's logs .*no validation ran in it") as caught:
        _fit_with_validation(callback, validation_split=0.25, validation_freq=2)
    assert sum("not in epoch" in str(w.message) for w in caught) == 1
    if isinstance(callback, keras_lr.ReduceLROnPlateau):
        # Checked at epochs 2 and 4 only: a first best, then one reduction (min_delta is huge).
        assert callback.events_frame().epoch.tolist() == [3]
    # Whether an epoch validated is read from its logs: an evaluate() with the same callback
    # inside an epoch that ran no validation (a callback listed before it) does not count.
    callback = make()

    class Evaluate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.evaluate(np.ones((8, 4), "float32"), np.ones((8, 1), "float32"), verbose=0,
                                callbacks=[callback])

    with pytest.warns(UserWarning, match="no validation ran in it"):
        _fit_with_validation(callback, epochs=2, validation_split=0.25, validation_freq=2, extra=[Evaluate()])
    # With no validation data at all, every epoch is skipped after the same one warning.
    callback = make()
    with pytest.warns(UserWarning, match="If fit has no validation data, pass validation_data"):
        history = _fit_with_validation(callback)
    assert len(callback.events_frame()) == 0 and "val_loss" not in history.history


def test_a_monitor_missing_from_a_validated_epoch_is_an_error_naming_the_logged_keys():
    callback = keras_lr.ReduceLROnPlateau(monitor="val_acc")
    with pytest.raises(ValueError, match=r"monitor='val_acc' is not in the logs \(available: (learning_rate, )?loss, val_loss\)"):
        _fit_with_validation(callback, validation_split=0.25)
    callback = keras_lr.ReduceLROnPlateau(monitor="accuracy")
    driver = Driver(callback)
    with pytest.raises(ValueError, match=r"monitor='accuracy' is not in the logs \(available: loss\)"):
        driver.end_epoch(loss=1.0)


def test_state_is_reset_at_train_begin():
    callback = keras_lr.ReduceLROnPlateau(factor=0.5, patience=0)
    epoch_rates(callback, [1.0, 2.0, 3.0])
    assert len(callback.events_frame()) == 2
    _, rates = epoch_rates(callback, [5.0])
    assert callback.best == 5.0 and callback.wait == 0
    assert len(callback.events_frame()) == 0
    assert rates == [pytest.approx(0.1)]


def test_deepcopy_and_config_round_trip():
    callback = keras_lr.ReduceLROnPlateau(monitor="loss", factor=0.2, patience=3, frequency=7)
    epoch_rates(callback, [1.0])
    clone = copy.deepcopy(callback)
    assert clone.model is None and clone.best is None and len(clone.events_frame()) == 0
    assert clone.get_config() == callback.get_config()
    assert keras_lr.ReduceLROnPlateau(**callback.get_config()).get_config() == callback.get_config()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(factor=1.0), "factor must be in"),
        (dict(factor=0.0), "factor must be in"),
        (dict(patience=-1), "patience must be an integer >= 0"),
        (dict(patience=1.5), "patience must be an integer"),
        (dict(mode="up"), "mode must be one of"),
        (dict(min_delta=-0.1), "min_delta must be >= 0"),
        (dict(cooldown=-1), "cooldown must be an integer >= 0"),
        (dict(min_lr=-1.0), "min_lr must be >= 0"),
        (dict(frequency=0), "frequency must be an integer >= 1"),
        (dict(frequency="batch"), "frequency must be one of"),
        (dict(frequency=10), "pass monitor='loss'"),
        (dict(monitor="loss", frequency=10, smoothing=1.0), "smoothing must be in"),
        (dict(monitor="val_widgets"), r"cannot tell whether monitor='val_widgets' should fall or rise; pass mode"),
        (dict(monitor="val_lossx"), r"cannot tell whether monitor='val_lossx' should fall or rise \(did you mean "
                                    r"'val_loss'\?\); pass mode"),
        (dict(monitor="acuracy"), r"monitor='acuracy' .*\(did you mean 'accuracy'\?\)"),
        # Not an accuracy for holding "acc": these rise as the model gets worse, and were cut while improving.
        (dict(monitor="val_inaccuracy"), r"cannot tell whether monitor='val_inaccuracy' should fall or rise"),
        (dict(monitor="val_false_acceptance_rate"), r"cannot tell whether monitor='val_false_acceptance_rate'"),
        (dict(monitor=""), "monitor must be a non-empty string"),
    ],
)
def test_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=f"ReduceLROnPlateau: .*{message}"):
        keras_lr.ReduceLROnPlateau(**arguments)


@pytest.mark.parametrize("monitor", ["accuracy", "val_acc", "val_sparse_categorical_accuracy", "val_digit_accuracy",
                                     "top_k_categorical_accuracy"])
def test_auto_reads_keras_accuracies_as_rising(monitor):
    assert keras_lr.ReduceLROnPlateau(monitor=monitor)._direction == "max"


@pytest.mark.parametrize("verbose", [1, True])  # True, as Keras's own callbacks take it
def test_verbose_prints_one_line_per_change(capsys, verbose):
    callback = keras_lr.ReduceLROnPlateau(factor=0.5, patience=0, verbose=verbose)
    epoch_rates(callback, [1.0, 2.0, 3.0])
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert lines == [
        "Step 0 (epoch 2): ReduceLROnPlateau learning rate 0.1 -> 0.05 (val_loss did not improve for 1 check).",
        "Step 0 (epoch 3): ReduceLROnPlateau learning rate 0.05 -> 0.025 (val_loss did not improve for 1 check).",
    ]
