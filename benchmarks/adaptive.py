"""Adaptive callbacks: what they rescue from a too-high rate, and what they cost.

1. Rescue. On scikit-learn's digits and its diabetes regression (MLPs,
   plain SGD), training starts at a rate far too high (1.0 and 2.0). Each task trains with no callback, with `DivergenceGuard`, with
   `BoldDriver(rollback=True)`, and with both, for the same epochs and
   seeds. Prints the median over seeds of the final training loss and the
   held-out accuracy (digits) or mean squared error (diabetes, standardized
   target), and how many seeds ended in NaN.

2. Overhead. The digits MLP at a sane rate, runs interleaved in one process:
   each run's fastest epoch (after the first, which traces), per step,
   relative to no callback. Target: each callback within 1.03x. Keras's
   TerminateOnNaN runs alongside as the reference for any callback that reads
   every batch's loss. Also counts the rate changes each made on this healthy
   run (a guard should make none).

    python benchmarks/adaptive.py            # full run
    python benchmarks/adaptive.py --smoke    # CI: one short repetition
"""

import argparse
import math
import os
import statistics

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from _timing import EpochTimer  # noqa: E402  (benchmarks/ is on the path when run as a script)
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import keras_lr  # noqa: E402

BATCH = 32


def digits_task():
    data = load_digits()
    x = (data.data / 16.0).astype("float32")
    y = data.target.astype("int32")
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


def diabetes_task():
    data = load_diabetes()
    x = data.data.astype("float32")
    x = (x - x.mean(0)) / x.std(0)
    y = data.target.astype("float32")
    y = ((y - y.mean()) / y.std())[:, None]
    return train_test_split(x, y, test_size=0.25, random_state=0)


TASKS = {
    # name: (data, hidden units, output units, loss, optimizer maker, metric name)
    "digits": (digits_task, 64, 10, "classification", lambda: keras.optimizers.SGD(1.0)),
    "diabetes": (diabetes_task, 32, 1, "regression", lambda: keras.optimizers.SGD(2.0)),
}

RESCUES = {
    "no callback": lambda: [],
    "DivergenceGuard": lambda: [keras_lr.DivergenceGuard()],
    "BoldDriver(rollback)": lambda: [keras_lr.BoldDriver(rollback=True)],
    "Guard + BoldDriver": lambda: [keras_lr.DivergenceGuard(), keras_lr.BoldDriver(rollback=True)],
}


def build(inputs, hidden, outputs, kind, optimizer):
    model = keras.Sequential([
        keras.Input((inputs,)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(outputs),
    ])
    if kind == "classification":
        model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    else:
        model.compile(optimizer, "mse")
    return model


def rescue(task, make_callbacks, seed, epochs):
    make_data, hidden, outputs, kind, make_optimizer = TASKS[task]
    x, x_test, y, y_test = make_data()
    keras.utils.set_random_seed(seed)
    model = build(x.shape[1], hidden, outputs, kind, make_optimizer())
    history = model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=make_callbacks())
    results = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    score = results["accuracy"] if kind == "classification" else results["loss"]
    return history.history["loss"][-1], score


OVERHEAD = {
    "no callback": lambda: [],
    "ReduceLROnPlateau (epoch)": lambda: [keras_lr.ReduceLROnPlateau(monitor="loss")],
    "ReduceLROnPlateau (20 steps)": lambda: [keras_lr.ReduceLROnPlateau(monitor="loss", frequency=20)],
    "DivergenceGuard": lambda: [keras_lr.DivergenceGuard()],
    "BoldDriver": lambda: [keras_lr.BoldDriver()],
    "BoldDriver (rollback)": lambda: [keras_lr.BoldDriver(rollback=True)],
    # Not ours: Keras's own per-batch loss watcher, the floor for any callback
    # that reads every batch's loss (it turns off Keras's async dispatch).
    "Keras TerminateOnNaN": lambda: [keras.callbacks.TerminateOnNaN()],
}


def time_per_step(x, y, make_callbacks, epochs):
    keras.utils.set_random_seed(0)
    model = build(x.shape[1], 128, 10, "classification", keras.optimizers.SGD(0.05, momentum=0.9))
    timer = EpochTimer()
    callbacks = make_callbacks()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=False, callbacks=[*callbacks, timer])
    changes = sum(len(c.events_frame()) for c in callbacks if hasattr(c, "events_frame"))
    return min(timer.times) / -(-len(x) // BATCH), changes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one short repetition of each part (CI)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20, help="epochs of each rescue run")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repetitions of the overhead runs")
    parser.add_argument("--part", choices=["all", "rescue", "overhead"], default="all")
    args = parser.parse_args()
    seeds, epochs, repeats, timing_epochs = (1, 2, 1, 2) if args.smoke else (args.seeds, args.epochs, args.repeats, 8)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")

    if args.part != "overhead":
        rescue_table(seeds, epochs)
    if args.part != "rescue":
        overhead_table(repeats, timing_epochs, args.smoke)


def rescue_table(seeds, epochs):
    print(f"\n1. Rescue from a too-high rate: median over {seeds} seeds, {epochs} epochs, batch {BATCH}")
    for task, (_, _, _, kind, make_optimizer) in TASKS.items():
        optimizer = make_optimizer()
        score_name = "test accuracy" if kind == "classification" else "test MSE"
        print(f"\n  {task}: {type(optimizer).__name__}(learning_rate={float(optimizer.learning_rate):g})")
        print(f"  {'callbacks':24s} {'train loss':>11s} {score_name:>14s} {'NaN runs':>9s}")
        for name, make_callbacks in RESCUES.items():
            runs = [rescue(task, make_callbacks, seed, epochs) for seed in range(seeds)]
            finite = [(loss, score) for loss, score in runs if math.isfinite(loss) and math.isfinite(score)]
            nan_runs = len(runs) - len(finite)
            if finite:
                loss = statistics.median(loss for loss, _ in finite)
                score = statistics.median(score for _, score in finite)
                print(f"  {name:24s} {loss:11.4f} {score:14.4f} {nan_runs:5d}/{seeds}")
            else:
                print(f"  {name:24s} {'nan':>11s} {'nan':>14s} {nan_runs:5d}/{seeds}")



def overhead_table(repeats, timing_epochs, smoke):
    x, _, y, _ = digits_task()
    print(f"\n2. Overhead: digits MLP 64-128-128-10, SGD(0.05, momentum=0.9), {repeats} interleaved "
          f"repetitions x {timing_epochs} epochs, fastest epoch per run")
    samples = {name: [] for name in OVERHEAD}
    changes = {name: 0 for name in OVERHEAD}
    for _ in range(repeats):
        for name, make_callbacks in OVERHEAD.items():
            seconds, made = time_per_step(x, y, make_callbacks, timing_epochs)
            samples[name].append(seconds)
            changes[name] += made
    print(f"  {'callback':30s} {'us/step':>9s} {'ratio':>7s} {'rate changes (all runs)':>24s}")
    worst = 0.0
    for name, times in samples.items():
        ratio = statistics.median(t / b for t, b in zip(times, samples["no callback"]))
        if name not in ("no callback", "Keras TerminateOnNaN"):
            worst = max(worst, ratio)
        print(f"  {name:30s} {statistics.median(times) * 1e6:9.1f} {ratio:7.3f} {changes[name]:24d}")
    if smoke:
        print(f"\nsmoke run (one short repetition): figures are noise, not a measurement (worst {worst:.3f})")
    else:
        print(f"\nworst adaptive callback ratio: {worst:.3f} (target <= 1.03)")


if __name__ == "__main__":
    main()
