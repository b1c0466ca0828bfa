"""The rates of a fit, computed in Python from the same schedule: for logs, records and plots."""

import bisect
import functools
import threading

import numpy as np
from keras import ops

from keras_lr.schedules import evaluate_momentum, evaluate_schedule
from keras_lr.schedules._base import call_momentum


class Chunked:
    """A function of the step, evaluated for a chunk of steps at a time and read one step at a time.

    Thread-safe: Keras may run the batch hooks of async-safe callbacks on
    several threads at once, and out of order.
    """

    def __init__(self, evaluate, chunk=4096):
        self.evaluate = evaluate
        self.chunk = chunk
        self._chunk = (0, np.zeros((0,), dtype=np.float64))  # (first step, values), replaced whole
        self._lock = threading.Lock()

    def __getstate__(self):  # a lock does not pickle; the values are made again when read
        return {"evaluate": self.evaluate, "chunk": self.chunk}

    def __setstate__(self, state):
        self.__init__(state["evaluate"], state["chunk"])

    def __call__(self, step):
        start, values = self._chunk
        if not 0 <= step - start < len(values):
            with self._lock:
                start, values = self._chunk
                if not 0 <= step - start < len(values):
                    start, values = step, self.evaluate(np.arange(step, step + self.chunk))
                    self._chunk = (start, values)
        return float(values[step - start])


def rate_reader(schedule):
    return Chunked(functools.partial(evaluate_schedule, schedule))  # (a partial pickles; a lambda does not)


def momentum_reader(schedule):
    """Reads the schedule's momentum; None when it has none."""
    if call_momentum(schedule, ops.convert_to_tensor(0.0)) is None:
        return None
    return Chunked(functools.partial(evaluate_momentum, schedule))


class Multipliers:
    """Every value the multiplier took in a fit, from the iteration it applied to."""

    def __init__(self):
        self.starts = [0]
        self.values = [1.0]

    @property
    def current(self):
        return self.values[-1]

    def set(self, value, iteration):
        """Sets the multiplier from absolute optimizer ``iteration`` on (later entries are replaced)."""
        while self.starts and self.starts[-1] >= iteration:
            self.starts.pop()
            self.values.pop()
        self.starts.append(int(iteration))
        self.values.append(float(value))

    def at(self, iteration):
        return self.values[max(bisect.bisect_right(self.starts, iteration) - 1, 0)]

    def at_many(self, iterations):
        index = np.searchsorted(self.starts, np.asarray(iterations), side="right") - 1
        return np.asarray(self.values, dtype=np.float64)[np.maximum(index, 0)]
