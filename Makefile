# `make demo` and `make test` do all the set-up on a fresh machine: create .venv, install, run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@# setuptools' build hooks write kaggle_pipeline.egg-info/ into the checkout (pypa/setuptools#3573, #4198), and no
	@# setting moves it (egg_base must name an existing folder); the editable install never reads it: remove it
	rm -rf kaggle_pipeline.egg-info
	touch $(STAMP)

demo: $(STAMP)  ## House prices on the built-in sample: folds, 10 models, blend, validated submission
	$(PY) -m pipeline run competitions/house_prices --sample

test: $(STAMP)  ## The offline, CPU-only test suite
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)  ## Benchmarks against baselines on the real data in ../shared/data (not part of CI)
	$(PY) benchmarks/house_prices.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache kaggle_pipeline.egg-info
