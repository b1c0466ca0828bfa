"""Stopping trials that fall behind, epoch by epoch: pure rules on learning curves.

Each pruner's `prune(curve, others, direction)` looks at the objective of the
running trial at every epoch so far (`{epoch: value}`) and at those of the
finished trials, and returns why to stop it, or None. keras_lr's tuners ask
after every epoch (`pruning=` of `keras_lr.tuning.RandomSearch`,
`BayesianOptimization`, `GridSearch`); KerasTuner itself has no pruning.
The defaults trial and the other initial points are never pruned, nor is a
trial at its fit's last epoch (stopping it saves nothing, and a pruned trial
ranks after every completed one). A pruner's `counts_pruned` says whether the
trials it pruned before are among the others (by default they are).

References:
    Optuna's `MedianPruner` and `SuccessiveHalvingPruner` (Akiba et al.,
    "Optuna: A Next-generation Hyperparameter Optimization Framework", 2019).
    Li et al., "A System for Massively Parallel Hyperparameter Tuning"
    (asynchronous successive halving), 2020.
"""

import math

from keras_lr import _validation as v


def _better(a, b, direction):
    return a < b if direction == "min" else a > b


def _best_so_far(curve, epoch, direction):
    values = [value for step, value in curve.items() if step <= epoch and math.isfinite(value)]
    if not values:
        return math.nan
    return min(values) if direction == "min" else max(values)


class MedianPruner:
    """Stops a trial whose best objective so far is worse than the median of the others at the same epoch.

    Optuna's rule: from epoch `warmup_epochs` on (counted from 0), once at
    least `min_trials` finished trials reached the epoch. The others are the
    trials that completed: those pruned before do not count.

    Example:

    >>> pruner = MedianPruner(warmup_epochs=1, min_trials=3)
    >>> others = [{0: 0.5, 1: 0.7}, {0: 0.6, 1: 0.8}, {0: 0.4, 1: 0.6}]
    >>> pruner.prune({0: 0.3, 1: 0.5}, others, direction="max")
    'best objective 0.5 by epoch 2 is worse than the median 0.7 of 3 finished trials'
    >>> pruner.prune({0: 0.3, 1: 0.75}, others, direction="max") is None
    True

    Args:
        warmup_epochs: Integer >= 0. Epochs a trial always runs before it
            can be stopped.
        min_trials: Integer >= 1. Finished trials that must have reached an
            epoch before any trial is stopped there.
    """

    counts_pruned = False  # keras_lr's oracle leaves pruned trials out of `others`

    def __init__(self, warmup_epochs=1, min_trials=3):
        self.warmup_epochs = v.check_int("MedianPruner", "warmup_epochs", warmup_epochs, low=0)
        self.min_trials = v.check_int("MedianPruner", "min_trials", min_trials, low=1)

    def prune(self, curve, others, direction):
        if not curve:
            return None
        epoch = max(curve)
        if epoch < self.warmup_epochs:
            return None
        values = sorted(other[epoch] for other in others if epoch in other and math.isfinite(other[epoch]))
        if len(values) < self.min_trials:
            return None
        middle = len(values) // 2
        median = values[middle] if len(values) % 2 else 0.5 * (values[middle - 1] + values[middle])
        best = _best_so_far(curve, epoch, direction)
        if math.isnan(best) or _better(median, best, direction):
            return (
                f"best objective {best:.4g} by epoch {epoch + 1} is worse than the median "
                f"{median:.4g} of {len(values)} finished trials"
            )
        return None

    def __repr__(self):
        return f"MedianPruner(warmup_epochs={self.warmup_epochs}, min_trials={self.min_trials})"


class SuccessiveHalvingPruner:
    """Asynchronous successive halving: at each rung only the best 1/`reduction_factor` go on.

    Rungs are after `min_epochs`, `min_epochs * reduction_factor`,
    `min_epochs * reduction_factor**2`, ... epochs. A trial that reaches a
    rung goes on when its objective there is among the best
    `1 / reduction_factor` of the values every finished trial had at that
    rung, itself included; before `min_trials` trials reached a rung,
    every trial goes on.

    Example:

    >>> pruner = SuccessiveHalvingPruner(min_epochs=1, reduction_factor=2, min_trials=2)
    >>> others = [{0: 0.9}, {0: 0.8}, {0: 0.5}]
    >>> pruner.prune({0: 0.6}, others, direction="max")
    'objective 0.6 after 1 epochs is not in the best 1/2 of 4 trials'
    >>> pruner.prune({0: 0.85}, others, direction="max") is None
    True

    Args:
        min_epochs: Integer >= 1. Epochs before the first rung.
        reduction_factor: Integer >= 2. One trial in this many goes on at each rung.
        min_trials: Integer >= 1. Finished trials that must have reached a
            rung before any trial is stopped there.
    """

    counts_pruned = True  # a rung holds every trial that reached it, pruned there or after

    def __init__(self, min_epochs=1, reduction_factor=3, min_trials=3):
        owner = "SuccessiveHalvingPruner"
        self.min_epochs = v.check_int(owner, "min_epochs", min_epochs, low=1)
        self.reduction_factor = v.check_int(owner, "reduction_factor", reduction_factor, low=2)
        self.min_trials = v.check_int(owner, "min_trials", min_trials, low=1)

    def _is_rung(self, epochs):
        rung = self.min_epochs
        while rung < epochs:
            rung *= self.reduction_factor
        return rung == epochs

    def prune(self, curve, others, direction):
        if not curve:
            return None
        epoch = max(curve)
        if not self._is_rung(epoch + 1):
            return None
        competing = [other[epoch] for other in others if epoch in other and math.isfinite(other[epoch])]
        if len(competing) < self.min_trials:
            return None
        value = curve[epoch]
        if not math.isfinite(value):
            return f"objective {value} after {epoch + 1} epochs"
        ranked = sorted(competing + [value], reverse=direction == "max")
        keep = max(1, len(ranked) // self.reduction_factor)
        if _better(ranked[keep - 1], value, direction):
            return (
                f"objective {value:.4g} after {epoch + 1} epochs is not in the best "
                f"1/{self.reduction_factor} of {len(ranked)} trials"
            )
        return None

    def __repr__(self):
        return (
            f"SuccessiveHalvingPruner(min_epochs={self.min_epochs}, "
            f"reduction_factor={self.reduction_factor}, min_trials={self.min_trials})"
        )


PRUNERS = {"median": MedianPruner, "halving": SuccessiveHalvingPruner}


def get_pruner(owner, pruning):
    """None, a pruner, or a pruner made from its name ("median", "halving")."""
    if pruning is None or hasattr(pruning, "prune"):
        return pruning
    if isinstance(pruning, str) and pruning in PRUNERS:
        return PRUNERS[pruning]()
    raise ValueError(
        f"{owner}: pruning must be None, 'median', 'halving' or a pruner "
        f"(MedianPruner, SuccessiveHalvingPruner); received pruning={pruning!r}"
    )
