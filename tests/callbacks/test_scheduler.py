import copy
import json
import warnings

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr.schedules import CyclicLR as CyclicSchedule
from keras_lr.schedules import OneCycle as OneCycleSchedule
from keras_lr.schedules import evaluate_momentum, evaluate_schedule
from keras_lr._engine.optimizers import is_variable
from tests.backends import BACKEND
from tests.callbacks.helpers import (
    adam_bias_trajectory,
    bias_data,
    bias_model,
    Recorder,
    fit,
    sgd_bias_trajectory,
)

STEPS_PER_EPOCH = 10  # 40 samples, batch 4


@pytest.mark.parametrize("steps_per_execution", [1, 4, 5])
def test_scheduler_applies_the_rate_of_every_step(steps_per_execution):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.7)
    model = bias_model(keras.optimizers.SGD(0.5), steps_per_execution)
    callback = keras_lr.Scheduler(schedule)
    history, recorder = fit(model, [callback])
    expected_rates = 0.1 * 0.7 ** (np.arange(30) / 3)
    expected_bias = sgd_bias_trajectory(expected_rates)
    # The batch hook fires after every spe-th step of an epoch, and after its last step.
    in_epoch = sorted({min(b, STEPS_PER_EPOCH - 1) for b in range(steps_per_execution - 1, 10 + steps_per_execution - 1, steps_per_execution)})
    hook_steps = [e * STEPS_PER_EPOCH + b for e in range(3) for b in in_epoch]
    np.testing.assert_allclose(recorder.bias, expected_bias[hook_steps], rtol=1e-5)
    np.testing.assert_allclose(recorder.batch_rates, expected_rates[hook_steps], rtol=1e-5)
    np.testing.assert_allclose(history.history["learning_rate"], expected_rates[[9, 19, 29]], rtol=1e-5)
    frame = callback.history_frame()
    assert list(frame.columns) == ["epoch", "step", "learning_rate"]
    np.testing.assert_array_equal(frame.step, np.arange(30))
    np.testing.assert_array_equal(frame.epoch, np.repeat([0, 1, 2], 10))
    np.testing.assert_allclose(frame.learning_rate, expected_rates, rtol=1e-5)


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_one_cycle_cycles_sgd_momentum_in_the_updates(steps_per_execution):
    model = bias_model(keras.optimizers.SGD(0.5, momentum=0.9), steps_per_execution)
    callback = keras_lr.OneCycle(max_lr=0.2)
    fit(model, [callback])
    reference = OneCycleSchedule(0.2, total_steps=30)
    rates, momenta = evaluate_schedule(reference, range(30)), evaluate_momentum(reference, range(30))
    bias = float(model.layers[-1].bias.numpy()[0])
    assert bias == pytest.approx(sgd_bias_trajectory(rates, momenta)[-1], rel=1e-5)
    # Not the same as leaving the momentum at 0.9: the cycle changed the updates.
    assert abs(bias - sgd_bias_trajectory(rates, np.full(30, 0.9))[-1]) > 1e-3 * abs(bias)
    frame = callback.history_frame()
    np.testing.assert_allclose(frame.learning_rate, rates, rtol=1e-6)
    np.testing.assert_allclose(frame.momentum, momenta, rtol=1e-6)


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_cyclic_cycles_adam_beta_1_in_the_updates(steps_per_execution):
    model = bias_model(keras.optimizers.Adam(0.5), steps_per_execution)
    fit(model, [keras_lr.CyclicLR(0.001, 0.01, step_size_up=4, step_size_down=6)])
    reference = CyclicSchedule(0.001, 0.01, step_size_up=4, step_size_down=6)
    rates, beta_1s = evaluate_schedule(reference, range(30)), evaluate_momentum(reference, range(30))
    bias = float(model.layers[-1].bias.numpy()[0])
    assert bias == pytest.approx(adam_bias_trajectory(rates, beta_1s)[-1], rel=1e-4)
    assert abs(bias - adam_bias_trajectory(rates, np.full(30, 0.9))[-1]) > 1e-3 * abs(bias)
    assert type(model.optimizer.beta_1) is float and model.optimizer.beta_1 == 0.9


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: keras.optimizers.AdamW(0.01),
        lambda: keras.optimizers.Adamax(0.01),
        lambda: keras.optimizers.Nadam(0.01),
        lambda: keras.optimizers.Lion(0.01),
        pytest.param(lambda: keras.optimizers.RMSprop(0.01, momentum=0.9), marks=pytest.mark.skipif(
            BACKEND == "jax", reason="under JAX RMSprop's momentum cannot be cycled (keras_lr warns)")),
    ],
    ids=["AdamW", "Adamax", "Nadam", "Lion", "RMSprop"],
)
def test_momentum_cycling_changes_the_updates_of_every_momentum_optimizer(make_optimizer):
    weights = []
    for base_momentum in (0.5, None):
        keras.utils.set_random_seed(0)
        x = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
        y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="ones")])
        model.compile(make_optimizer(), "mse")
        callback = keras_lr.OneCycle(0.05, base_momentum=base_momentum, max_momentum=0.95 if base_momentum else 0.95)
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False, callbacks=[callback])
        weights.append(model.layers[-1].kernel.numpy())
    assert not np.allclose(weights[0], weights[1], rtol=1e-4, atol=1e-6)


MOMENTUM_OPTIMIZERS = [
    (lambda: keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True), "momentum"),
    (lambda: keras.optimizers.Adam(0.01), "beta_1"),
    (lambda: keras.optimizers.AdamW(0.01), "beta_1"),
    (lambda: keras.optimizers.Adamax(0.01), "beta_1"),
    (lambda: keras.optimizers.Nadam(0.01), "beta_1"),
    (lambda: keras.optimizers.Lion(0.01), "beta_1"),
    pytest.param(lambda: keras.optimizers.RMSprop(0.01, momentum=0.9), "momentum", marks=pytest.mark.skipif(
        BACKEND == "jax", reason="under JAX RMSprop's momentum cannot be cycled (keras_lr warns)")),
    pytest.param(lambda: keras.optimizers.Muon(0.01), "momentum", marks=pytest.mark.skipif(
        not hasattr(keras.optimizers, "Muon"), reason="this Keras has no Muon")),
    pytest.param(lambda: keras.optimizers.Lamb(0.01), "beta_1", marks=pytest.mark.skipif(
        not hasattr(keras.optimizers, "Lamb"), reason="this Keras has no Lamb")),
]


@pytest.mark.parametrize("make_optimizer, attribute", MOMENTUM_OPTIMIZERS,
                         ids=["SGD", "Adam", "AdamW", "Adamax", "Nadam", "Lion", "RMSprop", "Muon", "Lamb"])
def test_cycled_momentum_trains_as_the_momentum_set_by_hand_each_step(make_optimizer, attribute):
    # The compiled step against an eager one whose rate and momentum are set as floats before each batch.
    # Under JAX, Nadam's running product of its momenta (`_u_product * beta_1`) read the compiled beta_1.
    x = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")

    def model(run_eagerly):
        made = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="ones")])
        made.compile(make_optimizer(), "mse", run_eagerly=run_eagerly)
        return made

    cycled, callback = model(False), keras_lr.OneCycle(0.05, base_momentum=0.5, max_momentum=0.95)
    cycled.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False, callbacks=[callback])
    frame = callback.history_frame()
    by_hand = model(True)
    for step, (rate, momentum) in enumerate(zip(frame.learning_rate, frame.momentum)):
        by_hand.optimizer.learning_rate = float(rate)
        setattr(by_hand.optimizer, attribute, float(momentum))
        start = (step % 10) * 4
        by_hand.train_on_batch(x[start:start + 4], y[start:start + 4])
    np.testing.assert_allclose(cycled.layers[-1].kernel.numpy(), by_hand.layers[-1].kernel.numpy(), rtol=1e-5, atol=1e-6)
    assert "_backend_update_step" not in vars(cycled.optimizer)  # Nadam's step under JAX, as it was


@pytest.mark.skipif(BACKEND != "jax", reason="a JAX limit")
def test_rmsprop_under_jax_warns_and_schedules_the_rate():
    model = bias_model(keras.optimizers.RMSprop(0.5, momentum=0.9))
    with pytest.warns(UserWarning, match="under the JAX backend RMSprop's momentum cannot be cycled"):
        history, _ = fit(model, [keras_lr.OneCycle(0.1)], epochs=1)
    expected = evaluate_schedule(OneCycleSchedule(0.1, total_steps=10), [9])
    np.testing.assert_allclose(history.history["learning_rate"], expected, rtol=1e-6)


def test_optimizer_without_momentum_warns_and_schedules_the_rate():
    model = bias_model(keras.optimizers.Adagrad(0.5))
    with pytest.warns(UserWarning, match="no momentum to cycle"):
        history, _ = fit(model, [keras_lr.OneCycle(0.1)], epochs=1)
    expected = evaluate_schedule(OneCycleSchedule(0.1, total_steps=10), [9])
    np.testing.assert_allclose(history.history["learning_rate"], expected, rtol=1e-6)


def test_sgd_without_momentum_warns():
    callback = keras_lr.OneCycle(0.1)
    with pytest.warns(UserWarning, match="non-zero `momentum`"):
        fit(bias_model(keras.optimizers.SGD(0.1)), [callback], epochs=1)
    # The record shows what was applied: no momentum column of values never used.
    assert list(callback.history_frame().columns) == ["epoch", "step", "learning_rate"]


def test_each_fit_runs_its_own_cycle_and_the_optimizer_is_restored():
    optimizer = keras.optimizers.SGD(0.05, momentum=0.9)
    model = bias_model(optimizer)
    callback = keras_lr.OneCycle(0.2)
    fit(model, [callback], epochs=2)
    first = callback.history_frame()
    fit(model, [callback], epochs=2)
    second = callback.history_frame()
    np.testing.assert_array_equal(first.step, np.arange(20))
    np.testing.assert_array_equal(second.step, np.arange(20))
    np.testing.assert_allclose(second.learning_rate, first.learning_rate)
    assert int(optimizer.iterations.numpy()) == 40
    # Afterwards the optimizer is the one that was compiled: a float rate and momentum.
    assert is_variable(optimizer._learning_rate)
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(0.05)
    assert type(optimizer.momentum) is float and optimizer.momentum == 0.9
    # Same variables, same order, as a plain fit builds: checkpoints stay loadable.
    names = [v.path.split("/")[-1] for v in optimizer.variables]
    assert names[:2] == ["iteration", "learning_rate"] and len(names) == 4


def test_a_plain_fit_afterwards_uses_the_optimizers_own_rate():
    model = bias_model(keras.optimizers.SGD(0.05))
    fit(model, [keras_lr.Scheduler(0.3)], epochs=1)
    before = float(model.layers[-1].bias.numpy()[0])
    assert before == pytest.approx(-3.0, rel=1e-5)
    _, recorder = fit(model, [], epochs=1)
    np.testing.assert_allclose(np.diff([before, *recorder.bias]), -0.05, rtol=1e-4)


def test_a_second_fit_uses_the_new_callback_schedule():
    model = bias_model(keras.optimizers.SGD(0.5))
    fit(model, [keras_lr.Scheduler(0.1)], epochs=1)
    start = float(model.layers[-1].bias.numpy()[0])
    _, recorder = fit(model, [keras_lr.Scheduler(lambda step: 0.01 * (step + 1))], epochs=1)
    np.testing.assert_allclose(np.diff([start, *recorder.bias]), -0.01 * np.arange(1, 11), rtol=1e-5)


def test_loss_scale_optimizer_is_unwrapped():
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.5, momentum=0.5))
    model = bias_model(optimizer)
    callback = keras_lr.CyclicLR(0.01, 0.1, step_size_up=5)
    _, recorder = fit(model, [callback], epochs=2)
    reference = CyclicSchedule(0.01, 0.1, step_size_up=5)
    expected = sgd_bias_trajectory(evaluate_schedule(reference, range(20)), evaluate_momentum(reference, range(20)))
    np.testing.assert_allclose(recorder.bias, expected, rtol=1e-5)


def test_cyclic_step_size_in_epochs():
    model = bias_model(keras.optimizers.Adam())
    callback = keras_lr.CyclicLR(0.001, 0.01, step_size_up=0.5, unit="epochs", base_momentum=None)
    fit(model, [callback], epochs=2)
    expected = evaluate_schedule(CyclicSchedule(0.001, 0.01, step_size_up=5, base_momentum=None), range(20))
    np.testing.assert_allclose(callback.history_frame().learning_rate, expected, rtol=1e-6)


def test_initial_epoch_places_the_schedule():
    model = bias_model(keras.optimizers.SGD(0.5))
    callback = keras_lr.OneCycle(0.1, base_momentum=None)
    history, _ = fit(model, [callback], epochs=3, initial_epoch=1)
    frame = callback.history_frame()
    np.testing.assert_array_equal(frame.step, np.arange(10, 30))
    expected = evaluate_schedule(OneCycleSchedule(0.1, 30, base_momentum=None), range(10, 30))
    np.testing.assert_allclose(frame.learning_rate, expected, rtol=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"], expected[[9, 19]], rtol=1e-6)


def test_errors_before_any_step():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    model = bias_model(keras.optimizers.SGD(schedule))
    with pytest.raises(ValueError, match="Scheduler: the optimizer already has a learning-rate schedule"):
        fit(model, [keras_lr.Scheduler(0.1)], epochs=1)
    assert float(model.layers[-1].bias.numpy()[0]) == 0.0

    model = bias_model(keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match=r"OneCycle: another keras_lr callback \(Scheduler\) already sets the learning rate"):
        fit(model, [keras_lr.Scheduler(0.1), keras_lr.OneCycle(0.1)], epochs=1)
    assert float(model.layers[-1].bias.numpy()[0]) == 0.0
    # The failed fit left nothing behind: the next one trains normally.
    _, recorder = fit(model, [keras_lr.Scheduler(0.02)], epochs=1)
    np.testing.assert_allclose(recorder.bias, -0.02 * np.arange(1, 11), rtol=1e-5)


def test_total_steps_cannot_be_inferred_from_a_generator():
    model = bias_model(keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match="OneCycle: cannot infer total_steps .*; pass total_steps, or steps_per_epoch"):
        _fit_unknown_length(model, keras_lr.OneCycle(0.1))
    with pytest.raises(ValueError, match=r"CyclicLR: cannot infer the step size in steps .*\(unit='steps'\)"):
        _fit_unknown_length(model, keras_lr.CyclicLR(0.01, 0.1, step_size_up=1, unit="epochs"))
    assert int(model.optimizer.iterations.numpy()) == 0
    callback = keras_lr.OneCycle(0.1, total_steps=6, base_momentum=None)
    _fit_unknown_length(model, callback)
    frame = callback.history_frame()
    # The six batches trained (TensorFlow without XLA counts a seventh step: a last call that found no batch).
    assert len(frame) == 6 and int(model.optimizer.iterations.numpy()) in (6, 7)
    expected = evaluate_schedule(OneCycleSchedule(0.1, 6, base_momentum=None), range(6))
    np.testing.assert_allclose(frame.learning_rate, expected, rtol=1e-6)
    assert float(model.layers[-1].bias.numpy()[0]) == pytest.approx(-expected.sum(), rel=1e-5)


def _fit_unknown_length(model, callback):
    def batches():
        x, y = bias_data(4)
        for _ in range(6):
            yield x, y

    return model.fit(batches(), epochs=1, verbose=0, callbacks=[callback])


def test_callbacks_survive_deepcopy_and_reset_between_fits():
    callbacks = [keras_lr.Scheduler(0.1), keras_lr.OneCycle(0.1), keras_lr.CyclicLR(0.01, 0.1)]
    copies = copy.deepcopy(callbacks)
    assert [c.get_config() for c in copies] == [c.get_config() for c in callbacks]
    model = bias_model(keras.optimizers.SGD(0.1, momentum=0.9))
    fit(model, [copies[1]], epochs=1)
    used = copy.deepcopy(copies[1])  # after a fit, as KerasTuner does between trials
    model2 = bias_model(keras.optimizers.SGD(0.1, momentum=0.9))
    fit(model2, [used], epochs=2)
    assert len(used.history_frame()) == 20
    np.testing.assert_allclose(model2.get_weights()[1], _fresh_one_cycle_bias(epochs=2), rtol=1e-6)


def _fresh_one_cycle_bias(epochs):
    model = bias_model(keras.optimizers.SGD(0.1, momentum=0.9))
    fit(model, [keras_lr.OneCycle(0.1)], epochs=epochs)
    return model.get_weights()[1]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: keras_lr.Scheduler("cosine"), "Scheduler: schedule"),
        (lambda: keras_lr.Scheduler(0.1, verbose=-1), "Scheduler: verbose"),
        (lambda: keras_lr.OneCycle(0), "OneCycle: max_lr"),
        (lambda: keras_lr.OneCycle("0.01"), r"OneCycle: max_lr must be a number or a range test's result .*'0.01'"),
        (lambda: keras_lr.CyclicLR("0.001", 0.01), r"CyclicLR: base_lr must be a number or a range test's result"),
        # The result's frame, not the result: its repr, the whole table, had filled the message.
        (lambda: keras_lr.OneCycle(__import__("pandas").DataFrame({"learning_rate": np.ones(300)})),
         r"received max_lr=<pandas(\.core\.frame)?\.DataFrame of shape \(300, 1\)>$"),
        (lambda: keras_lr.OneCycle(0.1, total_steps=0), "OneCycle: total_steps"),
        (lambda: keras_lr.OneCycle(0.1, pct_start=2), "OneCycle: pct_start"),
        (lambda: keras_lr.OneCycle(0.1, base_momentum=0.99), "OneCycle: max_momentum"),
        (lambda: keras_lr.CyclicLR(0.1, 0.01), "CyclicLR: max_lr"),
        (lambda: keras_lr.CyclicLR(0.01, 0.1, unit="batches"), "CyclicLR: unit"),
        (lambda: keras_lr.CyclicLR(0.01, 0.1, mode="cosine"), "CyclicLR: mode"),
        # Keras's LearningRateScheduler's (epoch, lr) function: it failed in the trace, a bare TypeError.
        (lambda: keras_lr.Scheduler(lambda epoch, lr: lr * 0.9),
         r"Scheduler: schedule is called with one argument, the optimizer's step; .*\(epoch, lr\)"),
    ],
)
def test_bad_callback_arguments_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("callback", ["one_cycle", "scheduler"])
def test_gradient_accumulation_follows_the_schedule_per_batch(callback):
    # Keras evaluates a schedule in the optimizer at its batch counter, and `optimizer.iterations`
    # divides that counter by gradient_accumulation_steps (a new tensor at every read): a keras_lr
    # schedule read from `iterations` froze at its first step and sized the fit's steps in halves.
    schedule = OneCycleSchedule(0.1, 30, base_momentum=None)
    if callback == "one_cycle":
        made = keras_lr.OneCycle(0.1, base_momentum=None)
    else:
        made = keras_lr.Scheduler(schedule)
    model = bias_model(keras.optimizers.SGD(0.5, gradient_accumulation_steps=2))
    _, recorder = fit(model, [made])
    reference = bias_model(keras.optimizers.SGD(schedule, gradient_accumulation_steps=2))
    _, expected = fit(reference, [])
    np.testing.assert_allclose(recorder.bias, expected.bias, rtol=1e-5, atol=1e-7)
    rates = evaluate_schedule(schedule, range(30))
    # The update at each second batch, with the rate of that batch; the weights stay between.
    np.testing.assert_allclose(recorder.bias[1::2], sgd_bias_trajectory(rates[1::2]), rtol=1e-5)
    np.testing.assert_allclose(made.history_frame().learning_rate, rates, rtol=1e-6)


def test_a_schedule_function_may_take_more_arguments_with_defaults():
    model = bias_model(keras.optimizers.SGD(0.5))
    _, recorder = fit(model, [keras_lr.Scheduler(lambda step, rate=0.02: rate + 0.0 * step)], epochs=1)
    np.testing.assert_allclose(recorder.bias, -0.02 * np.arange(1, 11), rtol=1e-5)


def test_a_cycle_shorter_than_the_fit_warns():
    # The rest of the fit trains at the final rate (max_lr / 25 / 1e4): said, not silent.
    model = bias_model(keras.optimizers.SGD(0.5))
    with pytest.warns(UserWarning, match=r"OneCycle: total_steps=15 ends before this fit does, at step 20 .*last 5 steps"):
        fit(model, [keras_lr.OneCycle(0.1, total_steps=15, base_momentum=None)], epochs=2)
    # A cycle spanning the resumed fit: fit(epochs=2, initial_epoch=1) ends at its step 20.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(model, [keras_lr.OneCycle(0.1, total_steps=20, base_momentum=None)], epochs=2, initial_epoch=1)
    assert not [w for w in caught if "OneCycle" in str(w.message)]


def test_a_resumed_fit_that_resizes_an_inferred_cycle_warns():
    # The loop fit(epochs=e + 1, initial_epoch=e) sizes each fit's cycle to e + 1 epochs: every epoch
    # ended near 0, each a piece of a different cycle. 10 steps an epoch here.
    model = bias_model(keras.optimizers.SGD(0.5))
    callback = keras_lr.OneCycle(0.1, base_momentum=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(model, [callback], epochs=1)
    assert not [w for w in caught if "OneCycle" in str(w.message)]
    with pytest.warns(UserWarning, match=r"OneCycle: this fit resumes at epoch 2 with the cycle sized to its 2 "
                                         r"epochs \(20 steps\), where the last fit's was 10 steps: "
                                         r"the rate jumps into another cycle\. Pass total_steps"):
        fit(model, [callback], epochs=2, initial_epoch=1)
    # Resuming the same cycle, or starting afresh (initial_epoch=0), is silent; so is a given total_steps.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for callback in (keras_lr.OneCycle(0.1, base_momentum=None),
                         keras_lr.OneCycle(0.1, total_steps=30, base_momentum=None)):
            fit(model, [callback], epochs=3)
            fit(model, [callback], epochs=3, initial_epoch=2)
            fit(model, [callback], epochs=1)
    assert not [w for w in caught if "OneCycle" in str(w.message)]


def test_a_fit_interrupted_then_resumed_with_other_epochs_warns():
    # The usual resume: the fit raised (Ctrl-C, a lost machine), so its on_train_end never ran, and
    # the cycle it had sized went unrecorded: a resume sized to other epochs was silent.
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    model = bias_model(keras.optimizers.SGD(0.5))
    callback = keras_lr.OneCycle(0.1, base_momentum=None)
    with pytest.raises(KeyboardInterrupt):
        fit(model, [callback, Interrupt()], epochs=6)
    with pytest.warns(UserWarning, match=r"OneCycle: this fit resumes at epoch 3 with the cycle sized to its 8 "
                                         r"epochs \(80 steps\), where the last fit's was 60 steps"):
        fit(model, [callback], epochs=8, initial_epoch=2)


def test_a_fit_that_ends_before_the_first_rise_does_warns():
    # CyclicLR's step sizes are in optimizer steps (default 2000, as PyTorch's): on a short fit the rate
    # only rose, from base_lr, and never cycled. 10 steps an epoch here.
    model = bias_model(keras.optimizers.SGD(0.5))
    with pytest.warns(UserWarning, match=r"CyclicLR: this fit ends at step 20, before the first cycle's rise "
                                         r"to max_lr=0.1 ends \(step_size_up=2000 steps\): the rate only rises, "
                                         r"to 0.00194\. Pass a step_size_up"):
        fit(model, [keras_lr.CyclicLR(0.001, 0.1, base_momentum=None)], epochs=2)
    with pytest.warns(UserWarning, match=r"\(step_size_up=30 steps\)"):
        fit(model, [keras_lr.CyclicLR(0.001, 0.1, step_size_up=3, unit="epochs", base_momentum=None)], epochs=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(model, [keras_lr.CyclicLR(0.001, 0.1, step_size_up=20, base_momentum=None)], epochs=2)  # reaches it
        fit(model, [keras_lr.CyclicLR(0.001, 0.1, step_size_up=5, base_momentum=None)], epochs=2)
        # A fit refused (two schedule callbacks) says only why.
        with pytest.raises(ValueError, match="another keras_lr callback"):
            fit(model, [keras_lr.OneCycle(0.01, base_momentum=None), keras_lr.CyclicLR(0.001, 0.1)], epochs=2)
    assert not [w for w in caught if "CyclicLR" in str(w.message)]


def test_steps_a_loss_scale_optimizer_skipped_are_not_in_the_record():
    # Under mixed precision the first steps overflow at the initial loss scale: LossScaleOptimizer
    # skips them and its counter stays, so the schedule does not move either. The record listed
    # every batch, and its steps ran 0-3 in the first epoch and again 0-3 in the second.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]]) * 3.0).astype("float32")
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "mse")
        callback = keras_lr.OneCycle(0.05, total_steps=16, base_momentum=None)
        model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0, callbacks=[callback])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    applied = int(keras.ops.convert_to_numpy(model.optimizer.inner_optimizer.iterations))
    assert applied < 16  # the premise: some of the 16 steps were skipped
    frame = callback.history_frame()
    np.testing.assert_array_equal(frame.step, np.arange(applied))
    np.testing.assert_allclose(frame.learning_rate, evaluate_schedule(OneCycleSchedule(0.05, 16, base_momentum=None),
                                                                      range(applied)), rtol=1e-6)


def test_a_peak_above_the_rates_any_range_test_reaches_warns():
    # keras-one-cycle's OneCycleLR(num_samples, batch_size, max_lr) order, typed into OneCycle:
    # max_lr=1000, total_steps=32, pct_start=0.01, which trains at a rate of 1000 without a word.
    with pytest.warns(UserWarning, match=r"OneCycle: max_lr=1000 .*above 10.*OneCycle\(max_lr, total_steps"):
        keras_lr.OneCycle(1000, 32, 0.01)
    with pytest.warns(UserWarning, match=r"CyclicLR: max_lr=50 .*above 10"):
        keras_lr.CyclicLR(0.001, 50)
    with pytest.warns(UserWarning, match=r"CyclicLR: base_lr=20 .*above 10"):
        keras_lr.CyclicLR(20, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keras_lr.OneCycle(10.0, 100)
        keras_lr.CyclicLR(0.5, 10)


def test_rate_at_checks_its_step():
    callback = keras_lr.OneCycle(0.1, base_momentum=None)
    fit(bias_model(keras.optimizers.SGD(0.5)), [callback], epochs=1)
    assert callback.rate_at(np.int64(3)) == callback.rate_at(3)
    # -1 had read the fit's last rate (0.004) as Python indexes; 2.5 and "x" failed inside numpy.
    for step, shown in ((-1, "-1"), (2.5, "2.5"), ("x", "'x'")):
        with pytest.raises(ValueError, match=rf"OneCycle.rate_at: step must be an integer( >= 0)?; received step={shown}"):
            callback.rate_at(step)


def test_an_infinite_rate_is_refused_without_the_count_warning_first():
    # It warned "max_lr=inf trains at a rate above 10 ... If it is a count", then refused it.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="CyclicLR: base_lr must be a finite number; received base_lr=inf"):
            keras_lr.CyclicLR(float("inf"), 0.1).on_train_begin()
        with pytest.raises(ValueError, match="OneCycle: max_lr must be a finite number; received max_lr=inf"):
            keras_lr.OneCycle(float("inf"))


def test_numpy_scalars_are_taken_as_python_ones():
    # np.bool_ was refused; numpy scalars were kept in the callbacks' configs, which JSON cannot write.
    assert keras_lr.OneCycle(0.1, three_phase=np.bool_(True)).get_config()["three_phase"] is True
    assert keras_lr.BoldDriver(rollback=np.True_).rollback is True
    for callback in (keras_lr.OneCycle(np.float32(0.1), pct_start=np.float64(0.25), total_steps=np.int64(40)),
                     keras_lr.CyclicLR(np.float32(0.01), np.float64(0.1), step_size_up=np.int64(5))):
        config = callback.get_config()
        assert not [name for name, value in config.items() if isinstance(value, np.generic)], config
        json.dumps(keras.saving.serialize_keras_object(callback))


class _StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def test_one_cycle_says_when_the_data_ran_out_before_the_cycle_ended():
    # Arrays of 10 batches with steps_per_epoch=4 for 3 epochs: Keras runs 4, 4 and 2 steps (warning that the input
    # ran out), and the cycle, sized to 12, ended at 0.013 where it anneals to 4e-7, with no word from keras_lr.
    model = bias_model(keras.optimizers.SGD(0.5))
    x, y = bias_data()
    recorder = Recorder()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=4, steps_per_epoch=4, epochs=3, verbose=0, shuffle=False,
                  callbacks=[keras_lr.OneCycle(0.1, base_momentum=None), recorder])
    ours = [str(w.message) for w in record if str(w.message).startswith("OneCycle:")]
    assert len(recorder.bias) == 10  # (as Keras runs it: its epoch iterator does not refill arrays within a fit)
    # The optimizer's counter: Keras 3.3 on TensorFlow counts one more, a call that found no data.
    ran = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    rate = evaluate_schedule(OneCycleSchedule(0.1, 12, base_momentum=None), [ran - 1])[0]
    assert ran in (10, 11) and ours == [
        f"OneCycle: the fit ran {ran} of the 12 steps the cycle was sized to (3 epochs of 4): its data ran out "
        f"before (Keras warns of that), so training ended at a rate of {rate:.3g}, not the cycle's final 4e-07. "
        f"Pass fit data enough for every epoch (a steps_per_epoch its batches fill each epoch, or a repeated "
        f"dataset), or total_steps={ran}."]
    # A LossScaleOptimizer's skipped step is not on the counter: every batch ran, and nothing ran out.
    x_big = x.copy()
    x_big[0, 0] = 1e36  # the first batch's kernel gradient, scaled by 2**15, overflows: that step is skipped
    scaled = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    scaled.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.5)), lambda t, p: keras.ops.mean(p))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        scaled.fit(x_big, y, batch_size=4, epochs=3, verbose=0, shuffle=False,
                   callbacks=[keras_lr.OneCycle(0.1, base_momentum=None)])
    assert int(keras.ops.convert_to_numpy(scaled.optimizer.iterations)) < 30
    assert not [w for w in record if str(w.message).startswith("OneCycle:")]
    # A fit a callback stopped (EarlyStopping, say) ended as asked: nothing to say.
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit(bias_model(keras.optimizers.SGD(0.5)), [keras_lr.OneCycle(0.1, base_momentum=None), _StopAfterFirstEpoch()])
    assert not [w for w in record if str(w.message).startswith("OneCycle:")]
