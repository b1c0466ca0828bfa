"""LRFinderResult from a made-up curve: frame, suggestions, reliability, plot."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from keras_lr.finder import LRFinderResult  # noqa: E402
from keras_lr.finder import suggestions as s  # noqa: E402
from tests.finder.test_suggestions import RATES, valley_curve  # noqa: E402


def frame(losses, rates=RATES):
    return pd.DataFrame({"learning_rate": rates, "loss": losses, "smoothed_loss": s.smooth(losses)})


def test_suggestions_come_from_the_smoothed_curve():
    rng = np.random.default_rng(0)
    losses = valley_curve() + rng.normal(0.0, 0.05, size=len(RATES))
    result = LRFinderResult(frame(losses))
    smoothed = s.smooth(losses)
    assert result.reliable and result.reasons == []
    assert result.suggestions == {
        "valley": s.valley(RATES, smoothed),
        "steep": s.steep(RATES, smoothed),
        "minimum": s.minimum(RATES, smoothed),
        "slide": s.slide(RATES, smoothed),
    }
    assert result.suggestion == result.suggestions["valley"]
    assert result.cyclic_bounds() == s.cyclic_bounds(RATES, smoothed)
    assert result.one_cycle_max_lr == result.cyclic_bounds()[1]
    assert "valley=" in repr(result)


def test_validation_loss_drives_the_suggestions_when_present():
    data = frame(valley_curve())
    shifted = valley_curve(np.log10(RATES) - 1.0)  # the same valley, a decade higher
    data["val_loss"] = shifted
    result = LRFinderResult(data)
    assert result.monitor == "val_loss"
    assert result.suggestion == pytest.approx(10 * s.valley(RATES, valley_curve()), rel=0.13)


def test_an_unreliable_curve_warns_and_says_why():
    flat = 2.0 + np.random.default_rng(1).normal(0.0, 0.002, size=len(RATES))
    with pytest.warns(UserWarning, match="cannot support a suggestion: the loss never fell"):
        result = LRFinderResult(frame(flat))
    assert not result.reliable and result.reasons == ["the loss never fell"]
    assert "unreliable: the loss never fell" in repr(result)


def test_plot_marks_every_suggestion():
    result = LRFinderResult(frame(valley_curve()))
    ax = result.plot()
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    for name in ("valley", "steep", "minimum", "slide", "cyclic bounds"):
        assert any(label.startswith(name) for label in labels), name
    assert ax.get_xscale() == "log"
    bare = result.plot(suggestions=False)
    assert [t.get_text() for t in bare.get_legend().get_texts()] == ["loss", "smoothed loss"]
