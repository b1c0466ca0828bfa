"""Reprs built from `get_config`: the arguments that differ from their defaults, as one would type them."""

import inspect
import numbers
import warnings

import numpy as np


_LONGEST = 8  # items of a list shown (a PiecewiseConstantDecay of 5000 boundaries)


def _is_serialized(value):
    return isinstance(value, dict) and "class_name" in value and "config" in value


def _shown(value):
    """How an argument's value reads in a repr."""
    if isinstance(value, (bool, str)) or value is None:
        return repr(value)
    if isinstance(value, numbers.Real):
        return str(value) if isinstance(value, np.generic) else repr(value)  # np.float64(0.1) as 0.1
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # an array or tensor (validation data)
        return f"<{type(value).__name__} of shape {tuple(value.shape)}>"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {_shown(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        items = [_shown(item) for item in value[:_LONGEST]] + ([f"... {len(value) - _LONGEST} more"] if len(value) > _LONGEST else [])
        inner = ", ".join(items)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    if inspect.isfunction(value) or inspect.ismethod(value) or inspect.isbuiltin(value):
        return value.__name__
    if type(value).__repr__ is object.__repr__ and hasattr(value, "get_config"):
        # Keras's own schedules have no repr: written the same way, from their config.
        return config_repr(value)
    return repr(value)


def _equal(value, default):
    try:
        return bool(type(value) is type(default) and value == default)
    except Exception:  # an array's == is elementwise: never a default here
        return False


def config_repr(obj):
    """``Name(arg=value, ...)`` with the arguments of `obj.get_config()` that are not their defaults.

    A nested schedule, serialized in the config, is shown as the object the
    instance holds under that name.
    """
    name = type(obj).__name__
    try:
        params = inspect.signature(type(obj).__init__).parameters
    except (TypeError, ValueError):
        return object.__repr__(obj)
    try:
        with warnings.catch_warnings():  # Keras's warning that a lambda is serialized: nothing is, here
            warnings.simplefilter("ignore")
            config = obj.get_config()
    except Exception:  # a lambda without source cannot be serialized: the arguments as the instance holds them
        config = {key: obj.__dict__[key] for key in params if key in obj.__dict__}
    # In the order of the signature, then the rest of the config.
    order = [key for key in params if key in config] + [key for key in config if key not in params]
    parts = []
    for key in order:
        value = config[key]
        if _is_serialized(value) or (isinstance(value, (list, tuple)) and any(_is_serialized(item) for item in value)):
            value = obj.__dict__.get(key, value)
        param = params.get(key)
        if param is not None and param.default is not inspect.Parameter.empty and _equal(value, param.default):
            continue
        parts.append(f"{key}={_shown(value)}")
    return f"{name}({', '.join(parts)})"
