"""`LRFinder`: the learning-rate range test as a callback inside `model.fit`."""

import math
import numbers

import keras
import numpy as np

from keras_lr import _validation as v
from keras_lr import _warnings
from keras_lr._engine import readout
from keras_lr._engine.callback import EngineCallback, fit_callbacks
from keras_lr._engine.distribution import build_optimizer, check_logs_agree
from keras_lr._engine.losses import MovingAverage, RunningMean, check_loss_logged
from keras_lr._engine.optimizers import rate_scaled_buffers
from keras_lr._engine.state import ModelState, means_of, read, running_mean_of, sync
from keras_lr.finder.result import LRFinderResult, _nan_weights_reason
from keras_lr.finder.suggestions import _window_reach
from keras_lr.schedules import RangeTest


def check_validation_data(owner, validation_data):
    """``validation_data``, checked: None, (x, y), (x, y, sample_weight) or a dataset."""
    if validation_data is not None and isinstance(validation_data, (tuple, list)) and len(validation_data) not in (2, 3):
        raise ValueError(
            f"{owner}: validation_data must be (x, y), (x, y, sample_weight) or a dataset; "
            f"received a sequence of length {len(validation_data)}"
        )
    if isinstance(validation_data, (numbers.Number, str, bytes, np.ndarray)):
        received = (f"a numpy array of shape {validation_data.shape}: pass (x_val, y_val)"
                    if isinstance(validation_data, np.ndarray) else f"validation_data={validation_data!r}")
        raise ValueError(
            f"{owner}: validation_data must be (x, y), (x, y, sample_weight) or a dataset; received {received}"
        )
    return validation_data


def _arrays_back(value):
    """``value`` with the numpy arrays Keras's serializer wrote as configs of their own made arrays again.

    Inside a callback's config Keras leaves them so, at any depth: `validation_data`'s `x` may be a
    dict of inputs, its `y` a list of outputs.
    """
    if isinstance(value, dict):
        if value.get("class_name") in ("__numpy__", "__tensor__"):  # a numpy array, a backend tensor
            return keras.saving.deserialize_keras_object(value)
        return {key: _arrays_back(part) for key, part in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_arrays_back(part) for part in value)
    return value


def check_trainable(model, owner):
    """Raises when the model has no trainable weights: no learning rate can move its loss, so a range
    test on it is batch noise (a frozen base model without a trainable head, say)."""
    if not model.trainable_weights:
        unbuilt = [layer.name for layer in model.layers if not layer.built]
        if model.trainable and unbuilt:
            # A subclassed model's build(input_shape) builds no sublayer unless its own build does.
            raise ValueError(
                f"{owner}: the model has no trainable weights because its layers are not built ("
                f"{', '.join(unbuilt[:3])}{', ...' if len(unbuilt) > 3 else ''}); call the model on a batch "
                f"first, e.g. model(x[:1]), so that they create their weights."
            )
        raise ValueError(
            f"{owner}: the model has no trainable weights (is it, or every layer, set trainable=False?), so no "
            f"learning rate changes its loss; make the layers that should train trainable, compile the model "
            f"again, then run the test."
        )


def check_range(owner, start_lr, end_lr, num_steps, mode, smoothing, divergence_threshold):
    start_lr = v.check_number(owner, "start_lr", start_lr, low=0.0, low_open=True)
    end_lr = v.check_number(owner, "end_lr", end_lr, low=0.0, low_open=True)
    if not end_lr > start_lr:
        raise ValueError(
            f"{owner}: end_lr must be greater than start_lr; received start_lr={start_lr!r}, end_lr={end_lr!r}"
        )
    num_steps = v.check_int(owner, "num_steps", num_steps, low=2)
    mode = v.check_choice(owner, "mode", mode, ("exp", "linear"))
    smoothing = v.check_number(owner, "smoothing", smoothing, low=0.0, high=1.0, high_open=True)
    divergence_threshold = v.check_number(owner, "divergence_threshold", divergence_threshold, low=1.0, low_open=True)
    return start_lr, end_lr, num_steps, mode, smoothing, divergence_threshold


def _finite_variables(model, variables=None):
    """The model's floating-point variables (trainable or not; of ``variables`` if given) that hold no NaN or
    infinity now."""
    sync(model)
    variables = model.weights if variables is None else variables
    # Read on the host: under JAX, keras.ops compiled a check per shape (3.3 s for MobileNetV2's 262 variables).
    return [variable for variable in variables if keras.backend.is_float_dtype(variable.dtype)
            and np.isfinite(keras.ops.convert_to_numpy(variable.value)).all()]


@keras.saving.register_keras_serializable(package="keras_lr.finder")
class LRFinder(EngineCallback):
    """The learning-rate range test, as a callback inside `model.fit`.

    Raises the learning rate at every step from `start_lr` to `end_lr`
    (evenly in log rate with `mode="exp"`), records the loss of each batch,
    and stops training when `num_steps` steps are done, when the smoothed
    loss exceeds `divergence_threshold` times its best (taken once the
    running average weighs a window of batches: after 9 at the default
    smoothing, at most a tenth of the test), or on a NaN or infinite loss.
    The rate is applied inside the train step; a schedule the optimizer
    holds is replaced for the test and put back. Then `result` holds the
    curve and its suggestions (an `LRFinderResult`).

    With `restore=True` (the default) the model's and optimizer's variables
    and the optimizer's learning rate are put back, bitwise, when training
    ends, so the test leaves the model as it found it; after a fit an
    exception stopped (Ctrl-C), call `restore_model()`. `keras_lr.lr_find` runs
    this callback for you and also restores after an exception. The test
    starts from still SGD and RMSprop momentum (Keras keeps it as a step
    scaled by the last fit's rate); with `restore=False` the model keeps the
    test's own.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    >>> y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(), "mse")
    >>> finder = LRFinder(start_lr=1e-4, end_lr=10.0, num_steps=50)
    >>> _ = model.fit(x, y, batch_size=16, epochs=10, verbose=0, callbacks=[finder])
    >>> len(finder.result.frame) <= 50, 1e-4 < finder.result.suggestion < 10.0
    (True, True)

    Args:
        start_lr: Float > 0. Rate of the first step.
        end_lr: Float > start_lr. Rate of step `num_steps - 1`.
        num_steps: Integer >= 2. Steps of the test. 300 by default (fastai
            uses 100): in benchmarks/finder_quality.py, 100-step tests gave
            no usable curve for a CNN trained with SGD in 9 of 10 seeds, and
            their OneCycle peak moved more between seeds on 9 of 12 tasks.
        mode: `"exp"` (rates evenly spaced in log) or `"linear"`.
        smoothing: Float in [0, 1). Weight of the past in the running
            average of the loss that decides divergence and where the loss
            rose for good; `smoothed_loss`, which the suggestions read, is a
            centered moving median over as many points as that average
            weighs ((1 + smoothing) / (1 - smoothing): 19 for 0.9).
        divergence_threshold: Float > 1. The test stops when the smoothed
            loss exceeds this times its best (for a loss whose best is 0
            or below, when it rises above its best by this minus 1 times
            its fall from the start).
        validation_data: None, `(x, y)`, `(x, y, sample_weight)` or a
            dataset to evaluate the loss on after every step (slower; the
            suggestions then use `val_loss`).
        restore: Bool. Whether to put the model back as it was when fit ends.
        seed: Integer or None. Seeds Python, numpy and the backend
            (`keras.utils.set_random_seed`) when training begins, after fit
            has built what it builds, so the data order repeats run to run.
        warn: Bool. Whether `result` warns as training ends (a
            `UserWarning` when the curve is unreliable, barely fell, or was
            still falling at the last rate); False leaves that to
            `result.reliable`, `result.reasons` and `result.notes`.
        verbose: Integer. 1 shows a progress bar with the rate and loss.

    Raises:
        ValueError: for a bad argument; in `on_train_begin` when the model
            was compiled with `steps_per_execution` > 1 (the test needs the
            loss of every step), its optimizer has no learning rate, or under a
            multi-worker `tf.distribute` strategy whose workers would log
            different values (`model.distribute_reduction_method="first"`),
            or when `keras.callbacks.EarlyStopping(restore_best_weights=True)`
            comes after it in `callbacks` (it would set weights from the test
            once LRFinder put them back: list it before), or a
            `ModelCheckpoint` or `BackupAndRestore` is in the fit (it would
            save the test's weights), or another keras_lr callback; during
            the fit when a callback of the fit changes the rate (Keras's
            `LearningRateScheduler` or `ReduceLROnPlateau`). The model is
            put back first.

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.
    """

    replaces_optimizer_schedule = True
    runs_alone = True
    resumes_at_initial_epoch = False  # the test's steps count from its fit's first, whatever initial_epoch is
    async_safe = False  # it reads every batch's loss and may stop training

    def __init__(
        self,
        start_lr=1e-7,
        end_lr=10.0,
        num_steps=300,
        mode="exp",
        smoothing=0.9,
        divergence_threshold=4.0,
        validation_data=None,
        restore=True,
        seed=None,
        warn=True,
        verbose=0,
    ):
        owner = type(self).__name__
        (
            self.start_lr,
            self.end_lr,
            self.num_steps,
            self.mode,
            self.smoothing,
            self.divergence_threshold,
        ) = check_range(owner, start_lr, end_lr, num_steps, mode, smoothing, divergence_threshold)
        validation_data = check_validation_data(owner, validation_data)
        self.restore = v.check_bool(owner, "restore", restore)
        self.seed = None if seed is None else v.check_int(owner, "seed", seed, low=0)
        self.warn = v.check_bool(owner, "warn", warn)
        self.result = None
        super().__init__(verbose=verbose)
        self.validation_data = validation_data  # after Keras's __init__, which sets it to None before 3.5

    def _reset(self):
        super()._reset()
        self._rates, self._losses, self._val_losses = [], [], []
        self._average, self._best, self._start = MovingAverage(self.smoothing), math.inf, None
        self._finite = 0  # finite losses seen
        # The best is taken once the running average weighs a window of batches, not one or two: with heavy
        # sample or class weights (3% positives weighted 17x) the first batch, without a positive, was the
        # best, and the next one's loss "diverged" at a rate of 1e-7, three steps in.
        self._settled = min(_window_reach(self.smoothing), self.num_steps // 10)
        self._stopped_early = None
        self._stopped_on_nan = False
        self._finite_at_start = []  # the variables finite when the test began (one may hold -inf by design)
        self._state = None
        self._progbar = None
        self._loss_metric = None
        self._batch_losses = RunningMean()  # by samples: the epoch's running mean, batch by batch
        self._rate = None

    def _schedule(self):
        schedule = RangeTest(self.start_lr, self.end_lr, self.num_steps, self.mode)
        self._rate = readout.rate_reader(schedule)
        return schedule

    def _rate_reader(self):
        return self._rate

    def rate_at(self, step):
        """The range test's rate at its ``step``."""
        return self._rate(step)

    def on_train_begin(self, logs=None):
        self._reset()
        self._check_later_callbacks()
        if getattr(self.model, "steps_per_execution", 1) != 1:
            raise ValueError(
                f"LRFinder: the range test needs the loss of every step, but the model "
                f"was compiled with steps_per_execution={self.model.steps_per_execution}; "
                f"compile with steps_per_execution=1 for the test (keras_lr.lr_find does this for you)."
            )
        check_logs_agree(self.model, "LRFinder")
        check_trainable(self.model, "LRFinder")
        # Built now, not at the first step as TensorFlow's fit would: the snapshot holds its moments (zeros).
        build_optimizer(self.model)
        finite = _finite_variables(self.model)
        # Taken before the rate is put in; kept past the reset in super().on_train_begin.
        state = ModelState(self.model) if self.restore else None
        self.result = None
        super().on_train_begin(logs)  # raises beside another keras_lr callback: nothing changed yet
        self._state = state
        self._finite_at_start = finite
        self._stilled = False
        self._skips_steps = isinstance(self.model.optimizer, keras.optimizers.LossScaleOptimizer)
        self._counted = None  # the rate's counter at the last batch hook (a LossScaleOptimizer's only)
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        self._loss_metric = None  # the Mean whose running mean fit logs as "loss" (False: none), at the second step
        self._first_logged = None  # (loss, [(Mean, count)] agreeing with it, epoch) at the first step
        if self.verbose:
            self._progbar = keras.utils.Progbar(self.num_steps, stateful_metrics=["learning_rate", "loss", "smoothed_loss"])

    def _check_later_callbacks(self):
        """Refuses a callback after this one that sets the weights when the fit ends, after the test put them back."""
        callbacks = fit_callbacks(self)
        if callbacks is None:
            return
        for callback in callbacks:
            if isinstance(callback, (keras.callbacks.ModelCheckpoint, keras.callbacks.BackupAndRestore)):
                harm = (", and restore them into the next fit, the training" if isinstance(
                    callback, keras.callbacks.BackupAndRestore) else " (a test that diverged ends on a short epoch "
                        "whose mean loss is the lowest, so a best-only checkpoint keeps it)")
                raise ValueError(
                    f"LRFinder: keras.callbacks.{type(callback).__name__} in the same fit would save the range "
                    f"test's weights, which no training made{harm}. Run the test in a fit of its own "
                    f"(keras_lr.lr_find does), then train with the {type(callback).__name__}."
                )
        if not self.restore:
            return
        later = callbacks[next(i for i, c in enumerate(callbacks) if c is self) + 1:]
        for callback in later:
            if isinstance(callback, keras.callbacks.EarlyStopping) and callback.restore_best_weights:
                raise ValueError(
                    "LRFinder: keras.callbacks.EarlyStopping(restore_best_weights=True) comes after it in "
                    "callbacks: when the fit ends it would set the weights it kept during the range test, after "
                    "LRFinder put the model back, leaving the model changed by the test. List it before LRFinder, "
                    "or run the test alone with keras_lr.lr_find."
                )

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        if not self._stilled:
            # The test starts from still momentum, as a fresh optimizer does: a trained model's SGD or RMSprop
            # buffer would move the weights at its last fit's rate through the test's lowest rates. (Not in
            # on_train_begin: another callback's may still refuse the fit, and no on_train_end restores then.)
            self._stilled = True
            for buffer in rate_scaled_buffers(self.model.optimizer):
                buffer.assign(keras.ops.zeros(buffer.shape, buffer.dtype))
        self._batch_losses.reset()  # fit resets its metrics at each epoch

    def _batch_loss(self, logs):
        """This batch's loss, from the epoch's running mean that fit logs and the sample count.

        (Restarting the mean at every batch instead costs two variable
        assignments a step, a quarter of a small model's step time.)
        """
        check_loss_logged("LRFinder", logs, "the range test reads the training loss of each step")
        mean = float(logs.get("loss", math.nan))
        if self._loss_metric is None and math.isfinite(mean):
            # The running mean fit logs is Keras's loss tracker's, or a train_step's own Mean logged as "loss"
            # (a VAE's total_loss_tracker) while Keras's stays empty; none, and the step logs each batch's own
            # loss. After one step every Mean of the loss agrees with that loss: told apart at the second.
            if self._first_logged is None:
                self._first_logged = (mean, means_of(self.model, mean), self._session.epoch)
                return mean
            first, candidates, epoch = self._first_logged
            metric = running_mean_of(self.model, mean)
            counts = {id(candidate): count for candidate, count in candidates}
            self._loss_metric = metric if metric is not None and id(metric) in counts else False
            if self._loss_metric and epoch == self._session.epoch:
                self._batch_losses.update(counts[id(metric)], first)  # the first step, as it would have been
        if not self._loss_metric:
            return mean
        return self._batch_losses.update(float(read(self.model, self._loss_metric.count)), mean)

    def _after_batch(self, logs):
        step = len(self._losses)
        if step >= self.num_steps:
            self.model.stop_training = True
            return
        rate = self.rate_at(step)
        loss = self._batch_loss(logs)
        if self._skips_steps and not self._applied() and math.isfinite(loss):
            # A LossScaleOptimizer skipped the step (its scaled gradients overflowed), and the rate's counter
            # stayed: the next step measures the same weights and applies this rate. Recorded then. (A loss
            # that is not finite is recorded: the test stops on it.)
            return
        monitored = loss
        if self.validation_data is not None:
            monitored = self._validation_loss()
            self._val_losses.append(monitored)
        self._rates.append(rate)
        self._losses.append(loss)
        smoothed = self._average.update(monitored)
        if math.isfinite(monitored):
            self._finite += 1
            if self._finite > self._settled:
                self._best = min(self._best, smoothed)
            if self._start is None:
                self._start = smoothed
        if self._progbar is not None:
            self._progbar.update(step + 1, [("learning_rate", rate), ("loss", loss), ("smoothed_loss", smoothed)])
        if not math.isfinite(monitored):
            self._stopped_on_nan = True
            self._stop(f"the loss was {monitored} at learning rate {rate:.3g}")
        elif self._diverged(smoothed) and step + 1 < self.num_steps:  # (at the last step, the test ran in full)
            rule = (f"{self.divergence_threshold:g} x its best ({self._best:.4g})" if self._best > 0 else
                    f"its best ({self._best:.4g}) by {self.divergence_threshold - 1:g} x its fall from the start")
            self._stop(f"the smoothed loss ({smoothed:.4g}) exceeded {rule} at learning rate {rate:.3g}")
        elif step + 1 >= self.num_steps:
            self.model.stop_training = True

    def _applied(self):
        """Whether the optimizer applied an update since the last batch hook (its counter moved)."""
        counted = int(read(self.model, self._session.counter))
        before = self._session.start_iteration if self._counted is None else self._counted
        self._counted = counted
        return counted > before

    def _diverged(self, smoothed):
        """Whether the smoothed loss rose past the stop rule: `divergence_threshold` times its best.

        A loss that went to 0 or below (a log-likelihood, a cosine similarity) has no such ratio: it
        diverged when it rose above its best by `divergence_threshold - 1` times its fall from the start.
        """
        best = self._best
        if best > 0:
            return smoothed > self.divergence_threshold * best
        fall = self._start - best
        return fall > 0 and smoothed - best > (self.divergence_threshold - 1.0) * fall

    def _validation_loss(self):
        data = self.validation_data
        # evaluate resets the metrics, whose running means fit goes on logging (each batch's loss comes from
        # the loss tracker's): they are put back as they were.
        sync(self.model)
        metrics = [(variable, np.array(variable.numpy(), copy=True)) for variable in self.model.metrics_variables]
        if isinstance(data, (tuple, list)):  # (x, y) or (x, y, sample_weight): evaluate's third is batch_size
            results = self.model.evaluate(*data[:2], sample_weight=data[2] if len(data) == 3 else None,
                                          verbose=0, return_dict=True)
        else:
            results = self.model.evaluate(data, verbose=0, return_dict=True)
        for variable, value in metrics:
            variable.assign(value)
        return float(results["loss"])

    def _stop(self, reason):
        self._stopped_early = reason
        self.model.stop_training = True

    def restore_model(self):
        """Puts the model back as it was when the test began, bitwise, after a fit an exception stopped.

        `restore=True` puts it back when the fit ends; a fit stopped by an
        exception (Ctrl-C, another callback's error) calls no `on_train_end`,
        and the model keeps the test's weights, trained up to its highest
        rates (`keras_lr.lr_find` puts it back for you). The optimizer's own
        rate comes back at the model's next fit.

        Returns:
            True if it put the model back; False if there was nothing to put
            back (`restore=False`, or the model was put back already).
        """
        had = self._state is not None
        self._put_back()
        return had

    def _put_back(self):
        if self._state is not None:
            self._state.restore()
            self._state = None

    def _refused(self):
        # The fit stops with an error: Keras calls no on_train_end, so the model is put back now.
        self._put_back()

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self._progbar is not None and 0 < len(self._losses) < self.num_steps:
            # Keras's bar shows an update at most every 0.05 s: a test stopped early was left showing an earlier
            # step (229/300 at 0.126 above "stopped early ... at learning rate 0.264", 241 steps recorded).
            self._progbar.update(len(self._losses), finalize=True)
        if self.warn and self._stopped_early is None and 0 < len(self._losses) < self.num_steps:
            _warnings.warn(
                f"LRFinder: the fit ended after {len(self._losses)} of the test's {self.num_steps} steps (at "
                f"learning rate {self._rates[-1]:.3g}), and not because the loss diverged: another callback "
                f"stopped it (EarlyStopping?), or fit's epochs ran out. Run the test alone, with epochs enough "
                f"for num_steps, or with keras_lr.lr_find, which sees to both."
            )
        result = self.make_result(warn=False)
        started = self._finite_at_start
        if self._losses and not self._stopped_on_nan and len(_finite_variables(self.model, started)) < len(started):
            # A loss that stays finite on NaN weights (TensorFlow, one NaN in a dataset's batches) did not stop the
            # test, or stopped it as a divergence when it jumped to a dead network's constant: its curve read
            # "not steady: raise num_steps", or reliable, its peak read before the NaN batch.
            result._spoiled(_nan_weights_reason())
        if self.warn:
            result._warn("LRFinder")
        self.result = result
        self._put_back()

    def make_result(self, warn=True):
        """The `LRFinderResult` of the steps recorded so far."""
        import pandas as pd

        frame = pd.DataFrame({"learning_rate": np.array(self._rates, dtype=np.float64), "loss": np.array(self._losses, dtype=np.float64)})
        if self.validation_data is not None:
            frame["val_loss"] = np.array(self._val_losses, dtype=np.float64)
        result = LRFinderResult(frame, smoothing=self.smoothing, stopped_early=self._stopped_early, warn=False)
        if warn:  # (lr_find warns with the result it keeps, in its own name)
            result._warn("LRFinder")
        return result

    def get_config(self):
        return {
            "start_lr": self.start_lr,
            "end_lr": self.end_lr,
            "num_steps": self.num_steps,
            "mode": self.mode,
            "smoothing": self.smoothing,
            "divergence_threshold": self.divergence_threshold,
            "validation_data": self.validation_data,
            "restore": self.restore,
            "seed": self.seed,
            "warn": self.warn,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        data = _arrays_back(config.get("validation_data"))
        config["validation_data"] = tuple(data) if isinstance(data, list) else data  # (x, y[, w]); JSON made it a list
        return cls(**config)
