"""Runs the scenarios on two devices, in a process of its own: `python -m tests.distributed.worker MODE OUT`.

MODE is `mirrored` (TensorFlow's MirroredStrategy over two logical CPUs),
`multiworker` (one of two MultiWorkerMirroredStrategy workers, set by
TF_CONFIG) or `jax` (keras.distribution.DataParallel over two virtual CPU
devices). The devices are set before the backend starts, which is why this
is a process of its own. Writes OUT: an .npz of every scenario's arrays,
keyed "variant:name", and a JSON "summary": what the range tests left and,
for a worker, the error that refuses workers with logs of their own.
"""

import contextlib
import json
import os
import sys


def _tensorflow_strategy(mode):
    import tensorflow as tf

    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    _work_around_keras_multi_worker_fit()
    return strategy


def _work_around_keras_multi_worker_fit():
    """Two fixes to Keras's `fit` under more than one MultiWorkerMirroredStrategy worker.

    Keras 3 cannot `fit` there (keras-team/keras#20585; 3.15, and 3.16's
    source is the same), for two reasons in its TensorFlow trainer, both
    fixed here, in this test process only:

    1. before the first step it reduces a batch of the distributed data
       across the workers to build the model symbolically (only the shapes
       matter), and the collective reduce takes one tensor, not the batch's
       structure: "Attempt to convert a value (PerReplica...)". This builds
       from the worker's own slice of the batch;
    2. each step averages the replicas' logs with `reduce("MEAN", v, axis=0)`,
       which fails on a scalar (the loss): "Invalid reduction dimension 0".
       This averages them over the replicas (axis None), as Keras does
       with the replicas of one machine.
    """
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    maybe_symbolic_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    reduce_per_replica = trainer.reduce_per_replica

    def local_batch(value):
        return value.values[0] if isinstance(value, tf.distribute.DistributedValues) else value

    def build_from_a_local_batch(self, iterator=None, data_batch=None):
        if iterator is not None and self._distribute_strategy is not None:
            for *_, batches in iterator:  # (begin, end, batches); (step, batches) before Keras 3.11
                data_batch = tree.map_structure(local_batch, next(batches))
                break
            iterator = None
        return maybe_symbolic_build(self, iterator=iterator, data_batch=data_batch)

    def reduce_logs(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = build_from_a_local_batch
    trainer.reduce_per_replica = reduce_logs


def jax_variants():
    """[(label, build_scope, fit_scope, scenario names or None for all)] under JAX."""
    import jax
    import keras

    devices = jax.devices()
    if len(devices) != 2:
        raise RuntimeError(f"expected 2 devices, got {devices}; is XLA_FLAGS set before jax starts?")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return [("data_parallel", contextlib.nullcontext, contextlib.nullcontext, None)]


def tensorflow_variants(mode, strategy):
    """The same under a tf.distribute strategy."""
    if strategy.num_replicas_in_sync != 2:
        raise RuntimeError(f"expected 2 replicas in sync, got {strategy.num_replicas_in_sync}")
    if mode == "multiworker":
        # Two processes on two cores are slow: the scenarios the issue names (OneCycle's
        # rates and momenta with the adaptive callbacks and a rollback; the range test).
        return [("fit_outside", strategy.scope, contextlib.nullcontext, ["adaptive", "range_test"])]
    # As in Keras's guide: build and compile in the scope, fit outside it; and the guard's
    # rollbacks and the momentum's assignments with fit inside it too.
    return [
        ("fit_outside", strategy.scope, contextlib.nullcontext, None),
        ("fit_inside", strategy.scope, strategy.scope, ["adaptive"]),
    ]


def refuses_logs_of_its_own(strategy):
    """The error of a guarded fit whose workers would each log their own replica's loss; None if none."""
    import keras

    import keras_lr
    from tests.distributed import scenarios

    with strategy.scope():
        model = scenarios.bias_model(keras.optimizers.SGD(0.1))
    model.distribute_reduction_method = "first"
    try:
        model.fit(*scenarios.data(), batch_size=scenarios.BATCH, epochs=1, verbose=0,
                  callbacks=[keras_lr.DivergenceGuard()])
    except ValueError as error:
        return str(error)
    return None


def main():
    mode, out = sys.argv[1], sys.argv[2]
    os.environ["KERAS_BACKEND"] = "jax" if mode == "jax" else "tensorflow"
    if mode == "jax":
        flag = "--xla_force_host_platform_device_count=2"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
    import numpy as np

    from tests.distributed import scenarios

    summary = {"range_tests": {}}
    if mode == "jax":
        variants = jax_variants()
    else:
        strategy = _tensorflow_strategy(mode)
        variants = tensorflow_variants(mode, strategy)
    arrays = {}
    for label, build_scope, fit_scope, names in variants:
        results, not_restored, devices = scenarios.run_all(build_scope, fit_scope, names)
        arrays.update({f"{label}:{key}": value for key, value in results.items()})
        summary["range_tests"][label] = {"not_restored": not_restored, "devices": devices}
    if mode == "multiworker":
        summary["refused"] = refuses_logs_of_its_own(strategy)
    np.savez(out, summary=json.dumps(summary), **arrays)


if __name__ == "__main__":
    main()
