"""The argument checks' messages name where a bound comes from, on either side."""

import pytest

from keras_lr import _validation as v


@pytest.mark.parametrize(
    "kwargs, says",
    [
        (dict(low=0.5, low_name="base_lr"), ">= base_lr (0.5)"),
        (dict(high=2.0, high_name="peak_lr"), "<= peak_lr (2)"),
        (dict(low=0.5, high=2.0, low_name="base_lr"), "in [base_lr (0.5), 2]"),
        (dict(low=0.5, high=2.0, high_name="peak_lr"), "in [0.5, peak_lr (2)]"),
        (dict(low=0.5, high=2.0, low_name="base_lr", high_name="peak_lr", low_open=True),
         "in (base_lr (0.5), peak_lr (2)]"),
    ],
)
def test_a_named_bound_is_named_in_the_message(kwargs, says):
    with pytest.raises(ValueError, match="rate") as error:
        v.check_number("Owner", "rate", 0.1 if "low" in kwargs and kwargs["low"] > 0.1 else 3.0, **kwargs)
    assert says in str(error.value)
