"""Smoke-runs every benchmark, one after another in this one process (CI's `make bench-smoke`).

Each script runs as `python benchmarks/NAME.py --smoke` would (its own globals, as `__main__`), after
`keras.backend.clear_session()`. One process rather than six: importing TensorFlow, Keras and KerasTuner took
about 17 s of each script's smoke run on a 2-core CI machine (measured once, beside another run). A script that
fails stops the run with its error.

    python benchmarks/smoke.py              # every benchmark
    python benchmarks/smoke.py overhead     # the ones named
"""

import os
import runpy
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ["overhead", "adaptive", "finder_quality", "fitted_curves", "tuning", "distributed"]


def main():
    names = sys.argv[1:] or SCRIPTS
    unknown = sorted(set(names) - set(SCRIPTS))
    if unknown:
        sys.exit(f"smoke.py: unknown benchmarks {unknown}; choose from {SCRIPTS}")
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
