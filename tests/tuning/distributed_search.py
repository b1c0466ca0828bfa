"""A search script for tests/tuning/test_distributed.py: run as the chief and as each worker.

    python tests/tuning/distributed_search.py DIRECTORY [options]

The chief writes what the search recorded (`results_frame`, `history_frame`,
keras_lr's oracle state) to DIRECTORY/results.json after `search`.
`--kill tuner1:2` makes worker tuner1 SIGKILL itself once its second trial
has reported its first epoch to the chief, once per DIRECTORY (a marker
file says it did).
"""

import argparse
import json
import os
import signal

from keras_lr import tuning
from tests.tuning.helpers import build_digits, build_regression, digits, regression


class PruneAll:
    """Stops every trial after its first epoch (never the initial points: keras_lr does not ask then)."""

    def prune(self, curve, others, direction):
        return "pruned by the test" if curve else None


class Search(tuning.RandomSearch):
    """keras_lr's RandomSearch; with ``kill=(tuner_id, n)``, that worker SIGKILLs itself once its
    ``n``-th trial has reported its first epoch (``marker`` records that it did, once)."""

    def __init__(self, *args, kill=None, marker=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kill, self.marker, self.trials_begun = kill, marker, 0

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self.trials_begun += 1

    def on_epoch_end(self, trial, model, epoch, logs=None):
        super().on_epoch_end(trial, model, epoch, logs=logs)  # the epoch reaches the chief
        if self.kill is None or os.path.exists(self.marker):
            return
        tuner_id, nth = self.kill
        if os.environ.get("KERASTUNER_TUNER_ID") == tuner_id and self.trials_begun == nth and epoch == 0:
            with open(self.marker, "w") as handle:
                handle.write(trial.trial_id)
            os.kill(os.getpid(), signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--model", choices=("digits", "regression"), default="digits")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--finder", action="store_true")
    parser.add_argument("--prune-all", action="store_true")
    parser.add_argument("--trial-timeout", type=float, default=None)
    parser.add_argument("--kill", default=None, help="TUNER_ID:N")
    args = parser.parse_args()

    if args.model == "digits":
        build, (x, y), objective, batch = build_digits, digits(), "val_accuracy", 64
        schedules = ("constant", "one_cycle", "cosine")
    else:
        build, (x, y), objective, batch = build_regression, regression(), "val_loss", 8
        schedules = ("constant",)
    hypermodel = tuning.LRHyperModel(build, schedules=schedules, finder=True if args.finder else None)
    kill = None
    if args.kill:
        tuner_id, nth = args.kill.split(":")
        kill = (tuner_id, int(nth))
    tuner = Search(
        hypermodel, objective=objective, max_trials=args.trials, seed=3, directory=args.directory,
        project_name="search", overwrite=True, pruning=PruneAll() if args.prune_all else None,
        trial_timeout=args.trial_timeout, chief_timeout=60, kill=kill, marker=os.path.join(args.directory, "killed"),
    )
    tuner.search(x, y, epochs=args.epochs, batch_size=batch, validation_split=0.25, verbose=0)

    if os.environ.get("KERASTUNER_TUNER_ID", "chief") == "chief":
        frame, history = tuning.results_frame(tuner), tuning.history_frame(tuner)
        oracle = tuner.oracle
        record = {
            "results": json.loads(frame.to_json(orient="records", double_precision=15)),
            "attrs": frame.attrs,
            "history": json.loads(history.to_json(orient="records", double_precision=15)),
            # {trial_id: {epoch from 0: the losses reported for it}}: two would be a run not forgotten.
            "reports": {
                trial_id: {str(obs.step): len(obs.value) for obs in trial.metrics.get_history("curve/loss")}
                for trial_id, trial in oracle.trials.items() if trial.metrics.exists("curve/loss")
            },
            "keras_lr": oracle.keras_lr,
            "end_order": oracle.end_order,
            "start_order": oracle.start_order,
        }
        with open(os.path.join(args.directory, "results.json"), "w") as handle:
            json.dump(record, handle)


if __name__ == "__main__":
    main()
