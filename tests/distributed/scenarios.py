"""Fits whose weights reveal each step's rate and momentum, run with and without a distribution.

Each scenario builds and compiles its model in ``build_scope`` and fits in
``fit_scope`` (a strategy's or distribution's scope, or no scope at all)
and returns plain numpy arrays, so a run in a subprocess with two devices
can be compared with the same run in the test's own process.
"""

import contextlib

import keras
import numpy as np
from keras import ops

import keras_lr

BATCH = 4
SAMPLES = 40  # 10 steps an epoch
EPOCHS = 3


def per_sample_output(y_true, y_pred):
    """Each sample's output (plus 100, to stay positive): the gradient w.r.t. the bias is 1.

    Per sample, not already a mean: Keras divides a per-sample loss by the
    replicas in sync before their gradients are summed, but leaves a scalar
    loss as it is (each replica's gradient would count in full).
    """
    return ops.mean(y_pred, axis=-1) + 100.0


def bias_model(optimizer):
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros")]
    )
    model.compile(optimizer, per_sample_output)
    return model


def data(nan_batch=None):
    """Zero inputs (the kernel never moves); with ``nan_batch``, a NaN in that batch of every epoch."""
    x, y = np.zeros((SAMPLES, 2), "float32"), np.zeros((SAMPLES, 1), "float32")
    if nan_batch is not None:
        x[nan_batch * BATCH] = np.nan  # its loss and the kernel's gradient are NaN, the bias's still 1
    return x, y


class Recorder(keras.callbacks.Callback):
    """The bias, the kernel and the logged rate and momentum after each batch hook."""

    def __init__(self, momentum_key="momentum"):
        super().__init__()
        self.momentum_key = momentum_key

    def on_train_begin(self, logs=None):
        self.bias, self.kernel, self.rates, self.momenta, self.losses = [], [], [], [], []

    def on_train_batch_end(self, batch, logs=None):
        self.bias.append(float(self.model.layers[-1].bias.numpy()[0]))
        self.kernel.append(float(self.model.layers[-1].kernel.numpy()[0, 0]))
        self.rates.append(logs.get("learning_rate", np.nan))
        self.momenta.append(logs.get(self.momentum_key, np.nan))
        self.losses.append(logs.get("loss", np.nan))

    def arrays(self, prefix):
        return {f"{prefix}/{name}": np.asarray(getattr(self, name), "float64")
                for name in ("bias", "kernel", "rates", "momenta", "losses")}


def _fit(model, callbacks, recorder, nan_batch=None, epochs=EPOCHS):
    x, y = data(nan_batch)
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=False, callbacks=[*callbacks, recorder])


def _events(prefix, callback):
    frame = callback.events_frame()
    return {f"{prefix}/steps": frame.step.to_numpy("float64"),
            f"{prefix}/new_rates": frame.new_learning_rate.to_numpy("float64")}


def one_cycle_sgd(build_scope, fit_scope):
    with build_scope():
        model = bias_model(keras.optimizers.SGD(0.5, momentum=0.9))
    one_cycle, recorder = keras_lr.OneCycle(0.1), Recorder("momentum")
    with fit_scope():
        _fit(model, [one_cycle], recorder)
    frame = one_cycle.history_frame()
    return {**recorder.arrays("one_cycle_sgd"),
            "one_cycle_sgd/frame_rates": frame.learning_rate.to_numpy("float64"),
            "one_cycle_sgd/frame_momenta": frame.momentum.to_numpy("float64"),
            "one_cycle_sgd/after": np.array([model.optimizer.learning_rate.numpy(), float(model.optimizer.momentum)], "float64")}


def one_cycle_adam(build_scope, fit_scope):
    with build_scope():
        model = bias_model(keras.optimizers.Adam(0.5))
    recorder = Recorder("beta_1")
    with fit_scope():
        _fit(model, [keras_lr.OneCycle(0.1)], recorder)
    return recorder.arrays("one_cycle_adam")


def adaptive(build_scope, fit_scope):
    """OneCycle, a plateau reduction every 3 steps, and a guard that rolls back a NaN batch in every epoch."""
    with build_scope():
        model = bias_model(keras.optimizers.SGD(0.5, momentum=0.9))
    # The loss falls at every step: with mode="max" every check after the first reduces.
    plateau = keras_lr.ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5, patience=1, frequency=3, smoothing=0.0)
    guard = keras_lr.DivergenceGuard(snapshot_every=4)
    recorder = Recorder("momentum")
    with fit_scope():
        _fit(model, [plateau, keras_lr.OneCycle(0.1), guard], recorder, nan_batch=5)
    return {**recorder.arrays("adaptive"), **_events("adaptive/plateau", plateau), **_events("adaptive/guard", guard),
            "adaptive/recoveries": np.array([guard.recoveries], "float64")}


def bold_driver(build_scope, fit_scope):
    """BoldDriver on the optimizer's own rate, rejecting (rolling back) every check after the first."""
    with build_scope():
        model = bias_model(keras.optimizers.Adam(0.05))
    driver = keras_lr.BoldDriver(monitor="loss", mode="max", frequency=4, rollback=True)
    recorder = Recorder("beta_1")
    with fit_scope():
        _fit(model, [driver], recorder)
    return {**recorder.arrays("bold_driver"), **_events("bold_driver/events", driver),
            "bold_driver/after": np.array([model.optimizer.learning_rate.numpy()], "float64")}


def replica_values(variable):
    """Each device's copy of a variable (numpy), as the backend holds them."""
    value = variable.value
    if hasattr(value, "addressable_shards"):  # a JAX array
        return [np.asarray(shard.data) for shard in value.addressable_shards]
    if hasattr(value, "values") and not callable(value.values):  # a tf.distribute variable
        return [np.array(component.numpy()) for component in value.values]
    return [np.array(variable.numpy())]


def every_replica(model):
    """The bytes of every model and optimizer variable on every device."""
    variables = list(model.variables) + list(model.optimizer.variables)
    seen, out = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            out.append((variable.path, [value.tobytes() for value in replica_values(variable)]))
    return out


def range_test(build_scope, fit_scope):
    """The range test on a model never fit (it builds the optimizer), after a fit, then a fit with OneCycle."""
    with build_scope():
        model = bias_model(keras.optimizers.SGD(0.05, momentum=0.9))
    x, y = data()
    # Each replica's slice of the batch differs: so do their gradients before the all-reduce.
    x_warm = np.linspace(-1.0, 1.0, SAMPLES * 2, dtype="float32").reshape(SAMPLES, 2) ** 2
    # retry=False: these short tests are compared step by step, not judged.
    arguments = {"batch_size": BATCH, "divergence_threshold": 1e9, "start_lr": 1e-4, "end_lr": 1.0, "retry": False,
                 "verbose": 0}
    with fit_scope():
        fresh = every_replica(model)
        first = keras_lr.lr_find(model, x_warm, y, num_steps=12, **arguments)
        not_restored = changed(fresh, every_replica(model))
        model.fit(x_warm, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
        before = every_replica(model)
        result = keras_lr.lr_find(model, x, y, num_steps=25, **arguments)
        not_restored += changed(before, every_replica(model))
        recorder = Recorder("momentum")
        _fit(model, [keras_lr.OneCycle(0.1)], recorder, epochs=1)
    iterations = [int(value) for value in replica_values(model.optimizer.iterations)]
    return {"range_test/first_rates": first.frame.learning_rate.to_numpy("float64"),
            "range_test/first_losses": first.frame.loss.to_numpy("float64"),
            "range_test/rates": result.frame.learning_rate.to_numpy("float64"),
            "range_test/losses": result.frame.loss.to_numpy("float64"),
            "range_test/variables": np.array([len(fresh), len(before)], "float64"),
            "range_test/iterations": np.array(iterations[:1], "float64"),
            **recorder.arrays("range_test/after")}, not_restored, min(len(values) for _, values in before)


def changed(before, after):
    """The variables of ``before`` whose bytes on some device differ in ``after``."""
    after = dict(after)
    return [name for name, values in before if after.get(name) != values]


SCENARIOS = {"one_cycle_sgd": one_cycle_sgd, "one_cycle_adam": one_cycle_adam, "adaptive": adaptive,
             "bold_driver": bold_driver}


def run_all(build_scope=contextlib.nullcontext, fit_scope=contextlib.nullcontext, names=None):
    """The arrays of the scenarios ``names`` (all by default), and what the range test left.

    The range test runs when ``names`` is None or includes "range_test": the
    second value is then the variables it did not restore on some device,
    the third how many devices hold each variable (the fewest).
    """
    out, not_restored, devices = {}, [], None
    for name, scenario in SCENARIOS.items():
        if names is None or name in names:
            keras.utils.set_random_seed(1234)
            out.update(scenario(build_scope, fit_scope))
    if names is None or "range_test" in names:
        keras.utils.set_random_seed(1234)
        arrays, not_restored, devices = range_test(build_scope, fit_scope)
        out.update(arrays)
    return out, not_restored, devices
