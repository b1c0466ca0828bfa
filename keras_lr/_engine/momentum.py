"""The one way keras_lr changes a momentum inside the train step.

Optimizers read their momentum (`SGD.momentum`, `Adam.beta_1`, ...) as a
plain Python attribute in every update. A `StepValue` stands in for it: to
Python and to serialization it is the optimizer's own float, and in tensor
maths it reads a variable the fit's schedule assigns at every step, so the
momentum follows the step also with `steps_per_execution > 1`.
"""

import keras

# Optimizer attributes that hold the momentum a cycle drives, in the order looked for.
MOMENTUM_ATTRIBUTES = ("beta_1", "momentum")


class StepValue(float):
    """A hyperparameter whose numeric value is computed inside each train step.

    To Python and to serialization it is a float (the optimizer's own value,
    so `get_config` and `momentum != 0` behave as before); in tensor maths it
    reads a variable that the schedule assigns at every step.
    """

    # Keras infers result dtypes from `.dtype` (else from the Python type's name).
    dtype = "float32"

    def __new__(cls, nominal, variable):
        obj = super().__new__(cls, nominal)
        obj.variable = variable
        return obj

    def _tensor(self):
        return self.variable.value

    def __tf_tensor__(self, dtype=None, name=None):
        import tensorflow as tf  # only reached under the TensorFlow backend

        value = self._tensor()
        if dtype is not None and tf.as_dtype(dtype) != value.dtype:
            # A float64 model's RMSprop and Nadam ask for float64; TensorFlow refuses to convert a float32
            # variable's value to it (a float does convert).
            value = tf.cast(value, dtype)
        return tf.convert_to_tensor(value, dtype=dtype, name=name)

    def __jax_array__(self):
        return self._tensor()

    def __add__(self, other):
        return self._tensor() + other

    def __radd__(self, other):
        return other + self._tensor()

    def __sub__(self, other):
        return self._tensor() - other

    def __rsub__(self, other):
        return other - self._tensor()

    def __mul__(self, other):
        return self._tensor() * other

    def __rmul__(self, other):
        return other * self._tensor()

    def __truediv__(self, other):
        return self._tensor() / other

    def __rtruediv__(self, other):
        return other / self._tensor()

    def __pow__(self, other):
        return self._tensor() ** other

    def __rpow__(self, other):
        return other ** self._tensor()

    def __neg__(self):
        return -self._tensor()

    def __reduce__(self):  # pickles and deep-copies as the plain float
        return (float, (float(self),))


def plain(value):
    """A StepValue's nominal float; anything else unchanged."""
    return float(value) if isinstance(value, StepValue) else value


def momentum_attribute(optimizer):
    """The attribute through which ``optimizer`` takes a momentum, or None.

    Adam, AdamW, Adamax, Nadam and Lion take `beta_1`; SGD and RMSprop take
    `momentum`, but only when created with a non-zero one (with 0 they have no
    momentum slots to drive).
    """
    for attribute in MOMENTUM_ATTRIBUTES:
        value = getattr(optimizer, attribute, None)
        if value is None or isinstance(value, bool):
            continue
        try:
            value = float(plain(value))
        except (TypeError, ValueError):
            continue
        if attribute == "momentum" and value == 0.0:
            return None
        return attribute
    return None


def why_not_cycled(optimizer, attribute):
    """Why this backend cannot cycle the optimizer's momentum, or None when it can.

    RMSprop passes its momentum to `keras.ops` functions, which JAX converts
    as the Python float it is, never asking the `StepValue` for its tensor.
    """
    if keras.backend.backend() == "jax" and isinstance(optimizer, keras.optimizers.RMSprop):
        return (
            "under the JAX backend RMSprop's momentum cannot be cycled (RMSprop passes it to "
            "keras.ops, which JAX reads as a plain float)"
        )
    return None


class MomentumBinding:
    """Drives one optimizer attribute (`beta_1` or `momentum`) from a schedule's momentum."""

    def __init__(self, optimizer, attribute):
        self.optimizer = optimizer
        self.attribute = attribute
        self.original = plain(getattr(optimizer, attribute))
        self.variable = keras.Variable(
            float(self.original), dtype="float32", trainable=False, name=f"keras_lr_{attribute}"
        )
        self.eager = keras.backend.backend() == "torch"

    def install(self):
        setattr(self.optimizer, self.attribute, StepValue(self.original, self.variable))
        if keras.backend.backend() == "jax" and isinstance(self.optimizer, keras.optimizers.Nadam):
            self._hold_tensor_in_nadam_step()

    def _hold_tensor_in_nadam_step(self):
        """Under JAX, Nadam's step sees the momentum as the variable's tensor, not the StepValue.

        Nadam multiplies a variable by `beta_1` (`_u_product * beta_1`, its
        running product of momenta); JAX converts a float subclass as the
        Python float it is there, which would be the compiled `beta_1`. Its
        step has no Python test on `beta_1`, so the tensor serves throughout.
        """
        optimizer, attribute = self.optimizer, self.attribute
        step = type(optimizer)._backend_update_step.__get__(optimizer)

        def with_tensor(grads, trainable_variables, learning_rate):
            held = getattr(optimizer, attribute)
            setattr(optimizer, attribute, self.variable.value)
            try:
                return step(grads, trainable_variables, learning_rate)
            finally:
                setattr(optimizer, attribute, held)

        optimizer._backend_update_step = with_tensor

    def update(self, momentum):
        """Called inside the train step with the step's momentum."""
        self.variable.assign(momentum)
        if self.eager:
            # The torch backend runs the step eagerly and some of its fused
            # optimizers read the attribute as a Python float.
            setattr(self.optimizer, self.attribute, StepValue(float(momentum), self.variable))

    def restore(self):
        setattr(self.optimizer, self.attribute, self.original)
        vars(self.optimizer).pop("_backend_update_step", None)
