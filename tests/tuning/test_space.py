"""The rate hyperparameter, the schedule menu and the range test's bounds, without searching."""

import math
import warnings

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest

import keras_lr
from keras_lr import tuning
from keras_lr.finder import LRFinderResult
from keras_lr.schedules import evaluate_schedule
from keras_lr.tuning import space
from tests.backends import search_bookkeeping
from tests.tuning.helpers import build_digits, make


def test_learning_rate_is_log_sampled_with_kerass_default():
    hp = keras_tuner.HyperParameters()
    assert tuning.learning_rate(hp) == 0.001
    rate = hp.space[0]
    assert (rate.name, rate.sampling, rate.min_value, rate.max_value, rate.default) == (
        "learning_rate", "log", 1e-5, 1.0, 0.001)
    assert tuning.learning_rate(keras_tuner.HyperParameters(), min_value=1e-4, max_value=1e-1, step=10) == 0.001
    sampled = [rate.random_sample(seed) for seed in range(200)]
    assert min(sampled) >= 1e-5 and max(sampled) <= 1.0
    assert 0.3 < np.mean(np.log10(sampled) < -2.5) < 0.7  # log-uniform: half below the middle decade


def test_learning_rate_names_a_missing_hp():
    # None (hp forgotten, or a rate passed first) had failed with "'NoneType' object has no attribute 'space'".
    for hp in (None, 0.01):
        with pytest.raises(ValueError, match=r"learning_rate: hp must be KerasTuner's HyperParameters .*; received hp="):
            tuning.learning_rate(hp)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(min_value=0.0), "min_value must be in \\(1e-07, 10\\]"),
        (dict(min_value=1e-8), "min_value must be in \\(1e-07, 10\\]"),
        (dict(max_value=20.0), "max_value must be in \\(1e-07, 10\\]"),
        (dict(min_value=0.1, max_value=0.01), "min_value must be < max_value"),
        (dict(min_value=0.1, max_value=0.1, default=0.1), "min_value must be < max_value"),
        (dict(default=2.0), "default must lie in \\[min_value, max_value\\]"),
        (dict(min_value=0.01, max_value=0.1), "default must lie .* received default=0.001 \\(Keras's 0.001, taken when default is not "
                                              "given: pass one within the bounds\\)"),
        (dict(min_value=0.01, max_value=1.0), "default must lie in"),
        (dict(default="0.001"), "default must be a finite number"),
        (dict(name=""), "name must be a non-empty string"),
        # KerasTuner's habit, hp.Float("learning_rate", 1e-4, 1e-1): here the second argument is the name.
        (dict(name=1e-4), r"name must be the hyperparameter's name, a string; received name=0.0001, a number: the "
                          r"bounds go by keyword, e.g. learning_rate\(hp, min_value=1e-4, max_value=0.1\)"),
        (dict(name="1e-4"), "name must be the hyperparameter's name, a string; received name='1e-4', which reads as a "
                            "number: the bounds go by keyword"),
        (dict(step=1.0), "step must be > 1"),
        (dict(max_value=float("nan")), "max_value must be a finite number"),
    ],
)
def test_learning_rate_names_each_bad_argument(kwargs, message):
    with pytest.raises(ValueError, match="learning_rate: " + message):
        tuning.learning_rate(keras_tuner.HyperParameters(), **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(build_model=None), "build_model must be a callable"),
        (dict(build_model=keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])),
         "build_model must be a function hp -> compiled model, not a model"),
        (dict(schedules="one_cycle"), "schedules must be a sequence"),
        (dict(schedules=()), "schedules must name at least one"),
        (dict(schedules=("one_cycle", "warm")), "schedules names an unknown schedule 'warm'; the schedules are"),
        (dict(schedules=("onecycle",)), "schedules names an unknown schedule 'onecycle' \\(did you mean 'one_cycle'\\?\\)"),
        (dict(schedules=("cosine", "cosine")), "schedules must not repeat"),
        (dict(finder=0.01), r"finder must be None \(or False\), True or an LRFinderResult"),
        (dict(finder=1), r"finder must be None \(or False\), True or an LRFinderResult"),
    ],
)
def test_lrhypermodel_names_each_bad_argument(kwargs, message):
    kwargs.setdefault("build_model", build_digits)
    with pytest.raises(ValueError, match="LRHyperModel: " + message):
        tuning.LRHyperModel(**kwargs)


def test_finder_false_is_no_range_test():
    # What a user writes to switch it off.
    assert tuning.LRHyperModel(build_digits, finder=False).finder is None


class BatchSizeHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        return build_digits(hp)

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, batch_size=hp.Choice("batch_size", [32, 64]), **kwargs)


def test_a_hypermodel_of_ones_own_is_told_how_to_keep_its_fit():
    with pytest.raises(ValueError, match="received <.*BatchSizeHyperModel.*subclass LRHyperModel, override fit"):
        tuning.LRHyperModel(BatchSizeHyperModel())
    # Its build alone would silently drop its fit (batch_size never tuned).
    with pytest.warns(UserWarning, match="BatchSizeHyperModel.build, whose class has a fit of its own, which the "
                                         "search will not call"):
        tuning.LRHyperModel(BatchSizeHyperModel().build)


def test_build_model_must_return_a_compiled_model():
    hypermodel = tuning.LRHyperModel(lambda hp: keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    with pytest.raises(ValueError, match="build_model must return a compiled keras.Model.*call model.compile"):
        hypermodel.build(keras_tuner.HyperParameters())


def test_a_model_compiled_with_a_schedule_is_refused_when_the_tuner_is_made(tmp_path):
    def build(hp):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        decay = keras.optimizers.schedules.ExponentialDecay(tuning.learning_rate(hp), 100, 0.9)
        model.compile(keras.optimizers.Adam(decay), "mse")
        return model

    with pytest.raises(ValueError, match="compile the model with a float learning rate.*holding ExponentialDecay"):
        make(tuning.RandomSearch, tuning.LRHyperModel(build), tmp_path, max_trials=1)


def test_a_model_compiled_with_a_multi_optimizer_is_refused_when_the_tuner_is_made(tmp_path):
    if not hasattr(keras.optimizers, "MultiOptimizer"):
        pytest.skip("keras.optimizers.MultiOptimizer is new in Keras 3.15")

    def build(hp):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        inner = keras.optimizers.Adam(tuning.learning_rate(hp))
        model.compile(keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(inner, {})), "mse")
        return model

    with pytest.raises(ValueError, match="LRHyperModel: the optimizer is a MultiOptimizer"):
        make(tuning.RandomSearch, tuning.LRHyperModel(build), tmp_path, max_trials=1)


def test_a_build_model_that_does_not_tune_the_rate_is_warned_of_once():
    def fixed(hp):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(0.003), "mse")
        return model

    hypermodel = tuning.LRHyperModel(fixed)
    with pytest.warns(UserWarning, match=r"build_model did not call keras_lr.tuning.learning_rate\(hp\), so the "
                                         r"search tunes the schedule at the rate the model was compiled with \(0.003\)"):
        hypermodel.build(keras_tuner.HyperParameters())
    with warnings.catch_warnings(record=True) as record:  # (only ours: JAX's numpy DeprecationWarning is not)
        warnings.simplefilter("always")
        hypermodel.build(keras_tuner.HyperParameters())  # once
        tuning.LRHyperModel(build_digits).build(keras_tuner.HyperParameters())  # the rate is tuned: silent

        def own(hp):  # the user's own hyperparameter for the rate: tuned, silent
            model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            model.compile(keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-1, sampling="log")), "mse")
            return model

        def own_default(hp):  # ... with Keras's default as its own
            model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            model.compile(keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-1, sampling="log", default=1e-3)), "mse")
            return model

        tuning.LRHyperModel(own_default).build(keras_tuner.HyperParameters())
    assert not [w for w in record if "LRHyperModel" in str(w.message)]


def test_the_users_own_rate_hyperparameter_left_at_its_minimum_is_warned_of_once():
    # KerasTuner's Float defaults to its min_value: the defaults trial would run at 1e-4, not Keras's 0.001.
    def own(hp):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-1, sampling="log")), "mse")
        return model

    hypermodel = tuning.LRHyperModel(own)
    with pytest.warns(UserWarning, match=r"LRHyperModel: the rate 'lr', which build_model declares itself, is a "
                                         r"Float whose default \(the first trial's rate\) is its min_value, 0.0001, as "
                                         r"KerasTuner defaults a Float; declare it as keras_lr.tuning.learning_rate\(hp, "
                                         r"name='lr', min_value=0.0001, max_value=0.1\) to start from Keras's 0.001"):
        hypermodel.build(keras_tuner.HyperParameters())
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        hypermodel.build(keras_tuner.HyperParameters())  # once
    assert not [w for w in record if "LRHyperModel" in str(w.message)]


@pytest.mark.parametrize("values, advice", [
    ([1e-2, 1e-3, 1e-4], r"pass default=0.001 to hp.Choice to start from Keras's 0.001"),
    ([1e-2, 3e-2], r"if that is not meant, pass default= to hp.Choice"),
])
def test_the_users_own_rate_choice_left_at_its_first_value_is_warned_of(values, advice):
    # KerasTuner's tutorial idiom: a Choice defaults to its first value, so the defaults trial ran 0.01.
    def own(hp):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(hp.Choice("learning_rate", values)), "mse")
        return model

    with pytest.warns(UserWarning, match=r"LRHyperModel: the rate 'learning_rate', which build_model declares "
                                         r"itself, is a Choice whose default \(the first trial's rate\) is its first "
                                         r"value, 0.01, as KerasTuner defaults a Choice; " + advice):
        tuning.LRHyperModel(own).build(keras_tuner.HyperParameters())

    # Another default given is meant (the first value given reads as none given: the space keeps it so).
    def with_default(hp):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(hp.Choice("learning_rate", values, default=values[-1])), "mse")
        return model

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        tuning.LRHyperModel(with_default).build(keras_tuner.HyperParameters())
    assert not [w for w in record if "LRHyperModel" in str(w.message)]


@pytest.mark.parametrize("finder", ["run", "result"])
def test_a_finder_without_learning_rate_hp_is_refused_when_the_tuner_is_made(finder, tmp_path):
    # finder= narrows the rate learning_rate(hp) declares: with the user's own hp.Float for the rate
    # (or a fixed rate) there is nothing to narrow, and the search would run with neither test nor bounds.
    def own(hp):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-1, sampling="log")), "mse")
        return model

    def fixed(hp):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(0.003), "mse")
        return model

    x = np.linspace(-1.0, 1.0, 2 * 16 * 300, dtype="float32").reshape(-1, 2)  # the range test's 300 steps: one pass
    result = True if finder == "run" else keras_lr.lr_find(fixed(None), x, x[:, :1], batch_size=16, seed=0, verbose=0)
    with pytest.raises(keras_tuner.errors.FatalValueError,
                       match=r"LRHyperModel\(finder=.*\) narrows the rate made by keras_lr.tuning.learning_rate\(hp\), "
                             r"but build_model did not call it: its optimizer's rate is the hyperparameter 'lr'; "
                             r"declare it as keras_lr.tuning.learning_rate\(hp, name='lr', min_value=0.0001, "
                             r"max_value=0.1\)"):
        make(tuning.RandomSearch, tuning.LRHyperModel(own, finder=result), tmp_path, max_trials=1)
    with pytest.raises(keras_tuner.errors.FatalValueError,
                       match=r"but build_model did not call it: its optimizer's rate is fixed at 0.003"):
        make(tuning.RandomSearch, tuning.LRHyperModel(fixed, finder=result), tmp_path / "fixed", max_trials=1)


def test_each_schedule_declares_its_parameters_only_when_chosen():
    hp = keras_tuner.HyperParameters()
    tuning.LRHyperModel(build_digits).build(hp)
    names = [h.name for h in hp.space]
    assert names[:1] == ["lr_schedule"] and "learning_rate" in names
    assert hp.values == {"lr_schedule": "constant", "learning_rate": 0.001}
    conditional = {h.name: h.conditions[0].values for h in hp.space if h.conditions}
    for schedule in tuning.SCHEDULES:
        own = [name for name, values in conditional.items() if values == [schedule]]
        assert all(name.startswith(schedule) for name in own)
    assert set(conditional) == {
        "one_cycle_pct_start", "one_cycle_div_factor", "cosine_warmup", "cyclic_mode", "cyclic_cycles",
        "step_factor", "step_interval", "plateau_factor", "plateau_patience"}


def test_step_decay_and_cosine_are_sized_to_the_run():
    step = space.SCHEDULES["step"].schedule({"step_factor": 0.5, "step_interval": 0.3}, 0.1, 20, True)
    np.testing.assert_allclose(evaluate_schedule(step, [0, 5, 6, 12, 18, 19]), [0.1, 0.1, 0.05, 0.025, 0.0125, 0.0125])
    cosine = space.SCHEDULES["cosine"].schedule({"cosine_warmup": 0.2}, 0.1, 20, True)
    rates = evaluate_schedule(cosine, [0, 2, 4, 12, 20])  # warmup 4 steps, then 16 of decay
    np.testing.assert_allclose(rates, [0.0, 0.05, 0.1, 0.05, 0.0], atol=1e-7)


def result_with(losses, rates=None):
    rates = np.geomspace(1e-6, 1.0, len(losses)) if rates is None else rates
    from keras_lr.finder.suggestions import smooth

    frame = pd.DataFrame({"learning_rate": rates, "loss": losses, "smoothed_loss": smooth(np.asarray(losses))})
    return LRFinderResult(frame, warn=False)


def test_bounds_reach_from_the_start_of_the_fall_past_its_end():
    rates = np.geomspace(1e-6, 1.0, 120)
    log_rate = np.log10(rates)
    losses = 2.0 - 1.5 / (1 + np.exp(-(log_rate + 3) * 4)) + np.where(log_rate > -1, (log_rate + 1) * 20, 0)
    result = result_with(losses, rates)
    low, high = tuning.bounds_from_range_test(result)
    base, top = result.cyclic_bounds()
    assert low == pytest.approx(base) and high == pytest.approx(3 * max(top, result.one_cycle_max_lr))
    assert high / low >= 10 and 1e-5 < low < 1e-3 < high < 1.0
    # The recommended OneCycle peak is inside, with room above it.
    assert low < result.one_cycle_max_lr <= high / 3


def test_bounds_are_at_least_a_decade_wide_and_none_for_an_unreliable_curve():
    rates = np.geomspace(1e-6, 1.0, 120)
    log_rate = np.log10(rates)
    # Falls over 0.4 decades from 5e-4, rises from 2e-3: a narrow valley.
    losses = 2.0 - 1.5 * np.clip((log_rate + 3.3) / 0.4, 0, 1) + np.where(log_rate > -2.7, (log_rate + 2.7) * 10, 0)
    result = result_with(losses, rates)
    low, high = tuning.bounds_from_range_test(result)
    assert high / low == pytest.approx(10.0)
    base, top = result.cyclic_bounds()
    top = max(top, result.one_cycle_max_lr)
    assert low < base < 3 * top < high and math.sqrt(low * high) == pytest.approx(math.sqrt(base * 3 * top))
    flat = result_with(np.full(60, 2.0))
    assert not flat.reliable and tuning.bounds_from_range_test(flat) is None


def test_bounds_from_range_test_checks_its_arguments():
    result = result_with(np.full(60, 2.0))
    with pytest.raises(ValueError, match="bounds_from_range_test: widen must be >= 1; received widen=0"):
        tuning.bounds_from_range_test(result, widen=0)
    with pytest.raises(ValueError, match="bounds_from_range_test: result must be a range test's result .*DataFrame"):
        tuning.bounds_from_range_test(result.frame)


@pytest.mark.parametrize("function", [tuning.results_frame, tuning.history_frame], ids=lambda f: f.__name__)
def test_the_frames_name_themselves_when_given_no_tuner(function):
    with pytest.raises(ValueError, match=f"{function.__name__}: tuner must be a KerasTuner tuner .*received str"):
        function("my_project")


def test_initial_points_are_checked_against_the_space(tmp_path):
    hypermodel = tuning.LRHyperModel(build_digits)
    cases = [
        ({"learnin_rate": 0.01}, "names 'learnin_rate', which is not in the search space"),
        ({"learning_rate": 5.0}, "learning_rate must be in \\[1e-05, 1\\]"),
        ({"lr_schedule": "warm"}, "lr_schedule must be one of"),
        ({"one_cycle_pct_start": 0.2}, "sets one_cycle_pct_start, which is only used when lr_schedule is "
         "'one_cycle'; add {'lr_schedule': 'one_cycle'} to the point"),
        ({"lr_schedule": "one_cycle", "one_cycle_pct_start": 0.25},
         r"one_cycle_pct_start must be one of its steps \(\[0.1, 0.2, 0.3, 0.4, 0.5\]\)"),  # not 0.30000000000000004
        ({"learning_rate": True}, "learning_rate must be in .*received True"),  # True == 1 failed at build
    ]
    for point, message in cases:
        with pytest.raises(ValueError, match=r"RandomSearch: initial_points\[0\].*" + message):
            make(tuning.RandomSearch, hypermodel, tmp_path, max_trials=2, initial_points=[point])


def test_an_initial_point_of_numpy_scalars_is_saved(tmp_path):
    # A float32 (a DataFrame's row) passed the checks, and the oracle's JSON refused it when the search saved.
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path, max_trials=2,
                 initial_points=[{"learning_rate": np.float32(0.01)}])
    tuner.oracle.save()
    with pytest.raises(ValueError, match=r"initial_points\[0\]: learning_rate must be in .*received True"):
        make(tuning.RandomSearch, tuning.LRHyperModel(build_digits), tmp_path, max_trials=2,
             initial_points=[{"learning_rate": np.bool_(True)}])


@pytest.mark.parametrize("tuner_class", [tuning.RandomSearch, tuning.Hyperband])
def test_a_model_given_as_the_hypermodel_says_to_wrap_it(tuner_class, tmp_path):
    # KerasTuner called the model as a build function: "Only input tensors may be passed as positional arguments".
    model = build_digits(keras_tuner.HyperParameters())
    extra = dict(max_epochs=2) if tuner_class is tuning.Hyperband else dict(max_trials=2)
    with pytest.raises(ValueError, match=rf"{tuner_class.__name__}: hypermodel must be a keras_lr.tuning.LRHyperModel "
                                         r".*not a model; wrap the code that makes it"):
        tuner_class(model, objective="val_loss", directory=str(tmp_path), **extra)


@pytest.mark.parametrize(
    "tuner_class, kwargs, message",
    [
        (tuning.RandomSearch, dict(initial_points={"learning_rate": 0.01}), "initial_points must be a list of dicts"),
        (tuning.RandomSearch, dict(initial_points=[0.01]), r"initial_points\[0\] must be a dict"),
        (tuning.RandomSearch, dict(pruning="sometimes"), "pruning must be None, 'median', 'halving' or a pruner"),
        (tuning.GridSearch, dict(initial_points=[{"learning_rate": 0.01}]), "initial_points are not supported"),
        (tuning.Hyperband, dict(pruning="median"), "pruning is not supported: Hyperband already stops"),
        # KerasTuner reads 0 as no limit: the search never ended.
        (tuning.RandomSearch, dict(max_trials=0), "max_trials must be an integer >= 1; received max_trials=0"),
        (tuning.BayesianOptimization, dict(max_trials=-1), "max_trials must be an integer >= 1"),
        (tuning.GridSearch, dict(max_trials=2.5), "max_trials must be an integer; received max_trials=2.5"),
    ],
)
def test_tuners_name_each_bad_argument(tuner_class, kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=f"{tuner_class.__name__}: {message}"):
        make(tuner_class, tuning.LRHyperModel(build_digits), tmp_path, **kwargs)


def test_the_pruner_names_resolve(tmp_path):
    tuner_kwargs = dict(objective="val_accuracy", max_trials=1, overwrite=True, directory=str(tmp_path))
    assert isinstance(tuning.RandomSearch(build_digits, pruning="median", **tuner_kwargs).oracle.pruner,
                      tuning.MedianPruner)
    assert isinstance(tuning.RandomSearch(build_digits, pruning="halving", **tuner_kwargs).oracle.pruner,
                      tuning.SuccessiveHalvingPruner)


def tiny(rate):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(rate), "mse")
    return model


def test_a_rate_declared_with_learning_rate_but_not_compiled_is_named():
    # The search recorded (and a range test narrowed) a rate that never trained.
    def other(hp):
        tuning.learning_rate(hp)
        return tiny(hp.Float("lr", 1e-4, 1e-2, sampling="log"))

    with pytest.warns(UserWarning, match=r"build_model called keras_lr.tuning.learning_rate\(hp\) \('learning_rate' "
                                         r"= 0.001 here\) but compiled the model with 0.0001"):
        tuning.LRHyperModel(other).build(keras_tuner.HyperParameters())
    with pytest.raises(keras_tuner.errors.FatalValueError, match=r"compiled the model with 0.0001"):
        tuning.LRHyperModel(other, finder=True).build(keras_tuner.HyperParameters())


@pytest.mark.parametrize("first", ["own", "twice"])
def test_a_rate_declared_twice_with_other_settings_is_refused(first):
    # KerasTuner keeps a name's first declaration: the other's bounds and default were ignored in silence.
    def build(hp):
        if first == "own":
            hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        else:
            tuning.learning_rate(hp)
        return tiny(tuning.learning_rate(hp, min_value=1e-3, max_value=1e-1, default=0.01))

    with pytest.raises(ValueError, match=r"learning_rate: 'learning_rate' is already a hyperparameter of this search, "
                                         r"declared with other settings"):
        tuning.LRHyperModel(build).build(keras_tuner.HyperParameters())


@pytest.mark.parametrize("other", [dict(min_value=1e-4, max_value=1e-2), dict(step=10.0)])
def test_a_rate_declared_twice_in_one_build_with_other_bounds_is_refused(other):
    # The same default, other bounds: the trials trained at 0.6 where the second call said at most 0.01.
    def build(hp):
        tuning.learning_rate(hp)  # in a helper, say
        return tiny(tuning.learning_rate(hp, **other))

    hp = keras_tuner.HyperParameters()
    with pytest.raises(ValueError, match=r"learning_rate: 'learning_rate' is already a hyperparameter of this search, "
                                         r"declared with other settings \(min_value=1e-05, max_value=1, step=None, "
                                         r"default=0.001\)"):
        tuning.LRHyperModel(build).build(hp)
    # Declared again as before, in another trial's build, it is the same hyperparameter.
    same = tuning.LRHyperModel(lambda hp: tiny(tuning.learning_rate(hp)))
    assert same.build(hp) is not None and same.build(hp) is not None


def test_a_rate_whose_settings_depend_on_another_hyperparameter_stops_the_search():
    # Without a conditional scope, an SGD's wider bounds were silently the first build's (an Adam's) for every
    # trial; another default failed each SGD trial, one at a time.
    def build(hp):
        optimizer = hp.Choice("optimizer", ["adam", "sgd"])
        return tiny(tuning.learning_rate(hp, max_value=1e-2 if optimizer == "adam" else 1.0))

    hypermodel = tuning.LRHyperModel(build)
    hp = keras_tuner.HyperParameters()
    assert hypermodel.build(hp) is not None
    hp.values["optimizer"] = "sgd"
    with pytest.raises(keras_tuner.errors.FatalValueError,
                       match=r"learning_rate: 'learning_rate' was declared with min_value=1e-05, max_value=0.01, "
                             r"step=None, default=0.001 in an earlier build of this search, and with min_value=1e-05, "
                             r"max_value=1, .* in this one .*hp.conditional_scope"):
        hypermodel.build(hp)
    # A new search with the hypermodel declares its rate anew.
    fresh = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(fresh)
    fresh.Choice("optimizer", ["sgd", "adam"])
    assert hypermodel.build(fresh) is not None


def test_a_rate_is_declared_again_over_a_narrowed_space_and_once_per_scope():
    # build_model(best_hp) after a search whose range test narrowed the saved bounds.
    hp = keras_tuner.HyperParameters()
    tuning.learning_rate(hp)
    hp.space[0].min_value, hp.space[0].max_value = 1.7e-3, 0.17
    assert tuning.learning_rate(hp) == 0.001
    assert tuning.LRHyperModel(lambda hp: tiny(tuning.learning_rate(hp))).build(hp) is not None

    # One rate per optimizer, each in its scope with its bounds: KerasTuner keeps one per name and condition.
    def build(hp):
        optimizer = hp.Choice("optimizer", ["adam", "sgd"])
        with hp.conditional_scope("optimizer", [optimizer]):
            rate = tuning.learning_rate(hp, max_value=1e-2 if optimizer == "adam" else 1.0)
        return tiny(rate)

    hp = keras_tuner.HyperParameters()
    build(hp)
    hp.values["optimizer"] = "sgd"
    assert build(hp) is not None
    assert tuning.LRHyperModel(build).build(hp) is not None


def test_making_a_tuner_builds_the_users_model_once_per_configuration_of_its_own(tmp_path):
    # KerasTuner builds the model once per conditional scope to find the space: with the six schedules,
    # 16 builds of the user's model (8 s of ResNet50), though only LRHyperModel's own values changed.
    calls = []

    def build(hp):
        calls.append(dict(hp.values))
        hp.Choice("width", [8, 16])
        with hp.conditional_scope("width", [16]):
            hp.Float("dropout", 0.0, 0.5)
        return build_digits(hp)

    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build), tmp_path, max_trials=2)
    assert len(calls) <= 4, calls  # its own scope (width=16) is still explored
    names = {hp.name for hp in tuner.oracle.hyperparameters.space}
    plain = make(keras_tuner.RandomSearch, lambda hp: tuning.LRHyperModel(build).build(hp), tmp_path / "plain",
                 max_trials=2)
    assert names == {hp.name for hp in plain.oracle.hyperparameters.space}
    assert {"dropout", "width", "learning_rate", "lr_schedule", "one_cycle_pct_start", "cyclic_cycles",
            "plateau_patience"} <= names


def test_a_finder_with_two_rates_is_refused_when_the_tuner_is_made(tmp_path):
    # A rate per optimizer, each under its own condition: one range test (run with the defaults' optimizer)
    # narrowed the first rate declared and left the other, without a word.
    def two(hp):
        kind = hp.Choice("optimizer", ["adam", "sgd"])
        with hp.conditional_scope("optimizer", ["adam"]):
            if kind == "adam":
                optimizer = keras.optimizers.Adam(tuning.learning_rate(hp, name="adam_lr"))
        with hp.conditional_scope("optimizer", ["sgd"]):
            if kind == "sgd":
                optimizer = keras.optimizers.SGD(tuning.learning_rate(hp, name="sgd_lr"), momentum=0.9)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer, "mse")
        return model

    with pytest.raises(keras_tuner.errors.FatalValueError,
                       match=r"LRHyperModel\(finder=True\) narrows one rate, but build_model declared two with "
                             r"keras_lr.tuning.learning_rate\(hp\): 'adam_lr' and 'sgd_lr'"):
        make(tuning.RandomSearch, tuning.LRHyperModel(two, finder=True), tmp_path, max_trials=1)
    # Without a finder each rate is searched in its own branch, as KerasTuner does.
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(two), tmp_path / "plain", max_trials=1)
    assert {"adam_lr", "sgd_lr"} <= {hp.name for hp in tuner.oracle.hyperparameters.space}


def test_a_trials_momentum_warning_names_the_hypermodel_and_a_remedy_a_search_allows():
    # It named keras_lr's internal FitSized and told the user to pass base_momentum=None, which a search has not.
    from keras_lr.schedules import OneCycle
    from keras_lr.tuning.space import FitSized

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01, beta_1=0.5), "mse")  # a GAN's beta_1, outside the cycle's
    x = np.zeros((16, 2), "float32")
    with pytest.warns(UserWarning, match=r"^LRHyperModel: cycles Adam's beta_1 .*; in a search, filter this warning") as record:
        model.fit(x, x[:, :1], epochs=1, verbose=0, callbacks=[FitSized(lambda steps: OneCycle(0.01, steps))])
    assert not any("base_momentum" in str(w.message) or "FitSized" in str(w.message) for w in record)


@search_bookkeeping
def test_a_schedule_on_data_of_unknown_length_stops_the_search_naming_the_hypermodel(tmp_path):
    # Each schedule trial failed on its own with an error naming keras_lr's internal FitSized, and the search
    # went on to KerasTuner's "consecutive failed trials".
    import tensorflow as tf
    from tests.tuning.helpers import digits

    x, y = digits()
    data = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True).batch(64)  # length unknown
    tuner = make(tuning.RandomSearch, tuning.LRHyperModel(build_digits, schedules=("one_cycle",)), tmp_path,
                 max_trials=3)
    with pytest.raises(keras_tuner.errors.FatalValueError,
                       match=r"^LRHyperModel: cannot infer the schedule's length .*pass steps_per_epoch to search"):
        tuner.search(data, validation_data=data, epochs=1, verbose=0)
    # Retraining a trial outside a search (the probe: "pass steps_per_epoch to search()" where none ran).
    hypermodel, hp = tuning.LRHyperModel(build_digits, schedules=("one_cycle",)), keras_tuner.HyperParameters()
    with pytest.raises(ValueError, match=r"or to hypermodel.fit when retraining a trial"):
        hypermodel.fit(hp, hypermodel.build(hp), data, epochs=1, verbose=0)
