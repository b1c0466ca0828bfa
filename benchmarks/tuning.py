"""Does tuning the rate's schedule (and seeding the search with the range test) pay?

Part 1, on each task (data shipped in scikit-learn), the same trial budget
and seeds for each search, scored on a held-out split:

(a) KerasTuner's RandomSearch over a constant rate, log-uniform in
    [1e-5, 1], as its docs show (`hp.Float(..., sampling="log")`);
(b) `keras_lr.tuning.RandomSearch` with `LRHyperModel` (every schedule);
(c) the same, seeded by the range test (`LRHyperModel(finder=True)`).

It reports the best score after each trial (mean over seeds, and the worst
seed) and the training steps each search ran. Target: (c) reaches (a)'s
final best score within a third of the trials. (c)'s second trial is the
range test's own recommendation, one cycle at its peak.

Part 2, on a space that reaches divergence (SGD on a regression MLP, rates
up to 10): (d) `keras_tuner.BayesianOptimization` against
`keras_lr.tuning.BayesianOptimization`, and the share of their guided
trials (after the random initial points) spent at rates that diverge (at
or above the lowest rate that diverged in a scan of fixed rates). Target:
at most a quarter with keras_lr's handling.

    python benchmarks/tuning.py            # full run (about 25 minutes on 2 cores)
    python benchmarks/tuning.py --smoke    # CI: one tiny search each
"""

import argparse
import json
import math
import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import keras_lr  # noqa: E402
from keras_lr import tuning  # noqa: E402

BATCH = 32


def _split(x, y, stratify=True):
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y if stratify else None)


def _standardise(x_train, x_test):
    mean, std = x_train.mean(0), x_train.std(0) + 1e-8
    return ((x_train - mean) / std).astype("float32"), ((x_test - mean) / std).astype("float32")


def digits_task():
    data = load_digits()
    x_train, x_test, y_train, y_test = _split((data.data / 16.0).astype("float32"), data.target.astype("int32"))
    return dict(name="digits MLP", data=(x_train, y_train, x_test, y_test), inputs=64, units=(64,), classes=10, epochs=5)


def cancer_task():
    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = _split(data.data.astype("float32"), data.target.astype("int32"))
    x_train, x_test = _standardise(x_train, x_test)
    return dict(name="breast cancer MLP", data=(x_train, y_train, x_test, y_test), inputs=30, units=(32, 16), classes=2,
                epochs=10)


def diabetes_task():
    data = load_diabetes()
    x_train, x_test, y_train, y_test = _split(data.data, data.target, stratify=False)
    x_train, x_test = _standardise(x_train, x_test)
    mean, std = y_train.mean(), y_train.std()
    y_train, y_test = ((y_train - mean) / std).astype("float32"), ((y_test - mean) / std).astype("float32")
    return dict(name="diabetes MLP, SGD", data=(x_train, y_train[:, None], x_test, y_test[:, None]), inputs=10,
                units=(32,), epochs=5)


def classifier(task, rate, optimizer=keras.optimizers.Adam):
    layers = [keras.Input((task["inputs"],))]
    layers += [keras.layers.Dense(units, activation="relu") for units in task["units"]]
    if task["classes"] == 2:
        layers.append(keras.layers.Dense(1, activation="sigmoid"))
        loss = "binary_crossentropy"
    else:
        layers.append(keras.layers.Dense(task["classes"], activation="softmax"))
        loss = "sparse_categorical_crossentropy"
    model = keras.Sequential(layers)
    model.compile(optimizer(rate), loss, metrics=["accuracy"])
    return model


def regressor(task, rate):
    layers = [keras.Input((task["inputs"],))] + [keras.layers.Dense(u, activation="relu") for u in task["units"]]
    model = keras.Sequential(layers + [keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(rate), "mse")
    return model


def _best_so_far(oracle, direction):
    """Best score after each trial, in the order the trials ran (diverged ones count as no improvement)."""
    best, out = (math.inf if direction == "min" else -math.inf), []
    diverged = getattr(oracle, "keras_lr", {}).get("diverged", {})
    for trial_id in oracle.start_order:
        trial = oracle.trials[trial_id]
        score = trial.score
        if trial_id not in diverged and score is not None and math.isfinite(score):
            best = min(best, score) if direction == "min" else max(best, score)
        out.append(best)
    return out


def _steps(oracle, task):
    """Optimizer steps the search trained for (from each trial's logged epochs)."""
    x_train = task["data"][0]
    per_epoch = math.ceil(len(x_train) / BATCH)
    epochs = 0
    for trial in oracle.trials.values():
        if trial.metrics.exists("curve/loss"):
            epochs += len(trial.metrics.get_history("curve/loss"))
        elif trial.status == "COMPLETED":
            epochs += task["epochs"]
    return epochs * per_epoch


def search(kind, task, seed, trials, directory):
    """One search; returns (best score after each trial, steps trained)."""
    keras.utils.set_random_seed(seed)
    x_train, y_train, x_test, y_test = task["data"]
    common = dict(objective="val_accuracy", max_trials=trials, seed=seed, directory=directory,
                  project_name=f"{kind}-{seed}", overwrite=True)
    if kind == "a":
        tuner = keras_tuner.RandomSearch(
            lambda hp: classifier(task, hp.Float("learning_rate", 1e-5, 1.0, sampling="log")), **common)
    else:
        hypermodel = tuning.LRHyperModel(lambda hp: classifier(task, tuning.learning_rate(hp)),
                                         finder=True if kind == "c" else None)
        tuner = tuning.RandomSearch(hypermodel, **common)
    tuner.search(x_train, y_train, validation_data=(x_test, y_test), epochs=task["epochs"], batch_size=BATCH, verbose=0)
    steps = _steps(tuner.oracle, task)
    if kind == "c":  # the range test's steps: one test, or two when lr_find ran it again
        test = hypermodel.range_test
        steps += sum(len(t.frame) for t in (test, test.first_test) if t is not None)
    return _best_so_far(tuner.oracle, "max"), steps


def diverging_rate(task, rates, seed=0):
    """The lowest of fixed SGD rates at which the regression's loss becomes non-finite or grows."""
    x_train, y_train, x_test, y_test = task["data"]
    for rate in rates:
        keras.utils.set_random_seed(seed)
        history = regressor(task, float(rate)).fit(x_train, y_train, batch_size=BATCH, epochs=task["epochs"], verbose=0,
                                                   callbacks=[keras.callbacks.TerminateOnNaN()])
        losses = history.history["loss"]
        if not all(math.isfinite(v) for v in losses) or losses[-1] > losses[0]:
            return float(rate)
    return math.inf


def bayesian(ours, task, seed, trials, initial, directory):
    """The rates the search tried in order, and how many trials ran before KerasTuner gave up."""
    keras.utils.set_random_seed(seed)
    x_train, y_train, x_test, y_test = task["data"]
    common = dict(objective="val_loss", max_trials=trials, num_initial_points=initial, seed=seed, directory=directory,
                  project_name=f"bo-{ours}-{seed}", overwrite=True)
    if ours:
        hypermodel = tuning.LRHyperModel(
            lambda hp: regressor(task, tuning.learning_rate(hp, min_value=1e-3, max_value=10.0, default=0.01)),
            schedules=("constant",))
        tuner = tuning.BayesianOptimization(hypermodel, **common)
    else:
        tuner = keras_tuner.BayesianOptimization(
            lambda hp: regressor(task, hp.Float("learning_rate", 1e-3, 10.0, sampling="log", default=0.01)),
            max_consecutive_failed_trials=trials, **common)
    stopped = None
    try:
        tuner.search(x_train, y_train, validation_data=(x_test, y_test), epochs=task["epochs"], batch_size=BATCH,
                     verbose=0)
    except RuntimeError as error:  # KerasTuner: too many failed trials in a row
        stopped = str(error).splitlines()[0]
    oracle = tuner.oracle
    return [oracle.trials[t].hyperparameters.values["learning_rate"] for t in oracle.start_order], stopped


def part1(tasks, seeds, trials, directory):
    results = {}
    for task in tasks:
        for kind in "abc":
            curves, steps, started = [], [], time.perf_counter()
            for seed in seeds:
                curve, n = search(kind, task, seed, trials, directory)
                curves.append(curve)
                steps.append(n)
            results[(task["name"], kind)] = dict(curves=np.array(curves), steps=float(np.mean(steps)),
                                                 seconds=time.perf_counter() - started)
            print(f"  {task['name']} ({kind}): {np.mean(curves, axis=0)[-1]:.4f} after {trials} trials, "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    return results


def report1(results, tasks, trials):
    names = {"a": "(a) KerasTuner RandomSearch, constant rate", "b": "(b) LRHyperModel, schedules",
             "c": "(c) LRHyperModel, range-test bounds"}
    lines = []
    for task in tasks:
        lines.append(f"\n{task['name']}: best validation accuracy after each trial, mean over seeds (worst seed)\n")
        shown = sorted({k for k in (1, 2, 3, 4, trials // 3, trials // 2, trials) if 1 <= k <= trials})
        lines.append("| search | " + " | ".join(f"trial {k}" for k in shown) + " | steps |")
        lines.append("|---|" + "---|" * (len(shown) + 1))
        for kind in "abc":
            entry = results[(task["name"], kind)]
            mean, worst = entry["curves"].mean(axis=0), entry["curves"].min(axis=0)
            cells = [f"{mean[k - 1]:.4f} ({worst[k - 1]:.4f})" for k in shown]
            lines.append(f"| {names[kind]} | " + " | ".join(cells) + f" | {entry['steps']:.0f} |")
        target = results[(task["name"], "a")]["curves"].mean(axis=0)[-1]
        seeded = results[(task["name"], "c")]["curves"].mean(axis=0)
        reached = next((k + 1 for k, value in enumerate(seeded) if value >= target), None)
        budget = max(1, trials // 3)
        verdict = "met" if reached is not None and reached <= budget else "NOT met"
        lines.append(f"\n(c) reaches (a)'s final {target:.4f} at trial {reached} (target: within {budget}): {verdict}")
    return "\n".join(lines)


def part2(seeds, trials, initial, directory):
    task = diabetes_task()
    threshold = diverging_rate(task, np.geomspace(1e-3, 10.0, 17))
    lines = [f"\n{task['name']}: rates from 1e-3 to 10; the lowest fixed rate that diverges: {threshold:.3g}\n",
             "| search | guided trials in the diverging region (mean over seeds) | worst seed | trials run | stopped |",
             "|---|---|---|---|---|"]
    shares = {}
    for ours in (False, True):
        fractions, runs, stops = [], [], []
        for seed in seeds:
            rates, stopped = bayesian(ours, task, seed, trials, initial, directory)
            guided = rates[initial:]
            fractions.append(np.mean([r >= threshold for r in guided]) if guided else math.nan)
            runs.append(len(rates))
            stops.append(stopped)
        name = "keras_lr.tuning.BayesianOptimization" if ours else "keras_tuner.BayesianOptimization"
        shares[ours] = float(np.nanmean(fractions))
        stopped = sum(s is not None for s in stops)
        lines.append(f"| {name} | {np.nanmean(fractions):.0%} | {np.nanmax(fractions):.0%} | "
                     f"{np.mean(runs):.1f} of {trials} | {stopped} of {len(seeds)} searches |")
        print(f"  bayesian ours={ours}: {np.nanmean(fractions):.0%}", flush=True)
    verdict = "met" if shares[True] <= 0.25 else "NOT met"
    lines.append(f"\nWith keras_lr's handling: {shares[True]:.0%} of guided trials diverging (target <= 25%): {verdict}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="one tiny search of each kind: checks the script runs")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of each search in part 1")
    parser.add_argument("--bo-seeds", type=int, default=8, help="seeds of each Bayesian search in part 2")
    parser.add_argument("--part", type=int, choices=(1, 2), default=None, help="run one part only")
    parser.add_argument("--trials", type=int, default=12)
    args = parser.parse_args()
    if args.smoke:
        tasks, seeds, trials, initial = [dict(digits_task(), epochs=1)], [0], 2, 1
    else:
        tasks, seeds, trials, initial = [digits_task(), cancer_task()], list(range(args.seeds)), args.trials, 3
    started = time.perf_counter()
    results, text = {}, ""
    with tempfile.TemporaryDirectory() as directory:
        if args.part in (None, 1):
            results = part1(tasks, seeds, trials, directory)
            text = report1(results, tasks, trials)
        if args.smoke:
            text += "\n(--smoke: one seed, two trials; the figures are not a measurement)"
        elif args.part in (None, 2):
            text += "\n" + part2(list(range(args.bo_seeds)), trials, initial, directory)
    print(text)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if not args.smoke:
        os.makedirs("benchmarks/results", exist_ok=True)
        with open(f"benchmarks/results/tuning{args.part or ''}.md", "w") as handle:
            handle.write(text + "\n")
        summary = {f"{name} ({kind})": {"mean": entry["curves"].mean(axis=0).tolist(),
                                         "worst": entry["curves"].min(axis=0).tolist(), "steps": entry["steps"]}
                   for (name, kind), entry in results.items()}
        with open(f"benchmarks/results/tuning{args.part or ''}.json", "w") as handle:
            json.dump(summary, handle, indent=1)


if __name__ == "__main__":
    main()
