"""The `keras-lr` command.

    keras-lr demo [--epochs N] [--max-lr LR] [--plot PATH] [--schedule-plot PATH] [--trials N]

The demo works on scikit-learn's digits (shipped inside the package, never
downloaded): it runs the learning-rate range test on a small MLP, prints the
suggestions and saves the plot, trains with Adam and the one-cycle policy at
the recommended peak, printing rate, beta_1 and accuracy every epoch, and
then trains the same model with Keras's default, Adam(0.001), for the same
epochs, and prints both accuracies. Last, a short KerasTuner search of the
rate and its schedule (`keras_lr.tuning`), whose first trial is Keras's
default, and its best trial next to that default.
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


def _model(keras):
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def demo(epochs=3, max_lr=None, plot=None, schedule_plot=None, seed=0, trials=6):
    """Range test, then OneCycle at its suggestion next to Keras's default, then a short search, on digits.

    Returns:
        (OneCycle's final validation accuracy, Adam(0.001)'s), same model, data and epochs.
    """
    import keras

    import keras_lr

    (x_train, y_train), (x_val, y_val) = _load_digits(seed)
    print(f"keras_lr demo: MLP on scikit-learn digits ({len(x_train)} train, {len(x_val)} validation), "
          f"Adam, {epochs} epochs, backend {keras.backend.backend()}")

    def compiled(optimizer):
        keras.utils.set_random_seed(seed)
        model = _model(keras)
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    # 1. The range test on the model we are about to train.
    model = compiled(keras.optimizers.Adam())
    result = keras_lr.lr_find(model, x_train, y_train, batch_size=32, num_steps=100, seed=seed, verbose=0)
    print(f"\n1. range test: {len(result.frame)} steps from {result.frame.learning_rate.iloc[0]:.1e} "
          f"to {result.frame.learning_rate.iloc[-1]:.2g}" + (f" (stopped: {result.stopped_early})" if result.stopped_early else ""))
    for name, rate in result.suggestions.items():
        print(f"   {name:8s} {rate:.3g}" + ("   <- default suggestion" if name == "valley" else ""))
    low, high = result.cyclic_bounds()
    print(f"   CyclicLR bounds {low:.3g} .. {high:.3g}; OneCycle peak {result.one_cycle_max_lr:.3g}")
    if plot:
        result.plot().figure.savefig(plot)
        print(f"   range test plot saved to {plot}")

    # 2. OneCycle at the recommended peak (the model is as it was before the test).
    peak = max_lr if max_lr is not None else result.one_cycle_max_lr
    one_cycle = keras_lr.OneCycle(max_lr=peak)

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            momentum = one_cycle.history_frame().momentum.iloc[-1]
            print(f"   epoch {epoch + 1:2d}  learning_rate {logs['learning_rate']:.5f}  beta_1 {momentum:.3f}  "
                  f"loss {logs['loss']:.4f}  accuracy {logs['accuracy']:.4f}  val_accuracy {logs['val_accuracy']:.4f}")

    print(f"\n2. OneCycle(max_lr={peak:.3g}) with Adam:")
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), batch_size=32, epochs=epochs,
                        verbose=0, callbacks=[one_cycle, Report()])
    frame = one_cycle.history_frame()
    print(f"   {len(frame)} optimizer steps; learning rate from {frame.learning_rate.iloc[0]:.5f} up to "
          f"{frame.learning_rate.max():.5f} and down to {frame.learning_rate.iloc[-1]:.2e}")
    if schedule_plot:
        from keras_lr.plotting import plot_schedule

        plot_schedule(one_cycle.schedule_for_last_fit(), len(frame)).savefig(schedule_plot)
        print(f"   schedule plot saved to {schedule_plot}")

    # 3. Keras's default: Adam(0.001), constant.
    baseline = compiled(keras.optimizers.Adam())
    default = baseline.fit(x_train, y_train, validation_data=(x_val, y_val), batch_size=32, epochs=epochs, verbose=0)
    ours = history.history["val_accuracy"][-1]
    theirs = default.history["val_accuracy"][-1]
    print(f"\n3. validation accuracy after {epochs} epochs:")
    print(f"   Keras default Adam(0.001):      {theirs:.4f}")
    print(f"   OneCycle at the range test's peak: {ours:.4f}")
    if trials:
        _search(keras, (x_train, y_train), (x_val, y_val), epochs, trials, seed)
    return ours, theirs


def _search(keras, train, validation, epochs, trials, seed):
    """A short search of the rate and its schedule; prints the best trial next to the defaults trial."""
    import tempfile

    from keras_lr import tuning

    def build_model(hp):
        model = _model(keras)
        model.compile(keras.optimizers.Adam(tuning.learning_rate(hp)), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    print(f"\n4. KerasTuner search of the rate and its schedule: {trials} trials of {epochs} epochs "
          f"(keras_lr.tuning.RandomSearch, LRHyperModel):")
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as directory:
        tuner = tuning.RandomSearch(tuning.LRHyperModel(build_model), objective="val_accuracy", max_trials=trials,
                                    seed=seed, directory=directory, project_name="demo")
        tuner.search(*train, validation_data=validation, epochs=epochs, batch_size=32, verbose=0)
        frame = tuning.results_frame(tuner)
    for _, row in frame.iterrows():
        mark = "   <- Keras's default" if row.defaults else ""
        print(f"   trial {row.trial_id}  {row.lr_schedule:9s} learning_rate {row.learning_rate:<9.3g} "
              f"val_accuracy {row.score:.4f}  ({row.status}){mark}")
    best, default = frame.iloc[0], frame[frame.defaults].iloc[0]
    print(f"   best: {best.lr_schedule} at {best.learning_rate:.3g}, {best.score:.4f} against the default's "
          f"{default.score:.4f} ({best.score - default.score:+.4f})")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="keras-lr", description="keras_lr command line")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="range test on scikit-learn's digits, then OneCycle at its suggestion next to Adam(0.001)"
    )
    demo_parser.add_argument("--epochs", type=int, default=3)
    demo_parser.add_argument("--max-lr", type=float, default=None,
                             help="OneCycle peak (default: the range test's recommendation)")
    demo_parser.add_argument("--plot", default="keras_lr_range_test.png",
                             help="where to save the range test plot ('' to skip)")
    demo_parser.add_argument("--schedule-plot", default="keras_lr_demo_schedule.png",
                             help="where to save the schedule plot ('' to skip)")
    demo_parser.add_argument("--seed", type=int, default=0)
    demo_parser.add_argument("--trials", type=int, default=6,
                             help="trials of the closing KerasTuner search (0 to skip it)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.command == "demo":
        if args.epochs < 1:
            parser.error(f"--epochs must be >= 1; received {args.epochs}")
        if args.max_lr is not None and not args.max_lr > 0:
            parser.error(f"--max-lr must be > 0; received {args.max_lr}")
        if args.trials < 0:
            parser.error(f"--trials must be >= 0; received {args.trials}")
        demo(epochs=args.epochs, max_lr=args.max_lr, plot=args.plot or None,
             schedule_plot=args.schedule_plot or None, seed=args.seed, trials=args.trials)
    return 0


if __name__ == "__main__":
    sys.exit(main())
