"""Data-parallel training gives the rates, momenta and restores of one device.

Each test runs `tests/distributed/worker.py` in processes of its own, where
the devices are set before the backend starts: TensorFlow's
MirroredStrategy over two logical CPUs, and MultiWorkerMirroredStrategy with
two workers on 127.0.0.1 (in the TensorFlow run of `make test`); JAX's
`keras.distribution.DataParallel` over two virtual CPU devices (in the JAX
run). What the workers record (the weights after every batch, which show
each step's rate and momentum, the logs, the adaptive callbacks' changes,
the range tests' curves) must be what the same scenarios give here, on one
device; and every range test must leave every device's copy of every
variable as it found it.
"""

import functools
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import types

import numpy as np
import pytest

import keras_lr
from keras_lr.schedules import OneCycle as OneCycleSchedule
from keras_lr.schedules import RangeTest, evaluate_momentum, evaluate_schedule
from tests.backends import BACKEND, KERAS_VERSION
from tests.callbacks.helpers import adam_bias_trajectory, sgd_bias_trajectory
from tests.distributed import scenarios

ROOT = pathlib.Path(__file__).parents[2]

needs_tensorflow = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="tf.distribute strategies run under the TensorFlow backend (make test's TensorFlow run)"
)
# Plain Keras, keras_lr or not, in a probe without keras_lr: before 3.10 fit under MirroredStrategy
# logs a loss other than one device's, which the plateau reduction then reads, and the weights
# differed too on Keras 3.3-3.7 with TensorFlow 2.16 (they agreed on Keras 3.8 with TensorFlow 2.18).
needs_keras_3_10 = pytest.mark.skipif(
    KERAS_VERSION < (3, 10),
    reason="before Keras 3.10, fit under MirroredStrategy logs a loss other than one device's (and on 3.3-3.7 "
    "with TensorFlow 2.16 it updates the weights differently), keras_lr or not",
)
needs_jax = pytest.mark.skipif(
    BACKEND != "jax", reason="keras.distribution.DataParallel is tested under the JAX backend (make test's JAX run)"
)
not_on_torch = pytest.mark.skipif(
    BACKEND == "torch", reason="Keras has no data-parallel fit on torch: nothing to compare with this reference"
)


@functools.cache
def one_device():
    """Every scenario on one device, in this process (once, while the first workers run)."""
    arrays, not_restored, devices = scenarios.run_all()
    assert not_restored == [] and devices == 1
    return arrays


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Workers:
    """One worker process per environment, started on entering; on leaving, any still running is killed."""

    def __init__(self, tmp_path, mode, environments, timeout):
        self.tmp_path, self.mode, self.environments, self.timeout = tmp_path, mode, environments, timeout
        self.started = []  # (process, log, out)

    def __enter__(self):
        python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.deadline = time.monotonic() + self.timeout
        try:
            for index, extra in enumerate(self.environments):
                env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
                env.update(PYTHONPATH=python_path, TF_CPP_MIN_LOG_LEVEL="2", **extra)
                out = self.tmp_path / f"{self.mode}{index}.npz"
                with open(self.tmp_path / f"{self.mode}{index}.log", "w") as log:
                    process = subprocess.Popen(
                        [sys.executable, "-m", "tests.distributed.worker", self.mode, str(out)],
                        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                    )
                self.started.append((process, pathlib.Path(log.name), out))
        except BaseException:
            self.__exit__()
            raise
        return self

    def results(self):
        """Each worker's (arrays, summary); fails with its log if one fails or the time is up."""
        for index, (process, log, _) in enumerate(self.started):
            try:
                code = process.wait(timeout=max(self.deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{self.mode} worker {index} still running after {self.timeout} s:\n{tail(log)}")
            if code != 0:
                pytest.fail(f"{self.mode} worker {index} exited with {code}:\n{tail(log)}")
        results = []
        for _, _, out in self.started:
            with np.load(out) as data:
                summary = json.loads(str(data["summary"]))
                results.append(({key: data[key] for key in data.files if key != "summary"}, summary))
        return results

    def __exit__(self, *exc_info):
        for process, _, _ in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()


def tail(log, characters=4000):
    """The end of a worker's log, without TensorFlow's and XLA's start-up lines."""
    lines = log.read_text().splitlines()
    return "\n".join(line for line in lines if not line.startswith(("I0000", "W0000", "E0000")))[-characters:]


def assert_as_on_one_device(arrays, reference, label, names=None):
    """Every array of variant ``label`` as the one-device run gives it (float32 tolerance)."""
    keys = sorted(key for key in arrays if key.startswith(f"{label}:"))
    scenario_names = {key.split(":", 1)[1].split("/")[0] for key in keys}
    assert names is None or scenario_names == set(names), scenario_names
    for key in keys:
        expected = reference[key.split(":", 1)[1]]
        np.testing.assert_allclose(arrays[key], expected, rtol=1e-5, atol=1e-7, err_msg=key)


@needs_tensorflow
@needs_keras_3_10
def test_mirrored_strategy_on_two_devices(tmp_path):
    with Workers(tmp_path, "mirrored", [{"KERAS_BACKEND": "tensorflow"}], timeout=300) as workers:
        reference = one_device()
        [(arrays, summary)] = workers.results()
    assert_as_on_one_device(arrays, reference, "fit_outside", names=[*scenarios.SCENARIOS, "range_test"])
    assert_as_on_one_device(arrays, reference, "fit_inside", names=["adaptive"])
    assert summary["range_tests"]["fit_outside"] == {"not_restored": [], "devices": 2}


@needs_tensorflow
@needs_keras_3_10
def test_multi_worker_mirrored_strategy_with_two_workers(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    environments = [
        {"KERAS_BACKEND": "tensorflow", "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        for index in range(2)
    ]
    with Workers(tmp_path, "multiworker", environments, timeout=300) as workers:
        reference = one_device()
        results = workers.results()
    for arrays, summary in results:
        assert_as_on_one_device(arrays, reference, "fit_outside", names=["adaptive", "range_test"])
        assert summary["range_tests"]["fit_outside"] == {"not_restored": [], "devices": 1}  # one replica a worker
        # Workers that would each log their own replica's loss (and decide on their own) are refused.
        assert "distribute_reduction_method" in summary["refused"]


@needs_jax
def test_jax_data_parallel_on_two_devices(tmp_path):
    environment = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    with Workers(tmp_path, "jax", [environment], timeout=240) as workers:
        reference = one_device()
        [(arrays, summary)] = workers.results()
    assert_as_on_one_device(arrays, reference, "data_parallel", names=[*scenarios.SCENARIOS, "range_test"])
    assert summary["range_tests"]["data_parallel"] == {"not_restored": [], "devices": 2}


@not_on_torch
def test_the_reference_shows_each_steps_rate_and_momentum():
    """What the workers are compared with: OneCycle's every rate and momentum, a rollback, a range test."""
    reference = one_device()
    steps = np.arange(scenarios.EPOCHS * 10)
    schedule = OneCycleSchedule(0.1, len(steps))
    rates, momenta = evaluate_schedule(schedule, steps), evaluate_momentum(schedule, steps)
    np.testing.assert_allclose(reference["one_cycle_sgd/bias"], sgd_bias_trajectory(rates, momenta), rtol=1e-5)
    np.testing.assert_allclose(reference["one_cycle_sgd/momenta"], momenta, rtol=1e-6)
    np.testing.assert_allclose(reference["one_cycle_adam/bias"], adam_bias_trajectory(rates, momenta), rtol=1e-4)
    # The NaN batch (the 6th of each epoch) is rolled back each time, and the rate cut; the callbacks after
    # the guard see the loss of the steps kept: the epoch's mean up to the batch that confirmed the snapshot
    # gone back to (snapshot_every=4, the step counter not rolled back: steps 4, 12 and 21, confirmed by the
    # batch after each).
    assert list(reference["adaptive/guard/steps"]) == [6, 16, 26]
    losses = reference["adaptive/losses"]
    np.testing.assert_array_equal(losses[[5, 15, 25]], losses[[4, 12, 21]])
    assert np.isfinite(losses).all() and np.isfinite(reference["adaptive/kernel"]).all()
    assert len(reference["adaptive/plateau/steps"]) >= 4 and len(reference["bold_driver/events/steps"]) >= 4
    range_test = evaluate_schedule(RangeTest(1e-4, 1.0, 25), np.arange(25))
    np.testing.assert_allclose(reference["range_test/rates"], range_test, rtol=1e-6)
    assert list(reference["range_test/iterations"]) == [20]  # the warm-up fit and OneCycle's, not the tests'


def fake_model(replicas, local_replicas, reduction):
    """What the check reads of a model under a tf.distribute strategy."""
    strategy = types.SimpleNamespace(
        num_replicas_in_sync=replicas, extended=types.SimpleNamespace(worker_devices=("cpu",) * local_replicas)
    )
    return types.SimpleNamespace(distribute_strategy=strategy, distribute_reduction_method=reduction, steps_per_execution=1)


@pytest.mark.parametrize("callback", [keras_lr.DivergenceGuard, keras_lr.ReduceLROnPlateau, keras_lr.BoldDriver, keras_lr.LRFinder])
def test_callbacks_that_decide_refuse_workers_with_logs_of_their_own(callback):
    callback = callback()
    callback.set_model(fake_model(replicas=4, local_replicas=2, reduction="first"))
    with pytest.raises(ValueError, match=f"{type(callback).__name__}: the model's distribute_reduction_method is 'first'"):
        callback.on_train_begin()


@pytest.mark.parametrize("replicas, local_replicas, reduction", [(2, 2, "first"), (4, 2, "auto"), (4, 2, "sum")])
def test_logs_every_worker_shares_are_accepted(replicas, local_replicas, reduction):
    from keras_lr._engine.distribution import check_logs_agree

    check_logs_agree(fake_model(replicas, local_replicas, reduction), "DivergenceGuard")
