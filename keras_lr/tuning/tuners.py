"""KerasTuner's four search classes, with the defaults first, diverging trials handled and curves kept.

Each takes exactly the arguments of its KerasTuner class, and two more:
`initial_points` and `pruning`. What each adds:

- The first trial runs the search space's defaults (with
  `keras_lr.tuning.learning_rate`, Keras's 0.001, and the constant schedule
  of `LRHyperModel`), then `initial_points` in order, then the search's own
  choices; `results_frame` marks the defaults trial, so every search shows
  what it gained over Keras's default.
- A trial whose training loss becomes NaN or infinite stops at once, is
  marked diverged, and gets a finite score
  worse than every finite trial: BayesianOptimization learns to avoid the
  region (KerasTuner drops failed trials from its model and proposes the
  same rate again), it never counts towards `max_consecutive_failed_trials`,
  and it is never the best (`get_best_trials`, `get_best_hyperparameters`).
- Every epoch's logs are kept (`history_frame`); `pruning` stops trials
  that fall behind.
"""


import keras_tuner

from keras_lr import _warnings
from keras_lr.tuning import _kerastuner
from keras_lr.tuning.pruning import get_pruner


class _Search(keras_tuner.Tuner):
    """Sits between a KerasTuner search class and `keras_tuner.Tuner` in the MRO.

    KerasTuner's search class builds its oracle and hands it to
    `Tuner.__init__`; this class extends that oracle on the way.
    """

    def __init__(self, oracle, hypermodel=None, **kwargs):
        owner = type(self).__name__
        _kerastuner.extend(oracle, self._initial_points, self._pruner)
        super().__init__(oracle, hypermodel, **kwargs)
        for index, point in enumerate(self._initial_points):
            _kerastuner.check_point(owner, self.oracle.hyperparameters, point, index)

    def run_trial(self, trial, *args, **kwargs):
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if not any(isinstance(c, _kerastuner.StopOnNonFiniteLoss) for c in callbacks):
            callbacks.append(_kerastuner.StopOnNonFiniteLoss())
        return super().run_trial(trial, *args, callbacks=callbacks, **kwargs)

    def on_epoch_end(self, trial, model, epoch, logs=None):
        super().on_epoch_end(trial, model, epoch, logs=logs)
        _kerastuner.report_epoch(self, trial, model, epoch, logs)

    def on_search_end(self):
        super().on_search_end()
        oracle = _kerastuner.local_oracle(self)
        if oracle is not None and oracle.trials and not oracle.get_best_trials(1):
            _warnings.warn(
                f"{type(self).__name__}: no trial finished with a finite score (every one diverged or "
                f"failed; see keras_lr.tuning.results_frame), so get_best_hyperparameters() returns []. "
                f"Lower the learning rate's bounds (keras_lr.tuning.learning_rate(hp, max_value=...))."
            )


def _options(owner, initial_points, pruning):
    if initial_points is None:
        initial_points = []
    if isinstance(initial_points, dict) or not isinstance(initial_points, (list, tuple)):
        raise ValueError(
            f"{owner}: initial_points must be a list of dicts of hyperparameter values; "
            f"received initial_points={initial_points!r}"
        )
    for index, point in enumerate(initial_points):
        if not isinstance(point, dict):
            raise ValueError(f"{owner}: initial_points[{index}] must be a dict of hyperparameter values; received {point!r}")
    return [dict(point) for point in initial_points], get_pruner(owner, pruning)


class RandomSearch(keras_tuner.RandomSearch, _Search):
    """KerasTuner's `RandomSearch`, with the defaults trial first and diverging trials handled.

    Takes `keras_tuner.RandomSearch`'s arguments, and `initial_points` and
    `pruning`. What it adds is in `keras_lr.tuning.tuners`.

    Args:
        initial_points: List of dicts of hyperparameter values, run in order
            after the defaults trial; names left out take their defaults.
            E.g. `[{"learning_rate": 3e-3, "lr_schedule": "one_cycle"}]`.
        pruning: None, `"median"`, `"halving"`, or a pruner such as
            `keras_lr.tuning.MedianPruner(...)`: stops a trial that falls
            behind, after any epoch. Never the initial points.
        *args, **kwargs: those of `keras_tuner.RandomSearch`.

    Raises:
        ValueError: for a bad `initial_points` (not a list of dicts, a name
            not in the search space, a value out of its range, or a parameter
            inactive for the other values given) or `pruning`.
    """

    def __init__(self, *args, initial_points=None, pruning=None, **kwargs):
        self._initial_points, self._pruner = _options(type(self).__name__, initial_points, pruning)
        super().__init__(*args, **kwargs)


class BayesianOptimization(keras_tuner.BayesianOptimization, _Search):
    """KerasTuner's `BayesianOptimization`, with the defaults trial first and diverging trials handled.

    Takes `keras_tuner.BayesianOptimization`'s arguments, and
    `initial_points` and `pruning`. Diverging trials are scored below every
    finite one, so the Gaussian process learns to avoid their rates, and a
    proposal that repeats a configuration already run is replaced by a
    random one. What else it adds is in `keras_lr.tuning.tuners`.

    Args:
        initial_points, pruning: as in `keras_lr.tuning.RandomSearch`.
        *args, **kwargs: those of `keras_tuner.BayesianOptimization`.

    Raises:
        ValueError: as `keras_lr.tuning.RandomSearch`.
    """

    def __init__(self, *args, initial_points=None, pruning=None, **kwargs):
        self._initial_points, self._pruner = _options(type(self).__name__, initial_points, pruning)
        super().__init__(*args, **kwargs)


class GridSearch(keras_tuner.GridSearch, _Search):
    """KerasTuner's `GridSearch` (which runs the defaults first), with diverging trials handled.

    Takes `keras_tuner.GridSearch`'s arguments, and `pruning`. Give the rate
    a `step` (`keras_lr.tuning.learning_rate(hp, step=10)`) so the grid has a
    rate per step. What it adds is in `keras_lr.tuning.tuners`.

    Raises:
        ValueError: for `initial_points` (a grid runs every combination in
            order), or a bad `pruning`.
    """

    def __init__(self, *args, initial_points=None, pruning=None, **kwargs):
        owner = type(self).__name__
        self._initial_points, self._pruner = _options(owner, initial_points, pruning)
        if self._initial_points:
            raise ValueError(
                f"{owner}: initial_points are not supported: a grid runs every combination in "
                f"order, the defaults first; received initial_points={initial_points!r}"
            )
        super().__init__(*args, **kwargs)


class Hyperband(keras_tuner.Hyperband, _Search):
    """KerasTuner's `Hyperband`, with the defaults trial first and diverging trials handled.

    Takes `keras_tuner.Hyperband`'s arguments, and `initial_points`. Under
    Hyperband, `LRHyperModel`'s schedules span `max_epochs`, so a trial
    continued in a later round goes on with its schedule. What else it adds
    is in `keras_lr.tuning.tuners`.

    Raises:
        ValueError: for a bad `initial_points`, or any `pruning` (Hyperband
            stops the trials that fall behind on its own).
    """

    def __init__(self, *args, initial_points=None, pruning=None, **kwargs):
        owner = type(self).__name__
        self._initial_points, self._pruner = _options(owner, initial_points, pruning)
        if self._pruner is not None:
            raise ValueError(
                f"{owner}: pruning is not supported: Hyperband already stops the trials that "
                f"fall behind at each round; received pruning={pruning!r}"
            )
        super().__init__(*args, **kwargs)
