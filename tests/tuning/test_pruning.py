"""The pruning rules on made-up learning curves."""

import pytest

from keras_lr.tuning import MedianPruner, SuccessiveHalvingPruner

OTHERS = [{0: 0.5, 1: 0.7, 2: 0.8}, {0: 0.6, 1: 0.8, 2: 0.85}, {0: 0.4, 1: 0.6, 2: 0.75}]


def test_median_prunes_below_the_median_of_the_others_at_the_same_epoch():
    pruner = MedianPruner(warmup_epochs=1, min_trials=3)
    assert pruner.prune({0: 0.1}, OTHERS, "max") is None  # warmup
    assert "median 0.7 of 3 finished trials" in pruner.prune({0: 0.3, 1: 0.65}, OTHERS, "max")
    assert pruner.prune({0: 0.3, 1: 0.7}, OTHERS, "max") is None  # equal to the median goes on
    assert pruner.prune({0: 0.75, 1: 0.6}, OTHERS, "max") is None  # its best so far counts
    assert pruner.prune({0: 0.3, 1: 0.65}, OTHERS[:2], "max") is None  # too few trials
    losses = [{0: 2.0, 1: 1.0}, {0: 2.5, 1: 1.2}, {0: 1.8, 1: 0.9}]
    assert pruner.prune({0: 3.0, 1: 1.1}, losses, "min") is not None
    assert pruner.prune({0: 3.0, 1: 0.95}, losses, "min") is None


def test_median_ignores_trials_that_did_not_reach_the_epoch_and_non_finite_values():
    pruner = MedianPruner(warmup_epochs=0, min_trials=2)
    others = [{0: 0.5}, {0: 0.6, 1: float("nan")}, {0: 0.4, 1: 0.9}]
    assert pruner.prune({0: 0.3, 1: 0.35}, others, "max") is None  # one finite value at epoch 1
    assert pruner.prune({0: float("nan")}, others, "max") is not None


def test_successive_halving_keeps_the_best_fraction_at_each_rung():
    pruner = SuccessiveHalvingPruner(min_epochs=1, reduction_factor=3, min_trials=3)
    others = [{0: 0.9, 1: 0.9, 2: 0.9}, {0: 0.8, 2: 0.8}, {0: 0.5, 2: 0.5}, {0: 0.4}, {0: 0.3}]
    # Rung after 1 epoch: 6 values, the best 2 go on.
    assert pruner.prune({0: 0.85}, others, "max") is None
    assert "best 1/3 of 6 trials" in pruner.prune({0: 0.7}, others, "max")
    # No rung after 2 epochs; the next is after 3 (3 competitors: only the best goes on).
    assert pruner.prune({0: 0.95, 1: 0.1}, others, "max") is None
    assert pruner.prune({0: 0.95, 1: 0.9, 2: 0.85}, others, "max") is not None
    assert pruner.prune({0: 0.95, 1: 0.9, 2: 0.95}, others, "max") is None
    assert pruner.prune({0: 0.1}, others[:2], "max") is None  # fewer than min_trials at the rung


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: MedianPruner(warmup_epochs=-1), "MedianPruner: warmup_epochs must be an integer >= 0"),
        (lambda: MedianPruner(min_trials=0), "MedianPruner: min_trials must be an integer >= 1"),
        (lambda: SuccessiveHalvingPruner(reduction_factor=1), "reduction_factor must be an integer >= 2"),
        (lambda: SuccessiveHalvingPruner(min_epochs=0.5), "min_epochs must be an integer"),
    ],
)
def test_pruners_name_each_bad_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()
