# fusion-ml: two commands do all set-up on a fresh machine.
#   make demo   - install into .venv, then run the end-to-end job on embedded defaults
#   make test   - install into .venv (with dev extras), then run the test suite

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= data/out

# Offline, local-only defaults (see README "Configuration").
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180
export MLFLOW_ALLOW_PICKLE_DESERIALIZATION := false
export PREFECT_HOME ?= $(CURDIR)/.fusion/prefect
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/.fusion/mlflow.db

.PHONY: install demo test bench lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The demo keeps Prefect's per-task lines (one per tenant and stage) out of its output.
demo: export PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL ?= WARNING
demo: $(STAMP)
	mkdir -p $(PREFECT_HOME)
	$(BIN)/fusion demo --out $(OUT)

test: $(STAMP)
	mkdir -p $(PREFECT_HOME)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/simulate.py
	$(BIN)/python benchmarks/mining.py
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/detection.py
	$(BIN)/python benchmarks/scoring.py

lint: $(STAMP)
	$(BIN)/ruff check fusion_ml tests benchmarks pipelines

clean:
	rm -rf $(VENV) .fusion $(OUT) .pytest_cache .hypothesis
