"""Keras is imported where a test process needs it, not here: pytest-xdist's controller process, which runs no test,
loads this file before it starts the workers, and importing Keras there (TensorFlow with it) held them back about 10 s
on a 2-core CI machine, in each of `make test`'s four runs."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import shutil  # noqa: E402
import tempfile  # noqa: E402

import pytest  # noqa: E402

# Under JAX most of a small test's time is XLA compiling the fit's steps, and many tests compile the same programs
# (the same tiny models and shapes). JAX's persistent compilation cache, in a folder made here for this run (the
# controller's, before pytest-xdist starts its workers, who inherit it) and removed when it ends, compiles each one
# once, for all the workers: tests/finder/test_lr_find.py and tests/callbacks/test_engine.py took 113 s and 109 s so against
# 162 s and 153 s (2 workers on 2 cores, alternately, the cache empty at each start); make test's JAX run 293 s against
# 378 s (one run each, one after the other). It skips XLA's compilation only: each trace still runs, and an entry is
# found only for the same program, compiled for the same devices by the same JAX.
_JAX_CACHE_MADE_HERE = None
if os.environ["KERAS_BACKEND"] == "jax" and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _JAX_CACHE_MADE_HERE = tempfile.mkdtemp(prefix="keras_lr_tests_jax_cache_")
    os.environ.update(JAX_COMPILATION_CACHE_DIR=_JAX_CACHE_MADE_HERE, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")


def pytest_unconfigure(config):
    if _JAX_CACHE_MADE_HERE is not None:
        shutil.rmtree(_JAX_CACHE_MADE_HERE, ignore_errors=True)


@pytest.fixture(autouse=True)
def seed():
    """Every test starts from the same random state on every backend."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield


def pytest_collection_modifyitems(config, items):
    """Tests parametrized with steps_per_execution > 1 skip under torch, which refuses it, and
    before Keras 3.7 where it leaves a shorter last execution in their module's STEPS_PER_EPOCH;
    a search's bookkeeping runs under torch only."""
    from tests.backends import BACKEND, BOOKKEEPING_BACKEND, needs_partial_executions, needs_steps_per_execution

    for item in items:
        if BACKEND != BOOKKEEPING_BACKEND and item.get_closest_marker("search_bookkeeping"):
            item.add_marker(pytest.mark.skip(reason="a search's bookkeeping, the same under every backend: "
                                                    f"tested under {BOOKKEEPING_BACKEND} (tests/backends.py)"))
        callspec = getattr(item, "callspec", None)
        steps_per_execution = callspec.params.get("steps_per_execution", 1) if callspec is not None else 1
        if steps_per_execution > 1:
            item.add_marker(needs_steps_per_execution)
            if getattr(item.module, "STEPS_PER_EPOCH", 1) % steps_per_execution:
                item.add_marker(needs_partial_executions)


# Run by hand (needs torch), not collected: it writes torch_reference.json.
collect_ignore = ["schedules/make_torch_reference.py"]


def pytest_collection_finish(session):
    """Everything imported by now (TensorFlow, Keras, the test modules: about half a million objects) is kept for
    good: KerasTuner runs two full garbage collections per trial (its _try_build), each walking all of it (0.3-0.4 s
    on a 2-core CI machine: a quarter of a small search's time). Frozen, a collection walks what the tests made since."""
    import gc

    gc.freeze()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """When a test ends its garbage is collected and what is left is frozen too, so a full collection walks only
    what the running test made. What the tests keep grows (Keras's, TensorFlow's and JAX's caches, modules and
    fixtures: 270,000 to 850,000 objects more by the end of a worker's share), and every full collection (KerasTuner
    runs two a trial) walked it again; and a finished fit's tf.data iterators, freed by a collection many tests later,
    each waited on its threads: one collection took 39 s, and tests of 1-2 s took 30-40 s in `make test`. The
    TensorFlow run (2 workers, 2 cores, one after the other) took 634 s against 767 s (1178 s of test time against
    1452 s); freezing every 10 tests, 657 s; collecting after every test without freezing, 949 s (each collection
    walked it all: about 0.5 s). One process each, side by side: under JAX test_engine.py and test_search.py took
    180 s against 211 s, under PyTorch test_lr_find.py and test_search.py 162 s against 177 s."""
    yield
    import gc

    gc.collect()
    gc.freeze()
