"""What `keras-lr demo` and `keras-lr tune-local` do (their options and errors are in the top-level `keras_lr_cli`).

On scikit-learn's digits, or on a CSV table of the user's: the range test,
OneCycle at its recommendation next to Keras's default Adam(0.001), and a
short KerasTuner search seeded by the range test, whose first trial is that
default; a summary on the terminal and a report folder with the figures, the
tables and `summary.md`.
"""

import contextlib
import math
import os
import signal
import sys
import time


class DataError(ValueError):
    """What is wrong with the user's table, in one line."""


# The file written into every report folder: the next run into a folder holding it removes the report's
# files (REPORT_FILES) first, and the command refuses a folder holding files without it (keras_lr_cli).
REPORT_MARKER = ".keras-lr-report"

# What a report holds besides the marker; summary.md is written last, so an interrupted run has none.
REPORT_FILES = ("summary.md", "range_test.csv", "range_test.png", "schedule.csv", "schedule.png",
                "learning_curves.png", "trials.csv", "search.png")

# The report's CSV tables write floats to ten significant digits: scores and losses are float32 (written in
# full they read 0.9555555582046509), and KerasTuner's stepped values 0.30000000000000004.
CSV_FLOATS = "%.10g"

# The share of the rows held out, on which every score is reported.
HELD_OUT = 0.25

# Up to this many distinct whole numbers, a numeric target is a class label.
MAX_CLASSES = 20

# A text column is one-hot encoded on at most this many of its most frequent categories; the rest are one more.
MAX_CATEGORIES = 50

# A text column whose distinct values are at least this share of its values (an identifier, a date) is dropped.
IDENTIFIER = 0.9

# A text column at least this share of whose values are numbers is numeric; the others are named.
MOSTLY_NUMBERS = 0.9


# Set by Ctrl-C while `interruptible()` holds: CPython drops the KeyboardInterrupt raised inside a garbage
# collector or weakref callback ("Exception ignored in: <function _xla_gc_callback ...>", TensorFlow's and
# Keras's), and the demo checks this between its steps and after every batch so that the run stops all the same.
_interrupted = False


def _on_interrupt(signum, frame):
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _stop_if_interrupted():
    if _interrupted:
        raise KeyboardInterrupt


@contextlib.contextmanager
def interruptible():
    """Ctrl-C stops the demo even where Python swallows its KeyboardInterrupt (see `_interrupted`)."""
    global _interrupted
    _interrupted = False
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started to ignore Ctrl-C (nohup, a background job)
        yield
        return
    previous, hook = signal.signal(signal.SIGINT, _on_interrupt), sys.unraisablehook

    def unraisable(info):  # the swallowed interrupt is acted on through _interrupted; not printed
        if not (info.exc_type and issubclass(info.exc_type, KeyboardInterrupt)):
            hook(info)

    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = hook


def load_digits(seed):
    """scikit-learn's digits, features in [0, 1], split 75% / 25%."""
    from sklearn.datasets import load_digits as load

    digits = load()
    x = (digits.data / 16.0).astype("float32")
    return _with_info(x, digits.target.astype("int32"), "classification", seed, name="scikit-learn's digits",
                      classes=[str(c) for c in range(10)], columns=64, dropped=0)


def _with_info(x, y, task, seed, **info):
    (x_train, y_train), (x_val, y_val) = _split(x, y, task, seed)
    info.update(task=task, features=x.shape[1], train=len(x_train), validation=len(x_val))
    return (x_train, y_train), (x_val, y_val), info


def _split(x, y, task, seed):
    from sklearn.model_selection import train_test_split

    stratify = y if task == "classification" else None
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=HELD_OUT, random_state=seed, stratify=stratify)
    return (x_train, y_train), (x_val, y_val)


def infer_task(target):
    """"classification" for text, true/false or a few whole numbers close together (labels); else "regression"."""
    return _inferred(target)[0]


def _inferred(target):
    """(the task, why), as said on the terminal and in summary.md.

    Whole numbers are classes when there are at most `MAX_CLASSES` of them within a
    span of 2 x `MAX_CLASSES` (0-9, ratings 1-5); spread wider (prices in steps of
    10,000, years) they are a quantity.
    """
    import pandas as pd

    if pd.api.types.is_bool_dtype(target):
        return "classification", "true/false"
    if not pd.api.types.is_numeric_dtype(target):
        return "classification", "text"
    values = target.dropna()
    distinct, low, high = values.nunique(), _plain(values.min()), _plain(values.max())
    span = f"{_number(low)} to {_number(high)}"
    if (values == values.round()).all() and distinct <= MAX_CLASSES:
        if high - low <= 2 * MAX_CLASSES:
            return "classification", f"{distinct} distinct whole numbers, {span}"
        return "regression", f"{distinct} distinct whole numbers spread from {span}"
    return "regression", f"numbers, {distinct} distinct, {span}"


def _number(value):
    """1 for 1.0, 0.25 for 0.25."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.4g}"


def _count(number, word):
    """"1 epoch", "3 epochs"."""
    return f"{number} {word}" + ("" if number == 1 else "s")


def _plain(value):
    """A numpy scalar as the Python value it holds (its repr without "np.int64(...)")."""
    return value.item() if hasattr(value, "item") else value


def load_table(path, target, task, seed):
    """A CSV table as standardised numeric features and a target, split 75% / 25%.

    The separator is the header's (`,`, else `;`, tab or `|`); a file that is not
    UTF-8 is read as Latin-1 (a warning). Numeric columns (text columns whose values
    are mostly numbers too, the others read as missing, and `,` as the decimal
    point where that makes them numbers, each with a warning): missing or infinite
    values take the training rows' median, then standardised on the training rows;
    a column with no value in the training rows is dropped (a warning). Other
    columns: a column different in nearly every row (an identifier, a date) is
    dropped (a warning); missing values take the most frequent value; one-hot
    encoded, up to the `MAX_CATEGORIES` most frequent categories of the training
    rows, the rest grouped as one (a warning). Rows without a target, or with an
    infinite one, are dropped.

    Raises:
        DataError: for a table that cannot be read, is empty, repeats a column
            name, has no such target, a target with one class (or one value), a
            numeric target with a few values that are not numbers, a class of one
            example, or no usable feature.
    """
    import warnings

    import numpy as np
    import pandas as pd

    table = _read(path)
    if table.empty:
        raise DataError(f"--csv {path!r}: the table has no rows")
    if target not in table.columns:
        raise DataError(f"--target {target!r} is not a column of {path!r}{_close_match(target, table.columns)} "
                        f"(its columns: {', '.join(map(str, table.columns))})")
    comma = []
    labels = table[target]
    if _is_text(labels) and task != "classification":
        numbers, strays, decimal_comma = _numbers(labels)
        if numbers is not None and strays:
            raise DataError(f"--target {target!r} holds numbers but for {strays}; empty those cells to drop their "
                            "rows, or pass --task classification to read every value as a class")
        if numbers is not None:
            table[target] = numbers
            comma += [target] if decimal_comma else []
    dropped = int(table[target].isna().sum())
    table = table[table[target].notna()]
    infinite = 0
    if _is_number(table[target]):
        finite = np.isfinite(table[target].to_numpy("float64"))
        infinite = int((~finite).sum())
        table = table[finite]
        if infinite:
            warnings.warn(f"--target {target!r}: {_count(infinite, 'row')} with an infinite value dropped")
    if table.empty:
        raise DataError(f"--target {target!r}: every value is missing")
    labels = table[target]
    reason = None
    if task == "auto":
        task, reason = _inferred(labels)
        if task == "classification" and _is_number(labels) and labels.nunique() > 2:
            warnings.warn(f"--target {target!r}: {reason}, read as classes; pass --task regression if it is a quantity")
    if labels.nunique() < 2:
        kind = "one class" if task == "classification" else "one value"
        raise DataError(f"--target {target!r} has {kind} ({_plain(labels.iloc[0])!r}): nothing to learn")
    if task == "regression" and not _is_number(labels):
        raise DataError(f"--task regression needs a numeric --target; {target!r} holds text (such as "
                        f"{str(labels.iloc[0])!r})")
    features = table.drop(columns=[target])
    for column in [c for c in features.columns if _is_text(features[c])]:
        numbers, strays, decimal_comma = _numbers(features[column])
        if numbers is not None:
            features[column] = numbers
            comma += [column] if decimal_comma else []
            if strays:
                warnings.warn(f"column {column!r} holds numbers but for {strays}: read as missing")
    if comma:
        warnings.warn(f"{_names(comma, 'column')}: ',' read as the decimal point")
    features = features.loc[:, features.notna().any() & (features.nunique(dropna=True) > 1)]
    if features.shape[1] == 0:
        raise DataError(f"--csv {path!r}: no usable feature besides {target!r} (every other column is empty or constant)")
    if task == "classification":
        counts = labels.value_counts()
        rare = counts[counts < 2]
        instead = ", or pass --task regression for a numeric target" if _is_number(labels) else ""
        if len(rare):
            # The held-out quarter is drawn class by class (stratified): a class needs a row on each side.
            others = f" (and {len(rare) - 1} other classes)" if len(rare) > 1 else ""
            raise DataError(
                f"--target {target!r}: class {str(_plain(rare.index[0]))!r} has 1 example{others}; the held-out "
                f"split takes a share of each class, so each needs at least 2{instead}"
            )
        held_out = math.ceil(HELD_OUT * len(labels))  # as train_test_split rounds it
        if len(counts) > held_out:
            raise DataError(
                f"--target {target!r} has {len(counts)} classes, more than the {held_out} rows held out (a "
                f"quarter of {len(labels)}), which take one of each class at least; the table needs more rows{instead}"
            )
    if task == "classification":
        classes = sorted(labels.astype(str).unique())
        y = labels.astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy("int32")
    else:
        classes = None
        values = labels.to_numpy("float64")
        y = _standardised(values, values).astype("float32")  # the loss in the target's sd units
    (train, y_train), (validation, y_val) = _split(np.arange(len(labels)), y, task, seed)
    blocks = []
    for column in features.columns:
        values = features[column]
        if _is_number(values) and not pd.api.types.is_bool_dtype(values):
            values = values.to_numpy("float64")
            values = np.where(np.isfinite(values), values, np.nan)
            if np.isnan(values[train]).all():
                warnings.warn(f"column {column!r} has no value in the training rows: dropped")
                continue
            values = np.where(np.isnan(values), np.nanmedian(values[train]), values)
            blocks.append(_standardised(values, values[train])[:, None])
            continue
        values = values.astype(object).where(values.notna(), None).to_numpy()
        present = pd.Series(values).dropna().astype(str)
        if len(present) >= 20 and present.nunique() >= IDENTIFIER * len(present):
            warnings.warn(f"column {column!r} is different in nearly every row (an identifier?): dropped")
            continue
        training = pd.Series(values[train]).dropna().astype(str)
        if training.empty:
            warnings.warn(f"column {column!r} has no value in the training rows: dropped")
            continue
        counts = training.value_counts().sort_index().sort_values(ascending=False, kind="stable")
        text = pd.Series(values).astype(str).where(pd.notna(values), counts.index[0]).to_numpy()
        kept = list(counts.index[:MAX_CATEGORIES])
        blocks += [(text == category)[:, None] for category in kept]
        if len(counts) > MAX_CATEGORIES:
            warnings.warn(f"column {column!r} has {len(counts)} categories: the {MAX_CATEGORIES} most frequent are "
                          "one-hot encoded, the rest grouped as one")
            blocks.append(~np.isin(text, kept)[:, None])
    if not blocks:
        raise DataError(f"--csv {path!r}: no usable feature besides {target!r} (every other column was dropped)")
    encoded = np.hstack([block.astype("float32") for block in blocks])
    x_train, x_val = encoded[train], encoded[validation]
    info = dict(name=os.path.basename(path), task=task, task_reason=reason, classes=classes, columns=features.shape[1],
                scaled_target=task == "regression",
                features=encoded.shape[1], dropped=dropped, infinite=infinite, train=len(x_train),
                validation=len(x_val), target=target)
    return (x_train, y_train), (x_val, y_val), info


def _close_match(name, columns):
    """'; did you mean ...?' naming the column ``name`` was likely meant to be (case, spaces, a typo), or ''."""
    import difflib

    names = [str(column) for column in columns]
    folded = {column.strip().casefold(): column for column in names}
    typed = str(name).strip().casefold()
    match = folded.get(typed)
    if match is None:
        close = difflib.get_close_matches(typed, list(folded), n=1, cutoff=0.75)  # a typo and a capital: Prce
        match = folded[close[0]] if close else None
    return f"; did you mean {match!r}?" if match is not None else ""


def _read(path):
    """The CSV file as a DataFrame: its separator taken from the header, UTF-8 or else Latin-1, no repeated names."""
    import csv
    import io
    import warnings

    import pandas as pd

    with open(path, "rb") as handle:
        raw = handle.read()
    if b"\x00" in raw[:65536]:
        raise DataError(f"--csv {path!r}: not a readable CSV table (it holds binary data; save it as CSV text)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        warnings.warn(f"--csv {path!r} is not UTF-8: read as Latin-1 (if its accents look wrong, save it as UTF-8)")
    header = text.split("\n", 1)[0]
    separator = ","
    if "," not in header:
        counts = {candidate: header.count(candidate) for candidate in ";\t|"}
        if max(counts.values()):
            separator = max(counts, key=counts.get)
    names = next(csv.reader(io.StringIO(header), delimiter=separator), [])
    repeated = [name for name in dict.fromkeys(names) if name and names.count(name) > 1]
    if repeated:
        others = f" (and {_names(repeated[1:], 'column')})" if len(repeated) > 1 else ""
        raise DataError(f"column {repeated[0]!r} appears {names.count(repeated[0])} times in the header of "
                        f"{path!r}{others}; rename all but one")
    try:
        return pd.read_csv(io.StringIO(text), sep=separator)
    except pd.errors.EmptyDataError:
        raise DataError(f"--csv {path!r}: the table is empty") from None
    except pd.errors.ParserError as error:
        raise DataError(f"--csv {path!r}: not a readable CSV table ({str(error).splitlines()[0]})") from None


def _is_number(values):
    import pandas as pd

    return pd.api.types.is_numeric_dtype(values)


def _is_text(values):
    import pandas as pd

    return not pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _names(names, word):
    """"column 'a'", "columns 'a', 'b' and 'c'"."""
    quoted = [repr(str(name)) for name in names]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"
    return f"{word}{'' if len(quoted) == 1 else 's'} {listed}"


def _numbers(values):
    """A text column that mostly holds numbers: (the numbers, the values that are not, said; ',' as the decimal point).

    (None, "", False) when fewer than `MOSTLY_NUMBERS` of its values are numbers.
    """
    import pandas as pd

    text = values.dropna().astype(str).str.strip()
    if text.empty:
        return None, "", False
    numbers, comma = pd.to_numeric(text, errors="coerce"), False
    if numbers.notna().mean() < MOSTLY_NUMBERS:
        numbers, comma = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce"), True
        if numbers.notna().mean() < MOSTLY_NUMBERS:
            return None, "", False
    strays = text[numbers.isna()].value_counts()
    said = ", ".join(f"{value!r} in {_count(count, 'row')}" for value, count in strays.iloc[:3].items())
    if len(strays) > 3:
        said += f" and {len(strays) - 3} other values"
    return numbers.reindex(values.index).astype("float64"), said, comma and not (text.str.contains(",").sum() == 0)


def _standardised(values, reference):
    """(values - mean) / sd of the reference values, computed without overflow (values of 1e300 squared)."""
    import numpy as np

    scale = np.abs(reference).max()
    scale = scale if np.isfinite(scale) and scale > 0 else 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = reference / scale
        mean, sd = scaled.mean(), scaled.std(ddof=1) if len(scaled) > 1 else 0.0
        sd = sd if np.isfinite(sd) and sd > 0 else 1.0
        out = (values / scale - mean) / sd
    return np.clip(np.nan_to_num(out), -1e30, 1e30)  # a held-out value beyond float32 stays finite


def _model(keras, inputs, info):
    outputs = len(info["classes"]) if info["task"] == "classification" else 1
    model = keras.Sequential([
        keras.Input((inputs,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(outputs, activation="softmax" if info["task"] == "classification" else None),
    ])
    return model


def _compile(keras, model, optimizer, info):
    if info["task"] == "classification":
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        model.compile(optimizer, "mse", metrics=["mae"])
    return model


class _Printer:
    def __init__(self, quiet):
        self.quiet = quiet

    def __call__(self, text=""):
        if not self.quiet:
            print(text, flush=True)


def run_tune_local(args):
    """`keras-lr tune-local`: runs the script's search as a chief and workers here; returns 0 or 1."""
    from keras_lr import tuning

    result = tuning.run_local(
        args.script, workers=args.workers, script_args=args.script_args, logs=args.logs, port=args.port,
        restarts=args.restarts, start_timeout=args.start_timeout, timeout=args.timeout, verbose=0 if args.quiet else 1,
    )
    return result.status


def run_demo(args):
    """`keras-lr demo` with parsed arguments (see `keras_lr_cli`)."""
    say = _Printer(args.quiet)
    started = time.perf_counter()
    if args.csv is not None:
        train, validation, info = load_table(args.csv, args.target, args.task, args.seed)
    else:
        train, validation, info = load_digits(args.seed)
    report = demo(train, validation, info, epochs=args.epochs, trials=args.trials, max_lr=args.max_lr,
                  seed=args.seed, out=args.out, say=say)
    say(f"\nreport: {os.path.join(args.out, 'summary.md')} ({time.perf_counter() - started:.0f} s)")
    return report


def demo(train, validation, info, epochs=3, trials=6, max_lr=None, seed=0, out="keras_lr_report", say=print):
    """The range test, OneCycle against Adam(0.001), a short search; writes the report to ``out``.

    Returns:
        A dict of what the summary reports (the scores, the rates, the files).
    """
    import logging

    import keras
    import numpy as np
    import pandas as pd

    import keras_lr
    from keras_lr import tuning

    # TensorFlow's own warnings ("triggered tf.function retracing", 600 characters each) are not the user's to act
    # on, and not one line each; its errors still come through.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    _start_report(out)
    classification = info["task"] == "classification"
    metric = "val_accuracy" if classification else "val_loss"
    better = max if classification else min
    verbose = 0 if getattr(say, "quiet", False) else 2
    (x_train, y_train), (x_val, y_val) = train, validation
    task = info["task"] + (f" (inferred: {info['task_reason']}; --task chooses it)" if info.get("task_reason") else "")
    say(f"keras_lr demo: {info['name']}, {task}, {info['train']} training and {info['validation']} "
        f"held-out examples, {_count(info['features'], 'feature')}; Adam, {_count(epochs, 'epoch')}; backend {keras.backend.backend()}")

    def compiled(optimizer):
        keras.utils.set_random_seed(seed)
        return _compile(keras, _model(keras, x_train.shape[1], info), optimizer, info)

    class StopOnInterrupt(keras.callbacks.Callback):  # a Ctrl-C that Python swallowed stops the fit at its next batch
        def on_train_batch_end(self, batch, logs=None):
            _stop_if_interrupted()

        on_test_batch_end = on_train_batch_end

    files = {}

    # 1. The range test on the model about to be trained.
    _stop_if_interrupted()
    model = compiled(keras.optimizers.Adam())
    result = keras_lr.lr_find(model, x_train, y_train, batch_size=32, seed=seed, verbose=0)
    _stop_if_interrupted()
    result.frame.to_csv(os.path.join(out, "range_test.csv"), index=False, float_format=CSV_FLOATS)
    result.plot(save=os.path.join(out, "range_test.png"))
    files.update(range_test_csv="range_test.csv", range_test_png="range_test.png")
    found = result.one_cycle_max_lr if result.reliable else math.nan  # an unreliable result has no peak
    peak = max_lr if max_lr is not None else found
    say(f"\n1. range test: {len(result.frame)} steps from {result.frame.learning_rate.iloc[0]:.1e} to "
        f"{result.frame.learning_rate.iloc[-1]:.2g}" + ("" if result.reliable else f" (unreliable: {'; '.join(result.reasons)})"))
    if result.first_test is not None:
        say(f"   {result.notes[0]}")
    for name, rate in result.suggestions.items():
        say(f"   {name:8s} {rate:.3g}")
    say(f"   OneCycle peak {found:.3g}" + (f"; using --max-lr {max_lr:g}" if max_lr else ""))
    if max_lr is None and not (result.reliable and peak == peak):  # unreliable, or NaN: no peak to train at
        peak = 0.01
        say("   the curve gives no peak to train at: OneCycle uses 0.01 (choose one with --max-lr)")

    # 2. OneCycle at the recommended peak (the model is as it was before the test).
    say(f"\n2. OneCycle(max_lr={peak:.3g}) with Adam:")
    one_cycle = keras_lr.OneCycle(max_lr=peak)
    ours = model.fit(x_train, y_train, validation_data=(x_val, y_val), batch_size=32, epochs=epochs,
                     verbose=verbose, callbacks=[one_cycle, StopOnInterrupt()])
    schedule = one_cycle.history_frame()
    schedule.to_csv(os.path.join(out, "schedule.csv"), index=False, float_format=CSV_FLOATS)
    keras_lr.plot_schedule(one_cycle.schedule_for_last_fit(), len(schedule)).savefig(
        os.path.join(out, "schedule.png"), dpi=100)
    files.update(schedule_csv="schedule.csv", schedule_png="schedule.png")

    # 3. Keras's default: Adam(0.001), constant.
    say("\n3. Keras's default, Adam(0.001):")
    default = compiled(keras.optimizers.Adam()).fit(x_train, y_train, validation_data=(x_val, y_val), batch_size=32,
                                                   epochs=epochs, verbose=verbose,
                                                   callbacks=[StopOnInterrupt()])
    _plot_curves(ours.history, default.history, metric, peak, os.path.join(out, "learning_curves.png"))
    files["learning_curves_png"] = "learning_curves.png"
    scores = {"OneCycle": ours.history[metric][-1], "Adam(0.001)": default.history[metric][-1]}

    # 4. A short search of the rate and its schedule.
    best, bounds = None, None
    if trials:
        say(f"\n4. KerasTuner search of the rate and its schedule, {_count(trials, 'trial')} of {_count(epochs, 'epoch')}:")

        def build_model(hp):
            return _compile(keras, _model(keras, x_train.shape[1], info),
                            keras.optimizers.Adam(tuning.learning_rate(hp)), info)

        import contextlib
        import io
        import tempfile

        # Seeded by the range test above (when it is reliable): the rate is searched within the bounds its
        # curve supports, and the trial after Keras's default runs its recommendation.
        finder = result if result.reliable else None
        hypermodel = tuning.LRHyperModel(build_model, finder=finder)
        keras.utils.set_random_seed(seed)
        with tempfile.TemporaryDirectory() as directory:
            # LRHyperModel prints the bounds (within learning_rate(hp)'s) as the tuner builds a model; said below.
            with contextlib.redirect_stdout(io.StringIO()):
                tuner = tuning.RandomSearch(hypermodel, objective=metric, max_trials=trials,
                                            seed=seed, directory=directory, project_name="demo")
            bounds = hypermodel.bounds
            if bounds is not None:
                recommended = min(max(result.one_cycle_max_lr, bounds[0]), bounds[1])
                cut = (f", its peak {result.one_cycle_max_lr:.3g} cut to the bound"
                       if recommended != result.one_cycle_max_lr else "")
                say(f"   learning rate searched in [{bounds[0]:.3g}, {bounds[1]:.3g}] (from the "
                    f"range test)" + (f"; the trial after Keras's default runs the test's recommendation, "
                                      f"OneCycle at {recommended:.3g}{cut}" if trials > 1 else ""))
            tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=32, verbose=0,
                         callbacks=[StopOnInterrupt()])
            frame = tuning.results_frame(tuner)
            # The score KerasTuner ranks by is a trial's best epoch; the runs above are scored at their last.
            curves = tuning.history_frame(tuner)
            last = curves[curves.metric == metric].sort_values("epoch").groupby("trial_id").value.last()
            frame[f"last_epoch_{metric}"] = frame.trial_id.map(last)
            tuning.plot_results(tuner).savefig(os.path.join(out, "search.png"), dpi=100)
        frame.to_csv(os.path.join(out, "trials.csv"), index=False, float_format=CSV_FLOATS)
        files.update(trials_csv="trials.csv", search_png="search.png")
        for line in _trial_lines(frame, metric):
            say(line)
        best = _best_trial(frame)
        default_trial = frame[frame.defaults].iloc[0]
        if best is None:
            say("   every trial diverged: no best trial")
        elif best.trial_id == default_trial.trial_id:
            scores["best trial (the defaults trial)"] = best[f"last_epoch_{metric}"]
        else:
            scores[f"best trial ({best.lr_schedule} at {best.learning_rate:.3g})"] = best[f"last_epoch_{metric}"]
        if best is None or best.trial_id != default_trial.trial_id:
            scores["defaults trial (Adam 0.001, constant)"] = default_trial[f"last_epoch_{metric}"]

    table = pd.DataFrame({"run": list(scores), metric: list(scores.values())})
    say(f"\nheld-out {metric} after {_count(epochs, 'epoch')} (the last epoch's" +
        (", the best trial chosen on this same split):" if trials else "):"))
    for run, score in scores.items():
        say(f"   {run:45s} {_score(score)}")
    if classification:  # what always answering the most frequent class scores: 0.99 on a 99:1 table
        share = np.bincount(y_val, minlength=len(info["classes"])) / len(y_val)
        name, top = info["classes"][int(share.argmax())], float(share.max())
        say(f"   (always predicting the most frequent class, {name!r}, scores {top:.4f})")
        baseline = f"Always predicting the most frequent class ({name!r}) scores {top:.4f}."
    else:  # the loss of always answering the training rows' mean: about 1 on the standardised target
        mean_loss = float(np.mean((np.asarray(y_val, "float64") - np.mean(y_train, dtype="float64")) ** 2))
        say(f"   (always predicting the training rows' mean scores {mean_loss:.4f})")
        baseline = f"Always predicting the training rows' mean scores {mean_loss:.4f}."
    _stop_if_interrupted()  # the report is whole, or has no summary.md
    _write_summary(out, info, epochs, trials, result, peak, table, metric, files, better, bounds, baseline)
    return dict(scores=scores, peak=peak, files=files, result=result)


def _score(value):
    """A score as printed: 4 decimals, or "diverged" for NaN or an infinite one."""
    return f"{value:.4f}" if math.isfinite(value) else "diverged"


def _trial_lines(frame, metric):
    """Each trial of the search as a line; a diverged one says so (its score is KerasTuner's 1e30 placeholder)."""
    lines = []
    for _, row in frame.iterrows():
        mark = "   <- Keras's default" if row.defaults else ""
        score = (f"{metric} {row.score:.4f} at its best epoch ({row.status})" if row.status != "diverged"
                 else "diverged")
        lines.append(f"   trial {row.trial_id}  {row.lr_schedule:9s} learning_rate {row.learning_rate:<9.3g} "
                     f"{score}{mark}")
    return lines


def _best_trial(frame):
    """The search's best trial (frame is ranked best first), or None when every trial diverged."""
    finished = frame[frame.status != "diverged"]
    return None if finished.empty else finished.iloc[0]


def _start_report(out):
    """Makes ``out`` a report folder: an earlier report's files removed (nothing else), the marker written."""
    os.makedirs(out, exist_ok=True)
    if os.path.exists(os.path.join(out, REPORT_MARKER)):
        for name in REPORT_FILES:
            path = os.path.join(out, name)
            if os.path.isfile(path):
                os.remove(path)
    with open(os.path.join(out, REPORT_MARKER), "w") as handle:
        handle.write("A report of keras-lr demo. The next keras-lr demo --out into this folder replaces its files "
                     f"({', '.join(REPORT_FILES)}) and leaves any other.\n")


def _plot_curves(ours, default, metric, peak, path):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for history, label in ((ours, f"OneCycle (peak {peak:.3g})"), (default, "Adam(0.001)")):
        epochs = range(1, len(history[metric]) + 1)
        axes[0].plot(epochs, history[metric], marker="o", label=label)
        axes[1].plot(epochs, history["loss"], marker="o", label=label)
    for ax, name in zip(axes, (metric, "training loss")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _write_summary(out, info, epochs, trials, result, peak, table, metric, files, better, bounds=None, baseline=None):
    lines = [
        "# keras_lr demo report",
        "",
        f"Data: {info['name']} ({info['task']}; {info['train']} training and {info['validation']} held-out "
        f"examples; {_count(info['columns'], 'column')}, {_count(info['features'], 'feature')} after encoding"
        + (f"; {_count(info['dropped'], 'row')} without a target dropped" if info.get("dropped") else "")
        + (f"; {_count(info['infinite'], 'row')} with an infinite target dropped" if info.get("infinite") else "")
        + ").",
        *([f"The task is inferred from the target ({info['task_reason']}); --task chooses it."]
          if info.get("task_reason") else []),
        f"Model: an MLP (64 ReLU units), Adam, batch 32, {_count(epochs, 'epoch')}."
        + (" The target is standardised (mean 0, sd 1): losses are in its sd units, squared." if info.get("scaled_target")
           else ""),
        "",
        "## 1. The learning-rate range test",
        "",
        f"![range test]({files['range_test_png']})",
        "",
        "| suggestion | rate |",
        "|---|---|",
        *[f"| {name} | {rate:.3g} |" for name, rate in result.suggestions.items()],
        f"| OneCycle peak (`one_cycle_max_lr`) | {result.one_cycle_max_lr if result.reliable else math.nan:.3g} |",
        "",
        ("The curve is reliable." if result.reliable else f"The curve is unreliable: {'; '.join(result.reasons)}.")
        + "".join(f" {note[:1].upper()}{note[1:]}{'' if note.endswith('.') else '.'}" for note in result.notes)
        + f" Every step: [{files['range_test_csv']}]({files['range_test_csv']}).",
        "",
        f"## 2. OneCycle at {peak:.3g} against Keras's default, Adam(0.001)",
        "",
        f"![schedule]({files['schedule_png']})",
        "",
        f"![learning curves]({files['learning_curves_png']})",
        "",
        f"The rate and momentum of every step: [{files['schedule_csv']}]({files['schedule_csv']}).",
        "",
    ]
    if "trials_csv" in files:
        lines += [
            f"## 3. A KerasTuner search of the rate and its schedule ({_count(trials, 'trial')})",
            "",
            f"![search]({files['search_png']})",
            "",
            f"Every trial: [{files['trials_csv']}]({files['trials_csv']}). The first trial is Keras's default"
            + (f"; the rate is searched in [{bounds[0]:.3g}, {bounds[1]:.3g}], the bounds the range "
               "test's curve supports" + (", and the second trial runs its recommendation." if trials > 1 else ".")
               if bounds else "."),
            "",
        ]
    finite = [score for score in table[metric] if math.isfinite(score)]
    best_score = better(finite) if finite else None
    lines += [
        f"## Held-out {metric}",
        "",
        f"{'After the last of the ' + _count(epochs, 'epoch') if epochs > 1 else 'After the one epoch'}, for every run"
        + (": the search ranks trials by their best epoch (the score in trials.csv), and the best trial is chosen on "
           "this same held-out split, which flatters it." if "trials_csv" in files else "."),
        "",
        f"| run | {metric} |",
        "|---|---|",
        *[f"| {row.run} | {_score(getattr(row, metric))}{' (best)' if getattr(row, metric) == best_score else ''} |"
          for row in table.itertuples()],
        "",
    ]
    if baseline is not None:
        lines += [baseline, ""]
    with open(os.path.join(out, "summary.md"), "w") as handle:
        handle.write("\n".join(lines))


if __name__ == "__main__":  # python -m keras_lr.cli: the keras-lr command
    import keras_lr_cli

    sys.exit(keras_lr_cli.main())
