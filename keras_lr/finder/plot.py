"""The range test's figure. matplotlib is imported only when it is drawn."""

import numpy as np

_MARKERS = {"valley": "o", "steep": "v", "minimum": "s", "slide": "D"}


def plot_range_test(result, ax=None, suggestions=True):
    """Plots a range test's loss against the learning rate (log scale).

    The raw loss is drawn faint, the smoothed loss (or the validation loss)
    solid, and each suggestion is marked on the curve, with the bounds of
    `result.cyclic_bounds()` as a shaded band.

    Args:
        result: An `LRFinderResult`.
        ax: A matplotlib Axes to draw on, or None for a new figure.
        suggestions: Bool. Whether to mark the suggestions.

    Returns:
        The matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    frame = result.frame
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    rates = frame["learning_rate"].to_numpy()
    curve = frame["smoothed_loss"].to_numpy()
    ax.plot(rates, frame["loss"].to_numpy(), color="tab:blue", alpha=0.3, label="loss")
    ax.plot(rates, curve, color="tab:blue", label="smoothed loss")
    if "val_loss" in frame:
        curve = frame["val_loss"].to_numpy()
        ax.plot(rates, curve, color="tab:green", label="validation loss")
    if suggestions and len(rates):
        order = np.argsort(rates)
        for name, rate in result.suggestions.items():
            if np.isfinite(rate):
                at = np.interp(np.log(rate), np.log(rates[order]), curve[order])
                ax.plot([rate], [at], _MARKERS[name], markersize=8, label=f"{name}: {rate:.2g}")
        low, high = result.cyclic_bounds()
        if np.isfinite(low) and np.isfinite(high):
            ax.axvspan(low, high, color="tab:orange", alpha=0.1, label=f"cyclic bounds {low:.2g}-{high:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(result.monitor)
    finite = curve[np.isfinite(curve)]
    if finite.size:
        low, high = finite.min(), finite.max()
        ax.set_ylim(low - 0.05 * (high - low), min(high, finite[0] + 2 * (finite[0] - low)) + 0.05 * (high - low))
    title = "learning-rate range test"
    if not result.reliable:
        title += " (unreliable: " + "; ".join(result.reasons) + ")"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax
