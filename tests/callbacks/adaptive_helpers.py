"""Drives an adaptive callback's hooks as `fit` does, with made-up losses."""

import keras
import numpy as np


class Driver:
    """A tiny compiled model whose optimizer steps and loss metric are faked.

    ``batch(loss)`` does what one train step does to the state a callback
    reads (the step counter, the loss metric's sums; the kernel is set to
    the step number so rollbacks are visible) and calls the batch hook with
    the logs `fit` would pass.
    """

    def __init__(self, callback, learning_rate=0.1, optimizer=None, steps=None, per_batch=False, own_tracker=False):
        self.callback = callback
        self.per_batch = per_batch  # logs each batch's own loss, as a train_step of one's own may
        self.model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        self.model.compile(optimizer or keras.optimizers.SGD(learning_rate), "mse")
        self.optimizer = self.model.optimizer
        self.tracker = next(m for m in self.model.metrics if m.name == "loss")
        if own_tracker:  # a VAE's: the mean of its own Mean is logged as "loss", Keras's tracker idle
            self.model.total_loss_tracker = self.tracker = keras.metrics.Mean(name="total_loss")
        callback.set_model(self.model)
        callback.set_params({"epochs": 1000, "steps": steps, "verbose": 0})
        self.epoch = -1
        self.batch_index = 0
        callback.on_train_begin()
        self.begin_epoch()

    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    def kernel(self):
        return float(self.model.layers[-1].kernel.numpy()[0, 0])

    def begin_epoch(self):
        self.epoch += 1
        self.batch_index = 0
        for metric in self.model.metrics:
            metric.reset_state()
        self.callback.on_epoch_begin(self.epoch)

    def batch(self, loss, steps=1):
        """``steps`` optimizer steps with this loss each, then one batch hook."""
        for _ in range(steps):
            self.optimizer.iterations.assign_add(1)
            if not self.per_batch:
                self.tracker.update_state(loss)
            self.model.layers[-1].kernel.assign(np.full((1, 1), float(self.step), "float32"))
        logs = {"loss": float(loss) if self.per_batch else float(self.tracker.result())}
        self.callback.on_train_batch_end(self.batch_index + steps - 1, logs)
        self.batch_index += steps
        return logs

    def end_epoch(self, **logs):
        self.callback.on_epoch_end(self.epoch, logs)
        self.begin_epoch()
        return logs

    def rate(self):
        """The effective rate of the next step."""
        return self.callback.current_rate()
