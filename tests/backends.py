"""What a backend cannot do, as pytest marks that skip with the reason (tests run once per backend)."""

import keras
import pytest

BACKEND = keras.backend.backend()

needs_steps_per_execution = pytest.mark.skipif(
    BACKEND == "torch", reason="Keras's torch backend refuses steps_per_execution > 1"
)
traces_each_fit = pytest.mark.skipif(
    BACKEND == "jax",
    reason="under JAX a jitted step reads keras_lr's offset and multiplier when traced: each fit, and each "
    "change of the multiplier, traces the train step again",
)
