"""DivergenceGuard's decisions, driven with made-up losses.

The driver sets the kernel to the step number after every step, so the
kernel after a rollback says which snapshot was restored.
"""

import copy
import math

import numpy as np
import pytest

import keras_lr
from tests.callbacks.adaptive_helpers import Driver


def test_nan_rolls_back_to_the_start_and_cuts_the_rate():
    guard = keras_lr.DivergenceGuard(factor=0.5, snapshot_every=10)
    driver = Driver(guard)
    start = driver.kernel()
    for loss in [1.0, 0.9, math.nan]:
        driver.batch(loss)
    assert driver.kernel() == start
    assert driver.rate() == pytest.approx(0.05)
    assert guard.recoveries == 1
    events = guard.events_frame()
    assert list(events.step) == [3]
    assert events.reason[0] == "loss nan; rolled back to step 0"


def test_spike_above_threshold_times_the_median():
    guard = keras_lr.DivergenceGuard(threshold=4.0, window=3)
    driver = Driver(guard)
    for loss in [1.0, 2.0, 3.0, 11.9]:
        driver.batch(loss)
    assert guard.recoveries == 1  # 11.9 > 4 x 2
    assert guard.events_frame().reason[0] == "loss 11.9 > 4 x median 2 and > start 2; rolled back to step 0"
    driver.batch(7.9)  # < 4 x 2
    driver.batch(11.5)  # median of (2, 3, 7.9) is 3: < 4 x 3
    driver.batch(31.7)  # median of (3, 7.9, 11.5) is 7.9: > 4 x 7.9
    assert guard.recoveries == 2


def test_late_spikes_below_the_starting_loss_are_normal_noise():
    guard = keras_lr.DivergenceGuard(window=4)
    driver = Driver(guard)
    for loss in [2.4, 2.2, 2.0, 1.8] + [0.02] * 10:
        driver.batch(loss)
    driver.batch(0.5)  # 25 x the median, but below where the fit started
    assert guard.recoveries == 0
    driver.batch(2.5)  # above both
    assert guard.recoveries == 1


def test_snapshot_counts_only_once_its_weights_gave_a_good_loss():
    guard = keras_lr.DivergenceGuard(snapshot_every=2)
    driver = Driver(guard)
    driver.batch(1.0)  # step 1
    driver.batch(1.0)  # step 2: snapshot of the weights after step 2 (kernel 2)
    driver.batch(1.0)  # step 3: its loss is good, so that snapshot is good
    driver.batch(1.0)  # step 4: a new snapshot (kernel 4), not yet confirmed
    driver.batch(math.inf)  # step 5: the weights of step 4 gave an infinite loss
    assert driver.kernel() == 2.0
    assert guard.events_frame().reason[0] == "loss inf; rolled back to step 2"


def test_rolls_back_every_optimizer_variable_but_the_step_counter():
    import keras

    guard = keras_lr.DivergenceGuard(snapshot_every=1)
    driver = Driver(guard, optimizer=keras.optimizers.Adam(0.1))
    driver.optimizer.build(driver.model.trainable_variables)
    moments = [v for v in driver.optimizer.variables if "momentum" in v.path]
    driver.batch(1.0)
    for variable in moments:
        variable.assign(np.full(variable.shape, 7.0, "float32"))
    driver.batch(1.0)  # snapshot with moments 7, confirmed below
    driver.batch(1.0)
    for variable in moments:
        variable.assign(np.full(variable.shape, math.nan, "float32"))
    driver.batch(math.nan)
    assert moments and all(np.all(v.numpy() == 7.0) for v in moments)
    assert driver.step == 4


def test_stops_after_max_recoveries_failed_in_a_row():
    guard = keras_lr.DivergenceGuard(factor=0.5, max_recoveries=2, snapshot_every=1)
    driver = Driver(guard)
    driver.batch(1.0)
    driver.batch(1.0)  # confirms the snapshot of step 1
    driver.batch(math.nan)
    driver.batch(math.nan)
    assert not driver.model.stop_training
    with pytest.warns(UserWarning, match="after 2 failed recoveries in a row; training stops at the last good weights"):
        driver.batch(math.nan)
    assert driver.model.stop_training and guard.stopped
    assert guard.recoveries == 3
    assert driver.kernel() == 1.0  # the snapshot taken after step 1
    assert driver.rate() == pytest.approx(0.025)  # two cuts, not three
    assert list(guard.events_frame().new_learning_rate) == pytest.approx([0.05, 0.025, 0.025])


def test_a_recovery_that_holds_resets_the_failure_count():
    guard = keras_lr.DivergenceGuard(factor=0.5, max_recoveries=1, snapshot_every=2)
    driver = Driver(guard)
    driver.batch(math.nan)  # failure 1
    assert guard.failed_recoveries == 1
    for _ in range(4):  # a snapshot is taken and then confirmed: the recovery held
        driver.batch(1.0)
    assert guard.failed_recoveries == 0
    driver.batch(math.nan)  # failure 1 again, not 2: training goes on
    assert not driver.model.stop_training
    assert guard.recoveries == 2


def test_non_finite_weights_at_epoch_end_roll_back():
    guard = keras_lr.DivergenceGuard()
    driver = Driver(guard)
    driver.batch(1.0)
    driver.model.layers[-1].bias.assign(np.array([math.inf], "float32"))
    driver.end_epoch(loss=1.0)
    assert np.all(np.isfinite(driver.model.get_weights()[1]))
    assert guard.events_frame().reason[0].startswith("non-finite weights")


def test_rollback_forgets_the_lost_steps_losses():
    guard = keras_lr.DivergenceGuard()
    driver = Driver(guard)
    driver.batch(1.0)
    driver.batch(math.nan)
    logs = driver.batch(2.0)
    assert logs["loss"] == 1.5  # the mean of the steps kept


def test_state_is_reset_at_train_begin_and_by_deepcopy():
    guard = keras_lr.DivergenceGuard(max_recoveries=0)
    driver = Driver(guard)
    with pytest.warns(UserWarning):
        driver.batch(math.nan)
    assert guard.stopped
    clone = copy.deepcopy(guard)
    assert clone.model is None and clone.recoveries == 0 and not clone.stopped
    Driver(guard)
    assert guard.recoveries == 0 and not guard.stopped and len(guard.events_frame()) == 0
    assert keras_lr.DivergenceGuard(**guard.get_config()).get_config() == guard.get_config()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(threshold=1.0), "threshold must be > 1"),
        (dict(factor=1.5), "factor must be in"),
        (dict(snapshot_every=0), "snapshot_every must be an integer >= 1"),
        (dict(max_recoveries=-1), "max_recoveries must be an integer >= 0"),
        (dict(window=0), "window must be an integer >= 1"),
        (dict(verbose=-1), "verbose must be an integer >= 0"),
    ],
)
def test_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=f"DivergenceGuard: {message}"):
        keras_lr.DivergenceGuard(**arguments)
