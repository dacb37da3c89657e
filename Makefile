# Set-up creates .venv in the repository root; every target below uses it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATASET ?= ../shared/data/cifar10_jpeg
WORKDIR ?= runs/cifar_cascade_b04
BUDGET ?= 0.4

.PHONY: venv install test lint demo models clean web_deps serve_demo android_deps android_assets

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"

venv: install

test: install web_deps android_deps
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The browser page's npm packages (web_demo/package-lock.json) and Debian's chromium for
# its tests (tests/apps/test_web_demo.py); in CI a missing one is an error, elsewhere they skip.
web_deps:
	@bash web_demo/scripts/install_deps.sh

# The browser benchmark page (LiteRT.js) with WORKDIR's models: http://127.0.0.1:8000/
SERVE_FLAGS ?=
serve_demo: install web_deps
	$(BIN)/python -m tflite.serve_demo --workdir $(WORKDIR) --dataset $(DATASET) $(SERVE_FLAGS)

# A JDK and Debian's junit4 for the Android core's JUnit tests (tests/android_demo); as root
# a missing one is apt-get installed; in CI a failure is an error, elsewhere they skip.
android_deps:
	@bash android_demo/scripts/install_deps.sh

# The Android app's assets from WORKDIR's .tflite files (android_demo/README.md).
ANDROID_ASSETS_FLAGS ?=
android_assets: install
	$(BIN)/python -m tflite.android_assets --workdir $(WORKDIR) --dataset $(DATASET) $(ANDROID_ASSETS_FLAGS)

lint: install
	$(BIN)/ruff check .

# The main job (preset cpu): a cascade of ResNet-20 x0.5 and x0.75 (each trained as a static
# network for 6 epochs) at BUDGET of ResNet-20's FLOPs, compared with the static frontier its
# stages draw; export it to TFLite and benchmark it against its own stages (float and int8).
# The LC-Net job: make demo WORKDIR=runs/cifar_lc_b05 BUDGET=0.5 TRAIN_FLAGS="--preset cpu_lc".
# TRAIN_FLAGS adds flags to train.cifar, e.g. TRAIN_FLAGS="--static_epochs 12".
TRAIN_FLAGS ?=
BENCH_IMAGES ?= 1000
# The dynamic model's .tflite is a budget knob file timed at these budgets too (empty: plain).
KNOB_BUDGETS ?= 0.3,0.4,0.6
REFERENCE_MODEL ?= $(WORKDIR)/static_reference/model.keras
demo: install
	$(BIN)/python -m train.cifar --budget $(BUDGET) --dataset $(DATASET) --workdir $(WORKDIR) $(TRAIN_FLAGS)
	$(BIN)/python -m tflite.convert --model $(WORKDIR)/model.keras --out $(WORKDIR)/model.tflite --quantize none
	$(BIN)/python -m tflite.benchmark --model $(WORKDIR)/model.keras \
	  $$(test -f $(REFERENCE_MODEL) && echo --reference_model $(REFERENCE_MODEL)) \
	  $$(test -n "$(KNOB_BUDGETS)" && echo --budgets $(KNOB_BUDGETS)) \
	  --dataset $(DATASET) --num_images $(BENCH_IMAGES) --quantize none,int8 --out_dir $(WORKDIR)/tflite_benchmark
	@if [ "$(ANDROID_ASSETS)" = 1 ]; then $(MAKE) --no-print-directory android_assets; fi

models: install
	$(BIN)/python -m lcnet_tf.models_table

clean:
	rm -rf $(VENV) build *.egg-info
