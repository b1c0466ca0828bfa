import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def seed():
    """Every test starts from the same random state on every backend."""
    keras.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield


# Run by hand (needs torch), not collected: it writes torch_reference.json.
collect_ignore = ["schedules/make_torch_reference.py"]
