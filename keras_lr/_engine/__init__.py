"""How a schedule reaches the optimizer for one fit, and what keras_lr reads back.

Private: the public callbacks (`keras_lr.callbacks`) and the range test
(`keras_lr.finder`) are built on it. One idea per module:

- `optimizers`: the optimizer that holds the rate, and the errors about it;
- `momentum`: the one way a momentum changes inside the train step (`StepValue`);
- `fit_schedule`: the compiled rate, `source(step - offset) * multiplier`;
- `readout`: the same rates in Python, for logs and records;
- `session`: one fit's set-up and tear-down, shared by every keras_lr callback;
- `callback`: the lifecycle every keras_lr callback shares;
- `distribution`: under `tf.distribute`, the scope of keras_lr's variables and the logs every worker must share;
- `state`: snapshots of every weight and optimizer variable, restored bitwise;
- `losses`: per-step losses from Keras's running means, and the moving average;
- `recommendation`: what a range test's result offers in place of rates.
"""
