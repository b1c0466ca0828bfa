"""Real searches with keras_lr's tuners: trial order, schedules per trial, divergence, Hyperband, resume."""

import functools
import math
import warnings

import keras
import keras_tuner
import numpy as np
import pytest

import keras_lr
from keras_lr import tuning
from keras_lr.schedules import CyclicLR, OneCycle, evaluate_schedule
from tests.backends import search_bookkeeping
from tests.tuning.helpers import (
    STEPS_PER_EPOCH,
    build_digits,
    build_regression,
    digits,
    make,
    regression,
    search_digits,
    search_regression,
)

TUNERS = {
    "random": (tuning.RandomSearch, dict(max_trials=3)),
    "bayesian": (tuning.BayesianOptimization, dict(max_trials=3, num_initial_points=2)),
    "hyperband": (tuning.Hyperband, dict(max_epochs=2, factor=2)),
    "grid": (tuning.GridSearch, dict(max_trials=3)),
}


def rates_per_epoch(tuner):
    """{trial_id: {epoch (from 1): the rate logged at its end}}."""
    frame = tuning.history_frame(tuner)
    frame = frame[frame.metric == "learning_rate"]
    return {t: dict(zip(group.epoch, group.value)) for t, group in frame.groupby("trial_id")}


@search_bookkeeping
@pytest.mark.parametrize("name", TUNERS)
def test_the_defaults_trial_runs_first(name, tmp_path):
    tuner_class, kwargs = TUNERS[name]
    tuner = make(tuner_class, tuning.LRHyperModel(build_digits), tmp_path, **kwargs)
    search_digits(tuner, epochs=1 if name != "hyperband" else 2)
    oracle = tuner.oracle
    first = oracle.trials[oracle.start_order[0]]
    values = {k: v for k, v in first.hyperparameters.values.items() if not k.startswith("tuner/")}
    assert values == {"lr_schedule": "constant", "learning_rate": 0.001}
    frame = tuning.results_frame(tuner)
    # The defaults trial, and under Hyperband any round that continued it.
    continued = [t for t in oracle.start_order[1:]
                 if oracle.trials[t].hyperparameters.values.get("tuner/trial_id") == oracle.start_order[0]]
    assert sorted(frame.loc[frame.defaults, "trial_id"]) == sorted([oracle.start_order[0], *continued])
    assert len(frame) == len(oracle.trials) >= 2
    later = [oracle.trials[t].hyperparameters.values for t in oracle.start_order[1:]]
    assert any(v.get("learning_rate") != 0.001 or v.get("lr_schedule") != "constant" for v in later)


def test_each_schedule_runs_in_its_own_trial_only(tmp_path):
    points = [
        {"lr_schedule": "one_cycle", "learning_rate": 0.02, "one_cycle_pct_start": 0.5, "one_cycle_div_factor": 10.0},
        {"lr_schedule": "cosine", "learning_rate": 0.01, "cosine_warmup": 0.2},
        {"lr_schedule": "cyclic", "learning_rate": 0.03, "cyclic_mode": "exp_range", "cyclic_cycles": 1},
        {"lr_schedule": "step", "learning_rate": 0.02, "step_factor": 0.1, "step_interval": 0.3},
        {"lr_schedule": "plateau", "learning_rate": 0.005, "plateau_factor": 0.5, "plateau_patience": 1},
        {"lr_schedule": "constant", "learning_rate": 0.004},
    ]
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path, max_trials=7, initial_points=points)
    search_digits(tuner, epochs=3)
    total = 3 * STEPS_PER_EPOCH
    ends = np.arange(1, 4) * STEPS_PER_EPOCH - 1  # the last step of each epoch
    logged = rates_per_epoch(tuner)
    seen = set()
    for trial_id, trial in tuner.oracle.trials.items():
        values = trial.hyperparameters.values
        lr, schedule = values["learning_rate"], values["lr_schedule"]
        seen.add(schedule)
        got = np.array([logged[trial_id][e] for e in (1, 2, 3)])
        if schedule == "constant":
            expected = np.full(3, lr)
        elif schedule == "one_cycle":
            expected = evaluate_schedule(OneCycle(lr, total, pct_start=values["one_cycle_pct_start"],
                                                  div_factor=values["one_cycle_div_factor"]), ends)
        elif schedule == "cosine":
            warmup = round(values["cosine_warmup"] * total)
            decay = total - warmup
            expected = np.where(ends < warmup, lr * ends / max(warmup, 1),
                                0.5 * lr * (1 + np.cos(np.pi * np.minimum(ends - warmup, decay) / decay)))
        elif schedule == "cyclic":
            half = total // (2 * values["cyclic_cycles"])
            expected = evaluate_schedule(CyclicLR(lr / 10, lr, step_size_up=half, mode=values["cyclic_mode"],
                                                  gamma=0.01 ** (1 / total)), ends)
        elif schedule == "step":
            expected = lr * values["step_factor"] ** np.floor(ends / round(values["step_interval"] * total))
        else:  # plateau: the rate only ever falls by its factor
            ratios = np.log(got / lr) / np.log(values["plateau_factor"])
            np.testing.assert_allclose(ratios, np.round(ratios), atol=1e-4)
            assert got[0] == pytest.approx(lr) and np.all(np.diff(got) <= 0)
            continue
        np.testing.assert_allclose(got, expected, rtol=1e-4, err_msg=f"trial {trial_id}: {schedule}")
        if schedule != "constant":  # the schedule demonstrably moved the rate
            assert not np.allclose(got, lr)
    assert seen == set(tuning.SCHEDULES)
    # The defaults first, then the initial points in order.
    order = [tuner.oracle.trials[t].hyperparameters.values for t in tuner.oracle.start_order]
    assert [v["lr_schedule"] for v in order[1:7]] == [p["lr_schedule"] for p in points]


@search_bookkeeping
def test_a_search_that_diverges_completes_and_avoids_the_diverging_rates(tmp_path):
    hypermodel = tuning.LRHyperModel(build_regression, schedules=("constant",))
    tuner = make(tuning.BayesianOptimization, hypermodel, tmp_path, objective="val_loss", max_trials=12,
                 num_initial_points=3, seed=4)
    search_regression(tuner)  # KerasTuner would stop after 3 NaN trials in a row
    frame = tuning.results_frame(tuner)
    assert len(frame) == 12
    diverged = frame[frame.status == "diverged"]
    finite = frame[frame.status == "completed"]
    assert len(diverged) >= 1 and len(finite) >= 2
    # Stopped at once: no epoch after the first non-finite loss.
    curves = tuning.history_frame(tuner)
    for trial_id in diverged.trial_id:
        losses = curves[(curves.trial_id == trial_id) & (curves.metric == "loss")].value.to_numpy()
        assert not np.isfinite(losses[-1]) and np.all(np.isfinite(losses[:-1]))
        assert "diverged" in tuner.oracle.trials[trial_id].message
    # Scored below every finite trial, finite, and never the best.
    assert np.all(np.isfinite(diverged.score)) and diverged.score.min() > finite.score.max()
    best = tuner.oracle.get_best_trials(len(frame))
    assert best[0].trial_id == finite.trial_id.iloc[0] and math.isfinite(best[0].score)
    assert not {t.trial_id for t in best} & set(diverged.trial_id)
    assert tuner.get_best_hyperparameters()[0]["learning_rate"] < 2.0
    # A rate seen diverging is not proposed again more than once.
    rates = [tuner.oracle.trials[t].hyperparameters["learning_rate"] for t in tuner.oracle.start_order]
    for i, trial_id in enumerate(tuner.oracle.start_order):
        if trial_id in set(diverged.trial_id):
            again = [r for r in rates[i + 1:] if abs(math.log(r / rates[i])) < 0.02]
            assert len(again) <= 1, (rates[i], again)


def test_hyperband_rounds_continue_one_schedule_over_max_epochs(tmp_path):
    max_epochs = 3
    tuner = make(tuning.Hyperband, tuning.LRHyperModel(build_digits, schedules=("one_cycle",)), tmp_path,
                 max_epochs=max_epochs, factor=3, seed=2)
    search_digits(tuner, epochs=max_epochs)
    logged = rates_per_epoch(tuner)
    continued = 0
    for trial_id, trial in tuner.oracle.trials.items():
        values = trial.hyperparameters.values
        schedule = OneCycle(values["learning_rate"], max_epochs * STEPS_PER_EPOCH,
                            pct_start=values["one_cycle_pct_start"], div_factor=values["one_cycle_div_factor"])
        epochs = range(values["tuner/initial_epoch"] + 1, values["tuner/epochs"] + 1)
        assert sorted(logged[trial_id]) == list(epochs)
        expected = evaluate_schedule(schedule, np.array(epochs) * STEPS_PER_EPOCH - 1)
        np.testing.assert_allclose([logged[trial_id][e] for e in epochs], expected, rtol=1e-4)
        continued += values["tuner/initial_epoch"] > 0
    assert continued >= 1  # some trial was continued in a later round
    # best_epoch counts as history_frame does: a continued round's epochs go on from its initial_epoch
    # (it was KerasTuner's best step within the round, plus 1).
    frame, history = tuning.results_frame(tuner), tuning.history_frame(tuner)
    objective = history[history.metric == "objective"]
    for row in frame.itertuples():
        curve = objective[objective.trial_id == row.trial_id].sort_values("epoch")
        assert row.best_epoch == int(curve.epoch.iloc[int(np.argmax(curve.value.to_numpy()))]), row.trial_id


ROUNDS_BEGAN = []  # (initial_epoch, rate, iterations) at each fit's start: KerasTuner deep-copies the callbacks


class RoundBegins(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        ROUNDS_BEGAN.append((float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
                             int(keras.ops.convert_to_numpy(optimizer.iterations))))


def test_a_hyperband_round_of_plain_sgd_starts_afresh_at_its_tuned_rate(tmp_path):
    # The checkpoint a continued round's weights came from holds the optimizer's variables, which Keras loads where
    # their count matches (plain SGD: iterations and learning_rate): the round went on at the rate a plateau had
    # cut the last to, with its iterations, while the results listed the tuned rate (found by a review).
    tuner = make(tuning.Hyperband, tuning.LRHyperModel(build_regression, schedules=("constant",)), tmp_path,
                 objective="val_loss", max_epochs=2, factor=2, seed=1)
    x, y = regression()
    ROUNDS_BEGAN.clear()
    tuner.search(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0, callbacks=[
        keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9), RoundBegins()])
    trials = [tuner.oracle.trials[t].hyperparameters.values for t in tuner.oracle.start_order]
    assert len(ROUNDS_BEGAN) == len(trials) and any(values.get("tuner/initial_epoch", 0) > 0 for values in trials)
    for values, (rate, iterations) in zip(trials, ROUNDS_BEGAN):
        assert rate == pytest.approx(values["learning_rate"], rel=1e-6) and iterations == 0, values


@search_bookkeeping
def test_hyperband_marks_the_rounds_that_continue_the_defaults_as_the_defaults(tmp_path):
    # The user's point diverges (SGD above ~2.3 here), so the defaults trial is the one continued.
    tuner = make(tuning.Hyperband, tuning.LRHyperModel(build_regression), tmp_path, objective="val_loss",
                 max_epochs=2, factor=2, initial_points=[{"lr_schedule": "constant", "learning_rate": 8.0}])
    search_regression(tuner)
    oracle = tuner.oracle
    first = oracle.start_order[0]
    continued = [t for t in oracle.start_order if oracle.trials[t].hyperparameters.values.get("tuner/trial_id") == first]
    assert len(continued) == 1
    frame = tuning.results_frame(tuner).set_index("trial_id")
    assert sorted(frame.index[frame.defaults]) == sorted([first, *continued])
    assert frame.loc[continued[0], "learning_rate"] == 1.0 and frame.loc[continued[0], "lr_schedule"] == "constant"
    # The plot's star is the defaults' best round: the continued one, trained for both epochs.
    star = [c for c in tuning.plot_results(tuner).axes[0].collections if c.get_label() == "defaults"]
    assert len(star) == 1 and len(star[0].get_offsets()) == 1  # every round was starred
    assert star[0].get_offsets()[0][1] == frame.loc[frame.defaults, "score"].min()


class Interrupt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt in the second epoch of the third trial it runs in."""

    trials = 0

    def on_train_begin(self, logs=None):
        Interrupt.trials += 1

    def on_epoch_end(self, epoch, logs=None):
        if Interrupt.trials == 3 and epoch == 1:
            raise KeyboardInterrupt


@search_bookkeeping
def test_a_trial_interrupted_before_its_first_epoch_has_no_best_epoch(tmp_path):
    # KerasTuner's best_step is 0 before any epoch is reported: results_frame read it as best epoch 1.
    class InterruptSecondTrial(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if len(tuner.oracle.trials) == 2:
                raise KeyboardInterrupt

    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_regression, schedules=("constant",)), tmp_path,
                 objective="val_loss", max_trials=3)
    x, y = regression()
    with pytest.raises(KeyboardInterrupt):
        tuner.search(x, y, epochs=1, batch_size=8, validation_split=0.25, verbose=0,
                     callbacks=[InterruptSecondTrial()])
    frame = tuning.results_frame(tuner).set_index("status")
    assert frame.loc["completed", "best_epoch"] == 1 and math.isnan(frame.loc["running", "best_epoch"])


@search_bookkeeping
def test_a_resumed_search_neither_loses_nor_repeats_a_trial(tmp_path):
    hypermodel = tuning.LRHyperModel(build_digits)
    tuner = make(tuning.RandomSearch, hypermodel, tmp_path, max_trials=4, seed=3)
    x, y = digits()
    Interrupt.trials = 0
    with pytest.raises(KeyboardInterrupt):
        tuner.search(x, y, epochs=3, batch_size=64, validation_split=0.25, verbose=0, callbacks=[Interrupt()])
    assert len(tuner.oracle.trials) == 3
    before = {t: trial.hyperparameters.values for t, trial in tuner.oracle.trials.items()}
    resumed = tuning.RandomSearch(hypermodel, objective="val_accuracy", max_trials=5, seed=3,
                                  directory=str(tmp_path), project_name="search", overwrite=False)
    search_digits(resumed, epochs=3)
    oracle = resumed.oracle
    assert len(oracle.trials) == 5 and len(oracle.end_order) == 5
    assert all(trial.status == "COMPLETED" for trial in oracle.trials.values())
    assert {t: oracle.trials[t].hyperparameters.values for t in before} == before
    assert list(oracle.keras_lr["initial_trials"].values()) == [0]  # the defaults ran once
    for trial in oracle.trials.values():  # the interrupted trial ran again from the start
        history = trial.metrics.get_history("curve/loss")
        assert [obs.step for obs in history] == [0, 1, 2]
        assert all(len(obs.value) == 1 for obs in history)


@search_bookkeeping
def test_a_resumed_grid_goes_on_through_the_grid(tmp_path):
    # KerasTuner's GridSearch keeps the grid's order in memory only: resumed, the interrupted trial
    # ran again, then the search failed with KeyError; resumed once more, it stopped at 2 of 4 trials.
    hypermodel = tuning.LRHyperModel(build_digits)
    reference = make(tuning.GridSearch, hypermodel, tmp_path / "reference", max_trials=4)
    search_digits(reference)
    expected = [reference.oracle.trials[t].hyperparameters.values for t in reference.oracle.start_order]
    tuner = make(tuning.GridSearch, hypermodel, tmp_path, max_trials=4)
    Interrupt.trials = 0
    with pytest.raises(KeyboardInterrupt):
        search_digits(tuner, callbacks=[Interrupt()])
    resumed = tuning.GridSearch(hypermodel, objective="val_accuracy", max_trials=4,
                                directory=str(tmp_path), project_name="search", overwrite=False)
    search_digits(resumed)
    oracle = resumed.oracle
    assert [oracle.trials[t].hyperparameters.values for t in oracle.start_order] == expected
    assert all(trial.status == "COMPLETED" for trial in oracle.trials.values())


class PruneAfterFirstEpoch:
    def prune(self, curve, others, direction):
        return "every trial" if max(curve) >= 0 else None


@search_bookkeeping
@pytest.mark.parametrize("tuner_class", [tuning.RandomSearch, tuning.BayesianOptimization])
def test_pruning_stops_trials_but_never_the_defaults(tuner_class, tmp_path):
    tuner = make(tuner_class, tuning.LRHyperModel(build_digits), tmp_path, max_trials=3, pruning=PruneAfterFirstEpoch())
    search_digits(tuner, epochs=3)
    frame = tuning.results_frame(tuner).set_index("trial_id")
    defaults = frame[frame.defaults].iloc[0]
    assert defaults.status == "completed" and defaults.epochs == 3
    others = frame[~frame.defaults]
    assert (others.status == "pruned").all() and (others.epochs == 1).all()
    assert others.message.str.startswith("pruned after epoch 1: every trial").all()
    assert [t.trial_id for t in tuner.oracle.get_best_trials(3)][0] == defaults.name


@search_bookkeeping
def test_a_trial_is_not_pruned_at_its_fits_last_epoch(tmp_path):
    # It has trained in full: pruned, it ranked after every completed trial, and stopping it saved nothing.
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path, max_trials=3,
                 pruning=PruneAfterFirstEpoch())
    search_digits(tuner, epochs=1)
    frame = tuning.results_frame(tuner)
    assert len(frame) == 3 and (frame.status == "completed").all()
    # The fit's epochs are its own: a HyperModel whose fit sets them, searched without epochs=, was taken for
    # a fit of one epoch, and nothing was pruned.

    class ThreeEpochs(tuning.LRHyperModel):
        def fit(self, hp, model, *args, **kwargs):
            return super().fit(hp, model, *args, **{**kwargs, "epochs": 3})

    tuner = make(tuning.RandomSearch, ThreeEpochs(build_digits), tmp_path / "own", max_trials=3,
                 pruning=PruneAfterFirstEpoch())
    x, y = digits()
    tuner.search(x, y, batch_size=64, validation_split=0.25, verbose=0)
    frame = tuning.results_frame(tuner)
    assert list(frame.sort_values("trial_id").status) == ["completed", "pruned", "pruned"]


@search_bookkeeping
def test_with_several_executions_a_pruner_sees_the_curve_up_to_the_epoch_reported(tmp_path):
    # The second execution's first epoch was judged on the first execution's last: a trial trained in full was
    # pruned there ("pruned after epoch 1 ... by epoch 4"), and ranked after the completed trials.
    seen = []

    class Recording:
        def prune(self, curve, others, direction):
            seen.append(sorted(curve))
            return None

    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path, max_trials=2,
                 executions_per_trial=2, pruning=Recording())
    search_digits(tuner, epochs=3)
    # One trial besides the defaults, two executions of three epochs; the last epoch of each is not asked about.
    assert seen == [[0], [0, 1], [0], [0, 1]]


@search_bookkeeping
def test_a_trial_pruned_in_one_execution_runs_no_more(tmp_path):
    # Each later execution ran an epoch before the oracle answered "stopped" again, and its score was averaged
    # into the trial's.
    fits = []

    class CountFits(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            fits.append(0)

        def on_epoch_end(self, epoch, logs=None):
            fits[-1] += 1

    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path, max_trials=2,
                 executions_per_trial=3, pruning=PruneAfterFirstEpoch())
    search_digits(tuner, epochs=3, callbacks=[CountFits()])
    assert fits == [3, 3, 3, 1]  # the defaults trial's three executions, then the pruned one's first epoch
    frame = tuning.results_frame(tuner).set_index("trial_id")
    pruned = frame[frame.status == "pruned"].iloc[0]
    curves = tuning.history_frame(tuner)
    first_epoch = curves[(curves.trial_id == pruned.name) & (curves.metric == "objective")].value.iloc[0]
    assert pruned.score == pytest.approx(first_epoch)


@search_bookkeeping
def test_the_median_pruner_in_a_search(tmp_path):
    pruner = tuning.MedianPruner(warmup_epochs=0, min_trials=1)
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits, schedules=("constant",)), tmp_path,
                 max_trials=6, seed=11, pruning=pruner,
                 initial_points=[{"learning_rate": 0.05}])
    search_digits(tuner, epochs=3)
    frame = tuning.results_frame(tuner)
    curves = tuning.history_frame(tuner)
    objective = curves[curves.metric == "objective"]
    finished = [dict(zip(g.epoch - 1, g.value)) for t, g in objective.groupby("trial_id")
                if t in set(frame[frame.status == "completed"].trial_id)]
    pruned = frame[frame.status == "pruned"]
    assert len(pruned) >= 1
    for _, row in pruned.iterrows():
        epoch = int(row.epochs) - 1
        values = objective[objective.trial_id == row.trial_id].value.to_numpy()
        median = np.median([c[epoch] for c in finished if epoch in c])
        assert values.max() < median


@search_bookkeeping
def test_a_hypermodel_used_for_a_second_search_narrows_it_by_its_own_range_test(tmp_path):
    # Its first search's bounds stayed on the hypermodel: the second search's rate was declared within them,
    # and its own test's bounds were printed but clipped to them.
    hypermodel = tuning.LRHyperModel(build_digits, schedules=("constant",), finder=True)
    x, y = digits()
    for scale, where in ((1.0, "first"), (40.0, "second")):
        tuner = make(tuning.RandomSearch, hypermodel, tmp_path / where, max_trials=2, seed=5)
        tuner.search(x * scale, y, epochs=1, batch_size=64, validation_split=0.25, verbose=0)
        bounds = tuning.results_frame(tuner).attrs["finder_bounds"]
        hp = next(h for h in tuner.oracle.hyperparameters.space if h.name == "learning_rate")
        assert (hp.min_value, hp.max_value) == (bounds["min_value"], bounds["max_value"]), where
        assert (bounds["min_value"], bounds["max_value"]) == tuple(hypermodel.bounds)
        if where == "first":
            first = hypermodel.bounds
    assert hypermodel.bounds != first  # the data changed: a test of its own


@search_bookkeeping
def test_a_hypermodel_used_for_a_second_search_by_kerastuners_own_tuner_narrows_it_by_its_own_range_test(tmp_path):
    # KerasTuner's own tuners: the second search was declared within the first search's bounds and ran no test.
    hypermodel = tuning.LRHyperModel(build_digits, schedules=("constant",), finder=True)
    x, y = digits()
    seen = []
    for scale, where in ((1.0, "first"), (40.0, "second"), (40.0, "second")):
        overwrite = not seen or seen[-1][0] != where  # the second "second" reloads its project: no new test
        tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2 + len(seen), seed=5,
                                         directory=str(tmp_path), project_name=where, overwrite=overwrite)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # what KerasTuner's own tuners lack
            tuner.search(x * scale, y, epochs=1, batch_size=64, validation_split=0.25, verbose=0)
        hp = next(h for h in tuner.oracle.hyperparameters.space if h.name == "learning_rate")
        seen.append((where, (hp.min_value, hp.max_value), tuple(hypermodel.bounds), hypermodel.range_test))
    (_, first, first_bounds, first_test), (_, second, second_bounds, second_test), (_, again, _, again_test) = seen
    assert first == first_bounds and second == second_bounds
    assert second != first and second_test is not first_test  # the data changed: a test of its own
    assert again == second and again_test is second_test  # a resumed search keeps its bounds, runs no test


@search_bookkeeping
def test_a_grid_narrowed_by_a_range_test_sweeps_only_within_its_bounds(tmp_path):
    # KerasTuner's grid starts each sweep at the default: Keras's 0.001, which the defaults trial keeps,
    # came back with the next schedule, below the bounds printed.
    hypermodel = tuning.LRHyperModel(lambda hp: build_digits(hp, step=10), schedules=("constant", "one_cycle"),
                                     finder=True)
    tuner = make(tuning.GridSearch, hypermodel, tmp_path, max_trials=5)
    search_digits(tuner, epochs=1)
    frame = tuning.results_frame(tuner)
    low, high = frame.attrs["finder_bounds"]["min_value"], frame.attrs["finder_bounds"]["max_value"]
    outside = frame[~frame.defaults & ((frame.learning_rate < low) | (frame.learning_rate > high))]
    assert len(frame) == 5 and outside.empty and set(frame.lr_schedule) == {"constant", "one_cycle"}


def test_range_test_narrows_the_rate_for_the_trials_after_the_first(tmp_path, capsys):
    hypermodel = tuning.LRHyperModel(build_digits, schedules=("constant", "one_cycle"), finder=True)
    assert hypermodel.range_test is None
    tuner = make(tuning.RandomSearch, hypermodel, tmp_path, max_trials=5, seed=5)
    search_digits(tuner, epochs=1)
    result = hypermodel.range_test
    printed = capsys.readouterr().out
    assert printed.count("LRHyperModel: learning rate searched in") == 1
    frame = tuning.results_frame(tuner)
    bounds = frame.attrs["finder_bounds"]
    assert bounds["source"] == "the range test on trial 0's model"
    low, high = bounds["min_value"], bounds["max_value"]
    assert 1e-5 <= low < high <= 1.0 and high / low < 1e4
    hp = next(h for h in tuner.oracle.hyperparameters.space if h.name == "learning_rate")
    assert (hp.min_value, hp.max_value, hp.default) == (low, high, 0.001)
    rates = [tuner.oracle.trials[t].hyperparameters["learning_rate"] for t in tuner.oracle.start_order]
    assert rates[0] == 0.001 and all(low <= r <= high for r in rates[1:])
    # The trial after the defaults runs the test's own recommendation: one cycle at its peak.
    second = tuner.oracle.trials[tuner.oracle.start_order[1]].hyperparameters.values
    peak = tuner.oracle.keras_lr["recommendation"]["learning_rate"]
    assert second == {"lr_schedule": "one_cycle", "learning_rate": peak, "one_cycle_pct_start": 0.3,
                      "one_cycle_div_factor": 25.0}
    assert low <= peak <= high
    # ... from the result the hypermodel ran and exposes, brought within the rate's bounds.
    assert peak == min(max(result.one_cycle_max_lr, low), high)
    # Retraining the best trial outside the search (a new process: a new hypermodel) runs no range test.
    fresh = tuning.LRHyperModel(build_digits, schedules=("constant", "one_cycle"), finder=True)
    best = tuner.get_best_hyperparameters()[0]
    x, y = digits()
    fresh.fit(best, fresh.build(best), x, y, epochs=1, batch_size=64, verbose=0)
    assert fresh.range_test is None and "searched in" not in capsys.readouterr().out


@search_bookkeeping
@pytest.mark.parametrize("weighting", ["class_weight", "sample_weight"])
def test_the_searchs_weights_go_into_its_range_test(weighting, tmp_path, monkeypatch):
    # The trials train on the weighted loss: the test that sets their bounds measures it too,
    # on the examples they train on: validation_split's held-out end is not among them.
    from keras_lr.tuning import hypermodel as module

    seen = []

    def recording(*args, **kwargs):
        seen.append((args, kwargs))
        return keras_lr.lr_find(*args, **kwargs)

    monkeypatch.setattr(module, "lr_find", recording)
    hypermodel = tuning.LRHyperModel(build_digits, schedules=("constant",), finder=True)
    tuner = make(tuning.RandomSearch, hypermodel, tmp_path, max_trials=1, seed=1)
    x, y = digits()
    weights = {c: 1.0 + c / 10 for c in range(10)} if weighting == "class_weight" else np.linspace(0.5, 1.5, len(x))
    tuner.search(x, y, epochs=1, batch_size=64, validation_split=0.25, verbose=0, **{weighting: weights})
    assert tuning.results_frame(tuner).status.tolist() == ["completed"]
    assert len(seen) == 1
    (_, x_test, y_test), kwargs = seen[0]
    trained = int(len(x) * 0.75)  # Keras keeps the first 75% for training, as floor(n * (1 - split))
    np.testing.assert_array_equal(x_test, x[:trained])
    np.testing.assert_array_equal(y_test, y[:trained])
    assert kwargs["batch_size"] == 64
    if weighting == "class_weight":
        assert kwargs["class_weight"] is weights and kwargs["sample_weight"] is None
    else:
        np.testing.assert_array_equal(kwargs["sample_weight"], weights[:trained])


@search_bookkeeping
def test_the_range_test_uses_all_of_x_when_validation_data_is_given(tmp_path, monkeypatch):
    # Keras ignores validation_split beside validation_data, and trains on all of x: so does the test.
    from keras_lr.tuning import hypermodel as module

    seen = []

    def recording(*args, **kwargs):
        seen.append(args)
        return keras_lr.lr_find(*args, **kwargs)

    monkeypatch.setattr(module, "lr_find", recording)
    hypermodel = tuning.LRHyperModel(build_digits, schedules=("constant",), finder=True)
    tuner = make(tuning.RandomSearch, hypermodel, tmp_path, max_trials=1, seed=1)
    x, y = digits()
    tuner.search(x, y, epochs=1, batch_size=64, validation_split=0.25, validation_data=(x[:100], y[:100]),
                 verbose=0)
    assert len(seen) == 1 and seen[0][1] is x and seen[0][2] is y


@search_bookkeeping
def test_a_range_test_result_sets_the_bounds_from_the_start(tmp_path, capsys):
    x, y = digits()
    model = build_digits(keras_tuner.HyperParameters())
    result = keras_lr.lr_find(model, x, y, batch_size=64, seed=0, verbose=0)
    hypermodel = tuning.LRHyperModel(build_digits, finder=result)
    assert hypermodel.range_test is result
    low, high = tuning.bounds_from_range_test(result)
    assert hypermodel.bounds == (low, high)
    tuner = make(tuning.RandomSearch, hypermodel, tmp_path, max_trials=2, seed=1)
    hp = next(h for h in tuner.oracle.hyperparameters.space if h.name == "learning_rate")
    assert (hp.min_value, hp.max_value) == (max(low, 1e-5), min(high, 1.0)) and hp.default == 0.001
    search_digits(tuner, epochs=1)
    assert tuning.results_frame(tuner).attrs["finder_bounds"] == {
        "name": "learning_rate", "min_value": hp.min_value, "max_value": hp.max_value,
        "source": "the range test result given"}
    # The same hypermodel for a second search, whose build_model declares other bounds: narrowed and said again
    # (the second search printed nothing), from the result's own bounds, not from the first search's.
    capsys.readouterr()
    hypermodel.build_model = lambda hp: build_digits(hp, min_value=1e-4, max_value=0.5)
    again = make(tuning.RandomSearch, hypermodel, tmp_path / "again", max_trials=2, seed=1)
    hp = next(h for h in again.oracle.hyperparameters.space if h.name == "learning_rate")
    assert (hp.min_value, hp.max_value) == (max(low, 1e-4), min(high, 0.5))
    assert f"learning rate searched in [{max(low, 1e-4):.3g}, {min(high, 0.5):.3g}]" in capsys.readouterr().out


@search_bookkeeping
def test_a_range_test_result_is_kept_within_the_rates_build_model_declares(tmp_path, capsys):
    # What is printed and recorded is what the search samples: the result's bounds within
    # learning_rate(hp)'s, and a peak above them is said to be cut, as its trial runs at the max.
    x, y = digits()
    result = keras_lr.lr_find(build_digits(keras_tuner.HyperParameters()), x, y, batch_size=64, seed=0, verbose=0)
    low, high = tuning.bounds_from_range_test(result)
    peak = result.one_cycle_max_lr
    cap = float(f"{peak / 2:.3g}")
    assert low < cap < peak < high
    hypermodel = tuning.LRHyperModel(lambda hp: build_digits(hp, max_value=cap), finder=result)
    tuner = make(tuning.RandomSearch, hypermodel, tmp_path, max_trials=2, seed=1)
    printed = capsys.readouterr().out
    assert f"learning rate searched in [{max(low, 1e-5):.3g}, {cap:.3g}] from the range test result given" in printed
    assert (f"its OneCycle peak {peak:.3g} is above learning_rate(hp)'s max_value={cap:g}: "
            f"the trial of its recommendation runs at {cap:g}") in printed
    search_digits(tuner, epochs=1)
    frame = tuning.results_frame(tuner)
    assert frame.attrs["finder_bounds"]["max_value"] == cap
    second = tuner.oracle.trials[tuner.oracle.start_order[1]].hyperparameters.values
    assert second["lr_schedule"] == "one_cycle" and second["learning_rate"] == cap


@search_bookkeeping
def test_a_range_test_result_outside_the_declared_rates_leaves_them(tmp_path, capsys):
    x, y = digits()
    result = keras_lr.lr_find(build_digits(keras_tuner.HyperParameters()), x, y, batch_size=64, seed=0, verbose=0)
    low, _ = tuning.bounds_from_range_test(result)
    cap = float(f"{low / 10:.3g}")
    hypermodel = tuning.LRHyperModel(lambda hp: build_digits(hp, min_value=cap / 100, max_value=cap,
                                                             default=cap / 10), finder=result)
    tuner = make(tuning.RandomSearch, hypermodel, tmp_path, max_trials=1, seed=1)
    hp = next(h for h in tuner.oracle.hyperparameters.space if h.name == "learning_rate")
    assert (hp.min_value, hp.max_value) == (cap / 100, cap)
    printed = capsys.readouterr().out
    assert (f"LRHyperModel: the range test result given cannot narrow the learning rate's bounds "
            f"(its bounds [{low:.3g},") in printed
    # Its recommendation still runs, at the nearest bound: the line says that too, as where the bounds overlap.
    assert (f"its OneCycle peak {result.one_cycle_max_lr:.3g} is above learning_rate(hp)'s max_value={cap:g}: "
            f"the trial of its recommendation runs at {cap:g}.") in printed


def test_a_search_where_every_trial_diverges_says_so(tmp_path, capsys):
    def build(hp):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False)])
        model.compile(keras.optimizers.SGD(tuning.learning_rate(hp, min_value=6.0, max_value=8.0, default=6.0)), "mse")
        return model

    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build, schedules=("constant",)), tmp_path,
                 objective="val_loss", max_trials=4, seed=0)
    said = r"no trial finished with a finite score.*\(4 diverged: lower the learning rate's bounds \(keras_lr.tuning"
    with pytest.warns(UserWarning, match=said + r".learning_rate\(hp, max_value=...\)\)\)") as caught:
        search_regression(tuner)
    assert not any("failed with an error" in str(w.message) for w in caught)
    frame = tuning.results_frame(tuner)
    assert (frame.status == "diverged").all() and frame.score.nunique() == 1
    curves = tuning.history_frame(tuner)
    seen = curves[(curves.metric == "objective") & np.isfinite(curves.value)].value
    assert np.isfinite(frame.score.iloc[0]) and frame.score.iloc[0] > seen.max()  # worse than anything seen
    assert tuner.get_best_hyperparameters() == []
    assert "Invalid loss" not in capsys.readouterr().out  # stopped silently


@search_bookkeeping
def test_a_search_whose_every_trial_fails_names_the_error_not_the_rate(tmp_path):
    # A model that cannot take the data (a newcomer's Input of 31 features for 30): the search had warned
    # "Lower the learning rate's bounds", and results_frame's message was the last line of Keras's error, one of
    # the arguments it lists ("  \u2022 kwargs=<class 'inspect._empty'>").
    def build(hp):
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(tuning.learning_rate(hp)), "mse")
        return model

    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build), tmp_path, objective="val_loss", max_trials=2)
    with pytest.warns(UserWarning, match=r"no trial finished with a finite score, so get_best_hyperparameters\(\) "
                                         r"returns \[\] \(2 failed with an error, the last: ValueError: .*"
                                         r"incompatible with the layer") as caught:
        search_regression(tuner)
    assert not any("diverged" in str(w.message) for w in caught)
    frame = tuning.results_frame(tuner)
    assert (frame.status == "failed").all()
    for message in frame.message:
        assert message.startswith("ValueError: ") and "expected axis -1 of input shape to have value 5" in message
        assert "Arguments received" not in message and "\x1b" not in message


def test_a_failed_trials_error_is_its_exceptions_text():
    from keras_lr.tuning._kerastuner import error_text

    keras_error = ('Traceback (most recent call last):\n  File "a.py", line 3, in f\n    g()\n    ^^^\n'
                   'ValueError: Exception encountered when calling Sequential.call().\n\n\x1b[1mInput 0 is '
                   'incompatible\x1b[0m\n\nArguments received by Sequential.call():\n  \u2022 training=False\n')
    assert error_text(keras_error) == ("ValueError: Exception encountered when calling Sequential.call(). "
                                       "Input 0 is incompatible")
    chained = ('Traceback (most recent call last):\n  File "a.py", line 1, in <module>\nKeyError: 1\n\nDuring '
               'handling of the above exception, another exception occurred:\n\nTraceback (most recent call '
               'last):\n  File "a.py", line 2, in <module>\n    raise RuntimeError("two")\nRuntimeError: two\n')
    assert error_text(chained) == "RuntimeError: two"
    assert error_text("not a traceback") == "not a traceback" and error_text(None) is None


@pytest.mark.parametrize("given", ["a schedule", "a callback class", "an object"])
@pytest.mark.parametrize("tuner_class", [tuning.RandomSearch, keras_tuner.RandomSearch])
def test_what_is_not_a_callback_stops_the_search_before_any_trial(given, tuner_class, tmp_path):
    # The schedule given where its callback goes failed every trial with the schedule's own error, and the search
    # ended warning to lower the rate's bounds.
    callback = {"a schedule": OneCycle(0.01, 100), "a callback class": keras_lr.OneCycle, "an object": "csv"}[given]
    said = {"a schedule": r"holds OneCycle, a learning-rate schedule, not a callback: to train every trial with it, "
                          r"give it to the optimizer in build_model",
            "a callback class": r"holds the class OneCycle, not a callback: create one, e.g. OneCycle\(...\)",
            "an object": r"holds a str, not a keras.callbacks.Callback"}[given]
    tuner = make(tuner_class, tuning.LRHyperModel(build_digits), tmp_path, max_trials=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KerasTuner's own tuner: LRHyperModel says what it lacks
        with pytest.raises(keras_tuner.errors.FatalValueError, match=r"search\(callbacks=...\) " + said):
            search_digits(tuner, callbacks=[callback])
    # keras_lr's tuners refuse it in search(), before any trial; KerasTuner's own reach LRHyperModel.fit in the first.
    assert len(tuner.oracle.trials) == (0 if tuner_class is tuning.RandomSearch else 1)


def test_a_tuner_without_an_objective_says_to_give_one(tmp_path):
    # KerasTuner's "default_objective" is for a HyperModel.fit that returns a float: the search had said to
    # "compile the metric".
    tuner = tuning.RandomSearch(tuning.LRHyperModel(build_digits), max_trials=2, directory=str(tmp_path),
                                project_name="search", overwrite=True)
    with pytest.raises(keras_tuner.errors.FatalValueError,
                       match=r"made without an objective.*\(logged: accuracy, loss, val_accuracy, val_loss\); pass "
                             r"the tuner one of those, e.g. objective='val_loss'"):
        search_digits(tuner)


@search_bookkeeping
def test_a_search_resumed_with_another_objective_is_refused(tmp_path):
    # KerasTuner takes the new objective and ranks the saved trials' scores (accuracies) against new ones
    # (losses) as one measure: the best trial was ranked the worst.
    search_digits(make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path, max_trials=1))

    def resume(objective, **kwargs):
        return tuning.RandomSearch(tuning.LRHyperModel(build_digits), objective=objective, max_trials=2,
                                   directory=str(tmp_path), project_name="search", **kwargs)

    with pytest.raises(ValueError, match=r"trials were scored by the objective 'val_accuracy' \(max\); KerasTuner "
                                         r"would rank those scores against new trials' 'val_loss' \(min\) as one "
                                         r"measure. Pass the tuner objective='val_accuracy' to resume it, or "
                                         r"overwrite=True"):
        resume("val_loss", overwrite=False)
    resumed = search_digits(resume("val_accuracy", overwrite=False))  # as it began: goes on
    assert len(resumed.oracle.trials) == 2
    assert len(resume("val_loss", overwrite=True).oracle.trials) == 0  # a new search


@search_bookkeeping
def test_a_search_whose_curves_are_all_nan_warns_only_of_that(tmp_path):
    # Not numpy's "All-NaN axis encountered", from KerasTuner's best value of a curve that is all NaN so far,
    # once per trial before keras_lr's own warning (a probe counted six).
    def build(hp):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(tuning.learning_rate(hp, min_value=6.0, max_value=8.0, default=6.0)), "mse")
        return model

    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build, schedules=("constant",)), tmp_path,
                 objective="val_loss", max_trials=3, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search_regression(tuner)
    assert tuning.history_frame(tuner).value.isna().any()  # a curve went to NaN
    said = [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    assert len(said) == 1 and "no trial finished with a finite score" in said[0], said


@search_bookkeeping
def test_bayesian_optimization_runs_every_initial_point_whatever_its_num_initial_points(tmp_path):
    points = [{"learning_rate": 0.05}, {"learning_rate": 0.02, "lr_schedule": "one_cycle"},
              {"learning_rate": 0.01, "lr_schedule": "cosine"}]
    tuner = make(tuning.BayesianOptimization, tuning.LRHyperModel(build_digits),
                 tmp_path, max_trials=5, num_initial_points=1, initial_points=points, seed=3)
    search_digits(tuner, epochs=1)
    order = [tuner.oracle.trials[t].hyperparameters.values for t in tuner.oracle.start_order]
    assert len(order) == 5
    ran = [(v["learning_rate"], v["lr_schedule"]) for v in order[:4]]
    assert ran == [(0.001, "constant"), (0.05, "constant"), (0.02, "one_cycle"), (0.01, "cosine")]


@pytest.mark.parametrize("hypermodel", ["LRHyperModel", "a build function"])
def test_an_objective_that_is_not_logged_stops_the_search_at_once(hypermodel, tmp_path):
    build = tuning.LRHyperModel(build_digits) if hypermodel == "LRHyperModel" else build_digits
    tuner = make(tuning.RandomSearch, build, tmp_path, objective="val_auc", max_trials=3)
    with pytest.raises(keras_tuner.errors.FatalValueError, match="'val_auc' is not in the logs.*val_accuracy"):
        search_digits(tuner, epochs=2)
    assert len(tuner.oracle.trials) == 1


@pytest.mark.parametrize("validation", ["none", "every second epoch"])
def test_an_objective_on_epochs_without_validation_says_what_to_pass(validation, tmp_path):
    # KerasTuner reads every epoch's logs for the score: fit(validation_freq=2) failed each trial
    # with its KeyError; no validation data failed at once with a message that left validation_freq out.
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path, max_trials=3)
    x, y = digits()
    extra = {} if validation == "none" else dict(validation_split=0.25, validation_freq=2)
    with pytest.raises(keras_tuner.errors.FatalValueError,
                       match=r"'val_accuracy' is not in the logs of fit's epoch 1, which ran no validation .*validation_freq"):
        tuner.search(x, y, epochs=2, batch_size=64, verbose=0, **extra)
    assert len(tuner.oracle.trials) == 1
    # A multi-objective search named "multi_objective": its val_ parts tell the same.
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path / "multi", max_trials=3,
                 objective=["val_accuracy", "val_loss"])
    with pytest.raises(keras_tuner.errors.FatalValueError, match="which ran no validation"):
        tuner.search(x, y, epochs=2, batch_size=64, verbose=0, **extra)


@search_bookkeeping
def test_kerastuners_own_tuner_works_and_says_what_it_lacks(tmp_path):
    hypermodel = tuning.LRHyperModel(build_digits, schedules=("one_cycle",))
    tuner = make(keras_tuner.RandomSearch, hypermodel, tmp_path, max_trials=2, seed=1)
    with pytest.warns(UserWarning, match="keras_lr.tuning.RandomSearch takes the same arguments") as record:
        search_digits(tuner, epochs=1)
    assert sum("LRHyperModel" in str(w.message) for w in record) == 1
    frame = tuning.results_frame(tuner)
    assert len(frame) == 2 and (frame.status == "completed").all()


def test_a_schedule_callback_passed_to_search_stops_it(tmp_path):
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path, max_trials=2)
    with pytest.raises(keras_tuner.errors.FatalValueError, match="remove OneCycle"):
        search_digits(tuner, epochs=1, callbacks=[keras_lr.OneCycle(max_lr=0.1)])


@search_bookkeeping
def test_results_frame_has_every_trial_and_empty_inactive_parameters(tmp_path):
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path, max_trials=2, seed=0)
    search_digits(tuner, epochs=1)
    frame = tuning.results_frame(tuner)
    assert len(frame) == 2 and len(tuner.oracle.get_best_trials(-1)) == 1  # KerasTuner's drops one
    assert list(frame.columns[:6]) == ["trial_id", "status", "defaults", "score", "learning_rate", "lr_schedule"]
    for column in ("one_cycle_pct_start", "cyclic_mode", "plateau_patience", "epochs", "best_epoch",
                   "diverged_after_best", "message"):
        assert column in frame
    defaults = frame[frame.defaults].iloc[0]
    assert defaults.learning_rate == 0.001 and defaults.lr_schedule == "constant"
    assert defaults[["one_cycle_pct_start", "cyclic_mode", "step_factor", "plateau_patience"]].isna().all()
    assert str(frame.plateau_patience.dtype) == "Int64"  # whole numbers where active, not 2.0
    assert frame.score.is_monotonic_decreasing  # val_accuracy: best first
    assert frame.attrs["objective"] == "val_accuracy" and frame.attrs["direction"] == "max"
    figure = tuning.plot_results(tuner)
    assert len(figure.axes) == 2 and figure.axes[0].get_xscale() == "log"
    # One epoch a trial: each learning curve is a single point, drawn as a marker (a line alone hid it).
    curves = figure.axes[1].lines
    assert len(curves) == 2 and all(len(line.get_xdata()) == 1 and line.get_marker() not in ("None", "", None)
                                    for line in curves)


@pytest.mark.parametrize("name", TUNERS)
def test_seed_0_is_a_seed(name, tmp_path):
    # KerasTuner reads seed=0 as no seed (`seed or random.randint(1, 10000)`): two searches differed.
    tuner_class, kwargs = TUNERS[name]
    oracles = [make(tuner_class, tuning.LRHyperModel(build_digits), tmp_path / str(run), seed=0, **kwargs).oracle
               for run in range(2)]
    assert [oracle.seed for oracle in oracles] == [0, 0]
    if name == "bayesian":
        assert oracles[0].gpr.random_state == 0
        assert oracles[0]._random_state.uniform() == np.random.RandomState(0).uniform()
    if name == "random":
        proposals = [[oracle.populate_space(str(trial))["values"] for trial in range(6)] for oracle in oracles]
        assert proposals[0] == proposals[1]
        assert len({str(values) for values in proposals[0]}) == 6


def test_seed_given_by_position_is_kept(tmp_path):
    tuner = tuning.RandomSearch(tuning.LRHyperModel(build_digits), "val_accuracy", 4, 0,
                                directory=str(tmp_path), project_name="search")
    assert tuner.oracle.seed == 0
    for seed in (0.0, -1, "0"):
        with pytest.raises(ValueError, match="RandomSearch: seed must be an integer"):
            make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path, seed=seed)


def test_a_resumed_search_keeps_its_saved_seed(tmp_path):
    kwargs = dict(max_trials=3, num_initial_points=2)
    make(tuning.BayesianOptimization, tuning.LRHyperModel(build_digits), tmp_path, seed=0, **kwargs).save()
    resumed = tuning.BayesianOptimization(tuning.LRHyperModel(build_digits), objective="val_accuracy",
                                          directory=str(tmp_path), project_name="search", overwrite=False,
                                          seed=5, **kwargs).oracle
    assert resumed.seed == 0 and resumed.gpr.random_state == 0
    assert resumed._random_state.uniform() == np.random.RandomState(0).uniform()


class TunedEpochs(tuning.LRHyperModel):
    def fit(self, hp, model, *args, **kwargs):
        kwargs["epochs"] = hp.Int("epochs", 1, 2)
        return super().fit(hp, model, *args, **kwargs)


@search_bookkeeping
def test_a_hyperparameter_named_like_a_results_column_keeps_its_own_column(tmp_path):
    # Tuning fit's epochs gave results_frame two 'epochs' columns: frame["epochs"] was a DataFrame.
    tuner = make(tuning.RandomSearch, TunedEpochs(build_digits, schedules=("constant",)), tmp_path, max_trials=3,
                 seed=1)
    search_digits(tuner)
    frame = tuning.results_frame(tuner)
    assert frame.columns.is_unique
    assert (frame["hp/epochs"] == frame["epochs"]).all() and set(frame["epochs"]) <= {1, 2}


@search_bookkeeping
def test_plot_results_scales_the_learning_curves_to_the_trials_that_did_not_diverge(tmp_path):
    # At 2.8 the regression's loss grows for a few epochs before it is infinite: its huge, finite
    # val_loss set the right panel's axis, and every other curve was a flat line at 0.
    keras.utils.set_random_seed(0)
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_regression, schedules=("constant",)), tmp_path,
                 objective="val_loss", max_trials=3, seed=0,
                 initial_points=[{"lr_schedule": "constant", "learning_rate": 2.8}])
    search_regression(tuner)
    frame = tuning.results_frame(tuner)
    curves = tuning.history_frame(tuner)
    curves = curves[curves.metric == "objective"]
    kept = frame.trial_id[(frame.status != "diverged") & ~frame.diverged_after_best]
    wild = frame.trial_id[frame.status == "diverged"]
    assert len(kept) >= 1 and len(wild) == 1
    assert curves[curves.trial_id.isin(wild)].value.max() > 1e3 * curves[curves.trial_id.isin(kept)].value.max()
    low, high = tuning.plot_results(tuner).axes[1].get_ylim()
    values = curves[curves.trial_id.isin(kept)].value
    assert low <= values.min() and values.max() <= high < 10 * values.max()


@search_bookkeeping
def test_a_tuner_subclass_of_ones_own_is_not_told_of_a_keras_lr_class_that_does_not_exist(tmp_path):
    class MyTuner(keras_tuner.RandomSearch):
        pass

    tuner = make(MyTuner, tuning.LRHyperModel(build_digits, schedules=("constant",)), tmp_path, max_trials=1)
    with pytest.warns(UserWarning, match="the tuner MyTuner does not run the defaults trial first.*; "
                                         "keras_lr.tuning's RandomSearch, BayesianOptimization, Hyperband and "
                                         "GridSearch do") as record:
        search_digits(tuner, epochs=1)
    assert not any("keras_lr.tuning.MyTuner" in str(w.message) for w in record)


@search_bookkeeping
def test_plot_results_finds_a_rate_named_by_learning_rate(tmp_path):
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(lambda hp: build_digits(hp, name="adam_lr"),
                                                          schedules=("constant",)), tmp_path, max_trials=1)
    search_digits(tuner, epochs=1)
    assert tuning.plot_results(tuner, save=tmp_path / "results.png").axes[0].get_xlabel() == "adam_lr"
    assert (tmp_path / "results.png").stat().st_size > 0


@search_bookkeeping
def test_a_learning_rate_scheduler_passed_to_search_is_warned_of_once(tmp_path):
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits, schedules=("one_cycle",)), tmp_path,
                 max_trials=2)
    halve = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    with pytest.warns(UserWarning, match="LearningRateScheduler, passed to search, scales every trial's schedule") \
            as record:
        search_digits(tuner, epochs=1, callbacks=[halve])
    assert sum("LearningRateScheduler, passed to search" in str(w.message) for w in record) == 1


class OwnRunTrial(tuning.RandomSearch):
    """The KerasTuner pattern: build, fit through the hypermodel, return the score; no callbacks passed on."""

    def run_trial(self, trial, x, y, **kwargs):
        model = self.hypermodel.build(trial.hyperparameters)
        history = self.hypermodel.fit(trial.hyperparameters, model, x, y, epochs=1, batch_size=64, verbose=0,
                                      validation_split=0.25)
        return {"val_accuracy": history.history["val_accuracy"][-1]}


def test_finder_true_in_a_run_trial_that_passes_no_callbacks_says_no_test_ran(tmp_path):
    tuner = make(OwnRunTrial, tuning.LRHyperModel(build_digits, finder=True), tmp_path, max_trials=2)
    with pytest.warns(UserWarning, match=r"fit ran without KerasTuner's callbacks, .* no range test ran\. In a "
                                         r"run_trial of your own, pass on the callbacks") as record:
        tuner.search(*digits())
    assert sum("fit ran without KerasTuner's callbacks" in str(w.message) for w in record) == 1
    assert tuner.hypermodel.range_test is None


@search_bookkeeping
def test_a_resumed_search_says_what_it_keeps_from_before(tmp_path):
    # KerasTuner resumes with the space it saved: a finder= or schedules= added on the resume did nothing, silently.
    x, y = digits()
    first = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits, schedules=["constant", "one_cycle"]),
                 tmp_path, max_trials=1, seed=3)
    search_digits(first)

    def resume(hypermodel):
        return tuning.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2, seed=3,
                                   directory=str(tmp_path), project_name="search", overwrite=False)

    with pytest.warns(UserWarning, match=r"LRHyperModel\(finder=True\): this search resumes one that began without "
                                         r"a range test, and runs none now.*overwrite=True"):
        search_digits(resume(tuning.LRHyperModel(build_digits, schedules=["constant", "one_cycle"], finder=True)))
    with pytest.warns(UserWarning, match=r"LRHyperModel: this search resumes one saved with the schedules "
                                         r"\['constant', 'one_cycle'\], and searches those, not "
                                         r"\['constant', 'cosine'\].*overwrite=True"):
        resumed = resume(tuning.LRHyperModel(build_digits, schedules=["constant", "cosine"]))
        resumed.oracle.max_trials = 3
        search_digits(resumed)
    # Other bounds for the rate: KerasTuner keeps the saved ones, so trials went on outside the new bounds, silently.
    with pytest.warns(UserWarning, match=r"LRHyperModel: this search resumes one whose 'learning_rate' was declared "
                                         r"with min_value=1e-05, max_value=1, step=None, and searches those, not "
                                         r"min_value=1e-05, max_value=0.01, step=None.*overwrite=True"):
        resumed = resume(tuning.LRHyperModel(functools.partial(build_digits, max_value=0.01),
                                             schedules=["constant", "one_cycle"]))
        resumed.oracle.max_trials = 4
        search_digits(resumed)
    # Resumed as it began: nothing to say.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = resume(tuning.LRHyperModel(build_digits, schedules=["constant", "one_cycle"]))
        resumed.oracle.max_trials = 5
        search_digits(resumed)
    assert not [w for w in caught if "resumes" in str(w.message)]
    # A rate per optimizer, each in its scope with its bounds: the resume's first trial (sgd, with seed=1) builds
    # the other scope than the first search's, and had been warned about bounds it never changed.
    def per_optimizer(hp):
        optimizer = hp.Choice("optimizer", ["adam", "sgd"])
        with hp.conditional_scope("optimizer", [optimizer]):
            return build_digits(hp, max_value=1e-2 if optimizer == "adam" else 1.0)

    scoped = tmp_path / "scoped"
    search_digits(make(tuning.RandomSearch, tuning.LRHyperModel(per_optimizer, schedules=["constant"]), scoped,
                       max_trials=1, seed=1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search_digits(tuning.RandomSearch(tuning.LRHyperModel(per_optimizer, schedules=["constant"]),
                                          objective="val_accuracy", max_trials=3, seed=1, directory=str(scoped),
                                          project_name="search", overwrite=False))
    assert not [str(w.message) for w in caught if "resumes" in str(w.message)]
    # A new search whose hyperparameters= narrow the schedules (KerasTuner's way) resumes nothing.
    narrowed = keras_tuner.HyperParameters()
    narrowed.Choice("lr_schedule", ["constant", "one_cycle"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search_digits(make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path / "new", max_trials=1,
                           hyperparameters=narrowed))
    assert not [w for w in caught if "resumes" in str(w.message)]


def test_a_divergence_guard_passed_to_search_rescues_a_trial_instead_of_ending_it(tmp_path):
    # The search's own stop at a NaN loss ran ahead of the user's callbacks: the trial stopped at its first NaN
    # batch (its third), the guard then rolled back and wrote finite logs, and the trial was ranked "completed"
    # after 1 of its 3 epochs.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) * 1000).astype("float32")

    def build(hp):
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(tuning.learning_rate(hp)), "mse")
        return model

    keras.utils.set_random_seed(0)
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build, schedules=["constant"]), tmp_path,
                 objective="val_loss", max_trials=2, initial_points=[{"learning_rate": 1.0}])
    tuner.search(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                 callbacks=[keras_lr.DivergenceGuard(factor=0.1)])
    frame = tuning.results_frame(tuner).set_index("learning_rate")
    assert frame.loc[1.0, "status"] == "completed" and frame.loc[1.0, "epochs"] == 3
    assert np.isfinite(frame.loc[1.0, "score"])


def test_kerass_reduce_lr_on_plateau_passed_to_search_leaves_the_trained_rates_in_the_logs(tmp_path):
    # It writes logs["learning_rate"] from the optimizer at each epoch's end, the next step's rate: listed after
    # the trial's schedule, its value was the one recorded (a step schedule's cut a whole epoch early).
    # A callback listed before it still sees the rate.
    point = {"learning_rate": 0.01, "lr_schedule": "step", "step_factor": 0.1, "step_interval": 0.5}
    recorded, seen = {}, []
    before = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs.get("learning_rate")))
    for extra in ([], [before, keras.callbacks.ReduceLROnPlateau("val_loss", patience=10)]):
        hypermodel = tuning.LRHyperModel(build_digits, schedules=["step"])
        tuner = make(tuning.RandomSearch, hypermodel, tmp_path / str(len(extra)), max_trials=2, initial_points=[point])
        search_digits(tuner, epochs=2, callbacks=extra)
        trial = tuning.results_frame(tuner).set_index("learning_rate").loc[0.01, "trial_id"]
        recorded[len(extra)] = rates_per_epoch(tuner)[trial]
    np.testing.assert_allclose(list(recorded[0].values()), [0.01, 0.001], rtol=1e-6)
    assert recorded[2] == recorded[0]
    assert None not in seen and len(seen) == 4  # two trials of two epochs


@pytest.mark.parametrize("tuner_class, optimizer", [(tuning.RandomSearch, "adam"), (keras_tuner.RandomSearch, "an SGD")])
def test_kerastuners_optimizer_override_stops_the_search_as_it_would_discard_the_tuned_rate(
        tuner_class, optimizer, tmp_path):
    # KerasTuner compiles each model again with the tuner's optimizer=, after build: every trial trained at its rate
    # (0.001 for "adam", 0.05 for the SGD) while results_frame recorded the rates tuned, silently.
    override = "adam" if optimizer == "adam" else keras.optimizers.SGD(0.05)
    tuner = make(tuner_class, tuning.LRHyperModel(build_digits), tmp_path, max_trials=2, optimizer=override)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # KerasTuner's own tuner is told of what it lacks
        with pytest.raises(keras_tuner.errors.FatalValueError, match="optimizer=.*build_model"):
            search_digits(tuner, epochs=1)


def test_an_lr_schedule_fixed_by_the_tuners_hyperparameters_is_searched_and_a_typo_named(tmp_path):
    # It was never checked: each trial failed with a bare KeyError ('onecycle', or for a schedule not in
    # schedules=, its own hyperparameter 'cosine_warmup'), and the search stopped after three.
    hypermodel = tuning.LRHyperModel(build_digits, schedules=["constant", "one_cycle"])
    typo = keras_tuner.HyperParameters()
    typo.Fixed("lr_schedule", "onecycle")
    with pytest.raises(keras_tuner.errors.FatalValueError, match="hyperparameters=.*'onecycle'.*did you mean 'one_cycle'"):
        make(tuning.RandomSearch, hypermodel, tmp_path / "typo", max_trials=2, hyperparameters=typo)
    fixed = keras_tuner.HyperParameters()
    fixed.Fixed("lr_schedule", "cosine")
    tuner = make(tuning.RandomSearch, hypermodel, tmp_path / "cosine", max_trials=2, hyperparameters=fixed)
    search_digits(tuner, epochs=1)
    frame = tuning.results_frame(tuner)
    assert list(frame.status) == ["completed"] * 2 and set(frame.lr_schedule) == {"cosine"}


@pytest.mark.parametrize("declare, rates", [
    (lambda hp: hp.Fixed("learning_rate", 3e-3), {3e-3}),
    (lambda hp: hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"), None),  # KerasTuner's guide's
])
def test_the_tuners_hyperparameters_may_fix_or_narrow_the_rate_as_kerastuner_lets_them(declare, rates, tmp_path):
    # KerasTuner's "fix a few and tune the rest" and "override the learning_rate": learning_rate(hp) refused the
    # declaration made before build_model ran ("declared with other settings") and the tuner could not be made.
    hp = keras_tuner.HyperParameters()
    declare(hp)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits, schedules=["constant", "one_cycle"]),
                     tmp_path, max_trials=3, hyperparameters=hp)
        search_digits(tuner, epochs=1)
    # The guide's Float starts at its minimum, 1e-4, not Keras's 0.001: warned of, as when build_model declares it
    # (a newcomer found one warned and the other not).
    said = [str(w.message) for w in caught if "LRHyperModel" in str(w.message)]
    assert said == ([] if rates is not None else [
        "LRHyperModel: the rate 'learning_rate', which the tuner's hyperparameters= declare, is a Float whose default "
        "(the first trial's rate) is its min_value, 0.0001, as KerasTuner defaults a Float; declare it as "
        "keras_lr.tuning.learning_rate(hp, name='learning_rate', min_value=0.0001, max_value=0.01) to start from "
        "Keras's 0.001, or pass default= to hp.Float."]), said
    frame = tuning.results_frame(tuner)
    assert len(frame) == 3 and set(frame.status) == {"completed"}
    if rates is not None:
        assert set(frame.learning_rate) == rates
    else:
        assert frame.learning_rate.between(1e-4 * (1 - 1e-6), 1e-2 * (1 + 1e-6)).all()
    # The constant trials (the defaults' among them) trained at the rate recorded.
    logged = rates_per_epoch(tuner)
    constant = frame[frame.lr_schedule == "constant"]
    assert len(constant) >= 1
    for trial, rate in zip(constant.trial_id, constant.learning_rate):
        np.testing.assert_allclose(logged[trial][1], rate, rtol=1e-6)
    # Resumed, the saved space's declaration still wins (declare_hyperparameters is not called on a reload).
    resumed = tuning.RandomSearch(tuning.LRHyperModel(build_digits, schedules=["constant", "one_cycle"]),
                                  objective="val_accuracy", max_trials=4, hyperparameters=hp,
                                  directory=str(tmp_path), project_name="search", overwrite=False)
    search_digits(resumed, epochs=1)
    frame = tuning.results_frame(resumed)
    assert len(frame) == 4 and set(frame.status) == {"completed"}


def test_a_rate_declared_again_with_another_default_in_a_later_build_is_still_an_error(tmp_path):
    # The review's case: every build after the first was taken for a declaration by hyperparameters=, so the sgd
    # branch's default of 0.01 was ignored in silence (it trained at the adam branch's 0.001).
    def build(hp):
        optimizer = hp.Choice("optimizer", ["adam", "sgd"])
        rate = tuning.learning_rate(hp, default=1e-3 if optimizer == "adam" else 1e-2)
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    hypermodel, hp = tuning.LRHyperModel(build), keras_tuner.HyperParameters()
    hypermodel.build(hp)
    hp.values["optimizer"] = "sgd"
    # It stops the search (a FatalValueError): a plain ValueError failed each sgd trial, one at a time.
    with pytest.raises(keras_tuner.errors.FatalValueError, match=r"default=0.001 in an earlier build of this search, "
                                                                 r"and with .*default=0.01 in this one"):
        hypermodel.build(hp)


@search_bookkeeping
def test_a_hypermodel_reused_to_resume_another_search_declares_its_rate_as_that_search_saved_it(tmp_path):
    # The record of the first build's settings outlived the search that made them: resuming a search saved with
    # other bounds stopped at its first build, "declared ... in an earlier build of this search".
    bounds = {"max_value": 1.0}

    def build(hp):
        return build_digits(hp, **bounds)

    search_digits(make(tuning.RandomSearch, tuning.LRHyperModel(build), tmp_path / "b", max_trials=1), epochs=1)
    hypermodel = tuning.LRHyperModel(build)
    bounds["max_value"] = 1e-2
    search_digits(make(tuning.RandomSearch, hypermodel, tmp_path / "a", max_trials=1), epochs=1)
    bounds["max_value"] = 1.0
    resumed = tuning.RandomSearch(hypermodel, objective="val_accuracy", directory=str(tmp_path / "b"),
                                  project_name="search", overwrite=False, max_trials=2)
    search_digits(resumed, epochs=1)
    assert list(tuning.results_frame(resumed).status) == ["completed"] * 2


def test_a_search_of_the_schedule_alone_may_take_the_tuners_optimizer(tmp_path):
    # The rate is not tuned (build_model compiles a fixed one, with a warning): KerasTuner's optimizer= gives it.
    def build(hp):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the search tunes the schedule at the rate compiled
        tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build, schedules=["constant", "cosine"]), tmp_path,
                     max_trials=2, optimizer=keras.optimizers.SGD(0.05))
        search_digits(tuner, epochs=1)
    assert list(tuning.results_frame(tuner).status) == ["completed"] * 2


def test_finder_with_a_rate_declared_by_the_tuners_hyperparameters_says_which_to_leave_out(tmp_path):
    hp = keras_tuner.HyperParameters()
    hp.Fixed("learning_rate", 3e-3)
    hypermodel = tuning.LRHyperModel(build_digits, finder=True)
    # A Fixed or a Choice has no bounds: it read "min_value=None, max_value=None, step=None, default=0.003".
    with pytest.raises(keras_tuner.errors.FatalValueError,
                       match=r"hyperparameters= declares 'learning_rate' already \(hp.Fixed at 0.003\)"):
        make(tuning.RandomSearch, hypermodel, tmp_path, max_trials=2, hyperparameters=hp)
    hp = keras_tuner.HyperParameters()
    hp.Choice("learning_rate", [0.001, 0.01])
    with pytest.raises(keras_tuner.errors.FatalValueError, match=r"already \(hp.Choice of \[0.001, 0.01\], "
                                                                 r"default=0.001\)"):
        make(tuning.RandomSearch, tuning.LRHyperModel(build_digits, finder=True), tmp_path / "choice", max_trials=2,
             hyperparameters=hp)
