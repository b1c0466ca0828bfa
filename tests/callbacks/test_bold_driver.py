"""BoldDriver's decisions, driven with made-up losses."""

import copy
import math

import keras
import numpy as np
import pytest

import keras_lr
from tests.callbacks.adaptive_helpers import Driver


def test_grows_while_the_loss_falls_and_cuts_when_it_rises():
    driver_cb = keras_lr.BoldDriver(increase=1.1, decrease=0.5)
    driver = Driver(driver_cb)
    rates = []
    for loss in [1.0, 0.9, 0.8, 0.85, 0.7, math.nan]:
        driver.end_epoch(loss=loss)
        rates.append(driver.rate())
    np.testing.assert_allclose(rates, [0.1, 0.11, 0.121, 0.0605, 0.06655, 0.033275], rtol=1e-6)
    events = driver_cb.events_frame()
    assert [reason.split(": ")[1] for reason in events.reason] == ["improved", "improved", "worse", "improved", "worse"]


def test_rollback_restores_the_previous_check_and_keeps_its_loss():
    driver_cb = keras_lr.BoldDriver(decrease=0.5, rollback=True)
    driver = Driver(driver_cb)
    driver.batch(1.0)
    driver.end_epoch(loss=1.0)  # baseline; weights of step 1 kept
    driver.batch(1.0)
    driver.end_epoch(loss=1.2)  # worse: back to step 1
    assert driver.kernel() == 1.0
    assert driver_cb.previous == 1.0
    driver.batch(1.0)
    driver.end_epoch(loss=1.1)  # still worse than 1.0 (not 1.2): back again
    assert driver.kernel() == 1.0
    assert driver.rate() == pytest.approx(0.025)
    driver.batch(1.0)
    driver.end_epoch(loss=0.9)
    assert driver.kernel() == 4.0 and driver_cb.previous == 0.9


def test_rollback_of_single_steps_goes_back_to_where_the_better_step_began():
    # The training loss of a step is that of the weights before its update: the weights after the better
    # step are those of the worse loss. Going back there kept the weights that rose, and every check after
    # compared them again: the rate fell for good.
    driver_cb = keras_lr.BoldDriver(decrease=0.5, frequency=1, rollback=True)
    driver = Driver(driver_cb)
    driver.batch(1.0)  # step 1 from the start (kernel 0): the baseline
    driver.batch(0.8)  # step 2 from step 1: improved
    driver.batch(1.5)  # step 3 from step 2, worse: back to step 1, where the better step began
    assert driver.kernel() == 1.0 and driver_cb.previous == pytest.approx(0.8)
    driver.batch(0.9)  # the restored weights measured again: the new reference, not judged
    assert driver_cb.previous == pytest.approx(0.9)
    driver.batch(0.7)
    assert [reason.split(": ")[1] for reason in driver_cb.events_frame().reason] == [
        "improved", "worse; rolled back to step 1", "improved"]


def test_rollback_on_the_training_loss_of_every_step_recovers_from_a_rate_too_high():
    # SGD at 1.2 overshoots this regression at every step; the driver must cut it and train, not decay it away.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]])).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(1.2), "mse")
    start = model.evaluate(x, y, verbose=0)
    driver_cb = keras_lr.BoldDriver(decrease=0.5, frequency=1, rollback=True)
    model.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0, callbacks=[driver_cb])
    assert model.evaluate(x, y, verbose=0) < 0.01 * start
    assert driver_cb.current_rate() > 0.05


def test_without_rollback_the_worse_loss_becomes_the_reference():
    driver_cb = keras_lr.BoldDriver(decrease=0.5, increase=2.0)
    driver = Driver(driver_cb)
    for loss in [1.0, 1.2, 1.1]:
        driver.batch(1.0)
        driver.end_epoch(loss=loss)
    assert driver.kernel() == 3.0
    assert driver.rate() == pytest.approx(0.1)  # halved, then doubled


def test_min_lr_and_max_lr_bound_the_rate():
    driver_cb = keras_lr.BoldDriver(increase=2.0, decrease=0.1, min_lr=0.05, max_lr=0.3)
    driver = Driver(driver_cb)
    rates = []
    for loss in [1.0, 0.9, 0.8, 0.7, 0.8, 0.9]:
        driver.end_epoch(loss=loss)
        rates.append(driver.rate())
    np.testing.assert_allclose(rates, [0.1, 0.2, 0.3, 0.3, 0.05, 0.05], rtol=1e-6)
    # A check the bound kept from moving the rate is no change: events_frame and verbose=1 list changes.
    events = driver_cb.events_frame()
    assert len(events) == 3 and (events.old_learning_rate != events.new_learning_rate).all()


def test_checks_every_n_steps_compare_interval_means():
    driver_cb = keras_lr.BoldDriver(increase=2.0, decrease=0.5, frequency=4)
    driver = Driver(driver_cb)
    for loss in [1.0, 3.0, 1.0, 3.0]:  # interval mean 2.0 (baseline)
        driver.batch(loss)
    driver.batch(1.0, steps=2)
    driver.batch(2.0, steps=2)  # mean 1.5: improved
    driver.batch(4.0, steps=4)  # 4.0: worse
    assert list(driver_cb.events_frame().step) == [8, 12]
    assert driver.rate() == pytest.approx(0.1)


def test_checks_every_n_steps_keep_the_remainder_when_hooks_skip_the_interval():
    # Hooks every 4 steps (steps_per_execution=4), frequency=6: checks at 8, 12, 20, 24 (the first hook at or
    # after each multiple of 6), each on the mean loss since the last check.
    driver_cb = keras_lr.BoldDriver(increase=2.0, decrease=0.5, frequency=6)
    driver = Driver(driver_cb)
    for loss in [1.0, 1.0, 2.0, 3.0, 4.0, 5.0]:
        driver.batch(loss, steps=4)
    # 8: baseline 1.0; 12: 2.0 worse; 20: (3+4)/2 worse; 24: 5.0 worse.
    assert list(driver_cb.events_frame().step) == [12, 20, 24]
    assert driver.rate() == pytest.approx(0.1 * 0.5**3)


def test_max_mode_for_accuracy():
    driver_cb = keras_lr.BoldDriver(monitor="val_accuracy", increase=2.0)
    driver = Driver(driver_cb)
    driver.end_epoch(val_accuracy=0.5)
    driver.end_epoch(val_accuracy=0.6)
    assert driver.rate() == pytest.approx(0.2)


def test_state_is_reset_and_deepcopy_drops_it():
    driver_cb = keras_lr.BoldDriver()
    driver = Driver(driver_cb)
    driver.end_epoch(loss=1.0)
    driver.end_epoch(loss=0.5)
    clone = copy.deepcopy(driver_cb)
    assert clone.previous is None and clone.model is None and len(clone.events_frame()) == 0
    Driver(driver_cb)
    assert driver_cb.previous is None and len(driver_cb.events_frame()) == 0
    assert keras_lr.BoldDriver(**driver_cb.get_config()).get_config() == driver_cb.get_config()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(increase=1.0), "increase must be > 1"),
        (dict(decrease=1.0), "decrease must be in"),
        (dict(rollback="yes"), "rollback must be"),
        (dict(min_lr=-1.0), "min_lr must be >= 0"),
        (dict(max_lr=0.0), "max_lr must be > 0"),
        (dict(min_lr=0.5, max_lr=0.1), "max_lr must be >= min_lr"),
        (dict(frequency=5, monitor="val_loss"), "pass monitor='loss'"),
        (dict(frequency=-5), "frequency must be an integer >= 1"),
        (dict(mode="best"), "mode must be one of"),
    ],
)
def test_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=f"BoldDriver: .*{message}"):
        keras_lr.BoldDriver(**arguments)


def test_rollback_in_steps_drops_the_rejected_losses_from_the_epoch_mean():
    driver_cb = keras_lr.BoldDriver(decrease=0.5, increase=2.0, frequency=2, rollback=True)
    driver = Driver(driver_cb)
    for loss in [1.0, 1.0, 0.5, 0.5]:  # baseline 1.0, then improved to 0.5
        driver.batch(loss)
    for loss in [math.nan, math.nan]:  # worse: back to the check at step 4
        logs = driver.batch(loss)
    assert driver.kernel() == 4.0
    assert logs["loss"] == pytest.approx(0.75)  # for the callbacks after it (TerminateOnNaN): the kept steps'
    for loss in [0.4, 0.4]:  # improved against 0.5: the NaNs went with the rejected steps
        logs = driver.batch(loss)
    assert [reason.split(": ")[1] for reason in driver_cb.events_frame().reason] == [
        "improved",
        "worse; rolled back to step 4",
        "improved",
    ]
    assert logs["loss"] == pytest.approx(3.8 / 6)  # mean of the kept steps 1, 1, .5, .5, .4, .4


@pytest.mark.parametrize("arguments, rate, losses", [
    (dict(increase=1.261, decrease=0.5, max_lr=0.1391), 0.0796, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]),
    (dict(increase=1.05, decrease=0.727, min_lr=0.01678), 0.0365, [1.0, 1.1, 1.2, 1.3, 1.4, 1.5]),
], ids=["max_lr", "min_lr"])
def test_a_bound_reached_by_a_factor_is_no_change_at_the_checks_after(arguments, rate, losses):
    # Capped by a factor, the rate lands an ulp off the bound: the checks after it listed "0.1391 -> 0.1391".
    driver = Driver(keras_lr.BoldDriver(**arguments), learning_rate=rate)
    for loss in losses:
        driver.end_epoch(loss=loss)
    events = driver.callback.events_frame()
    assert len(events) == 3  # x1.261 (or x0.727) twice, then to the bound
    assert not np.isclose(events.old_learning_rate, events.new_learning_rate, rtol=1e-6).any()


@pytest.mark.parametrize("bounds, losses", [(dict(min_lr=0.2), [1.0, 1.1]), (dict(max_lr=0.05), [1.0, 0.9])],
                         ids=["worse below min_lr", "improved above max_lr"])
def test_a_rate_outside_its_bounds_is_never_moved_the_wrong_way(bounds, losses):
    # The rate compiled in (0.1) lies outside [min_lr, max_lr]: a worse loss raised it to min_lr, an
    # improvement cut it to max_lr.
    driver = Driver(keras_lr.BoldDriver(**bounds))
    for loss in losses:
        driver.end_epoch(loss=loss)
    assert driver.rate() == pytest.approx(0.1)
    assert driver.callback.events_frame().empty


def _diverging_first_epoch(callbacks, epochs=5, rate=30.0):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]])).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(rate), "mse")  # blows up within the first epoch
    history = model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)
    return model, history


def test_a_first_check_that_is_not_finite_is_not_the_reference():
    # It was: with rollback every later epoch went back to its NaN weights ("nan vs nan: worse"); without,
    # every later check compared against NaN and cut the rate, recovered or not.
    driver_cb = keras_lr.BoldDriver(decrease=0.001, rollback=True)  # 30 -> 0.03, which trains
    model, history = _diverging_first_epoch([driver_cb])
    reasons = list(driver_cb.events_frame().reason)
    assert "not finite" in reasons[0] and "rolled back to step 0" in reasons[0]
    assert not any("vs nan" in reason for reason in reasons)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    losses = history.history["loss"]
    assert np.isfinite(losses[1:]).all() and losses[-1] < losses[1] / 4  # trains from the fit's start again
    driver_cb = keras_lr.BoldDriver(decrease=0.1)
    _, history = _diverging_first_epoch([driver_cb])
    assert not any("vs nan" in reason for reason in driver_cb.events_frame().reason)


def test_a_rejected_full_batch_step_zeroes_the_momentum_it_came_from():
    # The bold-driver rule (Vogl et al., 1988): the velocity of the weights gone back to took the rejected
    # step, and a cut rate leaves it. Restored, it rose again at every rate: 29 rollbacks to step 1, the rate
    # cut to 1e-9, the loss left at 2.3 of 14.6.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]])).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(0.5, momentum=0.9), "mse")
    start = model.evaluate(x, y, verbose=0)
    driver_cb = keras_lr.BoldDriver(rollback=True)
    model.fit(x, y, batch_size=64, epochs=25, verbose=0, callbacks=[driver_cb])
    assert model.evaluate(x, y, verbose=0) < 1e-4 * start  # (3.7e-5 x start; was 0.16 x)
    reasons = list(driver_cb.events_frame().reason)
    assert any(reason.endswith("momentum zeroed") for reason in reasons) and len(reasons) < 25


def _breast_cancer_at(optimizer):
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = ((data.data - data.data.mean(0)) / data.data.std(0)).astype("float32")[:384]
    y = data.target[:384].astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer, "mse")
    return model, x, y


@pytest.mark.parametrize("frequency", [12, "epoch"])
def test_an_epoch_rolled_back_whole_logs_the_loss_gone_back_to(frequency):
    # Rolled back to the fit's start, an epoch logged Keras's 0 for a mean of no step (checks of a whole epoch in
    # steps: [0, 0, 0, 0, 0.70, 0.13]), which EarlyStopping takes for the best; checked at epochs' ends, the NaN
    # or worse loss undone stayed in History ([nan, nan, 3.68, nan, 1.25, 0.84]), as docs/callbacks.md says it does not.
    model, x, y = _breast_cancer_at(keras.optimizers.SGD(1.0 if frequency == 12 else 0.3,
                                                         momentum=0.0 if frequency == 12 else 0.9))
    driver_cb = keras_lr.BoldDriver(monitor="loss", frequency=frequency, rollback=True)
    losses = model.fit(x, y, batch_size=32, epochs=6, verbose=0, shuffle=False, callbacks=[driver_cb]).history["loss"]
    events = driver_cb.events_frame()
    to_start = sorted({int(e.epoch) for e in events.itertuples() if "rolled back to step 0" in e.reason})
    assert to_start and np.isfinite(losses).all() and min(losses) > 0, losses
    assert len({round(losses[epoch], 6) for epoch in to_start}) == 1, losses  # the fit's first batch's loss
