# `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export KERAS_BACKEND ?= tensorflow
export MPLBACKEND ?= Agg
# TensorFlow's C++ warnings off in the tests; the demo's command sets its own level (3: its CUDA probe's
# "failed call to cuInit" line, an error, showed at 2 on a machine without a GPU).
test notebooks bench-smoke: export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test notebooks install install-test bench-smoke clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

$(VENV)/.installed: $(VENV)/bin/activate setup.cfg pyproject.toml
	$(PY) -m pip install -e '.[demo]'
	touch $@

$(VENV)/.installed-test: $(VENV)/bin/activate setup.cfg pyproject.toml
	$(PY) -m pip install -e '.[test]'
	touch $(VENV)/.installed $@

# The oldest releases setup.cfg admits, in a venv of their own, with keras_lr from this checkout;
# on the oldest Python it admits where pyenv has one (3.10), else on $(PYTHON).
OLDEST_VENV := .venv-oldest
OLDEST := keras==3.3.3 tensorflow==2.16.2 keras-tuner==1.4.7 pandas==2.0.3 'numpy<2'
OLDEST_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10.*/bin/python3.10) $(PYTHON))
$(OLDEST_VENV)/.installed: setup.cfg pyproject.toml
	$(OLDEST_PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --upgrade pip
	$(OLDEST_VENV)/bin/python -m pip install -e . $(OLDEST) pytest pytest-xdist hypothesis scikit-learn
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(VENV)/bin/keras-lr demo

# Every test, doctest and notebook under TensorFlow; the tests again under JAX and under
# PyTorch, each backend in its own run (the notebooks and the command run on TensorFlow; a
# search's bookkeeping, the same on every backend, on PyTorch, where it is cheapest:
# tests/backends.py); then the TensorFlow tests and doctests on the oldest releases setup.cfg
# admits, less that bookkeeping (KerasTuner 1.4.7's code is 1.4.8's), the examples of the README and docs/
# and the data-parallel tests (the API they use is tested there on its own; left out to shorten CI,
# which is still over 25 minutes on 2 cores: run alone there, they took 50 s with two workers).
# TEST_WORKERS pytest-xdist processes share each run: one process keeps about one core busy
# (the tiny models), so on 2 cores two workers took 0.63-0.81x the time of one under TensorFlow,
# 0.66-0.73x under JAX and about 1x under PyTorch, whose every process uses both cores: with two
# or more workers each gets one thread (OMP_NUM_THREADS=1): test_search.py and test_engine.py under
# PyTorch took 95 s and 98 s so, 154 s and 154 s with its threads (alternately, 2 workers on 2 cores).
# TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
TORCH_THREADS := $(if $(filter-out 0 1,$(TEST_WORKERS)),OMP_NUM_THREADS=1)
test: $(VENV)/.installed-test $(OLDEST_VENV)/.installed
	KERAS_BACKEND=tensorflow $(PY) -m pytest -n $(TEST_WORKERS)
	KERAS_BACKEND=jax $(PY) -m pytest -n $(TEST_WORKERS) tests --ignore=tests/test_notebooks.py --ignore=tests/test_cli.py
	KERAS_BACKEND=torch $(TORCH_THREADS) $(PY) -m pytest -n $(TEST_WORKERS) tests --ignore=tests/test_notebooks.py --ignore=tests/test_cli.py
	KERAS_BACKEND=tensorflow $(OLDEST_VENV)/bin/python -m pytest -n $(TEST_WORKERS) tests keras_lr --ignore=tests/test_notebooks.py --ignore=tests/test_cli.py \
		--ignore=tests/test_docs.py --ignore=tests/distributed -m "not search_bookkeeping"

# Stamps each notebook's Colab badge and install cell (from setup.cfg's url), runs it in place so
# it is committed with its outputs, and saves the README's figures under docs/.
notebooks: $(VENV)/.installed-test
	$(PY) notebooks/build.py --execute

# Every benchmark's --smoke (benchmarks/smoke.py), in two processes side by side, three scripts each: a process
# of its own each took 186 s and 200 s where one for all six took 131 s and 144 s (2 cores, alternately: importing
# TensorFlow five more times); one for all six keeps one core busy, and two halves took 112 s against its 180 s.
bench-smoke: $(VENV)/.installed-test
	$(PY) benchmarks/smoke.py

clean:
	rm -rf $(VENV) $(OLDEST_VENV) build *.egg-info .pytest_cache
