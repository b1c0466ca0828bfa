"""Everything keras_lr changes or reads inside KerasTuner, in one place.

KerasTuner's public extension points are the oracle and tuner classes. What
keras_lr needs beyond them, and where it reaches in:

- which trial comes first: `Oracle._random_values` hands out the initial
  points (the defaults, then the user's) before random values; it is what
  RandomSearch, BayesianOptimization and Hyperband call for a new
  configuration. GridSearch starts with the defaults on its own.
- per-epoch results: `Tuner.on_epoch_end` (called through KerasTuner's
  `TunerCallback`) reports the epoch's logs to the oracle as `curve/<name>`
  metrics with `update_trial(..., step=epoch)`, which is the call a
  distributed worker forwards to the chief. They are kept beside the
  metrics KerasTuner scores (never under the objective's name, so its own
  scoring of the best epoch is unchanged), and the answer can stop the
  trial (pruning).
- scoring: `Oracle.score_trial` gives a trial whose loss became NaN or
  infinite a finite score below every finite trial, and `end_trial`
  re-scores such trials as results come in.
- a retried trial (after a crash, or when a search is resumed) starts with
  no curve: `Oracle._retry_queue` tells which trial `create_trial` resumes.
- the trial and tuner a `HyperModel.fit` runs for: the `TunerCallback` that
  `Tuner.run_trial` adds to the callbacks.

tests/tuning/test_kerastuner.py fails when any of these changes underneath.
"""

import copy
import math
import warnings

import keras
import keras_tuner
import numpy as np
from keras_tuner.src.engine import tuner_utils

from keras_lr._engine.optimizers import inner_optimizer  # TunerCallback has no public name

CURVE = "curve/"
OBJECTIVE_CURVE = CURVE + "objective"
RUNNING, COMPLETED, STOPPED = "RUNNING", "COMPLETED", "STOPPED"
# The score of a diverged trial while no trial has a finite one.
NOTHING_FINITE = 1e30


def search_of(callbacks):
    """(tuner, trial) that a `HyperModel.fit` runs for, from its callbacks; (None, None) outside a search."""
    for callback in callbacks or ():
        if isinstance(callback, tuner_utils.TunerCallback):
            return callback.tuner, callback.trial
    return None, None


def local_oracle(tuner):
    """The tuner's oracle when it runs in this process; None for a distributed worker's client."""
    oracle = tuner.oracle
    return oracle if isinstance(oracle, keras_tuner.Oracle) else None


def find_hp(hyperparameters, name):
    return next((hp for hp in hyperparameters.space if hp.name == name), None)


def curve(trial, name):
    """{epoch: value} of a trial's `curve/<name>` (the mean over executions)."""
    key = CURVE + name
    if not trial.metrics.exists(key):
        return {}
    return {obs.step: float(np.mean(obs.value)) for obs in trial.metrics.get_history(key)}


def defaults_of(hyperparameters, point=None):
    """The active values of a space at its defaults, overridden by ``point``."""
    point = point or {}
    hps = keras_tuner.HyperParameters()
    for hp in hyperparameters.space:
        hps.merge([hp])
        if hps.is_active(hp):
            hps.values[hp.name] = point.get(hp.name, hp.default)
    return hps.values


def _on_grid(hp, value):
    """Whether ``value`` is one of the values of an Int or Float with a step."""
    step = getattr(hp, "step", None)
    if step is None:
        return True
    if hp.sampling == "log":
        position = math.log(value / hp.min_value) / math.log(step)
    else:
        position = (value - hp.min_value) / step
    return abs(position - round(position)) < 1e-6


def check_point(owner, hyperparameters, point, index):
    """Raises a ValueError naming what is wrong with an initial point."""
    where = f"initial_points[{index}]"
    if not isinstance(point, dict):
        raise ValueError(f"{owner}: {where} must be a dict of hyperparameter values; received {point!r}")
    known = {hp.name: hp for hp in hyperparameters.space}
    for name, value in point.items():
        if name not in known:
            raise ValueError(
                f"{owner}: {where} names {name!r}, which is not in the search space "
                f"(it has: {', '.join(sorted(known))})"
            )
        hp = known[name]
        if isinstance(hp, keras_tuner.engine.hyperparameters.Choice) and value not in hp.values:
            raise ValueError(f"{owner}: {where}: {name} must be one of {hp.values}; received {value!r}")
        low, high = getattr(hp, "min_value", None), getattr(hp, "max_value", None)
        if low is not None and not (isinstance(value, (int, float)) and low <= value <= high):
            raise ValueError(f"{owner}: {where}: {name} must be in [{low:g}, {high:g}]; received {value!r}")
        if low is not None and not _on_grid(hp, value):
            raise ValueError(
                f"{owner}: {where}: {name} must be one of its steps ({list(hp.values)}); received {value!r}"
            )
    active = defaults_of(hyperparameters, point)
    for name in point:
        if name not in active:
            condition = known[name].conditions[0]
            raise ValueError(
                f"{owner}: {where} sets {name}, which is only used when {condition.name} is "
                f"{' or '.join(repr(v) for v in condition.values)}; add "
                f"{{{condition.name!r}: {condition.values[0]!r}}} to the point"
            )


class Oracle:
    """What keras_lr's tuners add to KerasTuner's oracles (mixed in front of them).

    With `propose_again_randomly` (BayesianOptimization), a proposal that repeats a
    configuration already tried is replaced by a random one.

    State kept with the oracle's (`oracle.json`), so a resumed search goes on:
    `initial_points` handed out, the trial of each, pruned and diverged trials,
    and the bounds a range test set.
    """

    propose_again_randomly = False

    def _init_keras_lr(self, initial_points, pruner):
        self.initial_points = [{}] + list(initial_points)  # the defaults first
        self.pruner = pruner
        self.keras_lr = {
            "next_initial": 0,
            "initial_trials": {},  # trial_id -> index in initial_points (0: the defaults)
            "pruned": {},  # trial_id -> why
            "diverged": {},  # trial_id -> why
            "finder_bounds": None,
            "recommendation": None,  # the range test's point, queued after the user's
        }
        self._handed = None

    # Which trial comes first.

    def _random_values(self):
        while self.keras_lr["next_initial"] < len(self.initial_points):
            index = self.keras_lr["next_initial"]
            self.keras_lr["next_initial"] += 1
            values = defaults_of(self.hyperparameters, self.initial_points[index])
            if not self._duplicate(values):
                self._handed = index
                return values
        return super()._random_values()

    def populate_space(self, trial_id):
        self._handed = None
        response = super().populate_space(trial_id)
        if self.propose_again_randomly and response.get("status") == RUNNING and self._duplicate(response["values"]):
            # BayesianOptimization can propose a configuration it already ran (often a bound
            # of the space): a repeat tells it nothing new, a random one does.
            values = super()._random_values()
            response = {"status": RUNNING, "values": values} if values is not None else {"status": STOPPED}
        if response.get("status") == RUNNING:
            index = self._handed
            if index is None and not self.start_order and self._is_defaults(response.get("values") or {}):
                index = 0  # GridSearch's first trial
            if index is not None:
                self.keras_lr["initial_trials"][trial_id] = index
        self._handed = None
        return response

    def _is_defaults(self, values):
        values = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        return values == defaults_of(self.hyperparameters)

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if tuner_id not in self.ongoing_trials and self._retry_queue:
            # A trial run again (after a crash or an interrupted search) starts with no curve.
            self._forget_run(self.trials[self._retry_queue[-1]])
        return super().create_trial(tuner_id)

    def _forget_run(self, trial):
        for name in [name for name in trial.metrics.metrics if name.startswith(CURVE)]:
            del trial.metrics.metrics[name]
        self.keras_lr["pruned"].pop(trial.trial_id, None)
        self.keras_lr["diverged"].pop(trial.trial_id, None)

    # Per-epoch results.

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        if not metrics or not all(name.startswith(CURVE) for name in metrics):
            return super().update_trial(trial_id, metrics, step)
        trial = self.trials[trial_id]
        for name, value in metrics.items():
            if not trial.metrics.exists(name):
                direction = self.objective.direction if name == OBJECTIVE_CURVE else "min"
                trial.metrics.register(name, direction=direction)
            trial.metrics.update(name, value, step=step)
        stop = self._prune(trial, step)
        self._save_trial(trial)
        if not stop:
            return trial
        answer = copy.copy(trial)
        answer.status = STOPPED
        return answer

    def _prune(self, trial, epoch):
        """Whether the trial should stop now (and why it is recorded)."""
        pruned = self.keras_lr["pruned"]
        if trial.trial_id in pruned:
            return True
        if self.pruner is None or trial.trial_id in self.keras_lr["initial_trials"]:
            return False
        others = [
            curve(other, "objective")
            for other in self.trials.values()
            if other.trial_id != trial.trial_id and other.status == COMPLETED and other.trial_id not in self.keras_lr["diverged"]
        ]
        reason = self.pruner.prune(curve(trial, "objective"), others, self.objective.direction)
        if reason is None:
            return False
        pruned[trial.trial_id] = f"pruned after epoch {epoch + 1}: {reason}"
        return True

    # Scoring.

    def _divergence(self, trial):
        """Why the trial diverged (its loss became NaN or infinite), or None."""
        losses = curve(trial, "loss")
        for epoch in sorted(losses):
            if not math.isfinite(losses[epoch]):
                return f"the loss was {losses[epoch]} in epoch {epoch + 1}"
        if not losses and trial.score is not None and not math.isfinite(trial.score):
            return f"its score was {trial.score}"
        return None

    def _penalty(self):
        """A finite score clearly worse than every finite trial's.

        The worst finite score, made worse by the larger of the finite scores'
        spread and the worst's own size: a step a Gaussian process sees, where a
        score just below the worst would read as one more mediocre trial.
        """
        scores = [
            t.score
            for t in self.trials.values()
            if t.status == COMPLETED and t.trial_id not in self.keras_lr["diverged"]
            and t.score is not None and math.isfinite(t.score)
        ]
        if not scores:  # only diverged trials yet: what they showed before diverging
            scores = [
                value
                for trial_id in self.keras_lr["diverged"]
                for value in curve(self.trials[trial_id], "objective").values()
                if math.isfinite(value)
            ]
        minimise = self.objective.direction == "min"
        if not scores:  # nothing finite at all yet; re-scored once something is
            return NOTHING_FINITE if minimise else -NOTHING_FINITE
        best, worst = (min(scores), max(scores)) if minimise else (max(scores), min(scores))
        margin = max(abs(worst - best), abs(worst), 1e-3)
        return worst + margin if minimise else worst - margin

    def score_trial(self, trial):
        with warnings.catch_warnings():  # KerasTuner's nanmin of a curve that is all NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            super().score_trial(trial)
        reason = self._divergence(trial)
        if reason is not None:
            self.keras_lr["diverged"][trial.trial_id] = reason
            trial.score = self._penalty()
            trial.message = f"diverged: {reason}; scored below every finite trial"

    @keras_tuner.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        reason = self.keras_lr["pruned"].get(trial.trial_id)
        if reason is not None and self.trials[trial.trial_id].status == COMPLETED:
            self.trials[trial.trial_id].message = reason
            self._save_trial(self.trials[trial.trial_id])
        # A new finite result can move the worst one: keep every diverged trial below it.
        penalty = self._penalty()
        for trial_id in self.keras_lr["diverged"]:
            diverged = self.trials[trial_id]
            if diverged.status == COMPLETED and diverged.score != penalty:
                diverged.score = penalty
                self._save_trial(diverged)
        self.save()

    def get_best_trials(self, num_trials=1):
        """The best trials; never a diverged, pruned or failed one (pruned ones come last)."""
        excluded = set(self.keras_lr["diverged"]) | set(self.keras_lr["pruned"])
        finished = [t for t in self.trials.values() if t.status == COMPLETED and t.score is not None]
        reverse = self.objective.direction == "max"
        ranked = sorted((t for t in finished if t.trial_id not in excluded), key=lambda t: t.score, reverse=reverse)
        pruned = [t for t in finished if t.trial_id in self.keras_lr["pruned"] and t.trial_id not in self.keras_lr["diverged"]]
        ranked += sorted(pruned, key=lambda t: t.score, reverse=reverse)
        return ranked[:num_trials]

    # Saved with the oracle.

    def get_state(self):
        state = super().get_state()
        state["keras_lr"] = copy.deepcopy(self.keras_lr)
        return state

    def set_state(self, state):
        super().set_state(state)
        self.keras_lr.update(copy.deepcopy(state.get("keras_lr", {})))
        recommendation = self.keras_lr.get("recommendation")
        if recommendation is not None and recommendation not in self.initial_points:
            self.initial_points.append(recommendation)


_EXTENDED = {}
for _base in (
    keras_tuner.oracles.RandomSearchOracle,
    keras_tuner.oracles.BayesianOptimizationOracle,
    keras_tuner.oracles.HyperbandOracle,
    keras_tuner.oracles.GridSearchOracle,
):
    _EXTENDED[_base] = type(
        _base.__name__,
        (Oracle, _base),
        {"__module__": __name__, "propose_again_randomly": _base is keras_tuner.oracles.BayesianOptimizationOracle},
    )


def extend(oracle, initial_points, pruner):
    """Turns the oracle KerasTuner's search class built into keras_lr's, in place.

    In place, not a copy: KerasTuner's display and locks hold this object.
    """
    oracle.__class__ = _EXTENDED[type(oracle)]
    oracle._init_keras_lr(initial_points, pruner)
    return oracle


def narrow(oracle, name, low, high, source):
    """Narrows the rate ``name`` in the oracle's space for the trials to come (within its bounds).

    Records the bounds with keras_lr's oracles. Returns the bounds set.
    """
    hp = find_hp(oracle.hyperparameters, name)
    low, high = max(hp.min_value, float(low)), min(hp.max_value, float(high))
    if not low < high:
        return hp.min_value, hp.max_value
    hp.min_value, hp.max_value = low, high
    record_bounds(oracle, name, low, high, source)
    oracle.save()
    return low, high


def record_bounds(oracle, name, low, high, source):
    """Records, once, the bounds a range test set (with keras_lr's oracles)."""
    if isinstance(oracle, Oracle) and oracle.keras_lr["finder_bounds"] is None and name is not None:
        oracle.keras_lr["finder_bounds"] = {"name": name, "min_value": low, "max_value": high, "source": source}
        oracle.save()


def add_recommendation(oracle, point):
    """Queues a range test's recommendation as the next initial point, once per search.

    The rate is brought within the hyperparameter's bounds (and onto its steps).
    """
    if not isinstance(oracle, Oracle) or oracle.keras_lr.get("recommendation") is not None:
        return
    point = dict(point)
    for name, value in point.items():
        hp = find_hp(oracle.hyperparameters, name)
        low = getattr(hp, "min_value", None)
        if low is None:
            continue
        value = min(max(float(value), hp.min_value), hp.max_value)
        if getattr(hp, "step", None) is not None and hp.sampling == "log":
            value = float(hp.min_value * hp.step ** round(math.log(value / hp.min_value) / math.log(hp.step)))
        point[name] = value
    oracle.keras_lr["recommendation"] = point
    oracle.initial_points.append(point)
    oracle.save()


def recorded_bounds(oracle):
    """The bounds a range test set in an earlier run of this search, or None."""
    record = oracle.keras_lr.get("finder_bounds") if isinstance(oracle, Oracle) else None
    return None if record is None else (record["min_value"], record["max_value"])


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite, silently.

    Keras's `TerminateOnNaN` does the same but prints a line each time, also
    in a search run with `verbose=0`; the trial's status says it diverged.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True


class ObjectiveCheck(keras.callbacks.Callback):
    """Stops the search at the first epoch end when the objective is not logged."""

    def __init__(self, objective):
        super().__init__()
        self.objective = objective

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not self.objective.has_value(logs):
            raise keras_tuner.errors.FatalValueError(
                f"The search's objective {self.objective.name!r} is not in the logs of fit "
                f"(logged: {', '.join(sorted(logs)) or 'nothing'}); pass validation data to search() "
                f"for a val_ metric, compile the metric, or choose a logged objective."
            )


def report_epoch(tuner, trial, model, epoch, logs):
    """Sends one epoch's logs to the oracle as curves; stops the model when it answers STOPPED."""
    logs = dict(logs or {})
    objective = tuner.oracle.objective
    if not objective.has_value(logs):
        return
    metrics = {CURVE + name: float(value) for name, value in logs.items() if _is_number(value)}
    metrics[OBJECTIVE_CURVE] = float(objective.get_value(logs))
    if CURVE + "learning_rate" not in metrics:
        rate = _current_rate(model)
        if rate is not None:
            metrics[CURVE + "learning_rate"] = rate
    answer = tuner.oracle.update_trial(trial.trial_id, metrics, step=epoch)
    if getattr(answer, "status", None) == STOPPED:
        model.stop_training = True


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return np.ndim(value) == 0


def _current_rate(model):
    optimizer = inner_optimizer(getattr(model, "optimizer", None))
    try:
        return float(optimizer.learning_rate)
    except (TypeError, ValueError, AttributeError):
        return None
