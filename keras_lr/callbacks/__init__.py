"""Callbacks for `model.fit` that drive the learning rate."""

from keras_lr.callbacks.cyclic import CyclicLR as CyclicLR
from keras_lr.callbacks.one_cycle import OneCycle as OneCycle
from keras_lr.callbacks.scheduler import ScheduleCallback as ScheduleCallback
from keras_lr.callbacks.scheduler import Scheduler as Scheduler

__all__ = ["CyclicLR", "OneCycle", "ScheduleCallback", "Scheduler"]
