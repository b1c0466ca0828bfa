"""The scope in which keras_lr creates variables for a model trained under `tf.distribute`."""

import contextlib


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

