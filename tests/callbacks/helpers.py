"""Tiny models whose weights reveal the learning rate and momentum of every step."""

import keras
import numpy as np
from keras import ops


def mean_output(y_true, y_pred):
    """A loss whose gradient with respect to the output bias is exactly 1."""
    return ops.mean(y_pred)


def bias_model(optimizer, steps_per_execution=1):
    """Dense(1) on zero inputs: the kernel never moves, the bias sees gradient 1."""
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros")]
    )
    model.compile(optimizer, mean_output, steps_per_execution=steps_per_execution)
    return model


def bias_data(samples=40):
    return np.zeros((samples, 2), "float32"), np.zeros((samples, 1), "float32")


def fit(model, callbacks, epochs=3, **kwargs):
    """Fits the bias model on 40 samples in batches of 4 (10 steps an epoch), in order."""
    x, y = bias_data()
    recorder = Recorder()
    history = model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, shuffle=False,
                        callbacks=[*callbacks, recorder], **kwargs)
    return history, recorder


class Recorder(keras.callbacks.Callback):
    """Records the bias and the logged learning rate after each batch hook."""

    def on_train_begin(self, logs=None):
        self.bias, self.batch_rates, self.batches = [], [], []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(batch)
        self.bias.append(float(self.model.layers[-1].bias.numpy()[0]))
        self.batch_rates.append(logs.get("learning_rate"))


def sgd_bias_trajectory(rates, momenta=None):
    """Bias after each step of Keras's SGD with gradient 1 (numpy, float64)."""
    w, m, out = 0.0, 0.0, []
    for i, lr in enumerate(rates):
        if momenta is None:
            w -= lr
        else:
            m = momenta[i] * m - lr
            w += m
        out.append(w)
    return np.array(out)


def adam_bias_trajectory(rates, beta_1s, beta_2=0.999, epsilon=1e-7):
    """Bias after each step of Keras's Adam with gradient 1 (its update_step, in numpy)."""
    w, m, v, out = 0.0, 0.0, 0.0, []
    for i, (lr, b1) in enumerate(zip(rates, beta_1s)):
        t = i + 1
        m += (1.0 - m) * (1 - b1)
        v += (1.0 - v) * (1 - beta_2)
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - b1**t)
        w -= alpha * m / (np.sqrt(v) + epsilon)
        out.append(w)
    return np.array(out)
