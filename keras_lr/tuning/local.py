"""A chief and N workers of one search script on this machine: KerasTuner's chief/worker mode, tried locally.

`run_local(script, workers=2)` (or `keras-lr tune-local script.py --workers 2`)
starts the script once as the chief (`KERASTUNER_TUNER_ID=chief`) and once
per worker (`tuner0`, `tuner1`, ...), all on 127.0.0.1 and a free port, as
a user would on several machines. Each process writes its output to a log
file in the search's folder (`<directory>/<project_name>/logs/`, which the
chief's keras_lr tuner announces), or in `logs=`.

The workers start once the chief serves (within `start_timeout`). The search
has finished when the chief exits normally after every worker did (the chief
exits once every trial has ended and every worker was told so). A worker that
fails is started again with the same `KERASTUNER_TUNER_ID` while `restarts`
remain (it runs its unfinished trial again from the start); after that, or
when the chief fails or `timeout` passes, the search has failed. Every
process (its whole process group) is stopped when `run_local` returns,
however it ends, Ctrl-C included.

POSIX only: each process runs in its own process group, stopped as a whole.
"""

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from keras_lr import _validation as v

# Where the chief's keras_lr tuner writes its project folder (set by run_local).
PROJECT_DIR_FILE = "KERAS_LR_TUNE_LOCAL_PROJECT_DIR"
# Seconds between two looks at the processes.
_POLL = 0.2
# Seconds a process is given to exit after SIGTERM, before SIGKILL.
_TERM_GRACE = 5.0
# Seconds given to the workers after the chief exited.
_WORKERS_GRACE = 60.0


def announce_project_dir(project_dir):
    """Called by the chief's keras_lr tuner: tells `run_local` (if it started this process) the search's folder."""
    path = os.environ.get(PROJECT_DIR_FILE)
    if not path:
        return
    with open(path + ".tmp", "w") as handle:
        handle.write(os.path.abspath(str(project_dir)))
    os.replace(path + ".tmp", path)


@dataclasses.dataclass
class LocalRun:
    """What `run_local` did.

    Attributes:
        status: 0 when the search finished, 1 when it failed.
        reason: One line: how it ended.
        logs: {"chief" | "tuner0" | ...: path of its log}.
        exit_codes: {name: exit status of its last process}; negative: ended
            by that signal (those run_local stopped included).
        restarts: {worker name: times it was started again}.
        seconds: Wall time from the chief's start to the end.
    """

    status: int
    reason: str
    logs: dict
    exit_codes: dict
    restarts: dict
    seconds: float


def run_local(script, workers=2, *, script_args=(), logs=None, port=None, restarts=0, start_timeout=300.0,
              timeout=None, verbose=1):
    """Runs a search script as a chief and ``workers`` workers on this machine (KerasTuner's chief/worker mode).

    The script is an ordinary search (build a tuner, call `tuner.search`);
    the same file runs in every process, as it would on several machines.
    Code after `search` that reads results (`results_frame(tuner)`) must run
    on the chief only (`os.environ["KERASTUNER_TUNER_ID"] == "chief"`).

    Example:

    ```python
    result = keras_lr.tuning.run_local("search.py", workers=2)
    result.status, result.logs["tuner0"]
    ```

    Args:
        script: Path of the Python script.
        workers: Integer >= 1. Worker processes (`tuner0`, `tuner1`, ...).
        script_args: Sequence of strings passed to every process's script.
        logs: Folder for the logs (`chief.log`, `tuner0.log`, ...), or None:
            the search's folder's `logs/` when the script uses keras_lr's
            tuners, else `./keras_lr_logs`. Logs are appended to.
        port: Integer in [1, 65535] or None (a free one). The chief's port on 127.0.0.1.
        restarts: Integer >= 0. Times each worker that fails is started again
            with the same `KERASTUNER_TUNER_ID`.
        start_timeout: Float > 0. Seconds the chief may take to start serving.
        timeout: Float > 0 or None. Seconds the whole search may take; then
            every process is stopped and the search has failed.
        verbose: Integer >= 0. 0 is silent; 1 (or more) prints a line when
            the search starts, for each restart, and when it ends.

    Returns:
        A `LocalRun`: `status` 0 when the search finished, 1 when it failed
        (`reason` says why), the logs' paths and each process's exit status.

    Raises:
        ValueError: for a bad argument.
    """
    owner = "run_local"
    script = str(script)
    if not os.path.isfile(script):
        raise ValueError(f"{owner}: script must be a Python file; received script={script!r} (no such file)")
    workers = v.check_int(owner, "workers", workers, low=1)
    if isinstance(script_args, str) or not all(isinstance(a, str) for a in script_args):
        raise ValueError(f"{owner}: script_args must be a sequence of strings; received script_args={script_args!r}")
    if port is not None:
        port = v.check_int(owner, "port", port, low=1)
        if port > 65535:
            raise ValueError(f"{owner}: port must be in [1, 65535]; received port={port}")
    restarts = v.check_int(owner, "restarts", restarts, low=0)
    start_timeout = v.check_number(owner, "start_timeout", start_timeout, low=0.0, low_open=True)
    if timeout is not None:
        timeout = v.check_number(owner, "timeout", timeout, low=0.0, low_open=True)
    verbose = v.check_verbose(owner, verbose)
    if logs is not None:
        if not isinstance(logs, (str, os.PathLike)):
            raise ValueError(f"{owner}: logs must be None or a folder's path; received logs={logs!r}")
        logs = os.path.abspath(logs)
        try:
            os.makedirs(logs, exist_ok=True)
            probe = os.path.join(logs, ".keras_lr_write_test")
            with open(probe, "w"):
                pass
            os.remove(probe)
        except OSError as error:
            raise ValueError(f"{owner}: logs must be a folder it can write in; received logs={logs!r} "
                             f"({error.strerror or error})") from None
    return _LocalSearch(script, workers, list(script_args), logs, port, restarts, start_timeout, timeout,
                        verbose).run()


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def serving(host, port):
    """Whether something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def environment(tuner_id, host, port, base=None):
    """The environment of one process of KerasTuner's chief/worker mode."""
    env = dict(os.environ if base is None else base)
    env.update(KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=str(port),
               PYTHONUNBUFFERED="1")
    return env


class Process:
    """One process of the search, in its own process group, its output going to a log."""

    def __init__(self, name, command, env, log_path=None):
        self.name = name
        self.log = _Log(log_path)
        self.log.write(f"=== keras_lr tune-local: {name} started {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
        self.popen = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        self.log.follow(self.popen.stdout)

    def poll(self):
        return self.popen.poll()

    def signal(self, number):
        """Sends a signal to the process's whole group (it and anything it started)."""
        try:
            os.killpg(self.popen.pid, number)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace=_TERM_GRACE):
        """SIGTERM to its group, then SIGKILL after ``grace`` seconds; returns its exit status."""
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        self.signal(signal.SIGKILL)  # what it started may outlive it
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()
        return self.popen.poll()

    def tail(self, lines=5):
        return self.log.tail(lines)


class _Log:
    """A process's output: kept in memory until its file is known, then appended there."""

    def __init__(self, path=None):
        self._lock = threading.Lock()
        self._buffer, self._file, self._thread = [], None, None
        self._last = []
        self.path = None
        if path is not None:
            self.open(path)

    def open(self, path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with self._lock:
            self._file = open(path, "ab")
            self.path = path
            for chunk in self._buffer:
                self._file.write(chunk)
            self._file.flush()
            self._buffer = []

    def write(self, chunk):
        with self._lock:
            self._last = (self._last + [chunk])[-50:]
            if self._file is not None:
                self._file.write(chunk)
                self._file.flush()
            else:
                self._buffer.append(chunk)

    def follow(self, stream):
        def copy():
            for line in iter(stream.readline, b""):
                self.write(line)
            stream.close()

        self._thread = threading.Thread(target=copy, name="keras_lr tune-local log", daemon=True)
        self._thread.start()

    def close(self):
        if self._thread is not None:
            self._thread.join(timeout=_TERM_GRACE)
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def tail(self, lines):
        with self._lock:
            text = b"".join(self._last).decode(errors="replace")
        kept = [line for line in text.splitlines() if line.strip() and not line.startswith(("I0000", "W0000", "E0000"))]
        return kept[-lines:]


class _LocalSearch:
    def __init__(self, script, workers, script_args, logs, port, restarts, start_timeout, timeout, verbose):
        self.command = [sys.executable, "-u", script, *script_args]
        self.names = [f"tuner{i}" for i in range(workers)]
        self.logs_dir = logs
        self.host, self.port = "127.0.0.1", port or free_port()
        self.restarts_allowed, self.start_timeout, self.timeout = restarts, start_timeout, timeout
        self.verbose = verbose
        self.processes, self.restarts, self.exit_codes = {}, {name: 0 for name in self.names}, {}

    def say(self, text, error=False):
        if self.verbose or error:
            print(f"keras-lr tune-local: {text}", file=sys.stderr if error else sys.stdout, flush=True)

    def run(self):
        began = time.monotonic()
        handshake = tempfile.NamedTemporaryFile(prefix="keras_lr_tune_local_", delete=False)
        handshake.close()
        os.remove(handshake.name)
        try:
            status, reason = self._search(handshake.name, began)
        except KeyboardInterrupt:
            status, reason = 1, "interrupted"
            raise
        finally:
            for name, process in self.processes.items():
                code = process.stop()
                self.exit_codes.setdefault(name, code)
            for path in (handshake.name, handshake.name + ".tmp"):
                if os.path.exists(path):
                    os.remove(path)
        seconds = time.monotonic() - began
        logs = {name: process.log.path for name, process in self.processes.items()}
        result = LocalRun(status, reason, logs, dict(self.exit_codes), dict(self.restarts), seconds)
        if status == 0:
            self.say(f"{reason} in {seconds:.1f} s")
        else:
            self.say(f"the search failed: {reason}", error=True)
        return result

    def _env(self, name, handshake):
        env = environment(name, self.host, self.port)
        env[PROJECT_DIR_FILE] = handshake
        return env

    def _start(self, name, handshake):
        path = None if self.logs_dir is None else os.path.join(self.logs_dir, f"{name}.log")
        self.processes[name] = Process(name, self.command, self._env(name, handshake), path)
        return self.processes[name]

    def _search(self, handshake, began):
        chief = self._start("chief", handshake)
        while not serving(self.host, self.port):
            if chief.poll() is not None:
                self._place_logs(handshake)
                return 1, self._failed("chief", chief, f"before it served on {self.host}:{self.port}")
            if time.monotonic() - began > self.start_timeout:
                self._place_logs(handshake)
                return 1, f"the chief did not serve on {self.host}:{self.port} within start_timeout={self.start_timeout:g} s"
            time.sleep(_POLL)
        self._place_logs(handshake)
        for name in self.names:
            self._start(name, handshake)
        self.say(f"chief on {self.host}:{self.port}, workers {', '.join(self.names)}; logs in {self.logs_dir}")
        finished = False
        while True:
            if self.timeout is not None and time.monotonic() - began > self.timeout:
                return 1, f"not finished within timeout={self.timeout:g} s"
            for name in self.names:
                code = self.processes[name].poll()
                if code not in (None, 0):
                    if self.restarts[name] < self.restarts_allowed:
                        self.restarts[name] += 1
                        self.processes[name].stop()
                        self.say(f"{name} exited with status {code}; starting it again with the same "
                                 f"KERASTUNER_TUNER_ID ({self.restarts[name]} of {self.restarts_allowed})")
                        self._start(name, handshake)
                        continue
                    return 1, self._failed(name, self.processes[name])
            if chief.poll() is not None:
                return self._after_chief(chief)
            if not finished and all(self.processes[name].poll() == 0 for name in self.names):
                # Each worker was told the search is over; the chief exits once it sees that (KerasTuner's
                # own chief looks every 20 s), after whatever the script does next.
                finished = True
                self.say("every worker finished; waiting for the chief")
            time.sleep(_POLL)

    def _after_chief(self, chief):
        """The chief exited: the workers were told the search is over (or the chief failed)."""
        code = chief.poll()
        deadline = time.monotonic() + (_WORKERS_GRACE if code == 0 else 0.0)
        while time.monotonic() < deadline and any(self.processes[n].poll() is None for n in self.names):
            time.sleep(_POLL)
        if code != 0:
            return 1, self._failed("chief", chief)
        for name in self.names:
            worker_code = self.processes[name].poll()
            if worker_code is None:
                return 1, f"{name} was still running {_WORKERS_GRACE:g} s after the chief exited"
            if worker_code != 0:
                return 1, self._failed(name, self.processes[name])
        return 0, "the search finished"

    def _failed(self, name, process, when=""):
        code = process.poll()
        tail = process.tail()
        where = f"; its log: {process.log.path}" if process.log.path else ""
        text = f"{name} exited with status {code}" + (f" {when}" if when else "") + where
        if tail:
            self.say(f"the last lines of {name}'s output:\n    " + "\n    ".join(tail), error=True)
        return text

    def _place_logs(self, handshake):
        """Decides the logs' folder (the search's, when the chief announced it) and opens the chief's log there."""
        if self.logs_dir is None:
            project = None
            if os.path.exists(handshake):
                with open(handshake) as handle:
                    project = handle.read().strip() or None
            self.logs_dir = os.path.join(project, "logs") if project else os.path.abspath("keras_lr_logs")
        chief = self.processes["chief"]
        if chief.log.path is None:
            chief.log.open(os.path.join(self.logs_dir, "chief.log"))
