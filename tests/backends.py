"""What a backend or Keras version cannot do, as pytest marks that skip with the reason (tests run once per backend)."""

import keras
import pytest

BACKEND = keras.backend.backend()
KERAS_VERSION = tuple(int(part) for part in keras.version().split(".")[:2])

needs_steps_per_execution = pytest.mark.skipif(
    BACKEND == "torch", reason="Keras's torch backend refuses steps_per_execution > 1"
)

needs_partial_executions = pytest.mark.skipif(
    KERAS_VERSION < (3, 7),
    reason="before Keras 3.7, fit with steps_per_execution > 1 runs past the end of an epoch that is not a "
    "multiple of it (11 steps, then 'ran out of data', for 10 batches and 4)",
)

# A search's bookkeeping (trial order, the results, resuming, pruning, the objective, what reaches the range test)
# is KerasTuner's Python and keras_lr's, the same under every backend: conftest.py skips it under JAX and PyTorch,
# and the Makefile's run on the oldest releases leaves it out, as KerasTuner 1.4.7's code is 1.4.8's (they differ in
# one constant of HyperImageAugment). What a backend or release runs inside a search (each schedule in the fit, a
# divergence, Hyperband's fresh optimizer, the range test, what the search reads from fit's logs) is tested
# everywhere.
search_bookkeeping = pytest.mark.search_bookkeeping
