"""Warnings that point at the user's line, not at keras_lr's.

A warning raised inside a callback is several libraries deep (keras_lr, then
Keras's fit, then the user's `fit` or `lr_find` call). Python shows a warning
once per place it points at: pointing it at keras_lr's line would show the
first of many different calls only, and tell the user nothing about where
the call was.
"""

import sys
import warnings

# Packages whose frames are not the user's.
_LIBRARIES = {"keras_lr", "keras", "keras_tuner", "tensorflow", "jax", "jaxlib", "torch", "optree", "tree"}


def _is_library(frame):
    return frame.f_globals.get("__name__", "").split(".")[0] in _LIBRARIES


def warn(message, category=UserWarning):
    """Issues ``message`` at the first calling frame outside keras_lr and the libraries it runs in."""
    frame = sys._getframe(1)
    while frame is not None and _is_library(frame):
        frame = frame.f_back
    if frame is None:  # a hook on one of Keras's threads: no user frame above it
        warnings.warn(message, category, stacklevel=2)
        return
    where = dict(
        module=frame.f_globals.get("__name__"),
        registry=frame.f_globals.setdefault("__warningregistry__", {}),
    )
    try:  # module_globals lets Python show the line of a module imported from a zip, say
        warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno, **where,
                               module_globals=frame.f_globals)
        return
    except ImportError:
        # `python -c`, `python -` and the plain REPL: __main__'s loader, the builtin importer, cannot
        # give its source and raises (warnings.warn never asks it). The line is shown without it,
        # outside this handler, so a warning turned into an error does not carry the ImportError.
        pass
    warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno, **where)
