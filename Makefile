# aekit: `make demo` sets up and runs the main job, `make test` sets up and runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: setup demo test test-slow lint clean

setup: $(VENV)/.installed

# torch is pinned first: an unpinned torch requirement would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev]"
	touch $@

# Trains the default model on the default data (MNIST when $$AEKIT_DATA holds it, else
# scikit-learn's 8x8 digits), evaluates it against PCA and writes runs/demo/report.html.
demo: setup
	$(VENV)/bin/aekit train --preset deep --latent 16 --out runs/demo --overwrite

test: setup
	$(PY) -m pytest

test-slow: setup
	$(PY) -m pytest -m slow

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
