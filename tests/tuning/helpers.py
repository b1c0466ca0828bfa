"""Small searches: a digits MLP and a linear regression that SGD drives to inf above a rate of ~2.3."""

import keras
import numpy as np
from sklearn.datasets import load_digits

from keras_lr import tuning

# 192 training samples in batches of 64: 3 steps an epoch.
STEPS_PER_EPOCH = 3


def digits(samples=256):
    data = load_digits()
    x = (data.data[:samples] / 16.0).astype("float32")
    return x, data.target[:samples].astype("int32")


def build_digits(hp, optimizer=keras.optimizers.Adam, **rate_args):
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer(tuning.learning_rate(hp, **rate_args)), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def search_digits(tuner, epochs=2, **kwargs):
    x, y = digits()
    tuner.search(x, y, epochs=epochs, batch_size=64, validation_split=0.25, verbose=0, **kwargs)
    return tuner


def regression():
    """Linear regression (no bias, inputs of variance 0.5): SGD at batch 8 stays finite
    at rates up to ~1.5 and reaches inf within 4 epochs from ~2.5."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(256, 4)) * np.sqrt(0.5)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * rng.normal(size=256)).astype("float32")[:, None]
    return x, y


def build_regression(hp):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(keras.optimizers.SGD(tuning.learning_rate(hp, min_value=1.0, max_value=8.0, default=1.0)), "mse")
    return model


def search_regression(tuner):
    x, y = regression()
    tuner.search(x, y, epochs=4, batch_size=8, validation_split=0.25, verbose=0)
    return tuner


def make(tuner_class, hypermodel, tmp_path, **kwargs):
    kwargs.setdefault("objective", "val_accuracy")
    return tuner_class(hypermodel, directory=str(tmp_path), project_name="search", overwrite=True, **kwargs)
