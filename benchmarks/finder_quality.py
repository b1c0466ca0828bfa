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
   `--grid-seeds` seeds each (5 by default);
2. the recommendation: `lr_find` on each of `--seeds` seeds (10 by default),
   and the peak `OneCycle(max_lr=result)` resolves for a fit of the budget
   (`result.one_cycle_max_lr_for(total_steps)`; the smoke run checks that a
   real fit trains at it), trained from the same seeds as the grid;
3. Keras's default: `Adam(0.001)` at a constant rate for the same budget;
4. the first test alone, as `lr_find(..., retry=False)` returns it: where
   lr_find found its first test too short to judge and ran a second of
   three times the steps, the first test's peak is trained too.

A result flagged unreliable is scored as what a user then falls back to,
`Adam(0.001)`.

Scores are held-out accuracy in points (R^2 x 100 for the regression); a
run whose loss is not finite scores 0. Every peak, of the grid or
recommended, is scored by its mean over the same training seeds, so a
recommendation is judged as a grid peak is and the training's own noise
(several points at 2-3 epochs) is not charged to the range test. Reported:
the mean over range-test seeds and the worst seed, and the lowest single
run at the grid's best peak. Targets: on every task, budget and optimizer,
the recommendation's mean within 0.5 points of the grid's best mean, and
no seed's recommendation more than 2 points below the grid's best mean.

Then the cost: `lr_find`'s wall time against the same number of plain
training steps of the same model, each side's time the fastest of 3 runs
taken in turns (a stall of the shared machine lengthens one run, not three),
over `--repeats` pairs. Target: at most 1.10x.

Every run is cached in a JSON-lines file (`--cache`), so a long run can be
resumed; `--workers` processes share the runs.

    python benchmarks/finder_quality.py              # full run (about an hour on 2 cores)
    python benchmarks/finder_quality.py --smoke      # CI: one tiny run per part
"""

import argparse
import gc
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
            first = result.first_test or result  # the test alone, as retry=False returns it
            return {
                "seconds": time.perf_counter() - start,
                "rates": result.frame["learning_rate"].tolist(),
                "losses": result.frame["loss"].tolist(),
                "first": {"rates": first.frame["learning_rate"].tolist(), "losses": first.frame["loss"].tolist(),
                          "collapsed": first.collapsed},
                "retried": result.first_test is not None,
                "collapsed": result.collapsed,  # seen in the model, not in the curve
            }
        if kind == "baseline":
            model = compiled(task, job["seed"], optimizer("adam", 0.001))
            model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0)
            return {"score": score(task, model)}
        if kind == "grid":
            model = compiled(task, job["seed"], optimizer(job["opt"]))
            model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[keras_lr.OneCycle(max_lr=job["peak"])])
            return {"score": score(task, model)}
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
    todo = list({_key(job): job for job in jobs if _key(job) not in cached}.values())  # each once
    if todo:
        print(f"  {label}: {len(todo)} runs to do ({len(jobs)} asked, some cached or repeated)", flush=True)
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


def _curve_code():
    """A hash of the code that records a range test and decides whether lr_find runs it again: a change
    re-runs the cached curves."""
    import keras_lr

    root = os.path.dirname(keras_lr.__file__)
    digest = hashlib.sha1()
    for path in ["finder/range_test.py", "finder/callback.py", "finder/result.py", "finder/suggestions.py",
                 "schedules/range_test.py", "_engine/losses.py", "_engine/state.py", "_engine/optimizers.py", "_engine/session.py", "_engine/fit_schedule.py"]:
        with open(os.path.join(root, path), "rb") as file:
            digest.update(file.read())
    return digest.hexdigest()[:12]


def _curve_result(curve):
    """The LRFinderResult of a cached range test (the same object lr_find returns, without its warnings)."""
    import pandas as pd

    from keras_lr.finder import LRFinderResult

    frame = pd.DataFrame({"learning_rate": curve["rates"], "loss": curve["losses"]})
    return LRFinderResult(frame, warn=False, collapsed=curve.get("collapsed", False))


def total_steps(task, budget):
    """Optimizer steps of one fit of the task at the budget: what OneCycle(max_lr=result) resolves with."""
    epochs = TASKS[task][3 if budget == "short" else 4]
    return epochs * math.ceil(len(data(task)[0]) / BATCH)


def quality(tasks, opts, budgets, seeds, grid_seeds, num_steps, cache, workers, report_path=None, grid_only=False):
    """The grid, the recommendation and Keras's default, each scored as a mean over the same training seeds.

    The recommendation of range-test seed s is the peak `OneCycle(max_lr=result)` resolves for the fit
    (`result.one_cycle_max_lr_for(total_steps)`); it is trained from each of the grid's seeds, so a
    recommendation is judged exactly as a grid peak is: the mean over the same initialisations and data
    orders. A result flagged unreliable is scored as what a user would then do: `Adam(0.001)`.
    """
    jobs = []
    for task in tasks:
        for budget in budgets:
            jobs += [dict(kind="baseline", task=task, budget=budget, seed=t) for t in grid_seeds]
            for opt in opts:
                jobs += [dict(kind="grid", task=task, opt=opt, budget=budget, peak=p, seed=t) for p in GRIDS[opt] for t in grid_seeds]
    results = run_all(jobs, cache, workers, "grid")
    if grid_only:
        return results
    found = curves(tasks, opts, seeds, [num_steps], cache, workers)
    picks = {}  # (task, opt, budget, seed) -> peak or None (unreliable), of lr_find's answer
    alone = {}  # the same, of the first test alone (retry=False)
    retried = set()  # (task, opt, seed) whose first test lr_find ran again
    recommended = []
    for task in tasks:
        for opt in opts:
            for s in seeds:
                curve = found[task, opt, num_steps, s]
                result, first = _curve_result(curve), _curve_result(curve["first"])
                if curve["retried"]:
                    retried.add((task, opt, s))
                for budget in budgets:
                    for table, answer in ((picks, result), (alone, first)):
                        peak = answer.one_cycle_max_lr_for(total_steps(task, budget)) if answer.reliable else None
                        table[task, opt, budget, s] = peak
                        recommended += [_training(task, opt, budget, peak, t) for t in grid_seeds]
    results.update(run_all(recommended, cache, workers, "recommended"))

    def mean_score(task, opt, budget, peak):
        return statistics.mean(results[_key(_training(task, opt, budget, peak, t))]["score"] for t in grid_seeds)

    def seed_scores(task, opt, budget, peak):
        return [results[_key(_training(task, opt, budget, peak, t))]["score"] for t in grid_seeds]

    def held_out_pick(task, opt, budget):
        """The grid's own pick, cross-validated: the best peak on all seeds but one, scored on that one
        (mean over the held-out seeds). How far it falls below the best mean is the grid's noise."""
        if len(grid_seeds) < 2:
            return math.nan
        scores = {p: dict(zip(grid_seeds, seed_scores(task, opt, budget, p))) for p in GRIDS[opt]}
        picked = []
        for held in grid_seeds:
            pick = max(scores, key=lambda p: statistics.mean(v for t, v in scores[p].items() if t != held))
            picked.append(scores[pick][held])
        return statistics.mean(picked)

    lines = [
        f"Held-out score (accuracy in points; R^2 x 100 for the regression). Every peak, of the grid or "
        f"recommended, is trained from the same {len(grid_seeds)} seeds (initialisation and data order) and "
        f"scored by their mean. Recommended: `OneCycle(max_lr=lr_find(..., num_steps={num_steps}))` from "
        f"{len(seeds)} range-test seeds; 'worst seed' is the range-test seed whose peak scored lowest. "
        f"'grid, held-out pick' is the grid's own choice cross-validated: the best peak on all training "
        f"seeds but one, scored on that one (mean over the seeds held out); its distance below the grid's "
        f"best mean is how much of that best mean is luck.",
        "",
        "| task | budget | optimizer | grid best peak | grid best mean | grid, held-out pick | "
        "recommended peaks (min-max) | recommended mean | worst seed | gap | Adam(0.001) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    misses, rows, floors = [], [], []
    for task in tasks:
        for budget in budgets:
            epochs = TASKS[task][3 if budget == "short" else 4]
            adam = mean_score(task, None, budget, None)
            for opt in opts:
                grid = {p: mean_score(task, opt, budget, p) for p in GRIDS[opt]}
                best = max(grid, key=grid.get)
                per_seed = [mean_score(task, opt, budget, picks[task, opt, budget, s]) for s in seeds]
                peaks = [picks[task, opt, budget, s] for s in seeds if picks[task, opt, budget, s] is not None]
                unreliable = len(seeds) - len(peaks)
                mean, worst = statistics.mean(per_seed), min(per_seed)
                gap = grid[best] - mean
                rows.append((gap, grid[best] - worst))
                held_out = held_out_pick(task, opt, budget)
                floors.append(grid[best] - held_out)
                peak_text = f"{min(peaks):.3g}-{max(peaks):.3g}" if peaks else "-"
                if unreliable:
                    peak_text += f" ({unreliable} unreliable)"
                lines.append(
                    f"| {task} | {epochs} epochs | {opt} | {best:g} | {grid[best]:.2f} | "
                    f"{held_out:.2f} | {peak_text} | {mean:.2f} | "
                    f"{worst:.2f} | {gap:+.2f} | {adam:.2f} |"
                )
                if gap > 0.5 or grid[best] - worst > 2.0:
                    misses.append(f"{task}, {budget}, {opt}: gap {gap:+.2f}, worst seed {grid[best] - worst:.2f} below")
    gaps, drops = zip(*rows)
    first_rows = []  # the rows again, each seed scored at its first test's peak (retry=False)
    retry_lines = []
    for task in tasks:
        for budget in budgets:
            epochs = TASKS[task][3 if budget == "short" else 4]
            for opt in opts:
                best = max(mean_score(task, opt, budget, p) for p in GRIDS[opt])
                per_seed = [mean_score(task, opt, budget, alone[task, opt, budget, s]) for s in seeds]
                first_rows.append((best - statistics.mean(per_seed), best - min(per_seed)))
                again = [s for s in seeds if (task, opt, s) in retried]
                if again:
                    flagged = sum(alone[task, opt, budget, s] is None for s in again)
                    retry_lines.append(
                        f"- {task}, {epochs} epochs, {opt}: {len(again)} of {len(seeds)} tests run again "
                        f"({flagged} of their first tests unreliable); the first test alone: mean "
                        f"{statistics.mean(per_seed):.2f}, worst seed {min(per_seed):.2f}, gap {first_rows[-1][0]:+.2f}")
    lines += [
        "",
        f"Over the {len(rows)} rows: gap mean {statistics.mean(gaps):+.2f}, worst {max(gaps):+.2f}; "
        f"within 0.5 points on {sum(g <= 0.5 for g in gaps)}; worst seed within 2 points on "
        f"{sum(d <= 2.0 for d in drops)}, largest drop {max(drops):.2f}. The grid's held-out pick: "
        f"{statistics.mean(floors):.2f} below the best mean on average, within 0.5 points on "
        f"{sum(f <= 0.5 for f in floors)}.",
        "",
    ]
    first_gaps, first_drops = zip(*first_rows)
    lines += [
        f"The first test alone (`retry=False`): lr_find ran {len(retried)} of {len(tasks) * len(opts) * len(seeds)} "
        f"tests again with num_steps={3 * num_steps}, their first too short to judge (the loss never or barely "
        f"fell, or the peak was not steady); scored at the first test's peak instead (Adam(0.001) where it was "
        f"unreliable):",
        "",
        *(retry_lines or ["- none"]),
        "",
        f"Over the {len(first_rows)} rows so: gap mean {statistics.mean(first_gaps):+.2f}, worst "
        f"{max(first_gaps):+.2f}; within 0.5 points on {sum(g <= 0.5 for g in first_gaps)}; worst seed "
        f"within 2 points on {sum(d <= 2.0 for d in first_drops)}, largest drop {max(first_drops):.2f}.",
        "",
    ]
    lines += ["Grid means per peak:", ""]
    for task in tasks:
        for budget in budgets:
            for opt in opts:
                lines.append(f"- {task}, {budget}, {opt}: " + ", ".join(
                    f"{p:g}: {mean_score(task, opt, budget, p):.1f}" for p in GRIDS[opt]))
    lines += ["", f"Spread of the peak over the range-test seeds (standard deviation of log10, in decades; every "
              f"{num_steps}-step first test with a peak, reliable or not): the rule's median over 40 resampled curves, as "
              "`one_cycle_max_lr` is, against the rule read from the recorded curve alone (`draws=0`):", ""]
    from keras_lr.finder import suggestions

    for task in tasks:
        for opt in opts:
            bagged, single = [], []
            for s in seeds:
                curve = found[task, opt, num_steps, s]["first"]
                bagged.append(suggestions.one_cycle_max_lr(curve["rates"], curve["losses"]))
                single.append(suggestions.one_cycle_max_lr(curve["rates"], curve["losses"], draws=0))
            both = np.isfinite(bagged) & np.isfinite(single)  # the same curves for both
            sd = [float(np.std(np.log10(np.array(values)[both]))) if both.sum() > 1 else math.nan
                  for values in (bagged, single)]
            lines.append(f"- {task}, {opt}: {sd[0]:.2f} median over draws, {sd[1]:.2f} from the one curve")
    lines += ["", f"Targets missed: {len(misses)}"] + [f"- {m}" for m in misses]
    text = "\n".join(lines)
    print(text)
    if report_path:
        with open(report_path, "w") as file:
            file.write(text + "\n")
    return results


def _training(task, opt, budget, peak, seed):
    """The job that trains one peak from one seed; no peak (an unreliable result, or opt None) is Adam(0.001)."""
    if peak is None:
        return dict(kind="baseline", task=task, budget=budget, seed=seed)
    return dict(kind="grid", task=task, opt=opt, budget=budget, peak=float(peak), seed=seed)


def curves(tasks, opts, seeds, steps_options, cache, workers):
    """The range tests alone (for studying the rule): {(task, opt, num_steps, seed): (rates, losses)}."""
    code = _curve_code()
    jobs = [dict(kind="find", task=t, opt=o, seed=s, num_steps=n, code=code)
            for t in tasks for o in opts for s in seeds for n in steps_options]
    results = run_all(jobs, cache, workers, "range tests")
    return {(j["task"], j["opt"], j["num_steps"], j["seed"]): results[_key(j)] for j in jobs}


def resolves_as_fit(task, opt, budget, num_steps, seed=0):
    """The benchmark scores `result.one_cycle_max_lr_for(total_steps)`: check it is the peak that
    `OneCycle(max_lr=result)` trains at in a real fit of the budget."""
    import keras_lr

    x, _, y, _ = data(task)
    model = compiled(task, seed, optimizer(opt))
    result = keras_lr.lr_find(model, x, y, batch_size=BATCH, num_steps=num_steps, seed=seed, verbose=0)
    assert result.reliable, result.reasons  # else there is no peak to check
    one_cycle = keras_lr.OneCycle(max_lr=result)
    epochs = TASKS[task][3 if budget == "short" else 4]
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[one_cycle])
    trained = float(max(one_cycle.history_frame()["learning_rate"]))
    expected = result.one_cycle_max_lr_for(total_steps(task, budget))
    # The cycle's peak falls between two steps, so the highest rate trained is a hair below max_lr.
    assert expected * 0.999 <= trained <= expected * (1 + 1e-6), (trained, expected)
    print(f"OneCycle(max_lr=result) trained at {trained:.4g}, as scored ({expected:.4g})")


# ---------------------------------------------------------------------------------------------- cost


class Timer:
    def __enter__(self):
        gc.collect()  # the garbage of what ran before is not charged to what is timed
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def cost(repeats, num_steps, tries=3):
    import keras

    import keras_lr

    x, _, y, _ = digits()
    x = np.resize(x, (num_steps * BATCH, x.shape[1]))
    y = np.resize(y, (num_steps * BATCH,))
    print(f"\nCost: digits MLP, lr_find(num_steps={num_steps}) against fit for the same {num_steps} batches, "
          f"each from a fresh compile (each traces once): {repeats} pairs, each the fastest of {tries} runs of each, "
          f"taken in turns")

    def plain(seed):
        model = compiled("digits MLP", seed, keras.optimizers.SGD(momentum=0.9))
        with Timer() as timer:
            model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        return timer.seconds

    def finder(seed):
        model = compiled("digits MLP", seed, keras.optimizers.SGD(momentum=0.9))
        with Timer() as timer:
            # A range that does not diverge, so the test runs all its steps.
            result = keras_lr.lr_find(model, x, y, batch_size=BATCH, end_lr=0.1, num_steps=num_steps, retry=False,
                                      verbose=0)
        assert len(result.frame) == num_steps, len(result.frame)
        return timer.seconds

    plain(repeats), finder(repeats)  # untimed: each pays its one-off costs (imports, first traces) here
    pairs = []
    for repeat in range(repeats):
        # Each side's fastest of `tries`, taken in turns: a stall of this shared machine (seen: one fit of
        # 0.8 s taking 8.8) lengthens one run, and the fastest is the one least disturbed.
        fitted, found = [], []
        for turn in range(tries):
            if (repeat + turn) % 2:
                found.append(finder(repeat))
                fitted.append(plain(repeat))
            else:
                fitted.append(plain(repeat))
                found.append(finder(repeat))
        pairs.append((min(fitted), min(found)))
    ratios = [found / fitted for fitted, found in pairs]
    total = sum(found for _, found in pairs) / sum(fitted for fitted, _ in pairs)
    print(f"  ratio lr_find / plain fit: mean {statistics.mean(ratios):.3f}, median {statistics.median(ratios):.3f}, "
          f"worst {max(ratios):.3f}, best {min(ratios):.3f}; total time {total:.3f} (target <= 1.10)")
    print(f"  seconds: plain fit {statistics.mean(f for f, _ in pairs):.3f} (max {max(f for f, _ in pairs):.3f}), "
          f"lr_find {statistics.mean(g for _, g in pairs):.3f} (max {max(g for _, g in pairs):.3f})")
    return ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one tiny run per part (CI)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds of the recommendation")
    parser.add_argument("--grid-seeds", type=int, default=5, help="seeds per grid peak")
    parser.add_argument("--num-steps", type=int, default=None, help="lr_find's num_steps (default: lr_find's own)")
    parser.add_argument("--tasks", nargs="*", default=None, help="a subset of the tasks, by name")
    parser.add_argument("--budgets", nargs="*", default=["short", "long"], choices=["short", "long"])
    parser.add_argument("--optimizers", nargs="*", default=["adam", "sgd"], choices=["adam", "sgd"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=12, help="pairs timed for the cost")
    parser.add_argument("--cache", default=os.path.join(HERE, "results", "finder_quality_runs.jsonl"))
    parser.add_argument("--report", default=os.path.join(HERE, "results", "finder_quality.md"))
    parser.add_argument("--stage", choices=["all", "grid", "curves", "cost"], default="all",
                        help="grid: only the grid and Keras's default; curves: only the range tests (to study the rule); "
                             "cost: only lr_find's cost")
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
        # The whole pipeline on a classifier and the regression; every other task's data, model and score
        # on two batches (the code is what a smoke run checks: six whole pipelines took 110 s of CI's time).
        piped = ["digits MLP", "Friedman regression"]
        for task in TASKS:
            if task not in piped:
                x, _, y, _ = data(task)
                model = compiled(task, 0, optimizer("adam"))
                model.fit(x[: 2 * BATCH], y[: 2 * BATCH], batch_size=BATCH, epochs=1, verbose=0)
                print(f"  {task}: {score(task, model):.2f} after two batches", flush=True)
        quality(piped, ["adam"], ["short"], [0], [0], 30, None, 1)
        resolves_as_fit("digits MLP", "adam", "short", 60)
        cost(1, 50, tries=1)
        print("\nsmoke run: figures are not a measurement")
        return
    tasks = args.tasks or list(TASKS)
    unknown = set(tasks) - set(TASKS)
    if unknown:
        sys.exit(f"unknown tasks {sorted(unknown)}; choose from {sorted(TASKS)}")
    if args.stage == "cost":
        cost(args.repeats, num_steps)
        return
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
