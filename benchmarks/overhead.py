"""Time per training step with each keras_lr callback, relative to no callback.

Runs interleaved in one process (the machine is shared and noisy): for each
repetition, every configuration trains the same small MLP on scikit-learn's
digits for a few epochs; the first epoch (tracing) is not timed and each run counts its fastest epoch. Prints, for
steps_per_execution 1 and 32, the median time per step and its ratio to the
no-callback run. Target: every keras_lr callback within 1.03x.

    python benchmarks/overhead.py            # full run
    python benchmarks/overhead.py --smoke    # CI: one short repetition
"""

import argparse
import os
import statistics

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_lr  # noqa: E402
from _timing import EpochTimer  # noqa: E402  (benchmarks/ is on the path when run as a script)

BATCH = 32


def configurations(total_steps):
    cosine = keras.optimizers.schedules.CosineDecay(0.05, total_steps)
    return {
        "no callback": (0.05, lambda: []),
        "Keras CosineDecay in optimizer": (cosine, lambda: []),
        "Scheduler(CosineDecay)": (0.05, lambda: [keras_lr.Scheduler(cosine)]),
        "OneCycle": (0.05, lambda: [keras_lr.OneCycle(0.1)]),
        "CyclicLR": (0.05, lambda: [keras_lr.CyclicLR(0.01, 0.1, step_size_up=100)]),
    }


def time_per_step(x, y, learning_rate, make_callbacks, epochs, steps_per_execution):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(
        keras.optimizers.SGD(learning_rate, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=steps_per_execution,
    )
    timer = EpochTimer()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=False,
              callbacks=[*make_callbacks(), timer])
    steps_per_epoch = -(-len(x) // BATCH)
    # The fastest epoch: the least disturbed by other work on a shared machine.
    return min(timer.times) / steps_per_epoch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one short repetition (CI)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--only", nargs="*", default=None,
                        help="configurations to run besides 'no callback' (e.g. OneCycle CyclicLR)")
    parser.add_argument("--spe", type=int, nargs="*", default=[1, 32], help="steps_per_execution values")
    args = parser.parse_args()
    repeats, epochs = (1, 2) if args.smoke else (args.repeats, args.epochs)

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    total_steps = epochs * -(-len(x) // BATCH)
    configs = configurations(total_steps)
    if args.only:
        unknown = set(args.only) - set(configs)
        if unknown:
            parser.error(f"unknown configurations {sorted(unknown)}; choose from {sorted(configs)}")
        configs = {name: c for name, c in configs.items() if name == "no callback" or name in args.only}
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, "
          f"{repeats} repetitions x {epochs} epochs of {len(x)} digits, batch {BATCH}")
    worst = 0.0
    for spe in args.spe:
        samples = {name: [] for name in configs}
        for _ in range(repeats):
            for name, (learning_rate, make_callbacks) in configs.items():  # interleaved
                samples[name].append(time_per_step(x, y, learning_rate, make_callbacks, epochs, spe))
        print(f"\nsteps_per_execution={spe}")
        print(f"  {'configuration':34s} {'us/step':>9s} {'ratio':>7s}")
        for name, times in samples.items():
            # Ratio of medians of per-repetition ratios: robust to a slow repetition.
            ratio = statistics.median(t / b for t, b in zip(times, samples["no callback"]))
            if name not in ("no callback", "Keras CosineDecay in optimizer"):  # not ours
                worst = max(worst, ratio)
            print(f"  {name:34s} {statistics.median(times) * 1e6:9.1f} {ratio:7.3f}")
    if args.smoke:
        print(f"\nsmoke run (one short repetition): ratios are noise, not a measurement (worst {worst:.3f})")
    else:
        print(f"\nworst keras_lr callback ratio: {worst:.3f} (target <= 1.03)")


if __name__ == "__main__":
    main()
