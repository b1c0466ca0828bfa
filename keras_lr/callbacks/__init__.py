"""Callbacks for `model.fit` that drive the learning rate."""

from keras_lr.callbacks._adaptive import AdaptiveCallback as AdaptiveCallback
from keras_lr.callbacks.bold_driver import BoldDriver as BoldDriver
from keras_lr.callbacks.cyclic import CyclicLR as CyclicLR
from keras_lr.callbacks.guard import DivergenceGuard as DivergenceGuard
from keras_lr.callbacks.one_cycle import OneCycle as OneCycle
from keras_lr.callbacks.plateau import ReduceLROnPlateau as ReduceLROnPlateau
from keras_lr.callbacks.scheduler import ScheduleCallback as ScheduleCallback
from keras_lr.callbacks.scheduler import Scheduler as Scheduler
from keras_lr.finder.callback import LRFinder as LRFinder  # noqa: E402  (after ScheduleCallback)

__all__ = [
    "AdaptiveCallback",
    "BoldDriver",
    "CyclicLR",
    "DivergenceGuard",
    "LRFinder",
    "OneCycle",
    "ReduceLROnPlateau",
    "ScheduleCallback",
    "Scheduler",
]
