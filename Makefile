# Set-up creates .venv in the repository root; every target below uses it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATASET ?= ../shared/data/cifar10_jpeg
WORKDIR ?= runs/cifar_lc_b04
BUDGET ?= 0.4

.PHONY: venv install test lint demo clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"

venv: install

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check .

# The main job: list models, then (once available) train, export and benchmark.
demo: install
	$(BIN)/python -m lcnet_tf.models_table

clean:
	rm -rf $(VENV) build *.egg-info
