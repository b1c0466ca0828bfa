"""Learning-rate schedules: pure functions of the optimizer's step.

Each is a `keras.optimizers.schedules.LearningRateSchedule` written in
`keras.ops`, so it runs inside the compiled train step on every backend and
can be given straight to an optimizer: `keras.optimizers.Adam(OneCycle(...))`.
Keras's own schedules (`CosineDecay`, `ExponentialDecay`, ...) are not
rewritten here; every keras_lr API that takes a schedule accepts them.
"""

from keras_lr.schedules.cyclic import CyclicLR as CyclicLR
from keras_lr.schedules.evaluation import evaluate_momentum as evaluate_momentum
from keras_lr.schedules.evaluation import evaluate_schedule as evaluate_schedule
from keras_lr.schedules.one_cycle import OneCycle as OneCycle
from keras_lr.schedules.range_test import RangeTest as RangeTest
from keras_lr.schedules.sequential import Sequential as Sequential
from keras_lr.schedules.sequential import Warmup as Warmup
from keras_lr.schedules.sequential import WarmupStableDecay as WarmupStableDecay

__all__ = [
    "CyclicLR",
    "OneCycle",
    "RangeTest",
    "Sequential",
    "Warmup",
    "WarmupStableDecay",
    "evaluate_momentum",
    "evaluate_schedule",
]
