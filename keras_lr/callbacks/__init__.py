"""Callbacks for `model.fit` that drive the learning rate.

The range test's callback, `LRFinder`, is in `keras_lr.finder` (and
`keras_lr.LRFinder`).
"""

from keras_lr.callbacks.adaptive import AdaptiveCallback as AdaptiveCallback
from keras_lr.callbacks.bold_driver import BoldDriver as BoldDriver
from keras_lr.callbacks.cyclic import CyclicLR as CyclicLR
from keras_lr.callbacks.guard import DivergenceGuard as DivergenceGuard
from keras_lr.callbacks.one_cycle import OneCycle as OneCycle
from keras_lr.callbacks.plateau import ReduceLROnPlateau as ReduceLROnPlateau
from keras_lr.callbacks.scheduler import ScheduleCallback as ScheduleCallback
from keras_lr.callbacks.scheduler import Scheduler as Scheduler

__all__ = [
    "AdaptiveCallback",
    "BoldDriver",
    "CyclicLR",
    "DivergenceGuard",
    "OneCycle",
    "ReduceLROnPlateau",
    "ScheduleCallback",
    "Scheduler",
]
