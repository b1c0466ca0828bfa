"""A search's trials as pandas DataFrames, and a figure of them."""

import math

import numpy as np

from keras_lr.tuning import _kerastuner

_FIRST = ["trial_id", "status", "defaults", "score", "learning_rate", "lr_schedule"]
# results_frame's own columns; a hyperparameter of one of these names is the column "hp/<name>".
_OWN = {"trial_id", "status", "defaults", "score", "epochs", "best_epoch", "diverged_after_best", "message"}


def _column(name):
    return f"hp/{name}" if name in _OWN else name


def _oracle(owner, tuner):
    if not hasattr(tuner, "oracle"):
        raise ValueError(
            f"{owner}: tuner must be a KerasTuner tuner (keras_lr.tuning.RandomSearch(...), say); "
            f"received {type(tuner).__name__}"
        )
    oracle = _kerastuner.local_oracle(tuner)
    if oracle is None:
        raise ValueError(
            f"{owner}: this tuner is a distributed worker, which does not hold the trials; "
            "call it on the chief, or on a tuner created with the same directory and project_name."
        )
    return oracle


def _status(oracle, trial):
    extra = getattr(oracle, "keras_lr", {})
    if trial.trial_id in extra.get("diverged", {}):
        return "diverged"
    if trial.status == "COMPLETED" and trial.score is not None and not math.isfinite(trial.score):
        return "diverged"  # KerasTuner's own tuners keep an infinite score as completed
    if trial.trial_id in extra.get("pruned", {}):
        return "pruned"
    return str(trial.status).lower()


def _diverged_after_best(trial, direction):
    """Whether the objective ended non-finite, or clearly worse than after its first epoch.

    Clearly: by more than a tenth of the first epoch's value. The trial's
    score is its best epoch; training it as long again would not give that.
    """
    values = _kerastuner.curve(trial, "objective")
    if len(values) < 2:
        return False
    epochs = sorted(values)
    first, last = values[epochs[0]], values[epochs[-1]]
    if not math.isfinite(first):
        return False
    if not math.isfinite(last):
        return True
    margin = 0.1 * abs(first)
    return last > first + margin if direction == "min" else last < first - margin


def _best_epoch(trial, direction):
    """The epoch (from 1, as `history_frame`) of the trial's best objective; NaN when none.

    Read from the curve keras_lr's tuners keep, whose epochs go on from a
    Hyperband round's `initial_epoch`: KerasTuner's `best_step` counts
    within the round.
    """
    values = {epoch: value for epoch, value in _kerastuner.curve(trial, "objective").items() if math.isfinite(value)}
    if values:
        pick = min if direction == "min" else max
        return int(pick(sorted(values), key=values.__getitem__)) + 1  # the first of equals, as KerasTuner
    if trial.best_step is None or trial.score is None:  # (KerasTuner's best_step is 0 before any epoch reported)
        return np.nan
    return int(trial.best_step) + 1 + int(trial.hyperparameters.values.get("tuner/initial_epoch", 0))


def _runs_defaults(oracle, trial_id, initial):
    """Whether the trial ran the defaults: the defaults trial, or a Hyperband round that continued it."""
    seen = set()
    while trial_id is not None and trial_id not in seen and trial_id in oracle.trials:
        if initial.get(trial_id) == 0:
            return True
        seen.add(trial_id)
        trial_id = oracle.trials[trial_id].hyperparameters.values.get("tuner/trial_id")
    return False


def results_frame(tuner):
    """Every trial of a search, one row each, best first.

    Unlike `oracle.get_best_trials`, every trial is there (running, failed
    and diverged ones too).

    Args:
        tuner: A KerasTuner tuner (keras_lr's or KerasTuner's own) after or
            during `search`.

    Returns:
        A pandas DataFrame with columns `trial_id`; `status` (`"completed"`,
        `"diverged"`: its loss became NaN or infinite, `"pruned"`,
        `"failed"`, `"invalid"`, `"running"`); `defaults` (True for the
        trial that ran the defaults, e.g. Keras's 0.001 and a constant
        rate, and for Hyperband's rounds that continued it, which name it
        in `tuner/trial_id`); `score` (the objective, as the search ranked the trial: a
        diverged trial's is set worse than every finite one, so above them
        for an objective to minimize); `learning_rate`,
        `lr_schedule` and every other hyperparameter (empty where inactive:
        NaN, None, or <NA> in an integer one's Int64 column; one named like
        a column of this frame, `epochs` say, is `hp/epochs`);
        `epochs` (epochs run); `best_epoch` (from 1, as `history_frame`
        counts: a Hyperband round's epochs go on from its `initial_epoch`,
        so a round that ran epochs 2 and 3 has `epochs` 2 and a
        `best_epoch` of 2 or 3);
        `diverged_after_best` (a trial
        not marked diverged whose objective ended non-finite, or clearly
        worse than after its first epoch);
        `message` (why a trial was pruned or diverged; a failed trial's
        error, on one line). `frame.attrs` holds the objective, its direction and the
        bounds a range test set (`finder_bounds`).
    """
    import pandas as pd

    oracle = _oracle("results_frame", tuner)
    direction = oracle.objective.direction
    extra = getattr(oracle, "keras_lr", {})
    initial = extra.get("initial_trials", {})
    names = [hp.name for hp in oracle.hyperparameters.space]
    rows = []
    for trial_id, trial in oracle.trials.items():
        values = trial.hyperparameters.values
        names += [name for name in values if name not in names]
        losses = _kerastuner.curve(trial, "loss")
        status = _status(oracle, trial)
        row = {
            "trial_id": trial_id,
            "status": status,
            "defaults": _runs_defaults(oracle, trial_id, initial),
            "score": np.nan if trial.score is None else float(trial.score),
            **{_column(name): values.get(name) for name in names},
            "epochs": len(losses) if losses else np.nan,
            "best_epoch": np.nan if status == "diverged" else _best_epoch(trial, direction),
            "diverged_after_best": status != "diverged" and _diverged_after_best(trial, direction),
            "message": extra.get("pruned", {}).get(trial_id) or extra.get("diverged", {}).get(trial_id)
            or _kerastuner.error_text(trial.message),
        }
        rows.append(row)
    columns = [c for c in _FIRST if c in ("trial_id", "status", "defaults", "score") or c in names]
    columns += [_column(c) for c in names if c not in columns]
    columns += ["epochs", "best_epoch", "diverged_after_best", "message"]
    frame = pd.DataFrame(rows, columns=columns)
    for name in map(_column, names):
        present = [row.get(name) for row in rows if row.get(name) is not None]
        if present and len(present) < len(rows) and all(type(value) is int for value in present):
            # An integer hyperparameter inactive in some trials: whole numbers and <NA>, not 2.0 and NaN.
            frame[name] = frame[name].astype("Int64")
    rank = {"completed": 0, "pruned": 1, "diverged": 2}
    frame["_rank"] = frame["status"].map(lambda s: rank.get(s, 3))
    frame["_key"] = frame["score"] if direction == "min" else -frame["score"]
    frame = frame.sort_values(["_rank", "_key"], na_position="last", kind="stable").drop(columns=["_rank", "_key"])
    frame = frame.reset_index(drop=True)
    frame.attrs.update(
        objective=oracle.objective.name, direction=direction, finder_bounds=extra.get("finder_bounds")
    )
    return frame


def history_frame(tuner):
    """Every trial's per-epoch logs, in long form: one row per trial, epoch and metric.

    Kept by keras_lr's tuners (KerasTuner keeps only each trial's best
    epoch): every logged value (`loss`, `val_loss`, metrics,
    `learning_rate`) and the search's `objective`, averaged over a trial's
    executions. KerasTuner's own tuners keep no curves: the frame is empty.

    Args:
        tuner: A KerasTuner tuner after or during `search` (on the chief,
            in a distributed search).

    Returns:
        A pandas DataFrame with columns `trial_id`, `epoch` (from 1, as
        Keras's progress bar and `results_frame`'s `best_epoch` count;
        a callback's `history_frame` counts from 0, as `initial_epoch`
        does), `metric`, `value`.

    Raises:
        ValueError: for something that is not a tuner, or a worker's tuner.
    """
    import pandas as pd

    oracle = _oracle("history_frame", tuner)
    rows = []
    for trial_id, trial in oracle.trials.items():
        for name in trial.metrics.metrics:
            if name.startswith(_kerastuner.CURVE):
                metric = name[len(_kerastuner.CURVE):]
                for epoch, value in sorted(_kerastuner.curve(trial, metric).items()):
                    rows.append({"trial_id": trial_id, "epoch": int(epoch) + 1, "metric": metric, "value": value})
    return pd.DataFrame(rows, columns=["trial_id", "epoch", "metric", "value"])


def plot_results(tuner, rate=None, save=None):
    """Each trial's score against its learning rate, and every trial's learning curve.

    Left: score against the rate (log axis), one colour per schedule; the
    defaults trial is a star (under Hyperband, its best round), pruned
    trials are hollow, diverged trials are crosses at the worst score of the
    axis. Right: the objective at every epoch of every trial, the best trial
    thick, the defaults trial and its rounds dashed (a trial of one epoch is
    a dot), on an axis that spans the trials that did not diverge (a
    diverging trial's curve runs off it).

    Args:
        tuner: A tuner after `search`.
        rate: String or None. The name of the learning-rate hyperparameter;
            None: the name `LRHyperModel`'s `learning_rate(hp, name=...)`
            gave it ("learning_rate" by default).
        save: None, or a path to save the figure to (any format matplotlib
            writes), as `plot_range_test` and `plot_schedule` take it.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from keras_lr.finder.plot import check_save, finish

    check_save("plot_results", save)
    frame = results_frame(tuner)
    if rate is None:
        rate = getattr(getattr(tuner, "hypermodel", None), "rate_name", None) or "learning_rate"
    if rate not in frame:
        raise ValueError(f"plot_results: the search has no hyperparameter {rate!r}; pass rate=<its name>")
    curves = history_frame(tuner)
    objective = frame.attrs["objective"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    schedules = frame["lr_schedule"].fillna("-") if "lr_schedule" in frame else frame["status"].map(lambda _: "-")
    colours = {name: f"C{i}" for i, name in enumerate(dict.fromkeys(schedules))}
    finite = frame[(frame["status"] != "diverged") & np.isfinite(frame["score"].astype(float))]
    for name, group in finite.groupby(schedules[finite.index], sort=False):
        pruned = group["status"] == "pruned"
        left.scatter(group[rate][~pruned], group["score"][~pruned], color=colours[name], label=str(name), alpha=0.8)
        if pruned.any():
            left.scatter(group[rate][pruned], group["score"][pruned], facecolor="none", edgecolor=colours[name],
                         label=f"{name} (pruned)")
    diverged = frame[frame["status"] == "diverged"]
    if len(diverged):
        bottom = finite["score"].min() if frame.attrs["direction"] == "max" and len(finite) else None
        top = finite["score"].max() if frame.attrs["direction"] == "min" and len(finite) else None
        level = bottom if bottom is not None else top if top is not None else 0.0
        left.scatter(diverged[rate], np.full(len(diverged), level), marker="x", color="black", label="diverged")
    defaults = frame[frame["defaults"]]
    if len(defaults) and np.isfinite(defaults["score"].iloc[0]) and defaults["status"].iloc[0] != "diverged":
        best = defaults.iloc[:1]  # (its best round under Hyperband: the frame is best first)
        left.scatter(best[rate], best["score"], marker="*", s=250, facecolor="none", edgecolor="black",
                     label="defaults")
    left.set_xscale("log")
    # Under a decade matplotlib labels every minor tick, and the labels run together: label 2 and 5.
    left.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: f"{x:.1g}" if f"{x:.1g}"[0] in "25" else ""))
    left.set_xlabel(rate)
    left.set_ylabel(objective)
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=8)
    left.set_title("score per trial", fontsize=10)
    best = frame["trial_id"].iloc[0] if len(finite) else None
    objective_curves = curves[curves["metric"] == "objective"]
    for trial_id, group in objective_curves.groupby("trial_id", sort=False):
        row = frame[frame["trial_id"] == trial_id].iloc[0]
        style = dict(color=colours.get(schedules[row.name], "C0"), alpha=0.5, linewidth=1)
        if trial_id == best:
            style.update(alpha=1.0, linewidth=2.5)
        if row["defaults"]:
            style.update(linestyle="--", alpha=1.0)
        if len(group) == 1:  # a trial of one epoch (or Hyperband's first round): a line of one point is not drawn
            style.update(marker="o", markersize=4)
        right.plot(group["epoch"], group["value"], **style)
    # The axis spans the trials that did not diverge: a diverging one's huge, finite values before its
    # loss became infinite would flatten every other curve at 0. Its curve runs off the axis.
    calm = frame["trial_id"][(frame["status"] != "diverged") & ~frame["diverged_after_best"].astype(bool)]
    values = objective_curves["value"][objective_curves["trial_id"].isin(calm)].astype(float)
    values = values[np.isfinite(values)]
    if len(values):
        low, high = float(values.min()), float(values.max())
        margin = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
        right.set_ylim(low - margin, high + margin)
    right.set_xlabel("epoch")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_ylabel(objective)
    right.set_title("learning curves (best thick, defaults dashed)", fontsize=10)
    return finish(figure, save)
