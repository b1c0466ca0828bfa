import warnings

import keras
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import keras_lr  # noqa: E402
from keras_lr import plot_schedule  # noqa: E402
from keras_lr.schedules import CyclicLR, evaluate_schedule  # noqa: E402


def test_plot_draws_the_rate_and_momentum_curves():
    schedule = CyclicLR(0.001, 0.01, step_size_up=5)
    figure = plot_schedule(schedule, 30)
    rate_line = figure.axes[0].lines[0]
    np.testing.assert_array_equal(rate_line.get_xdata(), np.arange(30))
    np.testing.assert_allclose(rate_line.get_ydata(), evaluate_schedule(schedule, range(30)))
    assert figure.axes[1].get_ylabel() == "momentum"


def test_plot_without_momentum_and_on_given_axes():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    figure = plot_schedule(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), [0, 5, 10], ax=ax)
    assert figure is ax.figure and len(figure.axes) == 1
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.1, 0.1 * 0.5**0.5, 0.05], rtol=1e-6)
    figure = plot_schedule(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), range(0, 11, 5))  # a sequence
    np.testing.assert_allclose(figure.axes[0].lines[0].get_ydata(), [0.1, 0.1 * 0.5**0.5, 0.05], rtol=1e-6)


def test_plot_schedule_saves_from_a_script_and_names_what_it_drew(tmp_path):
    # As plot_range_test: a save path (it had none), a bad ax named (it failed with AttributeError), and a
    # title that says what was plotted ("function" and "float" had).
    figure = plot_schedule(CyclicLR(0.001, 0.01, step_size_up=5), 30, save=tmp_path / "schedule.png")
    assert (tmp_path / "schedule.png").stat().st_size > 0 and figure.axes[0].get_title() == "CyclicLR"

    def halving(step):
        return 0.1 * 0.5 ** (step / 10)

    assert plot_schedule(halving, 20).axes[0].get_title() == "halving"
    assert plot_schedule(0.01, 20).axes[0].get_title() == "constant 0.01"
    with pytest.raises(ValueError, match=r"plot_schedule: ax must be a matplotlib Axes or None; received ax='x'"):
        plot_schedule(0.01, 20, ax="x")


@pytest.mark.parametrize("steps", [0, -3, [], "100"])
def test_bad_steps(steps):
    with pytest.raises(ValueError, match="plot_schedule: steps"):
        plot_schedule(0.1, steps)


@pytest.mark.parametrize(
    "callback, hint",
    [
        (lambda: keras_lr.OneCycle(0.01), r"keras_lr.OneCycle is a callback, which sizes its schedule to the fit; "
                                          r"pass the schedule keras_lr.schedules.OneCycle\(max_lr, total_steps\)"),
        (lambda: keras_lr.CyclicLR(0.001, 0.01), r"pass the schedule keras_lr.schedules.CyclicLR\(base_lr, max_lr, "
                                                 r"step_size_up\)"),
        (lambda: keras_lr.Scheduler(CyclicLR(0.001, 0.01)), r"keras_lr.Scheduler is a callback; pass its schedule, "
                                                            r"callback.schedule"),
        (lambda: keras_lr.ReduceLROnPlateau(), r"ReduceLROnPlateau is a callback that changes the rate as training "
                                               r"goes, with no schedule to pass here"),
    ],
)
def test_a_callback_is_refused_with_the_schedule_to_plot(callback, hint):
    with pytest.raises(ValueError, match="plot_schedule: schedule must be a LearningRateSchedule.*" + hint):
        plot_schedule(callback(), 100)


@pytest.mark.parametrize("function", ["evaluate_schedule", "evaluate_momentum"])
def test_evaluating_a_callback_says_which_schedule_to_pass(function):
    from keras_lr import schedules

    with pytest.raises(ValueError, match=rf"{function}: schedule must be a LearningRateSchedule.*"
                                         r"pass the schedule keras_lr.schedules.OneCycle\(max_lr, total_steps\)"):
        getattr(schedules, function)(keras_lr.OneCycle(0.01), [0, 1])


@pytest.mark.parametrize("steps", [None, "100", [1, None], [True, False], float("nan")])
@pytest.mark.parametrize("function", ["evaluate_schedule", "evaluate_momentum"])
def test_evaluating_at_steps_that_are_not_numbers_names_them(function, steps):
    # None gave NaN, silently; a string numpy's own error, naming neither the function nor the argument.
    from keras_lr import schedules

    with pytest.raises(ValueError, match=rf"{function}: steps must be optimizer steps"):
        getattr(schedules, function)(CyclicLR(0.001, 0.01), steps)


def test_a_callbacks_rate_before_any_fit_says_where_to_read_it():
    with pytest.raises(ValueError, match=r"OneCycle.rate_at: no fit has run .*schedule_for_last_fit.*"
                                         r"keras_lr.schedules.OneCycle\(max_lr, total_steps\)"):
        keras_lr.OneCycle(0.01, total_steps=10).rate_at(3)


def test_plot_range_test_names_a_result_that_is_not_one():
    # None had failed with "'NoneType' object has no attribute 'frame'".
    with pytest.raises(ValueError, match=r"plot_range_test: result must be an LRFinderResult .*; received result=None"):
        keras_lr.plot_range_test(None)


def _validation_result():
    import pandas as pd

    from keras_lr.finder import LRFinderResult

    rates = np.logspace(-5, 0, 80)
    rng = np.random.default_rng(0)
    losses = 2 - 1.5 / (1 + np.exp(-(np.log10(rates) + 2.5) / 0.3)) + np.maximum(np.log10(rates) + 0.8, 0) * 20
    frame = pd.DataFrame({"learning_rate": rates, "loss": losses + rng.normal(0, 0.1, 80),
                          "val_loss": losses + rng.normal(0, 0.3, 80)})
    return LRFinderResult(frame, warn=False)


def test_a_validation_test_is_drawn_and_marked_on_the_smoothed_validation_loss():
    # The suggestions read the smoothed validation loss, which was not drawn: the markers sat on the raw, noisy
    # points (the valley 0.43 below the curve it was read from), and the solid line was the training loss's.
    result = _validation_result()
    ax = result.plot().axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    smoothed = lines["smoothed validation loss"]
    rates, curve = smoothed.get_xdata(), smoothed.get_ydata()
    valley = lines[f"valley: {result.valley:.2g}"]
    expected = np.interp(np.log(result.valley), np.log(rates), curve)
    assert valley.get_ydata()[0] == pytest.approx(expected)


@pytest.mark.parametrize("arguments, message", [
    (dict(ax="x"), r"ax must be a matplotlib Axes or None; received ax='x'"),
    (dict(save=123), r"save must be None, a path \(a string or a pathlib.Path\) or a file object, as savefig "
                     r"takes; received save=123"),
    (dict(suggestions="valley"), r"suggestions must be True or False; received suggestions='valley'"),
])
def test_plot_range_test_names_a_bad_argument(arguments, message):
    with pytest.raises(ValueError, match="plot_range_test: " + message):
        _validation_result().plot(**arguments)


def test_plot_range_test_saves_to_a_file_object_as_savefig_does():
    import io

    buffer = io.BytesIO()
    _validation_result().plot(save=buffer)
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_drawing_on_a_figure_of_ones_own_keeps_its_layout():
    # tight_layout() on the caller's figure switched off its constrained layout (with matplotlib's warning).
    figure, axes = plt.subplots(1, 2, layout="constrained")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # matplotlib's, of a layout engine switched off
        _validation_result().plot(ax=axes[0])
        plot_schedule(CyclicLR(0.001, 0.01, step_size_up=10), 40, ax=axes[1])
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    assert isinstance(figure.get_layout_engine(), ConstrainedLayoutEngine)  # tight_layout would replace it
    plt.close(figure)
