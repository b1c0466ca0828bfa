import json
import math
import pathlib

import numpy as np
import pytest

from keras_lr.schedules import CyclicLR, evaluate_momentum, evaluate_schedule

REFERENCE = json.loads(pathlib.Path(__file__).with_name("torch_reference.json").read_text())


def numpy_cyclic(step, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular", gamma=1.0,
                 base_momentum=0.8, max_momentum=0.9):
    """Reference from Smith 2017: a triangle wave with a per-cycle or per-step amplitude."""
    down = step_size_up if step_size_down is None else step_size_down
    total = step_size_up + down
    cycle = math.floor(step / total)
    into = step - cycle * total
    position = into / step_size_up if into <= step_size_up else 1 - (into - step_size_up) / down
    amplitude = {"triangular": 1.0, "triangular2": 0.5 ** cycle, "exp_range": gamma ** step}[mode]
    lr = base_lr + (max_lr - base_lr) * position * amplitude
    momentum = max_momentum - (max_momentum - base_momentum) * position * amplitude
    return lr, momentum


CASES = [case["kwargs"] for case in REFERENCE["cyclic"]]


@pytest.mark.parametrize("kwargs", CASES, ids=[str(i) for i in range(len(CASES))])
def test_matches_numpy_reference_over_sweep(kwargs):
    schedule = CyclicLR(**kwargs)
    up = kwargs["step_size_up"]
    down = kwargs.get("step_size_down") or up
    boundaries = [math.floor(up), math.ceil(up), math.floor(up + down), 2 * math.floor(up + down)]
    steps = sorted({0, 1, *boundaries, 59, 60, 1000, *range(40)})
    expected = np.array([numpy_cyclic(s, **kwargs) for s in steps])
    np.testing.assert_allclose(evaluate_schedule(schedule, steps), expected[:, 0], rtol=3e-5, atol=1e-7)
    np.testing.assert_allclose(evaluate_momentum(schedule, steps), expected[:, 1], rtol=3e-5, atol=1e-7)


@pytest.mark.parametrize("case", REFERENCE["cyclic"], ids=[str(i) for i in range(len(CASES))])
def test_matches_pytorch_cyclic_lr(case):
    schedule = CyclicLR(**case["kwargs"])
    steps = np.arange(len(case["lr"]))
    np.testing.assert_allclose(evaluate_schedule(schedule, steps), case["lr"], rtol=3e-5, atol=1e-7)
    np.testing.assert_allclose(evaluate_momentum(schedule, steps), case["momentum"], rtol=3e-5, atol=1e-7)
    np.testing.assert_allclose(evaluate_momentum(schedule, steps), case["beta_1"], rtol=3e-5, atol=1e-7)


@pytest.mark.parametrize("step_size_up", [2.5, 2000])
def test_the_position_in_the_cycle_stays_exact_over_long_training(step_size_up):
    # `1 + step / total - floor(1 + step / total)` in float32 lost the position as the step grew: 0.4% off
    # PyTorch's float64 by step 80,000 of a 5-step cycle (1.5e-3 by a million steps of the default's).
    steps = np.arange(0, 1_000_000, 997) if step_size_up == 2000 else np.arange(80_000, 100_000)
    expected = [numpy_cyclic(int(s), 1e-4, 1e-2, step_size_up)[0] for s in steps]
    got = evaluate_schedule(CyclicLR(1e-4, 1e-2, step_size_up=step_size_up), steps)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("kwargs, steps", [
    # gamma ** step in float32: float32's rounding of gamma grew with the step, 0.1% off by step 102,000.
    (dict(step_size_up=2000, mode="exp_range", gamma=0.99999), np.arange(0, 300_000, 997)),
    # (x - 1) / (ratio - 1) cancels where the fall is short: 2.4e-5 off for 2000 steps up and 5 down.
    (dict(step_size_up=2000, step_size_down=5), np.arange(0, 20_000, 7)),
])
def test_long_and_lopsided_cycles_keep_float32_precision(kwargs, steps):
    expected = [numpy_cyclic(int(s), 1e-4, 1e-2, **kwargs)[0] for s in steps]
    np.testing.assert_allclose(evaluate_schedule(CyclicLR(1e-4, 1e-2, **kwargs), steps), expected, rtol=2e-6)


def test_triangular2_halves_each_cycle():
    schedule = CyclicLR(0.0, 1.0, step_size_up=10)
    halving = CyclicLR(0.0, 1.0, step_size_up=10, mode="triangular2")
    peaks = evaluate_schedule(halving, [10, 30, 50])
    np.testing.assert_allclose(peaks, [1.0, 0.5, 0.25], rtol=1e-6)
    np.testing.assert_allclose(evaluate_schedule(schedule, [10, 30, 50]), [1.0, 1.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(base_lr=-0.1), "base_lr"),
        (dict(max_lr=0.001), "max_lr"),
        (dict(max_lr=0.0005), "max_lr"),
        (dict(step_size_up=0), "step_size_up"),
        (dict(step_size_up=-3), "step_size_up"),
        (dict(step_size_down=0), "step_size_down"),
        (dict(mode="sawtooth"), "mode"),
        (dict(gamma=0.0), "gamma"),
        (dict(gamma=1.5), "gamma"),
        (dict(base_momentum=1.2), "base_momentum"),
        (dict(base_momentum=0.9, max_momentum=0.8), "max_momentum"),
        (dict(base_momentum=None, max_momentum=-5), "max_momentum"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    arguments = dict(base_lr=0.001, max_lr=0.01)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=rf"CyclicLR: {name}"):
        CyclicLR(**arguments)


def test_bad_arguments_are_echoed_as_given_and_the_bound_is_named():
    # "max_lr must be > 0.1" did not say that 0.1 was base_lr; and 0 came back as 0.0.
    with pytest.raises(ValueError, match=r"^CyclicLR: max_lr must be > base_lr \(0.1\); received max_lr=0.01$"):
        CyclicLR(0.1, 0.01)
    with pytest.raises(ValueError, match=r"step_size_up must be > 0; received step_size_up=0$"):
        CyclicLR(0.001, 0.01, step_size_up=0)
