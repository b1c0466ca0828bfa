"""Matplotlib figures. matplotlib is imported only when a figure is drawn.

`plot_range_test` lives with the range test (`keras_lr.finder.plot`) and
`plot_results` with tuning (`keras_lr.tuning.results`); both are re-exported here.
"""

import numpy as np

from keras_lr import _validation as v
from keras_lr.finder.plot import check_ax, check_save, finish
from keras_lr.finder.plot import plot_range_test as plot_range_test
from keras_lr.schedules import evaluate_momentum, evaluate_schedule
from keras_lr.schedules._base import check_schedule
from keras_lr.tuning.results import plot_results as plot_results


def plot_schedule(schedule, steps, ax=None, save=None):
    """Plots a schedule's learning rate (and momentum, where it has one) over the steps.

    Example:

    >>> from keras_lr.schedules import OneCycle
    >>> figure = plot_schedule(OneCycle(max_lr=0.1, total_steps=100), steps=120)
    >>> [axis.get_ylabel() for axis in figure.axes]
    ['learning rate', 'momentum']

    Args:
        schedule: A `LearningRateSchedule`, a callable of the step, or a number.
        steps: Integer (plots steps `0 .. steps - 1`, must be >= 1) or a
            sequence of steps.
        ax: A matplotlib Axes to draw on, or None for a new figure.
        save: None, or a path to save the figure to (any format matplotlib
            writes), as `plot_range_test` and `plot_results` take it.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: for a bad schedule, `steps` or `ax`.
    """
    import matplotlib.pyplot as plt

    schedule = check_schedule("plot_schedule", "schedule", schedule)
    if isinstance(steps, (list, tuple, range, np.ndarray)):
        steps = np.asarray(steps)
        if steps.ndim != 1 or steps.size == 0:
            raise ValueError(f"plot_schedule: steps must be a non-empty 1-D sequence; received steps={steps!r}")
    else:
        steps = np.arange(v.check_int("plot_schedule", "steps", steps, low=1))
    check_ax("plot_schedule", ax)
    check_save("plot_schedule", save)
    own = ax is None
    rates = evaluate_schedule(schedule, steps)
    momenta = evaluate_momentum(schedule, steps)
    if ax is None:
        figure, ax = plt.subplots(figsize=(7, 3.5))
    else:
        figure = ax.figure
    ax.plot(steps, rates, color="tab:blue")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title(_title(schedule))
    if momenta is not None:
        twin = ax.twinx()
        twin.plot(steps, momenta, color="tab:orange", linestyle="--")
        twin.set_ylabel("momentum")
    return finish(figure, save, own)


def _title(schedule):
    """A schedule's class name; a function's own name; "constant 0.01" for a number."""
    if isinstance(schedule, float):
        return f"constant {schedule:g}"
    name = getattr(schedule, "__name__", None)
    if name is not None and not isinstance(schedule, type):
        return name
    return type(schedule).__name__
