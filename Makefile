# Every install step lives here: a clean clone needs nothing but python3 >= 3.11.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAKE ?= lake

export RAY_USAGE_STATS_ENABLED := 0
export RAY_ENABLE_UV_RUN_RUNTIME_ENV := 0
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: setup test demo lint bench bench-train bench-generate bench-quality serve deploy submit clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# CPU build on disk here; the normal wheel elsewhere. Installed first so the
	# project's torch requirement is already met and no CUDA build is pulled in.
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q

demo: setup
	$(PY) -m flows.demo --lake $(LAKE)

lint: setup
	$(VENV)/bin/ruff check ganjobs flows tests bench

bench: bench-train bench-generate

bench-train: setup
	$(PY) -m bench.bench_train

bench-generate: setup
	$(PY) -m bench.bench_generate

bench-quality: setup
	$(PY) -m bench.bench_quality

clean:
	rm -rf $(VENV) $(LAKE) .pytest_cache

# Submit training to the Ray cluster at RAY_ADDRESS: make submit NAME=daily ARGS="--prices … --out …"
submit: setup
	$(VENV)/bin/ganjobs submit train --name $(NAME) $(ARGS)
