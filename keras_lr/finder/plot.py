"""The range test's figure. matplotlib is imported only when it is drawn."""

import os

import numpy as np

from keras_lr import _validation as v

_MARKERS = {"valley": "o", "steep": "v", "minimum": "s", "slide": "D", "one_cycle_max_lr": "*"}


def _limits(curve, usable):
    """y-limits that show the usable curve whole, and the rise only as far as twice its fall."""
    shown = curve[usable & np.isfinite(curve)]
    if not shown.size:
        shown = curve[np.isfinite(curve)]
    if not shown.size:
        return None
    low, high = float(shown.min()), float(shown.max())
    span = high - low or max(abs(high), 1.0) * 0.1
    return low - 0.08 * span, high + 0.25 * span


def plot_range_test(result, ax=None, suggestions=True, save=None):
    """Plots a range test's loss against the learning rate (log scale).

    The raw loss is drawn faint and the smoothed loss solid (from a test
    on validation data, the validation loss too, raw and smoothed, which
    the suggestions read), and each suggestion is marked on the curve it
    was read from (suggestions at one rate share a marker, labelled
    "steep = slide: 0.002", say), with the bounds of
    `result.cyclic_bounds()` as a shaded band and the rate where the loss
    rose for good as a dotted line. The y-limits show the whole part of the
    curve the suggestions are read from (the divergent tail runs off the
    top), and a suggestion is marked only where it lies within the range
    of rates the test tried (the `minimum` can lie below it).

    Example:

    >>> import numpy as np, pandas as pd
    >>> from keras_lr.finder import LRFinderResult
    >>> rates = np.logspace(-5, 0, 60)
    >>> losses = 2 - 1.5 / (1 + np.exp(-(np.log10(rates) + 2.5) / 0.3)) + np.maximum(np.log10(rates) + 0.8, 0) * 20
    >>> result = LRFinderResult(pd.DataFrame({"learning_rate": rates, "loss": losses}))
    >>> figure = plot_range_test(result)
    >>> figure.axes[0].get_xscale()
    'log'

    Args:
        result: An `LRFinderResult`.
        ax: A matplotlib Axes to draw on, or None for a new figure (whose
            layout is made tight; a figure of yours keeps its own).
        suggestions: Bool. Whether to mark the suggestions.
        save: None, or a path to save the figure to (any format matplotlib
            writes).

    Returns:
        The matplotlib Figure (as `plot_schedule` and `plot_results`).
    """
    import matplotlib.pyplot as plt

    from keras_lr.finder.result import LRFinderResult

    owner = "plot_range_test"
    if not isinstance(result, LRFinderResult):
        v._fail(owner, "result", "an LRFinderResult (what keras_lr.lr_find returns)", result)
    check_ax(owner, ax)
    suggestions = v.check_bool(owner, "suggestions", suggestions)
    check_save(owner, save)
    frame = result.frame
    own = ax is None
    if own:
        figure, ax = plt.subplots(figsize=(7, 4))
    else:
        figure = ax.figure
    rates = frame["learning_rate"].to_numpy(dtype=np.float64)
    curve = frame["smoothed_loss"].to_numpy(dtype=np.float64)
    ax.plot(rates, frame["loss"].to_numpy(), color="tab:blue", alpha=0.3, label="loss")
    ax.plot(rates, curve, color="tab:blue", label="smoothed loss")
    if "val_loss" in frame:
        # What the suggestions read: the validation loss smoothed (its raw points drawn faint).
        ax.plot(rates, frame["val_loss"].to_numpy(dtype=np.float64), color="tab:green", alpha=0.3,
                label="validation loss")
        curve = np.asarray(getattr(result, "_smoothed", frame["val_loss"]), dtype=np.float64)
        ax.plot(rates, curve, color="tab:green", label="smoothed validation loss")
    usable = getattr(result, "usable", np.isfinite(curve))
    tested = rates[np.isfinite(rates) & (rates > 0)]
    if suggestions and tested.size:
        order = np.argsort(rates)
        marks = dict(result.suggestions)
        marks["one_cycle_max_lr"] = result._peak  # marked on an unreliable curve too, whose title says so
        named = {}  # rate: the suggestions at it (two at one rate were two markers, the second hiding the first)
        for name, rate in marks.items():
            # Only at rates the test tried: a suggestion outside them has no point on the curve.
            if np.isfinite(rate) and tested.min() <= rate <= tested.max():
                named.setdefault(rate, []).append("OneCycle peak" if name == "one_cycle_max_lr" else name)
        for rate, names in named.items():
            at = np.interp(np.log(rate), np.log(rates[order]), curve[order])
            first = "one_cycle_max_lr" if names[0] == "OneCycle peak" else names[0]
            ax.plot([rate], [at], _MARKERS[first], markersize=10 if first == "one_cycle_max_lr" else 8,
                    label=f"{' = '.join(names)}: {rate:.2g}")
        low, high = result.cyclic_bounds()
        if np.isfinite(low) and np.isfinite(high):
            ax.axvspan(low, high, color="tab:orange", alpha=0.1, label=f"cyclic bounds {low:.2g}-{high:.2g}")
        rise = getattr(result, "rise_lr", float("nan"))
        if np.isfinite(rise):
            ax.axvline(rise, color="tab:red", linestyle=":", label=f"loss rose for good: {rise:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(result.monitor)
    limits = _limits(curve, np.asarray(usable, dtype=bool))
    if limits is not None:
        ax.set_ylim(*limits)
    title = "learning-rate range test"
    if not result.reliable:
        title += " (unreliable: " + "; ".join(result.reasons) + ")"
    ax.set_title(title, fontsize=10, wrap=True)
    ax.legend(fontsize=8)
    return finish(figure, save, own)


def check_ax(owner, ax):
    if ax is not None and not (hasattr(ax, "plot") and hasattr(ax, "figure")):
        v._fail(owner, "ax", "a matplotlib Axes or None", ax)


def check_save(owner, save):
    if save is not None and not isinstance(save, (str, os.PathLike)) and not hasattr(save, "write"):
        v._fail(owner, "save", "None, a path (a string or a pathlib.Path) or a file object, as savefig takes",
                save)


def finish(figure, save, own=True):
    """Makes the layout of a figure of ours (``own``) tight, saves ``figure`` to ``save`` (a path, or None: not
    saved); returns it. (A figure of the caller's, drawn on through ``ax``, keeps its layout: tight_layout
    overrode its subplots_adjust and switched off a constrained layout.)"""
    if own:
        figure.tight_layout()
    if save is not None:
        figure.savefig(save, dpi=100, bbox_inches="tight")
    return figure
