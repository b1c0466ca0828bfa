"""Is the range test's OneCycle recommendation a peak you can train with unattended?

Six tasks of different kinds, all on data shipped in scikit-learn or
generated here (nothing is downloaded):

    digits MLP            8x8 digits, 2 hidden layers
    digits CNN            the same images, Conv16-MaxPool-Conv32-GAP-Dense10
    breast cancer MLP     30-32-16-1, sigmoid, binary cross-entropy
    Friedman regression   generated (scikit-learn's make_friedman1), 10-64-64-1, MSE; R^2 x 100
    sequences 1-D CNN     generated: noisy, shifted, scaled templates, 6 classes; Conv1D x2, global max pool
    digits ResNet-MLP     residual blocks with batch normalization

For each task, with Adam and with SGD(momentum=0.9), and at two budgets (a
short one of 2-3 epochs and a realistic one of 20-30 epochs):

1. the grid: OneCycle at peaks spanning three decades in half-decade steps,
   `--grid-seeds` seeds each (3 by default);
2. the recommendation: `lr_find` on each of `--seeds` seeds (10 by default),
   then `OneCycle(max_lr=result)` trained from the same seed, so the peak is
   the one the result resolves for that fit (it knows the budget);
3. Keras's default: `Adam(0.001)` at a constant rate for the same budget.

Scores are held-out accuracy in points (R^2 x 100 for the regression); a
run whose loss is not finite scores 0. Reported: the mean over seeds and
the worst seed. Targets: on every task, budget and optimizer, the
recommendation's mean within 0.5 points of the grid's best mean, and no
seed's recommendation more than 2 points below the grid's best mean.

Then the cost: `lr_find`'s wall time against the same number of plain
training steps of the same model, interleaved. Target: at most 1.10x.

Every run is cached in a JSON-lines file (`--cache`), so a long run can be
resumed; `--workers` processes share the runs.

    python benchmarks/finder_quality.py              # full run (about an hour on 2 cores)
    python benchmarks/finder_quality.py --smoke      # CI: one tiny run per part
"""

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

BATCH = 32
HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------------- data


def _split(x, y, stratify=True, test_size=0.25):
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=test_size, random_state=0, stratify=y if stratify else None)


def _standardise(x_train, x_test):
    mean, std = x_train.mean(0), x_train.std(0) + 1e-8
    return ((x_train - mean) / std).astype("float32"), ((x_test - mean) / std).astype("float32")


def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return _split((data.data / 16.0).astype("float32"), data.target.astype("int32"))


def digits_images():
    x, x_test, y, y_test = digits()
    return x.reshape(-1, 8, 8, 1), x_test.reshape(-1, 8, 8, 1), y, y_test


def breast_cancer():
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x, x_test, y, y_test = _split(data.data.astype("float32"), data.target.astype("float32"))
    x, x_test = _standardise(x, x_test)
    return x, x_test, y, y_test


def friedman():
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=2000, n_features=10, noise=1.0, random_state=0)
    x, x_test, y, y_test = _split(x.astype("float32"), y.astype("float32"), stratify=False)
    x, x_test = _standardise(x, x_test)
    mean, std = y.mean(), y.std()
    return x, x_test, ((y - mean) / std).astype("float32"), ((y_test - mean) / std).astype("float32")


def sequences(n=3000, length=64, classes=6, noise=0.3, seed=0):
    """Six short templates (bump, dip, burst, ramp up, ramp down, double spike), each placed at a
    random position in a noisy sequence with a random scale and offset: a task for convolutions."""
    rng = np.random.default_rng(seed)
    t = np.linspace(-1.0, 1.0, 16)
    templates = [
        np.exp(-8 * t**2),
        -np.exp(-8 * t**2),
        np.sin(2 * np.pi * 2 * t) * np.exp(-2 * t**2),
        (t + 1) / 2,
        (1 - t) / 2,
        np.exp(-80 * (t - 0.4) ** 2) + np.exp(-80 * (t + 0.4) ** 2),
    ][:classes]
    labels = rng.integers(0, classes, size=n)
    x = np.zeros((n, length))
    for row, label in enumerate(labels):
        at = rng.integers(0, length - 16)
        x[row, at : at + 16] = templates[label]
    x = x * rng.uniform(0.8, 2.0, size=(n, 1)) + rng.uniform(-1.0, 1.0, size=(n, 1))
    x = x + noise * rng.normal(size=x.shape)
    return _split(x[..., None].astype("float32"), labels.astype("int32"))


# -------------------------------------------------------------------------------------------- models


def digits_mlp():
    import keras

    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10),
    ])


def digits_cnn():
    import keras

    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10),
    ])


def breast_cancer_mlp():
    import keras

    return keras.Sequential([
        keras.Input((30,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


def friedman_mlp():
    import keras

    return keras.Sequential([
        keras.Input((10,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1),
    ])


def sequence_cnn():
    import keras

    return keras.Sequential([
        keras.Input((64, 1)),
        keras.layers.Conv1D(16, 5, padding="same", activation="relu"),
        keras.layers.MaxPooling1D(2),
        keras.layers.Conv1D(32, 5, padding="same", activation="relu"),
        keras.layers.GlobalMaxPooling1D(),
        keras.layers.Dense(6),
    ])


def residual_mlp(blocks=3, width=64):
    import keras

    inputs = keras.Input((64,))
    h = keras.layers.Dense(width)(inputs)
    for _ in range(blocks):
        r = keras.layers.BatchNormalization()(h)
        r = keras.layers.Activation("relu")(r)
        r = keras.layers.Dense(width)(r)
        r = keras.layers.BatchNormalization()(r)
        r = keras.layers.Activation("relu")(r)
        r = keras.layers.Dense(width)(r)
        h = keras.layers.Add()([h, r])
    h = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(h))
    return keras.Model(inputs, keras.layers.Dense(10)(h))


# name: (data, model, kind, short epochs, long epochs)
TASKS = {
    "digits MLP": (digits, digits_mlp, "classes", 3, 25),
    "digits CNN": (digits_images, digits_cnn, "classes", 3, 25),
    "breast cancer MLP": (breast_cancer, breast_cancer_mlp, "binary", 3, 30),
    "Friedman regression": (friedman, friedman_mlp, "regression", 3, 25),
    "sequences 1-D CNN": (sequences, sequence_cnn, "classes", 2, 20),
    "digits ResNet-MLP": (digits, residual_mlp, "classes", 3, 25),
}

# Three decades in half-decade steps around each optimizer's usual peaks.
GRIDS = {
    "adam": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1],
    "sgd": [3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0],
}


def optimizer(name, learning_rate=0.001):
    import keras

    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    return keras.optimizers.SGD(learning_rate, momentum=0.9)


def compiled(task, seed, opt):
    import keras

    _, make_model, kind, _, _ = TASKS[task]
    keras.utils.set_random_seed(seed)
    model = make_model()
    if kind == "classes":
        model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    elif kind == "binary":
        model.compile(opt, "binary_crossentropy")
    else:
        model.compile(opt, "mse")
    return model


_DATA = {}


def data(task):
    if task not in _DATA:
        _DATA[task] = TASKS[task][0]()
    return _DATA[task]


def score(task, model):
    """Held-out accuracy in points (R^2 x 100 for the regression); 0 for a model that diverged."""
    _, x_test, _, y_test = data(task)
    kind = TASKS[task][2]
    predictions = np.asarray(model.predict(x_test, batch_size=256, verbose=0), dtype=np.float64)
    if not np.all(np.isfinite(predictions)):
        return 0.0
    if kind == "classes":
        return 100.0 * float(np.mean(predictions.argmax(-1) == y_test))
    if kind == "binary":
        return 100.0 * float(np.mean((predictions[:, 0] > 0.5) == (y_test > 0.5)))
    residual = np.sum((y_test - predictions[:, 0]) ** 2)
    return max(0.0, 100.0 * float(1.0 - residual / np.sum((y_test - y_test.mean()) ** 2)))


# ---------------------------------------------------------------------------------------------- runs


def run(job):
    """One cached unit of work: a dict in, a dict of results out."""
    import keras

    import keras_lr

    task, kind = job["task"], job["kind"]
    x, _, y, _ = data(task)
    epochs = TASKS[task][3 if job.get("budget") == "short" else 4] if "budget" in job else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "find":
            model = compiled(task, job["seed"], optimizer(job["opt"]))
            start = time.perf_counter()
            result = keras_lr.lr_find(model, x, y, batch_size=BATCH, num_steps=job["num_steps"], seed=job["seed"], verbose=0)
            return {
                "seconds": time.perf_counter() - start,
                "rates": result.frame["learning_rate"].tolist(),
                "losses": result.frame["loss"].tolist(),
            }
        if kind == "baseline":
            model = compiled(task, job["seed"], optimizer("adam", 0.001))
            model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0)
            return {"score": score(task, model)}
        if kind == "grid":
            model = compiled(task, job["seed"], optimizer(job["opt"]))
            model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[keras_lr.OneCycle(max_lr=job["peak"])])
            return {"score": score(task, model)}
        if kind == "recommended":
            model = compiled(task, job["seed"], optimizer(job["opt"]))
            result = keras_lr.lr_find(model, x, y, batch_size=BATCH, num_steps=job["num_steps"], seed=job["seed"], verbose=0)
            one_cycle = keras_lr.OneCycle(max_lr=result) if result.reliable else None
            if one_cycle is None:  # "do not train at this": scored as what a user would do, the default
                model = compiled(task, job["seed"], optimizer("adam", 0.001))
                model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0)
                return {"score": score(task, model), "peak": None, "reasons": result.reasons}
            model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[one_cycle])
            peak = float(max(one_cycle.history_frame()["learning_rate"]))
            return {"score": score(task, model), "peak": peak, "reasons": []}
    raise ValueError(kind)


def _key(job):
    return hashlib.sha1(json.dumps(job, sort_keys=True).encode()).hexdigest()


def _worker(job):
    os.environ["TF_NUM_INTRAOP_THREADS"] = "1"
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    return job, run(job)


def run_all(jobs, cache_path, workers, label=""):
    """Runs every job not already in the cache; returns {key: result} for all of them."""
    cached = {}
    if cache_path and os.path.exists(cache_path):
        with open(cache_path) as file:
            for line in file:
                entry = json.loads(line)
                cached[entry["key"]] = entry["result"]
    todo = [job for job in jobs if _key(job) not in cached]
    if todo:
        print(f"  {label}: {len(todo)} runs to do ({len(jobs) - len(todo)} cached)", flush=True)
    start = time.perf_counter()
    out = open(cache_path, "a") if cache_path else None
    try:
        if workers > 1 and len(todo) > 1:
            context = multiprocessing.get_context("spawn")
            with context.Pool(workers, maxtasksperchild=20) as pool:
                for done, (job, result) in enumerate(pool.imap_unordered(_worker, todo), 1):
                    cached[_key(job)] = result
                    if out:
                        out.write(json.dumps({"key": _key(job), "job": job, "result": result}) + "\n")
                        out.flush()
                    if done % 20 == 0:
                        print(f"    {done}/{len(todo)} in {time.perf_counter() - start:.0f} s", flush=True)
        else:
            for job in todo:
                cached[_key(job)] = result = run(job)
                if out:
                    out.write(json.dumps({"key": _key(job), "job": job, "result": result}) + "\n")
                    out.flush()
    finally:
        if out:
            out.close()
    return {_key(job): cached[_key(job)] for job in jobs}


# ------------------------------------------------------------------------------------------- quality


def _code_version():
    """A hash of the code that turns a range test into a peak: a change re-runs the recommended runs."""
    import keras_lr

    root = os.path.dirname(keras_lr.__file__)
    digest = hashlib.sha1()
    for path in sorted(["finder/suggestions.py", "finder/result.py", "finder/range_test.py", "finder/callback.py",
                        "_engine/recommendation.py", "callbacks/one_cycle.py", "callbacks/scheduler.py"]):
        with open(os.path.join(root, path), "rb") as file:
            digest.update(file.read())
    return digest.hexdigest()[:12]


def quality(tasks, opts, budgets, seeds, grid_seeds, num_steps, cache, workers, report_path=None, grid_only=False):
    code = _code_version()
    jobs = []
    for task in tasks:
        for budget in budgets:
            jobs += [dict(kind="baseline", task=task, budget=budget, seed=s) for s in grid_seeds]
            for opt in opts:
                jobs += [dict(kind="grid", task=task, opt=opt, budget=budget, peak=p, seed=s) for p in GRIDS[opt] for s in grid_seeds]
    results = run_all(jobs, cache, workers, "grid")
    if grid_only:
        return results
    recommended = [
        dict(kind="recommended", task=task, opt=opt, budget=budget, seed=s, num_steps=num_steps, code=code)
        for task in tasks for budget in budgets for opt in opts for s in seeds
    ]
    results.update(run_all(recommended, cache, workers, "recommended"))

    def get(**job):
        if job["kind"] == "recommended":
            job["code"] = code
        return results[_key(job)]

    lines = [
        f"Held-out score (accuracy in points; R^2 x 100 for the regression), mean over seeds and the worst seed. "
        f"Grid: {len(grid_seeds)} seeds per peak; recommended: {len(seeds)} seeds, each training at "
        f"`OneCycle(max_lr=lr_find(..., num_steps={num_steps}))`.",
        "",
        "| task | budget | optimizer | grid best peak | grid best mean | recommended peaks (min-max) | recommended mean | worst seed | gap | Adam(0.001) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    misses = []
    for task in tasks:
        for budget in budgets:
            epochs = TASKS[task][3 if budget == "short" else 4]
            adam = statistics.mean(get(kind="baseline", task=task, budget=budget, seed=s)["score"] for s in grid_seeds)
            for opt in opts:
                grid = {p: statistics.mean(get(kind="grid", task=task, opt=opt, budget=budget, peak=p, seed=s)["score"] for s in grid_seeds) for p in GRIDS[opt]}
                best = max(grid, key=grid.get)
                recs = [get(kind="recommended", task=task, opt=opt, budget=budget, seed=s, num_steps=num_steps) for s in seeds]
                scores = [r["score"] for r in recs]
                peaks = [r["peak"] for r in recs if r["peak"] is not None]
                unreliable = sum(r["peak"] is None for r in recs)
                mean, worst = statistics.mean(scores), min(scores)
                gap = grid[best] - mean
                peak_text = f"{min(peaks):.3g}-{max(peaks):.3g}" if peaks else "-"
                if unreliable:
                    peak_text += f" ({unreliable} unreliable)"
                lines.append(
                    f"| {task} | {epochs} epochs | {opt} | {best:g} | {grid[best]:.2f} | {peak_text} | {mean:.2f} | "
                    f"{worst:.2f} | {gap:+.2f} | {adam:.2f} |"
                )
                if gap > 0.5 or grid[best] - worst > 2.0:
                    misses.append(f"{task}, {budget}, {opt}: gap {gap:+.2f}, worst seed {grid[best] - worst:.2f} below")
    lines += ["", "Grid means per peak:", ""]
    for task in tasks:
        for budget in budgets:
            for opt in opts:
                grid = [statistics.mean(get(kind="grid", task=task, opt=opt, budget=budget, peak=p, seed=s)["score"] for s in grid_seeds) for p in GRIDS[opt]]
                lines.append(f"- {task}, {budget}, {opt}: " + ", ".join(f"{p:g}: {g:.1f}" for p, g in zip(GRIDS[opt], grid)))
    lines += ["", f"Targets missed: {len(misses)}"] + [f"- {m}" for m in misses]
    text = "\n".join(lines)
    print(text)
    if report_path:
        with open(report_path, "w") as file:
            file.write(text + "\n")
    return results


def curves(tasks, opts, seeds, steps_options, cache, workers):
    """The range tests alone (for studying the rule): {(task, opt, num_steps, seed): (rates, losses)}."""
    jobs = [dict(kind="find", task=t, opt=o, seed=s, num_steps=n) for t in tasks for o in opts for s in seeds for n in steps_options]
    results = run_all(jobs, cache, workers, "range tests")
    return {(j["task"], j["opt"], j["num_steps"], j["seed"]): results[_key(j)] for j in jobs}


# ---------------------------------------------------------------------------------------------- cost


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def cost(repeats, num_steps):
    import keras

    import keras_lr

    x, _, y, _ = digits()
    x = np.resize(x, (num_steps * BATCH, x.shape[1]))
    y = np.resize(y, (num_steps * BATCH,))
    print(f"\nCost: digits MLP, lr_find(num_steps={num_steps}) against fit for the same {num_steps} batches, "
          f"each from a fresh compile (each traces once), {repeats} interleaved repetitions")
    ratios = []
    for repeat in range(repeats):
        model = compiled("digits MLP", repeat, keras.optimizers.SGD(momentum=0.9))
        with Timer() as plain:
            model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        model = compiled("digits MLP", repeat, keras.optimizers.SGD(momentum=0.9))
        with Timer() as finder:
            # A range that does not diverge, so the test runs all its steps.
            result = keras_lr.lr_find(model, x, y, batch_size=BATCH, end_lr=0.1, num_steps=num_steps, verbose=0)
        assert len(result.frame) == num_steps, len(result.frame)
        ratios.append(finder.seconds / plain.seconds)
    print(f"  ratio lr_find / plain fit: mean {statistics.mean(ratios):.3f}, median {statistics.median(ratios):.3f}, "
          f"worst {max(ratios):.3f} (target <= 1.10)")
    return ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one tiny run per part (CI)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds of the recommendation")
    parser.add_argument("--grid-seeds", type=int, default=3, help="seeds per grid peak")
    parser.add_argument("--num-steps", type=int, default=None, help="lr_find's num_steps (default: lr_find's own)")
    parser.add_argument("--tasks", nargs="*", default=None, help="a subset of the tasks, by name")
    parser.add_argument("--budgets", nargs="*", default=["short", "long"], choices=["short", "long"])
    parser.add_argument("--optimizers", nargs="*", default=["adam", "sgd"], choices=["adam", "sgd"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cache", default=os.path.join(HERE, "results", "finder_quality_runs.jsonl"))
    parser.add_argument("--report", default=os.path.join(HERE, "results", "finder_quality.md"))
    parser.add_argument("--stage", choices=["all", "grid", "curves"], default="all",
                        help="grid: only the grid and Keras's default; curves: only the range tests (to study the rule)")
    parser.add_argument("--curve-steps", type=int, nargs="*", default=None, help="num_steps of the curves stage")
    args = parser.parse_args()
    import inspect

    import keras

    import keras_lr

    num_steps = args.num_steps or inspect.signature(keras_lr.lr_find).parameters["num_steps"].default
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, lr_find num_steps={num_steps}", flush=True)
    if args.smoke:
        for task in TASKS:
            TASKS[task] = TASKS[task][:3] + (1, 1)
        GRIDS["adam"], GRIDS["sgd"] = [0.01], [0.1]
        quality(list(TASKS), ["adam"], ["short"], [0], [0], 30, None, 1)
        cost(1, 50)
        print("\nsmoke run: figures are not a measurement")
        return
    tasks = args.tasks or list(TASKS)
    unknown = set(tasks) - set(TASKS)
    if unknown:
        sys.exit(f"unknown tasks {sorted(unknown)}; choose from {sorted(TASKS)}")
    if args.stage == "curves":
        curves(tasks, args.optimizers, list(range(args.seeds)), args.curve_steps or [num_steps], args.cache, args.workers)
        return
    quality(tasks, args.optimizers, args.budgets, list(range(args.seeds)), list(range(args.grid_seeds)),
            num_steps, args.cache, args.workers, args.report, grid_only=args.stage == "grid")
    if args.stage == "grid":
        return
    cost(args.repeats, num_steps)


if __name__ == "__main__":
    main()
