"""The optimizer that holds the learning rate, and the errors about it."""

import keras

# The backend's variable class, of which every Keras variable is an instance. Before Keras 3.5,
# `keras.Variable` is a subclass of it, and the variables that optimizers and layers create are
# instances of the backend class only; from 3.5 `keras.Variable` passes them too.
_VARIABLE_CLASS = keras.Variable.__mro__[1]


def is_variable(value):
    """Whether ``value`` is a Keras variable, on every supported Keras."""
    return isinstance(value, _VARIABLE_CLASS)


def variable_value(value):
    """A variable's value as a float (before Keras 3.5, variables have no ``__float__``)."""
    return float(keras.ops.convert_to_numpy(value))


def inner_optimizer(optimizer):
    """The optimizer that holds the learning rate (unwraps `LossScaleOptimizer`)."""
    return wrapped_by(optimizer)[-1]


def rate_scaled_buffers(optimizer):
    """The optimizer's variables that hold a step already scaled by the rate it was taken at.

    Keras's SGD and RMSprop keep momentum so (``m = momentum * m - rate * gradient``, then
    ``w += m``), where PyTorch's keep the gradients and scale them by the rate of each step: after
    a fit at 0.1, such a buffer moves the weights by about that rate for tens of steps, whatever
    rate comes next. Empty for an optimizer without momentum, and for the others (Adam's moments
    do not hold the rate).
    """
    optimizer = inner_optimizer(optimizer)
    if isinstance(optimizer, keras.optimizers.SGD) and optimizer.momentum != 0:
        return list(getattr(optimizer, "momentums", []))
    if isinstance(optimizer, keras.optimizers.RMSprop) and optimizer.momentum > 0:
        return list(getattr(optimizer, "_momentums", []))
    return []


def step_counter(optimizer):
    """The variable counting the batches the optimizer has been applied to.

    Keras evaluates a `LearningRateSchedule` in the optimizer at this counter,
    once per batch. `optimizer.iterations` is the same variable, except with
    `gradient_accumulation_steps`: it then counts updates (the counter divided
    by the steps, a new tensor at each read).
    """
    optimizer = inner_optimizer(optimizer)
    counter = getattr(optimizer, "_iterations", None)
    return counter if is_variable(counter) else optimizer.iterations


def other_optimizers(model):
    """The optimizers a model holds as attributes beside `model.optimizer` (a GAN's `d_optimizer`).

    A `train_step` of one's own steps them; keras_lr neither schedules them
    nor leaves them out of what it puts back.
    """
    return [value for _, value in named_other_optimizers(model)]


def named_other_optimizers(model):
    """`other_optimizers` as (attribute name, optimizer) pairs."""
    compiled = getattr(model, "optimizer", None)
    return [
        (name, value)
        for name, value in vars(model).items()
        if isinstance(value, keras.optimizers.Optimizer) and value is not compiled and name != "_optimizer"
    ]


def wrapped_by(optimizer):
    """``optimizer`` and every optimizer it wraps (a `LossScaleOptimizer`'s inner one)."""
    chain = [optimizer]
    while hasattr(chain[-1], "inner_optimizer"):
        chain.append(chain[-1].inner_optimizer)
    return chain


def no_optimizer(owner):
    return ValueError(f"{owner}: the model has no optimizer; call model.compile(optimizer=...) first.")


def no_learning_rate(owner, optimizer):
    return ValueError(
        f"{owner}: the optimizer {type(optimizer).__name__} has no learning rate to drive; compile the "
        f"model with a Keras optimizer created with a learning_rate."
    )


def optimizer_of(model, owner):
    """The model's optimizer that holds the rate; raises when there is none."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise no_optimizer(owner)
    return inner_optimizer(optimizer)


def has_rate(value):
    """Whether ``value`` is a learning rate an optimizer can hold: a variable or a schedule."""
    return is_variable(value) or callable(value)


def check_rate(owner, optimizer, rate):
    """Raises unless ``rate``, the (inner) ``optimizer``'s, is one keras_lr can drive."""
    if type(optimizer).__name__ == "MultiOptimizer" and hasattr(optimizer, "optimizers"):
        # Keras 3.15's MultiOptimizer holds a rate of 0 that none of its optimizers reads: driven, it would
        # log the schedule's rates and train at the optimizers' own.
        raise ValueError(
            f"{owner}: the optimizer is a MultiOptimizer, whose own learning rate none of its optimizers "
            f"reads, so a schedule put there would change nothing; schedule each of its optimizers instead "
            f"(a keras_lr.schedules schedule as each one's learning_rate), or compile with one optimizer."
        )
    if not has_rate(rate):
        raise no_learning_rate(owner, optimizer)


def call_rate(rate, step):
    """The value of an optimizer's non-variable rate at ``step``, as Keras reads it.

    A `LearningRateSchedule` is called with the step; any other callable
    (Keras's "callable that takes no arguments") with nothing.
    """
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return rate(step)
    return rate()


class StepFunction:
    """An optimizer's rate of no arguments as a function of the step (for reading it at many steps)."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        return keras.ops.zeros_like(step) + keras.ops.cast(self.rate(), "float32")
