"""Resuming an interrupted fit gives the rates, momenta and weights of an uninterrupted one."""

import keras
import numpy as np
import pytest

import keras_lr
from tests.backends import BACKEND

EPOCHS = 4


def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(48, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1)) + 0.1).astype("float32")
    return x, y


def build():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "mse")
    return model


def callbacks():
    return [keras_lr.OneCycle(max_lr=0.05)]


class StopAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.stop_training = True


class CrashAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


def checkpoint_after_two_epochs(tmp_path):
    """Trains the run meant for EPOCHS epochs, stops it after epoch 2 and loads its checkpoint."""
    x, y = data()
    path = str(tmp_path / "checkpoint.keras")
    first = build()
    first.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=[*callbacks(), keras.callbacks.ModelCheckpoint(path), StopAfter(1)])
    return keras.saving.load_model(path)


@pytest.fixture(scope="module")
def straight():
    x, y = data()
    model = build()
    cbs = callbacks()
    history = model.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=cbs)
    return model, cbs[0].history_frame(), history.history["learning_rate"]


def test_resume_from_model_checkpoint(straight, tmp_path):
    model_straight, frame_straight, rates_straight = straight
    x, y = data()
    resumed = checkpoint_after_two_epochs(tmp_path)
    assert int(resumed.optimizer.iterations.numpy()) == 12
    # The checkpoint holds the optimizer that was compiled (a float rate and momentum).
    assert resumed.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    if BACKEND != "torch":  # torch's optimizers read the momentum as a float: it holds the step's
        assert resumed.optimizer.get_config()["momentum"] == pytest.approx(0.9)
    cbs = callbacks()
    history = resumed.fit(x, y, batch_size=8, epochs=EPOCHS, initial_epoch=2, shuffle=False, verbose=0,
                          callbacks=cbs)
    frame = cbs[0].history_frame()
    np.testing.assert_array_equal(frame.step, frame_straight.step[12:])
    np.testing.assert_allclose(frame.learning_rate, frame_straight.learning_rate[12:], rtol=1e-6)
    np.testing.assert_allclose(frame.momentum, frame_straight.momentum[12:], rtol=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"], rates_straight[2:], rtol=1e-6)
    for a, b in zip(resumed.get_weights(), model_straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_a_checkpoint_saved_during_a_fit_loads_without_keras_lr(tmp_path):
    # Keras serializes a callable rate by its class: the checkpoint named keras_lr's FitSchedule,
    # and a process that had not imported keras_lr (a server, an evaluation job) could not load it.
    import json
    import subprocess
    import sys
    import zipfile

    x, y = data()
    path = tmp_path / "during.keras"
    model = build()
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
              callbacks=[keras_lr.OneCycle(0.05), keras_lr.ReduceLROnPlateau(monitor="loss"),
                         keras.callbacks.ModelCheckpoint(str(path))])
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json").decode()
    assert "keras_lr" not in config
    assert json.loads(config)["compile_config"]["optimizer"]["config"]["learning_rate"] == pytest.approx(0.01)
    # After the fit the optimizer's own get_config is back (no attribute left on it).
    assert "get_config" not in model.optimizer.__dict__
    script = f"import keras; m = keras.saving.load_model({str(path)!r}); print(float(m.optimizer.learning_rate.numpy()))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) == pytest.approx(0.01)


def test_resume_with_backup_and_restore(straight, tmp_path):
    model_straight, frame_straight, _ = straight
    x, y = data()
    backup = str(tmp_path / "backup")
    crashed = build()
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0,
                    callbacks=[*callbacks(), keras.callbacks.BackupAndRestore(backup), CrashAt(2)])
    restarted = build()  # a fresh process would build and compile the model again
    cbs = callbacks()
    restarted.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0,
                  callbacks=[*cbs, keras.callbacks.BackupAndRestore(backup)])
    frame = cbs[0].history_frame()
    np.testing.assert_array_equal(frame.step, frame_straight.step[12:])
    np.testing.assert_allclose(frame.learning_rate, frame_straight.learning_rate[12:], rtol=1e-6)
    for a, b in zip(restarted.get_weights(), model_straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_weights_differ_without_resuming_the_schedule(straight, tmp_path):
    """The trap the resume tests guard against (tensorflow#49208): restarting the cycle."""
    model_straight, _, _ = straight
    x, y = data()
    resumed = checkpoint_after_two_epochs(tmp_path)
    resumed.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=callbacks())
    assert not all(np.allclose(a, b, rtol=1e-4) for a, b in zip(resumed.get_weights(), model_straight.get_weights()))


@pytest.mark.parametrize("reducer", ["keras_lr", "keras"])
def test_a_checkpoint_holds_the_adapted_float_rate_as_kerass_reduce_lr_on_plateau_leaves_it(reducer, tmp_path):
    # The rate was adapted by a multiplier living one fit: a checkpoint held the rate compiled, so a fit
    # resumed from it lost every reduction; and a keras_lr callback that never acted (a guard) took from
    # Keras's own ReduceLROnPlateau the reduced rate it leaves in checkpoints (0.01 where it had set 0.0025).
    x, y = data()
    model = build()
    path = tmp_path / "checkpoint.keras"
    plateau = (keras_lr.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=1e9) if reducer == "keras_lr"
               else keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=1e9))
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False,
                        callbacks=[plateau, keras_lr.DivergenceGuard(), keras.callbacks.ModelCheckpoint(str(path))])
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005])  # cut after epochs 2 and 3
    loaded = keras.models.load_model(str(path))
    assert float(np.asarray(loaded.optimizer.learning_rate)) == pytest.approx(0.0025)  # saved after the cut
    resumed = loaded.fit(x, y, batch_size=8, epochs=4, initial_epoch=3, verbose=0, shuffle=False,
                         callbacks=[keras_lr.DivergenceGuard()])
    assert resumed.history["learning_rate"] == pytest.approx([0.0025])
