"""Smoke-runs every benchmark (CI's `make bench-smoke`): in two processes side by side, three scripts each.

Each script runs as `python benchmarks/NAME.py --smoke` would (its own globals, as `__main__`), after
`keras.backend.clear_session()`, one after another in its process. Three in a process rather than a process
each: importing TensorFlow, Keras and KerasTuner took about 17 s of each script's smoke run on a 2-core CI
machine (measured once, beside another run). Two processes rather than one: a smoke run's tiny models keep
about one core busy, so the two halves side by side took 112 s where the six in one process took 180 s
(2 cores, one run each). Each half's output is printed when it ends; a script that fails stops its half with
its error, and the run fails.

    python benchmarks/smoke.py              # every benchmark, in two halves side by side
    python benchmarks/smoke.py overhead     # the ones named, in this one process
"""

import os
import runpy
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ["overhead", "adaptive", "finder_quality", "fitted_curves", "tuning", "distributed"]
# About 90 s and 80 s of smoke runs (finder_quality's is the longest, 50-60 s).
HALVES = [["finder_quality", "fitted_curves", "adaptive"], ["overhead", "tuning", "distributed"]]


def run_halves():
    """Runs each half in a process of its own, side by side; prints each one's output; the worst exit status."""
    started = time.perf_counter()
    runs = []
    for half in HALVES:
        output = tempfile.TemporaryFile()
        runs.append((half, output, subprocess.Popen([sys.executable, __file__, *half], stdout=output,
                                                     stderr=subprocess.STDOUT)))
    failed = []
    for half, output, process in runs:
        code = process.wait()
        output.seek(0)
        sys.stdout.write(output.read().decode(errors="replace"))
        sys.stdout.flush()
        output.close()
        if code:
            failed.append(f"{', '.join(half)} (exit status {code})")
    print(f"\n===== every --smoke, two halves side by side: {time.perf_counter() - started:.0f} s", flush=True)
    if failed:
        sys.exit(f"smoke.py: failed: {'; '.join(failed)}")


def main():
    names = sys.argv[1:]
    unknown = sorted(set(names) - set(SCRIPTS))
    if unknown:
        sys.exit(f"smoke.py: unknown benchmarks {unknown}; choose from {SCRIPTS}")
    if not names:
        run_halves()
        return
    import keras

    for name in names:
        path = os.path.join(HERE, f"{name}.py")
        print(f"\n===== {name}.py --smoke =====", flush=True)
        started = time.perf_counter()
        keras.backend.clear_session()
        sys.argv = [path, "--smoke"]
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as done:  # sys.exit(0) is a script ending well; anything else ends the run
            if done.code not in (0, None):
                raise
        print(f"===== {name}.py --smoke: {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
