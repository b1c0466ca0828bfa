"""Rates taken from a range test's result (`LRFinderResult`) in place of numbers."""

import math


def is_range_test_result(value):
    # Duck-typed, so the callbacks do not import the finder (which imports them).
    return hasattr(value, "one_cycle_max_lr") and hasattr(value, "cyclic_bounds")


def _unusable(owner, what, result):
    reasons = "; ".join(getattr(result, "reasons", [])) or "the curve gives no such rate"
    return ValueError(f"{owner}: the range test result has no usable {what} ({reasons}); pass the rate as a number.")


def rate_from_result(owner, name, value, pick):
    """``value``, or the rate ``pick(value)`` when it is a range test result."""
    if not is_range_test_result(value):
        return value
    rate = pick(value)
    if rate is None or not math.isfinite(rate):
        raise _unusable(owner, name, value)
    return float(rate)


def bounds_from_result(owner, base_lr, max_lr):
    """(base_lr, max_lr), from a range test result passed as ``base_lr``."""
    if not is_range_test_result(base_lr):
        if max_lr is None:
            raise ValueError(f"{owner}: max_lr is required unless base_lr is a range test result; received max_lr=None")
        return base_lr, max_lr
    if max_lr is not None:
        raise ValueError(
            f"{owner}: pass either a range test result as base_lr (it gives both bounds) or two rates; "
            f"received a result and max_lr={max_lr!r}"
        )
    low, high = base_lr.cyclic_bounds()
    if not (math.isfinite(low) and math.isfinite(high)) or not high > low:
        raise _unusable(owner, "cyclic bounds", base_lr)
    return float(low), float(high)
