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

In KerasTuner's chief/worker mode (`KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`) the oracle runs on the
chief, and a worker's tuner holds an `OracleClient` that forwards
`create_trial`, `update_trial`, `end_trial`, `get_trial`, `get_space`,
`update_space` and `get_best_trials` over gRPC: a trial travels as its id,
hyperparameters, status, score and metrics (not its message), and
`update_trial` carries a dict of floats. What keras_lr adds rides on these:

- a worker that asks again while the chief holds a trial for it
  (`Oracle.ongoing_trials[tuner_id]`) was restarted with the same
  `KERASTUNER_TUNER_ID`, and KerasTuner hands it the same trial: it starts
  with no curve;
- each time a trial is handed to a worker it carries, among its metrics, a
  run number (`keras_lr/run`), which that worker sends back with its reports;
  a report or `end_trial` with an older number comes from a worker whose
  trial was given to another one, and is not recorded;
- workers send a heartbeat (`keras_lr/alive`) every few seconds; with
  `trial_timeout`, a trial whose worker fell silent goes back to
  `Oracle._retry_queue` for the next worker, its tuner is dropped from
  `Oracle.tuner_ids` (KerasTuner's chief exits when `ongoing_trials` and
  `tuner_ids` are empty), and a worker that runs out of trials is answered
  IDLE (wait and ask again) instead of STOPPED while other trials run;
- the range test of `LRHyperModel(finder=True)` is assigned to the first
  trial (`keras_lr/range_test` among its metrics); its worker reports the
  result through `update_trial` (`keras_lr/range_test/<field>`), and the
  chief answers IDLE to the other workers meanwhile;
- `BaseTuner.search` asks again at once on IDLE; keras_lr's tuners wait a
  little first (`Tuner.pre_create_trial`);
- a worker's requests wait for the chief at most `chief_timeout` seconds
  (KerasTuner's `oracle_client.TIMEOUT` is an hour), through a wrapper of
  `OracleClient.stub`.

tests/tuning/test_kerastuner.py fails when any of these changes underneath.
"""

import contextlib
import contextvars
import copy
import functools
import math
import os
import re
import threading
import time
import warnings
import weakref

import keras
import keras_tuner
import numpy as np
from keras_tuner.src import backend as kt_backend
from keras_tuner.src import utils as kt_utils
from keras_tuner.src.distribute import utils as dist_utils
from keras_tuner.src.engine import tuner_utils  # TunerCallback has no public name

from keras_lr import _validation as v
from keras_lr._engine.optimizers import inner_optimizer, variable_value

CURVE = "curve/"
OBJECTIVE_CURVE = CURVE + "objective"
RUNNING, COMPLETED, STOPPED, IDLE, INVALID, FAILED = "RUNNING", "COMPLETED", "STOPPED", "IDLE", "INVALID", "FAILED"
# The score of a diverged trial while no trial has a finite one.
NOTHING_FINITE = 1e30

# What keras_lr sends among a trial's metrics besides results; never recorded as results.
CONTROL = "keras_lr/"
RUN = CONTROL + "run"  # on a trial: which hand-out of it this is; in a report: which one it comes from
ALIVE = CONTROL + "alive"  # a worker's heartbeat
RANGE_TEST = CONTROL + "range_test"  # on a trial: its fit runs the range test
RANGE_TEST_RESULT = CONTROL + "range_test/"  # a report: low, high, one_cycle_max_lr, suggestion
SUPERSEDED = CONTROL + "superseded"  # in an answer: this trial now runs on another worker
LAST_EPOCH = CONTROL + "last_epoch"  # in a report: the fit's last epoch, after which no pruning saves anything

# Seconds: the chief holds the trials after the first while the range test runs, unless its
# worker has been silent this long (or trial_timeout, when set).
RANGE_TEST_SILENCE = 60.0
# Seconds between a worker's heartbeats (at most; trial_timeout / 4 when that is shorter).
HEARTBEAT = 10.0
# Seconds a worker waits before asking again when the chief answers IDLE.
POLL = 0.5

# The oracle of the keras_lr tuner being built (while KerasTuner builds the hypermodel
# to learn the search space): LRHyperModel.build tells it about its range test there.
constructing = contextvars.ContextVar("keras_lr_tuning_oracle", default=None)


@contextlib.contextmanager
def _quiet_all_nan():
    """Silences numpy's "All-NaN axis encountered", which KerasTuner's best value of a metric (nanmin,
    nanmax) gives while a trial's curve is all NaN: the trial's divergence is keras_lr's to say."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="All-NaN", category=RuntimeWarning)
        yield


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


def built_oracle(tuner):
    """The oracle this process built: the tuner's own, or on a worker the one its `OracleClient` wraps.

    The client forwards four attributes to the chief; the oracle it wraps was built from the same arguments
    (the same script runs everywhere) and holds their settings (Hyperband's ``max_epochs``) and the space
    the hypermodel declared.
    """
    oracle = tuner.oracle
    return getattr(oracle, "_oracle", oracle)


def find_hp(hyperparameters, name):
    return next((hp for hp in hyperparameters.space if hp.name == name), None)


def check_callbacks(owner, callbacks):
    """Raises FatalValueError (it stops a search) for what in ``search(callbacks=...)`` is not a Keras callback.

    Unchecked, each trial failed with the error Keras met calling it, and the search ended with a warning
    about diverging rates (a keras_lr schedule given where its callback goes: a newcomer's mistake).
    """
    for callback in callbacks or ():
        if isinstance(callback, keras.callbacks.Callback):
            continue
        if isinstance(callback, type):
            what = f"the class {callback.__name__}, not a callback: create one, e.g. {callback.__name__}(...)"
        elif isinstance(callback, keras.optimizers.schedules.LearningRateSchedule):
            what = (f"{type(callback).__name__}, a learning-rate schedule, not a callback: to train every trial "
                    f"with it, give it to the optimizer in build_model (keras.optimizers.Adam(learning_rate="
                    f"schedule)); with keras_lr.tuning.LRHyperModel, which chooses each trial's schedule, leave it out")
        else:
            what = f"a {type(callback).__name__}, not a keras.callbacks.Callback"
        raise keras_tuner.errors.FatalValueError(f"{owner}: search(callbacks=...) holds {what}.")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the bold Keras puts around an error's own text


def error_text(message):
    """The error a failed trial's message (KerasTuner keeps its whole traceback) ends with, on one line.

    Its exception's text, not the traceback's last line: a Keras layer's error ends with the arguments it
    received ("  \u2022 kwargs=<class 'inspect._empty'>"), which `results_frame` had shown as the failure.
    """
    if not message:
        return None
    lines = _ANSI.sub("", message).strip().splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    start = frames[-1] + 1 if frames else 0
    while frames and start < len(lines) and lines[start].startswith("    "):  # the frame's source and its ^^^
        start += 1
    text = []
    for line in lines[start:]:
        if line.startswith("Arguments received by "):  # Keras's layer errors: the call's arguments follow
            break
        if line.strip():
            text.append(line.strip())
    return " ".join(text) or lines[-1].strip()


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
                f"{owner}: {where} names {name!r}, which is not in the search space when the tuner is made "
                f"(it has: {', '.join(sorted(known))}). The space is what build_model declares at the defaults: "
                f"a hyperparameter declared in fit, or only under a condition the defaults do not meet, is not "
                f"there yet; declare it in build_model, outside the condition, to give it an initial value"
            )
        hp = known[name]
        if isinstance(hp, keras_tuner.engine.hyperparameters.Choice) and value not in hp.values:
            raise ValueError(f"{owner}: {where}: {name} must be one of {hp.values}; received {value!r}")
        low, high = getattr(hp, "min_value", None), getattr(hp, "max_value", None)
        if low is not None and not (v._is_real(value) and low <= value <= high):  # not True (== 1)
            raise ValueError(f"{owner}: {where}: {name} must be in [{low:g}, {high:g}]; received {value!r}")
        if low is not None and not _on_grid(hp, value):
            raise ValueError(
                f"{owner}: {where}: {name} must be one of its steps "
                f"([{', '.join(f'{step:.6g}' for step in hp.values)}]); received {value!r}"
            )
    active = defaults_of(hyperparameters, point)
    for name in point:
        if name not in active:
            condition = known[name].conditions[0]
            raise ValueError(
                f"{owner}: {where} sets {name}, which is only used when {condition.name} is "
                f"{' or '.join(repr(choice) for choice in condition.values)}; add "
                f"{{{condition.name!r}: {condition.values[0]!r}}} to the point"
            )


class Oracle:
    """What keras_lr's tuners add to KerasTuner's oracles (mixed in front of them).

    With `propose_again_randomly` (BayesianOptimization), a proposal that repeats a
    configuration already tried is replaced by a random one, and every initial
    point runs before the Gaussian process proposes (KerasTuner asks for random
    values only for its first `num_initial_points` trials).

    State kept with the oracle's (`oracle.json`), so a resumed search goes on:
    `initial_points` handed out, the trial of each, pruned and diverged trials,
    the range test (wanted, assigned to a trial, done) and the bounds it set, and
    how often each trial was handed out and taken back from a silent worker.
    """

    propose_again_randomly = False
    _clock = staticmethod(time.monotonic)

    def _init_keras_lr(self, initial_points, pruner, trial_timeout=None):
        self.initial_points = [{}] + list(initial_points)  # the defaults first
        self.pruner = pruner
        self.trial_timeout = trial_timeout
        self.keras_lr = {
            "next_initial": 0,
            "initial_trials": {},  # trial_id -> index in initial_points (0: the defaults)
            "pruned": {},  # trial_id -> why
            "diverged": {},  # trial_id -> why
            "finder_bounds": None,
            "recommendation": None,  # the range test's point, queued after the user's
            "range_test": None,  # {"status": "wanted" | "assigned" | "done", "trial_id", "rate", "recommend"}
            "runs": {},  # trial_id -> times handed out
            "taken_back": {},  # trial_id -> times taken back from a silent worker
            "objective": self._objective(),  # [[name, direction], ...]: what the saved scores measure
        }
        self._handed = None
        self._reset_clocks()

    def _reset_clocks(self):
        # When each trial's worker and each tuner were last heard from (not saved: a
        # reloaded chief starts counting afresh).
        self._started = self._clock()
        self._trial_seen, self._tuner_seen = {}, {}

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
        response = None
        if self.propose_again_randomly and self.keras_lr["next_initial"] < len(self.initial_points):
            # BayesianOptimization asks for random values only for its first num_initial_points
            # trials: the initial points past them (and the range test's) are handed out here.
            values = self._random_values()
            if self._handed is not None:
                response = {"status": RUNNING, "values": values}
        if response is None:
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

    # Handing trials to tuners (one process, or the chief's workers).

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        now = self._clock()
        self._tuner_seen[tuner_id] = now
        held = self.ongoing_trials.get(tuner_id)
        if held is not None and held.status != RUNNING:
            # Ended: KerasTuner's end_trial saves the oracle before it lets the trial go, so a
            # reloaded oracle can hold a finished trial for a tuner, which would run it again.
            del self.ongoing_trials[tuner_id]
            held = None
        if held is not None:
            # The tuner asks again while its trial runs: a worker restarted with the same
            # KERASTUNER_TUNER_ID. KerasTuner gives it the same trial; it runs from its start.
            self._forget_run(held)
            self._trial_seen[held.trial_id] = now
            self._save_trial(held)
            return super().create_trial(tuner_id)
        self._take_back_silent(now, tuner_id)
        if self._holding_for_range_test(now):
            self.tuner_ids.add(tuner_id)
            return keras_tuner.engine.trial.Trial(self.hyperparameters.copy(), status=IDLE)
        if self._retry_queue:
            # A trial run again (after a crash, a silent worker, or an interrupted search)
            # starts with no curve.
            self._forget_run(self.trials[self._retry_queue[-1]])
        trial = super().create_trial(tuner_id)
        if trial.status == RUNNING:
            self._hand_out(trial, now)
        elif trial.status == STOPPED and self.trial_timeout is not None and self.ongoing_trials:
            # Others still run trials: wait, to take over one whose worker falls silent.
            self.tuner_ids.add(tuner_id)
            trial.status = IDLE
        return trial

    def _hand_out(self, trial, now):
        runs = self.keras_lr["runs"]
        runs[trial.trial_id] = runs.get(trial.trial_id, 0) + 1
        mark(trial, RUN, runs[trial.trial_id])
        self._trial_seen[trial.trial_id] = now
        test = self.keras_lr["range_test"]
        if test is not None and test["status"] == "wanted":
            test.update(status="assigned", trial_id=trial.trial_id)
        if test is not None and test["status"] == "assigned" and test["trial_id"] == trial.trial_id:
            mark(trial, RANGE_TEST, 1)
        self._save_trial(trial)
        self.save()

    def _forget_run(self, trial):
        for name in [name for name in trial.metrics.metrics if name.startswith(CURVE)]:
            del trial.metrics.metrics[name]
        self.keras_lr["pruned"].pop(trial.trial_id, None)
        self.keras_lr["diverged"].pop(trial.trial_id, None)

    def _silence(self):
        return self.trial_timeout if self.trial_timeout is not None else RANGE_TEST_SILENCE

    def _holding_for_range_test(self, now):
        """Whether new trials wait for the range test, which runs on another worker."""
        test = self.keras_lr["range_test"]
        if test is None or test["status"] != "assigned":
            return False
        trial = self.trials.get(test["trial_id"])
        if trial is None or trial not in self.ongoing_trials.values():
            return False  # waiting to be handed out again: the next tuner runs it
        return now - self._trial_seen.get(trial.trial_id, self._started) <= self._silence()

    @keras_tuner.synchronized
    def look_after_workers(self):
        """On the chief, between requests: `_take_back_silent` (with `trial_timeout`)."""
        self._take_back_silent(self._clock(), None)

    @keras_tuner.synchronized
    def search_over(self):
        """Whether every trial has ended and every worker was told the search is over (KerasTuner's `exit_chief`)."""
        return not self.ongoing_trials and not self.tuner_ids

    def _take_back_silent(self, now, asking):
        """With `trial_timeout`: takes back the trials of workers that fell silent, and forgets those workers."""
        if self.trial_timeout is None:
            return
        for tuner_id, trial in list(self.ongoing_trials.items()):
            silent = now - self._trial_seen.get(trial.trial_id, self._started)
            if tuner_id != asking and silent > self.trial_timeout:
                self._take_back(tuner_id, trial)
        for tuner_id in list(self.tuner_ids):
            silent = now - self._tuner_seen.get(tuner_id, self._started)
            if tuner_id != asking and tuner_id not in self.ongoing_trials and silent > self.trial_timeout:
                self.tuner_ids.discard(tuner_id)  # gone between trials: the chief need not wait for it

    def _take_back(self, tuner_id, trial):
        """The trial of a silent worker: queued for the next worker, or failed if it happened before."""
        del self.ongoing_trials[tuner_id]
        self.tuner_ids.discard(tuner_id)
        taken = self.keras_lr["taken_back"]
        taken[trial.trial_id] = taken.get(trial.trial_id, 0) + 1
        silent = f"its worker {tuner_id} sent nothing for {self.trial_timeout:g} s (trial_timeout)"
        if taken[trial.trial_id] == 1:
            trial.status = INVALID
            trial.message = f"{silent}; handed to the next worker that asks"
            self._retry_queue.append(trial.trial_id)
        else:
            trial.status = FAILED
            trial.message = f"{silent}, the second time it ran; marked failed"
            self.end_order.append(trial.trial_id)
            self._range_test_over(trial)
        print(f"keras_lr: trial {trial.trial_id}: {trial.message}")
        self._save_trial(trial)
        self.save()

    def _is_current(self, trial, run):
        """Whether a report with run number ``run`` comes from the worker that runs the trial now."""
        return (
            trial is not None
            and self.keras_lr["runs"].get(trial.trial_id) == int(run)
            and trial in self.ongoing_trials.values()
        )

    # The range test (LRHyperModel(finder=True)): run once, by the first trial's worker.

    def expect_range_test(self, rate, recommend):
        """The first trial handed out runs the range test; its result narrows ``rate``.

        ``recommend``: {"values": the point's other values, "rate_from": the result's
        field that gives its rate}, or None for no recommendation.
        """
        if self.keras_lr["range_test"] is None and self.keras_lr["finder_bounds"] is None:
            self.keras_lr["range_test"] = {"status": "wanted", "trial_id": None, "rate": rate, "recommend": recommend}

    def _range_test_done(self, trial, report):
        test = self.keras_lr["range_test"]
        if test is None or test["status"] != "assigned" or test["trial_id"] != trial.trial_id:
            return  # not the trial it was assigned to, or reported already
        self._range_test_over(trial)
        name, source = test["rate"], f"the range test on trial {trial.trial_id}'s model"
        low, high = report.get("low", math.nan), report.get("high", math.nan)
        if not (math.isfinite(low) and math.isfinite(high)):
            return  # an unreliable curve: the bounds stay
        narrow(self, name, low, high, source)
        recommend = test["recommend"]
        rate = report.get(recommend["rate_from"], math.nan) if recommend is not None else math.nan
        if math.isfinite(rate):
            add_recommendation(self, {**recommend["values"], name: rate})

    def _range_test_over(self, trial):
        test = self.keras_lr["range_test"]
        if test is not None and test["status"] == "assigned" and test["trial_id"] == trial.trial_id:
            test["status"] = "done"
        trial.metrics.metrics.pop(RANGE_TEST, None)

    # Per-epoch results, heartbeats and the range test's result.

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        metrics = dict(metrics)
        control = {name: metrics.pop(name) for name in list(metrics) if name.startswith(CONTROL)}
        trial = self.trials[trial_id]
        if RUN in control and not self._is_current(trial, control[RUN]):
            return superseded(trial)
        self._trial_seen[trial_id] = self._clock()
        report = {name[len(RANGE_TEST_RESULT):]: value for name, value in control.items()
                  if name.startswith(RANGE_TEST_RESULT)}
        if report:
            self._range_test_done(trial, report)
            self._save_trial(trial)
            self.save()
        if not metrics:
            return trial
        with _quiet_all_nan():
            if not all(name.startswith(CURVE) for name in metrics):
                return super().update_trial(trial_id, metrics, step)
            for name, value in metrics.items():
                if not trial.metrics.exists(name):
                    direction = self.objective.direction if name == OBJECTIVE_CURVE else "min"
                    trial.metrics.register(name, direction=direction)
                trial.metrics.update(name, value, step=step)
        # At the fit's last epoch a stop saves nothing, and a trial trained in full would be ranked with the pruned.
        stop = self._prune(trial, step) if not control.get(LAST_EPOCH) else trial.trial_id in self.keras_lr["pruned"]
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
        # Trials pruned before count among the others only for a pruner that says so (successive halving's rungs
        # hold every trial that reached them; Optuna's median rule takes the completed trials alone).
        skipped = set(self.keras_lr["diverged"]) | (set() if getattr(self.pruner, "counts_pruned", True) else set(pruned))
        others = [
            curve(other, "objective")
            for other in self.trials.values()
            if other.trial_id != trial.trial_id and other.status == COMPLETED and other.trial_id not in skipped
        ]
        # Up to the epoch reported: with several executions the curve holds the earlier ones' later epochs (the
        # second's first epoch was judged on the first's last, and a trial trained in full was pruned there).
        so_far = {step: value for step, value in curve(trial, "objective").items() if step <= epoch}
        reason = self.pruner.prune(so_far, others, self.objective.direction)
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
        with _quiet_all_nan():
            super().score_trial(trial)
        reason = self._divergence(trial)
        if reason is not None:
            self.keras_lr["diverged"][trial.trial_id] = reason
            trial.score = self._penalty()
            trial.message = f"diverged: {reason}; scored below every finite trial"

    @keras_tuner.synchronized
    def end_trial(self, trial):
        current = self.trials.get(trial.trial_id)
        run = marked(trial, RUN)
        if run is not None and not self._is_current(current, run):
            # From a worker whose trial was given to another one (it fell silent, then came back).
            print(f"keras_lr: trial {trial.trial_id}: the end of an earlier run of it is ignored")
            return
        for tuner_id, ongoing in self.ongoing_trials.items():
            if ongoing is current:
                self._tuner_seen[tuner_id] = self._clock()
        if current is not None:
            self._range_test_over(current)  # ended without reporting one: it does not run again
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

    def _seed_derived(self):
        """Re-makes what KerasTuner's oracle derived from ``self.seed`` when it was built."""
        if isinstance(self, keras_tuner.oracles.BayesianOptimizationOracle):
            self._random_state = np.random.RandomState(self.seed)  # and its Gaussian process's
            self.gpr = self._make_gpr()

    def _get_next_combination(self, values):
        """GridSearch's next combination, skipping those with a rate outside the bounds a range test set.

        KerasTuner's grid puts each hyperparameter's default first in its sweep: a narrowed rate's default
        (Keras's 0.001, which the defaults trial keeps) ran again with every other schedule, below the
        bounds printed, in the grid's few trials.
        """
        combination = super()._get_next_combination(values)
        while combination is not None and self._outside_finder_bounds(combination):
            combination = super()._get_next_combination(combination)
        return combination

    def _outside_finder_bounds(self, values):
        bounds = self.keras_lr.get("finder_bounds")
        value = None if bounds is None else values.get(bounds["name"])
        if value is None:
            return False
        return not bounds["min_value"] * (1 - 1e-9) <= float(value) <= bounds["max_value"] * (1 + 1e-9)

    def _grid_derived(self):
        """Re-makes the grid's order, which KerasTuner's GridSearch keeps in memory only.

        Resumed without it, the grid failed with KeyError when its first trial ended (the order it
        looks the trial up in was empty), and a resume after that stopped early: nothing was queued.
        The order is the trials sorted by their values, as GridSearch inserts them; every ended trial
        is queued again (GridSearch skips a next combination already tried).
        """
        if not isinstance(self, keras_tuner.oracles.GridSearchOracle) or not self.trials:
            return
        by_values = functools.cmp_to_key(lambda a, b: self._compare(a.hyperparameters.values, b.hyperparameters.values))
        ordered = sorted(self.trials.values(), key=by_values)
        self._ordered_ids = type(self._ordered_ids)()
        for trial in ordered:
            self._ordered_ids.insert(trial.trial_id)
        ongoing = {trial.trial_id for trial in self.ongoing_trials.values()}
        self._populate_next = [trial.trial_id for trial in ordered if trial.trial_id not in ongoing]

    def _objective(self):
        return [[part.name, part.direction] for part in getattr(self.objective, "objectives", None) or [self.objective]]

    def set_state(self, state):
        saved = state.get("keras_lr", {}).get("objective")  # None from a search saved before it was recorded
        if saved is not None and saved != self._objective():
            # KerasTuner keeps the objective it is given, not the saved one, and ranks the saved trials' scores
            # (of the old objective) against the new ones: an accuracy ranked as a loss was the worst trial.
            said = lambda pairs: " and ".join(f"{name!r} ({direction})" for name, direction in pairs)  # noqa: E731
            raise ValueError(
                f"This search resumes one (overwrite=False) whose trials were scored by the objective "
                f"{said(saved)}; KerasTuner would rank those scores against new trials' {said(self._objective())} "
                f"as one measure. Pass the tuner objective={saved[0][0]!r} to resume it, or overwrite=True (or "
                f"another project_name) to begin a new search with {said(self._objective())}."
            )
        super().set_state(state)
        self._seed_derived()  # a resumed search keeps the seed it was saved with, throughout
        self._grid_derived()
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


def extend(oracle, initial_points, pruner, trial_timeout=None, seed=None):
    """Turns the oracle KerasTuner's search class built into keras_lr's, in place.

    In place, not a copy: KerasTuner's display and locks hold this object.
    ``seed`` is the user's: KerasTuner takes ``seed=0`` for no seed (``seed or
    random.randint(1, 10000)``), so two searches with ``seed=0`` differ; the
    oracle is seeded again with it.
    """
    oracle.__class__ = _EXTENDED[type(oracle)]
    oracle._init_keras_lr(initial_points, pruner, trial_timeout)
    if seed is not None and oracle.seed != seed:
        oracle.seed = oracle._seed_state = seed
        oracle._seed_derived()
    return oracle


def expect_range_test(oracle, rate, recommend):
    """Tells keras_lr's oracle that the first trial runs a range test (see `Oracle.expect_range_test`)."""
    if isinstance(oracle, Oracle):
        oracle.expect_range_test(rate, recommend)


def narrow(oracle, name, low, high, source):
    """Narrows the rate ``name`` in the oracle's space for the trials to come (within its bounds).

    Records the bounds with keras_lr's oracles. Returns the bounds set.
    """
    hp = find_hp(oracle.hyperparameters, name)
    clipped = clip_bounds(hp, low, high)
    if clipped is None:
        return hp.min_value, hp.max_value
    low, high = clipped
    hp.min_value, hp.max_value = low, high
    record_bounds(oracle, name, low, high, source)
    oracle.save()
    return low, high


def clip_bounds(hp, low, high):
    """(low, high) within the bounds of the Float ``hp``; None where they do not overlap."""
    low, high = max(hp.min_value, float(low)), min(hp.max_value, float(high))
    return (low, high) if low < high else None


def record_bounds(oracle, name, low, high, source):
    """Records, once, the bounds a range test set (with keras_lr's oracles)."""
    if isinstance(oracle, Oracle) and oracle.keras_lr["finder_bounds"] is None and name is not None:
        oracle.keras_lr["finder_bounds"] = {"name": name, "min_value": low, "max_value": high, "source": source}
        oracle.save()


def within(rate, low, high, step=None):
    """``rate`` brought within [low, high], and onto a log grid's steps (``low * step ** k``) where one is given.

    The nearest step within the bounds: rounded alone, 0.05 on a grid of tens from 1e-4 went up to 0.1.
    """
    rate = min(max(float(rate), low), high)
    if step is None:
        return rate
    top = math.floor(math.log(high / low) / math.log(step) + 1e-9)
    return float(low * step ** min(max(round(math.log(rate / low) / math.log(step)), 0), top))


def add_recommendation(oracle, point, hyperparameters=None):
    """Queues a range test's recommendation as the next initial point, once per search.

    The rate is brought within the hyperparameter's bounds (and onto its
    steps), as in ``hyperparameters`` (default: the oracle's space).
    """
    if not isinstance(oracle, Oracle) or oracle.keras_lr.get("recommendation") is not None:
        return
    point = dict(point)
    for name, value in point.items():
        hp = find_hp(hyperparameters or oracle.hyperparameters, name)
        low = getattr(hp, "min_value", None)
        if low is None:
            continue
        point[name] = within(value, hp.min_value, hp.max_value, hp.step if hp.sampling == "log" else None)
    oracle.keras_lr["recommendation"] = point
    oracle.initial_points.append(point)
    oracle.save()


class FitLength(keras.callbacks.Callback):
    """Tells the tuner how many epochs the running fit has (`tuner._fit_epochs`), for `report_epoch`.

    Read from the fit itself: a HyperModel's `fit` may set its own `epochs`. It holds the tuner by a weak
    reference, which KerasTuner's deep copy of each execution's callbacks keeps as it is.
    """

    def __init__(self, tuner):
        super().__init__()
        self._tuner = weakref.ref(tuner)

    def on_train_begin(self, logs=None):
        tuner = self._tuner()
        if tuner is not None:
            tuner._fit_epochs = (self.params or {}).get("epochs")


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
        if self.objective.has_value(logs):
            return
        logged = ", ".join(sorted(logs)) or "nothing"
        if self.objective.name == "default_objective":
            # KerasTuner's when the tuner was given no objective: a HyperModel.fit that returns one float.
            raise keras_tuner.errors.FatalValueError(
                f"The tuner was made without an objective, so KerasTuner looks for 'default_objective', which "
                f"fit does not log (logged: {logged}); pass the tuner one of those, e.g. objective='val_loss' "
                f"(with validation data) or objective='loss'."
            )
        names = getattr(self.objective, "name_to_direction", None) or [self.objective.name]  # multi-objective
        validated = any(name.startswith("val_") for name in logs)  # Keras logs val_loss whenever fit validates
        if any(name.startswith("val_") for name in names) and not validated:
            raise keras_tuner.errors.FatalValueError(
                f"The search's objective {self.objective.name!r} is not in the logs of fit's epoch {epoch + 1}, "
                f"which ran no validation (logged: {logged}); pass validation data to search() "
                f"(validation_data or validation_split), and validate every epoch: KerasTuner scores a "
                f"trial from each epoch's logs, so it cannot take validation_freq."
            )
        raise keras_tuner.errors.FatalValueError(
            f"The search's objective {self.objective.name!r} is not in the logs of fit (logged: {logged}); "
            f"compile the metric, or choose a logged objective."
        )


def report_epoch(tuner, trial, model, epoch, logs, epochs=None):
    """Sends one epoch's logs to the oracle as curves; stops the model when it answers STOPPED.

    ``epochs``: the fit's (None: unknown); its last epoch is marked so, and is not pruned.
    """
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
    if epochs is not None and epoch + 1 >= epochs:
        metrics[LAST_EPOCH] = 1.0
    answer = send(tuner.oracle, trial, metrics, step=epoch)
    if getattr(answer, "status", None) == STOPPED:
        model.stop_training = True
        tuner._stopped_trial = trial.trial_id  # its later executions do not run


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return np.ndim(value) == 0


def _current_rate(model):
    optimizer = inner_optimizer(getattr(model, "optimizer", None))
    try:
        return variable_value(optimizer.learning_rate)
    except (TypeError, ValueError, AttributeError):
        return None


# A trial's marks, and what a worker sends.


def mark(trial, name, value):
    """Sets ``name`` among the trial's metrics to ``value`` (one observation), which travels with it."""
    trial.metrics.metrics.pop(name, None)
    trial.metrics.register(name, direction="max")
    trial.metrics.update(name, float(value), step=0)


def marked(trial, name):
    """The value of the mark ``name`` on a trial, or None."""
    if trial is None or not trial.metrics.exists(name):
        return None
    return trial.metrics.get_last_value(name)


def superseded(trial):
    """The answer to a report from a worker whose trial now runs on another one."""
    answer = keras_tuner.engine.trial.Trial(trial.hyperparameters.copy(), trial_id=trial.trial_id, status=STOPPED)
    mark(answer, SUPERSEDED, 1)
    return answer


class Superseded(keras_tuner.errors.FailedTrialError):
    """This worker's trial was given to another worker; its run is dropped."""


def send(oracle, trial, metrics, step=0):
    """`oracle.update_trial` with the trial's run number; raises `Superseded` when the chief answers so."""
    metrics = dict(metrics)
    run = marked(trial, RUN)
    if run is not None:
        metrics[RUN] = run
    answer = oracle.update_trial(trial.trial_id, metrics, step=step)
    if marked(answer, SUPERSEDED) is not None:
        raise Superseded(
            f"trial {trial.trial_id} was given to another worker (this one was silent for longer than "
            f"trial_timeout); this run of it is dropped"
        )
    return answer


def report_range_test(oracle, trial, result, bounds):
    """Sends the range test's result to the oracle, which narrows the rate for the trials to come."""
    low, high = bounds if bounds is not None else (None, None)
    rates = dict(one_cycle_max_lr=result.one_cycle_max_lr, suggestion=result.suggestion) if result.reliable else {}
    fields = dict(low=low, high=high, **rates)
    metrics = {RANGE_TEST_RESULT + name: math.nan if value is None else float(value) for name, value in fields.items()}
    send(oracle, trial, metrics)


# KerasTuner's chief/worker mode, on a worker.


def is_worker():
    """Whether this process is a worker of KerasTuner's chief/worker mode (its env variables say so)."""
    return dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()


def is_chief():
    """Whether this process is the chief of KerasTuner's chief/worker mode."""
    return dist_utils.is_chief_oracle()


def bound_client(tuner, chief_timeout):
    """Makes the requests of a worker's `OracleClient` wait for the chief at most ``chief_timeout`` seconds.

    KerasTuner waits an hour (`oracle_client.TIMEOUT`) for each, so a worker
    whose chief has gone hangs for an hour; after this, it stops with an
    error that says so.
    """
    from keras_tuner.src.distribute import oracle_client

    client = tuner.oracle
    if isinstance(client, oracle_client.OracleClient) and not isinstance(client.stub, _BoundedStub):
        address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
        client.stub = _BoundedStub(client.stub, chief_timeout, address)


class _BoundedStub:
    """A gRPC stub whose calls wait for the chief at most ``timeout`` seconds, then raise FatalError."""

    def __init__(self, stub, timeout, address):
        self._stub, self._timeout, self._address = stub, timeout, address

    def __getattr__(self, name):
        method = getattr(self._stub, name)

        def call(request, **kwargs):
            import grpc

            kwargs["timeout"] = min(kwargs.get("timeout") or self._timeout, self._timeout)
            kwargs.setdefault("wait_for_ready", True)
            try:
                return method(request, **kwargs)
            except grpc.RpcError as error:
                code = error.code() if callable(getattr(error, "code", None)) else None
                if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                    raise keras_tuner.errors.FatalError(
                        f"keras_lr: the chief at {self._address} did not answer {name} within "
                        f"chief_timeout={self._timeout:g} s ({code.name}): it has not started, or it has exited; "
                        f"start the chief (KERASTUNER_TUNER_ID=chief) or raise chief_timeout"
                    ) from None
                raise

        return call


class Heartbeat:
    """Tells the chief every ``period`` seconds, from a thread, that this worker still runs ``trial``.

    After the chief answers that the trial runs elsewhere now, `superseded` is True.
    """

    def __init__(self, oracle, trial, period):
        self.oracle, self.trial, self.period = oracle, trial, period
        self.superseded = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"keras_lr heartbeat {trial.trial_id}", daemon=True)
        self._thread.start()

    def _beat(self):
        while not self._stop.wait(self.period):
            try:
                send(self.oracle, self.trial, {ALIVE: 1.0})
            except Superseded:
                self.superseded = True
                return
            except Exception:  # noqa: BLE001 - the training thread meets the chief's absence itself
                return

    def stop(self):
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=self.period + 1.0)


# KerasTuner's chief/worker mode, on the chief.


def serve(oracle, poll=0.2):
    """Serves the oracle to the workers until the search is over: KerasTuner's `oracle_chief.start_server`, prompter.

    KerasTuner's chief, once it has told a worker the search is over, looks
    again every 20 s whether every worker was told so; this one looks every
    ``poll`` seconds, and stops its server before it returns. With
    `trial_timeout`, it also takes back the trials of silent workers (and
    forgets those workers) while no worker asks.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    server.add_insecure_port(f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}")
    server.start()
    try:
        while not (servicer.stop_triggered and oracle.search_over()):
            time.sleep(poll)
            oracle.look_after_workers()
    finally:
        server.stop(grace=1.0).wait(5.0)


def load_round(tuner, model, trial_id):
    """Loads the weights Hyperband continues trial ``trial_id`` from into ``model``, as `keras_tuner.Hyperband`
    does (1.4.7 and 1.4.8)."""
    if kt_backend.config.multi_backend():
        model.build_from_config(kt_utils.load_json(tuner._get_build_config_fname(trial_id)))
    model.load_weights(tuner._get_checkpoint_fname(trial_id))
