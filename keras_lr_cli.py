"""The `keras-lr` command: its options, and one clear line for every mistake.

Kept apart from the `keras_lr` package, which imports Keras and its backend:
`keras-lr --help` and `--version` answer at once, and a bad option or file is
reported before any of that loads. The work is in `keras_lr.cli`.
"""

import argparse
import contextlib
import difflib
import math
import os
import signal
import socket
import sys
import warnings

DESCRIPTION = "keras_lr: learning-rate schedules, the range test and tuning for Keras 3."

DEMO = """\
On scikit-learn's digits (shipped inside scikit-learn, never downloaded), or on
your own table with --csv: the learning-rate range test; OneCycle at the rate it
recommends, next to Keras's default Adam(0.001); a short KerasTuner search of the
rate and its schedule whose first trial is that default and whose second is the
range test's recommendation (a reliable test also narrows the rate's bounds).
Prints a summary and writes a report folder (--out): the plots (PNG), the
range-test curve, the per-step schedule and the trials (CSV), and summary.md
linking them."""


TUNE_LOCAL = """\
Runs SCRIPT, a KerasTuner search script, as one chief and --workers workers on
this machine, in KerasTuner's chief/worker mode over 127.0.0.1: the same file in
every process, each told its part by KERASTUNER_TUNER_ID (chief, tuner0, tuner1,
...), KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT, as it would be on several
machines. Each process's output goes to a log file (chief.log, tuner0.log, ...)
in the search's folder, <directory>/<project_name>/logs/ with keras_lr's tuners,
or in --logs. Arguments after -- go to the script. The chief is waited for
until it serves; when it exits, the workers must have finished; a worker that
fails is started again with its KERASTUNER_TUNER_ID while --restarts remain, and
then every process is stopped. Exit status: 0 when the search finished, 1 when it
failed, 2 for a mistake in the command line."""


# The file keras-lr writes into every report folder (keras_lr.cli.REPORT_MARKER): a folder holding it is a
# keras-lr report, whose own files the next run into it replaces; a folder holding other files is refused.
REPORT_MARKER = ".keras-lr-report"


class UsageError(Exception):
    """A mistake in the command line or the input: one line, exit status 2."""


def _positive_int(name, low, high=None):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer; received {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{name} must be >= {low}; received {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{name} must be <= {high}; received {value}")
        return value

    return parse


def _positive_number(name, what="a number"):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be {what}; received {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number; received {text!r}")
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{name} must be > 0; received {value:g}")
        return value

    return parse


def _port(text):
    return _positive_int("--port", 1, 65535)(text)


def _version():
    try:
        from importlib.metadata import version

        return version("keras-lr")
    except Exception:  # noqa: BLE001 - not installed: a source checkout
        return "unknown (not installed)"


def parser():
    main = argparse.ArgumentParser(prog="keras-lr", description=DESCRIPTION)
    main.add_argument("--version", action="version", version=f"keras-lr {_version()}")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="the range test, OneCycle against Adam(0.001) and a short search, with a report",
        description=DEMO, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = demo.add_argument_group("data (default: scikit-learn's digits)")
    data.add_argument("--csv", metavar="FILE", help="a table of your own, one row per example")
    data.add_argument("--target", metavar="COLUMN", help="the column to predict (required with --csv)")
    data.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                      help="what the target is; auto: classification for text, true/false or up to 20 "
                           "distinct whole numbers within a span of 40 (labels 0-9, ratings 1-5), else "
                           "regression; the terminal and summary.md say which and why (default: auto)")
    run = demo.add_argument_group("run")
    run.add_argument("--epochs", type=_positive_int("--epochs", 1), default=3,
                     help="epochs of each training run and trial (default: 3)")
    run.add_argument("--trials", type=_positive_int("--trials", 0), default=6,
                     help="trials of the KerasTuner search, 0 to skip it (default: 6)")
    run.add_argument("--max-lr", type=_positive_number("--max-lr"), default=None,
                     help="OneCycle's peak instead of the range test's recommendation")
    run.add_argument("--seed", type=_positive_int("--seed", 0, 2**32 - 1), default=0,
                     help="random seed, 0 to 4294967295 (default: 0)")
    output = demo.add_argument_group("output")
    output.add_argument("--out", metavar="DIR", default="keras_lr_report",
                        help="the report folder: new, empty, or an earlier report, whose files are replaced; a folder "
                             "holding other files is refused (default: ./keras_lr_report)")
    output.add_argument("--quiet", action="store_true", help="print nothing but warnings and errors")
    local = commands.add_parser(
        "tune-local", help="run a search script as a chief and N workers on this machine (KerasTuner's chief/worker mode)",
        description=TUNE_LOCAL, formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="keras-lr tune-local SCRIPT [--workers N] [options] [-- SCRIPT_ARGS ...]",
    )
    local.add_argument("script", metavar="SCRIPT",
                       help="the search script (a Python file that calls tuner.search); arguments for it go "
                            "after -- (e.g. -- --epochs 3)")
    local.add_argument("--workers", type=_positive_int("--workers", 1), default=2,
                       help="worker processes, tuner0, tuner1, ... (default: 2)")
    local.add_argument("--logs", metavar="DIR", default=None,
                       help="folder for the logs (default: the search's folder's logs/ with keras_lr's tuners, "
                            "else ./keras_lr_logs)")
    local.add_argument("--port", type=_port, default=None, help="the chief's port on 127.0.0.1 (default: a free one)")
    local.add_argument("--restarts", type=_positive_int("--restarts", 0), default=0,
                       help="times a failed worker is started again with its KERASTUNER_TUNER_ID; it runs its "
                            "unfinished trial again (default: 0)")
    local.add_argument("--start-timeout", type=_positive_number("--start-timeout", "a number of seconds"), default=300.0, metavar="SECONDS",
                       help="how long the chief may take to start serving (default: 300)")
    local.add_argument("--timeout", type=_positive_number("--timeout", "a number of seconds"), default=None, metavar="SECONDS",
                       help="how long the whole search may take; then every process is stopped (default: no limit)")
    local.add_argument("--quiet", action="store_true", help="print nothing but warnings and errors")
    main.commands = {"demo": demo, "tune-local": local}
    return main


def _check_files(args):
    """The mistakes that need no data loaded: an unreadable file, a missing target, an unwritable --out."""
    if args.csv is not None:
        if args.target is None:
            raise UsageError("--csv needs --target COLUMN, the column to predict")
        if os.path.isdir(args.csv):
            raise UsageError(f"--csv {args.csv!r} is a folder, not a file")
        if not os.path.isfile(args.csv):
            raise UsageError(f"--csv {args.csv!r}: no such file")
        try:
            with open(args.csv, "rb") as handle:
                handle.read(1)
        except OSError as error:
            raise UsageError(f"--csv {args.csv!r}: cannot be read ({error.strerror or error})") from None
    elif args.target is not None:
        raise UsageError("--target goes with --csv FILE")
    if os.path.isdir(args.out) and not os.path.exists(os.path.join(args.out, REPORT_MARKER)):
        theirs = sorted(os.listdir(args.out))
        if theirs:
            listed = ", ".join(theirs[:3]) + (f" and {len(theirs) - 3} more" if len(theirs) > 3 else "")
            raise UsageError(f"--out {args.out!r} holds files keras-lr did not write ({listed}); choose a new or "
                             "empty folder, or one a keras-lr report is in")
    created = not os.path.exists(args.out)
    try:
        os.makedirs(args.out, exist_ok=True)
        probe = os.path.join(args.out, ".keras_lr_write_test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as error:
        raise UsageError(f"--out {args.out!r}: cannot write there ({error.strerror or error})") from None
    return created


def _remove_if_empty(folder):
    """The --out folder this run created, when nothing was written into it (a mistake found in the table)."""
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def main(argv=None):
    """Runs the command; returns its exit status (2 for a usage or input mistake)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = []
    if "--" in argv:  # tune-local: what follows goes to the script
        argv, rest = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    main_parser = parser()
    args, unknown = main_parser.parse_known_args(argv)
    if unknown and args.command == "tune-local":  # the script's options, typed without the -- before them
        main_parser.commands["tune-local"].error(
            f"unrecognized arguments: {' '.join(unknown)} (arguments for the script go after --: "
            f"keras-lr tune-local SCRIPT -- {' '.join(unknown)})")
    if unknown:  # the command's usage, not keras-lr's, and the option a mistyped one was likely meant to be
        command = main_parser.commands[args.command]
        options = [option for action in command._actions for option in action.option_strings]
        meant = difflib.get_close_matches(unknown[0].split("=")[0], options, n=1) if unknown[0].startswith("-") else []
        command.error(f"unrecognized arguments: {' '.join(unknown)}" + (f" (did you mean {meant[0]}?)" if meant else ""))
    if args.command == "tune-local":
        args.script_args = rest
        try:
            return _tune_local(args)
        except KeyboardInterrupt:  # run_local has stopped the chief and the workers
            return _interrupted()
    if rest:
        main_parser.error(f"unrecognized arguments: -- {' '.join(rest)}")
    try:
        created = _check_files(args)
    except UsageError as error:
        return _fail(error)
    try:
        return _demo(args, created)
    except KeyboardInterrupt:
        if created:
            _remove_if_empty(args.out)
        return _interrupted()


def _demo(args, created):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("MPLBACKEND", "Agg")
    with _silent_stderr():  # TensorFlow's C++ start-up lines ignore TF_CPP_MIN_LOG_LEVEL
        from keras_lr import cli  # Keras and its backend load here

    try:
        with warnings.catch_warnings(), cli.interruptible():  # Python's filters, shown in one line
            warnings.showwarning = _show_warning
            cli.run_demo(args)
    except cli.DataError as error:
        if created:
            _remove_if_empty(args.out)
        return _fail(error)
    return 0


def _interrupted():
    print("keras-lr: interrupted", file=sys.stderr)
    return 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as a command says it: one line on stderr, without the file, line and source of Python's."""
    print(f"keras-lr: warning: {message}", file=sys.stderr if file is None else file)


def _tune_local(args):
    """keras-lr tune-local: 0 when the search finished, 1 when it failed, 2 for a mistake in the command line."""
    if os.path.isdir(args.script):
        return _fail(f"SCRIPT {args.script!r} is a folder, not a file")
    if not os.path.isfile(args.script):
        return _fail(f"SCRIPT {args.script!r}: no such file")
    if args.logs is not None:
        try:
            os.makedirs(args.logs, exist_ok=True)
            probe = os.path.join(args.logs, ".keras_lr_write_test")
            with open(probe, "w"):
                pass
            os.remove(probe)
        except OSError as error:
            return _fail(f"--logs {args.logs!r}: cannot write there ({error.strerror or error})")
    if args.port is not None and not _port_free(args.port):
        return _fail(f"--port {args.port}: another program already uses it on 127.0.0.1; choose another, or "
                     "leave --port out for a free one")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _silent_stderr():
        from keras_lr import cli  # Keras and its backend load here

    return cli.run_tune_local(args)


def _port_free(port):
    """Whether the chief can listen on 127.0.0.1:port (nothing else listens there)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds: a closed socket's wait is no use
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _silent_stderr():
    """Sends what native code writes to the standard error (file descriptor 2) to nowhere, for a while."""
    try:
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no file descriptor 2 to redirect (an embedded interpreter)
        yield
        return
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _fail(error):
    print(f"keras-lr: error: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
