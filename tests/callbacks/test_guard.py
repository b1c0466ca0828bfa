"""DivergenceGuard's decisions, driven with made-up losses.

The driver sets the kernel to the step number after every step, so the
kernel after a rollback says which snapshot was restored.
"""

import copy
import math
import warnings

import keras
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
    guard = keras_lr.DivergenceGuard(threshold=4.0, window=3, patience=1)
    driver = Driver(guard)
    for loss in [1.0, 2.0, 3.0, 8.1]:
        driver.batch(loss)
    assert guard.recoveries == 1  # 8.1 > 4 x 2
    assert guard.events_frame().reason[0] == "loss 8.1 > 4 x median 2; rolled back to step 0"
    # After the rollback the restored weights (the start's) are judged as they were: against the
    # losses they led to before the divergence (1, 2, 3), not against the first ones after it.
    driver.batch(8.5)  # > 4 x 2 (it had been the first of a new reference)
    assert guard.recoveries == 2


def test_a_collapse_right_after_a_rollback_is_a_failed_recovery():
    # SGD at a rate of 30 on digits (measured under JAX): the guard rolled back twice, and the second cut
    # rate collapsed the network at once to a constant loss of 14.5, six times the 2.4 before. The losses
    # after the rollback had become the reference, so the collapse was its normal, and training went on.
    guard = keras_lr.DivergenceGuard(factor=0.5, patience=3, window=5, snapshot_every=100)
    driver = Driver(guard, learning_rate=1.0)
    for loss in [2.4, 2.3, 2.4, 14.1, 14.3, 14.6]:  # diverges: rises 3 batches in a row
        driver.batch(loss)
    assert guard.recoveries == 1
    for loss in [14.5, 14.4, 14.5, 14.4]:  # the restored weights gave 2.3-2.4; these are not their level
        driver.batch(loss)
    assert guard.recoveries == 1  # not rising for 3 batches: hard batches, maybe
    driver.batch(14.5)  # the fifth in a row (window=5): the loss stays there
    assert guard.recoveries == 2
    assert guard.events_frame().reason[1] == (
        "loss 14.5 > 4 x median 2.4 for 5 batches in a row after a rollback; rolled back to step 0"
    )
    assert driver.rate() == pytest.approx(0.25)


def test_a_collapse_after_a_rollback_at_the_first_batch_is_a_failed_recovery_too():
    # A NaN at the first hook (a blow-up within the first execution) came before any loss: the reference the
    # start's weights are judged by is then the first window of their losses, not none.
    guard = keras_lr.DivergenceGuard(factor=0.5, patience=3, window=5, snapshot_every=100)
    driver = Driver(guard, learning_rate=1.0)
    for loss in [math.nan, 2.4, 2.3, 2.4, 2.4, 2.3, 14.1, 14.3, 14.6]:
        driver.batch(loss)
    assert guard.recoveries == 2
    for loss in [14.5, 14.4] * 3:
        driver.batch(loss)
    assert guard.recoveries == 3


def test_a_lasting_new_level_is_the_datas_not_a_divergence():
    # Unshuffled data, a harder stretch of it: the loss steps up fivefold and stays. Without a rollback it is
    # left alone, as before; after a rollback (its first batches rose three in a row), the cut rate does
    # not change it, and after one more rollback the guard takes it as the new level instead of cutting the
    # rate to the end of training.
    steady = [1.0, 1.01, 1.02] * 20
    guard = keras_lr.DivergenceGuard(snapshot_every=50)
    driver = Driver(guard)
    for loss in steady + [5.0, 5.01] * 200:
        driver.batch(loss)
    assert guard.recoveries == 0
    guard = keras_lr.DivergenceGuard(snapshot_every=50)
    driver = Driver(guard)
    for loss in steady + [5.0, 5.01, 5.02] + [5.0, 5.01] * 200:
        driver.batch(loss)
    assert guard.recoveries == 2 and not guard.stopped
    assert guard.events_frame().reason[1].startswith("loss 5.01 > 4 x median 1.01 for 20 batches in a row after")


def test_spikes_must_persist_and_rise_for_patience_batches():
    guard = keras_lr.DivergenceGuard(threshold=4.0, patience=3)
    driver = Driver(guard)
    for loss in [1.0] * 5 + [9.0, 1.0, 9.0, 9.0, 9.0, 8.0, 1.0]:  # heavy-tailed batches, not divergence
        driver.batch(loss)
    assert guard.recoveries == 0
    for loss in [9.0, 20.0]:
        driver.batch(loss)
    assert guard.recoveries == 0
    driver.batch(50.0)  # the third spike in a row
    assert guard.recoveries == 1
    assert guard.events_frame().reason[0] == "loss 50 > 4 x median 1, 3 batches in a row; rolled back to step 0"
    driver.batch(math.nan)  # NaN does not wait
    assert guard.recoveries == 2


def test_a_rollback_to_the_first_snapshot_restores_the_optimizers_moments():
    # Under TensorFlow fit builds the optimizer at its first step, after the hooks where the first
    # snapshot is taken: the guard builds it, or a rollback there keeps the blown-up momentum.
    guard = keras_lr.DivergenceGuard()
    driver = Driver(guard, optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    momenta = [variable for variable in driver.optimizer.variables if "momentum" in variable.path]
    assert len(momenta) == 2
    for loss in [1.0, 1.0]:
        driver.batch(loss)
    for variable in momenta:
        variable.assign(np.full(variable.shape, 5.0, "float32"))
    driver.batch(math.nan)
    assert guard.recoveries == 1 and all(not np.any(variable.numpy()) for variable in momenta)


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


def test_stopping_after_finite_rises_only_names_data_in_a_fixed_order():
    # A loss that rises through data in the same order each epoch (a time series with shuffle=False) rises
    # again at any rate: after rolling back from finite losses only, the warning names that case.
    def rising_run(guard):
        driver = Driver(guard)
        for _ in range(4):
            driver.batch(1.0)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            for _ in range(3):  # each run: three rising spikes, then rolled back
                for loss in (5.0, 6.0, 7.0):
                    driver.batch(loss)
        return " ".join(str(w.message) for w in seen)

    message = rising_run(keras_lr.DivergenceGuard(max_recoveries=2, snapshot_every=100))
    assert "after 2 failed recoveries" in message and "shuffle=False on a trend" in message
    guard = keras_lr.DivergenceGuard(max_recoveries=2, snapshot_every=100)
    driver = Driver(guard)
    driver.batch(1.0)
    driver.batch(1.0)
    with pytest.warns(UserWarning, match="after 2 failed recoveries") as record:
        for _ in range(3):
            driver.batch(math.nan)
    assert not any("shuffle" in str(w.message) for w in record)


def test_max_recoveries_0_stops_at_the_first_divergence_and_says_so():
    guard = keras_lr.DivergenceGuard(max_recoveries=0, snapshot_every=1)
    driver = Driver(guard)
    driver.batch(1.0)
    driver.batch(1.0)
    with pytest.warns(UserWarning, match=r"training diverged \(loss nan\) and max_recoveries=0 allows no recovery"):
        driver.batch(math.nan)
    assert driver.model.stop_training and guard.recoveries == 1
    assert driver.kernel() == 1.0 and driver.rate() == pytest.approx(0.1)  # rolled back, not cut


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


def test_rollback_forgets_the_good_steps_it_undoes_too():
    # The logged mean was rewound to the last good batch, not to the snapshot restored: with the default
    # snapshot_every=50, a rollback 20 steps back kept those 20 steps' losses in (a probe: 5.10 logged where
    # the steps kept averaged 7.11).
    guard = keras_lr.DivergenceGuard(snapshot_every=2, patience=1, window=3)
    driver = Driver(guard)
    for loss in [1.0, 2.0, 3.0, 4.0]:  # a snapshot at step 2, good once step 3's loss (of its weights) is
        driver.batch(loss)
    driver.batch(math.nan)
    assert driver.kernel() == 2.0  # back to step 2's weights
    assert driver.batch(1.0)["loss"] == pytest.approx((1.0 + 2.0 + 3.0 + 1.0) / 4)  # step 4's 4.0 is gone


def test_rollback_to_an_earlier_epochs_snapshot_keeps_none_of_this_epochs_losses():
    guard = keras_lr.DivergenceGuard(snapshot_every=100, patience=1, window=3)
    driver = Driver(guard)
    start = driver.kernel()
    driver.batch(2.0)  # the start's weights
    driver.batch(2.0)
    driver.end_epoch(loss=2.0)
    driver.batch(1.0)
    driver.batch(1.0)
    driver.batch(math.nan)
    assert driver.kernel() == start  # back to the fit's start, in the epoch before
    assert driver.batch(1.5)["loss"] == pytest.approx(1.5)  # not (1 + 1 + 1.5) / 3


def test_rollback_forgets_every_spike_it_waited_for():
    guard = keras_lr.DivergenceGuard(patience=2)
    driver = Driver(guard)
    for loss in [1.0, 1.0, 10.0, 20.0]:
        driver.batch(loss)
    assert guard.recoveries == 1
    logs = driver.batch(1.0)
    assert logs["loss"] == 1.0


def test_a_train_step_that_logs_each_batchs_own_loss_is_read_as_it_is():
    # A train_step of one's own may return {"loss": this batch's loss} and leave Keras's tracker at 0.
    # Read as the epoch's running mean, such noisy but healthy losses became spikes, and a rollback.
    guard = keras_lr.DivergenceGuard(snapshot_every=5, patience=1)
    driver = Driver(guard, per_batch=True)
    noise = np.random.default_rng(0).uniform(-0.2, 0.2, 100)
    losses = np.linspace(1.5, 0.5, 100) + noise  # falling, with each batch's noise
    for loss in losses:
        driver.batch(loss)
    assert guard.recoveries == 0 and guard.events_frame().empty
    logs = driver.batch(math.nan)
    assert guard.recoveries == 1 and math.isfinite(logs["loss"])  # the kept steps' mean, for the callbacks after
    driver.begin_epoch()
    logs = driver.batch(math.nan)  # the epoch's first step: none kept, so the loss logged then (not 0)
    # Back to the snapshot of step 95, good once step 96's loss (of its weights) was: the steps kept were 0-95.
    assert guard.recoveries == 2 and logs["loss"] == pytest.approx(float(losses[:96].mean()))


def test_a_train_step_that_logs_a_mean_of_its_own_is_read_as_a_running_mean():
    # A VAE's train_step logs its total_loss_tracker's mean as "loss" and leaves Keras's tracker idle:
    # read as each batch's loss, a blow-up (10, 50, 250, ...) was diluted into the mean and never caught.
    guard = keras_lr.DivergenceGuard()
    driver = Driver(guard, own_tracker=True)
    start = driver.kernel()
    for loss in [1.0] * 40 + [10.0, 50.0, 250.0, 1250.0]:
        driver.batch(loss)
    assert guard.recoveries == 1 and guard.events_frame().reason[0].startswith("loss 250 > 4 x median 1")
    assert driver.kernel() > start  # rolled back to a snapshot of the good steps, not the start


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
        (dict(patience=0), "patience must be an integer >= 1"),
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


def test_a_rollback_between_updates_keeps_the_accumulated_gradients_in_step():
    # gradient_accumulation_steps=4, snapshots every 3 batches: a rollback at batch 8 (just after an
    # update) to the snapshot of batch 6 (two gradients summed) restored that sum, so the next update
    # averaged six batches over four. The step counter is not rolled back, so the sum is emptied.
    from keras_lr._engine.optimizers import step_counter

    x = np.ones((64, 1), "float32")
    x[28:32] = np.nan  # the 8th batch of 4
    y = np.zeros_like(x)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer="ones")])
    optimizer = keras.optimizers.SGD(0.01, gradient_accumulation_steps=4)
    model.compile(optimizer, "mse")
    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 7:
                seen["counter"] = int(keras.ops.convert_to_numpy(step_counter(optimizer)))
                seen["sums"] = [float(np.abs(keras.ops.convert_to_numpy(a)).sum()) for a in optimizer._accumulated_gradients]

    guard = keras_lr.DivergenceGuard(snapshot_every=3, patience=1)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[guard, Probe()])
    assert len(guard.events_frame()) == 1
    assert seen["counter"] % 4 == 0 and seen["sums"] == [0.0, 0.0]


def test_a_model_whose_weights_an_earlier_fit_left_non_finite_is_refused_before_any_step():
    # It rolled back to those weights 10 times, cut the rate 1024x and said it stopped "at the last good weights".
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = x @ rng.normal(size=(8, 1)).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(5.0), "mse")
    weights = model.get_weights()
    weights[0][0, 0] = np.nan  # as an earlier fit at SGD(5.0) stopped by TerminateOnNaN left them
    model.set_weights(weights)
    guard = keras_lr.DivergenceGuard()
    with pytest.raises(ValueError, match=r"DivergenceGuard: the model's weights are not finite as this fit begins"):
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[guard])
    assert guard.recoveries == 0
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == 5.0


def test_a_loss_that_blows_up_in_a_zigzag_is_caught_once_it_stays_high_for_a_window():
    # SGD(1.0, momentum=0.9) gave batch losses 11, 79290, 305189, 2748, 242829, 9350, ...: every one a spike,
    # but each fall restarted the run of rising spikes, so patience was never reached and the guard never acted
    # while the epoch losses stayed at 87055, 20775, 4057.
    guard = keras_lr.DivergenceGuard(window=20)
    driver = Driver(guard)
    for loss in [1.0] * 30:
        driver.batch(loss)
    zigzag = [80.0, 300.0, 30.0, 240.0, 90.0, 400.0, 50.0, 350.0] * 3
    for count, loss in enumerate(zigzag, start=1):
        driver.batch(loss)
        if guard.recoveries:
            break
    assert guard.recoveries == 1 and count == 20
    assert guard.events_frame().reason[0].startswith("loss 165 (the median of 20 batches in a row) > 16 x median 1")
    for loss in [1.0] * 5:  # judged against the good losses again, not the zigzag's
        driver.batch(loss)
    assert guard.recoveries == 1


def test_a_rollback_at_an_epochs_end_writes_the_kept_steps_loss_into_its_logs():
    # The last step's loss is finite (sqrt(|0|)) but its gradient NaN: the check at the epoch's end rolls back.
    # History and EarlyStopping after the guard got the mean over every step, the undone one too, and took the
    # epoch for a best.
    def sqrt_loss(y_true, y_pred):
        return keras.ops.mean(keras.ops.sqrt(keras.ops.abs(y_pred)))

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False,
                                                                    kernel_initializer=keras.initializers.Constant(100.0))])
    model.compile(keras.optimizers.SGD(0.1), loss=sqrt_loss)
    x = np.ones((8, 1), "float32")
    x[7] = 0.0
    guard = keras_lr.DivergenceGuard(snapshot_every=2)
    history = model.fit(x, np.zeros((8, 1)), batch_size=1, epochs=1, verbose=0, shuffle=False, callbacks=[guard])
    assert list(guard.events_frame().reason) == ["non-finite weights; rolled back to step 6"]
    # Step i's loss is the square root of the weight it began from (100 less 0.005 a step): steps 0 to 6 kept.
    kept = np.sqrt(100.0 - 0.005 * np.arange(7))
    assert history.history["loss"][0] == pytest.approx(kept.mean(), rel=1e-5)
