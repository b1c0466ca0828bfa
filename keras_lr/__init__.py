"""keras_lr: learning-rate schedules, callbacks, the range test and tuning for Keras 3.

The callbacks are re-exported here (`keras_lr.OneCycle` is the callback);
the schedules live in `keras_lr.schedules` (`keras_lr.schedules.OneCycle`);
the KerasTuner search space in `keras_lr.tuning`.
"""

from keras_lr import callbacks as callbacks
from keras_lr import finder as finder
from keras_lr import schedules as schedules
from keras_lr import tuning as tuning
from keras_lr.callbacks import AdaptiveCallback as AdaptiveCallback
from keras_lr.callbacks import BoldDriver as BoldDriver
from keras_lr.callbacks import CyclicLR as CyclicLR
from keras_lr.callbacks import DivergenceGuard as DivergenceGuard
from keras_lr.callbacks import OneCycle as OneCycle
from keras_lr.callbacks import ReduceLROnPlateau as ReduceLROnPlateau
from keras_lr.callbacks import ScheduleCallback as ScheduleCallback
from keras_lr.callbacks import Scheduler as Scheduler
from keras_lr.finder import LRFinder as LRFinder
from keras_lr.finder import LRFinderResult as LRFinderResult
from keras_lr.finder import lr_find as lr_find
from keras_lr.plotting import plot_range_test as plot_range_test
from keras_lr.plotting import plot_results as plot_results
from keras_lr.plotting import plot_schedule as plot_schedule

__version__ = "0.1.0"

__all__ = [
    "AdaptiveCallback",
    "BoldDriver",
    "CyclicLR",
    "DivergenceGuard",
    "LRFinder",
    "LRFinderResult",
    "OneCycle",
    "ReduceLROnPlateau",
    "ScheduleCallback",
    "Scheduler",
    "callbacks",
    "finder",
    "lr_find",
    "plot_range_test",
    "plot_results",
    "plot_schedule",
    "schedules",
    "tuning",
]
