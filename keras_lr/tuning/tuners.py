"""KerasTuner's four search classes, with the defaults first, diverging trials handled and curves kept.

Each takes exactly the arguments of its KerasTuner class, and these:
`initial_points`, `pruning`, `trial_timeout` and `chief_timeout`. What each
adds:

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
- `seed=0` is a seed: two searches with it propose the same trials
  (KerasTuner's own classes take 0 for "no seed" and draw one at random).
- In KerasTuner's chief/worker mode (`KERASTUNER_TUNER_ID`,
  `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`; see docs/distributed.md) all of
  the above holds across workers: the defaults trial and the range test run
  once, on one worker. A worker waits at most `chief_timeout` seconds for
  the chief (to start, and to answer each request) and never clears the
  search's folder (only the chief's `overwrite=True` does). A worker
  restarted with the same `KERASTUNER_TUNER_ID` runs its unfinished trial
  again from the start. With `trial_timeout`, the trial of a worker that
  has sent nothing for that long goes to the next worker that asks.
"""

import inspect
import time

import keras
import keras_tuner
import numpy as np

from keras_lr import _validation as v
from keras_lr import _warnings
from keras_lr.tuning import _kerastuner, local
from keras_lr.tuning.pruning import get_pruner

# Seconds a worker waits for the chief: to start, and to answer each request.
CHIEF_TIMEOUT = 600.0


class _Search(keras_tuner.Tuner):
    """Sits between a KerasTuner search class and `keras_tuner.Tuner` in the MRO.

    KerasTuner's search class builds its oracle and hands it to
    `Tuner.__init__`; this class extends that oracle on the way.
    """

    def __init__(self, oracle, hypermodel=None, **kwargs):
        owner = type(self).__name__
        if isinstance(hypermodel, keras.Model):  # KerasTuner calls it as a build function, and Keras then objects
            raise ValueError(
                f"{owner}: hypermodel must be a keras_lr.tuning.LRHyperModel (or a function hp -> compiled model), "
                f"not a model; wrap the code that makes it: def build_model(hp): ...; return model, then "
                f"{owner}(keras_lr.tuning.LRHyperModel(build_model), ...)"
            )
        _kerastuner.extend(oracle, self._initial_points, self._pruner, self._trial_timeout, self._seed)
        if _kerastuner.is_worker():
            # A worker started (or restarted) while the search runs would delete its trials.
            kwargs["overwrite"] = False
        token = _kerastuner.constructing.set(oracle)  # LRHyperModel.build registers its range test
        try:
            super().__init__(oracle, hypermodel, **kwargs)
        finally:
            _kerastuner.constructing.reset(token)
        given = getattr(self.oracle, "keras_lr", {}).get("given")
        if given is not None and hasattr(self.hypermodel, "declared_before"):
            # A resumed search: what its hyperparameters= declared, as LRHyperModel.declare_hyperparameters saw it.
            self.hypermodel.declared_before = set(given)
        space = _kerastuner.built_oracle(self).hyperparameters
        # Empty on a worker restarted with its id: KerasTuner reloads its tuner and declares nothing. The chief
        # checks the same points.
        for index, point in enumerate(self._initial_points if space.space else []):
            _kerastuner.check_point(owner, space, point, index)
        _kerastuner.bound_client(self, self._chief_timeout)
        self._heartbeat = None
        self._waiting = False
        if _kerastuner.is_chief():
            local.announce_project_dir(self.project_dir)

    def reload(self):
        # A resumed search: its builds declare its rate as saved, whatever another search with this hypermodel
        # declared (KerasTuner calls declare_hyperparameters, which starts that record afresh, for new ones only).
        if hasattr(self.hypermodel, "declared_first"):
            self.hypermodel.declared_first = {}
        super().reload()

    def search(self, *fit_args, **fit_kwargs):
        _kerastuner.check_callbacks(type(self).__name__, fit_kwargs.get("callbacks"))
        if not _kerastuner.is_chief():
            return super().search(*fit_args, **fit_kwargs)
        # KerasTuner's chief: serve the oracle until the search is over, as BaseTuner.search
        # does, but exit as soon as it is (see _kerastuner.serve).
        if "verbose" in fit_kwargs:
            self.oracle.verbose = fit_kwargs["verbose"]
        self.save()
        _kerastuner.serve(self.oracle)
        self.on_search_end()

    def run_trial(self, trial, *args, **kwargs):
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if not any(isinstance(c, _kerastuner.StopOnNonFiniteLoss) for c in callbacks):
            callbacks.append(_kerastuner.StopOnNonFiniteLoss())
        # Also with a plain build function: a misnamed objective stops the search at the first
        # epoch with the names logged, not after three failed trials with a KeyError.
        if not any(isinstance(c, _kerastuner.ObjectiveCheck) for c in callbacks):
            callbacks.append(_kerastuner.ObjectiveCheck(self.oracle.objective))
        callbacks.append(_kerastuner.FitLength(self))  # the fit's epochs: its last is not pruned
        results = super().run_trial(trial, *args, callbacks=callbacks, **kwargs)
        return [result for result in results if result is not None] if isinstance(results, list) else results

    def _build_and_fit_model(self, trial, *args, **kwargs):
        if getattr(self, "_stopped_trial", None) == trial.trial_id:
            # Stopped (pruned) in an earlier execution: each later one ran an epoch before the oracle said so
            # again, and its score was averaged into the trial's.
            return None
        return super()._build_and_fit_model(trial, *args, **kwargs)

    def pre_create_trial(self):
        super().pre_create_trial()
        if self._waiting:  # the chief answered IDLE: KerasTuner would ask again at once
            time.sleep(_kerastuner.POLL)
        self._waiting = True

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._fit_epochs = None  # until its fit begins (a run_trial of your own may not say)
        self._stopped_trial = None  # the trial, once the oracle stopped it (`_kerastuner.report_epoch`)
        self._waiting = False
        self._stop_heartbeat()
        if _kerastuner.local_oracle(self) is None:  # a worker: tell the chief it is alive
            period = _kerastuner.HEARTBEAT
            if self._trial_timeout is not None:
                period = max(0.2, min(period, self._trial_timeout / 4))
            self._heartbeat = _kerastuner.Heartbeat(self.oracle, trial, period)

    def on_batch_end(self, trial, model, batch, logs=None):
        super().on_batch_end(trial, model, batch, logs)
        if self._heartbeat is not None and self._heartbeat.superseded:
            raise _kerastuner.Superseded(
                f"trial {trial.trial_id} was given to another worker (this one was silent for longer than "
                f"trial_timeout); this run of it is dropped"
            )

    def on_epoch_end(self, trial, model, epoch, logs=None):
        super().on_epoch_end(trial, model, epoch, logs=logs)
        _kerastuner.report_epoch(self, trial, model, epoch, logs, getattr(self, "_fit_epochs", None))

    def on_trial_end(self, trial):
        self._stop_heartbeat()
        super().on_trial_end(trial)

    def _stop_heartbeat(self):
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None

    def on_search_end(self):
        self._stop_heartbeat()
        super().on_search_end()
        oracle = _kerastuner.local_oracle(self)
        if oracle is not None and oracle.trials and not oracle.get_best_trials(1):
            diverged = set(oracle.keras_lr["diverged"])
            failed = [trial for trial in oracle.trials.values()
                      if trial.status == _kerastuner.FAILED and trial.trial_id not in diverged]
            why = []
            if diverged:  # the rate's doing
                why.append(f"{len(diverged)} diverged: lower the learning rate's bounds "
                           f"(keras_lr.tuning.learning_rate(hp, max_value=...))")
            if failed:  # not the rate's: a trial that raised (a build_model or a callback at fault)
                error = _kerastuner.error_text(failed[-1].message) or "no message kept"
                error = error if len(error) <= 300 else f"{error[:300]}..."
                why.append(f"{len(failed)} failed with an error, the last: {error}")
            _warnings.warn(
                f"{type(self).__name__}: no trial finished with a finite score, so get_best_hyperparameters() "
                f"returns [] ({'; '.join(why) or 'none finished'}). keras_lr.tuning.results_frame shows each trial."
            )


def _seed(search_class, args, kwargs):
    """The ``seed`` given to KerasTuner's ``search_class`` (by name or by position), or None."""
    bound = inspect.signature(search_class.__init__).bind_partial(None, *args, **kwargs)
    seed = bound.arguments.get("seed")
    if seed is not None:
        v.check_int(search_class.__name__, "seed", seed, low=0)
    return seed


def _check_max_trials(search_class, args, kwargs):
    """Refuses a ``max_trials`` below 1: KerasTuner reads 0 as no limit, so the search never ends."""
    bound = inspect.signature(search_class.__init__).bind_partial(None, *args, **kwargs)
    max_trials = bound.arguments.get("max_trials")
    if max_trials is not None:
        v.check_int(search_class.__name__, "max_trials", max_trials, low=1)


def _timeouts(owner, trial_timeout, chief_timeout):
    if trial_timeout is not None:
        trial_timeout = v.check_number(owner, "trial_timeout", trial_timeout, low=0.0, low_open=True)
    chief_timeout = v.check_number(owner, "chief_timeout", chief_timeout, low=0.0, low_open=True)
    return trial_timeout, chief_timeout


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
    # numpy scalars (a row of a DataFrame) as Python's: a float32 passed the checks and the oracle's JSON refused it.
    points = [{name: value.item() if isinstance(value, np.generic) else value for name, value in point.items()}
              if isinstance(point, dict) else point for point in initial_points]
    return points, get_pruner(owner, pruning)


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
            behind, after any epoch but the fit's last. Never the initial
            points.
        trial_timeout: Float > 0 (seconds) or None. In KerasTuner's
            chief/worker mode: the chief hands a running trial whose worker
            has sent nothing for this long (workers send a heartbeat every
            `min(10, trial_timeout / 4)` seconds, also during long epochs)
            to the next worker that asks, to run from its start; a trial
            whose worker falls silent a second time is marked failed. Workers
            without a trial wait until every trial has ended, to take over.
            None (the default) is KerasTuner's behaviour: the trial of a lost
            worker stays running, and the chief does not exit, until a worker
            with the same `KERASTUNER_TUNER_ID` comes back.
        chief_timeout: Float > 0 (seconds; default 600). How long a worker
            waits for the chief, to start and to answer each request, before
            it stops with an error (KerasTuner waits an hour).
        *args, **kwargs: those of `keras_tuner.RandomSearch`.

    Raises:
        ValueError: for a bad `initial_points` (not a list of dicts, a name
            not in the search space, a value out of its range, or a parameter
            inactive for the other values given), `pruning`, `trial_timeout`
            or `chief_timeout`, a `max_trials` below 1, or a `seed` that is
            not an integer >= 0.
    """

    def __init__(self, *args, initial_points=None, pruning=None, trial_timeout=None, chief_timeout=CHIEF_TIMEOUT,
                 **kwargs):
        owner = type(self).__name__
        self._initial_points, self._pruner = _options(owner, initial_points, pruning)
        self._trial_timeout, self._chief_timeout = _timeouts(owner, trial_timeout, chief_timeout)
        self._seed = _seed(keras_tuner.RandomSearch, args, kwargs)
        _check_max_trials(keras_tuner.RandomSearch, args, kwargs)
        super().__init__(*args, **kwargs)


class BayesianOptimization(keras_tuner.BayesianOptimization, _Search):
    """KerasTuner's `BayesianOptimization`, with the defaults trial first and diverging trials handled.

    Takes `keras_tuner.BayesianOptimization`'s arguments, and
    `initial_points` and `pruning`. Diverging trials are scored below every
    finite one, so the Gaussian process learns to avoid their rates, and a
    proposal that repeats a configuration already run is replaced by a
    random one. What else it adds is in `keras_lr.tuning.tuners`.

    Args:
        initial_points, pruning, trial_timeout, chief_timeout: as in
            `keras_lr.tuning.RandomSearch`.
        *args, **kwargs: those of `keras_tuner.BayesianOptimization`.

    Raises:
        ValueError: as `keras_lr.tuning.RandomSearch`.
    """

    def __init__(self, *args, initial_points=None, pruning=None, trial_timeout=None, chief_timeout=CHIEF_TIMEOUT,
                 **kwargs):
        owner = type(self).__name__
        self._initial_points, self._pruner = _options(owner, initial_points, pruning)
        self._trial_timeout, self._chief_timeout = _timeouts(owner, trial_timeout, chief_timeout)
        self._seed = _seed(keras_tuner.BayesianOptimization, args, kwargs)
        _check_max_trials(keras_tuner.BayesianOptimization, args, kwargs)
        super().__init__(*args, **kwargs)


class GridSearch(keras_tuner.GridSearch, _Search):
    """KerasTuner's `GridSearch` (which runs the defaults first), with diverging trials handled.

    Takes `keras_tuner.GridSearch`'s arguments, and `pruning`, `trial_timeout`
    and `chief_timeout` (as in `keras_lr.tuning.RandomSearch`). Give the rate
    a `step` (`keras_lr.tuning.learning_rate(hp, step=10)`) so the grid has a
    rate per step. What it adds is in `keras_lr.tuning.tuners`.

    Args:
        pruning, trial_timeout, chief_timeout: as in
            `keras_lr.tuning.RandomSearch`.
        initial_points: Must be None: a grid runs every combination in
            order, the defaults first.
        *args, **kwargs: those of `keras_tuner.GridSearch`.

    Raises:
        ValueError: for `initial_points` (a grid runs every combination in
            order), or a bad `pruning`, `trial_timeout`, `chief_timeout`,
            `max_trials` or `seed`, as `keras_lr.tuning.RandomSearch`.
    """

    def __init__(self, *args, initial_points=None, pruning=None, trial_timeout=None, chief_timeout=CHIEF_TIMEOUT,
                 **kwargs):
        owner = type(self).__name__
        self._initial_points, self._pruner = _options(owner, initial_points, pruning)
        self._trial_timeout, self._chief_timeout = _timeouts(owner, trial_timeout, chief_timeout)
        self._seed = _seed(keras_tuner.GridSearch, args, kwargs)
        _check_max_trials(keras_tuner.GridSearch, args, kwargs)
        if self._initial_points:
            raise ValueError(
                f"{owner}: initial_points are not supported: a grid runs every combination in "
                f"order, the defaults first; received initial_points={initial_points!r}"
            )
        super().__init__(*args, **kwargs)


class Hyperband(keras_tuner.Hyperband, _Search):
    """KerasTuner's `Hyperband`, with the defaults trial first and diverging trials handled.

    Takes `keras_tuner.Hyperband`'s arguments, and `initial_points`,
    `trial_timeout` and `chief_timeout` (as in `keras_lr.tuning.RandomSearch`). Under
    Hyperband, `LRHyperModel`'s schedules span `max_epochs`, so a trial
    continued in a later round goes on with its schedule. What else it adds
    is in `keras_lr.tuning.tuners`.

    Args:
        initial_points, trial_timeout, chief_timeout: as in
            `keras_lr.tuning.RandomSearch`.
        pruning: Must be None: Hyperband stops the trials that fall behind
            at each round.
        *args, **kwargs: those of `keras_tuner.Hyperband`.

    Raises:
        ValueError: for any `pruning` (Hyperband stops the trials that fall
            behind on its own), or a bad `initial_points`, `trial_timeout`,
            `chief_timeout` or `seed`, as `keras_lr.tuning.RandomSearch`.
    """

    def __init__(self, *args, initial_points=None, pruning=None, trial_timeout=None, chief_timeout=CHIEF_TIMEOUT,
                 **kwargs):
        owner = type(self).__name__
        self._initial_points, self._pruner = _options(owner, initial_points, pruning)
        self._trial_timeout, self._chief_timeout = _timeouts(owner, trial_timeout, chief_timeout)
        self._seed = _seed(keras_tuner.Hyperband, args, kwargs)
        if self._pruner is not None:
            raise ValueError(
                f"{owner}: pruning is not supported: Hyperband already stops the trials that "
                f"fall behind at each round; received pruning={pruning!r}"
            )
        super().__init__(*args, **kwargs)

    def _build_hypermodel(self, hp):
        # KerasTuner's own, less the optimizer's variables: the checkpoint it loads a continued round's weights from
        # holds them, and Keras loads them where their count matches the new optimizer's (one with no slot, plain
        # SGD: iterations and learning_rate), so a round went on at the last's rate, a plateau's cuts kept. Each
        # round's optimizer starts afresh, as with any other optimizer (Keras skips the variables then).
        if "tuner/trial_id" not in hp.values:
            return super()._build_hypermodel(hp)
        model = super(keras_tuner.Hyperband, self)._build_hypermodel(hp)
        optimizer = getattr(model, "optimizer", None)
        fresh = [(variable, variable.numpy()) for variable in optimizer.variables] if optimizer is not None else []
        _kerastuner.load_round(self, model, hp.values["tuner/trial_id"])
        for variable, value in fresh:
            variable.assign(value)
        return model
