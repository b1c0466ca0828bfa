"""What a backend cannot do, as pytest marks that skip with the reason (tests run once per backend)."""

import keras
import pytest

BACKEND = keras.backend.backend()

needs_steps_per_execution = pytest.mark.skipif(
    BACKEND == "torch", reason="Keras's torch backend refuses steps_per_execution > 1"
)
