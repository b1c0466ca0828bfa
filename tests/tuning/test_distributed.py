"""KerasTuner's chief/worker mode with keras_lr's tuners, and `run_local`.

First the chief's bookkeeping, on an oracle in this process with a fake
clock (every backend): a restarted worker, a worker that falls silent, the
range test run once. Then real searches: a chief and two workers as
processes on 127.0.0.1 (under PyTorch only: see SEARCH_PROCESSES), and
`run_local`'s handling of failing scripts (no Keras in those processes).
Every wait is bounded and every process is stopped (its whole group) in a
`finally`.
"""

import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import keras_tuner
import pytest

from keras_lr import tuning
from keras_lr.tuning import _kerastuner, local
from tests.backends import search_bookkeeping

ROOT = pathlib.Path(__file__).parents[2]
SCRIPT = ROOT / "tests" / "tuning" / "distributed_search.py"

# The searches' processes import TensorFlow (KerasTuner does, whatever the backend) and train;
# run under every backend they would add minutes to `make test` and test nothing more: what runs
# between the processes is the chief's bookkeeping, tested below on every backend. On the oldest
# releases they would run KerasTuner 1.4.8's code again. So they are a search's bookkeeping
# (tests/backends.py): run once, under PyTorch, on the newest releases. The same mode under
# TensorFlow runs in `make bench-smoke` (benchmarks/distributed.py --smoke: a chief and two workers).
SEARCH_PROCESSES = search_bookkeeping


# The chief's bookkeeping, in this process.


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def make_oracle(tmp_path, max_trials=4, trial_timeout=None, initial_points=(), pruner=None):
    space = keras_tuner.HyperParameters()
    tuning.learning_rate(space)
    space.Choice("lr_schedule", ["constant", "one_cycle"], default="constant")
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="val_loss", max_trials=max_trials,
                                                    hyperparameters=space, seed=1)
    oracle._set_project_dir(str(tmp_path), "search")
    clock = Clock()
    _kerastuner.extend(oracle, list(initial_points), pruner, trial_timeout)
    oracle._clock = clock
    oracle._reset_clocks()
    return oracle, clock


def report(oracle, trial, epoch, value, run=None, last=False):
    metrics = {"curve/loss": value, "curve/objective": value}
    if run is not None:
        metrics[_kerastuner.RUN] = run
    if last:
        metrics[_kerastuner.LAST_EPOCH] = 1.0
    return oracle.update_trial(trial.trial_id, metrics, step=epoch)


def finish(oracle, trial, value=0.5):
    oracle.update_trial(trial.trial_id, {"val_loss": value}, step=0)
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def test_the_median_rule_compares_with_completed_trials_and_never_prunes_a_last_epoch(tmp_path):
    # Optuna's median rule takes the completed trials only: with a pruned trial's 2.0 among them, 1.2 was
    # above the median (1.5) and went on. A report of the fit's last epoch is not pruned: the trial has
    # trained in full, and pruned it ranked after every completed trial (a probe saw 0.41 ranked below 0.12).
    oracle, _ = make_oracle(tmp_path, max_trials=5, pruner=tuning.MedianPruner(warmup_epochs=0, min_trials=1))
    defaults = oracle.create_trial("tuner0")  # an initial point: never pruned
    assert report(oracle, defaults, 0, 1.0).status == "RUNNING"
    finish(oracle, defaults)
    first = oracle.create_trial("tuner0")
    assert report(oracle, first, 0, 0.9).status == "RUNNING"
    finish(oracle, first)  # completed: the others are 1.0 and 0.9
    worse = oracle.create_trial("tuner0")
    assert report(oracle, worse, 0, 2.0).status == "STOPPED"
    finish(oracle, worse)
    between = oracle.create_trial("tuner0")
    assert report(oracle, between, 0, 0.96).status == "STOPPED"  # above the median 0.95 of 1.0 and 0.9
    finish(oracle, between)
    last = oracle.create_trial("tuner0")
    assert report(oracle, last, 0, 5.0, last=True).status == "RUNNING"
    finish(oracle, last)
    assert set(oracle.keras_lr["pruned"]) == {worse.trial_id, between.trial_id}


def test_a_restarted_worker_runs_its_trial_again_without_the_killed_runs_curves(tmp_path):
    oracle, _ = make_oracle(tmp_path)
    trial = oracle.create_trial("tuner0")
    assert _kerastuner.marked(trial, _kerastuner.RUN) == 1
    report(oracle, trial, 0, 1.0, run=1)
    assert _kerastuner.curve(trial, "loss") == {0: 1.0}
    again = oracle.create_trial("tuner0")  # the worker was killed and started again with its id
    assert again is trial and _kerastuner.curve(trial, "loss") == {}
    assert _kerastuner.marked(again, _kerastuner.RUN) == 1  # the same run: its reports still count
    report(oracle, again, 0, 0.8, run=1)
    finish(oracle, again)
    assert _kerastuner.curve(trial, "loss") == {0: 0.8} and oracle.end_order == [trial.trial_id]


def test_a_silent_workers_trial_goes_to_the_next_worker_once_then_fails(tmp_path):
    oracle, clock = make_oracle(tmp_path, max_trials=3, trial_timeout=10.0)
    lost = oracle.create_trial("tuner0")
    report(oracle, lost, 0, 2.0, run=1)
    other = oracle.create_trial("tuner1")
    clock.now = 8.0
    finish(oracle, other)
    assert oracle.create_trial("tuner1").trial_id not in (lost.trial_id, other.trial_id)
    clock.now = 10.5  # tuner0 last heard at 0: silent for longer than trial_timeout
    third = oracle.ongoing_trials["tuner1"]
    finish(oracle, third)
    taken = oracle.create_trial("tuner1")
    assert taken is lost and taken.status == "RUNNING" and _kerastuner.marked(taken, _kerastuner.RUN) == 2
    assert "tuner0" not in oracle.tuner_ids and _kerastuner.curve(taken, "loss") == {}
    # tuner0 comes back: its reports and its end are not recorded, and it is told to stop.
    answer = report(oracle, lost, 1, 9.0, run=1)
    assert answer.status == "STOPPED" and _kerastuner.marked(answer, _kerastuner.SUPERSEDED) == 1
    assert _kerastuner.curve(taken, "loss") == {}
    stale = keras_tuner.engine.trial.Trial(lost.hyperparameters.copy(), trial_id=lost.trial_id, status="COMPLETED")
    _kerastuner.mark(stale, _kerastuner.RUN, 1)
    oracle.end_trial(stale)
    assert taken.status == "RUNNING" and oracle.ongoing_trials["tuner1"] is taken
    # Silent again (tuner1 gone too): the next worker to ask finds it failed, and the search over.
    clock.now = 30.0
    waiting = oracle.create_trial("tuner2")
    assert taken.status == "FAILED" and "the second time" in taken.message
    assert waiting.status == "STOPPED" and oracle.search_over()
    assert oracle.keras_lr["taken_back"] == {lost.trial_id: 2}


def test_a_heartbeat_keeps_a_trial_longer_than_trial_timeout_and_hears_when_it_was_taken(tmp_path):
    oracle, clock = make_oracle(tmp_path, max_trials=3, trial_timeout=10.0)
    trial = oracle.create_trial("tuner0")
    heartbeat = _kerastuner.Heartbeat(oracle, trial, period=0.02)
    try:
        clock.now = 100.0  # a long epoch: nothing but heartbeats from tuner0
        deadline = time.monotonic() + 10
        while oracle._trial_seen[trial.trial_id] < 100.0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert oracle.create_trial("tuner1").trial_id != trial.trial_id and oracle.ongoing_trials["tuner0"] is trial
        heartbeat.stop()  # first: a beat after the next line would undo it
        oracle._trial_seen[trial.trial_id] = 0.0  # as if tuner0 had been cut off since the start
        finish(oracle, oracle.ongoing_trials["tuner1"])
        assert oracle.create_trial("tuner1") is trial  # taken back
        heartbeat = _kerastuner.Heartbeat(oracle, trial_for("tuner0", trial), period=0.02)  # tuner0 comes back
        while not heartbeat.superseded and time.monotonic() < deadline:
            time.sleep(0.01)
        assert heartbeat.superseded
    finally:
        heartbeat.stop()


def trial_for(tuner_id, trial, run=1):
    """The trial as the worker ``tuner_id`` holds it: its own copy, with the run number it was handed."""
    copy = keras_tuner.engine.trial.Trial(trial.hyperparameters.copy(), trial_id=trial.trial_id)
    _kerastuner.mark(copy, _kerastuner.RUN, run)
    return copy


def test_with_trial_timeout_a_worker_out_of_trials_waits_while_others_run(tmp_path):
    oracle, clock = make_oracle(tmp_path, max_trials=2, trial_timeout=10.0)
    first, second = oracle.create_trial("tuner0"), oracle.create_trial("tuner1")
    finish(oracle, second)
    assert oracle.create_trial("tuner1").status == "IDLE"  # first may still need a hand
    assert not oracle.search_over()
    clock.now = 5.0
    finish(oracle, first)
    assert oracle.create_trial("tuner0").status == "STOPPED" and not oracle.search_over()
    assert oracle.create_trial("tuner1").status == "STOPPED" and oracle.search_over()


def test_without_trial_timeout_a_lost_workers_trial_stays_running_and_the_chief_waits(tmp_path):
    oracle, clock = make_oracle(tmp_path, max_trials=3)
    lost = oracle.create_trial("tuner0")
    for _ in range(2):
        finish(oracle, oracle.create_trial("tuner1"))
    assert oracle.create_trial("tuner1").status == "STOPPED"  # KerasTuner's: max_trials were handed out
    clock.now = 1e6
    oracle.look_after_workers()
    assert lost.status == "RUNNING" and not oracle.search_over()  # KerasTuner's chief would wait forever
    assert oracle.create_trial("tuner0") is lost  # until a worker with the lost one's id asks


def test_the_range_test_runs_on_the_first_trial_while_the_others_wait(tmp_path):
    oracle, clock = make_oracle(tmp_path, max_trials=4)
    oracle.expect_range_test("learning_rate", {"values": {"lr_schedule": "one_cycle"}, "rate_from": "one_cycle_max_lr"})
    first = oracle.create_trial("tuner0")
    assert _kerastuner.marked(first, _kerastuner.RANGE_TEST) == 1 and first.hyperparameters["learning_rate"] == 1e-3
    assert oracle.create_trial("tuner1").status == "IDLE"
    result = {"low": 0.01, "high": 0.3, "one_cycle_max_lr": 0.1, "suggestion": 0.02}
    oracle.update_trial(first.trial_id, {_kerastuner.RANGE_TEST_RESULT + k: v for k, v in result.items()}
                        | {_kerastuner.RUN: 1})
    assert not first.metrics.exists(_kerastuner.RANGE_TEST)  # a rerun of the trial does not repeat it
    second = oracle.create_trial("tuner1")
    assert second.hyperparameters.values == {"learning_rate": 0.1, "lr_schedule": "one_cycle"}
    assert oracle.keras_lr["finder_bounds"]["source"] == f"the range test on trial {first.trial_id}'s model"
    rate = next(hp for hp in oracle.hyperparameters.space if hp.name == "learning_rate")
    assert (rate.min_value, rate.max_value) == (0.01, 0.3)


def test_the_others_stop_waiting_for_a_range_test_whose_worker_fell_silent(tmp_path):
    oracle, clock = make_oracle(tmp_path, max_trials=4)
    oracle.expect_range_test("learning_rate", None)
    oracle.create_trial("tuner0")
    assert oracle.create_trial("tuner1").status == "IDLE"
    clock.now = _kerastuner.RANGE_TEST_SILENCE + 1
    assert oracle.create_trial("tuner1").status == "RUNNING"


def test_a_worker_gives_up_on_a_chief_that_does_not_answer(monkeypatch):
    port = local.free_port()
    for name, value in local.environment("tuner0", "127.0.0.1", port).items():
        monkeypatch.setenv(name, value)
    from keras_tuner.src.distribute import oracle_client

    tuner = type("Tuner", (), {})()
    tuner.oracle = oracle_client.OracleClient(None)
    _kerastuner.bound_client(tuner, 1.0)
    began = time.monotonic()
    with pytest.raises(keras_tuner.errors.FatalError, match=f"chief at 127.0.0.1:{port} did not answer CreateTrial "
                                                              r"within chief_timeout=1 s"):
        tuner.oracle.create_trial("tuner0")
    assert time.monotonic() - began < 10


def test_a_worker_makes_a_search_with_initial_points(tmp_path, monkeypatch):
    # The points were checked against tuner.oracle's space, and a worker's oracle is KerasTuner's
    # OracleClient, which has none: every worker of a search with initial_points stopped with AttributeError.
    from keras_tuner.src.distribute import oracle_client
    from tests.tuning.helpers import build_digits

    for name, value in local.environment("tuner1", "127.0.0.1", local.free_port()).items():
        monkeypatch.setenv(name, value)

    def search(points):
        return tuning.RandomSearch(tuning.LRHyperModel(build_digits), objective="val_loss", max_trials=3,
                                   directory=str(tmp_path), initial_points=points)

    first = search([{"learning_rate": 0.01}])
    assert isinstance(first.oracle, oracle_client.OracleClient)
    with pytest.raises(ValueError, match=r"initial_points\[0\]: learning_rate must be in"):
        search([{"learning_rate": 100.0}])
    # Restarted with its id, a worker reloads its tuner, and the oracle it built declares nothing: the points
    # were refused as "not in the search space (it has: )". The chief checks them.
    first.save()
    assert isinstance(search([{"learning_rate": 0.01}]).oracle, oracle_client.OracleClient)


@pytest.mark.parametrize("argument, value", [("trial_timeout", 0), ("trial_timeout", "5"), ("chief_timeout", -1),
                                             ("chief_timeout", None)])
def test_the_timeouts_are_checked(argument, value, tmp_path):
    from tests.tuning.helpers import build_digits

    with pytest.raises(ValueError, match=f"RandomSearch: {argument} must be"):
        tuning.RandomSearch(tuning.LRHyperModel(build_digits), objective="val_loss", max_trials=1,
                            directory=str(tmp_path), **{argument: value})


# Real searches: a chief and two workers, as processes.


def search_command(directory, *options):
    return [sys.executable, str(SCRIPT), str(directory), *options]


def results(directory):
    with open(directory / "results.json") as handle:
        return json.load(handle)


def every_trial_once(record, trials):
    frame = record["results"]
    ids = [row["trial_id"] for row in frame]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == trials
    assert sorted(record["end_order"]) == sorted(ids), "a trial ended twice or never"
    return {row["trial_id"]: row for row in frame}


def reports(record, trial_id):
    """{epoch (from 1): how many losses the chief holds for it}."""
    return {int(step) + 1: count for step, count in record["reports"].get(trial_id, {}).items()}


@SEARCH_PROCESSES
def test_a_chief_and_two_workers_run_every_trial_once(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    run = tuning.run_local(SCRIPT, workers=2, script_args=[str(tmp_path), "--finder", "--prune-all", "--trials", "6"],
                           timeout=240, verbose=0)
    assert run.status == 0, run.reason
    assert run.exit_codes == {"chief": 0, "tuner0": 0, "tuner1": 0}
    logs = tmp_path / "search" / "logs"
    assert run.logs == {name: str(logs / f"{name}.log") for name in ("chief", "tuner0", "tuner1")}
    record = results(tmp_path)
    rows = every_trial_once(record, 6)
    assert all(row["status"] in ("completed", "pruned") for row in rows.values())
    first, second = record["start_order"][:2]
    assert rows[first]["defaults"] and sum(row["defaults"] for row in rows.values()) == 1
    assert rows[first]["learning_rate"] == 0.001 and rows[first]["lr_schedule"] == "constant"
    # The range test ran once, on the first trial's worker; the trials after it use its bounds,
    # and the second runs its recommendation.
    outputs = "".join((logs / f"{name}.log").read_text() for name in ("tuner0", "tuner1"))
    assert outputs.count("LRHyperModel: learning rate searched in") == 1
    bounds = record["attrs"]["finder_bounds"]
    assert bounds["source"] == f"the range test on trial {first}'s model"
    recommendation = record["keras_lr"]["recommendation"]
    assert recommendation["lr_schedule"] == rows[second]["lr_schedule"] == "one_cycle"
    assert recommendation["learning_rate"] == pytest.approx(rows[second]["learning_rate"], rel=1e-12)
    later = [rows[t]["learning_rate"] for t in record["start_order"][1:]]
    assert all(bounds["min_value"] <= rate <= bounds["max_value"] for rate in later)
    # Curves came through update_trial; pruning's answer went back to the workers.
    for trial_id, row in rows.items():
        initial = trial_id in (first, second)
        assert reports(record, trial_id) == ({1: 1, 2: 1} if initial else {1: 1})
        assert row["status"] == ("completed" if initial else "pruned")


@SEARCH_PROCESSES
def test_a_worker_killed_mid_trial_and_started_again_with_its_id_loses_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    run = tuning.run_local(SCRIPT, workers=2, restarts=1, timeout=240, verbose=0,
                           script_args=[str(tmp_path), "--model", "regression", "--trials", "6", "--epochs", "3",
                                        "--kill", "tuner1:2"])
    assert run.status == 0, run.reason
    assert run.restarts == {"tuner0": 0, "tuner1": 1}
    killed = (tmp_path / "killed").read_text()  # the trial whose first epoch the chief had
    record = results(tmp_path)
    rows = every_trial_once(record, 6)
    assert killed in rows
    # What the chief wrote stayed: a worker never clears the search's folder (the script says overwrite=True).
    saved = {path.parent.name: json.loads(path.read_text())["status"] for path in (tmp_path / "search").glob("trial_*/trial.json")}
    assert saved == {f"trial_{trial_id}": "COMPLETED" for trial_id in rows}
    log = (tmp_path / "search" / "logs" / "tuner1.log").read_text()
    assert log.count("=== keras_lr tune-local: tuner1 started") == 2
    assert record["keras_lr"]["runs"] == {trial_id: 1 for trial_id in rows}  # the same run, started over
    for trial_id, row in rows.items():
        assert row["status"] in ("completed", "diverged")
        expected = 3 if row["status"] == "completed" else row["epochs"]
        assert reports(record, trial_id) == {e: 1 for e in range(1, expected + 1)}, trial_id
    # Non-finite handling held across the workers: SGD above a rate of ~2.5 diverges.
    diverged = [row for row in rows.values() if row["status"] == "diverged"]
    assert diverged and all(row["learning_rate"] > 2.0 for row in diverged)
    assert all(math.isfinite(row["score"]) and row["score"] > max(r["score"] for r in rows.values()
                                                                  if r["status"] == "completed")
               for row in diverged)


@SEARCH_PROCESSES
def test_a_worker_lost_for_good_hands_its_trial_over_after_trial_timeout(tmp_path):
    port = local.free_port()
    options = ["--trials", "5", "--epochs", "2", "--kill", "tuner1:1", "--trial-timeout", "4"]
    base = dict(os.environ, PYTHONPATH=str(ROOT))
    processes = {}
    try:
        processes["chief"] = local.Process("chief", search_command(tmp_path, *options),
                                           local.environment("chief", "127.0.0.1", port, base),
                                           str(tmp_path / "chief.log"))
        deadline = time.monotonic() + 120
        while not local.serving("127.0.0.1", port):
            assert processes["chief"].poll() is None and time.monotonic() < deadline, processes["chief"].tail()
            time.sleep(0.2)
        for name in ("tuner0", "tuner1"):
            processes[name] = local.Process(name, search_command(tmp_path, *options),
                                            local.environment(name, "127.0.0.1", port, base),
                                            str(tmp_path / f"{name}.log"))
        for name in ("tuner1", "tuner0", "chief"):  # the chief exits by itself once tuner0 is done
            processes[name].popen.wait(timeout=max(1.0, deadline + 120 - time.monotonic()))
        assert processes["tuner1"].poll() == -signal.SIGKILL
        assert processes["tuner0"].poll() == 0 and processes["chief"].poll() == 0, processes["chief"].tail()
    finally:
        for process in processes.values():
            process.stop(grace=2.0)
    record = results(tmp_path)
    rows = every_trial_once(record, 5)
    assert all(row["status"] == "completed" for row in rows.values())
    taken = record["keras_lr"]["taken_back"]
    assert len(taken) == 1 and list(taken.values()) == [1]
    trial_id = next(iter(taken))
    assert record["keras_lr"]["runs"][trial_id] == 2 and reports(record, trial_id) == {1: 1, 2: 1}
    assert f"keras_lr: trial {trial_id}: its worker tuner1 sent nothing for 4 s" in (tmp_path / "chief.log").read_text()


# run_local's own handling of processes (scripts that import nothing of Keras).


FAKE = textwrap.dedent("""
    import os, socket, sys, time
    role = os.environ["KERASTUNER_TUNER_ID"]
    print("started", role, flush=True)
    mode = sys.argv[1]
    if role == "chief":
        if mode == "chief_fails":
            sys.exit("the chief's script is broken")
        if mode == "never_serves":
            time.sleep(60)
        server = socket.socket()
        server.bind(("127.0.0.1", int(os.environ["KERASTUNER_ORACLE_PORT"])))
        server.listen()
        time.sleep(60)
    elif role == "tuner1":
        time.sleep(0.5)
        sys.exit(3)
    else:
        time.sleep(60)
""")


@pytest.mark.parametrize("mode, reason", [
    ("worker_fails", "tuner1 exited with status 3"),
    ("chief_fails", "chief exited with status 1 before it served on 127.0.0.1:"),
    ("never_serves", "the chief did not serve on 127.0.0.1:.* within start_timeout=2 s"),
])
def test_run_local_stops_every_process_when_the_search_fails(mode, reason, tmp_path, capsys):
    script = tmp_path / "fake.py"
    script.write_text(FAKE)
    began = time.monotonic()
    run = tuning.run_local(script, workers=2, script_args=[mode], logs=tmp_path / "logs", start_timeout=2,
                           timeout=60)
    assert run.status == 1 and __import__("re").search(reason, run.reason), run.reason
    assert time.monotonic() - began < 30
    assert all(code is not None for code in run.exit_codes.values())  # every process ended
    chief_log = (tmp_path / "logs" / "chief.log").read_text()
    assert "started chief" in chief_log
    err = capsys.readouterr().err
    assert "keras-lr tune-local: the search failed" in err
    if mode == "worker_fails":
        assert run.exit_codes["tuner0"] == -signal.SIGTERM and "started tuner1" in err  # its last lines shown
    if mode == "chief_fails":
        assert "the chief's script is broken" in chief_log


def test_run_local_checks_its_arguments(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("")
    cases = [(dict(script=tmp_path / "missing.py"), "script must be a Python file"),
             (dict(workers=0), "workers must be an integer >= 1"),
             (dict(port=70000), r"port must be in \[1, 65535\]"),
             (dict(restarts=-1), "restarts must be an integer >= 0"),
             (dict(timeout=0), "timeout must be > 0"),
             (dict(script_args="--epochs 3"), "script_args must be a sequence of strings"),
             (dict(logs=3), "logs must be None or a folder's path"),
             (dict(logs=script / "logs"), "logs must be a folder it can write in")]
    for kwargs, message in cases:
        kwargs = {"script": script, **kwargs}
        with pytest.raises(ValueError, match=f"run_local: {message}"):
            tuning.run_local(**kwargs)


def test_no_process_outlives_run_local(tmp_path):
    """A worker's own child process (in its group) is stopped with it."""
    script = tmp_path / "spawner.py"
    script.write_text(textwrap.dedent(f"""
        import os, subprocess, sys, time
        role = os.environ["KERASTUNER_TUNER_ID"]
        if role == "chief":
            import socket
            server = socket.socket()
            server.bind(("127.0.0.1", int(os.environ["KERASTUNER_ORACLE_PORT"])))
            server.listen()
            time.sleep(60)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open(os.path.join({str(tmp_path)!r}, role + ".pid"), "w").write(str(child.pid))
        if role == "tuner0":
            time.sleep(1)
            sys.exit(5)
        time.sleep(60)
    """))
    run = tuning.run_local(script, workers=2, logs=tmp_path / "logs", timeout=60, verbose=0)
    assert run.status == 1 and "tuner0 exited with status 5" in run.reason
    for role in ("tuner0", "tuner1"):
        pid = int((tmp_path / f"{role}.pid").read_text())
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), f"{role}'s child {pid} outlived run_local"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        status = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout
    except OSError:
        return True
    return bool(status.strip()) and not status.strip().startswith("Z")


def test_a_tuner_is_not_handed_a_trial_that_ended(tmp_path):
    """KerasTuner's end_trial saves the oracle before it lets the trial go: a reloaded one may still hold it."""
    oracle, _ = make_oracle(tmp_path, max_trials=3)
    trial = oracle.create_trial("tuner0")
    finish(oracle, trial)
    oracle.ongoing_trials["tuner0"] = trial  # as oracle.json says after the chief stopped at the wrong moment
    again = oracle.create_trial("tuner0")
    assert again is not trial and again.status == "RUNNING" and oracle.end_order == [trial.trial_id]
