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

demo: $(STAMP)
	mkdir -p out
	$(BIN)/hfinfer validate examples/workload.yaml
	$(BIN)/hfinfer render examples/workload.yaml --namespace $(NAMESPACE) \
		--options examples/cluster-options.yaml --plan > out/manifests.yaml
	@echo "manifests (secrets redacted) written to out/manifests.yaml"

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
