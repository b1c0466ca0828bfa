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
# is KerasTuner's Python and keras_lr's, the same under every backend: it runs under PyTorch only, where a small
# search's trials cost least (no train function to trace: that of test_search.py and test_kerastuner.py took 85 s
# there against 176 s under TensorFlow, two workers, one run after the other on a 2-core machine; that of
# test_distributed.py, mostly waiting on its processes, 98 s under both); conftest.py skips it under the others,
# so the runs on the oldest releases (TensorFlow) leave it out too, as KerasTuner 1.4.7's code is 1.4.8's (they
# differ in one constant of HyperImageAugment). What a backend or release runs inside a search (each schedule in
# the fit, a divergence, Hyperband's fresh optimizer, the range test, what the search reads from fit's logs) is
# tested everywhere.
BOOKKEEPING_BACKEND = "torch"
search_bookkeeping = pytest.mark.search_bookkeeping
