"""Argument checks shared by schedules and callbacks.

Every check raises ``ValueError`` naming the object, the argument and the
value received, e.g. ``OneCycle: max_lr must be > 0; received max_lr=-1``.
"""

import math
import numbers

import keras
import numpy as np


def _fail(owner, name, requirement, value):
    raise ValueError(f"{owner}: {name} must be {requirement}; received {name}={_shown(value)}{result_hint(value)}")


def _shown(value):
    """``repr(value)``, or its type (and shape) where that is long (a DataFrame's is its whole table)."""
    text = repr(value)
    if len(text) <= 200 and "\n" not in text:
        return text
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):
        return f"<{kind} of shape {shape}>"
    return f"<{kind}: {text.splitlines()[0][:80]}...>"


def result_hint(value):
    """What to pass instead of a range test's result, or an optimizer, where a rate is wanted ('' for anything else)."""
    if isinstance(value, keras.optimizers.Optimizer):
        # PyTorch's schedulers take the optimizer first: OneCycleLR(optimizer, max_lr, ...).
        return (
            ". keras_lr's schedules and callbacks take no optimizer (PyTorch's schedulers do): the callbacks "
            "drive the optimizer the model was compiled with; pass the rates only"
        )
    if hasattr(type(value), "one_cycle_max_lr"):  # (the class's: an unreliable result's own raises)
        part = "A range test's result"
    elif isinstance(value, dict) and "valley" in value:
        part = "That is a range test's result.suggestions, a dict of rates; the result itself"
    elif "learning_rate" in getattr(value, "columns", ()) and "loss" in getattr(value, "columns", ()):
        part = "That is a range test's result.frame, its curve; the result itself"
    else:
        return ""
    return (
        f". {part} goes to the callbacks keras_lr.OneCycle(max_lr=result) and "
        "keras_lr.CyclicLR(result), which read it when the fit begins; elsewhere pass one of its rates, "
        "result.one_cycle_max_lr or result.suggestion"
    )


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_number(owner, name, value, *, low=None, high=None, low_open=False, high_open=False, low_name=None,
                 high_name=None):
    """Returns ``float(value)`` after checking it is a finite real in the range.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``;
    ``low_name``/``high_name`` name the argument a bound comes from, for the message.
    """
    if not _is_real(value) or not math.isfinite(value):
        _fail(owner, name, "a finite number", value)
    given, value = value, float(value)
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = f"{low_name} ({low:g})" if low_name else f"{low:g}" if low is not None else "-inf"
        hi = f"{high_name} ({high:g})" if high_name else f"{high:g}" if high is not None else "inf"
        if high is None:
            requirement = f"> {lo}" if low_open else f">= {lo}"
        elif low is None:
            requirement = f"< {hi}" if high_open else f"<= {hi}"
        else:
            requirement = f"in {left}{lo}, {hi}{right}"
        _fail(owner, name, requirement, given)
    return value


def check_int(owner, name, value, *, low=None):
    """Returns ``int(value)`` after checking it is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(owner, name, "an integer", value)
    if low is not None and value < low:
        _fail(owner, name, f"an integer >= {low}", value)
    return int(value)


def check_verbose(owner, value):
    """Returns ``verbose`` as an int >= 0: True and False as Keras's fit and callbacks take them (1 and 0)."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    return check_int(owner, "verbose", value, low=0)


def check_choice(owner, name, value, choices):
    """Returns ``value`` after checking it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        _fail(owner, name, f"one of {options}", value)
    return value


def check_bool(owner, name, value):
    """Returns ``value`` as a Python bool after checking it is one (a numpy bool included)."""
    if not isinstance(value, (bool, np.bool_)):
        _fail(owner, name, "True or False", value)
    return bool(value)


def python_scalars(arguments):
    """``arguments`` (a dict) with numpy scalars as Python's: a config Keras can write as JSON."""
    return {name: value.item() if isinstance(value, np.generic) else value for name, value in arguments.items()}


def check_momentum_pair(owner, base_momentum, max_momentum):
    """Checks ``base_momentum <= max_momentum``, both in [0, 1); None turns cycling off.

    With cycling off, ``max_momentum`` is still checked (its config keeps it) unless None.
    """
    if base_momentum is None:
        if max_momentum is not None:
            check_number(owner, "max_momentum", max_momentum, low=0.0, high=1.0, high_open=True)
        return None, None
    base_momentum = check_number(owner, "base_momentum", base_momentum, low=0.0, high=1.0, high_open=True)
    max_momentum = check_number(owner, "max_momentum", max_momentum, low=0.0, high=1.0, high_open=True)
    if max_momentum < base_momentum:
        raise ValueError(
            f"{owner}: max_momentum must be >= base_momentum; received "
            f"base_momentum={base_momentum!r}, max_momentum={max_momentum!r}"
        )
    return base_momentum, max_momentum
