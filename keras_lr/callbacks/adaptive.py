"""What the adaptive callbacks share: the multiplier, the record, snapshots, losses."""

import difflib
import math
import re

from keras_lr import _validation as v
from keras_lr import _warnings
from keras_lr._engine.callback import EngineCallback
from keras_lr._engine.distribution import build_optimizer, check_logs_agree
from keras_lr._engine.losses import RunningMean
from keras_lr._engine.optimizers import rate_scaled_buffers
from keras_lr._engine.state import Snapshot, read, running_mean_of

EVENT_COLUMNS = ["step", "epoch", "old_learning_rate", "new_learning_rate", "multiplier", "reason"]


def check_frequency(owner, frequency):
    """`"epoch"`, or a whole number of optimizer steps >= 1."""
    if isinstance(frequency, str):
        return v.check_choice(owner, "frequency", frequency, ("epoch",))
    return v.check_int(owner, "frequency", frequency, low=1)


# Metrics whose direction "auto" knows, besides losses and accuracies (Keras's names and short names; Keras
# names IoU's io_u, so mean_io_u, binary_io_u, one_hot_mean_io_u).
_FALLING = ("mse", "mae", "mape", "msle", "rmse", "mean_squared_error", "mean_absolute_error",
            "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "root_mean_squared_error",
            "log_cosh_error", "logcosh", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence", "poisson",
            "crossentropy", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")
_RISING = ("auc", "precision", "recall", "f1_score", "fbeta_score", "r2_score", "iou", "mean_iou", "io_u",
           "mean_io_u", "pearson_correlation", "concordance_correlation", "cosine_similarity", "precision_at_recall",
           "recall_at_precision", "sensitivity_at_specificity", "specificity_at_sensitivity")


def resolve_mode(owner, monitor, mode):
    """"min" or "max" for ``monitor``; raises when "auto" cannot tell.

    Read from the name as Keras writes it: `val_` before a validation
    metric, an output's name before its metric (`val_cls_mae`), and `_1`
    after a second metric of one kind (`val_auc_1`).
    """
    mode = v.check_choice(owner, "mode", mode, ("auto", "min", "max"))
    if mode != "auto":
        return mode
    name = re.sub(r"_\d+$", "", monitor.removeprefix("val_"))

    def named(known):
        return any(name == metric or name.endswith("_" + metric) for metric in known)

    if name == "loss" or name.endswith("_loss") or named(_FALLING):
        return "min"
    # An accuracy by Keras's names (accuracy, acc, sparse_categorical_accuracy, an output's digit_accuracy): not
    # any name holding "acc" (val_inaccuracy, val_false_acceptance_rate rose as errors fell, and were cut).
    if name in ("acc", "accuracy") or name.endswith(("_acc", "_accuracy")) or named(_RISING):
        return "max"
    # A misspelt metric would only show in the logs at the first epoch's end.
    known = ["loss", "accuracy", *_FALLING, *_RISING]
    close = difflib.get_close_matches(monitor, known + ["val_" + k for k in known], n=1, cutoff=0.85)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(
        f"{owner}: cannot tell whether monitor={monitor!r} should fall or rise{hint}; "
        f"pass mode='min' or mode='max'."
    )


# Keras's loss tracker holds a loss with this weight after a rollback that kept no step of the epoch: the
# next step's weight (its samples) adds it away exactly in float rounding, a power of two keeps it exact.
_VANISHING = 2.0**-64


class AdaptiveCallback(EngineCallback):
    """Base of the callbacks that scale the learning rate from what training shows.

    They share one multiplier per fit, applied inside the train step on top
    of whatever sets the rate: the optimizer's float rate, a schedule it was
    compiled with, or a `Scheduler`/`OneCycle`/`CyclicLR` callback. Each
    change multiplies it; every change is recorded in `events_frame()`.
    `ReduceLROnPlateau`, `DivergenceGuard` and `BoldDriver` are the ones
    there are; the class is public for `isinstance`.

    Args:
        verbose: Integer >= 0. Above 0 prints a line for each change.
    """

    def _reset(self):
        super()._reset()
        self._loss_metric = None
        self._logs_running_mean = None  # whether logs["loss"] is Keras's running mean (known at the first hook)
        self._losses = RunningMean()  # the epoch's loss, step by step, from the logged running mean
        self._epoch = 0
        self._done = 0  # steps of the epoch seen by this callback's batch hooks
        self._events = []
        self._last_epoch_loss = None  # the last epoch's loss over the steps kept (of the last with any kept)
        self._rollbacks = 0
        self._held = None  # the loss the epoch's mean holds after a rollback that kept none of its steps
        self._restored_rate = None  # after a rollback, the rate the velocity put back was built at

    # Fit lifecycle.

    @property
    def _rolls_back(self):
        """Whether it may put back weights of a snapshot taken from the fit's start on."""
        return False

    def on_train_begin(self, logs=None):
        owner = type(self).__name__
        check_logs_agree(self.model, owner)
        if self._rolls_back and not self.model.weights:
            # Under TensorFlow fit builds such a model at its first step, after the hooks that take the first
            # snapshot: it would hold no weights, and a rollback to it would put back none.
            raise ValueError(
                f"{owner}: the model is not built yet (a Sequential without keras.Input is built by fit at its "
                f"first step), so there are no weights to roll back to; give it an Input layer, e.g. "
                f"keras.Sequential([keras.Input(shape), ...]), or call it on a batch first, e.g. model(x[:1])."
            )
        super().on_train_begin(logs)
        if self.model.optimizer is not None and self.model.trainable_variables:
            # Under TensorFlow fit builds it at its first step, after the hooks where the first
            # snapshot is taken: built now, before any schedule goes in, the snapshot holds the moments.
            # (Not for a model fit builds at that step: it would be built for no variables.)
            build_optimizer(self.model)
        self._loss_metric = next((m for m in self.model.metrics if m.name == "loss"), None)

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._epoch = epoch
        if self._losses.count:
            self._last_epoch_loss = self._losses.mean
        self._losses.reset()  # fit resets its metrics at each epoch
        self._done = 0

    def _after_batch(self, logs):
        advanced = self._session.done - self._done
        self._done = self._session.done
        rollbacks = self._rollbacks
        if advanced > 0:
            self._after_steps(advanced, logs)
        if self._rollbacks != rollbacks and isinstance(logs, dict) and "loss" in logs:
            # The callbacks after this one (TerminateOnNaN, a progress bar) get the same logs: they see the
            # loss the epoch's mean now holds, not the NaN or the worse loss the rollback undid.
            logs["loss"] = self._held_loss()

    def _after_steps(self, steps, logs):
        """Called from the batch hook after ``steps`` more optimizer steps ran."""

    # Helpers for subclasses.

    def _iteration(self):
        """The optimizer's step counter, as counted from the hooks (no device read)."""
        return self._session.iteration

    def current_rate(self, iteration=None):
        """The effective learning rate at absolute optimizer ``iteration`` (default: the next step)."""
        return self._session.rate_at(self._iteration() if iteration is None else iteration)

    @property
    def multiplier(self):
        """The multiplier on the learning rate now (1.0 before any change)."""
        return 1.0 if self._session is None else self._session.multipliers.current

    def _interval_loss(self, steps, logs):
        """Mean training loss of the last ``steps`` steps (None if not logged).

        Worked out from `logs["loss"]`, the epoch's running mean, without
        reading anything from the device; exact when the batches are the same
        size (the last, smaller batch of an epoch counts as a whole one).
        The running mean is the `Mean` metric whose result is the logged
        value (Keras's loss tracker, or a `train_step`'s own, a VAE's
        `total_loss_tracker` say); when none is, the logged loss is taken at
        its word as the last batch's (a `train_step` that logs each batch's).
        """
        mean = logs.get("loss")
        if mean is None:
            return None
        if self._logs_running_mean is None and self._losses.count + steps >= 2 and math.isfinite(float(mean)):
            # Keras logs its loss tracker's mean since the epoch began; a train_step of one's own may log
            # another Mean's (a VAE's total_loss_tracker), or each batch's own loss. The Mean whose
            # result is the logged value is the one; none, and it is each batch's. (After one step the
            # two agree, and a NaN matches nothing: read once a fit, at the first finite hook after two.)
            self._loss_metric = running_mean_of(self.model, float(mean))
            self._logs_running_mean = self._loss_metric is not None
        if self._logs_running_mean is False:
            # The batch's own loss: kept as the epoch's mean too, for a rollback to come back to.
            count, kept = self._losses.count + steps, self._losses.mean
            self._losses.rewind(count, kept + (float(mean) - kept) * steps / count)
            return float(mean)
        return self._losses.update(self._losses.count + steps, float(mean))

    def _forget_losses(self, back_to):
        """Drops the rolled-back steps' losses from the epoch's mean.

        ``back_to`` is `_seen()` as it was at the batch hook rolled back to.
        The logged epoch loss is then the mean over the steps that were kept,
        and a NaN from the rejected steps does not stay in it. With no step of
        the epoch kept, it is the loss of the weights gone back to, as logged
        then (the last epoch's), not 0, Keras's mean of no step, which
        `EarlyStopping` and `ModelCheckpoint(save_best_only=True)` took for the
        best; Keras's tracker holds it with a weight so small (2**-64) that the
        next step's adds it away in float rounding.
        """
        metric = self._loss_metric
        kept_now = self._losses.count
        kept, mean = back_to
        held = mean if kept or (mean is not None and math.isfinite(mean)) else None
        if metric is not None:  # (none when the logs hold each batch's own loss)
            if kept:
                weight = float(read(self.model, metric.count)) / kept_now if kept_now else 0.0  # samples per step
                metric.total.assign(mean * kept * weight)
                metric.count.assign(kept * weight)
            else:
                weight = 0.0 if held is None else _VANISHING
                metric.total.assign(0.0 if held is None else held * weight)
                metric.count.assign(weight)
        for member in self._session.members:
            if isinstance(member, AdaptiveCallback):
                # Every adaptive callback's count of the epoch's steps goes back with the tracker it reads the
                # losses from (left, the next step's loss read by one listed before read -4999 for 0.96);
                # one listed after does not read this hook's undone step.
                member._losses.rewind(kept, mean if kept else 0.0)
                member._held = held
                member._done = self._session.done
        self._rollbacks += 1

    def _held_loss(self):
        """The epoch's loss as its mean now holds it (after a rollback: see `_forget_losses`)."""
        if self._losses.count:
            return self._losses.mean
        return 0.0 if self._held is None else self._held

    def _seen(self):
        """The epoch's (steps, mean loss) so far, to come back to with `_forget_losses`.

        Before the epoch's first step kept, the loss is the last epoch's (None before any).
        """
        count = self._losses.count
        return (count, self._losses.mean if count else self._last_epoch_loss)

    def _snapshot(self):
        return Snapshot(self.model, iteration=self._iteration())

    def _rollback(self, snapshot, losses_back_to):
        snapshot.restore()
        self._session.refresh_rate()  # the snapshot's rate Variable held the multiplier of its time
        self._forget_losses(losses_back_to)
        # The rate the snapshot's last step took: a velocity Keras keeps scaled by the rate (SGD's, RMSprop's
        # momentum) goes on at it until `_scale` sets the rate to come.
        # (Unknown for a snapshot of the fit's start: a fit before built the velocity, at rates of its own.)
        last = snapshot.iteration - 1
        self._restored_rate = self.current_rate(last) if last >= self._session.start_iteration else None

    def _scale(self, factor, reason, new_rate=None):
        """Multiplies the rate from the next step on by ``factor``; records the change.

        With ``new_rate``, the factor is what takes the rate at the next step there.
        """
        iteration = self._iteration()
        old_rate = self.current_rate(iteration)
        if new_rate is not None:
            factor = new_rate / old_rate if old_rate > 0 else 1.0
        self._session.set_multiplier(self.multiplier * factor, iteration)
        new_rate = self.current_rate(iteration)
        restored, self._restored_rate = self._restored_rate, None
        if restored is not None and restored > 0:
            # Put back by a rollback, Keras's SGD or RMSprop velocity (m = momentum m - rate g) holds the step
            # just rejected at the rate it was built at, whatever the rate now: it repeated that step, and
            # BoldDriver rolled back to one snapshot over and over. Scaled to the rate to come, the velocity
            # is in gradients, as PyTorch's is, and the cut applies to all of it.
            for buffer in rate_scaled_buffers(self.model.optimizer):
                buffer.assign(buffer * (new_rate / restored))
        self._record(iteration, old_rate, new_rate, reason)
        return new_rate

    def _record(self, iteration, old_rate, new_rate, reason):
        self._events.append(
            {
                "step": iteration,
                "epoch": self._epoch,
                "old_learning_rate": old_rate,
                "new_learning_rate": new_rate,
                "multiplier": self.multiplier,
                "reason": reason,
            }
        )
        if self.verbose:
            print(
                f"\nStep {iteration} (epoch {self._epoch + 1}): {type(self).__name__} "
                f"learning rate {old_rate:.6g} -> {new_rate:.6g} ({reason})."
            )

    def events_frame(self):
        """Every change this callback made in the last fit.

        Returns:
            A pandas DataFrame with columns `step` (the first optimizer step
            with the new rate), `epoch`, `old_learning_rate`,
            `new_learning_rate` (both at that step), `multiplier` (the
            multiplier after the change, all adaptive callbacks together) and
            `reason`.
        """
        import pandas as pd

        return pd.DataFrame(self._events, columns=EVENT_COLUMNS)


class MonitorCallback(AdaptiveCallback):
    """Adaptive callbacks that check a monitored value every epoch or every N steps.

    Subclasses implement `_check(value)`, and `_after_loss(steps, loss)` for
    checks in steps (on the training loss).
    """

    def __init__(self, monitor, mode, frequency, verbose, checks_in_steps):
        owner = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"{owner}: monitor must be a non-empty string; received monitor={monitor!r}")
        self.monitor = monitor
        self.mode = v.check_choice(owner, "mode", mode, ("auto", "min", "max"))
        self.frequency = check_frequency(owner, frequency)
        if self.frequency != "epoch" and monitor != "loss":
            raise ValueError(
                f"{owner}: checking every {self.frequency} steps {checks_in_steps}; pass "
                f"monitor='loss' (received monitor={monitor!r}) or frequency='epoch'."
            )
        self._direction = resolve_mode(owner, monitor, mode)
        super().__init__(verbose=verbose)

    @property
    def async_safe(self):
        # Checking at epoch ends, its batch hook only reads Python state.
        return self.frequency == "epoch"

    def _reset(self):
        super()._reset()
        self._warned_skip = False

    def _check(self, value):
        raise NotImplementedError

    def _after_loss(self, steps, loss):
        """With checks in steps: the mean training loss of the last ``steps`` steps."""
        raise NotImplementedError

    def _after_steps(self, steps, logs):
        if self.frequency == "epoch":
            return
        loss = self._interval_loss(steps, logs)
        if loss is not None:
            self._after_loss(steps, loss)

    def _at_epoch_end(self, epoch, logs):
        if self.frequency != "epoch":
            return
        if self.monitor not in logs:
            owner, available = type(self).__name__, ", ".join(sorted(logs)) or "none"
            if not self._done and "loss" not in logs:  # no batch hook in the epoch, and no loss logged
                raise ValueError(
                    f"{owner}: epoch {epoch + 1} ran no step and logged nothing: the training data is empty "
                    f"(or a filter drops every element); pass data with at least one batch."
                )
            # Keras logs val_loss whenever fit validates: without any val_ key, no validation ran
            # in this epoch (fit's validation_freq, or no validation data: they look alike here).
            # Keras's ReduceLROnPlateau warns and skips too.
            if self.monitor.startswith("val_") and not any(name.startswith("val_") for name in logs):
                if not self._warned_skip:
                    self._warned_skip = True
                    _warnings.warn(
                        f"{owner}: monitor={self.monitor!r} is not in epoch {epoch + 1}'s logs (available: "
                        f"{available}): no validation ran in it, so the epoch is skipped, as with fit's "
                        f"validation_freq. If fit has no validation data, pass validation_data or "
                        f"validation_split, or monitor='loss'."
                    )
                return
            raise ValueError(
                f"{owner}: monitor={self.monitor!r} is not in the logs (available: {available}); "
                f"compile the metric, or monitor one that is logged."
            )
        if "loss" in logs:
            # The epoch's loss, as the checks in steps keep it (`_seen`): what a mark at this check holds.
            self._last_epoch_loss = float(logs["loss"])
        rollbacks = self._rollbacks
        self._check(float(logs[self.monitor]))
        if self._rollbacks != rollbacks and "loss" in logs:
            # Keras made the epoch's logs before this hook: the callbacks after this one (History, EarlyStopping,
            # ModelCheckpoint) get the loss of the weights gone back to, not the NaN or worse loss undone.
            logs["loss"] = self._held_loss()
