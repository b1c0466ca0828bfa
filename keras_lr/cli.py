"""The `keras-lr` command.

    keras-lr demo [--epochs N] [--max-lr LR] [--plot PATH]

The demo trains a small MLP on scikit-learn's digits (shipped inside the
package, never downloaded) with the one-cycle policy and prints the learning
rate, momentum and accuracy of every epoch.
"""

import argparse
import os
import sys


def _load_digits(seed):
    import numpy as np

    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise SystemExit("keras-lr demo needs scikit-learn for its digits data: pip install 'keras-lr[demo]'") from error

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    return (x[:split], y[:split]), (x[split:], y[split:])


def demo(epochs=8, max_lr=0.05, plot=None, seed=0):
    """Trains an MLP on digits with `keras_lr.OneCycle`; returns the final validation accuracy."""
    import keras

    import keras_lr

    (x_train, y_train), (x_val, y_val) = _load_digits(seed)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.SGD(momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"])
    one_cycle = keras_lr.OneCycle(max_lr=max_lr)

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            momentum = one_cycle.history_frame().momentum.iloc[-1]
            print(f"epoch {epoch + 1:2d}  learning_rate {logs['learning_rate']:.5f}  momentum {momentum:.3f}  "
                  f"loss {logs['loss']:.4f}  accuracy {logs['accuracy']:.4f}  val_accuracy {logs['val_accuracy']:.4f}")

    print(f"keras_lr demo: MLP on scikit-learn digits ({len(x_train)} train, {len(x_val)} validation), "
          f"OneCycle(max_lr={max_lr}) over {epochs} epochs, backend {keras.backend.backend()}")
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), batch_size=32, epochs=epochs,
                        verbose=0, callbacks=[one_cycle, Report()])
    frame = one_cycle.history_frame()
    print(f"{len(frame)} optimizer steps; learning rate from {frame.learning_rate.iloc[0]:.5f} up to "
          f"{frame.learning_rate.max():.5f} and down to {frame.learning_rate.iloc[-1]:.2e}")
    if plot:
        from keras_lr.plotting import plot_schedule

        figure = plot_schedule(one_cycle.schedule_for_last_fit(), len(frame))
        figure.savefig(plot)
        print(f"schedule plot saved to {plot}")
    accuracy = history.history["val_accuracy"][-1]
    print(f"final validation accuracy: {accuracy:.4f}")
    return accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(prog="keras-lr", description="keras_lr command line")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="train on scikit-learn's digits with OneCycle")
    demo_parser.add_argument("--epochs", type=int, default=8)
    demo_parser.add_argument("--max-lr", type=float, default=0.05)
    demo_parser.add_argument("--plot", default="keras_lr_demo_schedule.png",
                             help="where to save the schedule plot ('' to skip)")
    demo_parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.command == "demo":
        if args.epochs < 1:
            parser.error(f"--epochs must be >= 1; received {args.epochs}")
        if not args.max_lr > 0:
            parser.error(f"--max-lr must be > 0; received {args.max_lr}")
        demo(epochs=args.epochs, max_lr=args.max_lr, plot=args.plot or None, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
