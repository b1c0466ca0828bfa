"""Properties that hold for every valid argument set (hypothesis)."""

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keras_lr.schedules import CyclicLR, OneCycle, evaluate_momentum, evaluate_schedule

STEPS = st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=20)


@settings(max_examples=40, deadline=None)
@given(
    max_lr=st.floats(1e-5, 10.0),
    total_steps=st.integers(1, 5000),
    pct_start=st.floats(0.01, 0.49),
    three_phase=st.booleans(),
    anneal=st.sampled_from(["cos", "linear"]),
    div_factor=st.floats(1.0, 1e3),
    final_div_factor=st.floats(1.0, 1e5),
    steps=STEPS,
)
# Found by a CI run: a flat one cycle's linear anneal over a short last phase gave 1.0000013 (float32 rounding of
# the phase's ends, divided by its 2.5 steps).
@example(max_lr=1.0, total_steps=74, pct_start=0.49, three_phase=True, anneal="linear", div_factor=1.0,
         final_div_factor=1.0, steps=[71])
def test_one_cycle_stays_within_its_bounds(max_lr, total_steps, pct_start, three_phase, anneal, div_factor,
                                            final_div_factor, steps):
    schedule = OneCycle(max_lr, total_steps, pct_start=pct_start, three_phase=three_phase, anneal_strategy=anneal,
                        div_factor=div_factor, final_div_factor=final_div_factor)
    rates = evaluate_schedule(schedule, steps)
    momenta = evaluate_momentum(schedule, steps)
    assert np.all(np.isfinite(rates)) and np.all(np.isfinite(momenta))
    # float32 arithmetic: errors are relative to the largest rate, not the (tiny) final one.
    slack = 1e-6 * max_lr
    assert np.all(rates >= schedule.final_lr - slack) and np.all(rates <= max_lr + slack)
    assert np.all(momenta >= 0.85 - 1e-5) and np.all(momenta <= 0.95 + 1e-5)


@settings(max_examples=40, deadline=None)
@given(
    base_lr=st.floats(0.0, 1.0),
    span=st.floats(1e-4, 1.0),
    up=st.integers(1, 500),
    down=st.one_of(st.none(), st.integers(1, 500)),
    mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
    gamma=st.floats(0.9, 1.0),
    steps=STEPS,
)
def test_cyclic_stays_within_its_bounds_and_repeats(base_lr, span, up, down, mode, gamma, steps):
    schedule = CyclicLR(base_lr, base_lr + span, step_size_up=up, step_size_down=down, mode=mode, gamma=gamma)
    rates = evaluate_schedule(schedule, steps)
    assert np.all(rates >= base_lr * (1 - 1e-5) - 1e-7) and np.all(rates <= (base_lr + span) * (1 + 1e-5))
    if mode == "triangular":
        period = up + (down or up)
        later = evaluate_schedule(schedule, [s + period for s in steps])
        np.testing.assert_allclose(later, rates, rtol=1e-3, atol=1e-6)
