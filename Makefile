# Targets that work on a fresh machine with only Python 3.10+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NAMESPACE ?= runai-team-a

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

AIRFLOW_ENV := AIRFLOW_HOME=$(CURDIR)/.airflow_home AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False HFINFER_OUT_DIR=$(CURDIR)/out

demo: $(STAMP)
	mkdir -p out
	$(BIN)/hfinfer validate examples/workload.yaml
	$(BIN)/hfinfer render examples/workload.yaml --namespace $(NAMESPACE) \
		--options examples/cluster-options.yaml --plan > out/workload-manifests.yaml
	@echo "every-field example: manifests (secrets redacted) in out/workload-manifests.yaml"
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate > out/airflow-db.log 2>&1
	$(AIRFLOW_ENV) $(BIN)/airflow dags test hfinfer_post_training_deploy > out/dag-test.log 2>&1 \
		|| { tail -40 out/dag-test.log; exit 1; }
	@grep -A 12 "Plan for workload" out/dag-test.log | sed 's/ \[airflow.task.*//'
	@grep -E "^(endpoint|dry run):" out/dag-test.log
	@grep -q "DagRun Finished.*state=success" out/dag-test.log && echo "example DAG run: success (full log: out/dag-test.log)"

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check airflow_provider_hfinfer
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
