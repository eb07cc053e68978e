# Two commands do all set-up on a fresh machine (see README):
#   make repro   environment (created if absent) + the whole pipeline on the embedded default
#   make test    environment (created if absent) + the test suite
# The environment is a virtualenv in .venv, installed from requirements.lock (every package pinned).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1
export MPLBACKEND := Agg
# Stage commands in dvc.yaml say `python`: make it the environment's.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: env repro test lint preset clean-env

env: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

repro: env
	$(VENV)/bin/dvc repro
	$(PY) -m analysis.readme

test: env
	$(PY) -m pytest -q -n auto --maxschedchunk 1

lint: env
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# make preset P=tiny  -> writes params.yaml = committed defaults merged with presets/tiny.yaml
preset: env
	$(PY) -m bench.preset $(P)

clean-env:
	rm -rf $(VENV)
