"""Time per training step with each keras_lr callback, relative to no callback.

Runs interleaved in one process (the machine is shared and noisy): for each
repetition, every configuration trains the same small MLP on scikit-learn's
digits for a few epochs; the first epoch (tracing) is not timed and each run
counts its fastest epoch. Prints, for steps_per_execution 1 and 32, the
median time per step and, per repetition, its ratio to the no-callback run:
median, mean and worst. Target: OneCycle within 1.02x (next to Keras's own
CosineDecay in the optimizer), every keras_lr callback within 1.03x.

Then the loop a notebook runs, one epoch per call, `fit(epochs=e + 1,
initial_epoch=e)` with a new callback each call: the time per call after the
first, relative to the same loop with no callback. Target: 1.05x (the call
must reuse its traced train step, as a plain fit does).

    python benchmarks/overhead.py            # full run, under KERAS_BACKEND (TensorFlow by default)
    python benchmarks/overhead.py --backends tensorflow jax torch   # each in its own process
    python benchmarks/overhead.py --smoke    # CI: one short repetition
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from _timing import EpochTimer  # noqa: E402  (benchmarks/ is on the path when run as a script)
from sklearn.datasets import load_digits  # noqa: E402

import keras_lr  # noqa: E402

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


def build(learning_rate, steps_per_execution):
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
    return model


def time_per_step(x, y, learning_rate, make_callbacks, epochs, steps_per_execution):
    model = build(learning_rate, steps_per_execution)
    timer = EpochTimer()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=False,
              callbacks=[*make_callbacks(), timer])
    steps_per_epoch = -(-len(x) // BATCH)
    # The fastest epoch: the least disturbed by other work on a shared machine.
    return min(timer.times) / steps_per_epoch


def loop_configurations(total_steps):
    cosine = keras.optimizers.schedules.CosineDecay(0.05, total_steps)
    return {
        "no callback": lambda: [],
        "Scheduler(CosineDecay)": lambda: [keras_lr.Scheduler(cosine)],
        "OneCycle(total_steps=...)": lambda: [keras_lr.OneCycle(0.1, total_steps=total_steps)],
        "ReduceLROnPlateau": lambda: [keras_lr.ReduceLROnPlateau(monitor="loss")],
    }


def time_per_call(x, y, make_callbacks, calls, steps_per_execution):
    """Mean wall time of the calls after the first of `fit(epochs=e + 1, initial_epoch=e)`."""
    model = build(0.05, steps_per_execution)
    times = []
    for epoch in range(calls):
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=epoch + 1, initial_epoch=epoch, verbose=0, shuffle=False,
                  callbacks=make_callbacks())
        times.append(time.perf_counter() - start)
    return statistics.mean(times[1:])


def report(samples, baseline, skip=()):
    """Prints each configuration's median time and its ratio to ``baseline``; returns the worst mean ratio."""
    worst = 0.0
    print(f"  {'configuration':34s} {'time':>10s} {'ratio: median':>14s} {'mean':>7s} {'worst':>7s}")
    for name, times in samples.items():
        ratios = [t / b for t, b in zip(times, samples[baseline])]
        if name != baseline and name not in skip:
            worst = max(worst, statistics.mean(ratios))
        print(f"  {name:34s} {statistics.median(times) * 1e6:8.1f}us {statistics.median(ratios):14.3f} "
              f"{statistics.mean(ratios):7.3f} {max(ratios):7.3f}")
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one short repetition (CI)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--calls", type=int, default=6, help="fit calls in the loop part")
    parser.add_argument("--only", nargs="*", default=None,
                        help="configurations to run besides 'no callback' (e.g. OneCycle CyclicLR)")
    parser.add_argument("--spe", type=int, nargs="*", default=[1, 32], help="steps_per_execution values")
    parser.add_argument("--backends", nargs="*", default=None,
                        help="run the benchmark once per backend, each in its own process")
    args = parser.parse_args()
    if args.backends:
        rest = [a for a in sys.argv[1:] if a not in args.backends and a != "--backends"]
        for backend in args.backends:
            print(f"\n===== {backend} =====", flush=True)
            subprocess.run([sys.executable, __file__, *rest], env={**os.environ, "KERAS_BACKEND": backend}, check=True)
        return
    if keras.backend.backend() == "torch":
        args.spe = [spe for spe in args.spe if spe == 1]  # Keras's torch backend refuses more
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
        print(f"\nsteps_per_execution={spe}: time per step")
        worst = max(worst, report(samples, "no callback", skip=("Keras CosineDecay in optimizer",)))

    calls = 3 if args.smoke else args.calls
    loops = loop_configurations(calls * -(-len(x) // BATCH))
    worst_loop = 0.0
    for spe in args.spe:
        samples = {name: [] for name in loops}
        for _ in range(repeats):
            for name, make_callbacks in loops.items():  # interleaved
                samples[name].append(time_per_call(x, y, make_callbacks, calls, spe))
        print(f"\nsteps_per_execution={spe}: a loop of {calls} calls of fit(epochs=e + 1, initial_epoch=e), "
              f"time per call after the first")
        worst_loop = max(worst_loop, report(samples, "no callback"))
    if args.smoke:
        print(f"\nsmoke run (one short repetition): ratios are noise, not a measurement "
              f"(worst {worst:.3f}, loop {worst_loop:.3f})")
    else:
        print(f"\nworst mean ratio of a keras_lr callback: per step {worst:.3f} (target <= 1.03; OneCycle <= 1.02), "
              f"per call in a loop {worst_loop:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
