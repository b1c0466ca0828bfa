"""What KerasTuner's chief/worker mode costs on this machine, and that it works.

A 12-trial `keras_lr.tuning.RandomSearch` of `LRHyperModel` on the digits MLP
(5 epochs a trial, batch 32), run by `keras_lr.tuning.run_local` as a chief
and 1, 2 and 3 worker processes on 127.0.0.1, and, for comparison, in one
process without the chief/worker mode. For each: the wall time from the
chief's start to its exit (process start-ups included), the trials each
worker completed, and the best held-out accuracy. The runs alternate between
the set-ups, `--repeats` times. On 2 cores, more workers than cores share
them: the point is that the mode works and what it costs here, not speed.

    python benchmarks/distributed.py            # full run (about 6 minutes on 2 cores)
    python benchmarks/distributed.py --smoke    # CI: one 4-trial search with 2 workers (under 40 s)

The same file is the search script that every process runs (`--search DIR`).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def search(directory, trials, epochs, samples):
    """One process's part of the search (the chief's, a worker's, or all of it outside the mode)."""
    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from keras_lr import tuning

    class Counted(tuning.RandomSearch):
        """Writes each trial this process completes to DIRECTORY/trials-<its KERASTUNER_TUNER_ID>.txt."""

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            name = os.environ.get("KERASTUNER_TUNER_ID", "alone")
            with open(os.path.join(directory, f"trials-{name}.txt"), "a") as handle:
                handle.write(trial.trial_id + "\n")

    data = load_digits()
    x, y = (data.data[:samples] / 16.0).astype("float32"), data.target[:samples].astype("int32")
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)

    def build(hp):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.Adam(tuning.learning_rate(hp)), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    tuner = Counted(tuning.LRHyperModel(build), objective="val_accuracy", max_trials=trials, seed=0,
                    directory=directory, project_name="search", overwrite=True)
    tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=32, verbose=0)
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") == "chief":
        frame = tuning.results_frame(tuner)
        record = {"best": float(frame.score.iloc[0]), "statuses": frame.status.value_counts().to_dict(),
                  "trials": len(frame)}
        with open(os.path.join(directory, "record.json"), "w") as handle:
            json.dump(record, handle)


def run(workers, trials, epochs, samples):
    """One search; workers=0: in one process, outside the chief/worker mode."""
    from keras_lr import tuning

    directory = tempfile.mkdtemp(prefix="keras_lr_bench_distributed_")
    arguments = ["--search", directory, "--trials", str(trials), "--epochs", str(epochs), "--samples", str(samples)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    if workers == 0:
        began = time.perf_counter()
        done = subprocess.run([sys.executable, os.path.abspath(__file__), *arguments], env=env,
                              capture_output=True, text=True, timeout=1800)
        seconds, status = time.perf_counter() - began, done.returncode
        reason = done.stderr.strip().splitlines()[-1] if status else "finished"
    else:
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            result = tuning.run_local(os.path.abspath(__file__), workers=workers, script_args=arguments,
                                      timeout=1800, verbose=0)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        seconds, status, reason = result.seconds, result.status, result.reason
    per_worker = {}
    for name in sorted(os.listdir(directory)):
        if name.startswith("trials-"):
            with open(os.path.join(directory, name)) as handle:
                per_worker[name[len("trials-"):-len(".txt")]] = len(handle.read().split())
    record = {}
    if os.path.exists(os.path.join(directory, "record.json")):
        with open(os.path.join(directory, "record.json")) as handle:
            record = json.load(handle)
    shutil.rmtree(directory, ignore_errors=True)
    return dict(workers=workers, seconds=seconds, status=status, reason=reason, per_worker=per_worker, **record)


def report(runs, trials, epochs):
    lines = [f"{trials}-trial RandomSearch of LRHyperModel, digits MLP, {epochs} epochs a trial, on "
             f"{os.cpu_count()} cores; wall time from the chief's start to its exit.", "",
             "| set-up | wall time (s), each run | median | trials per worker, each run | best val_accuracy |",
             "|---|---|---|---|---|"]
    for workers in sorted({r["workers"] for r in runs}):
        mine = [r for r in runs if r["workers"] == workers]
        label = "one process, no chief/worker mode" if workers == 0 else f"chief + {workers} worker{'s' * (workers > 1)}"
        times = ", ".join(f"{r['seconds']:.1f}" for r in mine)
        split = "; ".join("/".join(str(r["per_worker"].get(f"tuner{i}", 0)) for i in range(workers))
                          if workers else str(r["per_worker"].get("alone", 0)) for r in mine)
        best = ", ".join(f"{r.get('best', float('nan')):.3f}" for r in mine)
        lines.append(f"| {label} | {times} | {statistics.median(r['seconds'] for r in mine):.1f} | {split} | {best} |")
    failed = [r for r in runs if r["status"] != 0 or r.get("trials") != trials]
    lines += ["", "every search finished with every trial" if not failed
              else f"FAILED: {[(r['workers'], r['reason']) for r in failed]}"]
    return "\n".join(lines), not failed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="one 4-trial search with 2 workers: checks the mode runs")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each set-up (default: 2)")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=1797, help="digits examples used (default: all 1797)")
    parser.add_argument("--search", metavar="DIR", help=argparse.SUPPRESS)  # a process of one search
    args = parser.parse_args()
    if args.search:
        search(args.search, args.trials, args.epochs, args.samples)
        return
    if args.smoke:
        setups, repeats, trials, epochs, samples = [2], 1, 4, 1, 400
    else:
        setups, repeats, trials, epochs, samples = [0, 1, 2, 3], args.repeats, args.trials, args.epochs, args.samples
    started = time.perf_counter()
    runs = []
    for _ in range(repeats):
        for workers in setups:
            runs.append(run(workers, trials, epochs, samples))
            print(f"  {workers} workers: {runs[-1]['seconds']:.1f} s, {runs[-1]['per_worker']}", flush=True)
    text, ok = report(runs, trials, epochs)
    if args.smoke:
        text += "\n(--smoke: one small search; the figures are not a measurement)"
    print(text)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if not args.smoke:
        os.makedirs("benchmarks/results", exist_ok=True)
        with open("benchmarks/results/distributed.md", "w") as handle:
            handle.write(text + "\n")
        with open("benchmarks/results/distributed.json", "w") as handle:
            json.dump(runs, handle, indent=1)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
