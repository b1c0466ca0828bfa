"""Tuning the learning rate and its schedule with KerasTuner, from Keras's 0.001 default."""

from keras_lr.tuning.hypermodel import LRHyperModel as LRHyperModel
from keras_lr.tuning.local import LocalRun as LocalRun
from keras_lr.tuning.local import run_local as run_local
from keras_lr.tuning.pruning import MedianPruner as MedianPruner
from keras_lr.tuning.pruning import SuccessiveHalvingPruner as SuccessiveHalvingPruner
from keras_lr.tuning.results import history_frame as history_frame
from keras_lr.tuning.results import plot_results as plot_results
from keras_lr.tuning.results import results_frame as results_frame
from keras_lr.tuning.space import SCHEDULES as SCHEDULES
from keras_lr.tuning.space import bounds_from_range_test as bounds_from_range_test
from keras_lr.tuning.space import learning_rate as learning_rate
from keras_lr.tuning.tuners import BayesianOptimization as BayesianOptimization
from keras_lr.tuning.tuners import GridSearch as GridSearch
from keras_lr.tuning.tuners import Hyperband as Hyperband
from keras_lr.tuning.tuners import RandomSearch as RandomSearch

__all__ = [
    "BayesianOptimization",
    "GridSearch",
    "Hyperband",
    "LRHyperModel",
    "LocalRun",
    "MedianPruner",
    "RandomSearch",
    "SCHEDULES",
    "SuccessiveHalvingPruner",
    "bounds_from_range_test",
    "history_frame",
    "learning_rate",
    "plot_results",
    "results_frame",
    "run_local",
]
