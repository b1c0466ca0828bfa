"""What keras_lr relies on inside KerasTuner (keras_lr/tuning/_kerastuner.py): fails when it changes."""

import keras
import keras_tuner
import numpy as np
import pytest

from keras_lr import tuning
from keras_lr.tuning import _kerastuner
from tests.backends import search_bookkeeping
from tests.tuning.helpers import build_digits, digits, search_digits

pytestmark = search_bookkeeping


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


# KerasTuner's chief/worker mode (what _kerastuner.py's distributed part relies on).


def test_a_trial_crosses_grpc_with_its_metrics_but_not_its_message():
    space = keras_tuner.HyperParameters()
    tuning.learning_rate(space)
    trial = keras_tuner.engine.trial.Trial(space, trial_id="3", status="RUNNING", message="lost")
    _kerastuner.mark(trial, _kerastuner.RUN, 2)
    back = keras_tuner.engine.trial.Trial.from_proto(trial.to_proto())
    assert _kerastuner.marked(back, _kerastuner.RUN) == 2 and back.message is None and back.status == "RUNNING"


def test_the_workers_client_sends_every_request_through_its_stub_with_a_timeout(monkeypatch):
    from keras_tuner.src.distribute import oracle_client

    for name, value in {"KERASTUNER_TUNER_ID": "tuner0", "KERASTUNER_ORACLE_IP": "127.0.0.1",
                        "KERASTUNER_ORACLE_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    seen = []

    class Stub:
        def __getattr__(self, name):
            def call(request, **kwargs):
                seen.append((name, kwargs))
                raise RuntimeError("recorded")
            return call

    client = oracle_client.OracleClient(None)
    client.stub = Stub()
    space = keras_tuner.HyperParameters()
    calls = [lambda: client.get_space(), lambda: client.update_space(space), lambda: client.create_trial("tuner0"),
             lambda: client.update_trial("0", {"x": 1.0}), lambda: client.get_trial("0"),
             lambda: client.get_best_trials(1),
             lambda: client.end_trial(keras_tuner.engine.trial.Trial(space, trial_id="0"))]
    for call in calls:
        try:
            call()
        except RuntimeError:
            pass
    assert [name for name, _ in seen] == ["GetSpace", "UpdateSpace", "CreateTrial", "UpdateTrial", "GetTrial",
                                          "GetBestTrials", "EndTrial"]
    assert all(kwargs == {"wait_for_ready": True, "timeout": oracle_client.TIMEOUT} for _, kwargs in seen)


def test_kerastuners_oracle_hands_a_tuner_that_asks_again_its_ongoing_trial(tmp_path):
    space = keras_tuner.HyperParameters()
    space.Float("x", 0.0, 1.0)
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="loss", max_trials=3, hyperparameters=space)
    oracle._set_project_dir(str(tmp_path), "p")
    trial = oracle.create_trial("tuner0")
    assert oracle.create_trial("tuner0") is trial and oracle.ongoing_trials == {"tuner0": trial}
    assert oracle.tuner_ids == {"tuner0"}


def test_kerastuners_chief_stops_when_no_trial_runs_and_every_tuner_was_told(tmp_path):
    from keras_tuner.src.distribute import oracle_chief

    space = keras_tuner.HyperParameters()
    space.Float("x", 0.0, 1.0)
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="loss", max_trials=1, hyperparameters=space)
    oracle._set_project_dir(str(tmp_path), "p")
    servicer = oracle_chief.OracleServicer(oracle)
    request = type("Request", (), {"tuner_id": "tuner0"})()
    servicer.CreateTrial(request, None)
    assert not servicer.stop_triggered and not oracle_chief.exit_chief(oracle)
    trial = oracle.ongoing_trials["tuner0"]
    oracle.update_trial(trial.trial_id, {"loss": 1.0})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    servicer.CreateTrial(request, None)
    assert servicer.stop_triggered and oracle_chief.exit_chief(oracle)


def test_kerastuners_search_asks_again_after_an_idle_answer(tmp_path):
    answers = ["IDLE", "IDLE", "STOPPED"]

    class Answering(keras_tuner.oracles.RandomSearchOracle):
        def create_trial(self, tuner_id):
            return keras_tuner.engine.trial.Trial(self.get_space(), status=answers.pop(0))

    class Counting(keras_tuner.Tuner):
        asked = 0

        def pre_create_trial(self):
            Counting.asked += 1

        def run_trial(self, trial, *args, **kwargs):
            raise AssertionError("no trial was handed out")

    space = keras_tuner.HyperParameters()
    space.Float("x", 0.0, 1.0)
    tuner = Counting(Answering(objective="loss", max_trials=3, hyperparameters=space), directory=str(tmp_path))
    tuner.search()
    assert Counting.asked == 3 and answers == []


def test_a_workers_hyperband_schedule_spans_max_epochs(tmp_path, monkeypatch):
    # On a worker, tuner.oracle is KerasTuner's OracleClient, which forwards four attributes to the chief: a
    # Hyperband trial's one cycle read no max_epochs there and spanned the round's fit (1 epoch of 3), annealed
    # to 4e-9 where the same trial in one process was a third of the way through its cycle.
    from keras_tuner.src.distribute import oracle_client

    hypermodel = tuning.LRHyperModel(build_digits, schedules=("one_cycle",))
    tuner = tuning.Hyperband(hypermodel, objective="val_accuracy", max_epochs=3, factor=3,
                             directory=str(tmp_path), project_name="search")
    for name, value in {"KERASTUNER_TUNER_ID": "tuner1", "KERASTUNER_ORACLE_IP": "127.0.0.1",
                        "KERASTUNER_ORACLE_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    worker = type("Worker", (), {})()
    worker.oracle = oracle_client.OracleClient(tuner.oracle)
    assert getattr(worker.oracle, "max_epochs", None) is None  # what the lookup met
    hp = tuner.oracle.get_space()
    hp.values.update({"tuner/epochs": 1, "tuner/initial_epoch": 0})
    model = build_digits(hp)
    for where in (tuner, worker):
        assert hypermodel._callback(hp, model, where, {}).epochs == 3


def test_a_recommendation_on_a_log_step_grid_stays_within_the_bounds(tmp_path):
    # Cut to max_value=0.05 and then rounded onto the grid of tens from 1e-4, it went up to 0.1.
    def build(hp):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(tuning.learning_rate(hp, min_value=1e-4, max_value=0.05, step=10)), "mse")
        return model

    for given, queued in ((0.3, 0.01), (1e-6, 1e-4), (0.0009, 0.001)):
        tuner = tuning.RandomSearch(build, objective="loss", max_trials=2, directory=str(tmp_path / str(given)))
        _kerastuner.add_recommendation(tuner.oracle, {"learning_rate": given})
        assert tuner.oracle.keras_lr["recommendation"]["learning_rate"] == pytest.approx(queued)
