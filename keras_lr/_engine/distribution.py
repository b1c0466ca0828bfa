"""Training under `tf.distribute`: the scope of keras_lr's variables, and logs every worker agrees on."""

import contextlib


def build_optimizer(model):
    """Builds the model's optimizer (its moments, momenta) now, as `fit` would at its first step.

    Under TensorFlow `fit` builds it only when its first step runs, after
    `on_train_begin` and `on_epoch_begin`: a snapshot taken there would hold
    no moments, and restoring it would leave the moments of the steps it
    undoes (a rollback after a blow-up would keep the blown-up momentum).
    """
    if not model.optimizer.built:
        with variable_scope(model):  # as fit builds it: in the model's tf.distribute strategy, if any
            model.optimizer.build(model.trainable_variables)


def variable_scope(model):
    """The scope the model's own variables were created in: its `tf.distribute` strategy's, or none.

    Under TensorFlow a model built in `strategy.scope()` keeps the strategy
    (`model.distribute_strategy`), and Keras creates the variables of its
    fit (the optimizer's) in that scope, one copy per replica. keras_lr
    creates its own there too: the variables its train step reads (the
    offset, the multiplier, a cycled momentum) and the optimizer's, when
    the range test builds it. The other backends have no such attribute:
    a `keras.distribution` set under JAX lays out every variable created
    while it is set, keras_lr's included.
    """
    strategy = getattr(model, "distribute_strategy", None)
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def check_logs_agree(model, owner):
    """Raises when the workers of a multi-worker `tf.distribute` strategy would each see other logs.

    A callback that decides from the logs (to roll back, to change the rate,
    to end the range test) runs on every worker and must decide the same on
    each, or the replicas stop being copies of one model. Keras gives every
    worker the same logs, reduced over all the replicas, unless
    `model.distribute_reduction_method` is "first": then each worker logs
    its own first replica's values.
    """
    strategy = getattr(model, "distribute_strategy", None)
    if strategy is None or getattr(model, "distribute_reduction_method", "auto") != "first":
        return
    replicas = strategy.num_replicas_in_sync
    if replicas > 1 and replicas > len(strategy.extended.worker_devices):
        raise ValueError(
            f"{owner}: the model's distribute_reduction_method is 'first', so under "
            f"{type(strategy).__name__} each worker logs the values of its own first replica and "
            f"would decide on its own (a rollback or a new rate on some workers only). Set "
            f"model.distribute_reduction_method = 'auto' (the mean over all {replicas} replicas)."
        )
