"""What the benchmark scripts share (not a benchmark itself)."""

import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Wall time of every epoch after the first (which traces the train step)."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if epoch > 0:
            self.times.append(time.perf_counter() - self._start)
