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

.PHONY: setup test demo lint bench bench-train bench-generate bench-quality bench-null bench-ticks bench-backtest bench-credit serve deploy submit clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# CPU build on disk here; the normal wheel elsewhere. Installed first so the
	# project's torch requirement is already met and no CUDA build is pulled in.
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

# Two pytest workers, one test file each at a time (module fixtures such as a Ray cluster
# stay in one process): the suite mostly waits on Ray and Prefect start-ups, so two halve it.
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

demo: setup
	$(PY) -m flows.demo --lake $(LAKE) $(DEMO_ARGS)

# The scheduled pipeline from this process (flow.serve), against PREFECT_API_URL when set.
serve: setup
	GANJOBS_PRICES=$${GANJOBS_PRICES:-$(abspath $(LAKE))/prices} \
	GANJOBS_ROOT=$${GANJOBS_ROOT:-$(abspath $(LAKE))/runs} \
	$(PY) -m flows.serve

# Register prefect.yaml's deployments (daily scenarios, weekly backtest) on the Prefect server at PREFECT_API_URL; runs need a
# worker: prefect worker start --pool $${GANJOBS_WORK_POOL:-ganjobs-process}
deploy: setup
	@test -n "$$PREFECT_API_URL" || { echo "error: set PREFECT_API_URL to the Prefect server's API" >&2; exit 2; }
	export GANJOBS_PRICES=$${GANJOBS_PRICES:-$(abspath $(LAKE))/prices} \
	  GANJOBS_ROOT=$${GANJOBS_ROOT:-$(abspath $(LAKE))/runs} \
	  GANJOBS_NAME=$${GANJOBS_NAME:-daily} \
	  GANJOBS_PORTFOLIO=$${GANJOBS_PORTFOLIO:-$(CURDIR)/flows/example_portfolio.yaml} \
	  GANJOBS_WORK_POOL=$${GANJOBS_WORK_POOL:-ganjobs-process} && \
	{ $(VENV)/bin/prefect work-pool inspect "$$GANJOBS_WORK_POOL" >/dev/null 2>&1 || \
	  $(VENV)/bin/prefect work-pool create "$$GANJOBS_WORK_POOL" --type process; } && \
	$(VENV)/bin/prefect --no-prompt deploy --all

lint: setup
	$(VENV)/bin/ruff check ganjobs flows tests bench

bench: bench-train bench-generate

bench-train: setup
	$(PY) -m bench.bench_train

bench-generate: setup
	$(PY) -m bench.bench_generate

bench-quality: setup
	$(PY) -m bench.bench_quality

# What a perfect model scores on the bars that measure distances (sampling noise alone).
bench-null: setup
	$(PY) -m bench.bench_null

# Scenarios from a history with many unchanged prices (a point mass of zero returns).
bench-ticks: setup
	$(PY) -m bench.bench_ticks

# Out-of-sample VaR/ES backtest from 2007 on the bundled data: ganjobs vs FHS, GARCH, HS.
bench-backtest: setup
	$(PY) -m bench.bench_backtest $(BACKTEST_ARGS)

# Synthetic loan books vs baselines on both bundled credit tables (3 seeds, DP at eps 1 and 5).
bench-credit: setup
	$(PY) -m bench.bench_credit $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(LAKE) .pytest_cache

# Submit training to the Ray cluster at RAY_ADDRESS: make submit NAME=daily ARGS="--prices … --out …"
submit: setup
	$(VENV)/bin/ganjobs submit train --name $(NAME) $(ARGS)
