"""`DivergenceGuard`: rolls back a diverging run and cuts the learning rate."""

import collections
import math
import statistics

import keras

from keras_lr import _validation as v
from keras_lr import _warnings
from keras_lr._engine.losses import check_loss_logged
from keras_lr._engine.state import weights_are_finite
from keras_lr.callbacks.adaptive import AdaptiveCallback


@keras.saving.register_keras_serializable(package="keras_lr.callbacks")
class DivergenceGuard(AdaptiveCallback):
    """Rescues a run whose loss blows up: rolls back and cuts the learning rate.

    Watches the training loss of every batch (the mean over the steps since
    the last batch hook, so every step is seen also with
    `steps_per_execution > 1`, though a blow-up within the fit's first
    execution has no earlier reading to stand out from; with a `train_step`
    of one's own that logs each batch's own loss, the last step's). When it is
    NaN or infinite, or above `threshold` times the median of the last
    `window` good ones and rising for `patience` batch hooks in a row, or
    staying there, however it goes, for `window` hooks in a row with a
    median over `threshold**2` times theirs (a blow-up that zigzags, as
    momentum's does; a lower level may be a harder stretch of the data),
    or within `snapshot_every` steps of a rollback at any level (a cut rate
    that collapsed the network to one output gives a constant loss), the
    guard

    1. restores the last good snapshot: the model's weights and every
       optimizer variable (moments, loss scale) but the step counter, so
       schedules and logs keep following the steps `fit` ran;
    2. multiplies the learning rate by `factor` from the next step on (a
       multiplier on top of any schedule, as `ReduceLROnPlateau`'s);
    3. lets training go on, judging the restored weights against the good
       losses they were judged by before (not the first ones after the
       rollback, which may already be a collapse's); after a rollback for a
       loss that stayed high, against the losses to come (a level that the
       cut rate did not change is the data's, a harder stretch of it).

    A snapshot is taken in host memory every `snapshot_every` steps, and only
    counts as good once the loss computed from it has been seen to be good,
    so a snapshot never holds the weights of a step that blew up. The guard
    also checks the weights at every epoch end and rolls back if any is
    NaN or infinite. Keras calls callbacks in the order of the list, so put
    the guard before every checkpoint callback: a `ModelCheckpoint` listed
    after it never saves NaN weights at an epoch end; one listed before it
    saves before the check. After a rollback the batch's `logs["loss"]` is
    the epoch's loss over the steps kept: those that led to the weights
    restored, and the one that measured them (with none of the epoch's
    kept, the epoch's loss as logged then; before any, 0, as Keras logs a
    mean of no step; with `steps_per_execution` > 1, the steps a batch
    hook covers count together), and so is the epoch's, so a
    `TerminateOnNaN` listed after the guard lets training go on; one
    listed before it stops at the NaN.

    When the loss diverges again within `snapshot_every` steps of a
    recovery, the recovery failed. The guard makes at most `max_recoveries`
    recoveries in a row: the divergence that fails the last of them stops
    training (`model.stop_training`) at the last good weights, with a
    warning that says so (with 0, the first divergence does). (With the
    default `factor` of 0.5, ten failures in a row have cut the rate
    1024-fold.) On data that comes in the same order every epoch with a
    loss that rises as it goes (a time series with `shuffle=False`, targets
    sorted), the rise comes back at any rate and can be taken for a
    divergence: shuffle such data, or raise `threshold`.

    Every rollback is in `events_frame()`; `recoveries` counts them, the
    one that stops training too (1 after a stop with `max_recoveries=0`).

    Example:

    >>> import keras
    >>> import numpy as np
    >>> x = np.linspace(-1, 1, 64).reshape(-1, 1).astype("float32")
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(5.0), "mse")  # far too high
    >>> guard = DivergenceGuard(factor=0.1)
    >>> _ = model.fit(x, 3 * x, batch_size=8, epochs=3, verbose=0, callbacks=[guard])
    >>> guard.recoveries > 0, bool(np.isfinite(model.get_weights()[0]).all())
    (True, True)

    Args:
        threshold: Float > 1. A batch loss above `threshold` times the
            median of the recent good ones is a spike.
        patience: Integer >= 1. Spikes in a row, each above the one before,
            that count as divergence (a NaN or infinite loss counts at
            once). Late in training batches at several times the typical
            loss are normal (one hard example in a batch of near-zero
            losses); divergence persists and grows.
        factor: Float in (0, 1). The rate is multiplied by it at each rollback.
        snapshot_every: Integer >= 1. Optimizer steps between snapshots
            (each copies every weight and optimizer variable to host memory),
            and how long a recovery must hold to count as one that worked.
        max_recoveries: Integer >= 0. Recoveries in a row the guard
            makes; a divergence after the last of them (within
            `snapshot_every` steps, so it failed) stops training.
        window: Integer >= 1. How many recent good batch losses the median
            is taken over, and how many batch hooks in a row above
            `threshold` times it, within `snapshot_every` steps of a
            rollback, fail the recovery however the loss goes (at least
            `patience`). (A median, not a moving average: it forgets a run
            of huge but finite losses after `window / 2` batches.)
        verbose: Integer. 1 prints a line for each rollback.

    Raises:
        ValueError: for a bad argument; in `on_train_begin` when the model
            has no optimizer with a learning rate, or under a multi-worker
            `tf.distribute` strategy whose workers would log different values
            (`model.distribute_reduction_method="first"`); at the first epoch,
            before any step, when the model's weights are not finite (no good
            weights to roll back to); in `on_train_begin`, under TensorFlow, when
            the model is not built yet (a Sequential without `keras.Input`,
            built by fit at its first step: no weights to roll back to).
    """

    def __init__(
        self, threshold=4.0, patience=3, factor=0.5, snapshot_every=50, max_recoveries=10, window=20, verbose=0
    ):
        owner = type(self).__name__
        self.threshold = v.check_number(owner, "threshold", threshold, low=1.0, low_open=True)
        self.patience = v.check_int(owner, "patience", patience, low=1)
        self.factor = v.check_number(owner, "factor", factor, low=0.0, high=1.0, low_open=True, high_open=True)
        self.snapshot_every = v.check_int(owner, "snapshot_every", snapshot_every, low=1)
        self.max_recoveries = v.check_int(owner, "max_recoveries", max_recoveries, low=0)
        self.window = v.check_int(owner, "window", window, low=1)
        super().__init__(verbose=verbose)

    @property
    def _rolls_back(self):
        return True

    def _reset(self):
        super()._reset()
        self.recoveries = 0
        self.failed_recoveries = 0
        self.stopped = False
        self._good = None
        self._candidate = None
        self._last_recovery = 0
        self._recent = collections.deque(maxlen=self.window)
        self._spikes = 0  # spikes in a row, each above the one before
        # The losses of the last spikes in a row, however they went: full, they are a run long enough to judge.
        self._high = collections.deque(maxlen=max(self.window, self.patience))
        # The recent losses the good snapshot's weights were judged by: the reference after a rollback to it.
        self._good_recent = None
        self._last_spike = math.inf
        # (`_seen()`, epoch) at the batch hook that measured the good snapshot's weights: the losses its rollback
        # keeps (those of the steps that led to its weights, and its own); None before one measured them.
        self._good_mark = None
        self._all_finite = True

    def _spike(self, loss):
        """Why ``loss`` is a spike, or None."""
        if not self._recent:
            return None
        typical = statistics.median(self._recent)
        if typical > 0 and loss > self.threshold * typical:
            return f"loss {loss:.4g} > {self.threshold:g} x median {typical:.4g}"
        return None

    def _recover(self, reason, stayed_high=False, finite=True):
        """Rolls back to the last good snapshot; cuts the rate, or stops after too many failures."""
        if not self.failed_recoveries:
            self._all_finite = True  # whether every divergence of this run of failures had finite losses
        self._all_finite = self._all_finite and finite
        self.recoveries += 1
        self._spikes = 0
        self._high.clear()
        self._last_recovery = self._iteration()
        self._candidate = None
        # The losses of the steps it undoes go from the epoch's mean with them (not only the spikes': a snapshot
        # 50 steps back kept 20 good steps' losses in). From an earlier epoch, none of this one's is kept: the
        # loss is the restored weights' as logged then.
        if self._good_mark is None:
            back_to = (0, self._last_epoch_loss)
        else:
            seen, epoch = self._good_mark
            back_to = seen if epoch == self._epoch else (0, seen[1])
        self._rollback(self._good, losses_back_to=back_to)
        # The recent losses were those of weights now gone: the reference goes back to the one the restored
        # weights were judged by. (Restarting it from the losses after the rollback made a collapse there,
        # a constant loss six times the one before, the new normal.) After a rollback for a loss that stayed
        # high, it restarts from the losses to come: a level the cut rate did not change is the data's
        # (a harder stretch of it), which the guard must not fight to the end of training.
        if self._good_recent is None and self._recent:  # the start's weights, before a window of their losses
            self._good_recent = tuple(self._recent)
        self._recent = collections.deque(() if stayed_high else self._good_recent or (), maxlen=self.window)
        self.failed_recoveries += 1
        if self.failed_recoveries > self.max_recoveries:
            self.stopped = True
            self.model.stop_training = True
            rate = self.current_rate()
            self._record(self._iteration(), rate, rate, f"{reason}; stopped after {self.max_recoveries} failed recoveries")
            what = (
                f"diverged again ({reason}) after {self.max_recoveries} failed recoveries in a row"
                if self.max_recoveries
                else f"diverged ({reason}) and max_recoveries=0 allows no recovery"
            )
            ordered = ""
            if self._all_finite and self.max_recoveries:
                # A loss that rises through the data, in the same order each epoch, rises again at any rate.
                ordered = (
                    " Every loss it rolled back from was finite: if the data comes in a fixed order whose loss "
                    "rises as it goes (shuffle=False on a trend, or sorted targets), the rise is the data's, "
                    "not a divergence; shuffle it, or raise threshold."
                )
            _warnings.warn(
                f"DivergenceGuard: training {what}; training stops at the last good weights "
                f"(from step {self._good.iteration}). Start from a lower learning rate, or raise max_recoveries."
                + ordered
            )
            return
        self._scale(self.factor, f"{reason}; rolled back to step {self._good.iteration}")

    def _observe(self, loss):
        """Acts on the mean loss of the steps since the last batch hook."""
        if not math.isfinite(loss):
            self._recover(f"loss {loss}", finite=False)
            return
        spike = self._spike(loss)
        if spike is not None:
            # A run of spikes counts while the loss keeps rising; a hard batch after
            # a hard batch (heavy-tailed noise late in training) starts a new run.
            rising = self._spikes == 0 or loss > self._last_spike
            self._spikes = self._spikes + 1 if rising else 1
            self._last_spike = loss
            # Within a recovery, a loss that stays that high is no run of hard batches either, however it
            # goes: a network collapsed to one output by the rate gives a constant loss.
            self._high.append(loss)
            recovering = self.recoveries and self._iteration() - self._last_recovery < self.snapshot_every
            if self._spikes >= self.patience:
                self._recover(spike if self.patience == 1 else f"{spike}, {self.patience} batches in a row")
            elif recovering and len(self._high) == self._high.maxlen:
                self._recover(f"{spike} for {len(self._high)} batches in a row after a rollback", stayed_high=True)
            elif len(self._high) == self._high.maxlen:
                # A blow-up that zigzags (momentum's: 79290, 305189, 2748, 242829, ...) restarts the run of rising
                # spikes at each fall. Spikes for a whole window in a row, however they go, whose median is over
                # threshold**2 times the good losses', are no hard batches; a level below that is left alone, as
                # a harder stretch of the data may be (unshuffled data: the loss steps up fivefold and stays).
                typical, level = statistics.median(self._recent), statistics.median(self._high)
                if level > self.threshold**2 * typical:
                    self._recover(f"loss {level:.4g} (the median of {len(self._high)} batches in a row) > "
                                  f"{self.threshold**2:g} x median {typical:.4g}")
            return
        self._spikes = 0
        self._high.clear()
        self._recent.append(loss)
        if self._candidate is not None:
            # Its weights gave this good loss: it becomes the good snapshot, judged by these losses.
            self._good, self._candidate = self._candidate, None
            self._good_recent = tuple(self._recent)
            self._good_mark = (self._seen(), self._epoch)
        elif self._good_mark is None:
            self._good_mark = (self._seen(), self._epoch)  # the start's weights gave this good loss
        elif self._good_recent is None and len(self._recent) == self.window:
            self._good_recent = tuple(self._recent)  # the start's weights: the first window of their losses
        if self.failed_recoveries and self._iteration() - self._last_recovery >= self.snapshot_every:
            self.failed_recoveries = 0  # the last recovery held
        if self._iteration() - self._good.iteration >= self.snapshot_every:
            candidate = self._snapshot()
            if candidate.is_finite():
                self._candidate = candidate

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        if self._good is None:
            # The weights training starts from are the first good snapshot (taken at the
            # first epoch: BackupAndRestore puts back a checkpoint in its on_train_begin).
            start = self._snapshot()
            if not start.is_finite():
                raise ValueError(
                    "DivergenceGuard: the model's weights are not finite as this fit begins (an earlier fit "
                    "diverged, or the weights loaded were so), so there are no good weights to roll back to; "
                    "rebuild the model or load good weights, then fit again."
                )
            self._good = start

    def _after_steps(self, steps, logs):
        check_loss_logged("DivergenceGuard", logs, "the guard watches the training loss of every batch")
        loss = self._interval_loss(steps, logs)
        if loss is not None and not self.stopped:
            self._observe(loss)

    def _at_epoch_end(self, epoch, logs):
        # The last step of an epoch can leave non-finite weights with a finite loss.
        if not self.stopped and not weights_are_finite(self.model):
            rollbacks = self._rollbacks
            self._recover("non-finite weights", finite=False)
            if self._rollbacks != rollbacks and "loss" in logs:
                # As the other checks at an epoch's end do: the callbacks after this one (EarlyStopping,
                # ModelCheckpoint) got the mean over every step, the undone ones too, and took it for a best.
                logs["loss"] = self._held_loss()

    def get_config(self):
        return {
            "threshold": self.threshold,
            "patience": self.patience,
            "factor": self.factor,
            "snapshot_every": self.snapshot_every,
            "max_recoveries": self.max_recoveries,
            "window": self.window,
            "verbose": self.verbose,
        }
