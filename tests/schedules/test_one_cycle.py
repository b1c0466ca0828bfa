import json
import math
import pathlib

import numpy as np
import pytest

from keras_lr.schedules import OneCycle, evaluate_momentum, evaluate_schedule

REFERENCE = json.loads(pathlib.Path(__file__).with_name("torch_reference.json").read_text())


def numpy_one_cycle(step, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
                    final_div_factor=1e4, three_phase=False, base_momentum=0.85, max_momentum=0.95):
    """Reference written from Smith & Topin's description and PyTorch's phase table."""
    initial = max_lr / div_factor
    final = initial / final_div_factor
    step = min(max(step, 0), total_steps - 1)
    if three_phase:
        phases = [(pct_start * total_steps - 1, initial, max_lr, max_momentum, base_momentum),
                  (2 * pct_start * total_steps - 2, max_lr, initial, base_momentum, max_momentum),
                  (total_steps - 1, initial, final, max_momentum, max_momentum)]
    else:
        phases = [(pct_start * total_steps - 1, initial, max_lr, max_momentum, base_momentum),
                  (total_steps - 1, max_lr, final, base_momentum, max_momentum)]

    def anneal(a, b, pct):
        if anneal_strategy == "cos":
            return b + (a - b) / 2 * (math.cos(math.pi * pct) + 1)
        return a + (b - a) * pct

    start = 0.0
    for i, (end, lr0, lr1, m0, m1) in enumerate(phases):
        if step <= end or i == len(phases) - 1:
            pct = (step - start) / (end - start) if end != start else 1.0
            return anneal(lr0, lr1, pct), anneal(m0, m1, pct)
        start = end
    raise AssertionError


CASES = [case["kwargs"] for case in REFERENCE["one_cycle"]]


@pytest.mark.parametrize("kwargs", CASES, ids=[str(i) for i in range(len(CASES))])
def test_matches_numpy_reference_over_sweep(kwargs):
    schedule = OneCycle(**kwargs)
    total = kwargs["total_steps"]
    pct = kwargs.get("pct_start", 0.3)
    boundaries = [int(pct * total) - 1, int(pct * total), int(2 * pct * total) - 2, int(2 * pct * total) - 1]
    steps = sorted({0, 1, total - 2, total - 1, total, total + 1, 10 * total, *range(total)}
                   | {b for b in boundaries if b >= 0})
    expected = np.array([numpy_one_cycle(s, **kwargs) for s in steps])
    np.testing.assert_allclose(evaluate_schedule(schedule, steps), expected[:, 0], rtol=2e-5, atol=1e-9)
    np.testing.assert_allclose(evaluate_momentum(schedule, steps), expected[:, 1], rtol=2e-5)


@pytest.mark.parametrize("case", REFERENCE["one_cycle"], ids=[str(i) for i in range(len(CASES))])
def test_matches_pytorch_one_cycle_lr(case):
    schedule = OneCycle(**case["kwargs"])
    steps = np.arange(len(case["lr"]))
    np.testing.assert_allclose(evaluate_schedule(schedule, steps), case["lr"], rtol=2e-5, atol=1e-9)
    np.testing.assert_allclose(evaluate_momentum(schedule, steps), case["momentum"], rtol=2e-5)
    np.testing.assert_allclose(evaluate_momentum(schedule, steps), case["beta_1"], rtol=2e-5)


@pytest.mark.parametrize("anneal_strategy", ["linear", "cos"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_the_anneal_ends_at_final_lr_to_float32_precision(anneal_strategy, three_phase):
    # PyTorch's (end - start) * pct + start gave 4.02e-7 for 4e-7 at the last step in float32.
    for total in (100, 257, 5000):
        schedule = OneCycle(0.1, total, pct_start=0.25, anneal_strategy=anneal_strategy, three_phase=three_phase)
        steps = np.arange(total)
        expected = np.array([numpy_one_cycle(s, 0.1, total, pct_start=0.25, anneal_strategy=anneal_strategy,
                                             three_phase=three_phase)[0] for s in steps])
        np.testing.assert_allclose(evaluate_schedule(schedule, steps), expected, rtol=5e-6)
        assert evaluate_schedule(schedule, [total - 1])[0] == pytest.approx(schedule.final_lr, rel=1e-6)


@pytest.mark.parametrize("div_factor, total", [(25.0, 1000), (1e3, 1000), (1e4, 12345)])
@pytest.mark.parametrize("three_phase", [False, True])
def test_the_warmup_is_read_from_its_small_end_to_float32_precision(div_factor, total, three_phase):
    # end + (start - end) * sin^2 cancels near the warm-up's start, where start is small: 4e-6 off PyTorch's
    # float64 at step 3 by default, 1e-3 at div_factor=1e4.
    schedule = OneCycle(0.3, total, div_factor=div_factor, three_phase=three_phase)
    steps = np.arange(total)
    expected = [numpy_one_cycle(s, 0.3, total, div_factor=div_factor, three_phase=three_phase)[0] for s in steps]
    np.testing.assert_allclose(evaluate_schedule(schedule, steps), expected, rtol=3e-6)


@pytest.mark.parametrize("anneal_strategy", ["linear", "cos"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_a_phase_ending_between_steps_of_a_long_cycle_keeps_float32_precision(anneal_strategy, three_phase):
    # A phase's end (2 * 0.45 * 100003 - 2 = 90000.7) rounded to float32 (90000.703) before the steps to it
    # were counted: 0.27% off PyTorch's float64 where the fall back to the start rate ends (three_phase).
    total, pct = 100003, 0.45
    schedule = OneCycle(0.1, total, pct_start=pct, div_factor=1e5, anneal_strategy=anneal_strategy,
                        three_phase=three_phase)
    ends = [pct * total - 1, 2 * pct * total - 2]
    steps = sorted({s for end in ends for s in range(int(end) - 3, int(end) + 4)}
                   | set(range(0, total, 997)) | {total - 2, total - 1})
    expected = [numpy_one_cycle(s, 0.1, total, pct_start=pct, div_factor=1e5, anneal_strategy=anneal_strategy,
                                three_phase=three_phase)[0] for s in steps]
    np.testing.assert_allclose(evaluate_schedule(schedule, steps), expected, rtol=3e-6)


def test_holds_final_value_past_total_steps():
    schedule = OneCycle(max_lr=0.1, total_steps=20)
    values = evaluate_schedule(schedule, [19, 20, 21, 1000, 10**6])
    np.testing.assert_allclose(values, values[0])
    assert values[0] == pytest.approx(0.1 / 25 / 1e4, rel=1e-5)


def test_peak_and_ends():
    schedule = OneCycle(max_lr=0.2, total_steps=100, pct_start=0.25)
    values = evaluate_schedule(schedule, np.arange(100))
    assert int(np.argmax(values)) == 24
    assert values[0] == pytest.approx(0.2 / 25, rel=1e-5)
    assert evaluate_momentum(schedule, [24])[0] == pytest.approx(0.85, rel=1e-6)


def test_momentum_off():
    schedule = OneCycle(max_lr=0.1, total_steps=10, base_momentum=None)
    assert schedule.momentum(3) is None
    assert evaluate_momentum(schedule, [0, 1]) is None


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(max_lr=0), "max_lr"),
        (dict(max_lr=-0.1), "max_lr"),
        (dict(max_lr=float("nan")), "max_lr"),
        (dict(max_lr="0.1"), "max_lr"),
        (dict(total_steps=0), "total_steps"),
        (dict(total_steps=10.5), "total_steps"),
        (dict(pct_start=0.0), "pct_start"),
        (dict(pct_start=1.0), "pct_start"),
        (dict(pct_start=1.5), "pct_start"),
        (dict(pct_start=0.5, three_phase=True), r"pct_start must be below 0.5 with three_phase=True \(the rise"),
        (dict(anneal_strategy="cosine"), "anneal_strategy"),
        (dict(div_factor=0), "div_factor"),
        (dict(final_div_factor=-1), "final_div_factor"),
        (dict(three_phase="yes"), "three_phase"),
        (dict(base_momentum=-0.1), "base_momentum"),
        (dict(base_momentum=1.0), "base_momentum"),
        (dict(max_momentum=1.0), "max_momentum"),
        (dict(base_momentum=0.95, max_momentum=0.9), "max_momentum"),
        (dict(base_momentum=None, max_momentum="junk"), "max_momentum"),
        (dict(base_momentum=None, max_momentum=float("nan")), "max_momentum"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    arguments = dict(max_lr=0.1, total_steps=100)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=rf"OneCycle: {name}"):
        OneCycle(**arguments)
