"""What keras_lr relies on inside KerasTuner (keras_lr/tuning/_kerastuner.py): fails when it changes."""

import keras
import keras_tuner
import numpy as np

from keras_lr import tuning
from keras_lr.tuning import _kerastuner
from tests.tuning.helpers import build_digits, digits, search_digits


class Probe(keras_tuner.HyperModel):
    """Records what `fit` receives and which epochs reach `Tuner.on_epoch_end`."""

    def build(self, hp):
        return build_digits(hp)

    def fit(self, hp, model, *args, **kwargs):
        self.seen = _kerastuner.search_of(kwargs["callbacks"])
        return model.fit(*args, **kwargs)


class EpochCounter(keras_tuner.RandomSearch):
    epochs = []

    def on_epoch_end(self, trial, model, epoch, logs=None):
        EpochCounter.epochs.append((trial.trial_id, epoch, sorted(logs)))


def test_fit_gets_the_tuner_and_trial_and_on_epoch_end_gets_every_epoch(tmp_path):
    probe = Probe()
    tuner = EpochCounter(probe, objective="val_accuracy", max_trials=1, directory=str(tmp_path), project_name="p")
    search_digits(tuner, epochs=2)
    found_tuner, trial = probe.seen
    assert found_tuner is tuner and trial.trial_id == tuner.oracle.start_order[0]
    assert [(t, e) for t, e, _ in EpochCounter.epochs] == [(trial.trial_id, 0), (trial.trial_id, 1)]
    assert "val_accuracy" in EpochCounter.epochs[0][2]
    assert _kerastuner.search_of([keras.callbacks.History()]) == (None, None)


class Counting:
    """Counts the calls to `_random_values`, the hook that puts the initial points first."""

    calls = 0

    def _random_values(self):
        Counting.calls += 1
        return super()._random_values()


def test_new_configurations_come_from_random_values():
    space = keras_tuner.HyperParameters()
    space.Float("x", 0.0, 1.0)
    oracles = [
        keras_tuner.oracles.RandomSearchOracle(objective="loss", max_trials=3, hyperparameters=space.copy()),
        keras_tuner.oracles.BayesianOptimizationOracle(objective="loss", max_trials=3, hyperparameters=space.copy()),
        keras_tuner.oracles.HyperbandOracle(objective="loss", max_epochs=3, hyperparameters=space.copy()),
    ]
    for oracle in oracles:
        oracle.__class__ = type("Counted", (Counting, type(oracle)), {})
        Counting.calls = 0
        assert oracle.populate_space("0")["status"] == "RUNNING"
        assert Counting.calls == 1, type(oracle).__mro__[2].__name__
    grid = keras_tuner.oracles.GridSearchOracle(objective="loss", max_trials=3, hyperparameters=space.copy())
    assert grid.populate_space("0")["values"] == {"x": 0.0}  # the grid starts at the defaults


def test_a_retried_trial_is_the_last_in_the_retry_queue_and_keeps_its_metrics(tmp_path):
    tuner = tuning.RandomSearch(tuning.LRHyperModel(build_digits), objective="val_accuracy", max_trials=3,
                                directory=str(tmp_path), project_name="p")
    search_digits(tuner, epochs=1)
    oracle = tuner.oracle
    trial = oracle.trials[oracle.start_order[1]]
    assert trial.metrics.exists("curve/loss") and trial.metrics.exists("val_accuracy")
    # KerasTuner's own scoring is untouched: the best epoch of the objective it was given.
    assert trial.score == max(_kerastuner.curve(trial, "val_accuracy").values())
    oracle._retry_queue.append(trial.trial_id)
    oracle.max_trials = 4
    again = oracle.create_trial("tuner0")
    assert again is trial and not trial.metrics.exists("curve/loss") and trial.metrics.exists("val_accuracy")


def test_curves_are_kept_per_epoch_and_averaged_over_executions(tmp_path):
    tuner = tuning.RandomSearch(tuning.LRHyperModel(build_digits, schedules=("constant",)), objective="val_accuracy",
                                max_trials=1, executions_per_trial=2, directory=str(tmp_path), project_name="p")
    x, y = digits()
    tuner.search(x, y, epochs=2, batch_size=64, validation_split=0.25, verbose=0)
    trial = next(iter(tuner.oracle.trials.values()))
    history = trial.metrics.get_history("curve/val_accuracy")
    assert [obs.step for obs in history] == [0, 1] and all(len(obs.value) == 2 for obs in history)
    assert _kerastuner.curve(trial, "val_accuracy")[1] == np.mean(history[1].value)
