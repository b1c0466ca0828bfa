"""What a range test's result offers the schedule callbacks in place of rates."""

import abc
import math

from keras_lr import _validation as v
from keras_lr import _warnings

# lr_find's default end_lr and the tuning space's highest rate: no rate above it is ever tested.
HIGHEST_TESTED = 10.0


class Recommendation(abc.ABC):
    """Rates read off a range test: `keras_lr.LRFinderResult` is one.

    `OneCycle(max_lr=result)` and `CyclicLR(result)` take one in place of
    numbers; the finder implements it and the callbacks consume it, neither
    importing the other.
    """

    reasons = ()
    reliable = True

    @property
    @abc.abstractmethod
    def one_cycle_max_lr(self):
        """A peak rate for one cycle (NaN when the curve gives none)."""

    def one_cycle_max_lr_for(self, total_steps):
        """The peak for one cycle over ``total_steps`` optimizer steps (None when unknown).

        `OneCycle(max_lr=result)` calls this when its fit begins; the
        default ignores the budget.
        """
        return self.one_cycle_max_lr

    @abc.abstractmethod
    def cyclic_bounds(self):
        """(base_lr, max_lr) for a cyclical schedule (NaN when the curve gives none)."""

    def cyclic_bounds_for(self, total_steps):
        """(base_lr, max_lr) for cycles over a fit of ``total_steps`` steps (None when unknown)."""
        return self.cyclic_bounds()


def _check_scale(owner, name, rate):
    """Warns (and returns True) for a rate above any a range test or search tries: most likely not a rate."""
    if not (v._is_real(rate) and math.isfinite(rate) and rate > HIGHEST_TESTED):  # inf: refused as not finite
        return False
    order = "OneCycle(max_lr, total_steps, ...)" if owner == "OneCycle" else "CyclicLR(base_lr, max_lr, ...)"
    _warnings.warn(
        f"{owner}: {name}={rate!r} trains at a rate above {HIGHEST_TESTED:g}, the highest that lr_find tests "
        f"by default and a keras_lr search tries. If it is a count (keras-one-cycle's "
        f"OneCycleLR(num_samples, batch_size, max_lr) order), keras_lr's order is {order}."
    )
    return True


def _unusable(owner, what, result):
    reasons = "; ".join(result.reasons) or "the curve gives no such rate"
    return ValueError(
        f"{owner}: the range test result has no {what} to train at ({reasons}); follow its advice and run the "
        f"test again, or pass the rate as a number."
    )


def peak_from(owner, value, total_steps=None):
    """``value``, or the one-cycle peak of a `Recommendation` for a fit of ``total_steps``."""
    if not isinstance(value, Recommendation):
        if not v._is_real(value):
            v._fail(owner, "max_lr", "a number or a range test's result (keras_lr.lr_find(...))", value)
        _check_scale(owner, "max_lr", value)
        return value
    rate = value.one_cycle_max_lr_for(total_steps)
    if not value.reliable or rate is None or not math.isfinite(rate):
        raise _unusable(owner, "max_lr", value)
    return float(rate)


def bounds_from(owner, base_lr, max_lr, total_steps=None):
    """(base_lr, max_lr), from a `Recommendation` passed as ``base_lr`` (for a fit of ``total_steps``)."""
    if not isinstance(base_lr, Recommendation):
        if not v._is_real(base_lr):
            v._fail(owner, "base_lr", "a number or a range test's result (keras_lr.lr_find(...))", base_lr)
        if max_lr is None:
            raise ValueError(f"{owner}: max_lr is required unless base_lr is a range test result; received max_lr=None")
        for name, rate in (("base_lr", base_lr), ("max_lr", max_lr)):
            if _check_scale(owner, name, rate):
                break
        return base_lr, max_lr
    if max_lr is not None:
        raise ValueError(
            f"{owner}: pass either a range test result as base_lr (it gives both bounds) or two rates; "
            f"received a result and max_lr={max_lr!r}"
        )
    low, high = base_lr.cyclic_bounds_for(total_steps)
    if not base_lr.reliable or not (math.isfinite(low) and math.isfinite(high)) or not high > low:
        raise _unusable(owner, "cyclic bounds", base_lr)
    return float(low), float(high)
