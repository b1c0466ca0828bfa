"""keras_lr: learning-rate schedules, callbacks and the range test for Keras 3."""

from keras_lr import callbacks as callbacks
from keras_lr import schedules as schedules
from keras_lr.callbacks import Scheduler as Scheduler

__version__ = "0.1.0"

__all__ = ["Scheduler", "callbacks", "schedules"]
