"""What every keras_lr fit shares: Keras's own rate callbacks, logs, configs, one re-trace."""

import json
import os
import subprocess
import sys
import threading
import time
import warnings

import keras
import numpy as np
import pytest

import keras_lr
from keras_lr._engine.session import FitSession
from keras_lr.schedules import CyclicLR as CyclicSchedule
from keras_lr.schedules import OneCycle as OneCycleSchedule
from keras_lr.schedules import evaluate_momentum, evaluate_schedule
from tests.backends import BACKEND
from tests.callbacks.helpers import bias_data, bias_model, fit, sgd_bias_trajectory

STEPS = 10  # 40 samples in batches of 4


def applied_rates(recorder):
    """The rate of every step, read back from the bias (SGD, gradient 1, no momentum)."""
    return -np.diff([0.0, *recorder.bias])


@pytest.mark.parametrize("keras_first", [False, True], ids=["after", "before"])
def test_kerass_learning_rate_scheduler_composes_as_a_multiplier(keras_first):
    model = bias_model(keras.optimizers.SGD(0.5))
    halve = keras.callbacks.LearningRateScheduler(lambda epoch, rate: rate * 0.5)
    ours = keras_lr.OneCycle(0.1, base_momentum=None)
    _, recorder = fit(model, [halve, ours] if keras_first else [ours, halve])
    one_cycle = evaluate_schedule(OneCycleSchedule(0.1, 3 * STEPS, base_momentum=None), range(3 * STEPS))
    expected = one_cycle * np.repeat(0.5 ** np.arange(1, 4), STEPS)
    np.testing.assert_allclose(applied_rates(recorder), expected, rtol=1e-4, atol=1e-7)
    assert float(model.optimizer.learning_rate.numpy()) == 0.5  # a schedule's fit leaves the rate as compiled


@pytest.mark.parametrize("keras_first", [False, True], ids=["after", "before"])
def test_a_learning_rate_scheduler_of_fixed_rates_beside_a_schedule_warns_once(keras_first):
    # Returning 0.05 where the cycle gives 0.004 to 0.01 scales the whole cycle by 5 to 12.5, its peak too.
    model = bias_model(keras.optimizers.SGD(0.5))
    fixed = keras.callbacks.LearningRateScheduler(lambda epoch: 0.05)
    ours = keras_lr.OneCycle(0.1, base_momentum=None)
    with pytest.warns(UserWarning, match=r"OneCycle: another callback set the learning rate to 0.05 where "
                                         r"OneCycle's schedule gives 0.00\d+; .* multiplier of \d.*keep one"
                                         r" of the two") as record:
        fit(model, [fixed, ours] if keras_first else [ours, fixed])
    assert sum("another callback set the learning rate" in str(w.message) for w in record) == 1
    # Before ours at the first epoch, it scales the rate compiled in, and the warning names that.
    model = bias_model(keras.optimizers.SGD(0.01))
    with pytest.warns(UserWarning, match=r"OneCycle: another callback set the learning rate to 0.05 where the "
                                         r"optimizer was compiled with 0.01; .* multiplier of 5 "):
        fit(model, [fixed, keras_lr.OneCycle(0.1, base_momentum=None)])


@pytest.mark.parametrize("adaptive", ["DivergenceGuard", "ReduceLROnPlateau"])
def test_a_rate_set_before_the_first_epoch_beside_an_adaptive_callback_alone_is_the_one_trained(adaptive):
    # No schedule: the rate a callback before ours set at the first epoch is the fit's own rate. It was kept
    # as a multiplier's base at the compiled 0.01 while the step read the 0.1: 0.5 trained where 0.05 was set.
    model = bias_model(keras.optimizers.SGD(0.01))
    asked = keras.callbacks.LearningRateScheduler(lambda epoch: 0.1 * 0.5 ** epoch)
    ours = {"DivergenceGuard": lambda: keras_lr.DivergenceGuard(),
            "ReduceLROnPlateau": lambda: keras_lr.ReduceLROnPlateau("loss", patience=100)}[adaptive]()
    history, recorder = fit(model, [asked, ours])
    expected = np.repeat([0.1, 0.05, 0.025], STEPS)
    np.testing.assert_allclose(applied_rates(recorder), expected, rtol=1e-4)
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.05, 0.025], rtol=1e-5)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.025)  # as Keras's own leaves it


def test_kerass_reduce_lr_on_plateau_composes_as_a_multiplier():
    model = bias_model(keras.optimizers.SGD(0.5))
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9)
    _, recorder = fit(model, [keras_lr.Scheduler(0.1), reduce])
    expected = 0.1 * np.repeat([1.0, 1.0, 0.5], STEPS)  # Keras's first check sets its best
    np.testing.assert_allclose(applied_rates(recorder), expected, rtol=1e-4)


@pytest.mark.parametrize("keras_first", [False, True], ids=["after", "before"])
def test_kerass_reduce_lr_on_plateau_logs_its_own_epoch_rate_when_listed_after(keras_first):
    # Keras's callback writes logs["learning_rate"] at the epoch's end too: the rate the optimizer holds for
    # the next step. Listed after ours, its value is the one History keeps.
    model = bias_model(keras.optimizers.SGD(0.5))
    ours = keras_lr.CyclicLR(0.001, 0.01, step_size_up=5, base_momentum=None)
    watch = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=100)
    history, _ = fit(model, [watch, ours] if keras_first else [ours, watch])
    steps = np.arange(1, 4) * STEPS - (1 if keras_first else 0)  # the epoch's last step, or the next one
    expected = evaluate_schedule(CyclicSchedule(0.001, 0.01, step_size_up=5, base_momentum=None), steps)
    np.testing.assert_allclose(history.history["learning_rate"], expected, rtol=1e-5)
    frame = ours.history_frame()
    np.testing.assert_allclose(frame.learning_rate.iloc[STEPS - 1 :: STEPS], evaluate_schedule(
        CyclicSchedule(0.001, 0.01, step_size_up=5, base_momentum=None), np.arange(1, 4) * STEPS - 1), rtol=1e-5)


def test_kerass_reduce_lr_on_plateau_with_an_adaptive_callback_on_a_float_rate():
    model = bias_model(keras.optimizers.SGD(0.1))
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9)
    ours = keras_lr.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=0, min_delta=1e9)
    _, recorder = fit(model, [ours, reduce])
    np.testing.assert_allclose(applied_rates(recorder), 0.1 * np.repeat([1.0, 1.0, 0.05], STEPS), rtol=1e-4)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.1 * 0.05 * 0.05)  # kept, as Keras does


@pytest.mark.parametrize(
    "schedule, callback",
    [
        (OneCycleSchedule(0.1, 100), "keras_lr.OneCycle\\(max_lr=...\\)"),
        (CyclicSchedule(0.01, 0.1), "keras_lr.CyclicLR\\(base_lr, max_lr, ...\\)"),
        (keras_lr.schedules.Warmup(0.1, 10), "keras_lr.Scheduler\\(schedule\\)"),
    ],
)
def test_a_schedule_passed_as_a_callback_says_what_to_pass(schedule, callback):
    model = bias_model(keras.optimizers.SGD(0.1))
    with pytest.raises(TypeError, match=f"is a schedule, not a callback. In fit\\(callbacks=...\\) pass {callback}"):
        fit(model, [schedule], epochs=1)
    # Code that asks whether it is a callback is told no (hasattr raised the TypeError).
    assert not hasattr(schedule, "on_train_begin") and getattr(schedule, "set_model", None) is None


@pytest.mark.parametrize("callback_class, arguments", [
    (keras_lr.OneCycle, {"max_lr": 0.01}), (keras_lr.ReduceLROnPlateau, {}), (keras_lr.LRFinder, {})])
def test_a_callback_class_passed_as_a_callback_says_to_create_one(callback_class, arguments):
    # Keras calls set_model on the class: Python's error said only that an argument was missing.
    model = bias_model(keras.optimizers.SGD(0.1))
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(TypeError, match=r"holds a keras_lr callback class, not a callback: create one, e\.g\. "
                                        r"callbacks=\[keras_lr\.OneCycle\(max_lr=0\.01\)\]"):
        fit(model, [callback_class], epochs=1)
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    callback = callback_class(**arguments)  # an instance still takes its model as Keras gives it
    callback.set_model(model)
    assert callback.model is model


@pytest.mark.parametrize(
    "make_optimizer, attribute",
    [(lambda: keras.optimizers.SGD(0.1, momentum=0.9), "momentum"), (lambda: keras.optimizers.Adam(0.1), "beta_1")],
)
def test_a_cycled_momentum_is_logged_under_the_optimizers_name(make_optimizer, attribute):
    model = bias_model(make_optimizer())
    history, recorder = fit(model, [keras_lr.OneCycle(0.1)])
    reference = OneCycleSchedule(0.1, 3 * STEPS)
    ends = np.arange(1, 4) * STEPS - 1
    np.testing.assert_allclose(history.history[attribute], evaluate_momentum(reference, ends), rtol=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"], evaluate_schedule(reference, ends), rtol=1e-6)


def test_a_compiled_momentum_outside_the_cycle_is_named_once_and_one_inside_is_silent():
    # A GAN's Adam(beta_1=0.5) cycled between 0.85 and 0.95 without a word (TF Addons never touched it).
    model = bias_model(keras.optimizers.Adam(0.1, beta_1=0.5))
    with pytest.warns(UserWarning, match=r"OneCycle: cycles Adam's beta_1 between 0.85 and 0.95, in place of the "
                                         r"0.5 it was compiled with; pass base_momentum=None to keep 0.5"):
        fit(model, [keras_lr.OneCycle(0.1)])
    for make in (lambda: keras.optimizers.Adam(0.1), lambda: keras.optimizers.SGD(0.1, momentum=0.9)):
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*in place of the")
            fit(bias_model(make()), [keras_lr.OneCycle(0.1)])
            fit(bias_model(make()), [keras_lr.CyclicLR(0.01, 0.1, step_size_up=5)])


def test_a_schedulers_momentum_warnings_say_where_base_momentum_goes():
    # A probe followed the warning's "pass base_momentum=None" to Scheduler, which has no such argument
    # (TypeError): a Scheduler's schedule takes it.
    where = r"pass base_momentum=None to the schedule that prescribes the momentum \(OneCycle or CyclicLR in keras_lr.schedules\)"
    with pytest.warns(UserWarning, match=r"Scheduler: Adagrad has no momentum to cycle .*Pass base_momentum=None to "
                                         r"the schedule that prescribes the momentum .* to silence this"):
        fit(bias_model(keras.optimizers.Adagrad(0.1)), [keras_lr.Scheduler(OneCycleSchedule(0.1, 3 * STEPS))])
    with pytest.warns(UserWarning, match=r"Scheduler: cycles Adam's beta_1 .*; " + where + " to keep 0.5"):
        fit(bias_model(keras.optimizers.Adam(0.1, beta_1=0.5)), [keras_lr.Scheduler(OneCycleSchedule(0.1, 3 * STEPS))])
    with pytest.warns(UserWarning, match=r"OneCycle: Adagrad has no momentum to cycle .*Pass base_momentum=None to "
                                         r"silence this"):
        fit(bias_model(keras.optimizers.Adagrad(0.1)), [keras_lr.OneCycle(0.1)])
    # Read through joins: a constant in front of a cycle holds the cycle's momentum, 0.95 in place of 0.5.
    joined = keras_lr.schedules.Sequential([0.01, keras_lr.schedules.Warmup(OneCycleSchedule(0.1, 20), 5)], [5])
    with pytest.warns(UserWarning, match=r"Scheduler: cycles Adam's beta_1 between 0.85 and 0.95, in place of the "
                                         r"0.5 it was compiled with; " + where):
        fit(bias_model(keras.optimizers.Adam(0.1, beta_1=0.5)), [keras_lr.Scheduler(joined)])

    # Not through a schedule of one's own whose attributes of those names mean something else (a review: an
    # array failed the fit, a `schedule` that is the schedule itself recursed).
    class Own(keras.optimizers.schedules.LearningRateSchedule):
        schedules = np.arange(3)

        @property
        def schedule(self):
            return self

        def __call__(self, step):
            return keras.ops.cast(step, "float32") * 0.0 + 0.1

        def momentum(self, step):
            return keras.ops.cast(step, "float32") * 0.0 + 0.9

    fit(bias_model(keras.optimizers.SGD(0.1, momentum=0.5)), [keras_lr.Scheduler(Own())], epochs=1)


CALLBACKS = [
    keras_lr.Scheduler(keras.optimizers.schedules.CosineDecay(0.1, 100, warmup_steps=5, warmup_target=0.2)),
    keras_lr.Scheduler(keras_lr.schedules.Sequential([0.1, OneCycleSchedule(0.1, 50)], boundaries=[10]), verbose=1),
    keras_lr.Scheduler(0.05),
    keras_lr.OneCycle(0.1, total_steps=40, pct_start=0.2, base_momentum=None),
    keras_lr.CyclicLR(0.01, 0.1, step_size_up=2, unit="epochs", mode="exp_range", gamma=0.99),
    keras_lr.ReduceLROnPlateau(monitor="loss", factor=0.3, frequency=5),
    keras_lr.DivergenceGuard(threshold=3.0, patience=2),
    keras_lr.BoldDriver(increase=1.2, rollback=True, max_lr=1.0),
    keras_lr.LRFinder(start_lr=1e-5, end_lr=1.0, num_steps=30, seed=3),
]


@pytest.mark.parametrize("callback", CALLBACKS, ids=lambda c: type(c).__name__)
def test_every_callback_round_trips_through_its_config(callback):
    config = callback.get_config()
    clone = type(callback).from_config(config)
    assert type(clone) is type(callback) and clone.get_config() == config
    assert type(callback)(**config).get_config() == config  # the config is the constructor's arguments


@pytest.mark.parametrize("callback", CALLBACKS, ids=lambda c: type(c).__name__)
def test_every_callback_round_trips_through_keras_serialization(callback):
    # Registered with Keras as the schedules are, under the public module that holds them (keras_lr>OneCycle
    # and keras_lr>CyclicLR are the schedules): found by name, through JSON.
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(callback)))
    package = "keras_lr.finder" if isinstance(callback, keras_lr.LRFinder) else "keras_lr.callbacks"
    assert serialized["registered_name"] == f"{package}>{type(callback).__name__}"
    clone = keras.saving.deserialize_keras_object(serialized)
    assert type(clone) is type(callback) and clone.get_config() == callback.get_config()


def test_lr_finder_round_trips_its_validation_arrays_through_keras_serialization():
    # Keras writes numpy arrays as configs of their own and, inside a callback's config, gives them back as dicts.
    # At any depth: a dict of inputs, a list of outputs; and from_config of the plain config keeps them as given.
    x, y = np.arange(8, dtype="float32").reshape(4, 2), np.ones((4, 1), "float32")
    tensors = (keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y))
    for data in [(x, y), ({"a": x, "b": 2 * x}, [y, 3 * y]), (x, y, np.full(4, 0.5, "float32")), tensors]:
        finder = keras_lr.LRFinder(num_steps=30, validation_data=data)
        serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(finder)))
        for clone in (keras.saving.deserialize_keras_object(serialized), keras_lr.LRFinder.from_config(finder.get_config())):
            assert type(clone.validation_data) is tuple and len(clone.validation_data) == len(data)
            got, expected = keras.tree.flatten(clone.validation_data), keras.tree.flatten(data)
            assert len(got) == len(expected)
            for a, b in zip(got, expected):
                assert not isinstance(a, dict)
                np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_scheduler_round_trips_a_nested_schedule_that_still_runs():
    schedule = keras_lr.schedules.Warmup(keras.optimizers.schedules.ExponentialDecay(0.1, 5, 0.5), warmup_steps=4)
    clone = keras_lr.Scheduler.from_config(keras_lr.Scheduler(schedule).get_config())
    np.testing.assert_allclose(evaluate_schedule(clone.schedule, range(12)), evaluate_schedule(schedule, range(12)))


def test_one_writer_of_the_rate_and_one_train_function_per_fit(monkeypatch):
    calls = {"rate_at": 0, "remade": 0}
    rate_at = FitSession.rate_at

    def counting_rate_at(self, iteration):
        calls["rate_at"] += 1
        return rate_at(self, iteration)

    monkeypatch.setattr(FitSession, "rate_at", counting_rate_at)
    model = bias_model(keras.optimizers.SGD(0.1, momentum=0.9))
    make = model.make_train_function

    def counting_make(force=False):
        calls["remade"] += bool(force)
        return make(force=force)

    model.make_train_function = counting_make
    callbacks = [keras_lr.OneCycle(0.1), keras_lr.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=1e9),
                 keras_lr.DivergenceGuard()]
    history, _ = fit(model, callbacks)
    # The rate of each batch and epoch logged by the first and the last callback (and one per plateau check), not
    # by each of the three.
    in_steps = 3 * STEPS if BACKEND == "torch" else 0  # torch's eager step reads its rate in Python too
    assert calls["rate_at"] <= 2 * (3 * STEPS + 3) + 3 * 2 + in_steps
    reductions = len(callbacks[1].events_frame())
    assert reductions == 2 and calls["remade"] == (1 + reductions if BACKEND == "jax" else 1)
    assert len(history.history["learning_rate"]) == 3


def test_a_fit_in_a_loop_reuses_its_traced_train_function():
    model = bias_model(keras.optimizers.SGD(0.5))
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.7)
    functions, biases = [], []

    class Seen(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            functions.append(self.model.train_function)

    x, y = bias_data()
    for epoch in range(3):  # a common notebook pattern: one epoch per call
        model.fit(x, y, batch_size=4, epochs=epoch + 1, initial_epoch=epoch, verbose=0, shuffle=False,
                  callbacks=[keras_lr.Scheduler(schedule), Seen()])
        biases.append(float(model.layers[-1].bias.numpy()[0]))
    assert functions[0] is functions[STEPS] is functions[2 * STEPS]  # traced once
    expected = sgd_bias_trajectory(0.1 * 0.7 ** (np.arange(30) / 3))[[9, 19, 29]]
    np.testing.assert_allclose(biases, expected, rtol=1e-5)
    # A plain fit afterwards uses the optimizer's own rate, not the reused schedule.
    before = biases[-1]
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert float(model.layers[-1].bias.numpy()[0]) == pytest.approx(before - STEPS * 0.5, rel=1e-5)


def test_plain_fits_in_a_loop_with_an_adaptive_callback_reuse_their_trace():
    # Under JAX the trace was keyed on the fit's offset, which a float rate's step never reads: each plain
    # fit(epochs=2) began at another offset and was traced again (0.35 s a fit where 0.003 without the callback).
    model = bias_model(keras.optimizers.SGD(0.01))
    functions = []

    class Seen(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            functions.append(self.model.train_function)

    for _ in range(3):
        fit(model, [keras_lr.DivergenceGuard(), Seen()], epochs=1)
    assert functions[0] is functions[STEPS] is functions[2 * STEPS]
    np.testing.assert_allclose(float(model.layers[-1].bias.numpy()[0]), -0.01 * 3 * STEPS, rtol=1e-5)


def test_a_different_schedule_is_traced_again():
    model = bias_model(keras.optimizers.SGD(0.5))
    fit(model, [keras_lr.Scheduler(0.1)], epochs=1)
    first = model._keras_lr_trace.function
    start = float(model.layers[-1].bias.numpy()[0])
    _, recorder = fit(model, [keras_lr.Scheduler(0.2)], epochs=1)
    assert model._keras_lr_trace.function is not first
    np.testing.assert_allclose(np.diff([start, *recorder.bias]), -0.2, rtol=1e-5)


def test_a_schedule_of_the_same_class_with_another_config_is_traced_again():
    model = bias_model(keras.optimizers.SGD(0.5))
    x, y = bias_data()
    traces = []
    for epoch, rate in enumerate((0.1, 0.1, 0.2)):  # a new but equal schedule, then another
        schedule = keras.optimizers.schedules.ExponentialDecay(rate, decay_steps=3, decay_rate=0.7)
        model.fit(x, y, batch_size=4, epochs=epoch + 1, initial_epoch=epoch, verbose=0, shuffle=False,
                  callbacks=[keras_lr.Scheduler(schedule)])
        traces.append(model._keras_lr_trace.function)
    assert traces[0] is traces[1] and traces[2] is not traces[1]


def test_a_schedule_class_defined_again_is_traced_again():
    # A notebook cell run again defines a new class of the same name and config, its code maybe changed.
    def define(rate):
        class Constant(keras.optimizers.schedules.LearningRateSchedule):
            def __call__(self, step):
                return keras.ops.cast(step, "float32") * 0.0 + rate

            def get_config(self):
                return {}

        return Constant

    model = bias_model(keras.optimizers.SGD(0.5))
    fit(model, [keras_lr.Scheduler(define(0.1)())], epochs=1)
    start = float(model.layers[-1].bias.numpy()[0])
    _, recorder = fit(model, [keras_lr.Scheduler(define(0.2)())], epochs=1)
    np.testing.assert_allclose(np.diff([start, *recorder.bias]), -0.2, rtol=1e-5)


@pytest.mark.skipif(BACKEND == "tensorflow", reason="TensorFlow is the backend")
def test_a_scheduled_fit_on_another_backend_does_not_import_tensorflow():
    # Keras's serialize_keras_object imports TensorFlow where it is installed (setup.cfg installs it): comparing
    # a fit's schedule with the last one's that way cost every JAX or torch process about 2 s and TF's logs.
    script = (
        "import sys, numpy as np, keras, keras_lr\n"
        "x = np.ones((16, 1), 'float32')\n"
        "model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])\n"
        "model.compile(keras.optimizers.SGD(momentum=0.9), 'mse')\n"
        "for callback in [keras_lr.OneCycle(0.01), keras_lr.CyclicLR(0.001, 0.01, step_size_up=2),\n"
        "                 keras_lr.Scheduler(keras.optimizers.schedules.CosineDecay(0.01, 10))]:\n"
        "    model.fit(x, x, batch_size=4, verbose=0, callbacks=[callback, keras_lr.ReduceLROnPlateau('loss')])\n"
        "print('tensorflow' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "KERAS_BACKEND": BACKEND})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "False"


class _Interrupt(keras.callbacks.Callback):
    """Ctrl-C at the third batch hook (its end, or its begin after keras_lr's): Keras calls no on_train_end then."""

    def __init__(self, where="end"):
        super().__init__()
        self.where = where

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 2 and self.where == "begin":
            raise KeyboardInterrupt

    def on_train_batch_end(self, batch, logs=None):
        if batch == 2 and self.where == "end":
            raise KeyboardInterrupt


@pytest.mark.parametrize("callback", ["Scheduler", "OneCycle", "ReduceLROnPlateau"])
def test_a_fit_stopped_by_an_exception_leaves_no_schedule_for_the_next_plain_fit(callback):
    model = bias_model(keras.optimizers.SGD(0.5, momentum=0.5 if callback == "OneCycle" else 0.0))
    ours = {"Scheduler": lambda: keras_lr.Scheduler(0.1), "OneCycle": lambda: keras_lr.OneCycle(0.1),
            "ReduceLROnPlateau": lambda: keras_lr.ReduceLROnPlateau(monitor="loss", patience=0)}[callback]
    with pytest.raises(KeyboardInterrupt):
        fit(model, [ours(), _Interrupt()])
    x, y = bias_data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)  # no keras_lr callback
    assert not isinstance(model.optimizer._learning_rate, keras_lr._engine.fit_schedule.FitSchedule)
    assert float(model.optimizer.learning_rate.numpy()) == 0.5
    assert float(model.optimizer.momentum) == (0.5 if callback == "OneCycle" else 0.0)
    # The plain fit ran at the compiled rate from its first step (no momentum: a step of 0.5 each).
    if callback != "OneCycle":
        model.optimizer.iterations.assign(0)
        before = float(model.layers[-1].bias.numpy()[0])
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        assert float(model.layers[-1].bias.numpy()[0]) == pytest.approx(before - STEPS * 0.5, rel=1e-5)
    # And a keras_lr fit after it schedules as ever.
    _, recorder = fit(model, [keras_lr.Scheduler(0.2)], epochs=1)
    if callback != "OneCycle":
        np.testing.assert_allclose(applied_rates(recorder)[1:], 0.2, rtol=1e-4)


def test_a_model_saved_after_an_interrupted_one_cycle_holds_the_compiled_momentum(tmp_path):
    # PyTorch's step reads the momentum as a Python float, set each step: after Ctrl-C the config (and a model
    # saved then) held the cycled 0.857 where TensorFlow and JAX held the compiled 0.9; loaded, it trained at it.
    model = bias_model(keras.optimizers.SGD(0.01, momentum=0.9))
    with pytest.raises(KeyboardInterrupt):
        fit(model, [keras_lr.OneCycle(0.05), _Interrupt()])
    assert model.optimizer.get_config()["momentum"] == pytest.approx(0.9)
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    model.save(tmp_path / "model.keras")
    import zipfile

    with zipfile.ZipFile(tmp_path / "model.keras") as saved:
        config = json.loads(saved.read("config.json"))["compile_config"]["optimizer"]["config"]
    assert config["momentum"] == pytest.approx(0.9)


@pytest.mark.parametrize("where", ["end", "begin"])
def test_the_first_plain_step_after_an_interrupted_fit_is_at_the_compiled_rate(where):
    model = bias_model(keras.optimizers.SGD(0.5))
    with pytest.raises(KeyboardInterrupt):
        fit(model, [keras_lr.Scheduler(0.1), _Interrupt(where)])
    x, y = bias_data()
    before = float(model.layers[-1].bias.numpy()[0])
    model.fit(x[:4], y[:4], batch_size=4, epochs=1, verbose=0)  # one step
    assert float(model.layers[-1].bias.numpy()[0]) == pytest.approx(before - 0.5, rel=1e-5)


def test_train_on_batch_after_an_interrupted_fit_is_at_the_compiled_rate():
    model = bias_model(keras.optimizers.SGD(0.5))
    with pytest.raises(KeyboardInterrupt):
        fit(model, [keras_lr.OneCycle(0.1, base_momentum=None), _Interrupt()])
    x, y = bias_data()
    before = float(model.layers[-1].bias.numpy()[0])
    model.train_on_batch(x[:4], y[:4])
    assert float(model.layers[-1].bias.numpy()[0]) == pytest.approx(before - 0.5, rel=1e-5)
    assert float(model.optimizer.learning_rate.numpy()) == 0.5


def test_a_layer_frozen_since_compile_is_said_once_per_compile():
    # Keras applies trainable when it makes its train function, at the first fit after a compile: that function
    # went on training a layer frozen since, while keras_lr's, made again for the fit, did not, so the same fit
    # trained other weights with a schedule callback (or the range test) than without. Keras 3.15's own warning
    # for it never runs.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, name="base"), keras.layers.Dense(1, name="head")])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    if not hasattr(model, "_compiled_trainable_state"):
        pytest.skip("this Keras keeps no record of the trainable state at compile")
    x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    # Frozen between the compile and the first fit: Keras's fit traces with the layers as they are, as keras_lr.
    model.layers[0].trainable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(x, y, epochs=1, verbose=0, callbacks=[keras_lr.OneCycle(0.01, base_momentum=None)])
    model.layers[0].trainable = True
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keras_lr.OneCycle(0.01, base_momentum=None)])
    model.layers[0].trainable = False
    base = model.layers[0].get_weights()[0].copy()
    if BACKEND == "jax":
        # A Keras optimizer there trains the weights it was built for only: the fit failed at its first step
        # (Keras's "corresponding 1:1") and emptied the model's variables, the trained weights lost.
        with pytest.raises(ValueError, match=r"OneCycle: the model's optimizer \(SGD\) was built, by an earlier fit, "
                                             r"for 4 weights, and the model trains 2 now \(2 frozen since, such as "
                                             r"'.*base/kernel'\); under JAX .*Compile with a new optimizer"):
            model.fit(x, y, epochs=1, verbose=0, callbacks=[keras_lr.OneCycle(0.01, base_momentum=None)])
        np.testing.assert_array_equal(model.layers[0].get_weights()[0], base)
        model.compile(keras.optimizers.SGD(0.01), "mse")
        model.fit(x, y, epochs=1, verbose=0, callbacks=[keras_lr.OneCycle(0.01, base_momentum=None)])
        return
    with pytest.warns(UserWarning, match=r"OneCycle: since the model was compiled, layer 'base' was frozen\. Keras "
                                         r"applies trainable .*Call model.compile"):
        # The same schedule as the fit before: its trace, which trained the base, was reused.
        model.fit(x, y, epochs=1, verbose=0, callbacks=[keras_lr.OneCycle(0.01, base_momentum=None)])
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], base)  # as the warning says: frozen now
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(x, y, epochs=1, verbose=0, callbacks=[keras_lr.OneCycle(0.01, base_momentum=None)])  # once per compile
        model.compile(keras.optimizers.SGD(0.01), "mse")
        model.fit(x, y, epochs=1, verbose=0, callbacks=[keras_lr.OneCycle(0.01, base_momentum=None)])

def test_an_optimizer_built_for_other_weights_is_refused_before_any_step():
    # Unfreezing a base after a fit, with no compile since or a recompile with the same optimizer: Keras's
    # optimizer cannot take the base's weights, and the fit failed at its first step with Keras's error (under
    # JAX one that did not say what to do, and the failed fit emptied the model's variables).
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, name="base"), keras.layers.Dense(1, name="head")])
    model.layers[0].trainable = False
    optimizer = keras.optimizers.SGD(0.01)
    model.compile(optimizer, "mse")
    x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    model.fit(x, y, epochs=1, verbose=0)
    model.layers[0].trainable = True
    weights = [w.copy() for w in model.get_weights()]
    for recompile in (False, True):
        if recompile:
            model.compile(optimizer, "mse")
        message = r"the model's optimizer \(SGD\) was built, by an earlier fit, for other weights .*Compile with a new"
        with pytest.raises(ValueError, match="OneCycle: " + message):
            model.fit(x, y, epochs=1, verbose=0, callbacks=[keras_lr.OneCycle(0.01, base_momentum=None)])
        with pytest.raises(ValueError, match="lr_find: " + message):
            keras_lr.lr_find(model, x, y, num_steps=5, retry=False, verbose=0)
        assert all(np.array_equal(w, before) for w, before in zip(model.get_weights(), weights))
    model.compile(keras.optimizers.SGD(0.01), "mse")  # a new optimizer
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keras_lr.OneCycle(0.01, base_momentum=None)])


@pytest.mark.parametrize("setter_first", [True, False], ids=["setter-first", "setter-after"])
def test_a_rate_set_in_on_train_end_is_the_optimizers_after_the_fit(setter_first):
    # "When this stage ends, drop the rate for the next": listed before OneCycle, the rate set was taken for a
    # multiplier from the next step (a warning of a 2500x one), and dropped when OneCycle put back the compiled.
    model = bias_model(keras.optimizers.SGD(0.5))
    setter = keras.callbacks.LambdaCallback(on_train_end=lambda logs: setattr(model.optimizer, "learning_rate", 0.02))
    one_cycle = keras_lr.OneCycle(0.1, base_momentum=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fit(model, [setter, one_cycle] if setter_first else [one_cycle, setter], epochs=1)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.02)
    x, y = bias_data()
    before = float(model.layers[-1].bias.numpy()[0])
    model.fit(x[:4], y[:4], batch_size=4, epochs=1, verbose=0)  # one step, at the rate set
    assert float(model.layers[-1].bias.numpy()[0]) == pytest.approx(before - 0.02, rel=1e-5)


def test_a_schedule_placed_at_initial_epoch_for_an_optimizer_that_never_stepped_is_said():
    # TensorFlow's transfer-learning tutorial fine-tunes with fit(epochs=total, initial_epoch=k) after a recompile:
    # a new OneCycle, placed as a resumed run's, began past its warm-up with a fresh optimizer, and nothing said so.
    model = bias_model(keras.optimizers.SGD(0.5))
    with pytest.warns(UserWarning, match=r"OneCycle: this fit begins at initial_epoch=1 with an optimizer that has "
                                         r"taken no step, so the schedule is placed as a resumed run's, 10 steps in"):
        fit(model, [keras_lr.OneCycle(0.1, base_momentum=None)], epochs=2, initial_epoch=1)
    # Resumed with the optimizer's steps (a .keras checkpoint, BackupAndRestore): nothing to say.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fit(model, [keras_lr.OneCycle(0.1, base_momentum=None)], epochs=3, initial_epoch=2)


def drive_by_hand(model, callbacks, epochs=2, steps=5, hooks=None, interrupt_at=None):
    """A train_on_batch loop driving ``callbacks`` through Keras's CallbackList, as a GAN's or RL loop does.

    Returns the rate of every step, read back from the bias. ``interrupt_at``: (epoch, batch) to raise
    KeyboardInterrupt before."""
    x, y = bias_data()
    hooks = hooks or keras.callbacks.CallbackList(callbacks, model=model, epochs=epochs, steps=steps)
    hooks.on_train_begin()
    bias = [float(model.layers[-1].bias.numpy()[0])]
    for epoch in range(epochs):
        hooks.on_epoch_begin(epoch)
        for batch in range(steps):
            if (epoch, batch) == interrupt_at:
                raise KeyboardInterrupt
            hooks.on_train_batch_begin(batch)
            logs = model.train_on_batch(x[:4], y[:4], return_dict=True)
            bias.append(float(model.layers[-1].bias.numpy()[0]))
            hooks.on_train_batch_end(batch, logs)
        hooks.on_epoch_end(epoch, {"loss": 1.0})
    hooks.on_train_end()
    return -np.diff(bias)


def test_a_callback_list_made_without_epochs_and_steps_is_named_when_a_length_is_missing():
    # Keras fills in a fit's epochs and steps only for a callback list it makes: OneCycle said the data was "a
    # dataset of unknown length" (numpy here) and to pass steps_per_epoch, which did not help.
    model = bias_model(keras.optimizers.SGD(0.5))
    hooks = keras.callbacks.CallbackList([keras_lr.OneCycle(0.1, base_momentum=None)], model=model)
    x, y = bias_data()
    with pytest.raises(ValueError, match=r"OneCycle: cannot infer total_steps: its callbacks came in a "
                                         r"keras.callbacks.CallbackList made without epochs= and steps="):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=hooks)
    assert float(model.optimizer.learning_rate.numpy()) == 0.5
    for given, missing in (({"epochs": 1}, "steps="), ({"steps": 10}, "epochs=")):  # a KeyError, or "unknown length"
        hooks = keras.callbacks.CallbackList([keras_lr.OneCycle(0.1, base_momentum=None)], model=model, **given)
        with pytest.raises(ValueError, match=f"CallbackList made without {missing} "):
            model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=hooks)


def test_callbacks_driven_by_hand_around_train_on_batch_set_the_rates_they_log():
    # Keras's train_on_batch makes its train function at every call: that was taken for the next fit after an
    # interrupted one, and the schedule taken out before the first step (every step at the compiled 0.5).
    model = bias_model(keras.optimizers.SGD(0.5))
    scheduler = keras_lr.Scheduler(keras.optimizers.schedules.ExponentialDecay(0.1, 1, 0.5))
    applied = drive_by_hand(model, [scheduler])
    np.testing.assert_allclose(applied, 0.1 * 0.5 ** np.arange(10), rtol=1e-4)
    np.testing.assert_allclose(scheduler.history_frame().learning_rate, applied, rtol=1e-4)
    # After on_train_end the compiled rate again.
    x, y = bias_data()
    before = float(model.layers[-1].bias.numpy()[0])
    model.train_on_batch(x[:4], y[:4])
    assert float(model.layers[-1].bias.numpy()[0]) == pytest.approx(before - 0.5, rel=1e-5)


class HeldHooks(keras.callbacks.Callback):
    """Async-safe: under JAX and PyTorch Keras runs its batch hooks on its threads, where each waits (2 s at most)
    for ``released``, and the hooks listed after it with it."""

    async_safe = True

    def __init__(self, released):
        super().__init__()
        self.released = released

    def on_train_begin(self, logs=None):
        self.loop_thread = threading.current_thread()

    def on_train_batch_end(self, batch, logs=None):
        if threading.current_thread() is not self.loop_thread:
            self.released.wait(timeout=2)


class ReleasesAtSecondBegin(keras.callbacks.Callback):
    """Sets ``released`` in its second on_train_begin, then gives the released hooks half a second to run."""

    def __init__(self, released):
        super().__init__()
        self.released, self.begun = released, 0

    def on_train_begin(self, logs=None):
        self.begun += 1
        if self.begun == 2:
            self.released.set()
            time.sleep(0.5)


def test_a_loop_of_ones_own_interrupted_then_run_again_with_the_same_callback_list_runs_its_schedule():
    # A notebook cell run again after Ctrl-C: the CallbackList's params, the same object, made the interrupted
    # loop's session look like this one's: "this callback is twice in fit's callbacks" (found by a review).
    # Under JAX and PyTorch the interrupted epoch's last batch hooks may still run on Keras's threads when the
    # loop starts again: OneCycle's, held here until the new loop's callbacks began, failed before its first epoch
    # (CI's failure, 2 runs in 30 without holding them). On TensorFlow the hooks run in line.
    model = bias_model(keras.optimizers.SGD(0.5))
    released = threading.Event()
    callbacks = [HeldHooks(released), keras_lr.OneCycle(0.1, base_momentum=None), ReleasesAtSecondBegin(released)]
    hooks = keras.callbacks.CallbackList(callbacks, model=model, epochs=2, steps=5)
    with pytest.raises(KeyboardInterrupt):
        drive_by_hand(model, None, hooks=hooks, interrupt_at=(0, 3))
    applied = drive_by_hand(model, None, hooks=hooks)
    one_cycle = evaluate_schedule(OneCycleSchedule(0.1, 10, base_momentum=None), range(10))
    np.testing.assert_allclose(applied, one_cycle, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(plain_rates(model), 0.5, rtol=1e-6)  # and the compiled rate after on_train_end


@pytest.mark.parametrize("make", [lambda: keras_lr.OneCycle(0.1, base_momentum=None),
                                  lambda: keras_lr.ReduceLROnPlateau("loss")], ids=["OneCycle", "ReduceLROnPlateau"])
def test_a_loop_of_ones_own_without_on_epoch_begin_is_told_to_call_it(make):
    # The first batch hook failed with a bare TypeError (None + int) deep in keras_lr (found by a review).
    model = bias_model(keras.optimizers.SGD(0.5))
    x, y = bias_data(4)
    hooks = keras.callbacks.CallbackList([make()], model=model, epochs=1, steps=5)
    hooks.on_train_begin()
    logs = model.train_on_batch(x, y, return_dict=True)
    with pytest.raises(ValueError, match=r"a batch ended before any epoch began: a loop of your own driving the "
                                         r"callbacks calls on_epoch_begin\(epoch\) before each epoch's batches"):
        hooks.on_train_batch_end(0, logs)
        hooks.on_train_end()  # (under JAX and PyTorch the batch hooks run on Keras's threads: raised at its flush)
    np.testing.assert_allclose(plain_rates(model), 0.5, rtol=1e-6)


def test_a_plateau_cut_driven_by_hand_around_train_on_batch_applies_to_a_compiled_schedule():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 1, 1.0)  # 0.1 throughout
    model = bias_model(keras.optimizers.SGD(schedule))
    plateau = keras_lr.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=10.0)  # cuts from epoch 2
    applied = drive_by_hand(model, [plateau], epochs=4)
    np.testing.assert_allclose(applied, np.repeat([0.1, 0.1, 0.05, 0.025], 5), rtol=1e-4)
    assert list(plateau.events_frame().new_learning_rate[:2]) == pytest.approx([0.05, 0.025])


def test_a_fit_after_a_hand_driven_loop_that_stopped_puts_back_the_compiled_rate():
    model = bias_model(keras.optimizers.SGD(0.5))
    x, y = bias_data()
    hooks = keras.callbacks.CallbackList([keras_lr.Scheduler(0.1)], model=model, epochs=1, steps=5)
    hooks.on_train_begin()
    hooks.on_epoch_begin(0)
    model.train_on_batch(x[:4], y[:4])  # then the loop stops: no on_train_end
    before = float(model.layers[-1].bias.numpy()[0])
    assert before == pytest.approx(-0.1, rel=1e-5)
    model.fit(x[:4], y[:4], batch_size=4, epochs=1, verbose=0)  # one step
    assert float(model.layers[-1].bias.numpy()[0]) == pytest.approx(before - 0.5, rel=1e-5)


def test_a_rate_a_callback_set_before_an_interruption_is_not_kept():
    # Keras's LearningRateScheduler sets the rate at each epoch's start; Ctrl-C in that epoch's first step made
    # OneCycle's rate then the optimizer's own: the next plain fit trained at 0.098, not the compiled 0.5.
    class InterruptSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 0:
                raise KeyboardInterrupt

    model = bias_model(keras.optimizers.SGD(0.5))
    keep = keras.callbacks.LearningRateScheduler(lambda epoch, rate: rate)
    with pytest.raises(KeyboardInterrupt):
        fit(model, [keras_lr.OneCycle(0.1, base_momentum=None), keep, InterruptSecondEpoch()], epochs=3)
    x, y = bias_data()
    before = float(model.layers[-1].bias.numpy()[0])
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert float(model.layers[-1].bias.numpy()[0]) == pytest.approx(before - STEPS * 0.5, rel=1e-4)


@pytest.mark.parametrize("where_it_stopped", [False, True])
def test_a_rate_set_after_an_interrupted_fit_is_the_one_the_next_fit_trains_at(where_it_stopped):
    # Ctrl-C, lower the rate (or keep the one it stopped at), fit again. Set to the rate the schedule had, it
    # was taken for a callback's "no change" and the next fit trained at the compiled 0.5.
    model = bias_model(keras.optimizers.SGD(0.5))
    with pytest.raises(KeyboardInterrupt):
        fit(model, [keras_lr.OneCycle(0.1, base_momentum=None), _Interrupt()])
    rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) if where_it_stopped else 0.01
    model.optimizer.learning_rate = rate
    x, y = bias_data()
    before = float(model.layers[-1].bias.numpy()[0])
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert float(model.layers[-1].bias.numpy()[0]) == pytest.approx(before - STEPS * rate, rel=1e-4)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(rate)


def test_a_model_compiled_again_after_an_interrupted_fit_trains_with_what_it_was_compiled_with():
    # The interrupted fit's session closes at the next fit: it put back the train function of before that fit,
    # traced with the old optimizer and loss, over the one compile() had cleared.
    model = bias_model(keras.optimizers.SGD(0.5))
    x, y = bias_data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # a plain train function traced before the schedule's
    with pytest.raises(KeyboardInterrupt):
        fit(model, [keras_lr.Scheduler(0.1), _Interrupt()])
    model.compile(keras.optimizers.SGD(0.0), "mae")
    before = model.get_weights()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    for now, then in zip(model.get_weights(), before):
        np.testing.assert_array_equal(now, then)  # a rate of 0: nothing moves
    assert int(model.optimizer.iterations.numpy()) == STEPS


class PythonIf(keras.optimizers.schedules.LearningRateSchedule):
    def __call__(self, step):
        return 0.01 if step < 10 else 0.001


@pytest.mark.skipif(BACKEND == "torch", reason="the torch backend runs the step eagerly: Python's `if` works there")
@pytest.mark.parametrize("schedule", [lambda step: 0.01 if step < 10 else 0.001, PythonIf()], ids=["lambda", "class"])
def test_a_schedule_of_python_control_flow_says_to_write_it_with_keras_ops(schedule):
    model = bias_model(keras.optimizers.SGD(0.5))
    weights = [w.numpy() for w in model.weights]
    with pytest.raises(TypeError, match=r"failed inside the compiled train step .*keras\.ops\.where") as raised:
        fit(model, [keras_lr.Scheduler(schedule)])
    assert "Error: " in str(raised.value)  # the backend's own error, named
    # Nothing lost: under JAX a trace failing in the first step left the model without its weights.
    for before, after in zip(weights, model.weights):
        np.testing.assert_array_equal(after.numpy(), before)
    # Written with keras.ops, the same schedule trains, and the failed fit left nothing behind.
    _, recorder = fit(model, [keras_lr.Scheduler(lambda step: keras.ops.where(step < 10, 0.01, 0.001))])
    np.testing.assert_allclose(applied_rates(recorder), np.repeat([0.01, 0.001, 0.001], STEPS), rtol=1e-5)


class LazyTable(keras.optimizers.schedules.LearningRateSchedule):
    """Makes its table variable at its first call (a lazy build)."""

    def __init__(self):
        self.table = None

    def __call__(self, step):
        if self.table is None:
            self.table = keras.Variable(np.array([0.1, 0.05], "float32"), trainable=False)
        return keras.ops.take(self.table, keras.ops.minimum(keras.ops.cast(step, "int32") // 5, 1))


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's fit traces in a tf.function, which makes it")
def test_a_schedule_making_its_variable_at_its_first_call_is_not_refused_by_the_check_before_the_fit():
    # The check before any step traces in a scratch graph, stricter than the fit's tf.function: run on TensorFlow
    # for every error, it refused this schedule, which TensorFlow's fit trains with (found by a review).
    model = bias_model(keras.optimizers.SGD(0.5))
    _, recorder = fit(model, [keras_lr.Scheduler(LazyTable())], epochs=1)
    np.testing.assert_allclose(applied_rates(recorder), np.repeat([0.1, 0.05], 5), rtol=1e-5)


@pytest.mark.skipif(BACKEND == "torch", reason="the torch backend runs the step eagerly: Python's `if` works there")
def test_a_schedule_failing_on_a_models_first_fit_leaves_its_optimizer_to_be_built_by_the_next():
    # TensorFlow builds the optimizer in the first trace: the schedule failing there left its momentum slots made
    # inside the failed trace, and every later fit, plain Keras's too, failed ("Incompatible shapes: [0] vs. [3]").
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "mse")
    x, y = np.ones((16, 2), "float32"), np.zeros((16, 3), "float32")
    with pytest.raises(TypeError, match=r"failed inside the compiled train step"):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[keras_lr.Scheduler(PythonIf())])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2 and np.isfinite(model.layers[0].kernel.numpy()).all()


@pytest.mark.skipif(BACKEND == "torch", reason="the torch backend runs the step eagerly: Python's NameError as it is")
def test_a_lambda_loaded_back_without_its_modules_names_says_to_register_a_function():
    # Keras loads a lambda without its module's globals: keras.ops in it is a NameError, which the message
    # blamed on the symbolic step, advising keras.ops, the very thing that failed.
    from keras.src.saving.serialization_lib import SafeModeScope

    function = lambda step: keras.ops.where(step < 10, 0.01, 0.001)  # noqa: E731
    for schedule in (function, keras_lr.schedules.Sequential([function, 0.001], boundaries=[20])):  # nested too
        config = keras_lr.Scheduler(schedule).get_config()
        with SafeModeScope(False):
            loaded = keras_lr.Scheduler.from_config(config)
        with pytest.raises(NameError, match=r"failed inside the compiled train step \(NameError: name 'keras' is "
                                            r"not defined\)\. Keras loaded this function back .* "
                                            r"keras\.saving\.register_keras_serializable"):
            fit(bias_model(keras.optimizers.SGD(0.5)), [loaded])
    # A typo in a function of one's own is only named: nothing was loaded back.
    typo = keras_lr.Scheduler(lambda step: keras.ops.where(stpe < 10, 0.01, 0.001))  # noqa: F821
    with pytest.raises(NameError, match=r"\(NameError: name 'stpe' is not defined\)\.$"):
        fit(bias_model(keras.optimizers.SGD(0.5)), [typo])


@pytest.mark.parametrize("make", [
    lambda opt: keras_lr.OneCycle(opt),
    lambda opt: keras_lr.CyclicLR(opt, 0.01),
    lambda opt: CyclicSchedule(opt, 0.001, 0.01),
    lambda opt: OneCycleSchedule(opt, 100),
], ids=["OneCycle", "CyclicLR", "schedules.CyclicLR", "schedules.OneCycle"])
def test_an_optimizer_passed_first_as_pytorch_does_says_to_pass_the_rates_only(make):
    with pytest.raises(ValueError, match=r"received (max|base)_lr=<.*SGD.*keras_lr's schedules and callbacks take no "
                                         r"optimizer \(PyTorch's schedulers do\)"):
        make(keras.optimizers.SGD(0.1))


def test_a_momentum_changed_between_two_fits_is_the_one_put_back():
    # The second fit reused the first's trace and its momentum binding, which put back the momentum of then.
    model = bias_model(keras.optimizers.Adam(0.01))
    callback = keras_lr.OneCycle(0.01)
    fit(model, [callback], epochs=1)
    assert float(model.optimizer.beta_1) == 0.9  # as compiled
    model.optimizer.beta_1 = 0.85
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(model, [callback], epochs=1)
    assert float(model.optimizer.beta_1) == 0.85


AFTER_WARMUP = 0.1


def test_a_schedule_holding_a_lambda_is_traced_again_for_each_fit_and_described_without_keras_warning():
    # Its config described a lambda by its code: a fit after the global it reads changed reused the trace of
    # the fit before (0.1 trained, 1.0 logged); and describing it made Keras warn of serializing a lambda.
    global AFTER_WARMUP
    schedule = keras_lr.schedules.Warmup(
        lambda step: AFTER_WARMUP * keras.ops.ones_like(keras.ops.cast(step, "float32")), warmup_steps=2)
    model = bias_model(keras.optimizers.SGD(0.5))
    callback = keras_lr.Scheduler(schedule)
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            _, recorder = fit(model, [callback], epochs=1)
            np.testing.assert_allclose(applied_rates(recorder), [0.0, 0.05] + [0.1] * 8, rtol=1e-5, atol=1e-7)
            AFTER_WARMUP = 1.0
            _, recorder = fit(model, [callback], epochs=1)
        assert not [str(w.message) for w in record if "lambda" in str(w.message)]
        # Each fit runs the schedule from its start: the second fit's steps after its first, 0.5 then 1.0.
        np.testing.assert_allclose(-np.diff(recorder.bias), [0.5] + [1.0] * 8, rtol=1e-5)
    finally:
        AFTER_WARMUP = 0.1


def test_a_schedule_holding_a_named_function_is_traced_again_for_each_fit():
    # Keras describes a def'd function by its name alone: a fit after the global it reads changed (or after a
    # notebook cell defined it again) reused the fit before's trace, and trained and logged the old 0.1.
    global AFTER_WARMUP

    def after_warmup(step):
        return AFTER_WARMUP * keras.ops.ones_like(keras.ops.cast(step, "float32"))

    model = bias_model(keras.optimizers.SGD(0.5))
    try:
        for rate in (0.1, 1.0):
            AFTER_WARMUP = rate
            callback = keras_lr.Scheduler(keras_lr.schedules.Sequential([after_warmup, 0.001], boundaries=[100]))
            history, recorder = fit(model, [callback], epochs=1)
            np.testing.assert_allclose(-np.diff(recorder.bias), [rate] * 9, rtol=1e-5)
            np.testing.assert_allclose(history.history["learning_rate"], [rate], rtol=1e-6)
    finally:
        AFTER_WARMUP = 0.1


class FlooredDecay(keras.optimizers.schedules.ExponentialDecay):
    """A subclass adding an argument, its get_config inherited (the floor is not in it): a common way to write one."""

    def __init__(self, floor, **kwargs):
        super().__init__(**kwargs)
        self.floor = floor

    def __call__(self, step):
        return keras.ops.maximum(super().__call__(step), self.floor)


def test_a_schedule_whose_config_leaves_out_an_argument_is_not_taken_for_the_fit_befores():
    # Described by its config alone, the second fit's schedule (floor 0.05) was taken for the first's (floor 0): its
    # trace, and under torch its rate reader, were reused, and it trained at the first's rates while logging 0.05.
    model = bias_model(keras.optimizers.SGD(0.5))
    for epoch, floor in enumerate((0.0, 0.05)):
        schedule = FlooredDecay(floor, initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5)
        start = float(model.layers[-1].bias.numpy()[0])
        _, recorder = fit(model, [keras_lr.Scheduler(schedule)], epochs=epoch + 1, initial_epoch=epoch)
    expected = np.maximum(0.1 * 0.5 ** (np.arange(10, 20) / 2), 0.05)
    np.testing.assert_allclose(-np.diff([start] + recorder.bias), expected, rtol=1e-5)


def test_callbacks_pickle_after_a_fit_as_kerass_own_do():
    # The closed fit's session stayed on the callback and held Keras's traced train function: "Can't pickle local
    # object 'TensorFlowTrainer._make_function...'" (Keras's ReduceLROnPlateau and EarlyStopping pickle).
    import pickle

    x = np.linspace(-1, 1, 64, dtype="float32").reshape(-1, 1)
    for callback, epochs in [(keras_lr.OneCycle(max_lr=0.05), 2), (keras_lr.ReduceLROnPlateau("loss", patience=0), 2),
                             (keras_lr.DivergenceGuard(), 2), (keras_lr.LRFinder(num_steps=12, verbose=0), 12)]:
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.01), "mse")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.fit(x, 2 * x, batch_size=16, epochs=epochs, verbose=0, callbacks=[callback])
        copy = pickle.loads(pickle.dumps(callback))
        assert copy.get_config() == callback.get_config()
        if isinstance(callback, keras_lr.LRFinder):  # what the fit found stays with it
            assert copy.result.frame.equals(callback.result.frame) and copy.rate_at(3) == callback.rate_at(3)
        elif isinstance(callback, keras_lr.OneCycle):
            assert copy.history_frame().equals(callback.history_frame()) and len(copy.history_frame()) == 8
        else:
            assert copy.events_frame().equals(callback.events_frame())
        model.fit(x, 2 * x, batch_size=16, epochs=epochs, verbose=0, callbacks=[copy])  # and it fits again


def test_the_last_keras_lr_callback_writes_the_rate_so_one_after_kerass_plateau_logs_the_rate_trained():
    # The first keras_lr callback wrote it: one listed before Keras's ReduceLROnPlateau left its value, the next
    # step's rate (the staircase's cut an epoch early), although the schedule came after it.
    # A callback between the first and the last still sees the rate the first wrote.
    staircase = keras.optimizers.schedules.ExponentialDecay(0.1, STEPS, 0.1, staircase=True)
    model = bias_model(keras.optimizers.SGD(0.5))
    between = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs.get("learning_rate")))
    seen = []
    callbacks = [keras_lr.DivergenceGuard(), between, keras.callbacks.ReduceLROnPlateau("loss", patience=10),
                 keras_lr.Scheduler(staircase)]
    history, _ = fit(model, callbacks, epochs=3)
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.01, 0.001], rtol=1e-5)
    np.testing.assert_allclose(seen, [0.1, 0.01, 0.001], rtol=1e-5)


@pytest.mark.parametrize("callback", ["ReduceLROnPlateau", "DivergenceGuard", "BoldDriver"])
def test_an_optimizer_rate_of_a_function_of_no_arguments_is_called_as_keras_calls_it(callback):
    # Keras's third kind of rate: "a callable that takes no arguments". It was called with the step.
    model = bias_model(keras.optimizers.SGD(learning_rate=lambda: 0.05))
    rate = model.optimizer._learning_rate
    if callback == "ReduceLROnPlateau":  # a cut after each epoch: the loss never improves by 100
        ours = keras_lr.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=100.0)
    else:
        ours = getattr(keras_lr, callback)()
    history, recorder = fit(model, [ours])
    expected = np.full(3 * STEPS, 0.05)
    if callback == "ReduceLROnPlateau":  # the first epoch sets the best; the second does not beat it
        expected *= np.repeat([1.0, 1.0, 0.5], STEPS)
    elif callback == "BoldDriver":  # the loss (the mean output) falls each epoch: the rate grows by 1.05
        expected *= np.repeat([1.0, 1.0, 1.05], STEPS)
    np.testing.assert_allclose(applied_rates(recorder), expected, rtol=1e-4)
    np.testing.assert_allclose(history.history["learning_rate"], expected[STEPS - 1 :: STEPS], rtol=1e-4)
    assert model.optimizer._learning_rate is rate  # given back after the fit


def test_a_multi_optimizer_is_refused_by_name():
    # Its own rate is read by none of its optimizers: every callback "worked" and changed nothing.
    if not hasattr(keras.optimizers, "MultiOptimizer"):
        pytest.skip("keras.optimizers.MultiOptimizer is new in Keras 3.15")
    optimizer = keras.optimizers.MultiOptimizer(
        keras.optimizers.OptimizerMap(default_optimizer=keras.optimizers.SGD(0.01), optimizer_map={})
    )
    x, y = bias_data()
    for make in (lambda: keras_lr.OneCycle(0.1), lambda: keras_lr.ReduceLROnPlateau(), lambda: keras_lr.DivergenceGuard()):
        model = bias_model(optimizer)
        with pytest.raises(ValueError, match=r"MultiOptimizer.*each of its optimizers"):
            model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[make()])
    with pytest.raises(ValueError, match=r"MultiOptimizer.*each of its optimizers"):
        keras_lr.lr_find(bias_model(optimizer), x, y, batch_size=4, num_steps=20)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="Keras on JAX and torch refuses empty arrays itself")
@pytest.mark.parametrize("callback", ["OneCycle", "ReduceLROnPlateau", "BoldDriver"])
def test_empty_training_data_is_named_as_such(callback):
    # Keras fits 0 rows without a step; OneCycle called that "a dataset of unknown length", and the monitors
    # "compile the metric".
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    ours = keras_lr.OneCycle(0.1) if callback == "OneCycle" else getattr(keras_lr, callback)(monitor="loss")
    x, y = bias_data()
    if callback != "OneCycle":  # (it refuses at the fit's start; the monitors at an epoch's end)
        try:
            model.fit(x[:0], y[:0], epochs=1, verbose=0)
        except TypeError:  # Keras 3.3 raises it itself, before any epoch ends
            pytest.skip("this Keras refuses empty data itself")
    with pytest.raises(ValueError, match=f"{callback}: .*the training data is empty"):
        model.fit(x[:0], y[:0], epochs=2, verbose=0, callbacks=[ours])


@pytest.mark.skipif(BACKEND == "jax", reason="a JAX train_step is stateless, written otherwise")
def test_an_optimizer_the_train_step_never_applies_is_warned_of():
    # Keras's DCGAN example compiles without an optimizer and applies two of its own: model.optimizer, Keras's
    # default RMSprop, took no step, and OneCycle set and logged rates no optimizer trained at.
    class OwnStep(keras.Model):
        def train_step(self, data):
            x, y = data
            return {"loss": keras.ops.mean((self(x) - y) ** 2)}

    inputs = keras.Input((2,))
    model = OwnStep(inputs, keras.layers.Dense(1)(inputs))
    model.compile()
    x, y = bias_data()
    with pytest.warns(UserWarning, match=r"OneCycle: the model's optimizer \(RMSprop\) took no step in epoch 1, where "
                                         r"fit ran 10 batches"):
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[keras_lr.OneCycle(0.1, base_momentum=None)])
    # A model that steps it: no such warning; nor one with nothing to train (Keras says so itself).
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fit(bias_model(keras.optimizers.SGD(0.1)), [keras_lr.OneCycle(0.1, base_momentum=None)])
    frozen = bias_model(keras.optimizers.SGD(0.1))
    frozen.trainable = False
    frozen.compile(keras.optimizers.SGD(0.1), "mse")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit(frozen, [keras_lr.OneCycle(0.1, base_momentum=None)])
    assert not any("took no step" in str(w.message) for w in record)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a train_step's gradients are written per backend; the check is not")
def test_an_optimizer_applied_twice_a_batch_is_warned_of():
    # A GAN-like train_step applying model.optimizer twice a batch: OneCycle, sized in batches, read the optimizer's
    # counter, which moved two a batch, so the cycle ended halfway and the second epoch trained at about 4e-7.
    import tensorflow as tf

    class TwiceStep(keras.Model):
        def train_step(self, data):
            x, y = data
            for _ in range(2):
                with tf.GradientTape() as tape:
                    loss = keras.ops.mean((self(x) - y) ** 2)
                self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
            return {"loss": loss}

    inputs = keras.Input((2,))
    model = TwiceStep(inputs, keras.layers.Dense(1)(inputs))
    model.compile(keras.optimizers.SGD(0.1))
    x, y = bias_data()
    with pytest.warns(UserWarning, match=r"OneCycle: the model's optimizer \(SGD\) took 20 steps in epoch 1, where fit "
                                         r"ran 10 batches.*2x as fast.*total_steps"):
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[keras_lr.OneCycle(0.1, base_momentum=None)])
    # A schedule of its own length in steps (what the warning advises) trains as asked, logged at the batch's
    # count; an adaptive callback alone cuts from the next step: nothing to say.
    with pytest.warns(UserWarning, match=r"OneCycle: .*the rates logged each batch are the schedule's at the batch's "
                                         r"count"):
        model.fit(x, y, batch_size=4, epochs=2, verbose=0,
                  callbacks=[keras_lr.OneCycle(0.1, total_steps=40, base_momentum=None)])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[keras_lr.ReduceLROnPlateau()])
    assert not any("more than once a batch" in str(w.message) for w in record)


def plain_rates(model):
    """The rate of each step of a plain fit of the bias model for one epoch, wherever its bias starts."""
    start = float(model.layers[-1].bias.numpy()[0])
    _, recorder = fit(model, [], epochs=1)
    return -np.diff([start, *recorder.bias])


class _OnEpochEnd(keras.callbacks.Callback):
    """Runs ``action`` once, at the end of the first epoch of the fit it is in."""

    def __init__(self, action):
        super().__init__()
        self.action = action

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.action(self.model)


def test_train_on_batch_from_a_callback_of_the_models_own_fit_keeps_the_schedule():
    # A replay step from a callback (train_on_batch) was taken for the next fit after an interrupted one: the
    # schedule came out, and the rest of the fit trained at the compiled rate, its rates no longer logged.
    model = bias_model(keras.optimizers.SGD(0.5))
    x, y = bias_data(4)
    history, recorder = fit(model, [keras_lr.OneCycle(0.1, base_momentum=None),
                                    _OnEpochEnd(lambda m: m.train_on_batch(x, y))])
    one_cycle = evaluate_schedule(OneCycleSchedule(0.1, 3 * STEPS, base_momentum=None), range(3 * STEPS + 1))
    rates = applied_rates(recorder)
    np.testing.assert_allclose(rates[:STEPS], one_cycle[:STEPS], rtol=1e-4, atol=1e-7)
    # The replay step was one more step on the counter (10), at the schedule's rate for it, before the
    # second epoch's first (11).
    np.testing.assert_allclose(rates[STEPS], one_cycle[STEPS] + one_cycle[STEPS + 1], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(rates[STEPS + 1:], one_cycle[STEPS + 2:], rtol=1e-4, atol=1e-7)
    assert len(history.history["learning_rate"]) == 3
    assert float(model.optimizer.learning_rate.numpy()) == 0.5


@pytest.mark.parametrize("replay_first", [False, True], ids=["replay after", "replay before"])
def test_history_frame_lists_a_replay_step_at_an_epochs_end_wherever_its_callback_is_listed(replay_first):
    # Listed after the schedule's callback, each epoch's replay step came after the epoch's rows were recorded: the
    # steps 10, 21 and 32 were missing, 30 rows for 33 steps (found by a review of the engine).
    model = bias_model(keras.optimizers.SGD(0.5))
    x, y = bias_data(4)

    class Replay(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # the last epoch's too
            self.model.train_on_batch(x, y)

    ours, replay = keras_lr.OneCycle(0.1, base_momentum=None), Replay()
    fit(model, [replay, ours] if replay_first else [ours, replay])
    frame = ours.history_frame()
    assert list(frame.step) == list(range(3 * STEPS + 3))
    assert list(frame.epoch) == [0] * (STEPS + 1) + [1] * (STEPS + 1) + [2] * (STEPS + 1)
    # Each row's rate is the schedule's at its step (the replay steps' included).
    one_cycle = evaluate_schedule(OneCycleSchedule(0.1, 3 * STEPS, base_momentum=None), range(3 * STEPS + 3))
    np.testing.assert_allclose(frame.learning_rate, one_cycle, rtol=1e-5, atol=1e-8)


def test_history_frame_lists_the_steps_of_an_epoch_a_fit_was_interrupted_in():
    # Rows were recorded at each epoch's end: a fit stopped by an exception (Ctrl-C, a data error) in its second
    # epoch listed the first epoch's 10 steps only, one stopped in its first epoch none (found by a probe).
    for stop_at in (4, STEPS + 4):
        model = bias_model(keras.optimizers.SGD(0.5))
        ours = keras_lr.OneCycle(0.1, base_momentum=None)

        class Interrupt(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None, steps=[0]):
                steps[0] += 1
                if steps[0] == stop_at:
                    raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            fit(model, [ours, Interrupt()])
        frame = ours.history_frame()
        assert list(frame.step) == list(range(stop_at))
        assert list(frame.epoch) == [0] * min(stop_at, STEPS) + [1] * (stop_at - STEPS)
        np.testing.assert_allclose(frame.learning_rate, evaluate_schedule(
            OneCycleSchedule(0.1, 3 * STEPS, base_momentum=None), range(stop_at)), rtol=1e-5, atol=1e-8)


class _ReplayAt(keras.callbacks.Callback):
    """Runs one replay step (train_on_batch) at the end of batch ``batch`` of the first epoch."""

    def __init__(self, batch, data):
        super().__init__()
        self.batch, self.data = batch, data

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.batch and not getattr(self, "done", False):
            self.done = True
            self.model.train_on_batch(*self.data)


def test_a_replay_step_in_the_middle_of_an_epoch_moves_the_logged_rates_with_it():
    # The batch logs after a replay step named the rate of the step before the one each batch ran (and so did
    # ReduceLROnPlateau's events) until the epoch's end.
    model = bias_model(keras.optimizers.SGD(0.5))
    x, y = bias_data(4)
    ours = keras_lr.OneCycle(0.1, base_momentum=None)
    history, recorder = fit(model, [ours, _ReplayAt(3, (x, y))], epochs=2)
    one_cycle = evaluate_schedule(OneCycleSchedule(0.1, 2 * STEPS, base_momentum=None), range(2 * STEPS + 1))
    logged = np.asarray(recorder.batch_rates, dtype=float)
    # Batch 3's log was written before the replay; the fit's step of batch 4 was the counter's fifth (index 5).
    np.testing.assert_allclose(logged[:4], one_cycle[:4], rtol=1e-5)
    np.testing.assert_allclose(logged[4:], one_cycle[5:], rtol=1e-5)
    np.testing.assert_allclose(history.history["learning_rate"], [one_cycle[STEPS], one_cycle[2 * STEPS]],
                               rtol=1e-5)
    assert list(ours.history_frame().step) == list(range(2 * STEPS + 1))  # the replay step's among them


def test_lr_find_from_a_callback_of_the_models_own_keras_lr_fit_is_refused():
    # It took the running fit for an interrupted one and took its schedule out: the rest trained at 0.5.
    model = bias_model(keras.optimizers.SGD(0.5))
    x, y = bias_data()
    with pytest.raises(ValueError, match=r"lr_find: the model is in a fit that is running \(lr_find was called from "
                                         r"one of its callbacks\), whose rates keras_lr sets and this would end; run it "
                                         r"before or after that fit"):
        fit(model, [keras_lr.OneCycle(0.1, base_momentum=None),
                    _OnEpochEnd(lambda m: keras_lr.lr_find(m, x, y, num_steps=20, verbose=0))])
    # Nothing of the schedule left behind: a plain fit next trains at the compiled rate.
    np.testing.assert_allclose(plain_rates(model), 0.5, rtol=1e-6)


@pytest.mark.parametrize("nested", ["OneCycle", "lr_find"])
def test_a_keras_lr_fit_of_a_model_sharing_the_running_fits_optimizer_is_refused(nested):
    # B wraps A and was compiled with A's optimizer object (Keras accepts it: the same weights). B's keras_lr
    # fit or lr_find, from a callback of A's OneCycle fit, took A's schedule out as an interrupted fit's: under
    # PyTorch A trained at the compiled rate from then on, its logs still showing the cycle's.
    a = bias_model(keras.optimizers.SGD(0.5))
    inputs = keras.Input((2,))
    b = keras.Model(inputs, a(inputs), name="wrapper")
    b.compile(a.optimizer, a.loss)
    x, y = bias_data()

    def nested_fit(model):
        if nested == "lr_find":
            keras_lr.lr_find(b, x, y, num_steps=20, verbose=0)
        else:
            b.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[keras_lr.OneCycle(0.2, base_momentum=None)])

    owner = "lr_find" if nested == "lr_find" else "OneCycle"
    with pytest.raises(ValueError, match=rf"{owner}: the model's optimizer \(SGD\) is also the optimizer of model "
                                         rf"'{a.name}', in a fit that is running .*an optimizer of its own"):
        fit(a, [keras_lr.OneCycle(0.1, base_momentum=None), _OnEpochEnd(nested_fit)])
    assert a.optimizer.get_config()["learning_rate"] == 0.5
    np.testing.assert_allclose(plain_rates(a), 0.5, rtol=1e-6)


def test_one_callback_in_a_running_fit_and_a_fit_started_from_it_is_refused():
    # The nested fit took the callback over; the outer fit then failed with IndexError, its schedule left in.
    outer, other = bias_model(keras.optimizers.SGD(0.5)), bias_model(keras.optimizers.SGD(0.5))
    one_cycle = keras_lr.OneCycle(0.1, base_momentum=None)
    x, y = bias_data()

    def nested_fit(model):
        other.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[one_cycle])

    with pytest.raises(ValueError, match=r"OneCycle: this callback is in a fit that is running \(of model "
                                         rf"'{outer.name}'\), from which this fit was started; pass a new OneCycle"):
        fit(outer, [one_cycle, _OnEpochEnd(nested_fit)])
    for model in (outer, other):
        np.testing.assert_allclose(plain_rates(model), 0.5, rtol=1e-6)


@pytest.mark.parametrize("callback", ["OneCycle", "ReduceLROnPlateau", "DivergenceGuard"])
def test_an_optimizer_held_beside_model_optimizer_is_named_as_left_at_its_rate(callback):
    # A GAN whose compile passes one of its two optimizers to Model.compile, the other held and stepped in
    # train_step: keras_lr scheduled (or cut) the one and left the other at its rate, without a word.
    model = bias_model(keras.optimizers.SGD(0.5))
    model.d_optimizer = keras.optimizers.Adam(0.001)
    ours = keras_lr.OneCycle(0.1, base_momentum=None) if callback == "OneCycle" else getattr(keras_lr, callback)()
    with pytest.warns(UserWarning, match=rf"{callback}: the model holds an optimizer beside model.optimizer "
                                         rf"\(SGD\): d_optimizer \(Adam\), whose rate keras_lr leaves as it is"):
        fit(model, [ours], epochs=1)
    # The optimizer keras_lr drives, held beside the LossScaleOptimizer that wraps it (mixed precision): not named.
    model = bias_model(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.5)))
    model.base_optimizer = model.optimizer.inner_optimizer
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*beside model.optimizer")
        fit(model, [keras_lr.OneCycle(0.1, base_momentum=None)], epochs=1)


@pytest.mark.parametrize("nested", ["plain", "OneCycle", "the same OneCycle"])
def test_a_fit_of_the_model_started_from_its_own_running_fit_is_refused(nested):
    # Keras makes the train function before on_train_begin: the nested fit's took the running one's for an
    # interrupted fit and took its schedule out, and the rest of the outer fit trained at the compiled rate.
    model = bias_model(keras.optimizers.SGD(0.5))
    one_cycle = keras_lr.OneCycle(0.1, base_momentum=None)
    x, y = bias_data()
    callbacks = {"plain": [], "OneCycle": [keras_lr.OneCycle(0.2, base_momentum=None)], "the same OneCycle": [one_cycle]}

    def nested_fit(model):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=callbacks[nested])

    with pytest.raises(ValueError, match=r"keras_lr: the model is in a fit that is running \(this fit was started "
                                         r"from one of its callbacks\)"):
        fit(model, [one_cycle, _OnEpochEnd(nested_fit)])
    np.testing.assert_allclose(plain_rates(model), 0.5, rtol=1e-6)


def test_lr_find_from_a_callback_of_a_plain_fit_puts_the_model_back_and_the_fit_goes_on():
    model = bias_model(keras.optimizers.SGD(0.5))
    x, y = bias_data()
    found = []
    history, recorder = fit(model, [_OnEpochEnd(lambda m: found.append(
        keras_lr.lr_find(m, x, y, start_lr=1e-3, end_lr=1.0, num_steps=20, retry=False, verbose=0)))])
    assert len(found) == 1 and len(history.history["loss"]) == 3
    np.testing.assert_allclose(applied_rates(recorder), 0.5, rtol=1e-5)


@pytest.mark.parametrize("make", [lambda: keras.optimizers.RMSprop(0.01, momentum=0.9), keras.optimizers.Nadam],
                         ids=["RMSprop", "Nadam"])
def test_a_cycled_momentum_trains_a_float64_model(make):
    # TensorFlow refused the float32 momentum where RMSprop and Nadam convert it to the variables' float64
    # ("Incompatible type conversion ... keras_lr_momentum"), and the failed trace left the model unable to fit.
    if BACKEND == "jax" and make().__class__ is keras.optimizers.RMSprop:
        pytest.skip("JAX cannot cycle RMSprop's momentum (warned)")
    policy, floatx = keras.config.dtype_policy(), keras.config.floatx()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")  # (a policy set by another test would keep float32)
    try:
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(make(), "mse")
        x = np.random.default_rng(0).normal(size=(40, 2))
        callback = keras_lr.OneCycle(0.05)
        model.fit(x, x.sum(1, keepdims=True), batch_size=4, epochs=2, verbose=0, callbacks=[callback])
        momenta = callback.history_frame().momentum
        assert momenta.min() == pytest.approx(0.85, abs=1e-3) and momenta.max() == pytest.approx(0.95, abs=1e-6)
        assert model.weights[0].dtype == "float64" and np.isfinite(model.get_weights()[0]).all()
        model.fit(x, x.sum(1, keepdims=True), batch_size=4, epochs=1, verbose=0)  # and a plain fit after it
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)


@pytest.mark.parametrize("params", [True, False], ids=["with epochs and steps", "without"])
def test_a_callback_list_given_again_after_an_interrupted_fit_is_a_new_fit(params):
    # The fit after an interrupted one given the same CallbackList (its params the session's token, or None
    # when made without epochs= and steps=) was taken for a fit started from the interrupted one's callbacks
    # and refused, every later plain fit of the model too (a review).
    model = bias_model(keras.optimizers.SGD(0.5))
    x, y = bias_data()
    arguments = dict(epochs=1, steps=STEPS) if params else {}
    callbacks = keras.callbacks.CallbackList([keras_lr.OneCycle(0.1, total_steps=STEPS, base_momentum=None),
                                               _Interrupt()], model=model, **arguments)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
    np.testing.assert_allclose(plain_rates(model), 0.5, rtol=1e-6)
    callbacks.callbacks.pop()  # (the interrupting one)
    start = float(model.layers[-1].bias.numpy()[0])
    model.optimizer.iterations.assign(0)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
    one_cycle = evaluate_schedule(OneCycleSchedule(0.1, STEPS, base_momentum=None), range(STEPS))
    assert float(model.layers[-1].bias.numpy()[0]) == pytest.approx(start - one_cycle.sum(), rel=1e-4)


def test_a_train_function_made_again_from_a_callback_of_a_running_fit_keeps_the_schedule():
    # A callback re-making the train function (after a change of trainable, say) was taken for a fit started
    # from the running one's callbacks, and refused (before, the schedule was dropped, silently).
    model = bias_model(keras.optimizers.SGD(0.5))
    _, recorder = fit(model, [keras_lr.OneCycle(0.1, base_momentum=None),
                              _OnEpochEnd(lambda m: m.make_train_function(force=True))])
    one_cycle = evaluate_schedule(OneCycleSchedule(0.1, 3 * STEPS, base_momentum=None), range(3 * STEPS))
    np.testing.assert_allclose(applied_rates(recorder), one_cycle, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("adaptive", [False, True], ids=["alone", "with-a-cut"])
def test_a_schedule_over_a_dataset_of_unknown_length_steps_once_a_batch(adaptive):
    # TensorFlow's fit without XLA ends each pass over a dataset of unknown length (a filter, from_generator,
    # TFRecordDataset) with a call that finds no batch, trains nothing and counts a step: the cycle moved one
    # step on at each epoch's end, reached its final rate `epochs` steps early, and history_frame listed 33 steps
    # for 30 batches.
    import tensorflow as tf

    x, y = bias_data()
    data = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda *_: True).batch(4)
    model = bias_model(keras.optimizers.SGD(0.5))
    model.compile(model.optimizer, model.loss, jit_compile=False)
    ours = keras_lr.OneCycle(0.1, total_steps=3 * STEPS, base_momentum=None)
    callbacks = [ours, keras_lr.ReduceLROnPlateau(monitor="loss", mode="max", patience=0, factor=0.5)] if adaptive \
        else [ours]
    recorder = fit(model, [], epochs=0)[1]  # (a Recorder of this model)
    model.fit(data, epochs=3, verbose=0, callbacks=[*callbacks, recorder])
    one_cycle = evaluate_schedule(OneCycleSchedule(0.1, 3 * STEPS, base_momentum=None), range(3 * STEPS))
    applied = -np.diff([0.0, *recorder.bias])
    # (The loss, the bias, falls every step: "max" cuts it at the second epoch's end, for the third.)
    expected = one_cycle * (np.repeat([1.0, 1.0, 0.5], STEPS) if adaptive else 1.0)
    np.testing.assert_allclose(applied, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(recorder.batch_rates, expected, rtol=1e-4, atol=1e-7)
    frame = ours.history_frame()
    assert list(frame.step) == list(range(3 * STEPS))
    np.testing.assert_allclose(frame.learning_rate, expected, rtol=1e-4, atol=1e-7)
