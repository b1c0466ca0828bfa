"""The keras-lr command: the demo on digits and on a CSV table, its report, and one line per mistake."""

import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_wine

import keras_lr.finder.result
import keras_lr_cli

REPORT = ["learning_curves.png", "range_test.csv", "range_test.png", "schedule.csv", "schedule.png", "search.png",
          "summary.md", "trials.csv"]


@pytest.fixture
def short_range_test(monkeypatch):
    """The demo's range test at 60 steps (180 when it runs again) where what is checked is not its 300-step curve
    (the digits demo and the warning test run it as it is): the CSV table's demo and the demo started ignoring Ctrl-C
    took 8.5 s and 9.6 s with 300 steps, 5.6 s and 5.9 s with 60 (alone, one run each)."""
    lr_find = keras_lr.lr_find
    monkeypatch.setattr(keras_lr, "lr_find", lambda *args, **kwargs: lr_find(*args, num_steps=60, **kwargs))


def run(argv, capsys):
    status = keras_lr_cli.main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_demo_on_digits_writes_the_report_and_beats_kerass_default(tmp_path, capsys):
    status, out, _ = run(["demo", "--epochs", "2", "--trials", "3", "--out", str(tmp_path)], capsys)
    assert status == 0
    assert sorted(os.listdir(tmp_path)) == sorted(REPORT + [keras_lr_cli.REPORT_MARKER])
    summary = (tmp_path / "summary.md").read_text()
    for name in set(REPORT) - {"summary.md"}:
        assert f"({name})" in summary  # every figure and table is linked
    assert all(os.path.getsize(tmp_path / name) > 500 for name in REPORT if name.endswith(".png"))
    lines = out.splitlines()
    ours = float(next(line for line in reversed(lines) if line.strip().startswith("OneCycle ")).split()[-1])
    default = float(next(line for line in lines if line.strip().startswith("Adam(0.001)")).split()[-1])
    assert ours > 0.85 and ours > default  # two epochs: the range test's peak beats Adam(0.001)
    trials = [line for line in lines if line.strip().startswith("trial ")]
    assert len(trials) == 3 and sum("<- Keras's default" in line for line in trials) == 1
    frame = pd.read_csv(tmp_path / "trials.csv")
    assert len(frame) == 3 and frame.defaults.sum() == 1
    # Float32 scores and KerasTuner's float steps were written to 17 digits (0.9555555582046509,
    # 0.30000000000000004): ten significant ones at most.
    numbers = re.findall(r"[\d.]+(?:e[-+]\d+)?", (tmp_path / "trials.csv").read_text())
    assert max(len(n.split("e")[0].lstrip("0.").replace(".", "")) for n in numbers) <= 10
    # The final table scores every run at its last epoch, the search's best trial too (not its best epoch).
    best = frame.iloc[0]
    row = next(line for line in lines if line.strip().startswith("best trial ("))
    assert float(row.split()[-1]) == pytest.approx(best["last_epoch_val_accuracy"], abs=5e-5)
    assert (frame.last_epoch_val_accuracy <= frame.score + 1e-9).all()
    assert "After the last of the 2 epochs, for every run" in summary
    # The search is seeded by the range test: its bounds, and its recommendation as the second trial.
    low, high = (float(v) for v in next(line for line in lines if "learning rate searched in" in line)
                 .split("[")[1].split("]")[0].split(", "))
    peak = float(next(line for line in lines if "OneCycle peak" in line).split()[2])
    second = frame.sort_values("trial_id").iloc[1]
    assert second.lr_schedule == "one_cycle" and second.learning_rate == pytest.approx(peak, rel=2e-3)
    assert f"the trial after Keras's default runs the test's recommendation, OneCycle at {peak:.3g}\n" in out
    later = frame.sort_values("trial_id").iloc[2]
    assert low * 0.999 <= later.learning_rate <= high * 1.001
    assert "the second trial runs its recommendation" in summary
    schedule = pd.read_csv(tmp_path / "schedule.csv")
    assert list(schedule.columns) == ["epoch", "step", "learning_rate", "momentum"] and len(schedule) == 2 * 43


def table(tmp_path):
    """Wine with a text target, a text column with gaps and a numeric column with gaps."""
    frame = load_wine(as_frame=True).frame
    rng = np.random.default_rng(0)
    frame["colour"] = rng.choice(["red", "white", None], size=len(frame))
    frame.loc[rng.choice(len(frame), 10, replace=False), "alcohol"] = np.nan
    frame["target"] = frame["target"].map({0: "a", 1: "b", 2: "c"})
    frame.loc[[3, 7], "target"] = np.nan
    path = tmp_path / "wine.csv"
    frame.to_csv(path, index=False)
    return path


def test_demo_on_a_csv_table_infers_the_task_and_encodes_the_columns(tmp_path, capsys, short_range_test):
    path = table(tmp_path)
    out_dir = tmp_path / "report"
    status, out, _ = run(["demo", "--csv", str(path), "--target", "target", "--epochs", "2", "--trials", "0",
                          "--out", str(out_dir), "--quiet"], capsys)
    assert status == 0 and out == ""  # --quiet
    summary = (out_dir / "summary.md").read_text()
    assert "wine.csv (classification; 132 training and 44 held-out examples; 14 columns, 15 features" in summary
    assert "2 rows without a target dropped" in summary
    assert "The task is inferred from the target (text); --task chooses it." in summary
    assert re.search(r"Always predicting the most frequent class \('b'\) scores 0\.\d{4}\.", summary), summary
    assert "trials.csv" not in os.listdir(out_dir)  # --trials 0


def test_demo_infers_regression_and_takes_task_from_the_command_line(tmp_path, capsys):
    frame = load_diabetes(as_frame=True).frame
    path = tmp_path / "diabetes.csv"
    frame.to_csv(path, index=False)
    status, _, _ = run(["demo", "--csv", str(path), "--target", "target", "--epochs", "1", "--trials", "0",
                        "--out", str(tmp_path / "r"), "--quiet"], capsys)
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert status == 0 and "(regression;" in summary
    # Beside the runs' losses, what always predicting the training rows' mean scores (about 1: the target is
    # standardised); a newcomer's regression report had no such line, as classification's "most frequent class".
    mean_loss = float(re.search(r"Always predicting the training rows' mean scores (\d+\.\d{4})\.", summary).group(1))
    assert 0.8 < mean_loss < 1.25 and "most frequent class" not in summary
    assert "Adam, batch 32, 1 epoch." in summary and "After the one epoch, for every run" in summary
    assert "1 epochs" not in summary and "1 features" not in summary
    frame["sex_class"] = (frame["sex"] > 0).astype(int)
    frame.to_csv(path, index=False)
    status, _, _ = run(["demo", "--csv", str(path), "--target", "sex_class", "--task", "regression", "--epochs", "1",
                        "--trials", "0", "--out", str(tmp_path / "s"), "--quiet"], capsys)
    assert status == 0 and "(regression;" in (tmp_path / "s" / "summary.md").read_text()


def test_a_warning_is_one_line_that_names_the_command(tmp_path, capsys):
    # On wine the range test fits its batches (133 rows cycled over 300 steps): a warning, said as a
    # command says it, without Python's "file:line: UserWarning:" and the source line under it.
    path = tmp_path / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(path, index=False)
    status, _, err = run(["demo", "--csv", str(path), "--target", "target", "--epochs", "1", "--trials", "0",
                          "--out", str(tmp_path / "w"), "--quiet"], capsys)
    assert status == 0
    assert "keras-lr: warning: lr_find: the loss fell below 1% of its start by learning rate" in err
    assert "UserWarning" not in err and "cli.run_demo" not in err
    # The report says it too, beside "reliable".
    assert "The curve is reliable. The loss fell below 1% of its start by learning rate" in (
        tmp_path / "w" / "summary.md").read_text()


def mistakes(tmp_path):
    good = table(tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,target\n")
    one_class = tmp_path / "one.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "target": ["x", "x", "x"]}).to_csv(one_class, index=False)
    no_feature = tmp_path / "nofeature.csv"
    pd.DataFrame({"a": [1.0, 1.0, 1.0], "b": [None, None, None], "target": [0, 1, 0]}).to_csv(no_feature, index=False)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 100)
    a_file = tmp_path / "file"
    a_file.write_text("")
    numeric_one_class = tmp_path / "numeric_one.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "target": [1, 1, 1]}).to_csv(numeric_one_class, index=False)
    rare = tmp_path / "rare.csv"  # a class of one example cannot be split in two
    pd.DataFrame({"a": np.arange(40.0), "target": ["x"] * 39 + ["y"]}).to_csv(rare, index=False)
    crowded = tmp_path / "crowded.csv"
    pd.DataFrame({"a": np.arange(10.0), "target": list("abcde") * 2}).to_csv(crowded, index=False)
    return [
        (["--csv", str(tmp_path / "missing.csv"), "--target", "t"], "no such file"),
        (["--csv", str(binary), "--target", "t"], "not a readable CSV table"),
        (["--csv", str(good), "--target", "colour_"], "--target 'colour_' is not a column of"),
        (["--csv", str(one_class), "--target", "target"], "has one class ('x'): nothing to learn"),
        (["--csv", str(empty), "--target", "target"], "the table is empty"),
        (["--csv", str(header_only), "--target", "target"], "the table has no rows"),
        (["--csv", str(no_feature), "--target", "target"], "no usable feature besides 'target'"),
        (["--csv", str(good)], "--csv needs --target COLUMN"),
        (["--target", "target"], "--target goes with --csv FILE"),
        (["--out", str(a_file / "report")], "cannot write there"),
        (["--csv", str(tmp_path), "--target", "t"], "is a folder, not a file"),
        (["--csv", str(numeric_one_class), "--target", "target"], "has one class (1): nothing to learn"),
        (["--csv", str(rare), "--target", "target"], "--target 'target': class 'y' has 1 example"),
        (["--csv", str(crowded), "--target", "target"], "has 5 classes, more than the 3 rows held out"),
    ]


@pytest.mark.parametrize("case", range(14))
def test_each_mistake_is_one_line_and_exit_status_2(case, tmp_path, capsys):
    argv, message = mistakes(tmp_path)[case]
    out_dir = [] if "--out" in argv else ["--out", str(tmp_path / "out")]
    status, _, err = run(["demo", *argv, *out_dir, "--epochs", "1", "--trials", "0", "--quiet"], capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("keras-lr: error: ") and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # a failed run leaves no report folder behind


@pytest.mark.parametrize("typed, meant", [("Colour", "colour"), ("colour ", "colour"), ("colr", "colour"), ("Colr", "colour"),
                                          ("malic_acd", "malic_acid"), ("price", None)])
def test_a_mistyped_target_names_the_column_it_was_likely_meant_to_be(typed, meant, tmp_path):
    from keras_lr import cli

    with pytest.raises(cli.DataError) as raised:
        cli.load_table(str(table(tmp_path)), typed, "auto", 0)
    message = str(raised.value)
    assert message.startswith(f"--target {typed!r} is not a column of")
    assert ("did you mean" in message) == (meant is not None)
    if meant is not None:
        assert f"did you mean {meant!r}?" in message


def test_whole_number_and_infinite_feature_values_are_read(tmp_path):
    # pandas 3 refuses the standardised floats written back into an int64 column ("rooms", an id); an
    # infinite value had turned its whole column into NaN and the range test into "the loss never fell".
    from keras_lr import cli

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"rooms": rng.integers(1, 8, 80), "area": rng.normal(size=80), "flag": [True, False] * 40})
    frame["price"] = frame.rooms + frame.area + rng.normal(0.0, 0.1, 80)
    frame.loc[5, "area"] = np.inf
    path = tmp_path / "houses.csv"
    frame.to_csv(path, index=False)
    (x_train, _), (x_val, _), info = cli.load_table(str(path), "price", "auto", 0)
    assert info["task"] == "regression" and x_train.shape[1] == 4  # rooms, area and flag's two
    assert np.isfinite(x_train).all() and np.isfinite(x_val).all()
    assert abs(x_train[:, 0].mean()) < 1e-6 and x_train[:, 0].std() == pytest.approx(1.0, rel=0.05)


def test_python_m_keras_lr_cli_is_the_command():
    done = subprocess.run([sys.executable, "-m", "keras_lr.cli", "--version"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("keras-lr "), (done.stdout, done.stderr[-500:])


@pytest.mark.parametrize("argv", [["demo", "--epochs", "0"], ["demo", "--max-lr", "-1"], ["demo", "--trials", "-1"],
                                  ["demo", "--task", "ranking"], []])
def test_bad_options_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        keras_lr_cli.main(argv)
    assert raised.value.code == 2 and "usage: keras-lr" in capsys.readouterr().err


def test_a_mistyped_option_gets_its_commands_usage_and_the_option_it_was_likely_meant_to_be(capsys):
    # keras-lr's own usage was printed ("usage: keras-lr [-h] [--version] COMMAND ..."), not the demo's.
    with pytest.raises(SystemExit) as raised:
        keras_lr_cli.main(["demo", "--csv", "wine.csv", "--traget", "target"])
    err = capsys.readouterr().err
    assert raised.value.code == 2 and err.startswith("usage: keras-lr demo ")
    assert err.splitlines()[-1] == "keras-lr demo: error: unrecognized arguments: --traget target (did you mean --target?)"
    with pytest.raises(SystemExit):
        keras_lr_cli.main(["demo", "extra"])
    assert capsys.readouterr().err.splitlines()[-1] == "keras-lr demo: error: unrecognized arguments: extra"


def test_help_and_version_answer_without_loading_keras():
    code = (
        "import sys, contextlib, io, keras_lr_cli\n"
        "for argv in (['--help'], ['demo', '--help'], ['tune-local', '--help'], ['--version']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "        keras_lr_cli.main(argv)\n"
        "    assert out.getvalue(), argv\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch', 'keras_lr') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]" and done.stderr == ""
    help_text = subprocess.run([sys.executable, "-c", "import keras_lr_cli; keras_lr_cli.main(['demo', '--help'])"],
                               capture_output=True, text=True, timeout=60).stdout
    for option in ("--csv", "--target", "--task", "--epochs", "--trials", "--max-lr", "--seed", "--out", "--quiet"):
        assert option in help_text
    help_text = subprocess.run([sys.executable, "-c", "import keras_lr_cli; keras_lr_cli.main(['tune-local', '--help'])"],
                               capture_output=True, text=True, timeout=60).stdout
    for option in ("SCRIPT", "--workers", "--logs", "--port", "--restarts", "--start-timeout", "--timeout", "--quiet",
                   "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "Exit status"):
        assert option in help_text


# tune-local, on scripts that stand in for a search: the chief listens on its port, the workers exit.
STAND_IN = """
import os, socket, sys, time
role = os.environ["KERASTUNER_TUNER_ID"]
print(role, "got", sys.argv[1:], flush=True)
if role == "chief":
    server = socket.socket()
    server.bind((os.environ["KERASTUNER_ORACLE_IP"], int(os.environ["KERASTUNER_ORACLE_PORT"])))
    server.listen()
    time.sleep(1.5)
elif sys.argv[1:] == ["--fail"] and role == "tuner1":
    sys.exit(4)
"""


@pytest.mark.parametrize("script_args, status", [(["--epochs", "3"], 0), (["--fail"], 1)])
def test_tune_local_exit_status_says_if_the_search_failed(script_args, status, tmp_path, capsys):
    script = tmp_path / "search.py"
    script.write_text(STAND_IN)
    logs = tmp_path / "logs"
    code, out, err = run(["tune-local", str(script), "--workers", "2", "--logs", str(logs), "--timeout", "60",
                          "--", *script_args], capsys)
    assert code == status
    assert sorted(os.listdir(logs)) == ["chief.log", "tuner0.log", "tuner1.log"]
    assert f"tuner0 got {script_args}" in (logs / "tuner0.log").read_text()
    if status == 0:
        assert "the search finished" in out and err == ""
    else:
        assert "the search failed: tuner1 exited with status 4" in err


@pytest.mark.parametrize("argv, message", [
    (["tune-local", "missing.py"], "SCRIPT 'missing.py': no such file"),
    (["tune-local", "{script}", "--logs", "{file}/logs"], "cannot write there"),
])
def test_tune_local_mistakes_are_one_line_and_exit_status_2(argv, message, tmp_path, capsys):
    script, a_file = tmp_path / "s.py", tmp_path / "file"
    script.write_text("")
    a_file.write_text("")
    argv = [part.format(script=script, file=a_file) for part in argv]
    code, _, err = run(argv, capsys)
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["tune-local", "s.py", "--workers", "0"], ["tune-local", "s.py", "--port", "70000"],
                                  ["tune-local", "s.py", "--timeout", "0"], ["tune-local"], ["demo", "--", "x"]])
def test_tune_local_bad_options_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        keras_lr_cli.main(argv)
    assert raised.value.code == 2 and "usage: keras-lr" in capsys.readouterr().err


def test_demo_says_when_the_range_test_ran_again(tmp_path, capsys, monkeypatch, short_range_test):
    # The demo's 300 and 900 steps cost seconds; what is said is the same at 60 and 180 (short_range_test).
    monkeypatch.setattr(keras_lr.finder.result, "BARELY_FELL", 10.0)  # every reliable curve "barely fell"
    status, out, _ = run(["demo", "--csv", str(table(tmp_path)), "--target", "target", "--epochs", "1", "--trials", "0",
                          "--out", str(tmp_path / "r")], capsys)
    assert status == 0 and "a first test of 60 steps was too short to judge (the loss fell by only" in out
    assert "1. range test: 180 steps" in out


# The table as the model sees it: what a user's CSV can hold, read by load_table alone (no training).

def load(tmp_path, frame, target, task="auto", seed=0, name="t.csv"):
    from keras_lr import cli

    path = tmp_path / name
    if isinstance(frame, (str, bytes)):
        path.write_bytes(frame if isinstance(frame, bytes) else frame.encode())
    else:
        frame.to_csv(path, index=False)
    return cli.load_table(str(path), target, task, seed)


def test_a_column_with_no_value_in_the_training_rows_is_dropped_not_trained_on_as_nan(tmp_path):
    from keras_lr import cli

    frame = load_diabetes(as_frame=True).frame
    (_, _), (held_out, _) = cli._split(np.arange(len(frame)).reshape(-1, 1), frame.target.values, "regression", 0)
    sparse = np.full(len(frame), np.nan)
    sparse[held_out.ravel()[:2]] = [1.0, 2.0]  # both values fall in the held-out quarter
    frame["sparse"] = sparse
    frame["only_inf"] = np.where(np.arange(len(frame)) % 2, np.inf, -np.inf)
    with pytest.warns(UserWarning, match="column 'sparse' has no value in the training rows: dropped"):
        (x_train, _), (x_val, _), info = load(tmp_path, frame, "target")
    assert np.isfinite(x_train).all() and np.isfinite(x_val).all()
    assert x_train.shape[1] == info["features"] == 10


def test_infinite_regression_targets_are_dropped_like_missing_ones(tmp_path):
    frame = load_diabetes(as_frame=True).frame
    frame.loc[3, "target"], frame.loc[5, "target"], frame.loc[8, "target"] = np.inf, -np.inf, np.nan
    with pytest.warns(UserWarning, match="--target 'target': 2 rows with an infinite value dropped"):
        (_, y_train), (_, y_val), info = load(tmp_path, frame, "target")
    assert np.isfinite(y_train).all() and np.isfinite(y_val).all()
    assert info["train"] + info["validation"] == 439 and info["dropped"] == 1 and info["infinite"] == 2


def test_one_hot_columns_never_collide_with_a_column_of_that_name(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"color": rng.choice(["red", "blue"], 80), "color_red": rng.normal(size=80),
                          "x": rng.normal(size=80)})
    frame["y"] = (frame.x > 0).astype(int)
    (x_train, _), _, info = load(tmp_path, frame, "y")
    assert x_train.shape[1] == info["features"] == 4 and np.isfinite(x_train).all()


def test_identifiers_are_dropped_and_many_categories_are_capped(tmp_path):
    from keras_lr import cli

    rng = np.random.default_rng(1)
    n = 3000
    frame = pd.DataFrame({"id": [f"U{i:07d}" for i in range(n)],
                          "date": pd.date_range("2010-01-01", periods=n, freq="D").astype(str),
                          "sku": [f"sku{i}" for i in rng.integers(0, 1000, n)], "x": rng.normal(size=n)})
    frame["y"] = np.where(frame.x > 0, "yes", "no")
    with pytest.warns(UserWarning) as said:
        (x_train, _), _, info = load(tmp_path, frame, "y")
    said = [str(w.message) for w in said]
    assert any("column 'id' is different in nearly every row (an identifier?): dropped" in w for w in said)
    assert any("column 'date' is different in nearly every row" in w for w in said)
    assert any(re.fullmatch(f"column 'sku' has [0-9]+ categories: the {cli.MAX_CATEGORIES} most frequent are one-hot "
                            "encoded, the rest grouped as one", w) for w in said), said
    assert x_train.shape[1] == info["features"] == 1 + cli.MAX_CATEGORIES + 1


def test_duplicate_header_names_are_refused(tmp_path):
    from keras_lr import cli

    with pytest.raises(cli.DataError, match=r"column 'price' appears 2 times in the header of .*; rename"):
        load(tmp_path, "x,price,z,price\n1,2,3,2\n2,3,4,3\n", "price")


def test_a_column_of_numbers_with_a_few_stray_values_names_them(tmp_path):
    from keras_lr import cli

    frame = load_diabetes(as_frame=True).frame
    frame["target"] = frame["target"].astype(object)
    frame.loc[10, "target"] = "?"
    for task in ("auto", "regression"):
        with pytest.raises(cli.DataError, match=r"--target 'target' holds numbers but for '\?' in 1 row; "):
            load(tmp_path, frame, "target", task)
    frame = load_diabetes(as_frame=True).frame
    frame["bmi"] = frame["bmi"].astype(object)
    frame.loc[[1, 2], "bmi"] = "-"
    with pytest.warns(UserWarning, match=r"column 'bmi' holds numbers but for '-' in 2 rows: read as missing"):
        (x_train, _), _, info = load(tmp_path, frame, "target")
    assert x_train.shape[1] == 10 and np.isfinite(x_train).all()


def test_semicolon_decimal_comma_and_latin_1_tables_are_read(tmp_path):
    frame = load_diabetes(as_frame=True).frame
    frame["place"] = np.where(np.arange(len(frame)) % 2, "Zürich", "Genève")
    path = tmp_path / "eu.csv"
    frame.to_csv(path, sep=";", decimal=",", index=False, encoding="latin-1")
    from keras_lr import cli

    with pytest.warns(UserWarning) as said:
        (x_train, _), _, info = cli.load_table(str(path), "target", "auto", 0)
    said = " | ".join(str(w.message) for w in said)
    assert "is not UTF-8: read as Latin-1" in said and "',' read as the decimal point" in said
    assert info["task"] == "regression" and x_train.shape[1] == 12 and np.isfinite(x_train).all()


def test_huge_values_are_standardised_without_overflow(tmp_path):
    import warnings

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"huge": rng.normal(size=60) * 1e300, "x": rng.normal(size=60)})
    frame["y"] = frame.x * 1e200
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x_train, y_train), _, _ = load(tmp_path, frame, "y")
    assert np.isfinite(x_train).all() and x_train[:, 0].std() == pytest.approx(1.0, rel=0.05)
    assert np.isfinite(y_train).all() and abs(y_train.std() - 1.0) < 0.2


@pytest.mark.parametrize("argv, message", [
    (["demo", "--seed", "4294967296"], "--seed must be <= 4294967295; received 4294967296"),
    (["demo", "--max-lr", "inf"], "--max-lr must be a finite number; received 'inf'"),
    (["demo", "--max-lr", "nan"], "--max-lr must be a finite number; received 'nan'"),
    (["demo", "--max-lr", "1e999"], "--max-lr must be a finite number; received '1e999'"),
    (["tune-local", "s.py", "--epochs", "3"], "unrecognized arguments: --epochs 3 (arguments for the script go "
                                             "after --: keras-lr tune-local SCRIPT -- --epochs 3)"),
])
def test_out_of_range_options_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as raised:
        keras_lr_cli.main(argv)
    err = capsys.readouterr().err
    assert raised.value.code == 2 and message in err, err
    if argv[0] == "tune-local":
        assert "usage: keras-lr tune-local SCRIPT" in err


def test_tune_local_refuses_a_port_another_program_holds(tmp_path, capsys):
    import socket

    script = tmp_path / "s.py"
    script.write_text("")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code, _, err = run(["tune-local", str(script), "--port", str(port)], capsys)
    assert code == 2 and err == f"keras-lr: error: --port {port}: another program already uses it on 127.0.0.1; " \
                                "choose another, or leave --port out for a free one\n"


def test_an_out_folder_holding_files_keras_lr_did_not_write_is_refused(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.md").write_text("my notes")
    status, _, err = run(["demo", "--out", str(mine), "--trials", "0"], capsys)
    assert status == 2 and err == (f"keras-lr: error: --out {str(mine)!r} holds files keras-lr did not write "
                                   "(summary.md); choose a new or empty folder, or one a keras-lr report is in\n")
    assert (mine / "summary.md").read_text() == "my notes" and os.listdir(mine) == ["summary.md"]


def test_a_rerun_replaces_the_old_report_and_keeps_the_users_files(tmp_path, capsys, short_range_test):
    from keras_lr import cli

    assert cli.REPORT_MARKER == keras_lr_cli.REPORT_MARKER
    out_dir = tmp_path / "r"
    out_dir.mkdir()
    for name in (cli.REPORT_MARKER, "summary.md", "trials.csv", "search.png", "notes.txt"):
        (out_dir / name).write_text("old")
    status, _, _ = run(["demo", "--csv", str(table(tmp_path)), "--target", "target", "--epochs", "1", "--trials", "0",
                        "--out", str(out_dir), "--quiet"], capsys)
    assert status == 0
    assert sorted(os.listdir(out_dir)) == sorted(set(REPORT) - {"trials.csv", "search.png"} | {cli.REPORT_MARKER,
                                                                                              "notes.txt"})
    assert (out_dir / "notes.txt").read_text() == "old" and "wine.csv" in (out_dir / "summary.md").read_text()


@pytest.mark.parametrize("command", ["demo", "tune-local"])
def test_ctrl_c_is_one_line_and_exit_status_130(command, tmp_path, capsys, monkeypatch):
    from keras_lr import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_demo" if command == "demo" else "run_tune_local", interrupted)
    script = tmp_path / "s.py"
    script.write_text("")
    argv = ["demo", "--out", str(tmp_path / "r")] if command == "demo" else ["tune-local", str(script)]
    try:
        status, out, err = run(argv, capsys)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C came out of keras_lr_cli.main as a KeyboardInterrupt (a traceback)")
    assert status == 130 and err == "keras-lr: interrupted\n"


def test_ctrl_c_that_python_swallows_still_stops_the_demo(tmp_path, capsys, monkeypatch):
    # CPython prints and drops an exception raised in a garbage-collector or weakref callback ("Exception ignored
    # in: <function _xla_gc_callback ...>"): a Ctrl-C that lands there had let the run go on to exit status 0.
    import gc
    import signal

    from keras_lr import cli

    run_demo = cli.run_demo

    def swallowed_then_run(args):
        def in_the_collector(phase, info):
            signal.raise_signal(signal.SIGINT)  # the handler runs here; its KeyboardInterrupt is unraisable

        gc.callbacks.append(in_the_collector)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(in_the_collector)
        return run_demo(args)

    monkeypatch.setattr(cli, "run_demo", swallowed_then_run)
    # As at a terminal (a job started in the background ignores SIGINT, and the demo leaves that as it is).
    status, err = _demo_with_sigint(signal.default_int_handler, tmp_path, capsys)
    assert status == 130 and err == "keras-lr: interrupted\n"
    assert not (tmp_path / "r" / "summary.md").exists()


def test_a_demo_started_ignoring_ctrl_c_leaves_it_ignored(tmp_path, capsys, monkeypatch, short_range_test):
    # A background job (nohup, `&` in a script) starts with SIGINT ignored: the demo's handler made it interruptible
    # while it ran (and the test above, which assumed a terminal's handler, failed in CI).
    import signal

    from keras_lr import cli

    run_demo, during = cli.run_demo, []

    def recording(args):
        during.append(signal.getsignal(signal.SIGINT))
        return run_demo(args)

    monkeypatch.setattr(cli, "run_demo", recording)
    status, _ = _demo_with_sigint(signal.SIG_IGN, tmp_path, capsys)
    assert status == 0 and during == [signal.SIG_IGN]


def _demo_with_sigint(handler, tmp_path, capsys):
    """(status, stderr) of a short demo run started with ``handler`` for SIGINT, which it must leave as it found."""
    import signal

    started = signal.signal(signal.SIGINT, handler)
    try:
        status, _, err = run(["demo", "--csv", str(table(tmp_path)), "--target", "target", "--epochs", "1",
                              "--trials", "0", "--out", str(tmp_path / "r"), "--quiet"], capsys)
        assert signal.getsignal(signal.SIGINT) is handler  # put back
    finally:
        signal.signal(signal.SIGINT, started)
    return status, err


@pytest.mark.parametrize("values, task", [
    (np.arange(150_000, 260_000, 10_000), "regression"),  # prices in steps of 10,000
    (np.arange(1, 6), "classification"),  # ratings 1-5
    (np.arange(0, 16), "classification"),  # counts 0-15 (a class of one example then suggests --task regression)
    (np.array([0, 1]), "classification"),
    (np.array([100, 200, 300, 400]), "regression"),  # sizes in steps of 100
    (np.linspace(0.0, 1.0, 7), "regression"),
])
def test_whole_numbers_are_classes_only_when_few_and_close_together(values, task):
    from keras_lr import cli

    assert cli.infer_task(pd.Series(np.repeat(values, 3))) == task


def test_a_numeric_target_read_as_classes_is_said(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=120)})
    frame["rating"] = np.clip(np.round(3 + frame.x), 1, 5).astype(int)
    with pytest.warns(UserWarning, match="--target 'rating': 5 distinct whole numbers, 1 to 5, read as classes; "
                                         "pass --task regression if it is a quantity"):
        _, _, info = load(tmp_path, frame, "rating")
    assert info["task"] == "classification" and info["task_reason"] == "5 distinct whole numbers, 1 to 5"


def test_diverged_trials_are_said_so_and_never_the_best(tmp_path):
    from keras_lr import cli

    frame = pd.DataFrame({"trial_id": ["1", "0"], "status": ["diverged", "diverged"], "defaults": [False, True],
                          "lr_schedule": ["one_cycle", "constant"], "learning_rate": [0.5, 0.001],
                          "score": [1e30, 1e30], "last_epoch_val_loss": [np.nan, np.nan]})
    lines = cli._trial_lines(frame, "val_loss")
    assert all(line.split()[5] == "diverged" and "1000000" not in line for line in lines), lines
    assert cli._best_trial(frame) is None
    frame.loc[1, ["status", "score", "last_epoch_val_loss"]] = ["completed", 0.5, 0.6]
    assert cli._best_trial(frame).trial_id == "0"


def test_tensorflows_own_warnings_are_not_printed(tmp_path, capsys, monkeypatch, short_range_test):
    # TensorFlow's "triggered tf.function retracing" lines, 600 characters through its own logger (whose handler
    # holds the stderr of its import, out of capsys's reach: what is asserted is that the logger is off).
    import logging

    lr_find, said = keras_lr.lr_find, []  # short_range_test's

    def retracing(*args, **kwargs):
        said.append(logging.getLogger("tensorflow").isEnabledFor(logging.WARNING))
        return lr_find(*args, **kwargs)

    monkeypatch.setattr(keras_lr, "lr_find", retracing)
    status, out, _ = run(["demo", "--csv", str(table(tmp_path)), "--target", "target", "--epochs", "1",
                          "--trials", "1", "--out", str(tmp_path / "r")], capsys)
    assert status == 0 and said == [False]
    # One trial: Keras's default alone; no second trial is described, no "best trial" beside it.
    assert "the trial after Keras's default" not in out and "second trial" not in (tmp_path / "r" / "summary.md").read_text()
    assert "best trial (the defaults trial)" in out
